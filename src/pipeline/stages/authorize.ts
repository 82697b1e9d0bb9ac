import type { AccessPolicy, ItemKind } from "../../policy/access.js";
import type { Interceptor } from "../compose.js";
import type { CallContext, ListOutcome, Outcome } from "../context.js";

/** Which field of a listed item is its name for the decision. */
const LISTED: Readonly<Record<ListOutcome["key"], { kind: ItemKind; field: string }>> = {
  tools: { kind: "tool", field: "name" },
  prompts: { kind: "prompt", field: "name" },
  resources: { kind: "resource", field: "uri" },
  resourceTemplates: { kind: "resource", field: "uriTemplate" },
};

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
    if (outcome.kind === "list") {
      const { kind, field } = LISTED[outcome.key];
      outcome.items = outcome.items.filter(({ server, item }) => {
        const name = item[field];
        return typeof name === "string" && policy.decide(kind, server, name, ctx.principal).allowed;
      });
    }
    return outcome;
  };
}
