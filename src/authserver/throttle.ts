import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import { makeLimiter, type SourceGuard } from "../ops/source-limits.js";
import type { RedisState } from "../state/redis.js";
import { requestSource } from "../transports/source.js";

/** Failed sign-ins for one user name from one source before it is refused there. */
export const USER_FAILURE_LIMIT = 10;
const USER_FAILURE_WINDOW_S = 15 * 60;

export interface SignInRefusal {
  /** `sign_in`: the source's attempts, whatever the user names; `user`: this user's failures there. */
  readonly why: "sign_in" | "user";
  readonly retryAfterS: number;
}

/**
 * What a sign-in must pass before its password is checked (scrypt is the costliest thing an
 * unauthenticated caller can make the gateway do):
 * - the source's budget of attempts, any user name (`gateway.source_limits.sign_in`), so random
 *   user names buy no extra guesses and no extra scrypt work;
 * - failures for one user name from one source (10 per 15 minutes), which bounds online guessing
 *   of one account; keyed by source too, so nobody can lock a user out from elsewhere.
 * Counters are rate-limiter-flexible's, in memory or Redis (shared by instances); keys are hashes,
 * so no user name reaches Redis.
 */
export class SignInThrottle {
  private readonly failures: RateLimiterAbstract;

  constructor(
    private readonly sources: SourceGuard,
    redis: RedisState | undefined,
  ) {
    this.failures = makeLimiter(
      "signin:user",
      { points: USER_FAILURE_LIMIT, durationS: USER_FAILURE_WINDOW_S, text: "10/15m" },
      redis,
    );
  }

  /** Counts the attempt; the refusal when it may not go on to the password check. */
  async refusal(req: IncomingMessage, username: string): Promise<SignInRefusal | undefined> {
    // A locked-out user is told so (and costs the source nothing more); the rest spend its budget.
    let res: RateLimiterRes | null;
    try {
      res = await this.failures.get(userKey(req, username));
    } catch {
      return { why: "user", retryAfterS: 1 }; // the counters failed: refuse (fail closed)
    }
    if (res && res.consumedPoints >= USER_FAILURE_LIMIT) {
      return { why: "user", retryAfterS: Math.max(1, Math.ceil(res.msBeforeNext / 1000)) };
    }
    const source = await this.sources.check("sign_in", req);
    if (source) return { why: "sign_in", retryAfterS: source.retryAfterS };
    return undefined;
  }

  async failed(req: IncomingMessage, username: string): Promise<void> {
    await this.failures.penalty(userKey(req, username)).catch(() => undefined);
  }

  async succeeded(req: IncomingMessage, username: string): Promise<void> {
    await this.failures.delete(userKey(req, username)).catch(() => undefined);
  }
}

function userKey(req: IncomingMessage, username: string): string {
  return createHash("sha256")
    .update(`${username.toLowerCase()}\n${requestSource(req)}`)
    .digest("base64url")
    .slice(0, 22);
}
