import type { DefinitionGuard } from "../../supply/definition-guard.js";
import { quarantinedError } from "../../supply/definition-guard.js";
import type { DefinitionKind } from "../../supply/poisoning.js";
import type { Interceptor } from "../compose.js";
import type { CallContext, ListOutcome, Outcome } from "../context.js";
import { present } from "../../gateway/virtual/present.js";
import type { ToolBinding } from "../../gateway/virtual/server.js";
import type { JsonObject } from "../../jsonrpc.js";
import type { Verdict } from "../../supply/definition-guard.js";

/** A virtual tool: judged on the upstream's definition and on what its callers are shown instead. */
async function reviewShown(
  guard: DefinitionGuard,
  server: string,
  def: JsonObject,
  binding: ToolBinding,
): Promise<Verdict> {
  const shown = present(binding, def);
  // An entry that does not fit its tool is not served (stages/curate.ts says why); the upstream's
  // definition is still reviewed.
  if ("problem" in shown) return guard.review(server, "tool", def);
  return guard.reviewShown(server, def, shown.item);
}

const LISTED: Readonly<Partial<Record<ListOutcome["key"], DefinitionKind>>> = {
  tools: "tool",
  prompts: "prompt",
  resourceTemplates: "resourceTemplate",
};

/**
 * Supply-chain checks: a tool or prompt whose definition is held (changed since pinned, under
 * `enforce`) or poisoned (under `block`) is refused with -32004 before it is forwarded, and lists
 * leave such items out. A call to an item this session has not listed is judged on the server's
 * current list (fetched once), or on the stored pin when the server does not list it.
 */
export function supplyChain(guard: DefinitionGuard): Interceptor<CallContext, Outcome> {
  // With pinning and the scan both off the stage is a pass-through, chosen once.
  if (!guard.enabled) return (_ctx, next) => next();
  const check = supplyChainCheck(guard);
  // Not async for the common call: an item this caller has listed, judged servable before, is
  // handed on as it is (no promise of its own); anything else takes the whole check below.
  return function supplyChainFast(ctx, next) {
    const plan = ctx.plan;
    if (plan.kind === "call" && plan.item !== "resource" && !plan.virtual) {
      const listed = ctx.catalog.listed?.(plan.server, plan.item);
      if (listed) {
        const def = listed.get(plan.name);
        const verdict = def ? guard.reviewedNow(plan.server, plan.item, def) : undefined;
        if (verdict?.serve) return next();
      }
    }
    return check(ctx, next);
  };
}

function supplyChainCheck(guard: DefinitionGuard): Interceptor<CallContext, Outcome> {
  return async function supplyChainCheck(ctx, next) {
    const plan = ctx.plan;
    if (plan.kind === "call") {
      if (plan.item === "resource") {
        // A read is governed by the templates its URI matches: a held or poisoned one refuses it.
        for (const template of await ctx.catalog.resourceTemplatesFor(plan.server, plan.name)) {
          const verdict = await guard.review(plan.server, "resourceTemplate", template);
          if (!verdict.serve) {
            throw quarantinedError("resourceTemplate", String(template.uriTemplate), verdict.why);
          }
        }
        return next();
      }
      const def = await ctx.catalog.definition(plan.server, plan.item, plan.name);
      const verdict = !def
        ? guard.stored(plan.server, plan.item, plan.name)
        : plan.virtual
          ? await reviewShown(guard, plan.server, def, plan.virtual.binding)
          : await guard.review(plan.server, plan.item, def);
      if (!verdict.serve) throw quarantinedError(plan.item, plan.name, verdict.why);
      return next();
    }
    const outcome = await next();
    const kind = outcome.kind === "list" ? LISTED[outcome.key] : undefined;
    if (outcome.kind === "list" && kind) {
      // A virtual route's list: every listed tool is pinned and scanned, shown or not.
      if (outcome.listed)
        for (const { server, item } of outcome.listed) await guard.review(server, kind, item);
      const verdicts = await Promise.all(
        outcome.items.map(({ server, item, binding }) =>
          binding ? reviewShown(guard, server, item, binding) : guard.review(server, kind, item),
        ),
      );
      guard.listed(kind, new Set((outcome.listed ?? outcome.items).map((i) => i.server)));
      outcome.items = outcome.items.filter((_, i) => verdicts[i]?.serve === true);
    }
    return outcome;
  };
}
