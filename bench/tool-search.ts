// node --import tsx bench/tool-search.ts
// Tool search (virtual servers, `search: true`): top-1 and top-5 hit rate of search_tools on a
// generated catalog of 500 tools (bench/lib/tool-catalog.ts) for queries written apart from it
// (bench/lib/tool-search-queries.ts); the bytes of tools/list with the whole catalog and with
// search (its two tools), and of a search_tools result; the time to index and to search.
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { SEARCH_TOOLS, ToolSearch, searchResult } from "../src/gateway/virtual/search.js";
import { forwardedMeta } from "../src/gateway/virtual/arguments.js";
import { exactArguments, forwardedArguments, present } from "../src/gateway/virtual/present.js";
import { VirtualServer } from "../src/gateway/virtual/server.js";
import { parseConfig } from "../src/config/load.js";
import type { JsonObject } from "../src/jsonrpc.js";
import { generateCatalog } from "./lib/tool-catalog.js";
import { QUERIES } from "./lib/tool-search-queries.js";

const catalog = generateCatalog();
assert.equal(catalog.length, 500);
const names = new Set(catalog.map((t) => String(t.name)));
for (const [, expected] of QUERIES) assert.ok(names.has(expected), `no tool ${expected} in the catalog`);

const search = new ToolSearch();
const t0 = performance.now();
search.rank(catalog, "warm up", 5);
const indexMs = performance.now() - t0;

let top1 = 0;
let top5 = 0;
const misses: string[] = [];
const times: number[] = [];
let resultBytes = 0;
for (const [query, expected] of QUERIES) {
  const start = performance.now();
  const found = search.rank(catalog, query, 5);
  times.push(performance.now() - start);
  const at = found.findIndex((t) => t.name === expected);
  if (at === 0) top1++;
  if (at >= 0) top5++;
  else misses.push(`  ${JSON.stringify(query)} → ${expected}; got ${found.map((t) => t.name).join(", ")}`);
  resultBytes += Buffer.byteLength(JSON.stringify(searchResult(found)));
}
times.sort((a, b) => a - b);
const pct = (n: number) => `${((100 * n) / QUERIES.length).toFixed(1)}%`;
const full = Buffer.byteLength(JSON.stringify({ tools: catalog }));
const two = Buffer.byteLength(JSON.stringify({ tools: SEARCH_TOOLS }));

console.log(`tool search over ${catalog.length} generated tools, ${QUERIES.length} queries written apart`);
console.log(`  top-1 hit rate: ${pct(top1)} (${top1}/${QUERIES.length})`);
console.log(`  top-5 hit rate: ${pct(top5)} (${top5}/${QUERIES.length})`);
console.log(
  `  tools/list bytes: ${full} with the catalog, ${two} with search (${(full / two).toFixed(0)}x less)`,
);
console.log(`  search_tools result (limit 5): ${Math.round(resultBytes / QUERIES.length)} bytes on average`);
console.log(
  `  index: ${indexMs.toFixed(1)} ms once per distinct list; search: p50 ${(times[times.length >> 1]! * 1000).toFixed(0)} µs, max ${(times.at(-1)! * 1000).toFixed(0)} µs`,
);
if (misses.length > 0) console.log(`misses (top 5):\n${misses.join("\n")}`);

// What a curated call adds on the gateway's hot path (stages/curate.ts): the shown definition
// (computed once per listed definition, then a lookup) and the forwarded arguments.
const config = parseConfig(
  [
    "servers:\n  - name: github\n    command: node",
    "virtual_servers:\n  - name: t\n    tools:\n      - tool: github/github_create_issue",
    "        name: new_issue\n        arguments: { fixed: { name: web }, defaults: { fields: {} } }",
  ].join("\n"),
  "bench.yaml",
  {},
);
const binding = new VirtualServer(config.virtualServers[0]!).exactBinding("new_issue")!;
const def = catalog.find((t) => t.name === "github_create_issue")!;
const N = 200_000;
const t1 = performance.now();
for (let i = 0; i < N; i++) {
  const shown = present(binding, def);
  const schema = "item" in shown ? (shown.item.inputSchema as JsonObject) : {};
  const exact = exactArguments(binding, def);
  forwardedArguments(binding, { fields: { title: "broken", body: "steps" } }, exact ? { schema } : undefined);
  forwardedMeta({ progressToken: 1, trace: "t" });
}
console.log(
  `  a curated call's overrides: ${(((performance.now() - t1) * 1000) / N).toFixed(2)} µs (shown definition + forwarded arguments, normalised keys, _meta)`,
);
