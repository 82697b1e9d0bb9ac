import type { AccessPolicy } from "../policy/access.js";
import { compose, type Interceptor } from "./compose.js";
import type { CallContext, Outcome } from "./context.js";
import { observe } from "./stages/observe.js";
import { authorize } from "./stages/authorize.js";
import { guardArguments } from "./stages/guard-arguments.js";
import type { ArgumentPolicy } from "../policy/argument-policy.js";

export interface PipelineParts {
  readonly access: AccessPolicy;
  readonly arguments: ArgumentPolicy;
}

/** The terminal step: the session carries the plan out on its upstream connections. */
const forward = (ctx: CallContext): Promise<Outcome> => ctx.session.forward(ctx);

/**
 * The one ordered list of interceptors every client request passes. Authentication runs in the
 * transport, before the chain: a 401 must precede session lookup, and the principal is fixed per
 * request. Each later issue inserts its stage here, at the place the comment names.
 */
export function buildPipeline(parts: PipelineParts): (ctx: CallContext) => Promise<Outcome> {
  const stages: Interceptor<CallContext, Outcome>[] = [
    // First, so every outcome (including a refusal by any later stage) is logged with its duration.
    observe(),
    // (kill switch, then rate limit: before any policy work, so a killed or flooding caller costs little)
    // Authorization: before anything reaches an upstream; also filters list results on the way back.
    authorize(parts.access),
    // After scopes: a caller without the tool's scopes learns nothing about which arguments pass.
    // May fetch the tool's schema from its server, so it runs only for authorized calls.
    guardArguments(parts.arguments),
    // (supply-chain checks, then result protection and audit wrap `forward`)
  ];
  return compose(stages, forward);
}
