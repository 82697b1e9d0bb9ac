// Run by `npm run build`: bundles the CLI (src/cli/main.ts and the compile cache that
// bin/mcp-warden.js enables first) with esbuild into dist/cli-bundle/. A quick verb then loads a
// dozen files instead of about 250 modules, and module loading is most of its start-up
// (docs/operations.md, "How quickly the CLI starts"). Every `await import()` of a command becomes
// a chunk of its own, so `check` never loads the gateway that `start` needs.
import { rmSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const OUT = "dist/cli-bundle";
/** Which inputs each output file holds, for test/integration/cli-start.test.ts; not in the package. */
const INPUTS = "dist/cli-bundle-inputs.json";

/**
 * Packages left to Node to load from node_modules at run time, each for a reason that bundling
 * would break. Packages src/ loads through createRequire (pg, pino-pretty, re2-wasm,
 * unicode-confusables) are not seen by esbuild anyway; those among them that must stay external
 * are listed so that a static import added later is not bundled.
 */
const EXTERNAL = [
  // A native addon: `bindings` finds build/Release/better_sqlite3.node from the package's folder.
  "better-sqlite3",
  // Reads cedar_wasm_bg.wasm from its own __dirname.
  "@cedar-policy/cedar-wasm",
  // Its wasm build sits beside its code (build/wasm/), loaded relative to it.
  "re2-wasm",
  // Transports run in worker threads started from pino's and thread-stream's files by __dirname.
  "pino",
  // Loaded by name as a pino target, or by createRequire on a terminal (src/log.ts).
  "pino-pretty",
  // Reads its own package.json from __dirname on connect, and trims error stacks by it.
  "ioredis",
  // Optionally requires pg-native by name, which no bundle can hold; loaded by createRequire.
  "pg",
];

/**
 * Bundled CommonJS packages (commander, yaml, the MCP SDK's ajv, ...) call `require` for Node's
 * built-ins, which an ES module does not have: each output file gets one, from its own URL.
 */
const BANNER =
  'import { createRequire as __cliCreateRequire } from "node:module"; ' +
  "const require = __cliCreateRequire(import.meta.url);";

const started = Date.now();
rmSync(join(ROOT, OUT), { recursive: true, force: true });
const result = await build({
  absWorkingDir: ROOT,
  entryPoints: { main: "src/cli/main.ts", "compile-cache": "src/cli/compile-cache.ts" },
  outdir: OUT,
  // Flat: src/package/root.ts finds the package two folders above each of these files.
  entryNames: "[name]",
  chunkNames: "[name]-[hash]",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node22",
  external: EXTERNAL,
  banner: { js: BANNER },
  // Stack traces map back to src/ under `node --enable-source-maps`; the sources stay out of the maps.
  sourcemap: "linked",
  sourcesContent: false,
  metafile: true,
  logLevel: "warning",
});

const problems = [];
const inputs = {};
for (const [file, output] of Object.entries(result.metafile.outputs)) {
  if (file.endsWith(".map")) continue;
  if (dirname(file) !== OUT) problems.push(`${file}: not directly in ${OUT}/ (src/package/root.ts)`);
  inputs[relative(OUT, file)] = Object.keys(output.inputs);
  // ES modules have no __dirname: bundled code that finds its files by it fails when it runs, so
  // its package belongs in EXTERNAL. Comments (commander's documentation) do not count.
  const code = readFileSync(join(ROOT, file), "utf8");
  const uses = code.split("\n").filter((l) => /\b__(dirname|filename)\b/.test(l) && !/^\s*(\*|\/\/)/.test(l));
  for (const line of uses) problems.push(`${file}: uses ${line.trim().slice(0, 120)}`);
}
if (problems.length > 0) {
  console.error(`build-cli: the bundle would not run as built:\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
writeFileSync(join(ROOT, INPUTS), JSON.stringify(inputs));
const files = Object.keys(inputs).length;
console.log(`build-cli: ${files} files in ${OUT}/ (${Date.now() - started} ms)`);
