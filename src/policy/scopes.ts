import type { Config } from "../config/types.js";

/**
 * The scope algebra, compiled once: `implies` closed transitively, `prefix:*` wildcards, dangerous
 * scopes held by name only, and a per-server ceiling. `effective()` is memoised per granted set.
 */
const NO_CEILING: readonly string[] = Object.freeze([]);

export class ScopeAlgebra {
  private readonly closure = new Map<string, ReadonlySet<string>>();
  private readonly dangerous: ReadonlySet<string>;
  private readonly known: readonly string[];
  private readonly memo = new Map<string, ReadonlySet<string>>();
  private readonly bySet = new WeakMap<ReadonlySet<string>, Map<readonly string[], ReadonlySet<string>>>();

  constructor(config: Pick<Config, "scopes" | "servers" | "auth">) {
    this.dangerous = new Set(config.scopes.dangerous);
    this.known = [...knownScopes(config)].sort();
    for (const scope of config.scopes.implies.keys())
      this.closure.set(scope, this.reach(scope, config.scopes.implies));
  }

  /** Problems with `scopes` (cycles, unknown references), each with its YAML path. */
  static problems(config: Pick<Config, "scopes" | "servers" | "auth">): string[] {
    const problems: string[] = [];
    const implies = config.scopes.implies;
    const used = knownScopes(config, { includeImplied: false });
    for (const [scope, implied] of implies) {
      implied.forEach((target, i) => {
        if (!used.has(target))
          problems.push(
            `scopes.implies.${scope}[${i}]: unknown scope ${target} (no tool, grant or rule uses it)`,
          );
      });
      const cycle = findCycle(scope, implies);
      if (cycle) problems.push(`scopes.implies.${scope}: cycle ${cycle.join(" → ")}`);
    }
    config.scopes.dangerous.forEach((scope, i) => {
      if (!used.has(scope))
        problems.push(`scopes.dangerous[${i}]: unknown scope ${scope} (no tool, grant or rule uses it)`);
      if (scope.endsWith(":*"))
        problems.push(`scopes.dangerous[${i}]: a wildcard cannot be dangerous; name each scope`);
    });
    return problems;
  }

  /**
   * The scopes that count for a caller on a server: the granted ones (wildcards expanded) within
   * the server's ceiling, then everything they imply. Dangerous scopes come only by name.
   */
  effective(granted: ReadonlySet<string>, ceiling: readonly string[] | undefined): ReadonlySet<string> {
    // A principal's scope set is one frozen object: filtering a list decides many items for the
    // same set, so look it up by identity before building the string key.
    let bySet = this.bySet.get(granted);
    if (!bySet) this.bySet.set(granted, (bySet = new Map()));
    const byCeiling = bySet.get(ceiling ?? NO_CEILING);
    if (byCeiling) return byCeiling;
    const found = this.compute(granted, ceiling);
    bySet.set(ceiling ?? NO_CEILING, found);
    return found;
  }

  private compute(granted: ReadonlySet<string>, ceiling: readonly string[] | undefined): ReadonlySet<string> {
    // JSON of the lists: injective, so no scope string (one may hold a space or a "|") can make
    // one caller's set read as another's and inherit its result.
    const key = JSON.stringify([[...granted].sort(), ceiling ?? null]);
    const hit = this.memo.get(key);
    if (hit) return hit;
    let held = this.expand(granted);
    if (ceiling) {
      const limit = this.expand(new Set(ceiling));
      held = new Set([...held].filter((s) => limit.has(s)));
    }
    const out = new Set(held);
    for (const s of held) for (const implied of this.closure.get(s) ?? []) out.add(implied);
    if (this.memo.size > 10_000) this.memo.clear();
    this.memo.set(key, out);
    return out;
  }

  private expand(scopes: ReadonlySet<string>): Set<string> {
    const out = new Set<string>();
    for (const s of scopes) {
      if (!s.endsWith(":*")) {
        out.add(s);
        continue;
      }
      const prefix = s.slice(0, -1);
      for (const k of this.known)
        if (k.startsWith(prefix) && !this.dangerous.has(k) && !k.endsWith(":*")) out.add(k);
    }
    return out;
  }

  private reach(start: string, implies: ReadonlyMap<string, readonly string[]>): ReadonlySet<string> {
    const seen = new Set<string>();
    const stack = [...(implies.get(start) ?? [])];
    while (stack.length > 0) {
      const s = stack.pop() as string;
      // A dangerous scope is never implied, and so neither is anything only it implies.
      if (seen.has(s) || s === start || this.dangerous.has(s)) continue;
      seen.add(s);
      stack.push(...(implies.get(s) ?? []));
    }
    return seen;
  }
}

/** Every scope the config mentions: what a wildcard can expand to, and what a reference may name. */
function knownScopes(
  config: Pick<Config, "scopes" | "servers" | "auth">,
  opts = { includeImplied: true },
): Set<string> {
  const known = new Set<string>();
  const add = (list: Iterable<string> | undefined) => {
    for (const s of list ?? []) known.add(s);
  };
  for (const server of config.servers) {
    for (const needed of server.tools.values()) add(needed);
    for (const needed of server.prompts?.values() ?? []) add(needed);
    for (const [, needed] of server.resources ?? []) add(needed);
    add(server.scopeCeiling);
  }
  add(config.auth.anonymous);
  for (const u of config.auth.users) add(u.scopes);
  for (const c of config.auth.clients) add(c.scopes);
  add(config.scopes.implies.keys());
  if (opts.includeImplied) for (const implied of config.scopes.implies.values()) add(implied);
  return known;
}

function findCycle(start: string, implies: ReadonlyMap<string, readonly string[]>): string[] | undefined {
  const path: string[] = [];
  const onPath = new Set<string>();
  const done = new Set<string>();
  const visit = (s: string): string[] | undefined => {
    if (onPath.has(s)) return s === start ? [...path, s] : undefined;
    if (done.has(s)) return undefined;
    onPath.add(s);
    path.push(s);
    for (const next of implies.get(s) ?? []) {
      const found = visit(next);
      if (found) return found;
    }
    path.pop();
    onPath.delete(s);
    done.add(s);
    return undefined;
  };
  return visit(start);
}
