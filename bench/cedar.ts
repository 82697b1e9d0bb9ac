// node --import tsx bench/cedar.ts [--iterations 20000]
// Cedar policy as code (issue 20): the cost of one decision with 50 policies (p50 / p99), and the
// CPU the Cedar stage adds to a call (the stage with its argument conversion, engine call and
// audit field, against no stage at all: a gateway without `policy.cedar` has none). Also the
// one-time cost of loading the engine, which only a gateway with policy files pays.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { tokenPrincipal } from "../src/auth/principal.js";
import type { CallContext, Outcome } from "../src/pipeline/context.js";
import { cedar as cedarStage } from "../src/pipeline/stages/cedar.js";
import { CedarAuthorizer, type CedarQuery } from "../src/policy/cedar/authorizer.js";
import { loadCedar } from "../src/policy/cedar/engine.js";
import { loadPolicyFiles } from "../src/policy/cedar/files.js";
import type { CedarPolicySet } from "../src/policy/cedar/policy-set.js";

const { values: opts } = parseArgs({ options: { iterations: { type: "string", default: "20000" } } });
const iterations = Number(opts.iterations);
if (!Number.isInteger(iterations) || iterations < 100)
  throw new Error(`bad --iterations: ${opts.iterations}`);

const t0 = performance.now();
const engine = await loadCedar();
const loadMs = performance.now() - t0;

/** 50 policies: 40 on one tool each (arguments, groups), 6 wide permits, 4 forbids on every call. */
function fiftyPolicies(): string {
  const out: string[] = [];
  for (let i = 0; i < 40; i++)
    out.push(
      `@id("tool-${i}") permit (principal is User, action == Action::"tools/call", resource == Tool::"files/tool_${i}")
       when { principal.groups.contains("g${i % 5}") && context.arguments has path && context.arguments.path like "/srv/${i}/*" };`,
    );
  for (let i = 0; i < 6; i++)
    out.push(
      `@id("wide-${i}") permit (principal is User, action == Action::"tools/call", resource is Tool)
       when { resource.server == "files" && resource.name like "read_${i}*" && principal.scopes.contains("files:read") };`,
    );
  out.push(
    `@id("no-dot-dot") forbid (principal, action, resource) when { context.arguments has path && context.arguments.path like "*..*" };`,
    `@id("no-etc") forbid (principal, action, resource) when { context.arguments has path && context.arguments.path like "/etc/*" };`,
    `@id("no-anon") forbid (principal is Anonymous, action, resource is Tool) when { resource.server == "files" };`,
    `@id("no-night") forbid (principal, action, resource == Tool::"files/tool_7") when { context.protocol == "1999-01-01" };`,
  );
  return out.join("\n");
}

const dir = mkdtempSync(join(tmpdir(), "warden-bench-cedar-"));
writeFileSync(join(dir, "p.cedar"), fiftyPolicies());
const loaded = await loadPolicyFiles(engine, [join(dir, "p.cedar")], join(dir, "warden.yaml"));
if (!loaded.ok) throw new Error(loaded.problems.join("\n"));
const authorizer = new CedarAuthorizer(engine, loaded.policies, { claims: [], groupsClaim: "groups" });

const principal = tokenPrincipal(
  { subject: "alice", clientId: "agent", scopes: ["files:read", "files:write"], method: "bearer" },
  undefined,
  { groups: ["g3", "staff"] },
);
const call = (name: string, args: unknown): CedarQuery => ({
  principal,
  kind: "tool",
  server: "files",
  name,
  args,
  protocol: "2025-11-25",
});
const argsCall = call("tool_3", { path: "/srv/3/report.txt", encoding: "utf8", limit: 100 });
const wideCall = call("read_2_file", { path: "/srv/x/a.txt" });
const noPermit = { ...call("write_other", { path: "/srv/x" }), kind: "prompt" as const };
if (!authorizer.decide(argsCall).allowed || !authorizer.decide(wideCall).allowed)
  throw new Error("the bench's calls should be allowed");

function measure(fn: () => unknown): { p50: number; p99: number; mean: number } {
  const batch = 20;
  for (let i = 0; i < Math.min(2000, iterations); i++) fn();
  const samples: number[] = [];
  for (let done = 0; done < iterations; done += batch) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) fn();
    samples.push(Number(process.hrtime.bigint() - t) / 1000 / batch);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] as number;
  return { p50: at(0.5), p99: at(0.99), mean: samples.reduce((a, b) => a + b, 0) / samples.length };
}

/** CPU time (user + system) per call of `fn`, async, over `n` calls. */
async function cpuPerCall(fn: () => Promise<unknown>, n: number): Promise<number> {
  for (let i = 0; i < Math.min(2000, n); i++) await fn();
  const before = process.cpuUsage();
  for (let i = 0; i < n; i++) await fn();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / n;
}

const set = { current: authorizer } as unknown as CedarPolicySet;
const stage = cedarStage(set);
const result: Outcome = { kind: "result", result: { content: [] } };
const next = () => Promise.resolve(result);
const ctx = (q: CedarQuery) =>
  ({
    principal: q.principal,
    protocolVersion: q.protocol,
    plan: {
      kind: "call",
      server: q.server,
      item: "tool",
      name: q.name,
      params: { name: q.name, arguments: q.args },
    },
    log: { info: () => undefined },
    catalog: { inputSchema: () => Promise.resolve(SCHEMA) },
  }) as unknown as CallContext;

/** tool_3's declared arguments: the stage checks every call's argument types against them. */
const SCHEMA = {
  type: "object",
  properties: { path: { type: "string" }, encoding: { type: "string" }, limit: { type: "integer" } },
  required: ["path"],
};
let seq = 0;
const fresh = () => call("tool_3", { path: `/srv/3/report-${seq++}.txt`, encoding: "utf8", limit: 100 });
const rows: Array<[string, { p50: number; p99: number; mean: number }]> = [
  ["decision, engine call (distinct arguments each time)", measure(() => authorizer.decide(fresh()))],
  ["decision, the same request again (remembered)", measure(() => authorizer.decide(argsCall))],
  ["decision, another tool, wide permits (remembered)", measure(() => authorizer.decide(wideCall))],
  ["decision, no policy in scope permits (no engine call)", measure(() => authorizer.decide(noPermit))],
  [
    "list item, partial evaluation with arguments unknown (cached)",
    measure(() => authorizer.mayAllow(argsCall)),
  ],
];
const n = Math.max(2000, Math.floor(iterations / 2));
const off = await cpuPerCall(() => next(), n);
const onFresh = await cpuPerCall(() => stage(ctx(fresh()), next), n);
const onSame = await cpuPerCall(() => stage(ctx(argsCall), next), n);

const f = (x: number) => x.toFixed(1);
process.stdout.write(
  `Cedar ${engine.getCedarVersion()}, ${loaded.policies.length} policies, Node ${process.version}\n`,
);
process.stdout.write(`engine load (import + compile, once per process): ${loadMs.toFixed(0)} ms\n\n`);
process.stdout.write("| case | p50 µs | p99 µs | mean µs |\n|---|---|---|---|\n");
for (const [name, r] of rows)
  process.stdout.write(`| ${name} | ${f(r.p50)} | ${f(r.p99)} | ${f(r.mean)} |\n`);
process.stdout.write(
  `\nCPU added per call by the Cedar stage (Cedar off: no stage, ${f(off)} µs for the bare step):\n`,
);
process.stdout.write(`| call | added CPU µs |\n|---|---|\n`);
process.stdout.write(`| distinct arguments (engine call) | ${f(onFresh - off)} |\n`);
process.stdout.write(`| the same request again (remembered) | ${f(onSame - off)} |\n`);
