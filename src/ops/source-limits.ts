import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import {
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  RLWrapperTimeouts,
  type RateLimiterAbstract,
} from "rate-limiter-flexible";
import type { AuditPrincipal } from "../audit/event.js";
import type { Rate, SourceLimitsConfig } from "../config/types.js";
import type { Refusals } from "../gateway/refusals.js";
import type { Logger } from "../log.js";
import type { RedisState } from "../state/redis.js";
import { requestSource } from "../transports/source.js";
import { REDIS_TIMEOUT_MS } from "./rate-limit.js";

/**
 * The `gateway.source_limits` keys: kinds of unauthenticated work counted per source address, and
 * `refused_bodies`, counted per caller (RefusedBodies).
 */
export type SourceLimitName = "failed_auth" | "authorize" | "sign_in" | "register" | "refused_bodies";

export interface SourceRefusal {
  readonly limit: SourceLimitName;
  /** Whole seconds until the source's window ends (at least 1): the Retry-After header. */
  readonly retryAfterS: number;
  /**
   * The source's first refusal in this window (on any instance, with Redis): the one to record in
   * full. Later ones in the window are counted into a summary (FloodRecorder).
   */
  readonly first: boolean;
}

const CONFIG_KEYS: Readonly<Record<SourceLimitName, keyof SourceLimitsConfig>> = {
  failed_auth: "failedAuth",
  authorize: "authorize",
  sign_in: "signIn",
  register: "register",
  refused_bodies: "refusedBodies",
};

/**
 * Per-source budgets for work anyone can make the gateway do without a credential (refused
 * tokens, authorization requests, sign-ins, client registrations): fixed windows of
 * rate-limiter-flexible, in memory or, with `state.redis`, in Redis shared by every instance (with
 * this process's memory as insurance while Redis is slow or down, as for rate limits). Sources are
 * hashed into keys: no address is written to Redis.
 */
export class SourceLimits {
  private readonly limiters = new Map<SourceLimitName, { limiter: RateLimiterAbstract; rate: Rate }>();

  constructor(
    config: SourceLimitsConfig,
    redis: RedisState | undefined,
    private readonly log: Logger,
  ) {
    for (const [name, key] of Object.entries(CONFIG_KEYS) as Array<
      [SourceLimitName, keyof SourceLimitsConfig]
    >) {
      const rate = config[key];
      if (rate) this.limiters.set(name, { limiter: makeLimiter(`src:${name}`, rate, redis), rate });
    }
  }

  /**
   * Counts one `limit` event from `source` (a source address, or for `refused_bodies` a caller);
   * the refusal when it is past its budget. An error of the counters refuses too (fail closed), for
   * one second.
   */
  async take(limit: SourceLimitName, source: string): Promise<SourceRefusal | undefined> {
    const entry = this.limiters.get(limit);
    if (!entry) return undefined;
    try {
      await entry.limiter.consume(keyOf(source));
      return undefined;
    } catch (err) {
      if (err instanceof RateLimiterRes) {
        return {
          limit,
          retryAfterS: Math.max(1, Math.ceil(err.msBeforeNext / 1000)),
          first: err.consumedPoints === entry.rate.points + 1,
        };
      }
      this.log.error({ limit, err: (err as Error).message }, "source limit could not be checked: refused");
      return { limit, retryAfterS: 1, first: true };
    }
  }
}

function keyOf(source: string): string {
  return createHash("sha256").update(source).digest("base64url").slice(0, 22);
}

/** A fixed-window counter of `rate`: in memory, or in Redis with memory as insurance. */
export function makeLimiter(
  keyPrefix: string,
  rate: Rate,
  redis: RedisState | undefined,
): RateLimiterAbstract {
  const memory = new RateLimiterMemory({ keyPrefix, points: rate.points, duration: rate.durationS });
  if (!redis) return memory;
  const shared = new RateLimiterRedis({
    storeClient: redis.client,
    keyPrefix: redis.key(keyPrefix),
    points: rate.points,
    duration: rate.durationS,
    rejectIfRedisNotReady: true,
    insuranceLimiter: memory,
  });
  return new RLWrapperTimeouts({ limiter: shared, timeoutMs: REDIS_TIMEOUT_MS });
}

/** Summaries kept at once; past it, refusals from new sources are summed under one entry. */
const MAX_SUMMARISED_SOURCES = 10_000;
const OTHER_SOURCES = "other";

/**
 * Audit volume of a flood: a source's first refusal in a window is recorded in full (the caller
 * does it: `first`, or `fresh`); the rest are counted here and recorded as one summary per kind
 * and source (or caller) every `intervalMs` (`refused: n`). So a flood costs at most two audit
 * events per source and window, however many requests it sends.
 */
export class FloodRecorder {
  private counts = new Map<string, FloodCount>();
  /** Kinds and keys recorded in full in this interval (`fresh`). */
  private seen = new Set<string>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly summary: (
      kind: string,
      source: string,
      refused: number,
      who: AuditPrincipal | undefined,
    ) => void,
    intervalMs = 60_000,
  ) {
    this.timer = setInterval(() => this.flush(), intervalMs);
    this.timer.unref();
  }

  /** One refusal that is not recorded on its own; `who` is the caller a summary names. */
  count(kind: string, source: string, who?: AuditPrincipal): void {
    let key = `${kind}\n${source}`;
    if (!this.counts.has(key) && this.counts.size >= MAX_SUMMARISED_SOURCES) {
      key = `${kind}\n${OTHER_SOURCES}`;
      source = OTHER_SOURCES;
      who = undefined;
    }
    const entry = this.counts.get(key);
    if (entry) entry.refused++;
    else this.counts.set(key, { kind, source, refused: 1, who });
  }

  /**
   * Whether this refusal is the first of its kind and source in this interval, to be recorded in
   * full; otherwise it is counted into the summary.
   */
  fresh(kind: string, source: string, who?: AuditPrincipal): boolean {
    const key = `${kind}\n${source}`;
    if (!this.seen.has(key) && this.seen.size < MAX_SUMMARISED_SOURCES) {
      this.seen.add(key);
      return true;
    }
    this.count(kind, source, who);
    return false;
  }

  flush(): void {
    const counts = this.counts;
    this.counts = new Map();
    this.seen = new Set();
    for (const { kind, source, refused, who } of counts.values()) this.summary(kind, source, refused, who);
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
  }
}

interface FloodCount {
  readonly kind: string;
  readonly source: string;
  refused: number;
  readonly who: AuditPrincipal | undefined;
}

/** Sources remembered as cut at once; past it, expired cuts and then the oldest are forgotten. */
const MAX_CUT_SOURCES = 10_000;
/** A source past one of its budgets, as audited: no JSON-RPC code (the answer is HTTP's or OAuth's). */
const SOURCE_RATE_LIMITED = { reason: "source_rate_limited" } as const;

/**
 * The per-source check as the HTTP handlers use it: counts one event from the request's source
 * and, past the budget, records the refusal (the first of a window in full, with a warning; the
 * rest in the FloodRecorder's summaries) and returns it for the handler to answer 429. One guard
 * serves the whole gateway (MCP routes, admin API, embedded issuer): one budget per source.
 *
 * A source this instance refused stays cut here until its window ends: its later requests are
 * refused from a map, without reading the counters again (no Redis round trip), and `cut` lets a
 * handler refuse before it does the work a request would cost (a token's verification).
 */
export class SourceGuard {
  private readonly recorder: FloodRecorder;
  /** `limit` and source → when the source's window ends (ms since the epoch). */
  private readonly cuts = new Map<string, number>();

  constructor(
    private readonly limits: SourceLimits,
    /** Where refusals are counted (`warden_denials_total`), logged and audited. */
    private readonly refusals: Refusals,
  ) {
    this.recorder = new FloodRecorder(
      (limit, source, refused) =>
        void this.refusals.summarise(SOURCE_RATE_LIMITED, refused, { detail: { limit, source } }),
    );
  }

  async check(
    limit: SourceLimitName,
    req: IncomingMessage,
    detail: Readonly<Record<string, unknown>> = {},
  ): Promise<SourceRefusal | undefined> {
    const source = requestSource(req);
    const refusal = this.remembered(limit, source) ?? (await this.limits.take(limit, source));
    if (!refusal) return undefined;
    this.remember(limit, source, refusal);
    if (!refusal.first) {
      this.refusals.count(SOURCE_RATE_LIMITED.reason);
      this.recorder.count(limit, source);
      return refusal;
    }
    await this.refusals
      .record(SOURCE_RATE_LIMITED, {
        detail: { limit, source, ...detail, retry_after_s: refusal.retryAfterS },
        log: { level: "warn", msg: "source over its limit: refused until the window ends" },
      })
      .catch(() => undefined); // refused either way; the audit log reports its own failures
    return refusal;
  }

  /**
   * The refusal when `req`'s source is cut for `limit` on this instance (refused, its window not
   * over), counted and summarised like any other; nothing is counted against the budget. Unless
   * `exempt()`, asked only of a cut source. Costs nothing while no source is cut.
   */
  cut(limit: SourceLimitName, req: IncomingMessage, exempt?: () => boolean): SourceRefusal | undefined {
    if (this.cuts.size === 0) return undefined;
    const source = requestSource(req);
    const refusal = this.remembered(limit, source);
    if (!refusal || exempt?.()) return undefined;
    this.refusals.count(SOURCE_RATE_LIMITED.reason);
    this.recorder.count(limit, source);
    return refusal;
  }

  close(): void {
    this.recorder.close();
  }

  private remembered(limit: SourceLimitName, source: string): SourceRefusal | undefined {
    const key = `${limit}\n${source}`;
    const until = this.cuts.get(key);
    if (until === undefined) return undefined;
    const left = until - Date.now();
    if (left > 0) return { limit, retryAfterS: Math.max(1, Math.ceil(left / 1000)), first: false };
    this.cuts.delete(key);
    return undefined;
  }

  private remember(limit: SourceLimitName, source: string, refusal: SourceRefusal): void {
    const key = `${limit}\n${source}`;
    if (this.cuts.has(key)) return;
    if (this.cuts.size >= MAX_CUT_SOURCES) {
      const now = Date.now();
      for (const [other, until] of this.cuts) if (until <= now) this.cuts.delete(other);
      if (this.cuts.size >= MAX_CUT_SOURCES) this.cuts.delete(this.cuts.keys().next().value as string);
    }
    this.cuts.set(key, Date.now() + refusal.retryAfterS * 1000);
  }
}
