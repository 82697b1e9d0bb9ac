import { tokenClaims, type Principal } from "../../auth/principal.js";
import type { ItemKind } from "../access.js";
import type { EntityJson } from "./engine.js";
import { ACTIONS, type CedarAction } from "./schema.js";
import { toCedarValue, type CedarValue } from "./values.js";

/** The action deciding a call on each kind of item. */
export const ACTION_OF: Readonly<Record<ItemKind, CedarAction>> = {
  tool: "tools/call",
  prompt: "prompts/get",
  resource: "resources/read",
};

export interface Uid {
  readonly type: string;
  readonly id: string;
}

/** How token claims become principal attributes (`policy.claims`, `policy.groups_claim`). */
export interface ClaimMapping {
  readonly claims: readonly string[];
  readonly groupsClaim: string;
}

/**
 * The principal as a Cedar entity, built as JSON (never as Cedar text, so no subject can break out
 * of its id): `User::"<sub>"` for a token or API key, `Anonymous::"<source>"` otherwise.
 */
export function principalEntity(p: Principal, mapping: ClaimMapping): EntityJson {
  const scopes = [...p.scopes];
  if (p.method === "anonymous")
    return { uid: { type: "Anonymous", id: p.source ?? "unknown" }, attrs: { scopes }, parents: [] };
  const claims = tokenClaims(p);
  const picked: { [k: string]: CedarValue } = {};
  for (const name of mapping.claims) {
    if (claims === undefined || !Object.hasOwn(claims, name)) continue;
    try {
      picked[name] = toCedarValue(claims[name], `/${name}`, 24);
    } catch {
      // A claim nested too deep or shaped like a Cedar escape is left out: reading it then errs (deny).
    }
  }
  return {
    uid: { type: "User", id: p.subject },
    attrs: {
      scopes,
      groups: groupsOf(claims?.[mapping.groupsClaim]),
      client: p.clientId ?? "",
      method: p.method,
      claims: picked,
    },
    parents: [],
  };
}

function groupsOf(value: unknown): string[] {
  if (typeof value === "string") return value.split(" ").filter(Boolean);
  if (Array.isArray(value)) return value.filter((g): g is string => typeof g === "string");
  return [];
}

/** The resource's uid: `Tool::"<server>/<tool>"`, `Prompt::"<server>/<prompt>"`, `Resource::"<uri>"`. */
export function resourceUid(kind: ItemKind, server: string, name: string): Uid {
  const type = ACTIONS[ACTION_OF[kind]];
  return { type, id: kind === "resource" ? name : `${server}/${name}` };
}

const HINTS = ["readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"] as const;

/** The resource entity; a tool's `annotations` are its declared boolean hints (others left out). */
export function resourceEntity(
  kind: ItemKind,
  server: string,
  name: string,
  annotations: unknown,
): EntityJson {
  const uid = resourceUid(kind, server, name);
  if (kind === "resource") return { uid, attrs: { server, uri: name }, parents: [] };
  if (kind === "prompt") return { uid, attrs: { server, name }, parents: [] };
  const hints: { [k: string]: boolean } = {};
  if (annotations !== null && typeof annotations === "object")
    for (const h of HINTS) {
      const v = (annotations as Record<string, unknown>)[h];
      if (typeof v === "boolean") hints[h] = v;
    }
  return { uid, attrs: { server, name, annotations: hints }, parents: [] };
}

/** `context.time`, in UTC: Unix seconds, hour, minute, weekday (0 = Sunday). */
export function timeRecord(now: Date): { [k: string]: number } {
  return {
    unix: Math.floor(now.getTime() / 1000),
    hour: now.getUTCHours(),
    minute: now.getUTCMinutes(),
    weekday: now.getUTCDay(),
  };
}
