// GET /metrics on a running gateway: calls by server, tool, method and status; refusals by reason;
// redactions by type; upstream state; a client's invented tool names never become labels.
// Upstream: leaky-server.mjs, whose `leak` tool returns secrets the gateway redacts.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connectClient, mcpError, reasonOf, type ConnectedClient } from "../helpers/client.js";
import { gatewayConfig } from "../helpers/configs.js";
import { fixture, startGateway, type Gateway } from "../helpers/gateway.js";
import { openRawSession, rpcError } from "../helpers/http.js";
import { parseMetrics, valueOf, type Sample } from "../helpers/metrics.js";
import { waitFor } from "../helpers/wait.js";

// Fake but format-valid, assembled at run time so no secret scanner takes this file for a leak.
const AWS_KEY = "AKIA" + "Z7Q2XK4M5P3L2R6T";
const EMAIL = "alice.smith" + "@corp-mail.example.com";
const HEX32 = /^[0-9a-f]{32}$/;

const leaky = {
  name: "leaky",
  command: process.execPath,
  args: [fixture("leaky-server.mjs")],
  env: { LEAK_AWS_KEY: AWS_KEY, LEAK_EMAIL: EMAIL },
  // No "*": any other name is unmapped.
  tools: { echo: ["demo:use"], leak: ["demo:use"], log: ["admin:all"] },
};

async function scrape(gw: Gateway): Promise<Sample[]> {
  const res = await fetch(`${gw.url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  return parseMetrics(await res.text());
}

describe("metrics", () => {
  let gw: Gateway;
  let c: ConnectedClient;

  before(async () => {
    gw = await startGateway(gatewayConfig([leaky]));
    c = await connectClient(gw.mcpUrl);
  });

  after(async () => {
    await c?.close();
    await gw?.stop();
  });

  test("allowed, refused and redacted calls are counted; the upstream is up", async () => {
    await c.client.callTool({ name: "leaky__echo", arguments: { message: "hi" } });
    await c.client.callTool({ name: "leaky__echo", arguments: { message: "again" } });
    await c.client.callTool({ name: "leaky__leak", arguments: { kind: "text" } });
    await c.client.listTools();
    // A tool the config does not map, under invented names: one label for all of them.
    for (const name of ["nope", "x".repeat(300), "rm -rf /"]) {
      const err = await mcpError(() => c.client.callTool({ name: `leaky__${name}`, arguments: {} }));
      assert.equal(reasonOf(err), "tool_not_mapped");
    }
    // A tool the caller lacks the scope for: HTTP 403 step-up.
    const raw = await openRawSession(gw.mcpUrl);
    const res = await raw.post({
      jsonrpc: "2.0",
      id: 9,
      method: "tools/call",
      params: { name: "leaky__log", arguments: {} },
    });
    assert.equal(res.status, 403, res.text);
    assert.equal(rpcError(res, 9)?.data?.reason, "insufficient_scope");

    const s = await scrape(gw);
    const calls = (labels: Record<string, string>) =>
      valueOf(s, "warden_calls_total", { server: "leaky", method: "tools/call", ...labels });
    assert.equal(calls({ tool: "echo", status: "ok" }), 2);
    assert.equal(calls({ tool: "leak", status: "ok" }), 1);
    assert.equal(calls({ tool: "(unmapped)", status: "tool_not_mapped" }), 3);
    // A configured tool keeps its name even when refused.
    assert.equal(calls({ tool: "log", status: "insufficient_scope" }), 1);
    assert.ok(
      valueOf(s, "warden_calls_total", { server: "*", tool: "*", method: "tools/list", status: "ok" }) >= 1,
    );
    const tools = new Set(s.filter((x) => x.name === "warden_calls_total").map((x) => x.labels.tool));
    assert.deepEqual([...tools].sort(), ["(unmapped)", "*", "echo", "leak", "log"].sort());

    assert.equal(valueOf(s, "warden_denials_total", { reason: "tool_not_mapped" }), 3);
    assert.equal(valueOf(s, "warden_denials_total", { reason: "insufficient_scope" }), 1);
    assert.equal(valueOf(s, "warden_redactions_total", { type: "aws_access_key" }), 1);
    assert.equal(valueOf(s, "warden_redactions_total", { type: "email" }), 1);

    const echo = { server: "leaky", tool: "echo", method: "tools/call", outcome: "ok" };
    assert.equal(valueOf(s, "warden_call_duration_seconds_count", echo), 2);
    assert.ok(valueOf(s, "warden_call_duration_seconds_sum", echo) > 0);
    assert.equal(valueOf(s, "warden_call_duration_seconds_count", { outcome: "denied" }), 4);

    assert.equal(valueOf(s, "warden_upstream_up", { server: "leaky" }), 1);
    assert.equal(valueOf(s, "warden_upstream_state", { server: "leaky", state: "ready" }), 1);
    assert.equal(valueOf(s, "warden_audit_queue_depth"), 0);
    assert.ok(s.some((x) => x.name === "warden_process_resident_memory_bytes"));
  });

  test("a refusal's log line carries its trace id", async () => {
    await mcpError(() => c.client.callTool({ name: "leaky__unmapped_for_log", arguments: {} }));
    const line = await waitFor(
      () => gw.logs().find((l) => l.msg === "call" && l.name === "unmapped_for_log"),
      {
        what: "the refused call's log line",
      },
    );
    assert.match(String(line.trace_id), HEX32);
  });
});

describe("metrics disabled", () => {
  test("observability.metrics: false → /metrics is 404", async () => {
    const gw = await startGateway({ ...gatewayConfig([leaky]), observability: { metrics: false } });
    try {
      const res = await fetch(`${gw.url}/metrics`);
      assert.equal(res.status, 404);
      await res.body?.cancel();
    } finally {
      await gw.stop();
    }
  });
});
