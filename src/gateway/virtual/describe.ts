import type { Config } from "../../config/types.js";
import type { JsonObject } from "../../jsonrpc.js";
import { AccessPolicy } from "../../policy/access.js";
import type { Pin } from "../../supply/pins.js";
import { canonicalDefinition } from "../../supply/pins.js";
import { scanDefinition } from "../../supply/poisoning.js";
import { overrides, present } from "./present.js";
import { VirtualServer } from "./server.js";

/** What a curated tool is now, judged on the definitions last listed (the pin store). */
export type VirtualToolState =
  | "served"
  /** Served under its curated text although the upstream's failed the poisoning scan. */
  | "served (curated text replaces a poisoned one)"
  | "held"
  | "poisoned"
  | "hidden by policy"
  | "not served";

export interface VirtualToolRow {
  readonly name: string;
  /** `server/tool` behind it. */
  readonly tool: string;
  readonly state: VirtualToolState;
  readonly overrides: readonly string[];
  readonly problem?: string;
  readonly description?: string;
}

export interface VirtualReport {
  readonly name: string;
  readonly path: string;
  readonly search: boolean;
  readonly tools: readonly VirtualToolRow[];
  /** Names two selections would both show (neither is served). */
  readonly clashes: readonly string[];
  /** Selections that match no tool of the last listing. */
  readonly unmatched: readonly string[];
  /** Servers with no listed definitions yet: their part is unknown until the gateway lists them. */
  readonly unlisted: readonly string[];
  readonly prompts: readonly string[];
  readonly resources: readonly string[];
}

/**
 * A virtual server resolved against the definitions each server last listed (pins, kept with
 * tool pinning or the poisoning scan on): what `tools list --virtual` and the console show. The
 * gateway resolves the same way against live lists; a server never listed yet is `unlisted`.
 */
export function describeVirtual(
  config: Config,
  pins: { list(server?: string): Pin[] },
  name: string,
): VirtualReport | undefined {
  const conf = config.virtualServers.find((v) => v.name === name);
  if (!conf) return undefined;
  const v = new VirtualServer(conf);
  const lists = new Map<string, Map<string, JsonObject>>();
  const pinned = new Map<string, Pin>();
  for (const server of v.toolServers) {
    const tools = pins.list(server).filter((p) => p.kind === "tool");
    if (tools.length === 0) continue;
    lists.set(server, new Map(tools.map((p) => [p.name, p.currentDef as JsonObject])));
    for (const p of tools) pinned.set(`${server}\u0000${p.name}`, p);
  }
  const resolution = v.resolve((s) => lists.get(s));
  const policy = new AccessPolicy(config);
  const names = config.servers.map((s) => s.name);
  const rows: VirtualToolRow[] = [];
  for (const b of resolution.bindings.values()) {
    const pin = pinned.get(`${b.server}\u0000${b.tool}`) as Pin;
    const shown = present(b, pin.currentDef as JsonObject);
    const base = { name: b.exposed, tool: `${b.server}/${b.tool}`, overrides: overrides(b) };
    if ("problem" in shown) {
      rows.push({ ...base, state: "not served", problem: shown.problem });
      continue;
    }
    const description = typeof shown.item.description === "string" ? shown.item.description : undefined;
    rows.push({ ...base, state: stateOf(config, policy, pin, shown.item, names), description });
  }
  return {
    name: v.name,
    path: `/v/${v.name}/mcp`,
    search: v.search,
    tools: rows,
    clashes: resolution.clashes,
    unmatched: resolution.unmatched,
    unlisted: v.toolServers.filter((s) => !lists.has(s)),
    prompts: conf.prompts.map((p) => p.selector),
    resources: [...conf.resources],
  };
}

function stateOf(
  config: Config,
  policy: AccessPolicy,
  pin: Pin,
  shown: JsonObject,
  servers: readonly string[],
): VirtualToolState {
  if (policy.needed("tool", pin.server, pin.name) === undefined) return "hidden by policy";
  const sc = config.supplyChain;
  if (sc.toolPinning === "enforce" && (pin.pinnedHash === "" || pin.currentHash !== pin.pinnedHash))
    return "held";
  if (sc.poisoning !== "block") return "served";
  const curated = scanDefinition("tool", canonicalDefinition("tool", shown), { server: pin.server, servers });
  if (curated.length > 0) return "poisoned";
  return pin.findings.length > 0 ? "served (curated text replaces a poisoned one)" : "served";
}
