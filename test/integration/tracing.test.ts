// Traces through the gateway: a client's W3C traceparent continues to HTTP upstreams (same trace,
// the gateway's span as parent), a client without one still gets a trace the upstream sees, and
// the gateway's spans reach an OTLP/HTTP collector (a plain HTTP server here) with that trace id.
// Upstream: headers-server.mjs, whose `headers` tool returns the headers of the request it serves.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { connectClient, textOf, type ConnectedClient } from "../helpers/client.js";
import { gatewayConfig } from "../helpers/configs.js";
import { startFixture, type NetworkFixture } from "../helpers/fixtures.js";
import { startGateway, type Gateway } from "../helpers/gateway.js";
import { waitFor } from "../helpers/wait.js";

const TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
const PARENT_ID = "b7ad6b7169203331";
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/;

interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Array<{ key: string; value: { stringValue?: string } }>;
  status?: { code?: number };
}
interface ExportRequest {
  contentType: string;
  body: {
    resourceSpans: Array<{
      resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> };
      scopeSpans: Array<{ spans: ExportedSpan[] }>;
    }>;
  };
}

/** A stand-in OTLP/HTTP collector: accepts POST /v1/traces and keeps every JSON export request. */
async function startCollector(): Promise<{ url: string; received: ExportRequest[]; server: Server }> {
  const received: ExportRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.method === "POST" && req.url === "/v1/traces") {
        const text = Buffer.concat(chunks).toString("utf8");
        received.push({
          contentType: String(req.headers["content-type"]),
          body: JSON.parse(text) as ExportRequest["body"],
        });
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      } else res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/v1/traces`, received, server };
}

const attr = (span: ExportedSpan, key: string) =>
  span.attributes.find((a) => a.key === key)?.value.stringValue;

describe("tracing", () => {
  let up: NetworkFixture;
  let collector: Awaited<ReturnType<typeof startCollector>>;
  let gw: Gateway;
  const clients: ConnectedClient[] = [];

  before(async () => {
    up = await startFixture("headers-server.mjs");
    collector = await startCollector();
    gw = await startGateway(
      {
        ...gatewayConfig([{ name: "remote", url: `${up.base}/mcp/remote`, tools: { "*": ["demo:use"] } }]),
        // The fixture's result is the headers it received: keep them readable.
        protect: { redact_results: false, injection: "off" },
        observability: { otlp_endpoint: collector.url, service_name: "warden-under-test" },
      },
      { env: { OTEL_BSP_SCHEDULE_DELAY: "100", WARDEN_LOG_LEVEL: "debug" } },
    );
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await gw?.stop();
    await up?.stop();
    collector?.server.close();
  });

  /** The traceparent the upstream received on the request that served the gateway's call. */
  async function upstreamTraceparent(headers: Record<string, string> = {}, via = gw): Promise<string> {
    const c = await connectClient(via.serverUrl("remote"), { headers });
    clients.push(c);
    const seen = JSON.parse(textOf(await c.client.callTool({ name: "headers", arguments: {} }))) as Record<
      string,
      string
    >;
    const tp = seen.traceparent;
    assert.match(String(tp), TRACEPARENT);
    return tp as string;
  }

  const exported = () =>
    collector.received.flatMap((r) =>
      r.body.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((s) => s.spans)),
    );

  test("the client's traceparent continues upstream: same trace id, the gateway's span as parent", async () => {
    const tp = await upstreamTraceparent({ traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` });
    const [, traceId, parentId] = TRACEPARENT.exec(tp) as RegExpExecArray;
    assert.equal(traceId, TRACE_ID);
    assert.notEqual(parentId, PARENT_ID);
    assert.ok(tp.endsWith("-01"), "the caller's sampled flag passes on");

    // The gateway's span reaches the collector: the client's span as parent, the upstream's as child.
    const span = await waitFor(
      () => exported().find((s) => s.traceId === TRACE_ID && attr(s, "gen_ai.tool.name") === "headers"),
      { timeoutMs: 15_000, what: "the tools/call span at the OTLP collector" },
    );
    assert.equal(span.spanId, parentId);
    assert.equal(span.parentSpanId, PARENT_ID);
    assert.equal(span.name, "tools/call");
    assert.equal(span.kind, 2); // SERVER
    assert.equal(attr(span, "mcp.method.name"), "tools/call");
    assert.equal(attr(span, "warden.server"), "remote");
    assert.ok(collector.received.every((r) => r.contentType.startsWith("application/json")));
    const resource = collector.received[0]?.body.resourceSpans[0]?.resource.attributes ?? [];
    assert.equal(resource.find((a) => a.key === "service.name")?.value.stringValue, "warden-under-test");
  });

  test("without a traceparent (or with a malformed one) the upstream still gets a new, valid trace", async () => {
    const seen = new Set<string>();
    const variants: Record<string, string>[] = [{}, { traceparent: "00-not-a-trace-01" }];
    for (const headers of variants) {
      const tp = await upstreamTraceparent(headers);
      const [, traceId] = TRACEPARENT.exec(tp) as RegExpExecArray;
      assert.notEqual(traceId, "0".repeat(32));
      seen.add(traceId as string);
      // The trace the upstream saw is the one the gateway logged for the call.
      const line = await waitFor(() =>
        gw.logs().find((l) => l.msg === "call" && l.method === "tools/call" && l.trace_id === traceId),
      );
      assert.equal(line.status, "ok");
    }
    assert.equal(seen.size, 2);
  });

  test("without an OTLP endpoint: nothing is exported, the trace still reaches the upstream", async () => {
    const plain = await startGateway({
      ...gatewayConfig([{ name: "remote", url: `${up.base}/mcp/remote`, tools: { "*": ["demo:use"] } }]),
      protect: { redact_results: false, injection: "off" },
    });
    try {
      const before = collector.received.length;
      const tp = await upstreamTraceparent({ traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` }, plain);
      assert.match(tp, new RegExp(`^00-${TRACE_ID}-(?!${PARENT_ID})[0-9a-f]{16}-01$`));
      // Not sampled by anyone: a new trace, and the flag says it is not recorded.
      assert.match(await upstreamTraceparent({}, plain), /^00-(?!0{32})[0-9a-f]{32}-[0-9a-f]{16}-00$/);
      assert.equal(collector.received.length, before);
    } finally {
      await Promise.all(clients.splice(0).map((c) => c.close()));
      await plain.stop();
    }
  });
});
