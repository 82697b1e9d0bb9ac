import type { AccessPolicy } from "../policy/access.js";
import { compose, type Interceptor } from "./compose.js";
import type { CallContext, Outcome } from "./context.js";
import { observe } from "./stages/observe.js";
import { authorize } from "./stages/authorize.js";
import { guardArguments } from "./stages/guard-arguments.js";
import { protect } from "./stages/protect.js";
import type { Protector } from "../protect/protector.js";
import type { ArgumentPolicy } from "../policy/argument-policy.js";

export interface PipelineParts {
  readonly access: AccessPolicy;
  readonly arguments: ArgumentPolicy;
  /** Each server's compiled data protection. */
  readonly protectors: ReadonlyMap<string, Protector>;
  /** Metrics and the request's trace span (src/pipeline/stages/telemetry.ts). */
  readonly telemetry: Interceptor<CallContext, Outcome>;
  /** Records outcomes and refusals durably before the response leaves (src/pipeline/stages/audit.ts). */
  readonly audit: Interceptor<CallContext, Outcome>;
  /** Refuses what a kill covers (src/pipeline/stages/kill-switch.ts). */
  readonly killSwitch: Interceptor<CallContext, Outcome>;
  /** Refuses calls over a server's rate limits (src/pipeline/stages/rate-limit.ts). */
  readonly rateLimit: Interceptor<CallContext, Outcome>;
  /** Policy as code (src/pipeline/stages/cedar.ts); absent without `policy.cedar`: no stage at all. */
  readonly cedar?: Interceptor<CallContext, Outcome> | undefined;
  /** Refuses held or poisoned tool definitions and filters them from lists (src/pipeline/stages/supply-chain.ts). */
  readonly supplyChain: Interceptor<CallContext, Outcome>;
  /** A virtual server's fixed, default and hidden arguments (src/pipeline/stages/curate.ts). */
  readonly curate: Interceptor<CallContext, Outcome>;
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
    // Next, so its span covers the whole chain (the audit event gets its trace id; HTTP upstreams
    // get a traceparent) and it counts every refusal; inside observe, whose log line then carries
    // the trace id.
    parts.telemetry,
    // Outside every deciding stage, so it records each refusal; outside protect, so it sees the
    // result as the client will (redacted) and records it by size and hash only.
    parts.audit,
    // The first brake, before any policy work: a killed caller, server or tool costs little.
    parts.killSwitch,
    // Rate limits: after the kill switch, so a killed caller spends no budget; before authorization,
    // so a flooding caller costs one counter each call and nothing it sends reaches an upstream.
    parts.rateLimit,
    // Authorization: before anything reaches an upstream; also filters list results on the way back.
    authorize(parts.access),
    // A virtual server's argument overrides: after scopes (a caller without the tool learns nothing
    // of what is fixed), before Cedar and the guards, so both judge the arguments as forwarded
    // (fixed values injected) on the underlying tool.
    parts.curate,
    // Cedar: after scopes (a caller without the tool's scopes learns nothing of the policies, and a
    // policy can only narrow what scopes allow: deny overrides), before the guards, which may fetch
    // a schema upstream. On the way back it filters lists by the same policies.
    ...(parts.cedar ? [parts.cedar] : []),
    // After scopes: a caller without the tool's scopes learns nothing about which arguments pass.
    // May fetch the tool's schema from its server, so it runs only for authorized calls.
    guardArguments(parts.arguments),
    // Supply-chain checks: after scopes, so a caller learns nothing of items it may not use; may
    // fetch the server's list to judge a tool this session never listed. On the way back it drops
    // held and poisoned items from lists before authorization filters them.
    parts.supplyChain,
    // Last before forward: it redacts the arguments the upstream will see, after the guards judged
    // them as written, and it is the first to see the result, so nothing before it sees raw data.
    protect(parts.protectors),
  ];
  return compose(stages, forward);
}
