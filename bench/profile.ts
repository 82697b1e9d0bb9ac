// node --import tsx bench/profile.ts [--calls 20000 --sessions 8 --bytes 256 --top 20 --perf --base-dir DIR]
// Where mcp-warden's CPU goes on a forwarded tools/call: the gateway (the default config of
// bench/run.ts: audit on SQLite, redaction on) runs under `node --cpu-prof`; echo calls go through
// its /servers/everything/mcp route, one in flight per session; the samples taken while the
// measured calls ran (not start-up, not warm-up) are summed by function, self time.
import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { sourceOf } from "./lib/bundle-frames.js";
import { drive } from "./lib/load.js";
import { cpuUs } from "./lib/proc.js";
import { ROOT, wardenTargets } from "./lib/targets.js";

const { values: opts } = parseArgs({
  options: {
    calls: { type: "string", default: "20000" },
    warm: { type: "string", default: "2000" },
    sessions: { type: "string", default: "8" },
    bytes: { type: "string", default: "256" },
    top: { type: "string", default: "20" },
    // Linux perf (task-clock: on-CPU time only) instead of V8's sampler, which samples wall time:
    // on a loaded machine a thread preempted inside a syscall keeps collecting samples there.
    perf: { type: "boolean", default: false },
    // Profile another checkout's build instead (bench/run.ts --base-dir): a change's before.
    "base-dir": { type: "string" },
  },
});
const calls = Number(opts.calls);
const sessionsWanted = Number(opts.sessions);
const bytes = Number(opts.bytes);
const top = Number(opts.top);

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/**
 * Parts of the gateway by the files their frames come from; the first that matches wins. src/ is
 * this build's (frames in the CLI bundle, mapped back); dist/ a build from before the bundle.
 */
const PARTS: ReadonlyArray<readonly [string, RegExp]> = [
  ["audit sink (SQLite, chain)", /(?:src|dist)\/audit\/|better-sqlite3|canonicalize/],
  ["audit stage (events)", /`(?:callEvents|callEvent|auditCall)`|(?:src|dist)\/pipeline\/stages\/audit/],
  ["protect (injection, redaction)", /(?:src|dist)\/protect\//],
  ["policy (guards, access)", /(?:src|dist)\/policy\//],
  ["supply chain", /(?:src|dist)\/supply\//],
  ["telemetry (metrics, spans)", /(?:src|dist)\/observability|prom-client|opentelemetry|`recordCall`/],
  ["upstream stdio (SDK, connection)", /(?:src|dist)\/upstreams\/|modelcontextprotocol\/sdk|npm:zod/],
  [
    "node I/O (http, net, streams)",
    /node:_http|node:net|node:internal\/stream|node:stream|^uv__|node::LibuvStreamWrap|Parser::/,
  ],
  ["transport (streamable-http)", /(?:src|dist)\/transports\//],
  ["session, relay, catalog", /(?:src|dist)\/gateway\//],
  ["pipeline (compose, other stages)", /(?:src|dist)\/pipeline\//],
  ["promises, microtasks, timers", /processTicksAndRejections|RunMicrotasks|node:timers/],
];

process.removeAllListeners("warning"); // the SDK client's MaxListenersExceededWarning (bench/README.md)

const stamp = new Date().toISOString().replace(/[:.]/g, "-");
const dir = join(ROOT, "bench", "results", `profile-${stamp}`);
mkdirSync(dir, { recursive: true });
const nodeArgs = opts.perf ? ["--perf-basic-prof-only-functions"] : ["--cpu-prof", "--cpu-prof-dir", dir];
const warden = await wardenTargets({ nodeArgs, root: opts["base-dir"] });
const target = warden.server;
const pid = target.bridgePid as number;
const sessions = await Promise.all(Array.from({ length: sessionsWanted }, () => target.connect()));
await drive(sessions, sessionsWanted, Number(opts.warm), bytes);
const perfData = join(dir, "perf.data");
const perf = opts.perf
  ? spawn("perf", ["record", "-e", "task-clock", "-F", "2000", "-g", "-p", String(pid), "-o", perfData], {
      stdio: ["ignore", "ignore", "inherit"],
    })
  : undefined;
await new Promise((r) => setTimeout(r, opts.perf ? 1000 : 200));
// V8's profile timestamps and process.hrtime share the monotonic clock: the window is in µs.
const cpuBefore = cpuUs([pid]);
const from = Number(process.hrtime.bigint() / 1000n);
const t0 = performance.now();
await drive(sessions, sessionsWanted, calls, bytes);
const wallMs = performance.now() - t0;
const to = Number(process.hrtime.bigint() / 1000n);
const cpuPerCall = (cpuUs([pid]) - cpuBefore) / calls;
if (perf) {
  const done = new Promise((r) => perf.once("exit", r));
  perf.kill("SIGINT");
  await done;
}
await Promise.all(sessions.map((s) => s.close()));
await target.stop();
const header =
  `mcp-warden${opts["base-dir"] ? ` (build in ${opts["base-dir"]})` : ""} /servers/everything/mcp, echo tools/call, ` +
  `${bytes} B, ${sessionsWanted} sessions × 1 in flight, ` +
  `${calls} calls in ${(wallMs / 1000).toFixed(1)} s; gateway CPU ${cpuPerCall.toFixed(0)} µs/call ` +
  `(/proc, profiler on)`;
if (perf) {
  const report = perfReport(perfData, pid, header, join(dir, "stacks.folded"));
  rmSync(`/tmp/perf-${pid}.map`, { force: true }); // node's JIT symbol map, needed by perf script only
  writeFileSync(join(dir, "summary.md"), `${report}\n`);
  console.log(report);
  console.error(`profile: ${perfData}`);
  process.exit(0);
}

/**
 * The perf samples of the gateway folded the way V8's profiler shows them: each main-thread sample
 * charged to its nearest JavaScript frame (with the builtins, runtime, native bindings and syscalls
 * it called), or when it has none to the innermost node::/libuv frame; samples of other threads
 * (GC, the JIT compiler) apart. Also each JS function's inclusive share (the call and all it called).
 */
function perfReport(data: string, mainTid: number, title: string, foldedFile: string): string {
  const text = execFileSync("perf", ["script", "-i", data, "-F", "tid,ip,sym"], {
    encoding: "utf8",
    maxBuffer: 1 << 30,
  });
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const add = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  const folded = new Map<string, number>();
  let main = 0;
  let other = 0;
  for (const block of text.split("\n\n")) {
    const [head, ...frames] = block.trim().split("\n");
    if (!head) continue;
    const syms = frames.map((f) => f.trim().replace(/^[0-9a-f]+ /, ""));
    if (Number(head.trim()) !== mainTid) {
      other++;
      continue;
    }
    main++;
    const js = syms.filter((f) => f.startsWith("JS:")).map(jsName);
    const native = syms.find((f) => /^(node::|uv_|uv__)/.test(f));
    add(self, js[0] ?? `(native) ${(native ?? syms[0] ?? "?").replace(/\(.*$/, "").slice(0, 80)}`);
    for (const f of new Set(js)) add(inclusive, f);
    // Root first, one line per distinct stack: for flame graphs and for reading a profile again
    // (the JIT's symbol map is gone with the gateway).
    add(
      folded,
      syms
        .map((f) => (f.startsWith("JS:") ? jsName(f) : f.replace(/ \(\S+\)$/, "")))
        .reverse()
        .join(";"),
    );
  }
  writeFileSync(foldedFile, [...folded].map(([stack, n]) => `${stack} ${n}\n`).join(""));
  const pct = (n: number) => ((100 * n) / main).toFixed(1);
  const table = (m: Map<string, number>, what: string) => [
    `| # | ${what} | % |`,
    "|---:|---|---:|",
    ...[...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, n], i) => `| ${i + 1} | ${k} | ${pct(n)} |`),
  ];
  const parts = new Map<string, number>();
  for (const [stack, n] of folded) {
    // The innermost frame that names a part decides: a write under the transport is node I/O.
    let part = "other";
    for (const frame of stack.split(";").reverse()) {
      const found = PARTS.find(([, re]) => re.test(frame));
      if (found) {
        part = found[0];
        break;
      }
    }
    parts.set(part, (parts.get(part) ?? 0) + n);
  }
  return [
    `${title}; perf task-clock (on-CPU time only), ${main} main-thread samples, ` +
      `${other} on other threads (GC, JIT) not in the tables. % of main-thread samples.`,
    "",
    ...table(parts, "part of the gateway (innermost frame that names one)"),
    "",
    ...table(self, "self (nearest JS frame)"),
    "",
    ...table(inclusive, "inclusive (JS function and all it called)"),
  ].join("\n");
}

/** `JS:*name file:///…/dist/x.js:12:3` → `` `name` dist/x.js:12 `` (`*` optimised, `~` interpreted). */
function jsName(frame: string): string {
  const m = /^JS:[*~^]?(\S*) (\S+?)(?::(\d+):(\d+))?$/.exec(frame.replace(/ \(\S+\)$/, ""));
  if (!m) return frame.slice(0, 100);
  if (!m[3]) return `\`${m[1] || "(anonymous)"}\` ${place(m[2] as string)}`;
  // perf's lines and columns count from 1, a source map's from 0.
  const at = sourceOf(m[2] as string, Number(m[3]) - 1, Number(m[4]) - 1);
  return `\`${m[1] || "(anonymous)"}\` ${place(at.url)}:${at.line + 1}`;
}

const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
if (!file) throw new Error(`no .cpuprofile in ${dir}: did the gateway exit cleanly?`);
const profile = JSON.parse(readFileSync(join(dir, file), "utf8")) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map<string, number>();
const perFile = new Map<string, number>();
let t = profile.startTime;
let total = 0;
let idle = 0;
for (let i = 0; i < profile.samples.length; i++) {
  t += profile.timeDeltas[i] ?? 0;
  if (t < from || t > to) continue;
  const frame = byId.get(profile.samples[i] as number)?.callFrame;
  if (!frame) continue;
  total++;
  if (frame.functionName === "(idle)") {
    idle++;
    continue;
  }
  const at = sourceOf(frame.url, frame.lineNumber, frame.columnNumber);
  const where = place(at.url);
  const key = `${frame.functionName || "(anonymous)"}\t${where}${at.url ? `:${at.line + 1}` : ""}`;
  self.set(key, (self.get(key) ?? 0) + 1);
  perFile.set(where || frame.functionName, (perFile.get(where || frame.functionName) ?? 0) + 1);
}
const busy = total - idle;

function place(url: string): string {
  if (!url) return "";
  const path = url.startsWith("file://") ? new URL(url).pathname : url;
  const rel = path.startsWith(ROOT) ? relative(ROOT, path) : path;
  // Also a node_modules/ outside ROOT (a checkout whose node_modules is a link).
  return rel.replace(/^(?:.*\/)?node_modules\//, "npm:");
}

const pct = (n: number) => ((100 * n) / busy).toFixed(1);
const lines = [
  `${header}; V8 --cpu-prof, ${busy} busy samples of ${total} in the window (% of busy samples, self time).`,
  "",
  "| # | function | where | self % |",
  "|---:|---|---|---:|",
  ...[...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([key, n], i) => {
      const [fn, where] = key.split("\t");
      return `| ${i + 1} | \`${fn}\` | ${where || "–"} | ${pct(n)} |`;
    }),
  "",
  "| file (self time summed) | self % |",
  "|---|---:|",
  ...[...perFile.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([where, n]) => `| ${where} | ${pct(n)} |`),
];
const report = lines.join("\n");
writeFileSync(join(dir, "summary.md"), `${report}\n`);
console.log(report);
console.error(`profile: ${join(dir, file)}`);
process.exit(0);
