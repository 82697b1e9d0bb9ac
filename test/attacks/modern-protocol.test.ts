/* eslint-disable @typescript-eslint/no-explicit-any -- wire messages are read loosely in assertions */
// Issue 16 (MCP 2026-07-28 callers), visible attacks: header/body smuggling (another tool in
// Mcp-Name, case, duplicates, base64 sentinels, whitespace, Mcp-Param-* omitted or mismatched),
// era confusion (modern _meta on a legacy session, another user's session id on a modern request,
// batches, cancellations of another caller's call), requestState abuse (bit flips, truncation,
// another user, another tool, other arguments, another server, replay, a race of two retries, a
// huge state, a state on tools/list), cross-caller leaks (private lists, listen streams, the same
// JSON-RPC ids at once) and removed methods. Every denial asserts its code and that the upstream
// (fixtures/modern-recorder-server.mjs, which records all it receives) never saw the call.
// The held-out half is attacks-held-out/modern-protocol.attack.ts.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { openGetStream, openRawSession, raw } from "../helpers/http.js";
import { answer, MODERN, modern, modernRequest, openModern } from "../helpers/modern-raw.js";
import { receivedMessages } from "../helpers/records.js";
import {
  assertBadState,
  assertRefused,
  b64,
  callTool,
  flip,
  killAndWait,
  pending,
  rawPost,
  retry,
  sameBytes,
  startBed,
  textOf,
  upstreamAnswers,
  upstreamCalls,
  upstreamSaw,
  type Bed,
} from "./fixtures/modern-attack-lib.js";

let bed: Bed;
let id = 1000;
const next = () => ++id;

before(async () => {
  bed = await startBed("warden-modern-attacks-");
  // Warm both upstreams so that no test races their start.
  for (const server of ["rec", "rec2"]) {
    const r = await callTool(bed.url(server), bed.tokens.alice, next(), "echo", { message: "warm" });
    assert.match(textOf(r), /echo: warm/, r.text.slice(0, 300));
  }
});
after(async () => {
  await bed?.gw.stop();
});

describe("header/body smuggling", () => {
  test("Mcp-Name naming a harmless tool while the body calls admin_tool: 400 -32020, never upstream", async () => {
    const r = await callTool(
      bed.url(),
      bed.tokens.carol,
      next(),
      "admin_tool",
      {},
      { headers: { "mcp-name": "echo" } },
    );
    assertRefused(r, 400, -32020);
    assert.equal(upstreamCalls(bed, "admin_tool").length, 0);
  });

  test("Mcp-Name naming an allowed tool while the body calls an unmapped one: 400 -32020", async () => {
    const r = await callTool(
      bed.url(),
      bed.tokens.alice,
      next(),
      "secret_tool",
      {},
      { headers: { "mcp-name": "echo" } },
    );
    assertRefused(r, 400, -32020);
    assert.equal(upstreamCalls(bed, "secret_tool").length, 0);
  });

  test("header value in another case than the body (values are case-sensitive): 400 -32020", async () => {
    const r = await callTool(
      bed.url(),
      bed.tokens.alice,
      next(),
      "echo",
      { message: "case-games" },
      { headers: { "mcp-name": "ECHO" } },
    );
    assertRefused(r, 400, -32020);
    assert.equal(upstreamSaw(bed, "case-games"), false);
  });

  test("two Mcp-Name headers (the first matching the body): 400 -32020", async () => {
    const { headers, body } = modernRequest({
      id: next(),
      method: "tools/call",
      token: bed.tokens.carol,
      params: { name: "admin_tool", arguments: {} },
    });
    const r = await rawPost(bed.url(), { ...headers, "mcp-name": ["admin_tool", "echo"] }, body);
    assertRefused(r, 400, -32020);
    assert.equal(upstreamCalls(bed, "admin_tool").length, 0);
  });

  test("Mcp-Method naming tools/list on a tools/call body: 400 -32020", async () => {
    const r = await callTool(
      bed.url(),
      bed.tokens.alice,
      next(),
      "echo",
      { message: "method-smuggle" },
      { headers: { "mcp-method": "tools/list" } },
    );
    assertRefused(r, 400, -32020);
    assert.equal(upstreamSaw(bed, "method-smuggle"), false);
  });

  test("tools/call without Mcp-Name: 400 -32020", async () => {
    const r = await callTool(
      bed.url(),
      bed.tokens.alice,
      next(),
      "echo",
      { message: "no-name" },
      { headers: { "mcp-name": "" } },
    );
    assertRefused(r, 400, -32020);
    assert.equal(upstreamSaw(bed, "no-name"), false);
  });

  test("a base64 sentinel decoding to another tool: 400 -32020; the right one is served", async () => {
    const bad = await callTool(
      bed.url(),
      bed.tokens.carol,
      next(),
      "admin_tool",
      {},
      { headers: { "mcp-name": b64("echo") } },
    );
    assertRefused(bad, 400, -32020);
    assert.equal(upstreamCalls(bed, "admin_tool").length, 0);
    const good = await callTool(
      bed.url(),
      bed.tokens.alice,
      next(),
      "echo",
      { message: "b64-ok" },
      { headers: { "mcp-name": b64("echo") } },
    );
    assert.match(textOf(good), /echo: b64-ok/, good.text.slice(0, 300));
  });

  test("a body name with a trailing space against a plain header: 400 -32020", async () => {
    const r = await callTool(
      bed.url(),
      bed.tokens.alice,
      next(),
      "echo ",
      { message: "ws-name" },
      { headers: { "mcp-name": "echo" } },
    );
    assertRefused(r, 400, -32020);
    assert.equal(upstreamSaw(bed, "ws-name"), false);
  });

  test("Mcp-Param-Region omitted, or naming another region: 400 -32020", async () => {
    const omitted = await callTool(bed.url(), bed.tokens.alice, next(), "sql", {
      region: "eu",
      query: "q-omitted",
    });
    assertRefused(omitted, 400, -32020);
    const other = await callTool(
      bed.url(),
      bed.tokens.alice,
      next(),
      "sql",
      { region: "eu", query: "q-other" },
      { headers: { "mcp-param-region": "us" } },
    );
    assertRefused(other, 400, -32020);
    assert.equal(upstreamSaw(bed, "q-omitted") || upstreamSaw(bed, "q-other"), false);
  });

  test("Mcp-Param-Limit 11 for a body limit of 10: 400 -32020; 10 is served", async () => {
    const bad = await callTool(
      bed.url(),
      bed.tokens.alice,
      next(),
      "sql",
      { region: "eu", limit: 10, query: "q-limit" },
      { headers: { "mcp-param-region": "eu", "mcp-param-limit": "11" } },
    );
    assertRefused(bad, 400, -32020);
    assert.equal(upstreamSaw(bed, "q-limit"), false);
    const good = await callTool(
      bed.url(),
      bed.tokens.alice,
      next(),
      "sql",
      { region: "eu", limit: 10, query: "q-limit-ok" },
      { headers: { "mcp-param-region": "eu", "mcp-param-limit": "10" } },
    );
    assert.match(textOf(good), /q-limit-ok/, good.text.slice(0, 300));
  });

  test("Mcp-Param-Region as a base64 sentinel of another value: 400 -32020", async () => {
    const r = await callTool(
      bed.url(),
      bed.tokens.alice,
      next(),
      "sql",
      { region: "eu", query: "q-b64" },
      { headers: { "mcp-param-region": b64("us") } },
    );
    assertRefused(r, 400, -32020);
    assert.equal(upstreamSaw(bed, "q-b64"), false);
  });
});

describe("header/body smuggling, more shapes", () => {
  test("on the aggregate, an unprefixed Mcp-Name for a prefixed body name: 400 -32020", async () => {
    const r = await callTool(
      bed.gw.mcpUrl,
      bed.tokens.carol,
      next(),
      "rec__admin_tool",
      {},
      { headers: { "mcp-name": "admin_tool" } },
    );
    assertRefused(r, 400, -32020);
    assert.equal(upstreamCalls(bed, "admin_tool").length, 0);
  });

  test("Mcp-Param-Region naming a region the body does not carry: 400 -32020", async () => {
    const r = await callTool(
      bed.url(),
      bed.tokens.alice,
      next(),
      "sql",
      { query: "q-phantom" },
      { headers: { "mcp-param-region": "eu" } },
    );
    assertRefused(r, 400, -32020);
    assert.equal(upstreamSaw(bed, "q-phantom"), false);
  });

  test('Mcp-Param-Region "null" for a body region of null: 400 -32020', async () => {
    const r = await callTool(
      bed.url(),
      bed.tokens.alice,
      next(),
      "sql",
      { region: null, query: "q-null" },
      { headers: { "mcp-param-region": "null" } },
    );
    assertRefused(r, 400, -32020);
    assert.equal(upstreamSaw(bed, "q-null"), false);
  });

  test("Mcp-Method tools/list on a subscriptions/listen body: 400 -32020", async () => {
    const r = await modern(bed.url(), {
      id: next(),
      method: "subscriptions/listen",
      token: bed.tokens.alice,
      params: { notifications: { toolsListChanged: true } },
      headers: { "mcp-method": "tools/list" },
    });
    assertRefused(r, 400, -32020);
  });
});

describe("era confusion", () => {
  test("unknown version in header and body: 400 -32022, never upstream", async () => {
    const r = await callTool(
      bed.url(),
      bed.tokens.alice,
      next(),
      "echo",
      { message: "v2099" },
      {
        headers: { "mcp-protocol-version": "2099-01-01" },
        params: { _meta: { "io.modelcontextprotocol/protocolVersion": "2099-01-01" } },
      },
    );
    assertRefused(r, 400, -32022);
    assert.equal(upstreamSaw(bed, "v2099"), false);
  });

  test("removed methods: 404 -32601 (ping, logging/setLevel, resources/subscribe)", async () => {
    for (const [method, params] of [
      ["ping", {}],
      ["logging/setLevel", { level: "debug" }],
      ["resources/subscribe", { uri: "mem://secret/keys" }],
    ] as const) {
      const r = await modern(bed.url(), { id: next(), method, token: bed.tokens.alice, params });
      assertRefused(r, 404, -32601);
    }
    assert.equal(upstreamSaw(bed, "resources/subscribe"), false);
  });

  test("on the aggregate: an unknown version 400 -32022, removed methods 404 -32601", async () => {
    const v = await modern(bed.gw.mcpUrl, {
      id: next(),
      method: "tools/list",
      token: bed.tokens.alice,
      headers: { "mcp-protocol-version": "2026-07-29" },
      params: { _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-29" } },
    });
    assertRefused(v, 400, -32022);
    for (const method of ["ping", "resources/unsubscribe", "logging/setLevel"]) {
      const r = await modern(bed.gw.mcpUrl, {
        id: next(),
        method,
        token: bed.tokens.alice,
        params: { uri: "mem://public/readme", level: "debug" },
      });
      assertRefused(r, 404, -32601);
    }
  });

  test("GET and DELETE without a legacy session: 405", async () => {
    const get = await openGetStream(bed.url(), {
      authorization: `Bearer ${bed.tokens.alice}`,
      "mcp-protocol-version": MODERN,
    });
    get.close();
    assert.equal(get.status, 405);
    const del = await raw(bed.url(), {
      method: "DELETE",
      headers: { authorization: `Bearer ${bed.tokens.alice}`, "mcp-protocol-version": MODERN },
    });
    assert.equal(del.status, 405);
  });

  test("a modern _meta on a legacy session does not get past policy", async () => {
    const s = await openRawSession(bed.url(), { headers: { authorization: `Bearer ${bed.tokens.alice}` } });
    const { body } = modernRequest({
      id: next(),
      method: "tools/call",
      params: { name: "admin_tool", arguments: {} },
    });
    const r = await s.post(body, { "mcp-method": "tools/call", "mcp-name": "admin_tool" });
    assert.ok(r.status === 403 || [-32001, -32020].includes(errorOf(r).code), r.text.slice(0, 300));
    assert.equal(upstreamCalls(bed, "admin_tool").length, 0);
  });

  test("bob's modern request carrying alice's legacy session id is never served as alice", async () => {
    const s = await openRawSession(bed.url(), { headers: { authorization: `Bearer ${bed.tokens.alice}` } });
    const r = await callTool(
      bed.url(),
      bed.tokens.bob,
      next(),
      "echo",
      { message: "foreign-session" },
      {
        headers: { "mcp-session-id": s.sessionId },
      },
    );
    const events = (await bed.audit()).filter((e) => JSON.stringify(e).includes("foreign-session"));
    for (const e of events) assert.notEqual(e.principal?.sub, "alice", JSON.stringify(e));
    if (answer(r).result) assert.ok(events.every((e) => e.principal?.sub === "bob"));
  });

  test("a batch of modern requests smuggling admin_tool behind echo's headers: refused, never upstream", async () => {
    const a = JSON.parse(
      modernRequest({
        id: next(),
        method: "tools/call",
        params: { name: "echo", arguments: { message: "batch" } },
      }).body,
    );
    const b = JSON.parse(
      modernRequest({ id: next(), method: "tools/call", params: { name: "admin_tool", arguments: {} } }).body,
    );
    const { headers } = modernRequest({
      id: 0,
      method: "tools/call",
      token: bed.tokens.carol,
      params: { name: "echo" },
    });
    const r = await rawPost(bed.url(), headers, JSON.stringify([a, b]));
    assert.ok(r.status >= 400, `status ${r.status}: ${r.text.slice(0, 300)}`);
    assert.equal(upstreamCalls(bed, "admin_tool").length, 0);
  });

  test("a modern notifications/cancelled naming bob's request id does not cancel bob's call", async () => {
    const callId = next();
    const label = `bob-slow-${callId}`;
    const stream = openModern(bed.url(), {
      id: callId,
      method: "tools/call",
      token: bed.tokens.bob,
      params: { name: "slow", arguments: { label } },
    });
    try {
      await waitUntil(() => upstreamCalls(bed, "slow").some((m) => JSON.stringify(m).includes(label)));
      const n = modernRequest({
        id: 0,
        method: "notifications/cancelled",
        token: bed.tokens.alice,
        params: { requestId: callId, reason: "not yours" },
      });
      const { id: _drop, ...note } = JSON.parse(n.body) as Record<string, unknown>;
      void _drop;
      const cancel = await rawPost(bed.url(), n.headers, JSON.stringify(note));
      assert.ok(cancel.status < 500);
      await sleep(500);
      assert.equal(upstreamSaw(bed, "not yours"), false, "alice's cancellation reached the upstream");
    } finally {
      stream.close();
    }
  });
});

describe("requestState abuse", () => {
  test("a bit flipped in the header, the middle or near the end: -32602 invalid_request_state, no answer upstream", async () => {
    const p = await pending(bed, bed.tokens.alice, next(), "flip");
    const before = upstreamAnswers(bed).length;
    for (const at of [0, Math.floor(p.state.length / 2), p.state.length - 2]) {
      assertBadState(
        await retry(bed, bed.tokens.alice, next(), "flip", { ...p, state: flip(p.state, at) }, "flipped"),
      );
    }
    assert.equal(upstreamAnswers(bed).length, before);
    assert.equal(upstreamSaw(bed, "flipped"), false);
  });

  test(
    "the last character changed to another spelling of the same bytes: refused",
    {
      todo: "finding: the state's last base64url character carries unused bits; a changed string that decodes to the same bytes is accepted (a tampered string is served)",
    },
    async () => {
      const p = await pending(bed, bed.tokens.alice, next(), "last-char");
      const r = await retry(
        bed,
        bed.tokens.alice,
        next(),
        "last-char",
        { ...p, state: sameBytes(p.state) },
        "last-flipped",
      );
      assertBadState(r);
      assert.equal(upstreamSaw(bed, "last-flipped"), false);
    },
  );

  test("truncated and doubled states: refused", async () => {
    const p = await pending(bed, bed.tokens.alice, next(), "trunc");
    assertBadState(
      await retry(bed, bed.tokens.alice, next(), "trunc", { ...p, state: p.state.slice(0, -4) }, "truncated"),
    );
    assertBadState(
      await retry(bed, bed.tokens.alice, next(), "trunc", { ...p, state: p.state + p.state }, "doubled"),
    );
    assertBadState(await retry(bed, bed.tokens.alice, next(), "trunc", { ...p, state: "" }, "empty"));
    assert.equal(
      upstreamSaw(bed, "truncated") || upstreamSaw(bed, "doubled") || upstreamSaw(bed, "empty"),
      false,
    );
  });

  test("alice's state presented by bob: refused and audited", async () => {
    const p = await pending(bed, bed.tokens.alice, next(), "foreign");
    const r = await retry(bed, bed.tokens.bob, next(), "foreign", p, "bob-answers-for-alice");
    assertBadState(r);
    assert.equal(upstreamSaw(bed, "bob-answers-for-alice"), false);
    const events = await bed.audit();
    assert.ok(
      events.some((e) => e.reason === "invalid_request_state" && e.principal?.sub === "bob"),
      "the refusal is audited under bob",
    );
  });

  test("a state for ask presented on ask_other: refused", async () => {
    const p = await pending(bed, bed.tokens.alice, next(), "cross-tool");
    assertBadState(
      await retry(bed, bed.tokens.alice, next(), "cross-tool", p, "wrong-tool", { tool: "ask_other" }),
    );
    assert.equal(upstreamSaw(bed, "wrong-tool"), false);
  });

  test("a state presented with other arguments: refused", async () => {
    const p = await pending(bed, bed.tokens.alice, next(), "args-a");
    assertBadState(await retry(bed, bed.tokens.alice, next(), "args-b", p, "other-args"));
    assert.equal(upstreamSaw(bed, "other-args"), false);
  });

  test("a state from server rec presented on rec2's route: refused", async () => {
    const p = await pending(bed, bed.tokens.alice, next(), "cross-server");
    assertBadState(
      await retry(bed, bed.tokens.alice, next(), "cross-server", p, "wrong-server", { server: "rec2" }),
    );
    assert.equal(upstreamSaw(bed, "wrong-server", "rec2") || upstreamSaw(bed, "wrong-server"), false);
  });

  test("a state used once succeeds; replayed afterwards it is refused", async () => {
    const p = await pending(bed, bed.tokens.alice, next(), "replay");
    const ok = await retry(bed, bed.tokens.alice, next(), "replay", p, "first-use");
    assert.match(textOf(ok), /first-use/, ok.text.slice(0, 300));
    assertBadState(await retry(bed, bed.tokens.alice, next(), "replay", p, "second-use"));
    assert.equal(upstreamSaw(bed, "second-use"), false);
  });

  test("two retries with one state at once: at most one reaches the upstream", async () => {
    const p = await pending(bed, bed.tokens.alice, next(), "race");
    const [a, b] = await Promise.all([
      retry(bed, bed.tokens.alice, next(), "race", p, "race-one"),
      retry(bed, bed.tokens.alice, next(), "race", p, "race-two"),
    ]);
    const served = [a, b].filter((r) => answer(r).result?.resultType === "complete" || textOf(r) !== "");
    assert.ok(served.length <= 1, `${a.text.slice(0, 200)} | ${b.text.slice(0, 200)}`);
    const seen = ["race-one", "race-two"].filter((t) => upstreamSaw(bed, t));
    assert.ok(seen.length <= 1, `upstream saw ${seen.join(", ")}`);
  });

  test("a 1 MB state: refused, never upstream", async () => {
    const p = await pending(bed, bed.tokens.alice, next(), "huge");
    const r = await retry(
      bed,
      bed.tokens.alice,
      next(),
      "huge",
      { ...p, state: p.state + "A".repeat(1 << 20) },
      "huge-state",
    );
    assert.ok(r.status === 413 || errorOf(r).code === -32602, r.text.slice(0, 300));
    assert.equal(upstreamSaw(bed, "huge-state"), false);
  });

  test("a state and input responses on tools/list: nothing delivered upstream", async () => {
    const p = await pending(bed, bed.tokens.alice, next(), "on-list");
    const r = await modern(bed.url(), {
      id: next(),
      method: "tools/list",
      token: bed.tokens.alice,
      params: {
        requestState: p.state,
        inputResponses: { [p.key]: { action: "accept", content: { answer: "via-list" } } },
      },
    });
    assert.ok(r.status < 500, r.text.slice(0, 300));
    assert.equal(upstreamSaw(bed, "via-list"), false);
  });
});

describe("cross-caller leaks", () => {
  test("tools/list is filtered per caller and marked cacheScope private", async () => {
    const a = answer(
      await modern(bed.url(), { id: next(), method: "tools/list", token: bed.tokens.alice }),
    ).result;
    const c = answer(
      await modern(bed.url(), { id: next(), method: "tools/list", token: bed.tokens.carol }),
    ).result;
    const names = (x: any) => (x?.tools ?? []).map((t: any) => t.name as string);
    assert.ok(names(c).includes("admin_tool"), JSON.stringify(c).slice(0, 300));
    assert.ok(!names(a).includes("admin_tool"));
    assert.ok(!names(a).includes("secret_tool"));
    assert.equal(a?.cacheScope, "private");
    assert.equal(c?.cacheScope, "private");
  });

  test("resources/list on the aggregate hides the secret resource from alice, marked private", async () => {
    const r = answer(
      await modern(bed.gw.mcpUrl, { id: next(), method: "resources/list", token: bed.tokens.alice }),
    ).result;
    assert.ok(!JSON.stringify(r).includes("mem://secret"), JSON.stringify(r).slice(0, 300));
    assert.equal(r?.cacheScope, "private");
  });

  test("alice and bob with the same JSON-RPC id at once each get their own input request and answer", async () => {
    const [ra, rb] = await Promise.all([
      callTool(bed.url(), bed.tokens.alice, 77, "ask", { q: "alice-q" }),
      callTool(bed.url(), bed.tokens.bob, 77, "ask", { q: "bob-q" }),
    ]);
    const ia = JSON.stringify(answer(ra).result?.inputRequests);
    const ib = JSON.stringify(answer(rb).result?.inputRequests);
    assert.match(ia, /alice-q/);
    assert.doesNotMatch(ia, /bob-q/);
    assert.match(ib, /bob-q/);
    assert.doesNotMatch(ib, /alice-q/);
    const pa = {
      state: answer(ra).result!.requestState,
      key: Object.keys(answer(ra).result!.inputRequests)[0]!,
    };
    const pb = {
      state: answer(rb).result!.requestState,
      key: Object.keys(answer(rb).result!.inputRequests)[0]!,
    };
    const [fa, fb] = await Promise.all([
      retry(bed, bed.tokens.alice, 78, "alice-q", pa, "answer-of-alice"),
      retry(bed, bed.tokens.bob, 78, "bob-q", pb, "answer-of-bob"),
    ]);
    assert.match(textOf(fa), /answer-of-alice/, fa.text.slice(0, 300));
    assert.doesNotMatch(textOf(fa), /answer-of-bob/);
    assert.match(textOf(fb), /answer-of-bob/, fb.text.slice(0, 300));
  });

  test("a listen stream asking for a secret resource and nothing else gets neither", async () => {
    const stream = openModern(bed.url(), {
      id: next(),
      method: "subscriptions/listen",
      token: bed.tokens.alice,
      params: { notifications: { resourceSubscriptions: ["mem://secret/keys"] } },
    });
    try {
      await stream.next((m) => m.method === "notifications/subscriptions/acknowledged");
      const c = await callTool(bed.url(), bed.tokens.carol, next(), "change", { uri: "mem://secret/keys" });
      assert.match(textOf(c), /changed/, c.text.slice(0, 300));
      await sleep(1000);
      const leaked = stream.messages.filter(
        (m) =>
          m.method === "notifications/resources/updated" || m.method === "notifications/tools/list_changed",
      );
      assert.deepEqual(leaked, []);
    } finally {
      stream.close();
    }
  });
});

describe("policy and principal keying on modern requests", () => {
  test("alice reading the secret resource: refused, never upstream", async () => {
    const r = await modern(bed.url(), {
      id: next(),
      method: "resources/read",
      token: bed.tokens.alice,
      params: { uri: "mem://secret/keys" },
    });
    assert.ok(r.status === 403 || errorOf(r).code === -32001, r.text.slice(0, 300));
    assert.ok(
      !receivedMessages(bed.recFile()).some(
        (m) => m.method === "resources/read" && m.params?.uri === "mem://secret/keys",
      ),
    );
  });

  test("alice calling admin_tool: 403 insufficient_scope, never upstream", async () => {
    const r = await callTool(bed.url(), bed.tokens.alice, next(), "admin_tool", {});
    assert.equal(r.status, 403, r.text.slice(0, 300));
    assert.match(String(r.headers["www-authenticate"]), /insufficient_scope/);
    assert.equal(upstreamCalls(bed, "admin_tool").length, 0);
  });

  test("prompts/list is marked cacheScope private", async () => {
    const r = answer(
      await modern(bed.url(), { id: next(), method: "prompts/list", token: bed.tokens.alice }),
    ).result;
    assert.equal(r?.cacheScope, "private", JSON.stringify(r));
  });

  test("a killed user is refused on modern requests; another user is served", async () => {
    const mallory = await bed.mint("mallory", "demo:use");
    await killAndWait(bed, "mallory", mallory);
    try {
      const r = await callTool(bed.url(), mallory, next(), "echo", { message: "killed-mallory" });
      assert.equal(errorOf(r).code, -32003, r.text.slice(0, 300));
      assert.equal(upstreamSaw(bed, "killed-mallory"), false);
      const ok = await callTool(bed.url(), bed.tokens.bob, next(), "echo", { message: "bob-unkilled" });
      assert.match(textOf(ok), /bob-unkilled/);
    } finally {
      await bed.cli("revive", "--user", "mallory", "--reason", "visible test");
    }
  });
});

describe("denial of service", () => {
  test("ten parked calls of one user leave the gateway serving another", async () => {
    const trent = await bed.mint("trent", "demo:use");
    const rs = await Promise.all(
      Array.from({ length: 10 }, (_, i) => callTool(bed.url(), trent, i + 1, "ask", { q: `parked-${i}` })),
    );
    assert.ok(
      rs.every((r) => answer(r).result?.resultType === "input_required" || errorOf(r).code !== undefined),
    );
    const ok = await callTool(bed.url(), bed.tokens.bob, next(), "echo", { message: "bob-after-parking" });
    assert.match(textOf(ok), /bob-after-parking/);
  });

  test("a 5 MB _meta (past max_body_bytes): 413, never upstream", async () => {
    const r = await callTool(
      bed.url(),
      bed.tokens.alice,
      next(),
      "echo",
      { message: "huge-meta" },
      { params: { _meta: { pad: "x".repeat(5 << 20) } } },
    );
    assert.equal(r.status, 413);
    assert.equal(upstreamSaw(bed, "huge-meta"), false);
  });

  test("a listen stream with an empty filter receives nothing after a change", async () => {
    const stream = openModern(bed.url(), {
      id: next(),
      method: "subscriptions/listen",
      token: bed.tokens.alice,
      params: { notifications: {} },
    });
    try {
      await stream.next((m) => m.method === "notifications/subscriptions/acknowledged");
      await callTool(bed.url(), bed.tokens.carol, next(), "change", { uri: "mem://public/readme" });
      await sleep(1000);
      const others = stream.messages.filter((m) => m.method !== "notifications/subscriptions/acknowledged");
      assert.deepEqual(others, []);
    } finally {
      stream.close();
    }
  });
});

describe("audit", () => {
  test("call events record detail.protocol_version", async () => {
    await callTool(bed.url(), bed.tokens.alice, next(), "echo", { message: "audited-version" });
    const e = (await bed.audit()).find(
      (x) => x.event === "tool_call" && JSON.stringify(x).includes("audited-version"),
    );
    assert.equal(e?.detail?.protocol_version, MODERN, JSON.stringify(e));
  });
});

function errorOf(r: { messages: Record<string, unknown>[] }) {
  return ((r.messages.at(-1) ?? {}) as any).error ?? {};
}

async function waitUntil(probe: () => boolean, ms = 15_000) {
  const end = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await sleep(50);
  }
}
