import { ErrorCode, GatewayError } from "../../errors.js";
import type { RateLimitRefusal, RateLimits } from "../../ops/rate-limit.js";
import type { Interceptor } from "../compose.js";
import type { CallContext, Outcome } from "../context.js";

/**
 * Rate limits: each call (tool, prompt, resource, completion) counts once against its server's
 * per-caller and total limits, and a tool call or prompt get against its own per-tool limit; a
 * call over any of them is refused before it reaches an upstream. Lists and pings do not count.
 */
export function rateLimit(limits: RateLimits): Interceptor<CallContext, Outcome> {
  if (!limits.enabled) {
    return function noRateLimits(_ctx, next) {
      return next();
    };
  }
  return async function limitCall(ctx, next) {
    const plan = ctx.plan;
    if (plan.kind !== "call") return next();
    const named = ctx.method === "tools/call" || ctx.method === "prompts/get";
    let refusal: RateLimitRefusal | undefined;
    try {
      refusal = await limits.consume(plan.server, ctx.principal, named ? plan.name : undefined);
    } catch (err) {
      // Fail closed: a call that cannot be counted is not let through.
      ctx.log.error(
        { server: plan.server, err: err instanceof Error ? err.message : String(err) },
        "call refused: its rate limit could not be checked",
      );
      throw new GatewayError(
        ErrorCode.InternalError,
        "rate_limit_unavailable",
        "the call could not be checked against its rate limit and was refused",
      );
    }
    if (refusal) throw rateLimited(refusal);
    return next();
  };
}

export function rateLimited(refusal: RateLimitRefusal): GatewayError {
  return new GatewayError(
    ErrorCode.RateLimited,
    "rate_limited",
    `rate limit reached (${refusal.limit}); retry after ${refusal.retryAfterMs} ms`,
    { retry_after_ms: refusal.retryAfterMs, limit: refusal.limit },
  );
}
