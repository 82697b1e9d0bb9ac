// node --import tsx bench/rate-limit.ts [--iterations 20000] [--redis redis://127.0.0.1:6379]
// Microbenchmark of the rate-limit stage in-process: µs per call through the stage (key hashing and
// every counter that applies), with the memory store, and with Redis when --redis is given (there
// wall time is the round trip; CPU µs/call is what the gateway itself spends).
import { parseArgs } from "node:util";
import pino from "pino";
import { tokenPrincipal, type Principal } from "../src/auth/principal.js";
import { parseConfig } from "../src/config/load.js";
import { RateLimits } from "../src/ops/rate-limit.js";
import type { CallContext, Outcome } from "../src/pipeline/context.js";
import { rateLimit } from "../src/pipeline/stages/rate-limit.js";
import { RedisState } from "../src/state/redis.js";

const { values: opts } = parseArgs({
  options: { iterations: { type: "string", default: "20000" }, redis: { type: "string" } },
});
const iterations = Number(opts.iterations);
if (!Number.isInteger(iterations) || iterations < 100)
  throw new Error(`bad --iterations: ${opts.iterations}`);

const log = pino({ level: "silent" });
const LIMITS: Record<string, unknown> = {
  none: undefined,
  caller: "999999999/hour",
  all: { per_caller: "999999999/hour", total: "999999999/hour", tools: { echo: "999999999/hour" } },
  bursty: { per_caller: "1/hour", burst: 1_000_000 },
  refused: "1/hour",
};
const servers = parseConfig(
  JSON.stringify({
    servers: Object.entries(LIMITS).map(([name, r]) => ({ name, command: "node", rate_limit: r })),
  }),
  "/bench/warden.yaml",
  {},
).servers;

const callers: Principal[] = Array.from({ length: 1000 }, (_, i) =>
  tokenPrincipal({ subject: `user-${i}@example.com`, clientId: "agent", scopes: [], method: "bearer" }),
);
const outcome: Outcome = { kind: "result", result: {} };
const next = () => Promise.resolve(outcome);

function context(server: string, principal: Principal): CallContext {
  return {
    method: "tools/call",
    principal,
    log,
    plan: { kind: "call", server, item: "tool", name: "echo", params: undefined },
  } as unknown as CallContext;
}

interface Row {
  store: string;
  case: string;
  "wall µs/call": string;
  "CPU µs/call": string;
  refused: number;
}
const rows: Row[] = [];

async function measure(store: string, limits: RateLimits, server: string, count: number): Promise<void> {
  const stage = rateLimit(limits);
  const ctxs = callers.map((p) => context(server, p));
  let refused = 0;
  const run = async (n: number) => {
    for (let i = 0; i < n; i++) {
      try {
        await stage(ctxs[i % ctxs.length] as CallContext, next);
      } catch {
        refused++;
      }
    }
  };
  await run(Math.min(2000, count));
  refused = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await run(count);
  const wall = Number(process.hrtime.bigint() - t0) / 1000 / count;
  const cpu = process.cpuUsage(cpu0);
  rows.push({
    store,
    case: server,
    "wall µs/call": wall.toFixed(2),
    "CPU µs/call": ((cpu.user + cpu.system) / count).toFixed(2),
    refused,
  });
}

const memory = new RateLimits(servers, undefined, log);
for (const server of Object.keys(LIMITS)) await measure("memory", memory, server, iterations);

if (opts.redis) {
  const redis = new RedisState(opts.redis, `bench_${process.pid}:`, log);
  await redis.ready();
  const shared = new RateLimits(servers, redis, log);
  // Round trips dominate: fewer iterations give the same precision.
  for (const server of Object.keys(LIMITS)) await measure("redis", shared, server, Math.ceil(iterations / 4));
  const keys = await redis.client.keys(`bench_${process.pid}:*`);
  for (let i = 0; i < keys.length; i += 500) await redis.client.del(...keys.slice(i, i + 500));
  await redis.close();
}

console.log(
  `rate-limit stage, ${iterations} calls per memory case, ${callers.length} callers, node ${process.version}`,
);
console.table(rows);
