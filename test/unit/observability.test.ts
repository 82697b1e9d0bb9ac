// Metrics (series, label bounds), tracing (traceparent parsing) and the telemetry stage, without
// a gateway: the stage runs in a real compose chain with real Metrics and Tracing.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { context, propagation, trace } from "@opentelemetry/api";
import { anonymousPrincipal } from "../../src/auth/principal.js";
import type { ObservabilityConfig } from "../../src/config/types.js";
import {
  ErrorCode,
  GatewayError,
  PeerRpcError,
  policyDenied,
  upstreamUnavailable,
} from "../../src/errors.js";
import { Metrics, OTHER, UNMAPPED } from "../../src/observability/metrics.js";
import { headersSetter, Tracing } from "../../src/observability/tracing.js";
import { compose } from "../../src/pipeline/compose.js";
import type { CallContext, Outcome, Plan } from "../../src/pipeline/context.js";
import { telemetry } from "../../src/pipeline/stages/telemetry.js";
import { parseMetrics, valueOf } from "../helpers/metrics.js";

const NO_EXPORT: ObservabilityConfig = { otlpEndpoint: undefined, serviceName: "warden-test", metrics: true };
const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID = "00f067aa0ba902b7";
const HEX32 = /^[0-9a-f]{32}$/;

function metrics(limits = {}, states: Array<[string, string]> = [["files", "ready"]]) {
  return new Metrics({ upstreams: () => states, auditQueue: () => 7, names: [["files", "read"]] }, limits);
}

async function scrape(m: Metrics) {
  const { contentType, body } = await m.render();
  assert.match(contentType, /^text\/plain/);
  return parseMetrics(body);
}

describe("Metrics", () => {
  test("calls, latency, denials, redactions, injection signals, upstreams and the audit queue", async () => {
    const m = metrics({}, [
      ["files", "ready"],
      ["web", "restarting"],
    ]);
    m.call("files", "read", "tools/call", "ok", "ok", 0.003);
    m.call("files", "read", "tools/call", "ok", "ok", 0.2);
    m.call("files", "read", "tools/call", "insufficient_scope", "denied", 0.0001);
    m.denied("insufficient_scope");
    m.redacted("email", 2);
    m.redacted("aws_access_key", 1);
    m.redacted("email", 0);
    m.injection("override");
    const s = await scrape(m);
    const call = { server: "files", tool: "read", method: "tools/call" };
    assert.equal(valueOf(s, "warden_calls_total", { ...call, status: "ok" }), 2);
    assert.equal(valueOf(s, "warden_calls_total", { ...call, status: "insufficient_scope" }), 1);
    assert.equal(valueOf(s, "warden_call_duration_seconds_count", { ...call, outcome: "ok" }), 2);
    assert.equal(
      valueOf(s, "warden_call_duration_seconds_bucket", { ...call, outcome: "ok", le: "0.005" }),
      1,
    );
    assert.equal(valueOf(s, "warden_call_duration_seconds_count", { ...call, outcome: "denied" }), 1);
    assert.equal(valueOf(s, "warden_denials_total", { reason: "insufficient_scope" }), 1);
    assert.equal(valueOf(s, "warden_redactions_total", { type: "email" }), 2);
    assert.equal(valueOf(s, "warden_redactions_total", { type: "aws_access_key" }), 1);
    assert.equal(valueOf(s, "warden_injection_signals_total", { kind: "override" }), 1);
    assert.equal(valueOf(s, "warden_upstream_up", { server: "files" }), 1);
    assert.equal(valueOf(s, "warden_upstream_up", { server: "web" }), 0);
    assert.equal(valueOf(s, "warden_upstream_state", { server: "web", state: "restarting" }), 1);
    assert.equal(valueOf(s, "warden_upstream_state", { server: "web", state: "ready" }), 0);
    assert.equal(valueOf(s, "warden_audit_queue_depth"), 7);
    // Its own registry: nothing from prom-client's global one, no process metrics unless asked.
    assert.ok(s.every((x) => x.name.startsWith("warden_")));
    assert.ok(!s.some((x) => x.name.includes("process_")));
  });

  test("process metrics, when asked for, are prefixed warden_", async () => {
    const m = new Metrics({ upstreams: () => [], auditQueue: () => 0, process: true });
    const s = await scrape(m);
    assert.ok(valueOf(s, "warden_process_cpu_user_seconds_total") >= 0);
    assert.ok(s.some((x) => x.name === "warden_process_resident_memory_bytes"));
  });

  test("a tool name is a label once configured or answered; invented names share (unmapped)", async () => {
    const m = metrics();
    for (let i = 0; i < 50; i++)
      m.call("files", `made-up-${i}`, "tools/call", "tool_not_mapped", "denied", 0);
    m.call("files", "list", "tools/call", "upstream_error", "error", 0.01);
    m.call("files", "search", "tools/call", "ok", "ok", 0.01);
    m.call("files", "search", "tools/call", "upstream_error", "error", 0.01);
    const s = await scrape(m);
    const tools = new Set(s.filter((x) => x.name === "warden_calls_total").map((x) => x.labels.tool));
    assert.deepEqual([...tools].sort(), [UNMAPPED, "search"].sort());
    assert.equal(valueOf(s, "warden_calls_total", { tool: UNMAPPED, status: "tool_not_mapped" }), 50);
    assert.equal(valueOf(s, "warden_calls_total", { tool: UNMAPPED, status: "upstream_error" }), 1);
    assert.equal(valueOf(s, "warden_calls_total", { tool: "search", status: "upstream_error" }), 1);
    // A configured name is labelled even when its first call is refused.
    m.call("files", "read", "tools/call", "insufficient_scope", "denied", 0);
    assert.equal(valueOf(await scrape(m), "warden_calls_total", { tool: "read" }), 1);
  });

  test("caps: tool names per server, values per label, value length", async () => {
    const m = metrics({ toolsPerServer: 3, valuesPerLabel: 4, valueLength: 10 });
    for (let i = 0; i < 20; i++) m.call("files", `tool${i}`, "tools/call", "ok", "ok", 0.001);
    for (let i = 0; i < 20; i++) m.denied(`reason_${i}`);
    m.redacted("x".repeat(500), 1);
    const s = await scrape(m);
    const tools = new Set(s.filter((x) => x.name === "warden_calls_total").map((x) => x.labels.tool));
    // "read" (configured) and two answered names fill the three places; the rest are (other).
    assert.deepEqual([...tools].sort(), [OTHER, "tool0", "tool1"].sort());
    assert.equal(valueOf(s, "warden_calls_total", { tool: OTHER }), 18);
    const reasons = s.filter((x) => x.name === "warden_denials_total").map((x) => x.labels.reason);
    assert.equal(reasons.length, 5);
    assert.equal(valueOf(s, "warden_denials_total", { reason: OTHER }), 16);
    assert.equal(valueOf(s, "warden_redactions_total", { type: "x".repeat(10) }), 1);
    assert.ok(
      s.every((x) => Object.values(x.labels).every((v) => v.length <= 10 || /^\+?Inf|^[\d.]+$/.test(v))),
    );
  });
});

describe("Tracing", () => {
  const tracing = new Tracing(NO_EXPORT);

  test("a valid traceparent is the parent: same trace, new span id", () => {
    for (const flags of ["01", "00"]) {
      const span = tracing.start("tools/call", `00-${TRACE_ID}-${PARENT_ID}-${flags}`, {});
      const sc = span.spanContext();
      assert.equal(sc.traceId, TRACE_ID);
      assert.match(sc.spanId, /^[0-9a-f]{16}$/);
      assert.notEqual(sc.spanId, PARENT_ID);
      // The caller's sampling decision passes on.
      assert.equal(sc.traceFlags, flags === "01" ? 1 : 0);
      tracing.end(span);
    }
  });

  test("an invalid or missing traceparent starts a new trace", () => {
    const bad = [
      undefined,
      "",
      "garbage",
      `00-${"0".repeat(32)}-${PARENT_ID}-01`, // all-zero trace id
      `00-${TRACE_ID}-${"0".repeat(16)}-01`, // all-zero parent id
      `ff-${TRACE_ID}-${PARENT_ID}-01`, // version ff is invalid
      `00-${TRACE_ID.toUpperCase()}-${PARENT_ID}-01`,
      `00-${TRACE_ID}-${PARENT_ID}-01`.padEnd(5000, "x"),
    ];
    const ids = new Set<string>();
    for (const tp of bad) {
      const span = tracing.start("tools/call", tp, {});
      const { traceId } = span.spanContext();
      assert.match(traceId, HEX32, String(tp));
      assert.notEqual(traceId, TRACE_ID);
      assert.notEqual(traceId, "0".repeat(32));
      ids.add(traceId);
      tracing.end(span, "error");
    }
    assert.equal(ids.size, bad.length, "every new trace has its own id");
  });

  test("traceId() without a span: the trace id the span would have had", () => {
    for (const flags of ["01", "00"])
      assert.equal(tracing.traceId(`00-${TRACE_ID}-${PARENT_ID}-${flags}`), TRACE_ID);
    const ids = new Set<string>();
    for (const tp of [
      undefined,
      "",
      "garbage",
      `00-${"0".repeat(32)}-${PARENT_ID}-01`,
      `ff-${TRACE_ID}-${PARENT_ID}-01`,
    ]) {
      const id = tracing.traceId(tp);
      assert.match(id, HEX32, String(tp));
      assert.notEqual(id, TRACE_ID);
      assert.notEqual(id, "0".repeat(32));
      ids.add(id);
    }
    assert.equal(ids.size, 5, "every new trace has its own id");
  });

  test("within(): the span is active across awaits, and injects as traceparent", async () => {
    const span = tracing.start("tools/call", `00-${TRACE_ID}-${PARENT_ID}-01`, {});
    const headers = await tracing.within(span, async () => {
      await new Promise((r) => setTimeout(r, 5));
      const h = new Headers();
      propagation.inject(context.active(), h, headersSetter);
      return h;
    });
    assert.equal(headers.get("traceparent"), `00-${TRACE_ID}-${span.spanContext().spanId}-01`);
    assert.equal(trace.getSpan(context.active()), undefined, "nothing stays active outside");
    tracing.end(span);
  });
});

/** "files" is reached over HTTP, "local" over stdio. */
const HTTP_FILES = [
  { name: "files", kind: "streamable_http" },
  { name: "local", kind: "stdio" },
] as const;

describe("telemetry stage", () => {
  const tracing = new Tracing(NO_EXPORT);
  const principal = anonymousPrincipal([]);

  function ctxFor(plan: Plan, traceparent?: string): CallContext {
    return {
      session: {} as CallContext["session"],
      catalog: {} as CallContext["catalog"],
      principal,
      sessionId: "s",
      request: { jsonrpc: "2.0", id: 1, method: "tools/call" },
      method: plan.kind === "list" ? "tools/list" : "tools/call",
      plan,
      signal: new AbortController().signal,
      log: {} as CallContext["log"],
      startedAt: Date.now(),
      traceparent,
      protocolVersion: "2025-11-25",
    };
  }
  const call = (name: string, server = "files"): Plan => ({
    kind: "call",
    server,
    item: "tool",
    name,
    params: {},
  });

  test("status by outcome; denials by reason; findings counted; the span active downstream", async () => {
    const m = metrics();
    const endings: Array<() => Promise<Outcome>> = [
      async () => ({ kind: "result", result: { content: [] } }),
      async () => ({ kind: "result", result: { content: [], isError: true } }),
      async () => Promise.reject(policyDenied("path_not_allowed", "no")),
      async () => Promise.reject(upstreamUnavailable("files", "upstream_timeout")),
      async () => Promise.reject(new PeerRpcError(-32602, "bad")),
      async () => Promise.reject(new Error("bug")),
    ];
    let seenTrace: string | undefined;
    for (const end of endings) {
      const run = compose<CallContext, Outcome>([telemetry(m, tracing, HTTP_FILES)], async (ctx) => {
        seenTrace = trace.getSpan(context.active())?.spanContext().traceId;
        ctx.findings = { redacted: { email: 1 }, signals: [{ kind: "override", detail: "" }], binary: [] };
        return end();
      });
      const ctx = ctxFor(call("read"), `00-${TRACE_ID}-${PARENT_ID}-01`);
      await run(ctx).catch(() => {});
      assert.equal(ctx.traceId, TRACE_ID);
      assert.equal(seenTrace, TRACE_ID);
    }
    const s = await scrape(m);
    const by = (status: string) =>
      valueOf(s, "warden_calls_total", { server: "files", tool: "read", status });
    assert.equal(by("ok"), 1);
    assert.equal(by("tool_error"), 1);
    assert.equal(by("path_not_allowed"), 1);
    assert.equal(by("upstream_timeout"), 1);
    assert.equal(by("upstream_error"), 1);
    assert.equal(by("error"), 1);
    // Only the gateway's own refusal is a denial; an upstream timing out is not.
    assert.deepEqual(
      s.filter((x) => x.name === "warden_denials_total").map((x) => [x.labels.reason, x.value]),
      [["path_not_allowed", 1]],
    );
    assert.equal(valueOf(s, "warden_call_duration_seconds_count", { outcome: "denied" }), 1);
    assert.equal(valueOf(s, "warden_call_duration_seconds_count", { outcome: "error" }), 4);
    assert.equal(valueOf(s, "warden_redactions_total", { type: "email" }), 6);
    assert.equal(valueOf(s, "warden_injection_signals_total", { kind: "override" }), 6);
  });

  test("lists count under server and tool *; a refusal before forwarding still gets a trace id", async () => {
    const m = metrics();
    const list: Plan = { kind: "list", servers: ["files"], key: "tools" };
    const run = compose<CallContext, Outcome>(
      [
        telemetry(m, tracing, HTTP_FILES),
        async () => {
          throw new GatewayError(ErrorCode.PolicyDenied, "tool_not_mapped", "no");
        },
      ],
      async () => ({ kind: "list", key: "tools", items: [] }),
    );
    const ok = compose<CallContext, Outcome>([telemetry(m, tracing, HTTP_FILES)], async () => ({
      kind: "list",
      key: "tools",
      items: [],
    }));
    await ok(ctxFor(list));
    const refused = ctxFor(call("nope"));
    await assert.rejects(run(refused));
    assert.match(refused.traceId ?? "", HEX32);
    const s = await scrape(m);
    assert.equal(
      valueOf(s, "warden_calls_total", { server: "*", tool: "*", method: "tools/list", status: "ok" }),
      1,
    );
    assert.equal(
      valueOf(s, "warden_calls_total", { server: "files", tool: UNMAPPED, status: "tool_not_mapped" }),
      1,
    );
  });

  test("a request to a stdio upstream gets a trace id but leaves no active context", async () => {
    let active: unknown = "unset";
    const run = compose<CallContext, Outcome>([telemetry(metrics(), tracing, HTTP_FILES)], async () => {
      active = trace.getSpan(context.active());
      return { kind: "result", result: {} };
    });
    const ctx = ctxFor(call("echo", "local"), `00-${TRACE_ID}-${PARENT_ID}-01`);
    await run(ctx);
    assert.equal(ctx.traceId, TRACE_ID);
    assert.equal(active, undefined);
  });
});
