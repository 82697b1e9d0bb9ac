// Tool-mapping enforcement: lists filtered by the same decision as calls, denials answered with
// -32001 policy_denied, and the upstream never seeing a denied call. Also anonymous access off → 401.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connectClient, mcpError, reasonOf, textOf, type ConnectedClient } from "../helpers/client.js";
import { everythingStdio, gatewayConfig, recorderStdio } from "../helpers/configs.js";
import { fixture, makeTempDir, startGateway, type Gateway } from "../helpers/gateway.js";
import { initializeRequest, mcpHeaders, openRawSession, raw, rpcError } from "../helpers/http.js";
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

  for (const tool of ["secret_tool", "crash"]) {
    test(`${tool}: denied with -32001 tool_not_mapped on both endpoints, never forwarded`, async () => {
      const viaAgg = await mcpError(() => agg.client.callTool({ name: `recorder__${tool}`, arguments: {} }));
      assert.equal(viaAgg.code, -32001, viaAgg.message);
      assert.equal(reasonOf(viaAgg), "tool_not_mapped");

      const viaDirect = await mcpError(() => direct.client.callTool({ name: tool, arguments: {} }));
      assert.equal(viaDirect.code, -32001, viaDirect.message);
      assert.equal(reasonOf(viaDirect), "tool_not_mapped");

      // A later allowed call is recorded after anything the denied ones might have caused.
      await agg.client.callTool({ name: "recorder__echo", arguments: { message: `after-${tool}` } });
      assert.deepEqual(
        receivedToolCalls(recordFile, tool),
        [],
        `the upstream received a denied ${tool} call`,
      );
    });
  }

  for (const { tool, needed } of [
    { tool: "admin_tool", needed: "admin:all" },
    { tool: "deep", needed: "demo:use admin:all" },
  ]) {
    test(`${tool}: missing scopes → HTTP 403 step-up naming every scope it needs, never forwarded`, async () => {
      for (const [url, name] of [
        [gw.mcpUrl, `recorder__${tool}`],
        [gw.serverUrl("recorder"), tool],
      ] as const) {
        const session = await openRawSession(url);
        const res = await session.post({
          jsonrpc: "2.0",
          id: 5,
          method: "tools/call",
          params: { name, arguments: {} },
        });
        assert.equal(res.status, 403, res.text);
        const challenge = String(res.headers["www-authenticate"]);
        assert.match(challenge, /^Bearer error="insufficient_scope"/);
        assert.ok(challenge.includes(`scope="${needed}"`), challenge);
        assert.match(
          challenge,
          /resource_metadata="http:\/\/[^"]+\/\.well-known\/oauth-protected-resource\/(mcp|servers\/recorder\/mcp)"/,
        );
        const error = rpcError(res, 5) as { code: number; data?: { reason?: string; scopes?: string[] } };
        assert.equal(error.code, -32001);
        assert.equal(error.data?.reason, "insufficient_scope");
        assert.deepEqual(error.data?.scopes, needed.split(" "));
      }
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

describe("prompts and resources are authorized like tools", () => {
  let gw: Gateway;
  let c: ConnectedClient;

  before(async () => {
    gw = await startGateway(
      gatewayConfig(
        [
          everythingStdio("everything", {
            tools: { echo: ["demo:use"] },
            prompts: { "simple-prompt": ["demo:use"], "args-prompt": ["admin:all"] },
            resources: { "demo://resource/static/document/*": ["demo:use"] },
          }),
        ],
        { anonymous: ["demo:use"] },
      ),
    );
    c = await connectClient(gw.mcpUrl);
  });

  after(async () => {
    await c?.close();
    await gw?.stop();
  });

  test("lists show only the prompts, resources and templates the caller may use", async () => {
    const prompts = (await c.client.listPrompts()).prompts.map((p) => p.name);
    assert.deepEqual(prompts, ["everything__simple-prompt"]);
    const resources = (await c.client.listResources()).resources.map((r) => r.uri);
    assert.ok(resources.length > 0);
    assert.ok(
      resources.every((u) => u.startsWith("demo://resource/static/document/")),
      resources.join(" "),
    );
    const templates = (await c.client.listResourceTemplates()).resourceTemplates;
    assert.deepEqual(templates, [], "templates outside the mapped pattern were listed");
  });

  test("a mapped prompt and resource are served", async () => {
    const p = await c.client.getPrompt({ name: "everything__simple-prompt" });
    assert.ok(p.messages.length > 0);
    const uri = (await c.client.listResources()).resources[0]!.uri;
    assert.equal((await c.client.readResource({ uri })).contents[0]?.uri, uri);
  });

  test("an unmapped resource is refused with -32001 resource_not_mapped", async () => {
    const err = await mcpError(() => c.client.readResource({ uri: "demo://resource/dynamic/text/1" }));
    assert.equal(err.code, -32001, err.message);
    assert.equal(reasonOf(err), "resource_not_mapped");
  });

  test("a prompt needing a scope the caller lacks → 403 step-up", async () => {
    const session = await openRawSession(gw.mcpUrl);
    const res = await session.post({
      jsonrpc: "2.0",
      id: 9,
      method: "prompts/get",
      params: { name: "everything__args-prompt", arguments: { city: "x" } },
    });
    assert.equal(res.status, 403, res.text);
    assert.match(String(res.headers["www-authenticate"]), /error="insufficient_scope", scope="admin:all"/);
  });

  test("the route's metadata advertises every scope its items need", async () => {
    const doc = (await (await fetch(`${gw.url}/.well-known/oauth-protected-resource/mcp`)).json()) as {
      scopes_supported: string[];
    };
    assert.deepEqual(doc.scopes_supported, ["admin:all", "demo:use"]);
  });
});

describe("a refused prompt or resource never reaches the upstream", () => {
  let gw: Gateway;
  let c: ConnectedClient;
  let records: string;

  before(async () => {
    records = join(makeTempDir("warden-items-"), "calls.jsonl");
    gw = await startGateway(
      gatewayConfig([
        {
          name: "leaky",
          command: process.execPath,
          args: [fixture("leaky-server.mjs")],
          env: { RECORD_FILE: records },
          tools: { echo: ["demo:use"] },
          prompts: { "leaky-prompt": ["admin:all"] },
          resources: { "leak://public/*": ["demo:use"] },
        },
      ]),
    );
    c = await connectClient(gw.mcpUrl);
  });

  after(async () => {
    await c?.close();
    await gw?.stop();
  });

  const served = () => (existsSync(records) ? readFileSync(records, "utf8") : "");

  test("resources/read of an unmapped URI: -32001 resource_not_mapped, not served", async () => {
    const err = await mcpError(() => c.client.readResource({ uri: "leak://doc" }));
    assert.equal(err.code, -32001);
    assert.equal(reasonOf(err), "resource_not_mapped");
    assert.ok(!served().includes("leak://doc"), "the upstream served a refused resource");
  });

  test("prompts/get without the prompt's scope: 403 step-up, not served", async () => {
    const session = await openRawSession(gw.mcpUrl);
    const res = await session.post({
      jsonrpc: "2.0",
      id: 4,
      method: "prompts/get",
      params: { name: "leaky__leaky-prompt" },
    });
    assert.equal(res.status, 403, res.text);
    assert.equal(rpcError(res, 4)?.code, -32001);
    // A later allowed call is recorded after anything the refused one might have caused.
    await c.client.callTool({ name: "leaky__echo", arguments: { message: "after" } });
    assert.ok(served().includes('"after"'));
    assert.ok(!served().includes("leaky-prompt"), "the upstream served a refused prompt");
  });
});
