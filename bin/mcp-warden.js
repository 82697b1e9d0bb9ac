#!/usr/bin/env node
// Runs the CLI bundle that `npm run build` writes to dist/cli-bundle/ (scripts/build-cli.js): a
// handful of files instead of hundreds of modules, which is most of a quick verb's start-up. The
// compile cache is enabled before the CLI's code loads (a static import would load it first):
// quick verbs then skip compiling it on every run.
import { enableCompileCache } from "../dist/cli-bundle/compile-cache.js";

enableCompileCache();
const { main } = await import("../dist/cli-bundle/main.js");

main(process.argv).catch((err) => {
  process.stderr.write(`mcp-warden: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
