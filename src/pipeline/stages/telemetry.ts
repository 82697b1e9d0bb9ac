import type { Attributes } from "@opentelemetry/api";
import { performance } from "node:perf_hooks";
import type { ServerConfig } from "../../config/types.js";
import { ErrorCode, GatewayError, PeerRpcError } from "../../errors.js";
import type { CallOutcome, Metrics } from "../../observability/metrics.js";
import type { Tracing } from "../../observability/tracing.js";
import type { Interceptor } from "../compose.js";
import type { CallContext, Outcome, Plan } from "../context.js";

/** The server and tool labels of lists and broadcasts, which go to every server of the route. */
const EVERY = "*";
/** Resource URIs are not names: they may be unbounded and carry identifiers. */
const RESOURCE = "(resource)";
/** A tool name on a span is the client's text: bounded like any other attribute value. */
const MAX_ATTRIBUTE = 128;

/**
 * Metrics and traces of every request: a server span (the child of the client's `traceparent`),
 * active while the rest of the chain runs when the request reaches an HTTP upstream, which then
 * receives the trace; one count and one latency sample by server, tool, method and status;
 * refusals by reason; protection's findings. Arguments and results are never read.
 */
export function telemetry(
  metrics: Metrics,
  tracing: Tracing,
  servers: ReadonlyArray<Pick<ServerConfig, "name" | "kind">>,
): Interceptor<CallContext, Outcome> {
  // An active context costs every promise in the process a hook (AsyncLocalStorage on Node 20),
  // and only HTTP upstreams read it: requests that reach none of them go without.
  const http: ReadonlySet<string> = new Set(servers.filter((s) => s.kind !== "stdio").map((s) => s.name));
  return async function recordCall(ctx, next) {
    const plan = ctx.plan;
    const server = plan.kind === "call" ? plan.server : EVERY;
    const tool = plan.kind !== "call" ? EVERY : plan.item === "resource" ? RESOURCE : plan.name;
    const toHttp = reachesHttp(plan, http);
    // A span nobody would see (nothing exported, no HTTP upstream to carry it to) is only its trace id.
    const span =
      tracing.exporting || toHttp
        ? tracing.start(ctx.method, ctx.traceparent, spanAttributes(ctx, tool))
        : undefined;
    ctx.traceId = span ? span.spanContext().traceId : tracing.traceId(ctx.traceparent);
    const started = performance.now();
    let status = "ok";
    let outcome: CallOutcome = "ok";
    try {
      const answer = await (span && toHttp ? tracing.within(span, next) : next());
      if (answer.kind === "result" && answer.result.isError === true) {
        status = "tool_error";
        outcome = "error";
      }
      return answer;
    } catch (err) {
      ({ status, outcome } = classify(err));
      if (outcome === "denied") metrics.denied(status);
      throw err;
    } finally {
      metrics.call(server, tool, ctx.method, status, outcome, (performance.now() - started) / 1000);
      const findings = ctx.findings;
      if (findings) {
        for (const type in findings.redacted) metrics.redacted(type, findings.redacted[type] ?? 0);
        for (const signal of findings.signals) metrics.injection(signal.kind);
      }
      if (span) tracing.end(span, status === "ok" ? undefined : status);
    }
  };
}

function spanAttributes(ctx: CallContext, tool: string): Attributes {
  const plan = ctx.plan;
  const server = plan.kind === "call" ? plan.server : EVERY;
  const attributes: Attributes = { "mcp.method.name": ctx.method, "warden.server": server };
  if (plan.kind === "call" && plan.item !== "resource") {
    const key = plan.item === "tool" ? "gen_ai.tool.name" : "gen_ai.prompt.name";
    attributes[key] = tool.slice(0, MAX_ATTRIBUTE);
  }
  return attributes;
}

function reachesHttp(plan: Plan, http: ReadonlySet<string>): boolean {
  if (http.size === 0) return false;
  if (plan.kind === "call") return http.has(plan.server);
  for (const server of plan.servers) if (http.has(server)) return true;
  return false;
}

/** A refusal by the gateway, an upstream's failure, or a fault of the gateway itself. */
function classify(err: unknown): { status: string; outcome: CallOutcome } {
  if (err instanceof GatewayError) {
    // An unavailable or timed-out upstream is a failure, not a decision against the caller.
    return { status: err.reason, outcome: err.code === ErrorCode.UpstreamUnavailable ? "error" : "denied" };
  }
  if (err instanceof PeerRpcError) return { status: "upstream_error", outcome: "error" };
  return { status: "error", outcome: "error" };
}
