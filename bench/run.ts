// npm run bench [-- --rounds 3 --calls 2000 --warm 2000 --only direct,mcp-proxy,warden-server,bare
//                   --modes c1,c8x8 --bytes 256 --base-dir /tmp/base]
// Echo calls to server-everything: directly over stdio, through mcp-warden, through mcp-proxy,
// through a relay with no checks (the floor for any bridge).
// All in one run, rounds interleaved; prints a markdown table and writes bench/results/*.json.
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { MODES, median, runPhase, type Mode, type PhaseResult } from "./lib/load.js";
import { CLK_TCK } from "./lib/proc.js";
import {
  bareRelayTarget,
  directTarget,
  mcpProxyTarget,
  ROOT,
  wardenTargets,
  type Target,
} from "./lib/targets.js";

const ALL_TARGETS = [
  "direct",
  "warden-server",
  "warden-aggregate",
  "mcp-proxy",
  "mcp-proxy-noes",
  "bare",
] as const;

const { values: opts } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    calls: { type: "string", default: "2000" },
    warm: { type: "string", default: "2000" },
    "phase-warm": { type: "string", default: "200" },
    only: { type: "string", default: ALL_TARGETS.join(",") },
    modes: { type: "string", default: MODES.map((m) => m.key).join(",") },
    bytes: { type: "string", default: "256" },
    // Another checkout's build (`npx tsc -p tsconfig.build.json` there), measured in the same run as
    // target warden-base-server: a change's before and after under the same load.
    "base-dir": { type: "string" },
    "timeout-min": { type: "string", default: "20" },
  },
});
const rounds = Number(opts.rounds);
const calls = Number(opts.calls);
const warm = Number(opts.warm);
const phaseWarm = Number(opts["phase-warm"]);
const bytes = Number(opts.bytes);
for (const [k, v] of Object.entries({ rounds, calls, warm, phaseWarm, bytes })) {
  if (!Number.isInteger(v) || v < (k === "rounds" || k === "calls" ? 1 : 0))
    throw new Error(`bad --${k}: ${v}`);
}
const only = new Set(opts.only.split(",").map((s) => s.trim()));
for (const name of only) {
  if (!(ALL_TARGETS as readonly string[]).includes(name)) throw new Error(`unknown target ${name}`);
}
const modeKeys = new Set(opts.modes.split(",").map((s) => s.trim()));
for (const key of modeKeys) {
  if (!MODES.some((m) => m.key === key)) throw new Error(`unknown mode ${key}`);
}

const targets: Target[] = [];
const warnings: string[] = [];

// The SDK's StreamableHTTPClientTransport hands one AbortSignal to every fetch and undici never
// detaches its listener, so long sessions pile up listeners (the same for every HTTP target).
// Say so once instead of printing thousands of warnings.
let listenerWarnings = 0;
process.removeAllListeners("warning");
process.on("warning", (w) => {
  if (w.name === "MaxListenersExceededWarning") {
    if (listenerWarnings++ === 0)
      console.error(`bench: client-side ${w.name} (SDK transport), reported once`);
    return;
  }
  console.error(`${w.name}: ${w.message}`);
});

async function stopAll(): Promise<void> {
  await Promise.allSettled(targets.map((t) => t.stop()));
  const seen = new Set(warnings);
  for (const t of targets) {
    for (const w of "warnings" in t ? (t.warnings as string[]) : []) {
      if (!seen.has(w)) warnings.push(w);
      seen.add(w);
    }
  }
}

// The benchmark stops by itself even if a bridge hangs.
const watchdog = setTimeout(
  () => {
    console.error(`bench: watchdog fired after ${opts["timeout-min"]} min, stopping`);
    void stopAll().finally(() => process.exit(2));
  },
  Number(opts["timeout-min"]) * 60_000,
);
watchdog.unref();

function fmt(n: number | null | undefined, digits = 0): string {
  return n === null || n === undefined || Number.isNaN(n) ? "–" : n.toFixed(digits);
}

function spread(values: number[]): string {
  if (values.length < 2) return "";
  return ` (${fmt(Math.min(...values))}–${fmt(Math.max(...values))})`;
}

const loadAtStart = loadavg();

async function main(): Promise<void> {
  // Start everything first: the bridges then sit idle while others are measured, as in a real host.
  if (only.has("direct")) targets.push(await directTarget());
  if (only.has("warden-server") || only.has("warden-aggregate")) {
    const w = await wardenTargets();
    if (only.has("warden-server")) targets.push(w.server);
    if (only.has("warden-aggregate")) targets.push(w.aggregate);
  }
  if (opts["base-dir"] !== undefined) {
    targets.push((await wardenTargets({ root: opts["base-dir"], name: "warden-base" })).server);
  }
  if (only.has("mcp-proxy")) targets.push(await mcpProxyTarget({ eventStore: true }));
  if (only.has("mcp-proxy-noes")) targets.push(await mcpProxyTarget({ eventStore: false }));
  if (only.has("bare")) targets.push(await bareRelayTarget());
  const measured = targets;

  const modesOf = (t: Target): Mode[] =>
    MODES.filter((m) => modeKeys.has(m.key) && (t.multiSession || m.sessions === 1));
  console.error(`bench: warm-up, ${warm} calls per target`);
  for (const t of measured) {
    await runPhase(t, MODES[0] as Mode, 0, Math.ceil(warm / 2), bytes);
    await runPhase(t, MODES[1] as Mode, 0, Math.floor(warm / 2), bytes);
  }

  const results: PhaseResult[][] = [];
  for (let r = 0; r < rounds; r++) {
    // Rotate the order every round so that no target always runs first or last.
    const order = measured.map((_, i) => measured[(i + r) % measured.length] as Target);
    const round: PhaseResult[] = [];
    for (const t of order) {
      for (const m of modesOf(t)) {
        const res = await runPhase(t, m, phaseWarm, calls, bytes);
        round.push(res);
        console.error(
          `bench: round ${r + 1}/${rounds} ${t.name} ${m.key}: p50 ${fmt(res.p50Ms, 3)} ms, ` +
            `${fmt(res.callsPerSec)} calls/s, bridge ${fmt(res.bridgeCpuUsPerCall)} µs/call`,
        );
      }
    }
    results.push(round);
  }

  await stopAll();

  // Median of each metric over the rounds.
  const all = results.flat();
  const pick = (t: string, m: string) => all.filter((x) => x.target === t && x.mode === m);
  const summary = measured.flatMap((t) =>
    modesOf(t).map((m) => {
      const rs = pick(t.name, m.key);
      const med = (f: (x: PhaseResult) => number | null) => median(rs.map(f).filter((v) => v !== null));
      return {
        target: t.name,
        mode: m.key,
        p50Ms: med((x) => x.p50Ms),
        p99Ms: med((x) => x.p99Ms),
        callsPerSec: med((x) => x.callsPerSec),
        bridgeCpuUsPerCall: t.bridgePid === undefined ? null : med((x) => x.bridgeCpuUsPerCall),
        bridgeCpuRounds: rs.map((x) => x.bridgeCpuUsPerCall).filter((v): v is number => v !== null),
        upstreamCpuUsPerCall: med((x) => x.upstreamCpuUsPerCall),
        clientCpuUsPerCall: med((x) => x.clientCpuUsPerCall),
        logBytesPerCall: med((x) => x.logBytesPerCall),
        bridgeRssMiB: t.bridgePid === undefined ? null : med((x) => x.bridgeRssMiB),
        upstreamRssMiB: med((x) => x.upstreamRssMiB),
        upstreamProcesses: Math.max(...rs.map((x) => x.upstreamProcesses)),
      };
    }),
  );

  const lines: string[] = [];
  lines.push(
    `Echo tools/call to server-everything, ${bytes} B messages; ${rounds} rounds × ${calls} measured calls per cell, medians over rounds ` +
      `(bridge CPU range over rounds in parentheses). ${cpus().length} CPUs, node ${process.version}, ` +
      `load average ${fmt(loadAtStart[0], 1)} at start, ${fmt(loadavg()[0], 1)} at end ` +
      `(above the CPU count, other work is competing and the numbers are noisy).`,
    "",
    "| target | mode | p50 ms | p99 ms | calls/s | bridge CPU µs/call | upstream CPU µs/call | client CPU µs/call | log B/call | bridge RSS MiB | upstreams (RSS MiB) |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  );
  for (const s of summary) {
    const label = MODES.find((m) => m.key === s.mode)?.label ?? s.mode;
    lines.push(
      `| ${s.target} | ${label} | ${fmt(s.p50Ms, 3)} | ${fmt(s.p99Ms, 3)} | ${fmt(s.callsPerSec)} | ` +
        `${fmt(s.bridgeCpuUsPerCall)}${spread(s.bridgeCpuRounds)} | ${fmt(s.upstreamCpuUsPerCall)} | ` +
        `${fmt(s.clientCpuUsPerCall)} | ${fmt(s.logBytesPerCall, 1)} | ${fmt(s.bridgeRssMiB)} | ` +
        `${s.upstreamProcesses} (${fmt(s.upstreamRssMiB)}) |`,
    );
  }

  // The targets of issue 15: gateway CPU per call ≤ 0.5 × mcp-proxy's and ≤ 3 × a relay with no
  // checks, same server, same client, same run.
  const BASELINES = [
    { name: "mcp-proxy", label: "mcp-proxy (defaults)", target: 0.5 },
    { name: "mcp-proxy-noes", label: "mcp-proxy --no-eventStore", target: 0.5 },
    { name: "bare", label: "bare relay (no checks)", target: 3 },
  ];
  const ratios: { gateway: string; vs: string; mode: string; ratio: number; perRound: number[] }[] = [];
  for (const g of ["warden-server", "warden-aggregate", "warden-base-server"]) {
    for (const b of BASELINES) {
      for (const m of MODES) {
        const gs = pick(g, m.key);
        const bs = pick(b.name, m.key);
        if (gs.length === 0 || bs.length === 0) continue;
        const cpu = (xs: PhaseResult[]) => median(xs.map((x) => x.bridgeCpuUsPerCall as number));
        const perRound = gs.map(
          (x, i) => (x.bridgeCpuUsPerCall as number) / (bs[i]?.bridgeCpuUsPerCall as number),
        );
        ratios.push({ gateway: g, vs: b.name, mode: m.key, ratio: cpu(gs) / cpu(bs), perRound });
      }
    }
  }
  if (ratios.length > 0) {
    lines.push(
      "",
      "Gateway CPU per call ÷ the baseline's CPU per call (targets: ≤ 0.50 of mcp-proxy, ≤ 3 of the bare " +
        "relay; per-round ratios in parentheses):",
      "",
      "| gateway route | vs | mode | ratio | target | met |",
      "|---|---|---|---:|---:|---|",
    );
    for (const x of ratios) {
      const label = MODES.find((m) => m.key === x.mode)?.label ?? x.mode;
      const b = BASELINES.find((y) => y.name === x.vs) as (typeof BASELINES)[number];
      lines.push(
        `| ${x.gateway} | ${b.label} | ${label} | ${fmt(x.ratio, 2)} (${x.perRound.map((v) => fmt(v, 2)).join(", ")}) | ` +
          `${fmt(b.target, 2)} | ${x.ratio <= b.target ? "yes" : "**no**"} |`,
      );
    }
  }
  if (listenerWarnings > 0) {
    warnings.push(
      `bench client: ${listenerWarnings} MaxListenersExceededWarning (SDK StreamableHTTPClientTransport shares ` +
        `one AbortSignal across fetches; affects every HTTP target alike)`,
    );
  }
  if (warnings.length > 0) lines.push("", "Warnings:", ...warnings.map((w) => `- ${w}`));
  console.log(lines.join("\n"));

  const dir = join(ROOT, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const report = {
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      loadAtStart,
      loadAtEnd: loadavg(),
      clkTck: CLK_TCK,
    },
    node: process.version,
    settings: {
      rounds,
      calls,
      warm,
      phaseWarm,
      bytes,
      targets: measured.map((t) => [t.name, t.description]),
    },
    modes: MODES,
    summary,
    ratios,
    warnings,
    rounds: results,
  };
  const json = JSON.stringify(report, null, 2);
  writeFileSync(join(dir, `bench-${stamp}.json`), json);
  writeFileSync(join(dir, "latest.json"), json);
  console.error(`bench: wrote bench/results/bench-${stamp}.json`);
}

main().then(
  () => process.exit(0),
  async (err: unknown) => {
    console.error("bench failed:", err);
    await stopAll();
    process.exit(1);
  },
);
