import type { ServerConfig } from "../config/types.js";
import { policyDenied } from "../errors.js";
import type { Principal } from "../auth/principal.js";

export type ToolDecision =
  | { readonly allowed: true }
  | {
      readonly allowed: false;
      readonly reason: "tool_not_mapped" | "insufficient_scope";
      readonly needed: readonly string[];
    };

/**
 * `servers[].tools`: a tool needs every scope of its own entry, or of `*` when it has none.
 * No entry and no `*` means hidden and denied (fail closed). Scope implication and wildcards
 * arrive with the authorization issue; here a scope is held only by name.
 */
export class ToolMapping {
  private readonly byServer: ReadonlyMap<string, ServerConfig["tools"]>;

  constructor(servers: readonly ServerConfig[]) {
    this.byServer = new Map(servers.map((s) => [s.name, s.tools]));
  }

  decide(server: string, tool: string, principal: Principal): ToolDecision {
    const tools = this.byServer.get(server);
    const needed = tools?.get(tool) ?? tools?.get("*");
    if (!needed) return { allowed: false, reason: "tool_not_mapped", needed: [] };
    for (const scope of needed) {
      if (!principal.scopes.has(scope)) return { allowed: false, reason: "insufficient_scope", needed };
    }
    return { allowed: true };
  }

  /** Throws the contract's `-32001 policy_denied` unless the call is allowed. */
  check(server: string, tool: string, principal: Principal): void {
    const d = this.decide(server, tool, principal);
    if (d.allowed) return;
    throw d.reason === "tool_not_mapped"
      ? policyDenied("tool_not_mapped", `tool ${tool} on ${server} is not available`)
      : policyDenied("insufficient_scope", `tool ${tool} on ${server} needs scopes: ${d.needed.join(" ")}`, {
          scopes: [...d.needed],
        });
  }
}
