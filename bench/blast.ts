// node --import tsx bench/blast.ts [--crashes 5 --window-s 10 --isolation per_session,shared]
// Issue 23: what one caller's crashing upstream costs another. A stdio fixture server
// (bench/lib/crash-server.mjs: `echo`, and `crash`, which exits the process mid-call) behind the
// gateway. User A calls `crash` --crashes times; right after each crash A makes its next call
// (`echo`, same session) while user B opens a new session and calls `echo` in a loop for
// --window-s seconds. Reports, per isolation mode, B's refusals and waits, A's next-call outcome,
// and the server's /readyz entry. A measurement, not a test: nothing here fails on a number.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { errorKey, openSession, type McpSession } from "./lib/mcp-http.js";
import { ROOT } from "./lib/targets.js";
import { startWarden, type Warden } from "./lib/warden.js";

const { values: opts } = parseArgs({
  options: {
    crashes: { type: "string", default: "5" },
    "window-s": { type: "string", default: "10" },
    "interval-ms": { type: "string", default: "50" },
    isolation: { type: "string", default: "per_session,shared" },
    // Builds from before issue 15 reject the key `isolation` (every server is per-session there).
    "legacy-config": { type: "boolean", default: false },
    "build-dir": { type: "string", default: ROOT },
    "timeout-s": { type: "string", default: "60" },
    // Adds the kill rule of issue 23 §3: `{ when: upstream_crash, count: N, within: 1m, kill: user_on_server }`.
    "kill-after": { type: "string" },
  },
});
const CRASHES = Number(opts.crashes);
const WINDOW_MS = Number(opts["window-s"]) * 1000;
const INTERVAL_MS = Number(opts["interval-ms"]);
const TIMEOUT_MS = Number(opts["timeout-s"]) * 1000;
const SERVER = "crashy";
const FIXTURE = join(ROOT, "bench", "lib", "crash-server.mjs");

interface Outcome {
  /** "ok", or the error's key. */
  result: string;
  ms: number;
}

interface Round {
  crash: Outcome;
  aNext: Outcome;
  /** /readyz's entry for the server right after the crash call returned. */
  readyAfterCrash: unknown;
  b: {
    /** B's new session: the time to open it (refused attempts and retries included). */
    openMs: number;
    ok: number;
    refused: Record<string, number>;
    maxCallMs: number;
    /** From the end of A's crash call to B's first answered echo (opening included); NaN: none. */
    firstOkMs: number;
  };
}

interface ModeResult {
  isolation: string;
  rounds: Round[];
  readyAtEnd: unknown;
}

async function timed(fn: () => Promise<unknown>): Promise<Outcome> {
  const t0 = performance.now();
  try {
    await fn();
    return { result: "ok", ms: performance.now() - t0 };
  } catch (err) {
    return { result: errorKey(err), ms: performance.now() - t0 };
  }
}

async function echo(s: McpSession, message: string): Promise<void> {
  const res = (await s.callTool("echo", { message })) as { content?: { text?: string }[] };
  if (res?.content?.[0]?.text !== `Echo: ${message}`) throw new Error("wrong echo");
}

/** Opens a session, retrying refusals until `deadline`; each refusal is counted in `refused`. */
async function openRetrying(
  url: string,
  token: string,
  deadline: number,
  refused: Record<string, number>,
): Promise<McpSession | undefined> {
  while (performance.now() < deadline) {
    try {
      return await openSession(url, { headers: { authorization: `Bearer ${token}` }, timeoutMs: TIMEOUT_MS });
    } catch (err) {
      const key = `open: ${errorKey(err)}`;
      refused[key] = (refused[key] ?? 0) + 1;
      await new Promise((r) => setTimeout(r, INTERVAL_MS));
    }
  }
  return undefined;
}

/** B's window: a new session, then echo in a loop until the window ends. */
async function userB(url: string, token: string, crashedAt: number): Promise<Round["b"]> {
  const b: Round["b"] = { openMs: NaN, ok: 0, refused: {}, maxCallMs: 0, firstOkMs: NaN };
  const end = crashedAt + WINDOW_MS;
  const session = await openRetrying(url, token, end, b.refused);
  if (!session) return b;
  b.openMs = performance.now() - crashedAt;
  for (let n = 0; performance.now() < end; n++) {
    const out = await timed(() => echo(session, `b ${n}`));
    b.maxCallMs = Math.max(b.maxCallMs, out.ms);
    if (out.result === "ok") {
      b.ok++;
      if (Number.isNaN(b.firstOkMs)) b.firstOkMs = performance.now() - crashedAt;
    } else {
      b.refused[out.result] = (b.refused[out.result] ?? 0) + 1;
    }
    await new Promise((r) => setTimeout(r, INTERVAL_MS));
  }
  await session.close();
  return b;
}

function serverEntry(body: unknown): unknown {
  const upstreams = (body as { upstreams?: Record<string, unknown> } | undefined)?.upstreams;
  return upstreams?.[SERVER] ?? body;
}

async function readyEntry(w: Warden): Promise<unknown> {
  return w.readyz().then(
    (r) => ({ http: r.status, ...(serverEntry(r.body) as object) }),
    (err: unknown) => `unreachable: ${errorKey(err)}`,
  );
}

async function runMode(isolation: string): Promise<ModeResult> {
  const server: Record<string, unknown> = {
    name: SERVER,
    command: process.execPath,
    args: [FIXTURE],
    tools: { "*": ["demo:use"] },
  };
  if (!opts["legacy-config"]) server.isolation = isolation;
  const killAfter = opts["kill-after"];
  const rules = [{ when: "upstream_crash", count: Number(killAfter), within: "1m", kill: "user_on_server" }];
  const config = { servers: [server], ...(killAfter === undefined ? {} : { kill_switch: { rules } }) };
  const warden = await startWarden({ buildDir: opts["build-dir"], config });
  try {
    const url = `${warden.base}/servers/${SERVER}/mcp`;
    const [tokenA, tokenB] = (await warden.tokens(["user-a", "user-b"], "demo:use")) as [string, string];
    const ignored: Record<string, number> = {};
    const openA = () => openRetrying(url, tokenA, performance.now() + TIMEOUT_MS, ignored);
    let a = await openA();
    if (!a) throw new Error("user A could not open a session");
    await echo(a, "warm-up");

    const rounds: Round[] = [];
    for (let i = 0; i < CRASHES; i++) {
      const sessionA: McpSession = a;
      const crash = await timed(() => sessionA.callTool("crash", {}));
      const crashedAt = performance.now();
      const [aNext, b, readyAfterCrash] = await Promise.all([
        timed(() => echo(sessionA, `a after crash ${i + 1}`)),
        userB(url, tokenB, crashedAt),
        readyEntry(warden),
      ]);
      rounds.push({ crash, aNext, b, readyAfterCrash });
      console.error(
        `blast: ${isolation} crash ${i + 1}: crash call ${crash.result}; A next ${aNext.result} ` +
          `(${aNext.ms.toFixed(0)} ms); B ok ${b.ok}, refused ${total(b.refused)}`,
      );
      // A session the gateway dropped with its upstream is reopened for the next crash.
      if (aNext.result !== "ok" && isGone(aNext)) a = (await openA()) ?? a;
    }
    await a.close();
    return {
      isolation: opts["legacy-config"] ? `${isolation} (key omitted)` : isolation,
      rounds,
      readyAtEnd: await readyEntry(warden),
    };
  } finally {
    await warden.stop();
  }
}

function isGone(o: Outcome): boolean {
  return o.result.startsWith("HTTP 404") || /session/i.test(o.result);
}

const total = (r: Record<string, number>) => Object.values(r).reduce((x, y) => x + y, 0);
const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : "–");

function merge(rs: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rs) for (const [k, n] of Object.entries(r)) out[k] = (out[k] ?? 0) + n;
  return out;
}

/** Outcomes grouped: `ok ×3 (120–450 ms); -32005 …: restarting ×2 (16–59 ms)`. */
function outcomes(os: Outcome[]): string {
  const groups = new Map<string, number[]>();
  for (const o of os) groups.set(o.result, [...(groups.get(o.result) ?? []), o.ms]);
  return [...groups]
    .map(([result, ms]) => `${result} ×${ms.length} (${fmt(Math.min(...ms))}–${fmt(Math.max(...ms))} ms)`)
    .join("; ");
}

function table(results: ModeResult[]): string {
  const lines = [
    `User A calls \`crash\` ${CRASHES} times; after each, A's next call (echo) and user B's new session with ` +
      `echo every ${INTERVAL_MS} ms for ${WINDOW_MS / 1000} s ("–": no answer in that window)` +
      (opts["kill-after"]
        ? `; kill rule: user_on_server after ${opts["kill-after"]} upstream_crash in 1m`
        : "") +
      `. Build ${buildOf()}; ${cpus().length} CPUs, ` +
      `node ${process.version}, load ${fmt(loadavg()[0] ?? NaN, 1)}.`,
    "",
    "| isolation | B calls ok | B refused | B open ms (per crash) | B max call ms | B's wait, crash → first answered echo, ms (per crash) | A's next call after each crash | /readyz after last crash | /readyz at end |",
    "|---|---:|---:|---|---:|---|---|---|---|",
  ];
  for (const r of results) {
    const bOk = r.rounds.reduce((s, x) => s + x.b.ok, 0);
    const refused = merge(r.rounds.map((x) => x.b.refused));
    const maxCall = Math.max(...r.rounds.map((x) => x.b.maxCallMs));
    const firstOk = r.rounds.map((x) => fmt(x.b.firstOkMs)).join(", ");
    const last = r.rounds[r.rounds.length - 1];
    lines.push(
      `| ${r.isolation} | ${bOk} | ${total(refused)} | ${r.rounds.map((x) => fmt(x.b.openMs)).join(", ")} | ` +
        `${fmt(maxCall)} | ${firstOk} | ` +
        `${outcomes(r.rounds.map((x) => x.aNext))} | \`${JSON.stringify(last?.readyAfterCrash)}\` | ` +
        `\`${JSON.stringify(r.readyAtEnd)}\` |`,
    );
  }
  for (const r of results) {
    const refused = merge(r.rounds.map((x) => x.b.refused));
    if (total(refused) > 0)
      lines.push(
        `- ${r.isolation}: B refused with ${Object.entries(refused)
          .map(([k, n]) => `${k} ×${n}`)
          .join("; ")}`,
      );
    lines.push(`- ${r.isolation}: A's crash calls: ${outcomes(r.rounds.map((x) => x.crash))}`);
  }
  return lines.join("\n");
}

function buildOf(): string {
  try {
    return execFileSync("git", ["-C", opts["build-dir"], "log", "-1", "--format=%h"], {
      encoding: "utf8",
    }).trim();
  } catch {
    return opts["build-dir"];
  }
}

const results: ModeResult[] = [];
for (const isolation of opts.isolation.split(",").map((s) => s.trim())) {
  results.push(await runMode(isolation));
}
console.log(table(results));

const dir = join(ROOT, "bench", "results");
mkdirSync(dir, { recursive: true });
const file = join(dir, `blast-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
const settings = { ...opts };
writeFileSync(
  file,
  JSON.stringify({ date: new Date().toISOString(), build: buildOf(), settings, results }, null, 2),
);
console.error(`blast: wrote ${file}`);
