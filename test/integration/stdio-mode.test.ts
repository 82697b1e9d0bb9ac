// `mcp-warden stdio -c FILE`: the aggregate endpoint over stdio, launched by the SDK's
// StdioClientTransport the way a desktop client launches an MCP server.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { CreateMessageRequestSchema, type JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { callWithProgress, mcpError, reasonOf, tapIncoming, textOf } from "../helpers/client.js";
import { everythingStdio, gatewayConfig, recorderStdio } from "../helpers/configs.js";
import { CLI, makeTempDir, writeConfig } from "../helpers/gateway.js";
import { descendants, isAlive, killPids } from "../helpers/processes.js";
import { readRecords, receivedToolCalls } from "../helpers/records.js";
import { waitFor } from "../helpers/wait.js";

describe("stdio mode", () => {
  let client: Client;
  let transport: StdioClientTransport;
  let recordFile: string;
  const errors: Error[] = [];
  let wire: JSONRPCMessage[] = [];
  const stderr: string[] = [];
  /** The gateway and its children, killed in after() should the gateway fail to stop them. */
  let launched: number[] = [];

  before(async () => {
    const dir = makeTempDir("warden-stdio-");
    recordFile = join(dir, "recorder.jsonl");
    const configFile = writeConfig(
      gatewayConfig(
        [
          everythingStdio(),
          recorderStdio("recorder", recordFile, {
            echo: ["demo:use"],
            deep: ["demo:use"],
            admin_tool: ["admin:all"],
          }),
        ],
        { gateway: { max_json_depth: 8 } },
      ),
      dir,
    );
    transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, "stdio", "-c", configFile],
      cwd: dir,
      env: { ...(process.env as Record<string, string>), WARDEN_TEST_SECRET: "not-for-upstreams" },
      stderr: "pipe",
    });
    transport.stderr?.on("data", (d: Buffer) => stderr.push(d.toString()));
    client = new Client({ name: "warden-stdio-test", version: "1.0.0" }, { capabilities: { sampling: {} } });
    client.onerror = (err) => errors.push(err);
    client.setRequestHandler(CreateMessageRequestSchema, async () => ({
      role: "assistant",
      content: { type: "text", text: "sampled over stdio" },
      model: "warden-test-model",
    }));
    try {
      await client.connect(transport);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- gateway stderr ---\n${stderr.join("")}`);
    } finally {
      if (transport.pid) launched = [transport.pid];
    }
    launched.push(...descendants(transport.pid!));
    wire = tapIncoming(client);
  });

  after(async () => {
    await client?.close();
    // Whatever the gateway failed to stop must not outlive the test.
    killPids(launched);
  });

  test("initialize merges the upstreams' capabilities", () => {
    const caps = client.getServerCapabilities();
    assert.ok(caps?.tools && caps.prompts && caps.resources, JSON.stringify(caps));
  });

  test("tools/list is the aggregate, prefixed and filtered", async () => {
    const names = (await client.listTools()).tools.map((t) => t.name);
    assert.ok(names.includes("everything__echo"), names.join(", "));
    assert.ok(names.includes("recorder__echo"), names.join(", "));
    assert.ok(!names.includes("recorder__secret_tool"), "an unmapped tool is listed");
  });

  test("tools/call", async () => {
    const r = await client.callTool({ name: "everything__echo", arguments: { message: "over stdio" } });
    assert.equal(textOf(r), "Echo: over stdio");
    const r2 = await client.callTool({ name: "recorder__echo", arguments: { message: "recorded" } });
    assert.equal(textOf(r2), "recorder: recorded");
  });

  test("a denied call gets -32001 and never reaches the upstream", async () => {
    const err = await mcpError(() => client.callTool({ name: "recorder__secret_tool", arguments: {} }));
    assert.equal(err.code, -32001);
    assert.equal(reasonOf(err), "tool_not_mapped");
    assert.deepEqual(receivedToolCalls(recordFile, "secret_tool"), []);
  });

  test("missing scopes over stdio: -32001 insufficient_scope with the scopes needed in data", async () => {
    const err = await mcpError(() => client.callTool({ name: "recorder__admin_tool", arguments: {} }));
    assert.equal(err.code, -32001);
    assert.equal(reasonOf(err), "insufficient_scope");
    assert.deepEqual((err.data as { scopes?: string[] }).scopes, ["admin:all"]);
    assert.deepEqual(receivedToolCalls(recordFile, "admin_tool"), []);
  });

  test("JSON nested deeper than max_json_depth → -32600, never forwarded", async () => {
    let value: unknown = "bottom";
    for (let i = 0; i < 40; i++) value = { v: value };
    const err = await mcpError(() => client.callTool({ name: "recorder__deep", arguments: { value } }));
    assert.equal(err.code, -32600, err.message);
    assert.deepEqual(receivedToolCalls(recordFile, "deep"), []);
    const ok = await client.callTool({ name: "recorder__deep", arguments: { value: { a: 1 } } });
    assert.equal(textOf(ok), "deep: ok");
  });

  test("prompts and resources", async () => {
    const p = await client.getPrompt({ name: "everything__simple-prompt" });
    assert.equal(
      p.messages[0]?.content.type === "text" && p.messages[0].content.text,
      "This is a simple prompt without arguments.",
    );
    const r = await client.readResource({ uri: "demo://resource/dynamic/text/2" });
    assert.ok("text" in r.contents[0]!);
    assert.match(String(r.contents[0].text), /^Resource 2: /);
  });

  test("progress and sampling are relayed over stdio", async () => {
    const { progress, late } = await callWithProgress(client, wire, {
      name: "everything__trigger-long-running-operation",
      arguments: { duration: 0.2, steps: 2 },
    });
    assert.deepEqual(
      progress.map((p) => p.progress),
      [1, 2],
    );
    assert.deepEqual(late, []);
    const s = await client.callTool({
      name: "everything__trigger-sampling-request",
      arguments: { prompt: "hi" },
    });
    assert.match(textOf(s), /sampled over stdio/);
  });

  test("stdout carries only JSON-RPC (logs go to stderr)", () => {
    assert.deepEqual(
      // The SDK reports its own notification-dispatch race as an error; that is not a transport fault.
      errors
        .map((e) => e.message)
        .filter((m) => !m.startsWith("Received a progress notification for an unknown token")),
      [],
      "the client saw transport errors: non-JSON on stdout?",
    );
  });

  test("closing the client (stdin, then SIGTERM) stops the gateway and its upstreams", async () => {
    const pid = transport.pid;
    assert.ok(pid);
    const upstreamPid = readRecords(recordFile).find((r) => r.event === "started")?.pid;
    assert.ok(upstreamPid);
    launched.push(...descendants(pid));
    await client.close();
    await waitFor(() => !isAlive(pid), { timeoutMs: 15_000, what: "the stdio gateway to exit" });
    await waitFor(() => !isAlive(upstreamPid), { timeoutMs: 15_000, what: "its upstream to exit" });
  });
});
