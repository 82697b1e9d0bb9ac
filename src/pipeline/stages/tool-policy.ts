import type { ToolMapping } from "../../policy/tool-mapping.js";
import type { Interceptor } from "../compose.js";
import type { CallContext, Outcome } from "../context.js";

/**
 * Tool mapping: a call to a tool the caller may not use is refused before it is forwarded, and
 * `tools/list` is filtered by the same decision, so a caller never sees what it cannot call.
 */
export function toolPolicy(mapping: ToolMapping): Interceptor<CallContext, Outcome> {
  return async function enforceToolMapping(ctx, next) {
    const plan = ctx.plan;
    if (ctx.method === "tools/call" && plan.kind === "call") {
      mapping.check(plan.server, plan.name ?? "", ctx.principal);
      return next();
    }
    const outcome = await next();
    if (outcome.kind === "list" && outcome.key === "tools") {
      outcome.items = outcome.items.filter(
        ({ server, item }) =>
          typeof item.name === "string" && mapping.decide(server, item.name, ctx.principal).allowed,
      );
    }
    return outcome;
  };
}
