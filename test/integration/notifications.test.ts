// Server→client notifications relayed through the gateway (logging, progress, resource updates,
// list_changed) and client→server cancellation relayed upstream.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Notification } from "@modelcontextprotocol/sdk/types.js";
import { callWithProgress, connectClient, textOf, type ConnectedClient } from "../helpers/client.js";
import { changingStdio, everythingStdio, gatewayConfig, recorderStdio } from "../helpers/configs.js";
import { makeTempDir, startGateway, type Gateway } from "../helpers/gateway.js";
import { readRecords, receivedMessages } from "../helpers/records.js";
import { waitFor, within } from "../helpers/wait.js";

const FEATURES_DOC = "demo://resource/static/document/features.md";

describe("notifications and cancellation through the gateway", () => {
  let gw: Gateway;
  let recordFile: string;
  const clients: ConnectedClient[] = [];

  before(async () => {
    recordFile = join(makeTempDir("warden-rec-"), "recorder.jsonl");
    gw = await startGateway(
      gatewayConfig([
        everythingStdio(),
        changingStdio(),
        recorderStdio("recorder", recordFile, { slow: ["demo:use"], echo: ["demo:use"] }),
      ]),
    );
  });

  after(async () => {
    for (const c of clients) await c.close();
    await gw?.stop();
  });

  async function connect(url = gw.mcpUrl) {
    const c = await connectClient(url);
    clients.push(c);
    return c;
  }

  test("logging/setLevel is accepted and upstream log messages reach the client", async () => {
    const c = await connect();
    await c.standaloneStream;
    await c.client.setLoggingLevel("debug");
    const started = await c.client.callTool({ name: "everything__toggle-simulated-logging", arguments: {} });
    assert.match(textOf(started), /Started simulated/);
    try {
      // server-everything sends one message at once, then one every 5 s.
      const msg = await c.waitForNotification("notifications/message");
      const params = msg.params as { level?: string; data?: unknown };
      assert.ok(params.level, "a log message has a level");
      assert.match(String(params.data), /-level message|level-message/);
    } finally {
      await c.client.callTool({ name: "everything__toggle-simulated-logging", arguments: {} });
    }
  });

  test("progress notifications of a long-running tool reach the caller, before the result", async () => {
    const c = await connect();
    const { result, progress, late } = await callWithProgress(c.client, c.wire, {
      name: "everything__trigger-long-running-operation",
      arguments: { duration: 0.3, steps: 3 },
    });
    assert.match(textOf(result), /Long running operation completed/);
    assert.deepEqual(progress, [
      { progress: 1, total: 3 },
      { progress: 2, total: 3 },
      { progress: 3, total: 3 },
    ]);
    assert.deepEqual(late, [], "progress relayed after the result");
  });

  test("progress notifications on a per-server endpoint", async () => {
    const c = await connect(gw.serverUrl("everything"));
    const { progress, late } = await callWithProgress(c.client, c.wire, {
      name: "trigger-long-running-operation",
      arguments: { duration: 0.2, steps: 2 },
    });
    assert.deepEqual(
      progress.map((p) => p.progress),
      [1, 2],
    );
    assert.deepEqual(late, []);
  });

  test("notifications/resources/updated reaches the subscribed session", async () => {
    const c = await connect();
    await c.standaloneStream;
    await c.client.subscribeResource({ uri: FEATURES_DOC });
    // The toggle sends an update for every subscribed URI at once, then every 5 s.
    await c.client.callTool({ name: "everything__toggle-subscriber-updates", arguments: {} });
    try {
      const n = await c.waitForNotification("notifications/resources/updated");
      assert.equal((n.params as { uri?: string }).uri, FEATURES_DOC);
    } finally {
      await c.client.callTool({ name: "everything__toggle-subscriber-updates", arguments: {} });
      await c.client.unsubscribeResource({ uri: FEATURES_DOC });
    }
  });

  describe("list_changed", () => {
    // Each session has its own connection to each upstream, so the session whose upstream's list
    // changed is the one told. server-everything also sends tools/list_changed right after its own
    // initialize, so each test first lets those arrive and only counts notifications that follow.
    async function settled(url: string) {
      const c = await connect(url);
      await within(c.standaloneStream, 15_000, "the GET stream to open");
      await c.client.listTools();
      return { c, seen: c.notifications.length };
    }

    const changedSince = (c: ConnectedClient, seen: number, kind: string) =>
      waitFor(
        () =>
          c.notifications
            .slice(seen)
            .find((n: Notification) => n.method === `notifications/${kind}/list_changed`),
        {
          what: `notifications/${kind}/list_changed`,
        },
      );

    test("tools/list_changed is relayed, and the new tool is listed and callable", async () => {
      const { c, seen } = await settled(gw.mcpUrl);
      assert.ok(!(await c.client.listTools()).tools.some((t) => t.name === "changing__dyn_tool"));
      await c.client.callTool({ name: "changing__add_tool", arguments: { name: "dyn_tool" } });
      await changedSince(c, seen, "tools");
      const names = (await c.client.listTools()).tools.map((t) => t.name);
      assert.ok(names.includes("changing__dyn_tool"), names.join(", "));
      assert.equal(
        textOf(await c.client.callTool({ name: "changing__dyn_tool", arguments: {} })),
        "I am dyn_tool",
      );
    });

    test("tools/list_changed on a per-server endpoint", async () => {
      const { c, seen } = await settled(gw.serverUrl("changing"));
      await c.client.callTool({ name: "add_tool", arguments: { name: "direct_tool" } });
      await changedSince(c, seen, "tools");
      const names = (await c.client.listTools()).tools.map((t) => t.name);
      assert.ok(names.includes("direct_tool"), names.join(", "));
    });

    test("prompts/list_changed is relayed and the new prompt is listed", async () => {
      const { c, seen } = await settled(gw.mcpUrl);
      await c.client.callTool({ name: "changing__add_prompt", arguments: { name: "dyn_prompt" } });
      await changedSince(c, seen, "prompts");
      const names = (await c.client.listPrompts()).prompts.map((p) => p.name);
      assert.ok(names.includes("changing__dyn_prompt"), names.join(", "));
      const p = await c.client.getPrompt({ name: "changing__dyn_prompt" });
      assert.equal(p.messages[0]?.content.type === "text" && p.messages[0].content.text, "prompt dyn_prompt");
    });

    test("resources/list_changed is relayed and the new resource is listed and readable", async () => {
      const { c, seen } = await settled(gw.mcpUrl);
      // Read one resource first, so that a gateway caching which server owns which URI has a cache.
      await c.client.readResource({ uri: "changing://static/base" });
      await c.client.callTool({ name: "changing__add_resource", arguments: { name: "dyn_res" } });
      await changedSince(c, seen, "resources");
      const uris = (await c.client.listResources()).resources.map((r) => r.uri);
      assert.ok(uris.includes("changing://dynamic/dyn_res"), uris.join(", "));
      const r = await c.client.readResource({ uri: "changing://dynamic/dyn_res" });
      assert.equal("text" in r.contents[0]! && r.contents[0].text, "resource dyn_res");
    });
  });

  describe("cancellation", () => {
    test("a client's notifications/cancelled is forwarded upstream with the upstream's request id", async () => {
      const c = await connect();
      const label = `cancel-${process.pid}`;
      const controller = new AbortController();
      const call = c.client
        .callTool({ name: "recorder__slow", arguments: { label } }, undefined, { signal: controller.signal })
        .then(
          () => "resolved",
          () => "rejected",
        );
      const started = await waitFor(
        () =>
          readRecords(recordFile).find((r) => r.event === "tool" && r.tool === "slow" && r.label === label),
        { what: "the upstream to start the slow call" },
      );
      controller.abort("test cancels");
      assert.equal(await call, "rejected", "an aborted call rejects on the client");

      const cancelled = await waitFor(
        () =>
          receivedMessages(recordFile).find(
            (m) => m.method === "notifications/cancelled" && m.params?.requestId === started.requestId,
          ),
        { what: "notifications/cancelled for the upstream request id to reach the upstream" },
      );
      assert.ok(cancelled);
      await waitFor(
        () => readRecords(recordFile).find((r) => r.event === "aborted" && r.requestId === started.requestId),
        { what: "the upstream handler to observe the abort" },
      );
      // The session still works after a cancellation.
      assert.equal(
        textOf(await c.client.callTool({ name: "recorder__echo", arguments: { message: "after" } })),
        "recorder: after",
      );
    });
  });
});
