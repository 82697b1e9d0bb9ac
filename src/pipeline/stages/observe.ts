import { GatewayError, PeerRpcError } from "../../errors.js";
import type { Interceptor } from "../compose.js";
import type { CallContext, Outcome } from "../context.js";

/** Outermost stage: one structured log line per request with its outcome and duration. */
export function observe(): Interceptor<CallContext, Outcome> {
  return async function observeCall(ctx, next) {
    try {
      const outcome = await next();
      // Not built at all below debug: a call that went well is the audit log's to record.
      if (ctx.log.isLevelEnabled("debug"))
        ctx.log.debug({ ...fields(ctx), status: "ok", duration_ms: Date.now() - ctx.startedAt }, "call");
      return outcome;
    } catch (err) {
      const status =
        err instanceof GatewayError ? err.reason : err instanceof PeerRpcError ? "upstream_error" : "error";
      const level = err instanceof GatewayError || err instanceof PeerRpcError ? "info" : "error";
      ctx.log[level](
        {
          ...fields(ctx),
          status,
          err: err instanceof Error ? err.message : String(err),
          duration_ms: Date.now() - ctx.startedAt,
        },
        "call",
      );
      throw err;
    }
  };
}

function fields(ctx: CallContext) {
  const p = ctx.plan;
  return {
    method: ctx.method,
    sub: ctx.principal.subject,
    server: p.kind === "call" ? p.server : undefined,
    name: p.kind === "call" ? p.name : undefined,
    trace_id: ctx.traceId,
  };
}
