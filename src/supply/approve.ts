import type { Pin, PinStore } from "./pins.js";

/** What an approval records: the item and the move of its pin. */
export interface ApprovalDetail extends Record<string, unknown> {
  readonly server: string;
  readonly kind: string;
  readonly tool: string;
  readonly from: string;
  readonly to: string;
}

/**
 * Pins `pin`'s current definition if it still has `hash` (what the approver reviewed): the one
 * approval step of `mcp-warden tools approve` and the admin API. False when it changed meanwhile.
 */
export function approveDefinition(
  pins: PinStore,
  pin: Pin,
  hash: string,
  at: string = new Date().toISOString(),
): { approved: boolean; detail: ApprovalDetail } {
  const detail = { server: pin.server, kind: pin.kind, tool: pin.name, from: pin.pinnedHash, to: hash };
  return { approved: pins.approve(pin.server, pin.kind, pin.name, hash, at), detail };
}
