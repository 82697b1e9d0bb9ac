import { policyDenied } from "../../errors.js";
import type { Logger } from "../../log.js";
import { forwardedMeta } from "../../gateway/virtual/arguments.js";
import { exactArguments, forwardedArguments, present, refuseTaken } from "../../gateway/virtual/present.js";
import type { JsonObject } from "../../jsonrpc.js";
import type { Interceptor } from "../compose.js";
import type { CallContext, Outcome } from "../context.js";

/** `tools/call` params of the protocol (both eras), never read as a tool's arguments. */
const PROTOCOL_PARAMS = new Set(["name", "arguments", "task", "inputResponses", "requestState"]);

/**
 * A virtual server's argument overrides (docs/virtual-servers.md): a caller who sets a fixed or a
 * hidden argument is refused; defaults fill what it left out and fixed values are injected, so the
 * stages after this one (argument guards, protect) and the upstream see the arguments as forwarded.
 * A tool its entry does not fit (a fixed argument the schema lacks) is refused, never forwarded
 * without the value the operator meant to fix. A curated tool's arguments are exactly its shown
 * schema's when its entry fixes or hides anything (an unknown key is refused), and of the caller's
 * `_meta` only the protocol's own keys go on. Calls on other routes pass untouched.
 */
export function curate(log: Logger, enabled: boolean): Interceptor<CallContext, Outcome> {
  // Without virtual servers the stage is a pass-through, chosen once.
  if (!enabled) return (_ctx, next) => next();
  return async function curateArguments(ctx, next) {
    const plan = ctx.plan;
    if (plan.kind !== "call" || !plan.virtual) return next();
    const b = plan.virtual.binding;
    const def = await ctx.catalog.definition(b.server, "tool", b.tool);
    let schema: JsonObject | undefined;
    if (def) {
      const shown = present(b, def);
      if ("problem" in shown) {
        log.warn(
          { virtual_server: plan.virtual.server, tool: b.exposed, problem: shown.problem },
          "virtual tool not served",
        );
        throw policyDenied("virtual_tool_invalid", `tool ${b.exposed.slice(0, 200)} is not available`);
      }
      schema = shown.item.inputSchema as JsonObject;
    }
    const exact = exactArguments(b, def);
    // Exact arguments need the schema: a tool its server does not list is not served curated.
    if (exact && !schema)
      throw policyDenied("virtual_tool_invalid", `tool ${b.exposed.slice(0, 200)} is not available`);
    const { _meta: meta, ...rest } = plan.params ?? {};
    // A fixed or hidden argument's look-alike beside the arguments (params.database) is refused
    // too; the protocol's own params keep their meaning whatever an entry fixes.
    for (const key of Object.keys(rest)) if (!PROTOCOL_PARAMS.has(key)) refuseTaken(b, key);
    const params: JsonObject = {
      ...rest,
      arguments: forwardedArguments(b, plan.params?.arguments, exact && schema ? { schema } : undefined),
    };
    const kept = forwardedMeta(meta);
    if (kept) params._meta = kept;
    plan.params = params;
    return next();
  };
}
