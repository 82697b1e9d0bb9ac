import type { AccessPolicy } from "../../policy/access.js";
import type { Interceptor } from "../compose.js";
import type { CallContext, Outcome } from "../context.js";
import { filterListed } from "../listed.js";

/**
 * Scopes: a call to a tool, prompt or resource the caller may not use is refused before it is
 * forwarded (HTTP 403 step-up when only scopes are missing), and lists are filtered by the same
 * decision on the way back, so a caller never sees what it cannot use.
 */
export function authorize(policy: AccessPolicy): Interceptor<CallContext, Outcome> {
  return async function authorizeCall(ctx, next) {
    const plan = ctx.plan;
    if (plan.kind === "call") {
      policy.check(plan.item, plan.server, plan.name, ctx.principal);
      return next();
    }
    const outcome = await next();
    if (outcome.kind === "list")
      filterListed(outcome, (kind, server, name) => policy.decide(kind, server, name, ctx.principal).allowed);
    return outcome;
  };
}
