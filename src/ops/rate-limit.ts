import { createHash } from "node:crypto";
import {
  BurstyRateLimiter,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  RLWrapperTimeouts,
  type RateLimiterAbstract,
} from "rate-limiter-flexible";
import { callerId, type Principal } from "../auth/principal.js";
import type { Rate, RateLimitConfig, ServerConfig } from "../config/types.js";
import type { Logger } from "../log.js";
import type { RedisState } from "../state/redis.js";

/** Which of a server's limits refused a call (`data.limit` of the refusal). */
export type LimitName = "per_caller" | "tool" | "total";

export interface RateLimitRefusal {
  readonly limit: LimitName;
  /** When the refusing counter's window ends (at least 1). */
  readonly retryAfterMs: number;
}

/** The reserve `burst: n` adds refills once per this many windows of the rate it extends. */
export const BURST_REFILL_WINDOWS = 10;
/** A Redis answer slower than this counts as an outage: the call is counted by this instance alone. */
export const REDIS_TIMEOUT_MS = 500;
/** The key of a server's `total` counter: every caller together. */
const EVERY_CALLER = "all";
/** Tool names that go into keys as written; any other name goes in as its hash. */
const PLAIN_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

type MakeLimiter = (keyPrefix: string, rate: Rate) => RateLimiterAbstract;
type Taken = { allowed: true; fromReserve: boolean } | { allowed: false; retryAfterMs: number };

/**
 * One limit: a fixed-window counter per key, and with a burst, a reserve of `burst` calls drawn on
 * only once the window is used up (rate-limiter-flexible's BurstyRateLimiter).
 */
class Limit {
  private readonly limiter: RateLimiterAbstract | BurstyRateLimiter;

  constructor(
    readonly name: LimitName,
    private readonly rate: Rate,
    private readonly window: RateLimiterAbstract,
    private readonly reserve: RateLimiterAbstract | undefined,
  ) {
    this.limiter = reserve ? new BurstyRateLimiter(window, reserve) : window;
  }

  async take(key: string): Promise<Taken> {
    try {
      const res = await this.limiter.consume(key);
      // A call the window refused and the reserve allowed comes back with the window's count.
      return { allowed: true, fromReserve: res.consumedPoints > this.rate.points };
    } catch (err) {
      if (err instanceof RateLimiterRes) {
        return { allowed: false, retryAfterMs: Math.max(1, Math.ceil(err.msBeforeNext)) };
      }
      throw err;
    }
  }

  /** Undoes `take`: the window's count (it counted the call even when the reserve paid). */
  async giveBack(key: string, fromReserve: boolean): Promise<void> {
    await this.window.reward(key);
    if (fromReserve) await this.reserve?.reward(key);
  }
}

interface ServerLimits {
  readonly perCaller: Limit | undefined;
  readonly total: Limit | undefined;
  /** By the tool's or prompt's name on the server. */
  readonly tools: ReadonlyMap<string, Limit>;
}

/**
 * Every server's rate limits, built once at start-up: counters in this process's memory, or with
 * `state.redis` in Redis so that every instance counts against the same budget. See the "Rate
 * limits" section of docs/operations.md for what each limit, `burst` and an outage mean.
 */
export class RateLimits {
  private readonly servers: ReadonlyMap<string, ServerLimits>;

  constructor(servers: readonly ServerConfig[], redis: RedisState | undefined, log: Logger) {
    const make = redis ? redisLimiter(redis) : memoryLimiter;
    const built = new Map<string, ServerLimits>();
    for (const server of servers) {
      const config = server.rateLimit;
      if (!config || !hasLimits(config)) continue;
      if (config.burst > 0 && !config.perCaller && config.tools.size === 0) {
        log.warn({ server: server.name }, "rate_limit.burst has no per-caller rate to extend; ignored");
      }
      const base = `rl:${server.name}`;
      const perCaller = (name: LimitName, prefix: string, rate: Rate) =>
        new Limit(
          name,
          rate,
          make(prefix, rate),
          config.burst > 0 ? make(`${prefix}:burst`, reserveRate(rate, config.burst)) : undefined,
        );
      built.set(server.name, {
        perCaller: config.perCaller && perCaller("per_caller", `${base}:caller`, config.perCaller),
        total:
          config.total && new Limit("total", config.total, make(`${base}:total`, config.total), undefined),
        tools: new Map(
          [...config.tools].map(([tool, rate]) => [
            tool,
            perCaller("tool", `${base}:${toolKey(tool)}`, rate),
          ]),
        ),
      });
    }
    this.servers = built;
    if (built.size > 0) {
      log.info({ servers: [...built.keys()], store: redis ? "redis" : "memory" }, "rate limits");
    }
  }

  /** False when no server has a limit: the stage then costs nothing. */
  get enabled(): boolean {
    return this.servers.size > 0;
  }

  /**
   * Counts one call by `principal` on `server` (to `tool`, a tool or prompt name, when the call
   * names one) against every limit that applies, and returns the refusal if any limit is spent.
   * A refused call is given back to the limits that allowed it, so it costs only the refusing one.
   */
  async consume(
    server: string,
    principal: Principal,
    tool: string | undefined,
  ): Promise<RateLimitRefusal | undefined> {
    const limits = this.servers.get(server);
    if (!limits) return undefined;
    const toolLimit = tool === undefined ? undefined : limits.tools.get(tool);
    const caller = limits.perCaller || toolLimit ? callerKey(principal) : "";
    const applied: Array<[Limit, string]> = [];
    if (limits.perCaller) applied.push([limits.perCaller, caller]);
    if (toolLimit) applied.push([toolLimit, caller]);
    if (limits.total) applied.push([limits.total, EVERY_CALLER]);
    if (applied.length === 0) return undefined;
    // In parallel: with Redis, one round trip however many limits apply.
    const taken = await Promise.all(applied.map(([limit, key]) => limit.take(key)));
    let refusal: RateLimitRefusal | undefined;
    taken.forEach((t, i) => {
      if (!t.allowed && (!refusal || t.retryAfterMs > refusal.retryAfterMs)) {
        refusal = { limit: (applied[i] as [Limit, string])[0].name, retryAfterMs: t.retryAfterMs };
      }
    });
    if (refusal) {
      await Promise.allSettled(
        taken.map((t, i) => {
          const [limit, key] = applied[i] as [Limit, string];
          return t.allowed ? limit.giveBack(key, t.fromReserve) : Promise.resolve();
        }),
      );
    }
    return refusal;
  }
}

/**
 * The bucket a caller's calls count in: the user (`callerId`: the token's subject, whatever client or
 * credential kind it comes through, so three clients of one user share one budget), or for an
 * anonymous caller its source address. Hashed so that keys are bounded and no subject (often an
 * e-mail address) or address is written to Redis.
 */
export function callerKey(principal: Principal): string {
  // A session keeps one principal object: hashed once per session, not once per call.
  let key = callerKeys.get(principal);
  if (key === undefined) {
    key = createHash("sha256").update(callerId(principal)).digest("base64url").slice(0, 22);
    callerKeys.set(principal, key);
  }
  return key;
}

const callerKeys = new WeakMap<Principal, string>();

/** The part of a per-tool limit's key that names the tool: readable when it is safe, else a hash. */
export function toolKey(tool: string): string {
  if (PLAIN_NAME.test(tool)) return `tool=${tool}`;
  return `tool#${createHash("sha256").update(tool).digest("base64url").slice(0, 22)}`;
}

/** `burst` calls, refilled once per BURST_REFILL_WINDOWS windows of `rate`. */
export function reserveRate(rate: Rate, burst: number): Rate {
  const durationS = rate.durationS * BURST_REFILL_WINDOWS;
  return Object.freeze({ points: burst, durationS, text: `${burst}/${durationS}s` });
}

function hasLimits(config: RateLimitConfig): boolean {
  return config.perCaller !== undefined || config.total !== undefined || config.tools.size > 0;
}

const memoryLimiter: MakeLimiter = (keyPrefix, rate) =>
  new RateLimiterMemory({ keyPrefix, points: rate.points, duration: rate.durationS });

/**
 * Counters in Redis, with this process's memory as insurance: while Redis is down, or slower than
 * REDIS_TIMEOUT_MS, each instance keeps enforcing every limit on its own (fail closed per instance,
 * rather than refusing every call because Redis blinked).
 */
function redisLimiter(redis: RedisState): MakeLimiter {
  return (keyPrefix, rate) => {
    const shared = new RateLimiterRedis({
      storeClient: redis.client,
      keyPrefix: redis.key(keyPrefix),
      points: rate.points,
      duration: rate.durationS,
      // Not connected: straight to the insurance, without waiting for the command to fail.
      rejectIfRedisNotReady: true,
      insuranceLimiter: memoryLimiter(keyPrefix, rate),
    });
    // The wrapper takes over the insurance limiter, for answers that do not come in time.
    return new RLWrapperTimeouts({ limiter: shared, timeoutMs: REDIS_TIMEOUT_MS });
  };
}
