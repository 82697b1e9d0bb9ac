// node --import tsx bench/load.ts [--sessions 8] [--seconds 20] [--rate 600/min]
// A bounded load test on loopback with the whole pipeline on: bearer tokens (one subject per
// session), the kill switch with a rule, a per-caller rate limit, argument guards, redaction,
// injection defence and the SQLite audit log, in front of server-everything (one process per
// session). Each session calls `echo` in a loop for a fixed time. Afterwards it checks that every
// refusal is one the limits explain (rate_limited) and that the audit log holds exactly one event
// per answered call, and that its chain verifies; and it prints the figures.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { join } from "node:path";
import { connectClient } from "../test/helpers/client.js";
import { everythingStdio } from "../test/helpers/configs.js";
import { makeTempDir, runCli, startGateway, writeConfig } from "../test/helpers/gateway.js";
import { freePort } from "../test/helpers/upstreams.js";

export interface LoadOptions {
  sessions: number;
  seconds: number;
  /** Per-caller rate limit on the server, e.g. "600/min". */
  rate: string;
}

export interface LoadResult {
  readonly calls: number;
  readonly ok: number;
  readonly rateLimited: number;
  /** Any other failure: none is expected. */
  readonly errors: Record<string, number>;
  readonly callsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Audit events found for answered calls, and refusals: must equal ok and rateLimited. */
  readonly auditedOk: number;
  readonly auditedRateLimited: number;
  readonly verified: boolean;
  readonly gatewayCpuMs: number;
}

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const dir = makeTempDir("warden-load-");
  const port = await freePort();
  const config = {
    gateway: { listen: `127.0.0.1:${port}`, max_sessions: opts.sessions + 4 },
    state: { sqlite: join(dir, "state.db") },
    auth: { signing_key_file: join(dir, "signing.jwk") },
    kill_switch: { rules: [{ when: "injection", count: 50, within: "1m", kill: "user" }] },
    protect: { redact_arguments: "redact", injection: "annotate" },
    servers: [everythingStdio("everything", { rate_limit: opts.rate })],
  };
  const configFile = writeConfig(config, dir);
  const gw = await startGateway(config);
  try {
    const clients = await Promise.all(
      Array.from({ length: opts.sessions }, async (_, i) => {
        const t = await runCli(["token", "-c", configFile, "--sub", `agent-${i}`, "--scope", "demo:use"]);
        if (t.code !== 0) throw new Error(t.stderr);
        return connectClient(`${gw.url}/mcp`, { headers: { authorization: `Bearer ${t.stdout.trim()}` } });
      }),
    );
    const cpu0 = cpuMs(gw.proc.pid as number);
    const latencies: number[] = [];
    const errors: Record<string, number> = {};
    let ok = 0;
    let rateLimited = 0;
    const started = Date.now();
    const deadline = started + opts.seconds * 1000;
    await Promise.all(
      clients.map(async (c, i) => {
        let n = 0;
        while (Date.now() < deadline) {
          const t0 = performance.now();
          try {
            await c.client.callTool({
              name: "everything__echo",
              arguments: { message: `agent-${i} call ${n++} contact ops@example.com` },
            });
            latencies.push(performance.now() - t0);
            ok++;
          } catch (err) {
            const e = err as { code?: number; data?: { reason?: string } };
            if (e.code === -32002 && e.data?.reason === "rate_limited") rateLimited++;
            else {
              const key = `${e.code ?? "?"}:${e.data?.reason ?? (err as Error).message}`.slice(0, 120);
              errors[key] = (errors[key] ?? 0) + 1;
            }
          }
        }
      }),
    );
    const elapsed = (Date.now() - started) / 1000;
    const gatewayCpuMs = cpuMs(gw.proc.pid as number) - cpu0;
    await Promise.all(clients.map((c) => c.close()));

    const q = await runCli(["audit", "export", "-c", configFile, "--format", "jsonl"], {
      timeoutMs: 120_000,
    });
    const events = q.stdout
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { event: string; status?: string; reason?: string; tool?: string });
    const auditedOk = events.filter(
      (e) => e.event === "tool_call" && e.tool === "echo" && e.status === "ok",
    ).length;
    const auditedRateLimited = events.filter(
      (e) => e.event === "denied" && e.reason === "rate_limited",
    ).length;
    const verify = await runCli(["audit", "verify", "-c", configFile], { timeoutMs: 120_000 });
    latencies.sort((a, b) => a - b);
    const at = (q: number) =>
      latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))] ?? NaN;
    return {
      calls: ok + rateLimited + Object.values(errors).reduce((a, b) => a + b, 0),
      ok,
      rateLimited,
      errors,
      callsPerSecond: ok / elapsed,
      p50Ms: at(0.5),
      p99Ms: at(0.99),
      auditedOk,
      auditedRateLimited,
      verified: verify.code === 0,
      gatewayCpuMs,
    };
  } finally {
    await gw.stop();
  }
}

/** User + system CPU of a process so far, from /proc (Linux). */
function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return NaN;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      sessions: { type: "string", default: "8" },
      seconds: { type: "string", default: "20" },
      rate: { type: "string", default: "600/min" },
    },
  });
  const opts = {
    sessions: Number(values.sessions),
    seconds: Number(values.seconds),
    rate: String(values.rate),
  };
  console.log(`load: ${opts.sessions} sessions × ${opts.seconds} s, rate_limit ${opts.rate} per caller`);
  const r = await runLoad(opts);
  console.log(JSON.stringify(r, null, 2));
  console.log(
    `answered ${r.ok} (${r.callsPerSecond.toFixed(0)}/s, p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms), ` +
      `rate-limited ${r.rateLimited}, other errors ${Object.values(r.errors).reduce((a, b) => a + b, 0)}; ` +
      `audited ${r.auditedOk} + ${r.auditedRateLimited}; chain ${r.verified ? "verifies" : "FAILS"}; ` +
      `gateway CPU ${(r.gatewayCpuMs / Math.max(1, r.calls)).toFixed(2)} ms/call`,
  );
}
