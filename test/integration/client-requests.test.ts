// Server→client requests (sampling, elicitation, roots) relayed through the gateway to the client
// session whose call caused them, and the client's answers relayed back.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { CreateMessageRequest, CreateMessageResult } from "@modelcontextprotocol/sdk/types.js";
import { connectClient, textOf, type ConnectedClient, type ConnectOptions } from "../helpers/client.js";
import { changingStdio, everythingStdio, gatewayConfig } from "../helpers/configs.js";
import { startGateway, type Gateway } from "../helpers/gateway.js";
import { waitFor } from "../helpers/wait.js";

function promptText(req: CreateMessageRequest): string {
  const content = req.params.messages[0]?.content;
  return content && !Array.isArray(content) && content.type === "text" ? content.text : "";
}

function sampled(text: string): CreateMessageResult {
  return {
    role: "assistant",
    content: { type: "text", text },
    model: "warden-test-model",
    stopReason: "endTurn",
  };
}

describe("server→client requests through the gateway", () => {
  let gw: Gateway;
  const clients: ConnectedClient[] = [];

  before(async () => {
    gw = await startGateway(gatewayConfig([everythingStdio(), changingStdio()]));
  });

  after(async () => {
    for (const c of clients) await c.close();
    await gw?.stop();
  });

  async function connect(opts: ConnectOptions, url = gw.mcpUrl) {
    const c = await connectClient(url, opts);
    clients.push(c);
    return c;
  }

  test("sampling/createMessage round trip", async () => {
    const c = await connect({ sampling: (req) => sampled(`sampled answer to <${promptText(req)}>`) });
    const result = await c.client.callTool({
      name: "everything__trigger-sampling-request",
      arguments: { prompt: "marker-sampling-1", maxTokens: 10 },
    });
    assert.equal(c.requests.length, 1, "the client received exactly one sampling request");
    const req = c.requests[0]!;
    assert.equal(req.method, "sampling/createMessage");
    assert.match(JSON.stringify(req.params), /marker-sampling-1/);
    assert.match(textOf(result), /sampled answer to <[^>]*marker-sampling-1>/);
    assert.match(textOf(result), /warden-test-model/);
  });

  test("sampling round trip on a per-server endpoint", async () => {
    const c = await connect(
      { sampling: (req) => sampled(`per-server <${promptText(req)}>`) },
      gw.serverUrl("everything"),
    );
    const result = await c.client.callTool({
      name: "trigger-sampling-request",
      arguments: { prompt: "marker-sampling-2", maxTokens: 10 },
    });
    assert.match(textOf(result), /per-server <[^>]*marker-sampling-2>/);
  });

  test("elicitation/create round trip (accept)", async () => {
    const c = await connect({
      elicitation: () => ({ action: "accept", content: { name: "Ada Lovelace", check: true } }),
    });
    const result = await c.client.callTool({
      name: "everything__trigger-elicitation-request",
      arguments: {},
    });
    assert.equal(c.requests.length, 1);
    assert.equal(c.requests[0]!.method, "elicitation/create");
    assert.match(JSON.stringify(c.requests[0]!.params), /requestedSchema/);
    assert.match(textOf(result), /- Name: Ada Lovelace/);
    assert.match(textOf(result), /- Agreed to terms: true/);
  });

  test("elicitation/create round trip (decline)", async () => {
    const c = await connect({ elicitation: () => ({ action: "decline" }) });
    const result = await c.client.callTool({
      name: "everything__trigger-elicitation-request",
      arguments: {},
    });
    assert.match(textOf(result), /declined/);
  });

  test("roots/list round trip, asked inside a call", async () => {
    const c = await connect({ roots: [{ uri: "file:///tmp/warden-root-inside", name: "inside" }] });
    const result = await c.client.callTool({ name: "changing__ask_roots", arguments: {} });
    assert.deepEqual(JSON.parse(textOf(result)), [{ uri: "file:///tmp/warden-root-inside", name: "inside" }]);
  });

  test("roots/list round trip with server-everything's get-roots-list", async () => {
    const c = await connect({
      roots: [{ uri: "file:///tmp/warden-root-everything", name: "everything-root" }],
    });
    const result = await c.client.callTool({ name: "everything__get-roots-list", arguments: {} });
    assert.match(textOf(result), /file:\/\/\/tmp\/warden-root-everything/);
  });

  test("notifications/roots/list_changed from the client reaches the upstream, which asks again", async () => {
    const roots = [{ uri: "file:///tmp/warden-root-first", name: "first" }];
    const c = await connect({ roots });
    const first = await c.client.callTool({ name: "everything__get-roots-list", arguments: {} });
    assert.match(textOf(first), /warden-root-first/);
    roots.push({ uri: "file:///tmp/warden-root-second", name: "second" });
    const asked = c.requests.filter((r) => r.method === "roots/list").length;
    await c.client.sendRootsListChanged();
    await waitFor(() => c.requests.filter((r) => r.method === "roots/list").length > asked, {
      what: "the upstream to ask for the roots again",
    });
    const second = await waitFor(
      async () => {
        const r = textOf(await c.client.callTool({ name: "everything__get-roots-list", arguments: {} }));
        return /warden-root-second/.test(r) ? r : undefined;
      },
      { what: "get-roots-list to show the new root" },
    );
    assert.match(second, /warden-root-first/);
  });

  describe("two concurrent sessions each get their own requests", () => {
    /** Holds every caller until all `n` have arrived (bounded), so the calls overlap upstream. */
    function barrier(n: number) {
      let arrived = 0;
      return async () => {
        arrived += 1;
        await waitFor(() => arrived >= n, {
          timeoutMs: 15_000,
          what: `${n} server→client requests in flight at once (the gateway serialised the sessions)`,
        });
      };
    }

    test("sampling", async () => {
      const meet = barrier(2);
      const seen: Record<string, string[]> = { a: [], b: [] };
      const make = (who: "a" | "b") =>
        connect({
          name: `client-${who}`,
          sampling: async (req) => {
            seen[who]!.push(promptText(req));
            await meet();
            return sampled(`answer-from-${who}`);
          },
        });
      const [a, b] = await Promise.all([make("a"), make("b")]);
      const [ra, rb] = await Promise.all([
        a.client.callTool({
          name: "everything__trigger-sampling-request",
          arguments: { prompt: "prompt-of-a" },
        }),
        b.client.callTool({
          name: "everything__trigger-sampling-request",
          arguments: { prompt: "prompt-of-b" },
        }),
      ]);
      assert.equal(seen.a!.length, 1, `client a got ${seen.a!.length} sampling requests`);
      assert.equal(seen.b!.length, 1, `client b got ${seen.b!.length} sampling requests`);
      assert.match(seen.a![0]!, /prompt-of-a/, "client a was asked to sample b's prompt");
      assert.match(seen.b![0]!, /prompt-of-b/, "client b was asked to sample a's prompt");
      assert.match(textOf(ra), /answer-from-a/);
      assert.doesNotMatch(textOf(ra), /answer-from-b/);
      assert.match(textOf(rb), /answer-from-b/);
      assert.doesNotMatch(textOf(rb), /answer-from-a/);
    });

    test("roots", async () => {
      const [a, b] = await Promise.all([
        connect({ name: "roots-a", roots: [{ uri: "file:///tmp/warden-root-a", name: "a" }] }),
        connect({ name: "roots-b", roots: [{ uri: "file:///tmp/warden-root-b", name: "b" }] }),
      ]);
      const [ra, rb] = await Promise.all([
        a.client.callTool({ name: "changing__ask_roots", arguments: {} }),
        b.client.callTool({ name: "changing__ask_roots", arguments: {} }),
      ]);
      assert.deepEqual(JSON.parse(textOf(ra)), [{ uri: "file:///tmp/warden-root-a", name: "a" }]);
      assert.deepEqual(JSON.parse(textOf(rb)), [{ uri: "file:///tmp/warden-root-b", name: "b" }]);
    });

    test("elicitation", async () => {
      const meet = barrier(2);
      const make = (who: string) =>
        connect({
          name: `elicit-${who}`,
          elicitation: async () => {
            await meet();
            return { action: "accept", content: { name: `person-${who}` } };
          },
        });
      const [a, b] = await Promise.all([make("a"), make("b")]);
      const [ra, rb] = await Promise.all([
        a.client.callTool({ name: "everything__trigger-elicitation-request", arguments: {} }),
        b.client.callTool({ name: "everything__trigger-elicitation-request", arguments: {} }),
      ]);
      assert.equal(a.requests.length, 1);
      assert.equal(b.requests.length, 1);
      assert.match(textOf(ra), /- Name: person-a/);
      assert.match(textOf(rb), /- Name: person-b/);
    });
  });
});
