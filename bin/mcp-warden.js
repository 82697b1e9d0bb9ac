#!/usr/bin/env node
// The compile cache is enabled before the CLI's modules load (a static import would load them
// first): quick verbs then skip compiling them on every run.
import { enableCompileCache } from "../dist/cli/compile-cache.js";

enableCompileCache();
const { main } = await import("../dist/cli/main.js");

main(process.argv).catch((err) => {
  process.stderr.write(`mcp-warden: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
