// pg, loaded by the first pool rather than by every module that can open one: `kill`, `revive` and
// `tools approve` open the audit log, and a config without Postgres must not pay for pg there.
import { createRequire } from "node:module";
import type pg from "pg";

let loaded: typeof pg | undefined;

/** The pg module (the one `import pg from "pg"` gives: its ESM entry re-exports this). */
export function pgModule(): typeof pg {
  return (loaded ??= createRequire(import.meta.url)("pg") as typeof pg);
}
