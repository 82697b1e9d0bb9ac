import type { Principal } from "../auth/principal.js";
import type { Config, ServerConfig } from "../config/types.js";
import { GatewayError, ErrorCode, policyDenied } from "../errors.js";
import { globMatch } from "./glob.js";
import { ScopeAlgebra } from "./scopes.js";
import { normalizePattern, normalizeUri } from "./uri.js";

export type ItemKind = "tool" | "prompt" | "resource";

export type AccessDecision =
  | { readonly allowed: true; readonly needed: readonly string[] }
  | {
      readonly allowed: false;
      readonly reason: `${ItemKind}_not_mapped` | "insufficient_scope" | "uri_not_canonical";
      readonly needed: readonly string[];
    };

interface ServerRules {
  readonly tools: ReadonlyMap<string, readonly string[]>;
  readonly prompts: ReadonlyMap<string, readonly string[]> | undefined;
  /** Normal-form pattern, scopes, the pattern as written (for explanations). */
  readonly resources: ReadonlyArray<readonly [string, readonly string[], string]> | undefined;
  readonly ceiling: readonly string[] | undefined;
}

/**
 * Who may use which tool, prompt and resource: each item needs every scope of its entry (an exact
 * name beats `*`); no entry means hidden and denied. Prompts and resources without a map of their
 * own need the `tools` entry for `*`. The same decision filters lists and guards calls.
 */
export class AccessPolicy {
  private readonly rules: ReadonlyMap<string, ServerRules>;
  readonly scopes: ScopeAlgebra;

  constructor(config: Pick<Config, "scopes" | "servers" | "auth">) {
    this.scopes = new ScopeAlgebra(config);
    this.rules = new Map(config.servers.map((s) => [s.name, rulesOf(s)]));
  }

  /** The scopes an item needs, or undefined when it is not mapped (hidden). */
  needed(kind: ItemKind, server: string, name: string): readonly string[] | undefined {
    return this.rule(kind, server, name)?.needed;
  }

  /** The config entry that decides an item: its YAML key under the server, and what it needs. */
  rule(kind: ItemKind, server: string, name: string): { key: string; needed: readonly string[] } | undefined {
    const r = this.rules.get(server);
    if (!r) return undefined;
    const entry = (key: string, needed: readonly string[] | undefined) =>
      needed ? { key, needed } : undefined;
    const fallback = entry('tools."*"', r.tools.get("*"));
    switch (kind) {
      case "tool":
        return entry(`tools.${name}`, r.tools.get(name)) ?? fallback;
      case "prompt":
        return r.prompts
          ? (entry(`prompts.${name}`, r.prompts.get(name)) ?? entry('prompts."*"', r.prompts.get("*")))
          : fallback;
      case "resource": {
        if (!r.resources) return fallback;
        // Matched in normal form (the patterns are too): an equivalent spelling decides alike.
        const uri = normalizeUri(name);
        if (!uri.ok) return undefined;
        for (const [pattern, scopes, written] of r.resources)
          if (globMatch(pattern, uri.uri)) return entry(`resources."${written}"`, scopes);
        return undefined;
      }
    }
  }

  /** The scopes that count for a caller on a server (wildcards, ceiling and implications applied). */
  effectiveScopes(server: string, principal: Principal): ReadonlySet<string> {
    return this.scopes.effective(principal.scopes, this.rules.get(server)?.ceiling);
  }

  decide(kind: ItemKind, server: string, name: string, principal: Principal): AccessDecision {
    // Before any rule, even on a server whose resources need only the tools "*" entry: a dot
    // segment means the upstream may serve something other than what was decided on.
    if (kind === "resource" && !normalizeUri(name).ok)
      return { allowed: false, reason: "uri_not_canonical", needed: [] };
    const needed = this.needed(kind, server, name);
    if (!needed) return { allowed: false, reason: `${kind}_not_mapped`, needed: [] };
    if (needed.length === 0) return { allowed: true, needed };
    const held = this.scopes.effective(principal.scopes, this.rules.get(server)?.ceiling);
    for (const scope of needed)
      if (!held.has(scope)) return { allowed: false, reason: "insufficient_scope", needed };
    return { allowed: true, needed };
  }

  /**
   * Throws the refusal: `-32001` with the reason; for missing scopes also HTTP 403 (step-up), with
   * every scope the item needs in `data.scopes`.
   */
  check(kind: ItemKind, server: string, name: string, principal: Principal): void {
    const d = this.decide(kind, server, name, principal);
    if (d.allowed) return;
    const label = name.slice(0, 200);
    if (d.reason === "uri_not_canonical") {
      const why = (normalizeUri(name) as { why: string }).why;
      throw policyDenied(d.reason, `resource URI refused (${why}): ${label}`);
    }
    if (d.reason !== "insufficient_scope")
      throw policyDenied(d.reason, `${kind} ${label} on ${server} is not available`);
    throw new GatewayError(
      ErrorCode.PolicyDenied,
      "insufficient_scope",
      `${kind} ${label} on ${server} needs scopes: ${d.needed.join(" ")}`,
      { scopes: [...d.needed] },
      403,
    );
  }
}

function rulesOf(s: ServerConfig): ServerRules {
  const resources = s.resources?.map(([p, scopes]) => [normalizePattern(p), scopes, p] as const);
  return { tools: s.tools, prompts: s.prompts, resources, ceiling: s.scopeCeiling };
}
