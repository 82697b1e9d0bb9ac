import { policyDenied } from "../../errors.js";
import type { CedarPolicySet } from "../../policy/cedar/policy-set.js";
import type { Interceptor } from "../compose.js";
import type { CallContext, Outcome } from "../context.js";
import { filterListed } from "../listed.js";

/**
 * Policy as code: a call the Cedar policies do not allow is refused (-32001 `cedar_denied`, or
 * `cedar_error` when deciding failed, or `argument_type_mismatch` when an argument contradicts the
 * tool's declared types or the type a policy compares it with) before anything reaches an
 * upstream, and the deciding policy ids go to the audit record. Lists keep an item when some call
 * to it could be allowed (CedarAuthorizer.mayAllow), a virtual tool's fixed arguments known as
 * every call will carry them; the policies written for a listed tool are checked against its
 * input schema once (toolProblems). The set is read per request, so a reload applies to the next
 * call.
 */
export function cedar(policy: CedarPolicySet): Interceptor<CallContext, Outcome> {
  return async function authorizeCedar(ctx, next) {
    const plan = ctx.plan;
    const authorizer = policy.current;
    if (plan.kind === "call") {
      let annotations: unknown;
      if (plan.item === "tool" && authorizer.readsAnnotations) {
        try {
          annotations = (await ctx.catalog.definition(plan.server, "tool", plan.name))?.annotations;
        } catch {
          throw policyDenied("cedar_error", `tool ${plan.name.slice(0, 200)}: its definition cannot be read`);
        }
      }
      // The declared types judge the arguments before Cedar compares them (unknown schema: none;
      // the policies' own comparisons still do).
      const inputSchema =
        plan.item === "tool" ? await ctx.catalog.inputSchema(plan.server, plan.name) : undefined;
      const d = authorizer.decide({
        principal: ctx.principal,
        kind: plan.item,
        server: plan.server,
        name: plan.name,
        args: plan.params?.arguments,
        protocol: ctx.protocolVersion,
        annotations,
        inputSchema,
      });
      ctx.policies = d.policies;
      if (!d.allowed) {
        ctx.log.info({ reason: d.reason, policies: d.policies, detail: d.detail }, "cedar denied");
        const what = `${plan.item} ${plan.name.slice(0, 200)} on ${plan.server}`;
        throw policyDenied(
          d.reason,
          d.reason === "argument_type_mismatch" ? `${what}: ${d.detail}` : `${what} is not allowed by policy`,
          { policies: [...d.policies] },
        );
      }
      return next();
    }
    const outcome = await next();
    if (outcome.kind !== "list") return outcome;
    filterListed(outcome, (kind, server, name, item, binding) => {
      if (kind === "tool") {
        const problems = authorizer.toolProblems(server, name, item.inputSchema);
        if (problems && problems.length > 0)
          ctx.log.warn({ server, tool: name, problems }, "cedar policies do not fit the tool's arguments");
      }
      return authorizer.mayAllow({
        principal: ctx.principal,
        kind,
        server,
        name,
        protocol: ctx.protocolVersion,
        annotations: item.annotations,
        fixed: binding?.entry.fixed,
        // Listed items are the upstream's own, on a virtual route too: its declared types judge
        // the fixed values.
        inputSchema: binding ? item.inputSchema : undefined,
      });
    });
    return outcome;
  };
}
