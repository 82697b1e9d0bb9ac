// Files of the installed package (package.json, config/demo.yaml, dist/console/, node_modules/.bin),
// found from this module's own URL. Whatever runs it sits two folders below the package root:
// src/package/ (tsx), dist/package/ (tsc) and dist/cli-bundle/, the CLI bundle, whose files hold
// this code (scripts/build-cli.js writes them there, flat, and checks it). Nothing else in src/
// finds a file of the package from import.meta.url: a module's depth differs in the bundle.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The folder holding the package's package.json, without a trailing separator. */
export const PACKAGE_ROOT: string = dirname(dirname(dirname(fileURLToPath(import.meta.url))));

/** A path inside the package, e.g. packageFile("config", "demo.yaml"). */
export function packageFile(...parts: string[]): string {
  return join(PACKAGE_ROOT, ...parts);
}
