import type { ArgumentPolicy } from "../../policy/argument-policy.js";
import type { ArgumentDecision } from "../../policy/arguments.js";
import { policyDenied } from "../../errors.js";
import type { Interceptor } from "../compose.js";
import type { CallContext, Outcome } from "../context.js";

/**
 * Argument guards: every path, URL and command argument of a tool call (and of a prompt), and a
 * `file:` resource URI, checked against the server's guards before the call is forwarded.
 */
export function guardArguments(policy: ArgumentPolicy): Interceptor<CallContext, Outcome> {
  return async function guardCallArguments(ctx, next) {
    const plan = ctx.plan;
    if (plan.kind !== "call") return next();
    let decision: ArgumentDecision;
    if (plan.item === "resource") {
      // A completion's URI is a template, not a resource: only reads and subscriptions name files.
      if (ctx.method === "completion/complete") return next();
      decision = await policy.checkUri(plan.server, plan.name);
    } else {
      const schema = plan.item === "tool" ? await ctx.catalog.inputSchema(plan.server, plan.name) : undefined;
      decision = await policy.check(plan.server, plan.name, schema, plan.params?.arguments ?? {});
    }
    if (!decision.allowed) {
      throw policyDenied(
        decision.reason,
        `argument ${decision.pointer || "(arguments)"} refused: ${decision.detail}`,
        {
          argument: decision.pointer,
        },
      );
    }
    return next();
  };
}
