// Issue 16's "Show": the official v2 client pinned to 2026-07-28 through the gateway, in front of
// (a) the v2 fixture speaking 2026-07-28 (stdio, and over HTTP where the upstream leg's headers
// matter) and (b) server-everything (legacy); and the v1 client (1.32) through the gateway to a
// fixture that refuses the legacy era altogether. Real gateway, real SDKs on both sides.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connectClient, textOf, type ConnectedClient } from "../helpers/client.js";
import { everythingStdio } from "../helpers/configs.js";
import type { Gateway } from "../helpers/gateway.js";
import { connectModern, type ModernClient, type Notice } from "../helpers/modern-client.js";
import { modernStdio, startModernServer, type ModernServer } from "../helpers/modern-server.js";
import { readRecords } from "../helpers/records.js";
import { freePort } from "../helpers/upstreams.js";
import { gatewayWithUsers, type AuditLine } from "../helpers/users.js";
import { waitFor } from "../helpers/wait.js";

interface Recorded {
  event?: string;
  tool?: string;
  era?: string;
}

const text = (r: unknown) => textOf(r);

describe("the v2 client (2026-07-28) and the v1 client through the gateway", () => {
  let gw: Gateway;
  let audit: () => Promise<AuditLine[]>;
  let remote: ModernServer;
  let records: string;
  let remoteRecords: string;
  let user: string;
  let client: ModernClient;
  let legacyOnModern: ConnectedClient;
  const asked: string[] = [];

  before(async () => {
    const g = await gatewayWithUsers("warden-modern-sdk-", (dir) => {
      records = join(dir, "modern.jsonl");
      remoteRecords = join(dir, "remote.jsonl");
      return {
        servers: [
          {
            ...modernStdio("modern", { "*": ["demo:use"], secret_echo: ["admin"] }, { recordFile: records }),
            isolation: "shared",
          },
          { ...modernStdio("strict", { "*": ["demo:use"] }, { legacy: "reject" }), isolation: "shared" },
          everythingStdio("everything", { isolation: "shared" }),
        ],
      };
    });
    ({ gw, audit } = g);
    user = await g.token("ada");
    remote = await startModernServer({ port: await freePort(), legacy: "reject", recordFile: remoteRecords });
    client = await connectModern(gw.serverUrl("modern"), {
      token: user,
      elicit: (params) => {
        asked.push(String(params.message));
        return { action: "accept", content: { name: "Ada" } };
      },
    });
    legacyOnModern = await connectClient(gw.serverUrl("strict"), {
      headers: { authorization: `Bearer ${user}` },
      elicitation: () => ({ action: "accept", content: { name: "Grace" } }),
    });
  });

  after(async () => {
    await client?.close().catch(() => undefined);
    await legacyOnModern?.close().catch(() => undefined);
    await gw?.stop();
    await remote?.stop();
  });

  test("discover, list, call, read and prompts against a modern upstream", async () => {
    const d = await client.discover();
    assert.ok(d.supportedVersions.includes("2026-07-28"));
    const tools = (await client.listTools()).tools.map((t) => t.name);
    assert.ok(tools.includes("echo") && tools.includes("ask_name"));
    assert.ok(!tools.includes("secret_echo"), "a tool the caller lacks the scope for is not listed");
    assert.equal(text(await client.call("echo", { message: "v2" })), "echo: v2");
    const read = await client.readResource("fixture://readme");
    assert.equal((read.contents[0] as { text?: string }).text, "modern fixture readme");
    const prompt = await client.getPrompt("greet", { name: "Ada" });
    assert.match(JSON.stringify(prompt.messages), /Say hello to Ada/);
    const status = await gw.readyz();
    assert.equal(status.body.upstreams?.modern?.protocol, "modern", "the upstream was probed as modern");
    assert.equal(status.body.upstreams?.everything?.protocol, "legacy");
  });

  test("the same calls against a legacy upstream (server-everything)", async () => {
    const legacy = await connectModern(gw.serverUrl("everything"), { token: user });
    try {
      assert.ok((await legacy.discover()).supportedVersions.includes("2026-07-28"));
      const tools = (await legacy.listTools()).tools.map((t) => t.name);
      assert.ok(tools.includes("echo"));
      assert.equal(text(await legacy.call("echo", { message: "to-legacy" })), "Echo: to-legacy");
      const read = await legacy.readResource("demo://resource/static/document/features.md");
      assert.ok(read.contents.length > 0);
      const prompts = await legacy.client.listPrompts();
      assert.ok(prompts.prompts.length > 0);
    } finally {
      await legacy.close();
    }
  });

  test("an elicitation through input_required, modern on both legs", async () => {
    asked.length = 0;
    assert.equal(text(await client.call("ask_name", {})), "Hello, Ada!");
    assert.deepEqual(asked, ["What is your name?"]);
  });

  test("an elicitation through input_required from a legacy upstream", async () => {
    const answers: string[] = [];
    const legacy = await connectModern(gw.serverUrl("everything"), {
      token: user,
      elicit: (params) => {
        answers.push(String(params.message));
        return { action: "accept", content: { name: "Lin", check: true, integer: 3, number: 2 } };
      },
    });
    try {
      const r = await legacy.call("trigger-elicitation-request", {});
      assert.match(JSON.stringify(r.content), /Lin/);
      assert.equal(answers.length, 1);
    } finally {
      await legacy.close();
    }
  });

  test("progress reaches the caller; closing the stream cancels the call upstream", async () => {
    const progress: number[] = [];
    const done = await client.call(
      "slow",
      { steps: 3, intervalMs: 20 },
      { onprogress: (p: { progress: number }) => progress.push(p.progress) },
    );
    assert.match(text(done), /done after 3 steps/);
    assert.deepEqual(progress, [1, 2, 3]);
    const stop = new AbortController();
    const call = client.call("slow", { steps: 1000, intervalMs: 50 }, { signal: stop.signal });
    await waitFor(() => readRecords(records).filter((r) => (r as Recorded).tool === "slow").length >= 2, {
      what: "the second slow call to reach the upstream",
    });
    stop.abort();
    await assert.rejects(call);
    await waitFor(() => readRecords(records).some((r) => (r as Recorded).event === "cancelled"), {
      what: "the upstream to see its call cancelled",
    });
  });

  test("subscriptions/listen receives a modern upstream's list change", async () => {
    const notices: Notice[] = [];
    const sub = await client.listen({ toolsListChanged: true }, (n) => notices.push(n));
    await client.call("add_tool", { name: "late_tool" });
    await waitFor(() => notices.some((n) => n.method === "notifications/tools/list_changed"), {
      what: "tools/list_changed on the listen stream",
    });
    const tools = (await client.listTools()).tools.map((t) => t.name);
    assert.ok(tools.includes("late_tool"), "the gateway fetched the changed list");
    await sub.close?.();
  });

  test("a denial: 403 step-up with -32001, and the upstream never sees the call", async () => {
    await assert.rejects(client.call("secret_echo", {}), (err: Error & { code?: number }) => {
      assert.match(String(err.message), /insufficient_scope|-32001|scope/i);
      return true;
    });
    const calls = readRecords(records).filter((r) => (r as Recorded).tool === "secret_echo");
    assert.equal(calls.length, 0);
    const denied = (await audit()).find((e) => e.status === "denied" && e.reason === "insufficient_scope");
    assert.equal(denied?.detail?.protocol_version, "2026-07-28");
  });

  test("the v1 client reaches a modern-only upstream, its elicitation translated", async () => {
    const tools = (await legacyOnModern.client.listTools()).tools.map((t) => t.name);
    assert.ok(tools.includes("ask_name"));
    const echo = await legacyOnModern.client.callTool({ name: "echo", arguments: { message: "v1" } });
    assert.equal(text(echo), "echo: v1");
    const hello = await legacyOnModern.client.callTool({ name: "ask_name", arguments: {} });
    assert.equal(text(hello), "Hello, Grace!");
  });

  test("a modern HTTP upstream gets the routing headers it requires", async () => {
    // The fixture is strict about 2026-07-28 headers: a call without Mcp-Method/Mcp-Name fails there.
    const g = await gatewayWithUsers("warden-modern-http-", () => ({
      servers: [{ name: "remote", url: remote.url, tools: { "*": ["demo:use"] }, isolation: "shared" }],
    }));
    try {
      const token = await g.token("ada");
      const v2 = await connectModern(g.gw.serverUrl("remote"), { token });
      try {
        assert.equal(text(await v2.call("echo", { message: "over http" })), "echo: over http");
      } finally {
        await v2.close();
      }
      const v1 = await connectClient(g.gw.serverUrl("remote"), {
        headers: { authorization: `Bearer ${token}` },
      });
      try {
        const r = await v1.client.callTool({ name: "add", arguments: { a: 2, b: 3 } });
        assert.equal(text(r), "5");
      } finally {
        await v1.close();
      }
      assert.ok(readRecords(remoteRecords).some((r) => (r as Recorded).tool === "add"));
    } finally {
      await g.gw.stop();
    }
  });
});
