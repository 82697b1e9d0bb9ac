// Tool-mapping enforcement: lists filtered by the same decision as calls, denials answered with
// -32001 policy_denied, and the upstream never seeing a denied call. Also anonymous access off → 401.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connectClient, mcpError, reasonOf, textOf, type ConnectedClient } from "../helpers/client.js";
import { gatewayConfig, recorderStdio } from "../helpers/configs.js";
import { makeTempDir, startGateway, type Gateway } from "../helpers/gateway.js";
import { initializeRequest, mcpHeaders, raw } from "../helpers/http.js";
import { receivedToolCalls } from "../helpers/records.js";

describe("tool mapping", () => {
  let gw: Gateway;
  let recordFile: string;
  let agg: ConnectedClient;
  let direct: ConnectedClient;

  before(async () => {
    recordFile = join(makeTempDir("warden-rec-"), "recorder.jsonl");
    gw = await startGateway(
      gatewayConfig(
        [
          recorderStdio("recorder", recordFile, {
            echo: ["demo:use"],
            admin_tool: ["admin:all"],
            // Needs both scopes; callers have only one.
            deep: ["demo:use", "admin:all"],
            // secret_tool, pid, slow, sleep, crash: no mapping and no "*".
          }),
        ],
        { anonymous: ["demo:use"] },
      ),
    );
    agg = await connectClient(gw.mcpUrl);
    direct = await connectClient(gw.serverUrl("recorder"));
  });

  after(async () => {
    await agg?.close();
    await direct?.close();
    await gw?.stop();
  });

  test("an allowed call reaches the upstream (the recorder sees it)", async () => {
    const r = await agg.client.callTool({ name: "recorder__echo", arguments: { message: "allowed" } });
    assert.equal(textOf(r), "recorder: allowed");
    const calls = receivedToolCalls(recordFile, "echo");
    assert.ok(
      calls.some((c) => (c.params?.arguments as { message?: string })?.message === "allowed"),
      "the recorder did not record the allowed call",
    );
  });

  test("tools/list shows only the tools the caller may call", async () => {
    const names = (await agg.client.listTools()).tools.map((t) => t.name);
    assert.deepEqual(names, ["recorder__echo"]);
    const directNames = (await direct.client.listTools()).tools.map((t) => t.name);
    assert.deepEqual(directNames, ["echo"]);
  });

  const denials: { tool: string; reason: string }[] = [
    { tool: "secret_tool", reason: "tool_not_mapped" },
    { tool: "crash", reason: "tool_not_mapped" },
    { tool: "admin_tool", reason: "insufficient_scope" },
    { tool: "deep", reason: "insufficient_scope" },
  ];

  for (const { tool, reason } of denials) {
    test(`${tool}: denied with -32001 ${reason} on both endpoints, never forwarded`, async () => {
      const viaAgg = await mcpError(() => agg.client.callTool({ name: `recorder__${tool}`, arguments: {} }));
      assert.equal(viaAgg.code, -32001, viaAgg.message);
      assert.equal(reasonOf(viaAgg), reason);

      const viaDirect = await mcpError(() => direct.client.callTool({ name: tool, arguments: {} }));
      assert.equal(viaDirect.code, -32001, viaDirect.message);
      assert.equal(reasonOf(viaDirect), reason);

      // A later allowed call is recorded after anything the denied ones might have caused.
      await agg.client.callTool({ name: "recorder__echo", arguments: { message: `after-${tool}` } });
      assert.deepEqual(
        receivedToolCalls(recordFile, tool),
        [],
        `the upstream received a denied ${tool} call`,
      );
    });
  }

  test("a tool the upstream does not have is denied and never forwarded", async () => {
    const err = await mcpError(() => agg.client.callTool({ name: "recorder__no_such_tool", arguments: {} }));
    assert.equal(err.code, -32001, err.message);
    assert.equal(reasonOf(err), "tool_not_mapped");
    assert.deepEqual(receivedToolCalls(recordFile, "no_such_tool"), []);
  });

  test("a tool name with an unknown server prefix, or none, is refused and never forwarded", async () => {
    for (const name of ["nosuch__echo", "echo", "__echo", "recorder__"]) {
      await mcpError(() => agg.client.callTool({ name, arguments: {} }));
    }
    await agg.client.callTool({ name: "recorder__echo", arguments: { message: "after-bad-names" } });
    const names = receivedToolCalls(recordFile).map((c) => c.params?.name);
    assert.deepEqual(
      names.filter((n) => n !== "echo"),
      [],
      `the upstream received calls it should not have: ${names.join(", ")}`,
    );
  });
});

describe("anonymous access disabled", () => {
  let gw: Gateway;
  let recordFile: string;

  before(async () => {
    recordFile = join(makeTempDir("warden-rec-"), "recorder.jsonl");
    gw = await startGateway(
      gatewayConfig([recorderStdio("recorder", recordFile, { "*": ["demo:use"] })], { anonymous: [] }),
    );
  });

  after(async () => {
    await gw?.stop();
  });

  test("every MCP request without a token gets 401 with a Bearer challenge", async () => {
    for (const url of [gw.mcpUrl, gw.serverUrl("recorder")]) {
      const init = await raw(url, { headers: mcpHeaders(), body: JSON.stringify(initializeRequest()) });
      assert.equal(init.status, 401, `${url}: ${init.text}`);
      assert.match(
        String(init.headers["www-authenticate"] ?? ""),
        /^Bearer\b/i,
        "WWW-Authenticate: Bearer …",
      );
      assert.equal(init.headers["mcp-session-id"], undefined, "no session for an unauthenticated caller");

      const call = await raw(url, {
        headers: mcpHeaders(),
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 2,
          method: "tools/call",
          params: { name: "recorder__echo" },
        }),
      });
      assert.equal(call.status, 401);
    }
    assert.deepEqual(receivedToolCalls(recordFile), []);
  });

  test("the SDK client cannot connect", async () => {
    await assert.rejects(connectClient(gw.mcpUrl));
  });

  test("/healthz needs no token", async () => {
    const res = await fetch(`${gw.url}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: "ok" });
  });
});
