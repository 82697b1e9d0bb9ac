// Drives echo calls through a target and measures latency, throughput and CPU per call.
import { cpuUs, descendants, rssMiB } from "./proc.js";
import type { Session, Target } from "./targets.js";

export interface Mode {
  /** Short key used in tables and JSON. */
  readonly key: string;
  readonly label: string;
  readonly sessions: number;
  /** Callers in flight at once, spread round-robin over the sessions. */
  readonly callers: number;
}

export const MODES: readonly Mode[] = [
  { key: "c1", label: "c=1", sessions: 1, callers: 1 },
  { key: "c16x1", label: "c=16, 1 session", sessions: 1, callers: 16 },
  // Issue 15's measure: 8 sessions, one call in flight each.
  { key: "c8x8", label: "c=8, 8 sessions", sessions: 8, callers: 8 },
  { key: "c16x16", label: "c=16, 16 sessions", sessions: 16, callers: 16 },
];

/** Plain prose: what the gateway's detectors see in a real result costs them what prose costs. */
const PROSE = "The quick brown fox jumps over the lazy dog while the committee reviews the report. ";

/**
 * An echo message of exactly `bytes` ASCII bytes (at least the prefix): the caller and the call's
 * number first, so every message differs, padded with prose (a run of one letter would be a
 * base64 candidate to every encoded-text check, which real text is not).
 */
export function echoMessage(prefix: string, bytes: number): string {
  if (prefix.length >= bytes) return prefix;
  const pad = bytes - prefix.length - 1;
  return `${prefix} ${PROSE.repeat(Math.ceil(pad / PROSE.length)).slice(0, pad)}`;
}

export interface PhaseResult {
  target: string;
  mode: string;
  calls: number;
  wallMs: number;
  callsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU µs per call of the bridge process (all its threads); null for the direct client. */
  bridgeCpuUsPerCall: number | null;
  /** CPU µs per call of the upstream server process(es) behind the target. */
  upstreamCpuUsPerCall: number;
  /** CPU µs per call of this (client) process. */
  clientCpuUsPerCall: number;
  /** Bytes the bridge wrote to stdout/stderr per call (per-request logging shows here). */
  logBytesPerCall: number;
  /** Resident memory at the end of the measured calls, sessions still open. */
  bridgeRssMiB: number | null;
  upstreamRssMiB: number;
  upstreamProcesses: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

/** Runs `calls` echo calls with `callers` concurrent callers; returns each call's latency in ms. */
export async function drive(
  sessions: readonly Session[],
  callers: number,
  calls: number,
  bytes: number,
): Promise<Float64Array> {
  const latencies = new Float64Array(calls);
  let next = 0;
  const caller = async (k: number) => {
    const session = sessions[k % sessions.length] as Session;
    for (let i = next++; i < calls; i = next++) {
      const t0 = performance.now();
      await session.call(echoMessage(`bench ${k} ${i}`, bytes));
      latencies[i] = performance.now() - t0;
    }
  };
  await Promise.all(Array.from({ length: callers }, (_, k) => caller(k)));
  return latencies;
}

interface CpuSnapshot {
  bridge: number;
  upstream: number;
  client: number;
  log: number;
}

function snapshot(target: Target, upstreamPids: readonly number[]): CpuSnapshot {
  const self = process.cpuUsage();
  return {
    bridge: target.bridgePid === undefined ? 0 : cpuUs([target.bridgePid]),
    upstream: cpuUs(upstreamPids),
    client: self.user + self.system,
    log: target.logBytes(),
  };
}

/**
 * One measured phase on fresh sessions: connect (not measured), `warm` calls on those
 * sessions (not measured), then `calls` measured calls between two CPU snapshots.
 * Fresh sessions may mean fresh upstream processes (one per session behind mcp-warden),
 * so the warm-up grows with the number of sessions.
 */
export async function runPhase(
  target: Target,
  mode: Mode,
  warm: number,
  calls: number,
  bytes: number,
): Promise<PhaseResult> {
  const sessions = await Promise.all(Array.from({ length: mode.sessions }, () => target.connect()));
  try {
    await drive(sessions, mode.callers, warm > 0 ? Math.max(warm, 50 * mode.sessions) : 0, bytes);
    // Let trailing work (SSE stream setup, GC of the warm-up) settle before the first snapshot.
    await new Promise((r) => setTimeout(r, 100));
    const upstream = target.upstreamPids();
    const before = snapshot(target, upstream);
    const t0 = performance.now();
    const latencies = await drive(sessions, mode.callers, calls, bytes);
    const wallMs = performance.now() - t0;
    const after = snapshot(target, upstream);
    const bridgeRss = target.bridgePid === undefined ? null : (rssMiB(target.bridgePid) ?? null);
    const upstreamRss = upstream.reduce((sum, p) => sum + (rssMiB(p) ?? 0), 0);
    const missing = target.bridgePid === undefined ? [] : descendants(target.bridgePid);
    if (missing.some((p) => !upstream.includes(p))) {
      throw new Error(`${target.name}: upstream processes changed during a phase (restart?)`);
    }
    latencies.sort();
    return {
      target: target.name,
      mode: mode.key,
      calls,
      wallMs,
      callsPerSec: (calls * 1000) / wallMs,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      bridgeCpuUsPerCall: target.bridgePid === undefined ? null : (after.bridge - before.bridge) / calls,
      upstreamCpuUsPerCall: (after.upstream - before.upstream) / calls,
      clientCpuUsPerCall: (after.client - before.client) / calls,
      logBytesPerCall: (after.log - before.log) / calls,
      bridgeRssMiB: bridgeRss,
      upstreamRssMiB: upstreamRss,
      upstreamProcesses: upstream.length,
    };
  } finally {
    await Promise.all(sessions.map((s) => s.close()));
  }
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}
