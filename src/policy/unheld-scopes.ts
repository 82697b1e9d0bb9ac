import type { Config, ServerConfig } from "../config/types.js";
import { ScopeAlgebra } from "./scopes.js";

type Grants = Pick<Config, "scopes" | "servers" | "auth">;

/**
 * Warnings for scopes a server's tools, prompts or resources need that no grant in the config
 * (a user, a client, `anonymous`, directly, by a wildcard or through `implies`) can give: usually
 * a typo. A warning, not an error: API keys and `mcp-warden token` may carry any scope, and an
 * external issuer grants its own. One warning per scope and server, at the first place it is used.
 */
export function unheldScopeWarnings(config: Grants): string[] {
  if (config.auth.issuer !== "embedded") return [];
  const grants = [
    config.auth.anonymous,
    ...config.auth.users.map((u) => u.scopes),
    ...config.auth.clients.map((c) => c.scopes),
  ].filter((g) => g.length > 0);
  if (grants.length === 0) return [];
  const algebra = new ScopeAlgebra(config);
  const warnings: string[] = [];
  config.servers.forEach((server, i) => {
    const held = new Set<string>();
    for (const g of grants) for (const s of algebra.effective(new Set(g), server.scopeCeiling)) held.add(s);
    const reported = new Set<string>();
    for (const [path, scope] of neededScopes(server, i)) {
      if (held.has(scope) || reported.has(scope)) continue;
      reported.add(scope);
      warnings.push(
        `${path}: no user, client or anonymous grant holds ${scope}` +
          `${server.scopeCeiling ? ` within servers[${i}].scopes` : ""}, directly, by a wildcard or through ` +
          "scopes.implies: only an API key or a `mcp-warden token` naming it can call this",
      );
    }
  });
  return warnings;
}

/** Each scope a server's mappings name, with the YAML path of that mention. */
function* neededScopes(server: ServerConfig, i: number): Generator<[string, string]> {
  const maps: Array<[string, Iterable<[string, readonly string[]]>]> = [
    ["tools", server.tools],
    ["prompts", server.prompts ?? []],
  ];
  for (const [key, map] of maps)
    for (const [name, scopes] of map)
      for (const [j, scope] of scopes.entries()) yield [`servers[${i}].${key}.${name}[${j}]`, scope];
  for (const [pattern, scopes] of server.resources ?? [])
    for (const [j, scope] of scopes.entries()) yield [`servers[${i}].resources.${pattern}[${j}]`, scope];
}
