// node --import tsx bench/scale.ts [--sessions 1000 --users 100 --calls 3 --isolation shared,per_session]
// Issue 15: many concurrent sessions, callers with distinct tokens, against ONE stdio
// server-everything behind the gateway. Each session opens (initialize + initialized) and calls
// `echo` a few times, at most --concurrency requests in flight; sessions stay open until every one
// has run, then all of them call `echo` at once (the burst). Reports errors, the memory of the
// gateway and its children, the upstream processes, latencies and wall time; one run per isolation.
// A measurement, not a test: nothing here fails on a number.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { errorKey, openSession, type McpSession } from "./lib/mcp-http.js";
import { cpuUs, descendants, memAvailableMiB, treeMemory } from "./lib/proc.js";
import { EVERYTHING_JS, ROOT, UPSTREAM } from "./lib/targets.js";
import { startWarden, type Warden } from "./lib/warden.js";

const { values: opts } = parseArgs({
  options: {
    sessions: { type: "string", default: "1000" },
    users: { type: "string", default: "100" },
    calls: { type: "string", default: "3" },
    isolation: { type: "string", default: "shared,per_session" },
    concurrency: { type: "string", default: "64" },
    // Opens in flight at once: a per_session open launches a process, and 64 launches at once on
    // two cores time out rather than measure anything.
    "open-concurrency": { type: "string", default: "8" },
    "max-upstream-processes": { type: "string" },
    // Builds from before issue 15 reject the keys `isolation` and `max_upstream_processes`.
    "legacy-config": { type: "boolean", default: false },
    "build-dir": { type: "string", default: ROOT },
    label: { type: "string", default: "" },
    // The bench's own brakes, so that a build without a process cap cannot take the machine.
    "stop-at-processes": { type: "string", default: "300" },
    "min-available-mib": { type: "string", default: "4096" },
    "timeout-s": { type: "string", default: "60" },
  },
});
const SESSIONS = Number(opts.sessions);
const USERS = Number(opts.users);
const CALLS = Number(opts.calls);
const CONCURRENCY = Number(opts.concurrency);
const OPEN_CONCURRENCY = Number(opts["open-concurrency"]);
const STOP_AT_PROCESSES = Number(opts["stop-at-processes"]);
const MIN_AVAILABLE_MIB = Number(opts["min-available-mib"]);
const TIMEOUT_MS = Number(opts["timeout-s"]) * 1000;
const numbers = { SESSIONS, USERS, CALLS, CONCURRENCY, OPEN_CONCURRENCY, STOP_AT_PROCESSES, TIMEOUT_MS };
for (const [k, v] of Object.entries(numbers)) {
  if (!Number.isInteger(v) || v < (k === "CALLS" ? 0 : 1)) throw new Error(`bad --${k.toLowerCase()}: ${v}`);
}
const ISOLATIONS = opts.isolation.split(",").map((s) => s.trim());
const PER_USER = Math.ceil(SESSIONS / USERS);

interface Run {
  isolation: string;
  requested: number;
  opened: number;
  /** Sessions never attempted because the bench's brake stopped it. */
  notAttempted: number;
  stoppedBy: string | null;
  errors: { open: Record<string, number>; call: Record<string, number>; burst: Record<string, number> };
  firstErrors: string[];
  calls: number;
  openMs: { p50: number; p99: number; max: number };
  callMs: { p50: number; p99: number };
  burstMs: { p50: number; p99: number };
  /** With every opened session still open, after the burst; peak over the run in `peak`. */
  memory: { rssMiB: number; pssMiB: number; upstreams: number; children: number };
  peak: { rssMiB: number; pssMiB: number; upstreams: number };
  gatewayCpuS: number;
  upstreamCpuS: number;
  wallS: number;
  readyz: unknown;
}

function pct(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * q) - 1)] as number;
}

function summary(values: number[]): { p50: number; p99: number; max: number } {
  const s = [...values].sort((a, b) => a - b);
  return { p50: pct(s, 0.5), p99: pct(s, 0.99), max: s[s.length - 1] ?? NaN };
}

function serverConfig(isolation: string): Record<string, unknown> {
  return {
    name: "everything",
    command: UPSTREAM.command,
    args: UPSTREAM.args,
    tools: { "*": ["demo:use"] },
    ...(opts["legacy-config"] ? {} : { isolation }),
  };
}

function gatewayConfig(): Record<string, unknown> {
  const gateway: Record<string, unknown> = {
    max_sessions: SESSIONS + 100,
    max_sessions_per_user: Math.max(10, PER_USER + 5),
  };
  if (opts["max-upstream-processes"] !== undefined && !opts["legacy-config"])
    gateway.max_upstream_processes = Number(opts["max-upstream-processes"]);
  return gateway;
}

async function runOne(isolation: string): Promise<Run> {
  const warden = await startWarden({
    buildDir: opts["build-dir"],
    config: { gateway: gatewayConfig(), servers: [serverConfig(isolation)] },
  });
  try {
    return await measure(warden, isolation);
  } finally {
    await warden.stop();
  }
}

async function measure(warden: Warden, isolation: string): Promise<Run> {
  const url = `${warden.base}/servers/everything/mcp`;
  const users = Array.from({ length: USERS }, (_, u) => `user-${String(u).padStart(3, "0")}`);
  const tokens = await warden.tokens(users, "demo:use");

  const errors: Run["errors"] = { open: {}, call: {}, burst: {} };
  const firstErrors: string[] = [];
  const fail = (phase: keyof Run["errors"], i: number, err: unknown) => {
    const key = errorKey(err);
    errors[phase][key] = (errors[phase][key] ?? 0) + 1;
    if (firstErrors.length < 5) firstErrors.push(`${phase} (session ${i}): ${key}`);
  };

  // Sampled twice a second: the peak, and the brake.
  const peak = { rssMiB: 0, pssMiB: 0, upstreams: 0 };
  let stoppedBy: string | null = null;
  const sample = () => {
    const m = treeMemory(warden.pid, EVERYTHING_JS);
    peak.rssMiB = Math.max(peak.rssMiB, m.rssMiB);
    peak.pssMiB = Math.max(peak.pssMiB, m.pssMiB);
    peak.upstreams = Math.max(peak.upstreams, m.matching);
    if (stoppedBy === null && m.matching >= STOP_AT_PROCESSES)
      stoppedBy = `the bench at ${m.matching} upstream processes (--stop-at-processes)`;
    if (stoppedBy === null && memAvailableMiB() < MIN_AVAILABLE_MIB)
      stoppedBy = `the bench: MemAvailable under ${MIN_AVAILABLE_MIB} MiB (--min-available-mib)`;
    return m;
  };
  const sampler = setInterval(sample, 500);

  const cpu = () => ({ gw: cpuUs([warden.pid]), up: cpuUs(descendants(warden.pid)) });
  const cpu0 = cpu();
  const started = performance.now();
  const sessions: McpSession[] = [];
  const openMs: number[] = [];
  const callMs: number[] = [];
  const opening = new Semaphore(OPEN_CONCURRENCY);
  let next = 0;
  let notAttempted = 0;
  const worker = async () => {
    for (let i = next++; i < SESSIONS; i = next++) {
      if (stoppedBy !== null) {
        notAttempted++;
        continue;
      }
      const headers = { authorization: `Bearer ${tokens[i % USERS]}` };
      await opening.acquire();
      const t0 = performance.now();
      let session: McpSession;
      try {
        session = await openSession(url, { headers, timeoutMs: TIMEOUT_MS });
      } catch (err) {
        fail("open", i, err);
        continue;
      } finally {
        opening.release();
      }
      openMs.push(performance.now() - t0);
      sessions.push(session);
      for (let c = 0; c < CALLS; c++) {
        const t1 = performance.now();
        try {
          await echo(session, `session ${i} call ${c}`);
          callMs.push(performance.now() - t1);
        } catch (err) {
          fail("call", i, err);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));

  // Every open session at once: one call each in flight.
  const burstMs: number[] = [];
  await Promise.all(
    sessions.map(async (s, i) => {
      const t0 = performance.now();
      try {
        await echo(s, `burst ${i}`);
        burstMs.push(performance.now() - t0);
      } catch (err) {
        fail("burst", i, err);
      }
    }),
  );
  const wallS = (performance.now() - started) / 1000;
  const cpu1 = cpu();
  clearInterval(sampler);
  const atRest = sample();
  const readyz = await warden.readyz().then(
    (r) => r.body,
    (err: unknown) => `unreachable: ${errorKey(err)}`,
  );

  for (let i = 0; i < sessions.length; i += 100) {
    await Promise.all(sessions.slice(i, i + 100).map((s) => s.close()));
  }
  return {
    isolation: opts["legacy-config"] ? `${isolation} (key omitted)` : isolation,
    requested: SESSIONS,
    opened: sessions.length,
    notAttempted,
    stoppedBy,
    errors,
    firstErrors,
    calls: callMs.length + burstMs.length,
    openMs: summary(openMs),
    callMs: summary(callMs),
    burstMs: summary(burstMs),
    memory: {
      rssMiB: atRest.rssMiB,
      pssMiB: atRest.pssMiB,
      upstreams: atRest.matching,
      children: atRest.children,
    },
    peak,
    gatewayCpuS: (cpu1.gw - cpu0.gw) / 1e6,
    // Processes that exited meanwhile are not counted: a lower bound.
    upstreamCpuS: (cpu1.up - cpu0.up) / 1e6,
    wallS,
    readyz,
  };
}

class Semaphore {
  private waiting: (() => void)[] = [];
  constructor(private free: number) {}
  async acquire(): Promise<void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.waiting.push(r));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

async function echo(session: McpSession, message: string): Promise<void> {
  const res = (await session.callTool("echo", { message })) as { content?: { text?: string }[] };
  const text = res?.content?.[0]?.text;
  if (text !== `Echo: ${message}`) throw new Error(`wrong echo: ${JSON.stringify(res).slice(0, 120)}`);
}

const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : "–");
const total = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
const list = (r: Record<string, number>) =>
  Object.entries(r)
    .map(([k, n]) => `${k} ×${n}`)
    .join("; ");

function table(runs: Run[]): string {
  const lines = [
    `${SESSIONS} sessions (${USERS} users × ${PER_USER}), ${CALLS} echo calls each then one burst call per open ` +
      `session, ${CONCURRENCY} requests in flight (opens: ${OPEN_CONCURRENCY}); build ${buildOf(opts["build-dir"])}; ${cpus().length} CPUs, ` +
      `node ${process.version}, load ${fmt(loadavg()[0] ?? NaN, 1)}.`,
    "",
    "| isolation | opened | errors open / call / burst | upstream procs (peak) | RSS MiB gw+children (peak) | PSS MiB | open p50 / p99 ms | call p50 / p99 ms | burst p50 / p99 ms | gateway CPU s | wall s |",
    "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of runs) {
    lines.push(
      `| ${r.isolation} | ${r.opened} / ${r.requested} | ${total(r.errors.open)} / ${total(r.errors.call)} / ` +
        `${total(r.errors.burst)} | ${r.memory.upstreams} (${r.peak.upstreams}) | ${fmt(r.memory.rssMiB)} ` +
        `(${fmt(r.peak.rssMiB)}) | ${fmt(r.memory.pssMiB)} | ${fmt(r.openMs.p50, 1)} / ${fmt(r.openMs.p99, 1)} | ` +
        `${fmt(r.callMs.p50, 1)} / ${fmt(r.callMs.p99, 1)} | ${fmt(r.burstMs.p50, 1)} / ${fmt(r.burstMs.p99, 1)} | ` +
        `${fmt(r.gatewayCpuS, 1)} | ${fmt(r.wallS, 1)} |`,
    );
  }
  for (const r of runs) {
    const errs = [list(r.errors.open), list(r.errors.call), list(r.errors.burst)].filter(Boolean);
    if (r.stoppedBy)
      lines.push(`- ${r.isolation}: stopped by ${r.stoppedBy}; ${r.notAttempted} not attempted`);
    if (errs.length) lines.push(`- ${r.isolation} errors: ${errs.join(" | ")}`);
    if (r.firstErrors.length) lines.push(`  first: ${r.firstErrors.join(" · ")}`);
  }
  return lines.join("\n");
}

function buildOf(dir: string): string {
  try {
    return execFileSync("git", ["-C", dir, "log", "-1", "--format=%h %s"], { encoding: "utf8" })
      .trim()
      .slice(0, 80);
  } catch {
    return dir;
  }
}

const runs: Run[] = [];
for (const isolation of ISOLATIONS) {
  console.error(`scale: ${isolation}, ${SESSIONS} sessions …`);
  const r = await runOne(isolation);
  console.error(
    `scale: ${isolation}: opened ${r.opened}, ${r.memory.upstreams} upstreams, ` +
      `${fmt(r.memory.rssMiB)} MiB RSS, wall ${fmt(r.wallS, 1)} s`,
  );
  runs.push(r);
}
console.log(table(runs));

const dir = join(ROOT, "bench", "results");
mkdirSync(dir, { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, "-");
const file = join(dir, `scale-${stamp}.json`);
const settings = { ...opts, perUser: PER_USER };
const machine = { cpus: cpus().length, totalMiB: totalmem() / 2 ** 20, load: loadavg() };
const report = { date: new Date().toISOString(), build: buildOf(opts["build-dir"]), settings, machine, runs };
writeFileSync(file, JSON.stringify(report, null, 2));
console.error(`scale: wrote ${file}`);
