// The 2026-07-28 test kit proved on its own (and the fixture's 2025 face): the official v2 client pinned to 2026-07-28 against the
// v2 fixture server directly (no gateway), and the raw-HTTP helper's envelope and headers accepted
// as the SDK's server expects them. Gateway tests build on both.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Client, type CallToolResult } from "@modelcontextprotocol/client";
import { StdioClientTransport as StdioClientTransportV2 } from "@modelcontextprotocol/client/stdio";
import { Client as V1Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport as V1HttpTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { ElicitRequestSchema, ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import {
  connectModern,
  MODERN_VERSION,
  postModern,
  type ModernClient,
  type Notice,
} from "../helpers/modern-client.js";
import {
  FAKE_SECRET,
  FIXED_DESCRIPTION,
  MODERN_FIXTURE,
  startModernServer,
  type ModernServer,
} from "../helpers/modern-server.js";
import { waitFor } from "../helpers/wait.js";

function textOf(result: CallToolResult | Record<string, unknown>): string {
  const content = (result["content"] ?? []) as { type: string; text?: string }[];
  return content.map((c) => (c.type === "text" ? c.text : `[${c.type}]`)).join("");
}

describe("the v2 fixture, directly, with the v2 client pinned to 2026-07-28", () => {
  let server: ModernServer;
  let mcp: ModernClient;
  const elicited: unknown[] = [];

  before(async () => {
    server = await startModernServer();
    mcp = await connectModern(server.url, {
      elicit: (params) => {
        elicited.push(params);
        return params.mode === "url" ? { action: "accept" } : { action: "accept", content: { name: "Ada" } };
      },
    });
  });

  after(async () => {
    await mcp?.close();
    await server?.stop();
  });

  test("connects in the modern era through server/discover", async () => {
    assert.equal(mcp.client.getProtocolEra(), "modern");
    const discovered = await mcp.discover();
    assert.ok(discovered.supportedVersions.includes(MODERN_VERSION), JSON.stringify(discovered));
    assert.equal(mcp.client.getServerVersion()?.name, "modern-fixture");
    assert.ok(discovered.capabilities.tools);
  });

  test("lists and calls tools", async () => {
    const { tools } = await mcp.listTools();
    const names = tools.map((t) => t.name);
    for (const n of [
      "echo",
      "add",
      "fixed",
      "slow",
      "ask_name",
      "ask_url",
      "add_tool",
      "secret_echo",
      "calls",
    ]) {
      assert.ok(names.includes(n), `${n} missing from ${names.join(", ")}`);
    }
    assert.equal(tools.find((t) => t.name === "fixed")?.description, FIXED_DESCRIPTION);
    assert.equal(textOf(await mcp.call("echo", { message: "hi" })), "echo: hi");
    assert.equal(textOf(await mcp.call("add", { a: 2, b: 3 })), "5");
    assert.ok(textOf(await mcp.call("secret_echo")).includes(FAKE_SECRET));
    const calls = JSON.parse(textOf(await mcp.call("calls"))) as string[];
    assert.deepEqual(calls.slice(0, 3), ["echo", "add", "secret_echo"]);
  });

  test("reads resources (static and templated) and gets a prompt with an argument", async () => {
    const readme = await mcp.readResource("fixture://readme");
    assert.deepEqual(readme.contents, [
      { uri: "fixture://readme", mimeType: "text/plain", text: "modern fixture readme" },
    ]);
    const note = await mcp.readResource("fixture://notes/7");
    assert.equal((note.contents[0] as { text: string }).text, "note 7");
    const prompt = await mcp.getPrompt("greet", { name: "Ada" });
    assert.deepEqual(prompt.messages[0]?.content, { type: "text", text: "Say hello to Ada." });
  });

  test("an elicitation through input_required: the client answers and retries", async () => {
    elicited.length = 0;
    assert.equal(textOf(await mcp.call("ask_name")), "Hello, Ada!");
    assert.equal(elicited.length, 1);
    assert.equal((elicited[0] as { message: string }).message, "What is your name?");
    assert.equal(textOf(await mcp.call("ask_url")), "ask_url: accept");
    assert.equal((elicited[1] as { mode: string; url: string }).mode, "url");
  });

  test("progress notifications reach the caller", async () => {
    const progress: number[] = [];
    const result = await mcp.call(
      "slow",
      { steps: 3, intervalMs: 10 },
      { onprogress: (p: { progress: number }) => void progress.push(p.progress) },
    );
    assert.equal(textOf(result), "slow: done after 3 steps");
    assert.deepEqual(progress, [1, 2, 3]);
  });

  test("closing the response stream cancels the call upstream", async () => {
    const before = Number(textOf(await mcp.call("cancelled_count")));
    const abort = new AbortController();
    const call = mcp.call(
      "slow",
      { steps: 1000, intervalMs: 20 },
      { signal: abort.signal, onprogress: () => abort.abort("the caller gave up") },
    );
    await assert.rejects(call);
    await waitFor(async () => Number(textOf(await mcp.call("cancelled_count"))) === before + 1, {
      what: "the fixture to count the cancelled `slow`",
    });
  });

  test("subscriptions/listen delivers tools list_changed after add_tool", async () => {
    const notices: Notice[] = [];
    const sub = await mcp.listen({ toolsListChanged: true }, (n) => notices.push(n));
    try {
      assert.equal(sub.honoredFilter.toolsListChanged, true);
      await mcp.call("add_tool", { name: "extra_one" });
      await waitFor(() => notices.some((n) => n.method === "notifications/tools/list_changed"), {
        what: "notifications/tools/list_changed on the listen stream",
      });
      const { tools } = await mcp.listTools();
      assert.ok(tools.some((t) => t.name === "extra_one"));
      assert.equal(textOf(await mcp.call("extra_one")), "extra_one: ran");
    } finally {
      await sub.close();
    }
  });

  test("the raw helper's envelope is accepted, and a header that contradicts the body is refused", async () => {
    const ok = await postModern(server.url, {
      id: 1,
      method: "tools/call",
      params: { name: "echo", arguments: { message: "raw" } },
    });
    assert.equal(ok.status, 200, ok.text);
    const reply = ok.messages[0] as { result?: { content?: unknown; resultType?: string } };
    assert.equal(textOf(reply.result ?? {}), "echo: raw");
    assert.equal(reply.result?.resultType, "complete");

    const mismatch = await postModern(
      server.url,
      { id: 2, method: "tools/call", params: { name: "echo", arguments: { message: "x" } } },
      { headers: { "mcp-name": "add" } },
    );
    assert.equal(mismatch.status, 400, mismatch.text);
    const calls = JSON.parse(textOf(await mcp.call("calls"))) as string[];
    assert.equal(calls.filter((c) => c === "echo").length, 2, "the mismatched call never ran");
  });
});

test("over stdio in 2026-07-28: input_required and listen", async () => {
  const client = new Client(
    { name: "modern-stdio-test", version: "1.0.0" },
    { versionNegotiation: { mode: { pin: MODERN_VERSION } }, capabilities: { elicitation: { form: {} } } },
  );
  client.setRequestHandler("elicitation/create", async () => ({ action: "accept", content: { name: "Cy" } }));
  // The pinned probe runs in a short-lived sibling process; the session process spawns once after.
  await client.connect(
    new StdioClientTransportV2({ command: process.execPath, args: [MODERN_FIXTURE, "stdio"] }),
  );
  try {
    assert.equal(client.getProtocolEra(), "modern");
    assert.equal(textOf(await client.callTool({ name: "ask_name", arguments: {} })), "Hello, Cy!");
    let changed = false;
    client.setNotificationHandler("notifications/tools/list_changed", () => void (changed = true));
    const sub = await client.listen({ toolsListChanged: true });
    await client.callTool({ name: "add_tool", arguments: { name: "stdio_extra" } });
    await waitFor(() => changed, { what: "list_changed on the stdio listen stream" });
    await sub.close();
  } finally {
    await client.close();
  }
});

describe("the v2 fixture, directly, with the v1 client (2025 era)", () => {
  const elicit = async () => ({ action: "accept" as const, content: { name: "Bo" } });

  async function legacyClient(transport: Transport): Promise<V1Client> {
    const client = new V1Client(
      { name: "legacy-test", version: "1.0.0" },
      { capabilities: { elicitation: {} } },
    );
    client.setRequestHandler(ElicitRequestSchema, elicit);
    await client.connect(transport);
    return client;
  }

  test("over HTTP: a session, a pushed elicitation and an unsolicited list_changed", async () => {
    const server = await startModernServer();
    const client = await legacyClient(new V1HttpTransport(new URL(server.url)));
    try {
      assert.ok(client.getServerVersion()?.name === "modern-fixture");
      assert.equal(textOf(await client.callTool({ name: "ask_name", arguments: {} })), "Hello, Bo!");
      let changed = false;
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => void (changed = true));
      await client.callTool({ name: "add_tool", arguments: { name: "legacy_extra" } });
      await waitFor(() => changed, { what: "notifications/tools/list_changed on the session" });
    } finally {
      await client.close();
      await server.stop();
    }
  });

  test("over stdio", async () => {
    const client = await legacyClient(
      new StdioClientTransport({ command: process.execPath, args: [MODERN_FIXTURE, "stdio"] }),
    );
    try {
      assert.equal(textOf(await client.callTool({ name: "ask_name", arguments: {} })), "Hello, Bo!");
    } finally {
      await client.close();
    }
  });

  test("with --legacy reject, a 2025 initialize is refused", async () => {
    const server = await startModernServer({ legacy: "reject" });
    try {
      await assert.rejects(legacyClient(new V1HttpTransport(new URL(server.url))));
    } finally {
      await server.stop();
    }
  });
});
