import { existsSync } from "node:fs";
import { basename, delimiter, dirname, join } from "node:path";
import { PACKAGE_ROOT } from "../package/root.js";

/**
 * Appends this package's own `node_modules/.bin` folders and the running Node's folder to PATH, so
 * a server command such as the demo's `mcp-server-everything`, and the `#!/usr/bin/env node` line
 * of its script, resolve whoever launches the gateway and from wherever: a desktop client with a
 * bare PATH, `npx` in an empty folder. Appended, never prepended: the caller's PATH still wins.
 */
export function addPackageBinsToPath(env: NodeJS.ProcessEnv = process.env): void {
  // Nested dependencies, and (installed as a dependency itself) the hoisted ones beside it.
  const candidates = [join(PACKAGE_ROOT, "node_modules", ".bin")];
  if (basename(dirname(PACKAGE_ROOT)) === "node_modules")
    candidates.push(join(dirname(PACKAGE_ROOT), ".bin"));
  candidates.push(dirname(process.execPath));
  const path = (env.PATH ?? "").split(delimiter).filter((p) => p !== "");
  const added = candidates.filter((dir) => !path.includes(dir) && existsSync(dir));
  if (added.length > 0) env.PATH = [...path, ...added].join(delimiter);
}
