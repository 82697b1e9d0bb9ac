// Remote upstreams: server-everything over streamable HTTP and over legacy SSE, each run as its
// own process on 127.0.0.1, fronted by the gateway.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  callWithProgress,
  connectClient,
  mcpError,
  reasonOf,
  textOf,
  type ConnectedClient,
} from "../helpers/client.js";
import { gatewayConfig } from "../helpers/configs.js";
import { startGateway, type Gateway } from "../helpers/gateway.js";
import { startEverythingRemote, type RemoteUpstream } from "../helpers/upstreams.js";

describe("streamable HTTP and legacy SSE upstreams", () => {
  let http: RemoteUpstream;
  let sse: RemoteUpstream;
  let gw: Gateway;
  const clients: ConnectedClient[] = [];

  before(async () => {
    [http, sse] = await Promise.all([startEverythingRemote("streamableHttp"), startEverythingRemote("sse")]);
    gw = await startGateway(
      gatewayConfig([
        // get-env is left unmapped on purpose: it must be hidden and denied on remote upstreams too.
        {
          name: "remote",
          url: http.url,
          tools: {
            echo: ["demo:use"],
            "get-sum": ["demo:use"],
            "trigger-long-running-operation": ["demo:use"],
            "trigger-sampling-request": ["demo:use"],
          },
          // Without a "*" tool entry, prompts and resources need maps of their own.
          prompts: { "*": ["demo:use"] },
          resources: { "*": ["demo:use"] },
        },
        { name: "legacy", url: sse.url, transport: "sse", tools: { "*": ["demo:use"] } },
      ]),
    );
  });

  after(async () => {
    for (const c of clients) await c.close();
    await gw?.stop();
    await http?.stop();
    await sse?.stop();
  });

  async function connect(url = gw.mcpUrl, opts: Parameters<typeof connectClient>[1] = {}) {
    const c = await connectClient(url, opts);
    clients.push(c);
    return c;
  }

  test("/readyz reports both remote upstreams ready", async () => {
    const r = await gw.readyz();
    assert.equal(r.status, 200);
    assert.equal(r.body.upstreams?.remote?.state, "ready");
    assert.equal(r.body.upstreams?.legacy?.state, "ready");
  });

  test("tools/list prefixes and filters tools of both kinds", async () => {
    const c = await connect();
    const names = (await c.client.listTools()).tools.map((t) => t.name);
    for (const n of ["remote__echo", "remote__get-sum", "legacy__echo", "legacy__get-env"]) {
      assert.ok(names.includes(n), `${n} missing from ${names.join(", ")}`);
    }
    assert.ok(!names.includes("remote__get-env"), "an unmapped tool of a remote upstream is listed");
  });

  test("tools/call to the streamable HTTP upstream", async () => {
    const c = await connect();
    assert.equal(
      textOf(await c.client.callTool({ name: "remote__echo", arguments: { message: "via http" } })),
      "Echo: via http",
    );
    const d = await connect(gw.serverUrl("remote"));
    assert.match(textOf(await d.client.callTool({ name: "get-sum", arguments: { a: 1, b: 2 } })), /is 3\./);
  });

  test("tools/call to the legacy SSE upstream", async () => {
    const c = await connect();
    assert.equal(
      textOf(await c.client.callTool({ name: "legacy__echo", arguments: { message: "via sse" } })),
      "Echo: via sse",
    );
    const d = await connect(gw.serverUrl("legacy"));
    assert.equal(
      textOf(await d.client.callTool({ name: "echo", arguments: { message: "direct sse" } })),
      "Echo: direct sse",
    );
  });

  test("an unmapped tool of a remote upstream is denied with -32001", async () => {
    const c = await connect();
    const err = await mcpError(() => c.client.callTool({ name: "remote__get-env", arguments: {} }));
    assert.equal(err.code, -32001);
    assert.equal(reasonOf(err), "tool_not_mapped");
  });

  for (const server of ["remote", "legacy"]) {
    test(`progress from the ${server} upstream, before the result`, async () => {
      const c = await connect();
      const { result, progress, late } = await callWithProgress(c.client, c.wire, {
        name: `${server}__trigger-long-running-operation`,
        arguments: { duration: 0.2, steps: 2 },
      });
      assert.match(textOf(result), /completed/);
      assert.deepEqual(
        progress.map((p) => p.progress),
        [1, 2],
      );
      assert.deepEqual(late, []);
    });
  }

  for (const server of ["remote", "legacy"]) {
    test(`sampling round trip through the ${server} upstream`, async () => {
      const c = await connect(gw.mcpUrl, {
        sampling: () => ({
          role: "assistant",
          content: { type: "text", text: `sampled-for-${server}` },
          model: "warden-test-model",
        }),
      });
      const r = await c.client.callTool({
        name: `${server}__trigger-sampling-request`,
        arguments: { prompt: `prompt-${server}`, maxTokens: 5 },
      });
      assert.equal(c.requests.length, 1);
      assert.match(JSON.stringify(c.requests[0]!.params), new RegExp(`prompt-${server}`));
      assert.match(textOf(r), new RegExp(`sampled-for-${server}`));
    });
  }

  test("resources and prompts through per-server endpoints of remote upstreams", async () => {
    for (const server of ["remote", "legacy"]) {
      const c = await connect(gw.serverUrl(server));
      const r = await c.client.readResource({ uri: "demo://resource/dynamic/text/11" });
      assert.ok("text" in r.contents[0]!);
      assert.match(String(r.contents[0].text), /^Resource 11: /);
      const p = await c.client.getPrompt({ name: "args-prompt", arguments: { city: "Oslo" } });
      assert.equal(
        p.messages[0]?.content.type === "text" && p.messages[0].content.text,
        "What's weather in Oslo?",
      );
    }
  });

  test("prompts of both remote upstreams are listed with their prefixes", async () => {
    const c = await connect();
    const names = (await c.client.listPrompts()).prompts.map((p) => p.name);
    assert.ok(names.includes("remote__simple-prompt"), names.join(", "));
    assert.ok(names.includes("legacy__simple-prompt"), names.join(", "));
  });
});
