/** Tool-definition pins: what is pinned, held or poisoned, the diff of a change, and approval. */
import { diffLines } from "diff";
import { auditEvent } from "../audit/event.js";
import type { Config } from "../config/types.js";
import { AccessPolicy } from "../policy/access.js";
import { approveDefinition } from "../supply/approve.js";
import type { Pin } from "../supply/pins.js";
import { describeVirtual } from "../gateway/virtual/describe.js";
import type { DefinitionKind } from "../supply/poisoning.js";
import { who, type AdminCall, type AdminContext, type AdminHandler } from "./api.js";
import { AdminRefusal, reasonOf, recordedRefusal, stringField } from "./http.js";

const KINDS: ReadonlySet<string> = new Set(["tool", "prompt", "resourceTemplate", "instructions"]);
const HASH = /^sha256:[0-9a-f]{64}$/;

const policies = new WeakMap<Config, AccessPolicy>();

/**
 * Whether no caller is ever shown the item: a tool or prompt the server's mapping leaves out (no
 * entry and no `*`) is hidden and denied, whatever the caller holds.
 */
export function hiddenByPolicy(pin: Pin, config: Config): boolean {
  if (pin.kind !== "tool" && pin.kind !== "prompt") return false;
  let policy = policies.get(config);
  if (!policy) policies.set(config, (policy = new AccessPolicy(config)));
  return policy.needed(pin.kind, pin.server, pin.name) === undefined;
}

/** `poisoned` when the scan blocks it (approval does not lift that), `held` when it changed. */
export function pinState(pin: Pin, config: Config): "pinned" | "held" | "poisoned" {
  if (pin.findings.length > 0 && config.supplyChain.poisoning === "block") return "poisoned";
  if (pin.currentHash !== pin.pinnedHash) return "held";
  return "pinned";
}

function item(pin: Pin, config: Config) {
  return {
    server: pin.server,
    kind: pin.kind,
    name: pin.name,
    state: pinState(pin, config),
    hidden: hiddenByPolicy(pin, config),
    pinned_hash: pin.pinnedHash,
    current_hash: pin.currentHash,
    findings: pin.findings.map((f) => ({
      kind: pin.kind,
      field: f.field,
      reason: f.reason,
      excerpt: f.excerpt,
    })),
    pinned_at: pin.pinnedAt,
    seen_at: pin.seenAt,
  };
}

/** The pin a request names (server, kind, name from the query or the body), or 400/404. */
function target(ctx: AdminContext, fields: Record<string, unknown>): Pin {
  const server = stringField(fields, "server", 200);
  const kind = stringField(fields, "kind", 20);
  const name = stringField(fields, "name", 1_000);
  if (!KINDS.has(kind)) throw new AdminRefusal(400, "kind: tool, prompt, resourceTemplate or instructions");
  const pin = ctx.gateway.pins.get(server, kind as DefinitionKind, name);
  if (!pin) throw new AdminRefusal(404, `no pin for ${kind} ${server}/${name}`.slice(0, 300));
  return pin;
}

function queryFields(call: AdminCall): Record<string, unknown> {
  return Object.fromEntries(["server", "kind", "name"].map((k) => [k, call.query.get(k) ?? undefined]));
}

const list: AdminHandler = (ctx, call) => {
  const server = call.query.get("server") ?? undefined;
  const config = ctx.gateway.config;
  return { body: { items: ctx.gateway.pins.list(server).map((p) => item(p, config)) } };
};

const diff: AdminHandler = (ctx, call) => {
  const pin = target(ctx, queryFields(call));
  const before = `${JSON.stringify(pin.pinnedDef, null, 2)}\n`;
  const after = `${JSON.stringify(pin.currentDef, null, 2)}\n`;
  const lines: Array<{ op: "same" | "removed" | "added"; text: string }> = [];
  for (const part of diffLines(before, after)) {
    const op = part.added ? "added" : part.removed ? "removed" : "same";
    for (const text of part.value.replace(/\n$/, "").split("\n")) lines.push({ op, text });
  }
  return {
    body: {
      server: pin.server,
      kind: pin.kind,
      name: pin.name,
      pinned_hash: pin.pinnedHash,
      current_hash: pin.currentHash,
      pinned: pin.pinnedDef,
      current: pin.currentDef,
      lines,
    },
  };
};

/**
 * Pins the definition the operator reviewed (`hash`, the current hash the console showed): the
 * same step and `tool_approved` event as `mcp-warden tools approve`, with who and why. Approval
 * loosens what is served, so its event is written first: an approval the audit log could not
 * hold never takes effect (the API answers 503).
 */
const approve: AdminHandler = async (ctx, { caller, body }) => {
  // Every field is checked before anything is looked up: a malformed request is a 400, whatever it names.
  const hash = stringField(body, "hash", 100);
  if (!HASH.test(hash)) throw new AdminRefusal(400, "hash: sha256:<64 hex digits>");
  const why = reasonOf(body);
  const pin = target(ctx, body);
  const audit = ctx.gateway.audit;
  const detail = { server: pin.server, kind: pin.kind, tool: pin.name, from: pin.pinnedHash, to: hash, why };
  const record = (status: string, extra: Record<string, unknown> = {}) =>
    audit.record(
      auditEvent({
        event: "admin",
        server: pin.server,
        principal: who(caller),
        status,
        reason: "tool_approved",
        detail: { ...detail, ...extra },
      }),
    );
  await audit.ready();
  // Stale: what was reviewed is no longer what the server lists. Recorded, and nothing moves.
  if (pin.currentHash !== hash) {
    await record("changed_meanwhile");
    throw recordedRefusal(409, "definition changed; review again");
  }
  await record("ok");
  let approved: boolean;
  try {
    approved = approveDefinition(ctx.gateway.pins, pin, hash).approved;
  } catch (err) {
    // The event above announced an approval that did not happen: said so, then a 503.
    await record("error", { error: (err as Error).message }).catch(() => undefined);
    throw err;
  }
  if (!approved) {
    // Changed while the event was being written: the pin store refused the stale hash.
    await record("changed_meanwhile");
    throw recordedRefusal(409, "definition changed; review again");
  }
  return { body: { approved: { server: pin.server, kind: pin.kind, name: pin.name, hash } } };
};

/** The virtual servers, each resolved against the definitions last listed (as `tools list --virtual`). */
const virtualServers: AdminHandler = (ctx) => {
  const config = ctx.gateway.config;
  return {
    body: { items: config.virtualServers.map((v) => describeVirtual(config, ctx.gateway.pins, v.name)) },
  };
};

export const toolRoutes: ReadonlyArray<[string, AdminHandler]> = [
  ["GET tools", list],
  ["GET virtual", virtualServers],
  ["GET tools/diff", diff],
  ["POST tools/approve", approve],
];
