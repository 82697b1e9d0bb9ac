import { hash } from "node:crypto";
import { auditEvent, type AuditEvent, type AuditEventType, type AuditPrincipal } from "../../audit/event.js";
import type { AuditLog } from "../../audit/log.js";
import { ErrorCode, GatewayError, PeerRpcError } from "../../errors.js";
import { serialiseResult, type Json } from "../../jsonrpc.js";
import type { Principal } from "../../auth/principal.js";
import type { Protector } from "../../protect/protector.js";
import type { Interceptor } from "../compose.js";
import type { CallContext, Outcome } from "../context.js";

const EVENT_OF: Readonly<Record<string, AuditEventType>> = {
  "tools/call": "tool_call",
  "prompts/get": "prompt_get",
  "resources/read": "resource_read",
};

/** The event type of a method (own keys only: a method may be named like an Object.prototype member). */
function eventOf(method: string): AuditEventType {
  return Object.hasOwn(EVENT_OF, method) ? (EVENT_OF[method] as AuditEventType) : "call";
}

/**
 * Records every call's outcome, and every refusal of any request, before the response is released:
 * the response waits until the events are durable in every sink. A call whose events cannot be
 * written is refused (fail closed). Arguments are recorded redacted; results by size and SHA-256.
 * Lists that succeed are not recorded (they change nothing and are filtered by the same policy).
 */
export function audit(
  log: AuditLog,
  protectors: ReadonlyMap<string, Protector>,
  maxArgsBytes: number,
  /** Per-user upstream OAuth: the connection a call used (its id, never a token), for its event. */
  connectionOf?: (server: string, principal: Principal) => string | undefined,
): Interceptor<CallContext, Outcome> {
  return async function auditCall(ctx, next) {
    // A sink known to be failing refuses the call before it reaches an upstream (awaited only then).
    if (log.failing) {
      try {
        await log.ready();
      } catch {
        throw auditUnavailable();
      }
    }
    let outcome: Outcome | undefined;
    let error: unknown;
    try {
      outcome = await next();
    } catch (err) {
      error = err;
    }
    const events = callEvents(ctx, outcome, error, protectors, maxArgsBytes, connectionOf);
    if (events.length > 0) {
      try {
        // Most calls make one event: awaited as it is, without a Promise.all around it.
        if (events.length === 1) await log.record(events[0] as AuditEvent);
        else await Promise.all(events.map((e) => log.record(e)));
      } catch (err) {
        ctx.log.error(
          {
            method: ctx.method,
            request_id: ctx.request.id,
            err: err instanceof Error ? err.message : String(err),
          },
          "call refused: its audit event could not be written",
        );
        throw auditUnavailable();
      }
    }
    if (error !== undefined) throw error;
    return outcome as Outcome;
  };
}

export function auditUnavailable(): GatewayError {
  return new GatewayError(
    ErrorCode.InternalError,
    "audit_unavailable",
    "the call could not be recorded and was refused",
  );
}

export function principalFields(p: Principal): AuditPrincipal {
  return {
    sub: p.subject,
    ...(p.clientId ? { client_id: p.clientId } : {}),
    auth: p.method,
    ...(p.source !== undefined ? { source: p.source } : {}),
  };
}

/** What every event of one call records, whatever its outcome. */
interface CallFields {
  readonly principal: AuditPrincipal;
  readonly session: string;
  readonly request_id: string | number;
  readonly method: string;
  readonly server: string | undefined;
  readonly tool: string | undefined;
  readonly trace_id: string | undefined;
  /** The MCP version the call was made in (legacy session or 2026-07-28 request). */
  readonly protocol_version: string;
  /** A call through a virtual server: its name and the tool's name there (`tool` is the upstream's). */
  readonly virtual: Readonly<Record<string, string>> | undefined;
}

type Outcomes = Pick<
  AuditEvent,
  "event" | "args" | "status" | "reason" | "detail" | "result_bytes" | "result_sha256"
>;

/**
 * One event of a call, its members in the order they always had (the call's, its timing, its
 * outcome). Written out rather than spread: spreading these objects cost several µs a call.
 */
function callEvent(
  c: CallFields,
  timing: { started_at: string; duration_ms: number } | undefined,
  o: Outcomes,
): AuditEvent {
  return auditEvent({
    principal: c.principal,
    session: c.session,
    request_id: c.request_id,
    method: c.method,
    server: c.server,
    tool: c.tool,
    trace_id: c.trace_id,
    started_at: timing?.started_at,
    duration_ms: timing?.duration_ms,
    event: o.event,
    args: o.args,
    status: o.status,
    reason: o.reason,
    // The call's own event says which protocol it came in; its findings' events need not repeat it.
    detail: timing
      ? c.virtual
        ? { ...o.detail, protocol_version: c.protocol_version, virtual: c.virtual }
        : { ...o.detail, protocol_version: c.protocol_version }
      : o.detail,
    result_bytes: o.result_bytes,
    result_sha256: o.result_sha256,
  });
}

function callEvents(
  ctx: CallContext,
  outcome: Outcome | undefined,
  error: unknown,
  protectors: ReadonlyMap<string, Protector>,
  maxArgsBytes: number,
  connectionOf: ((server: string, principal: Principal) => string | undefined) | undefined,
): AuditEvent[] {
  const plan = ctx.plan;
  const isCall = plan.kind === "call";
  if (!isCall && error === undefined) return [];
  const endedAt = Date.now();
  const args = isCall ? plan.params?.arguments : undefined;
  const protector = isCall ? protectors.get(plan.server) : undefined;
  const base: CallFields = {
    principal: principalFields(ctx.principal),
    session: ctx.sessionId,
    request_id: ctx.request.id,
    method: ctx.method,
    server: isCall ? plan.server : undefined,
    tool: isCall ? plan.name : undefined,
    trace_id: ctx.traceId,
    protocol_version: ctx.protocolVersion,
    virtual:
      isCall && plan.virtual
        ? {
            server: plan.virtual.server,
            tool: plan.virtual.binding.exposed,
            ...(plan.virtual.via ? { via: plan.virtual.via } : {}),
          }
        : undefined,
  };
  const timing = {
    started_at: new Date(ctx.startedAt).toISOString(),
    duration_ms: endedAt - ctx.startedAt,
  };
  const recordedArgs =
    args !== undefined && protector
      ? protector.auditArguments(args as Json, maxArgsBytes, ctx.argumentsClean === true)
      : undefined;
  const events: AuditEvent[] = [];
  if (error instanceof GatewayError) {
    events.push(
      callEvent(base, timing, {
        event: "denied",
        args: recordedArgs,
        status: "denied",
        reason: error.reason,
        // The policies name the decision only when Cedar made it (a later guard may refuse too).
        detail:
          ctx.policies && (error.reason.startsWith("cedar_") || error.reason === "argument_type_mismatch")
            ? { code: error.code, policies: ctx.policies }
            : { code: error.code },
      }),
    );
  } else if (error !== undefined) {
    const cancelled = ctx.signal.aborted;
    events.push(
      callEvent(base, timing, {
        event: eventOf(ctx.method),
        args: recordedArgs,
        status: cancelled ? "cancelled" : "error",
        reason: error instanceof PeerRpcError ? "upstream_error" : cancelled ? "cancelled" : "gateway_error",
        detail: error instanceof PeerRpcError ? { code: error.code } : undefined,
      }),
    );
  } else if (outcome?.kind === "result") {
    // The very text the transport then sends (serialiseResult): serialised once, hashed as sent.
    const body = serialiseResult(outcome.result);
    const connection = isCall && connectionOf ? connectionOf(plan.server, ctx.principal) : undefined;
    events.push(
      callEvent(base, timing, {
        event: eventOf(ctx.method),
        args: recordedArgs,
        status: outcome.result.isError === true ? "tool_error" : "ok",
        detail:
          ctx.policies || connection !== undefined
            ? {
                ...(ctx.policies ? { policies: ctx.policies } : {}),
                ...(connection === undefined ? {} : { connection }),
              }
            : undefined,
        // Its UTF-8 bytes, as sent (one-shot hash: no Hash object, no Buffer copy of the text).
        result_bytes: Buffer.byteLength(body),
        result_sha256: hash("sha256", body, "hex"),
      }),
    );
  }
  const f = ctx.findings;
  if (f && Object.keys(f.redacted).length > 0) {
    events.push(
      callEvent(base, undefined, { event: "redacted", status: "ok", detail: { types: { ...f.redacted } } }),
    );
  }
  if (f && f.signals.length > 0) {
    events.push(
      callEvent(base, undefined, {
        event: "injection",
        status: "ok",
        detail: { signals: [...new Set(f.signals.map((s) => s.kind))] },
      }),
    );
  }
  return events;
}
