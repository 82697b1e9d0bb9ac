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
  // Not async: a call is checked and handed on as it is (no promise of its own per call); a
  // refusal thrown here is the chain's rejection (compose.ts).
  return function authorizeCall(ctx, next) {
    const plan = ctx.plan;
    if (plan.kind === "call") {
      policy.check(plan.item, plan.server, plan.name, ctx.principal);
      return next();
    }
    return next().then((outcome) => {
      if (outcome.kind === "list")
        filterListed(
          outcome,
          (kind, server, name) => policy.decide(kind, server, name, ctx.principal).allowed,
        );
      return outcome;
    });
  };
}
