import { ErrorCode, GatewayError } from "../errors.js";

export type LaunchRefusalReason = "integrity_mismatch" | "sandbox_unavailable" | "package_not_installed";

/**
 * A stdio server the supply-chain checks would not launch: a pinned file that does not match, a
 * sandbox that cannot be built, or a pinned npm package missing from the gateway's cache. The server stays down (`blocked`) and is re-checked on the
 * restart backoff; `detail` goes to the audit log, never to a client.
 */
export class LaunchRefused extends GatewayError {
  constructor(
    reason: LaunchRefusalReason,
    message: string,
    readonly detail: Readonly<Record<string, unknown>>,
  ) {
    super(ErrorCode.UpstreamUnavailable, reason, message);
    this.name = "LaunchRefused";
  }
}

export function sandboxUnavailable(why: string, detail: Record<string, unknown> = {}): LaunchRefused {
  return new LaunchRefused("sandbox_unavailable", `sandbox unavailable: ${why}`, detail);
}
