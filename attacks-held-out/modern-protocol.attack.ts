// Held-out attacks, issue 16 (MCP 2026-07-28 callers): variants not in
// test/attacks/modern-protocol.test.ts. Headers: malformed and wrong-case base64 sentinels, raw
// non-ASCII bytes, duplicate Mcp-Param headers, booleans spelled otherwise, prefixed names on the
// aggregate, resources/read and prompts/get smuggling, missing Mcp-Method and version headers, a
// version header disagreeing with the body. Eras: initialize carrying modern _meta, modern requests
// without capabilities or client info, one-element batches. requestState: another spelling of the
// same bytes, another route to the same tool, states on prompts/get and resources/read, answers
// without a state, a kill between the two legs, forged and concatenated envelopes, a five-way
// race, expiry. Leaks: a client that cannot elicit, progress of two callers with one token and one
// id, ten callers with one id, listen streams. Denial of service: hundreds of parked calls, many
// capability sets, listen streams that never close, huge and deep _meta. Principal keying: kill
// switch and rate limits across client identities. Same fixture and bed as the visible half.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { openRawSession } from "../test/helpers/http.js";
import { answer, MODERN, modern, modernRequest, openModern } from "../test/helpers/modern-raw.js";
import { readRecords, receivedMessages } from "../test/helpers/records.js";
import {
  assertBadState,
  assertRefused,
  b64,
  callTool,
  errorOf,
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
} from "../test/attacks/fixtures/modern-attack-lib.js";

let bed: Bed;
let id = 5000;
const next = () => ++id;

before(async () => {
  bed = await startBed("warden-modern-held-", {}, {}, { rate_limit: "5/min" });
  for (const server of ["rec", "rec2"]) {
    const r = await callTool(bed.url(server), bed.tokens.carol, next(), "echo", { message: "warm" });
    assert.match(textOf(r), /echo: warm/, r.text.slice(0, 300));
  }
});
after(async () => {
  await bed?.gw.stop();
});

function startedProcesses(): number {
  return new Set(
    readRecords(bed.recFile())
      .filter((r) => r.event === "started")
      .map((r) => r.pid),
  ).size;
}

async function gatewayAlive() {
  const r = await callTool(bed.url(), bed.tokens.bob, next(), "echo", { message: `alive-${id}` });
  assert.match(textOf(r), /echo: alive/, r.text.slice(0, 300));
}

describe("held-out: header/body smuggling", () => {
  test("a sentinel with invalid base64: 400 -32020", async () => {
    const r = await callTool(
      bed.url(),
      bed.tokens.alice,
      next(),
      "echo",
      { message: "bad-b64" },
      { headers: { "mcp-name": "=?base64?!!!*?=" } },
    );
    assertRefused(r, 400, -32020);
    assert.equal(upstreamSaw(bed, "bad-b64"), false);
  });

  test("a sentinel in upper case (not a sentinel) decoding to the body's name: 400 -32020", async () => {
    const header = `=?BASE64?${Buffer.from("admin_tool").toString("base64")}?=`;
    const r = await callTool(
      bed.url(),
      bed.tokens.carol,
      next(),
      "admin_tool",
      {},
      { headers: { "mcp-name": header } },
    );
    assertRefused(r, 400, -32020);
    assert.equal(upstreamCalls(bed, "admin_tool").length, 0);
  });

  test("a sentinel whose payload is padded with whitespace around another name: 400 -32020", async () => {
    const r = await callTool(
      bed.url(),
      bed.tokens.carol,
      next(),
      "admin_tool",
      {},
      { headers: { "mcp-name": b64(" admin_tool ") } },
    );
    assertRefused(r, 400, -32020);
    assert.equal(upstreamCalls(bed, "admin_tool").length, 0);
  });

  test("raw non-ASCII bytes in Mcp-Name: refused with 400", async () => {
    const { headers, body } = modernRequest({
      id: next(),
      method: "tools/call",
      token: bed.tokens.alice,
      params: { name: "echo", arguments: { message: "latin1-name" } },
    });
    const r = await rawPost(
      bed.url(),
      { ...headers, "mcp-name": Buffer.from("echo\u00e9", "latin1").toString("latin1") },
      body,
    );
    assert.equal(r.status, 400, r.text.slice(0, 300));
    assert.equal(upstreamSaw(bed, "latin1-name"), false);
  });

  test("two Mcp-Param-Region headers, one matching: 400 -32020", async () => {
    const { headers, body } = modernRequest({
      id: next(),
      method: "tools/call",
      token: bed.tokens.alice,
      params: { name: "sql", arguments: { region: "eu", query: "dup-param" } },
    });
    const r = await rawPost(bed.url(), { ...headers, "mcp-param-region": ["eu", "us"] }, body);
    assertRefused(r, 400, -32020);
    assert.equal(upstreamSaw(bed, "dup-param"), false);
  });

  test("Mcp-Param-Flag TRUE for a body true: 400 -32020; true is served; header name in capitals works", async () => {
    const bad = await callTool(
      bed.url(),
      bed.tokens.alice,
      next(),
      "sql",
      { region: "eu", flag: true, query: "flag-upper" },
      { headers: { "mcp-param-region": "eu", "mcp-param-flag": "TRUE" } },
    );
    assertRefused(bad, 400, -32020);
    assert.equal(upstreamSaw(bed, "flag-upper"), false);
    const good = await callTool(
      bed.url(),
      bed.tokens.alice,
      next(),
      "sql",
      { region: "eu", flag: true, query: "flag-ok" },
      { headers: { "MCP-PARAM-REGION": "eu", "Mcp-Param-Flag": "true" } },
    );
    assert.match(textOf(good), /flag-ok/, good.text.slice(0, 300));
  });

  test("Mcp-Param-Limit 0xA for a body limit of 10 (not a decimal spelling): 400 -32020", async () => {
    const r = await callTool(
      bed.url(),
      bed.tokens.alice,
      next(),
      "sql",
      { region: "eu", limit: 10, query: "limit-hex" },
      { headers: { "mcp-param-region": "eu", "mcp-param-limit": "0xA" } },
    );
    assertRefused(r, 400, -32020);
    assert.equal(upstreamSaw(bed, "limit-hex"), false);
  });

  test("Mcp-Param-Limit in hexadecimal, binary or octal spelling, or empty for 0: 400 -32020 each", async () => {
    for (const [limit, header] of [
      [10, "0b1010"],
      [10, "0o12"],
      [10, "0x0a"],
      [0, ""],
      [0, " "],
    ] as const) {
      const { headers, body } = modernRequest({
        id: next(),
        method: "tools/call",
        token: bed.tokens.alice,
        params: { name: "sql", arguments: { region: "eu", limit, query: `limit-spelling-${header}` } },
      });
      const r = await rawPost(
        bed.url(),
        { ...headers, "mcp-param-region": "eu", "mcp-param-limit": header },
        body,
      );
      assertRefused(r, 400, -32020);
    }
    assert.equal(upstreamSaw(bed, "limit-spelling-"), false);
  });

  test("Mcp-Param-Flag 1 for a body true: 400 -32020", async () => {
    const r = await callTool(
      bed.url(),
      bed.tokens.alice,
      next(),
      "sql",
      { region: "eu", flag: true, query: "flag-one" },
      { headers: { "mcp-param-region": "eu", "mcp-param-flag": "1" } },
    );
    assertRefused(r, 400, -32020);
    assert.equal(upstreamSaw(bed, "flag-one"), false);
  });

  test("Mcp-Param-Region omitted on the aggregate (prefixed name rec__sql): 400 -32020", async () => {
    const r = await callTool(bed.gw.mcpUrl, bed.tokens.alice, next(), "rec__sql", {
      region: "eu",
      query: "agg-omitted",
    });
    assertRefused(r, 400, -32020);
    assert.equal(upstreamSaw(bed, "agg-omitted"), false);
  });

  test("on the aggregate, Mcp-Name naming rec2__echo for a body rec__admin_tool: 400 -32020", async () => {
    const r = await callTool(
      bed.gw.mcpUrl,
      bed.tokens.carol,
      next(),
      "rec__admin_tool",
      {},
      { headers: { "mcp-name": "rec2__echo" } },
    );
    assertRefused(r, 400, -32020);
    assert.equal(upstreamCalls(bed, "admin_tool").length, 0);
  });

  test("resources/read with Mcp-Name of a public URI and a body of a secret one: 400 -32020", async () => {
    const r = await modern(bed.url(), {
      id: next(),
      method: "resources/read",
      token: bed.tokens.alice,
      params: { uri: "mem://secret/keys" },
      headers: { "mcp-name": "mem://public/readme" },
    });
    assertRefused(r, 400, -32020);
    assert.ok(
      !receivedMessages(bed.recFile()).some(
        (m) => m.method === "resources/read" && m.params?.uri === "mem://secret/keys",
      ),
    );
  });

  test("prompts/get with Mcp-Name of another prompt: 400 -32020", async () => {
    const r = await modern(bed.url(), {
      id: next(),
      method: "prompts/get",
      token: bed.tokens.alice,
      params: { name: "greet" },
      headers: { "mcp-name": "other" },
    });
    assertRefused(r, 400, -32020);
  });

  test("no Mcp-Method header: 400 -32020", async () => {
    const r = await callTool(
      bed.url(),
      bed.tokens.alice,
      next(),
      "echo",
      { message: "no-method" },
      { headers: { "mcp-method": "" } },
    );
    assertRefused(r, 400, -32020);
    assert.equal(upstreamSaw(bed, "no-method"), false);
  });

  test("no MCP-Protocol-Version header on a modern body: 400, never upstream", async () => {
    const r = await callTool(
      bed.url(),
      bed.tokens.alice,
      next(),
      "echo",
      { message: "no-version" },
      { headers: { "mcp-protocol-version": "" } },
    );
    assert.equal(r.status, 400, r.text.slice(0, 300));
    assert.equal(upstreamSaw(bed, "no-version"), false);
  });

  test("a legacy version header on a modern body: 400 -32020", async () => {
    const r = await callTool(
      bed.url(),
      bed.tokens.alice,
      next(),
      "echo",
      { message: "old-header" },
      { headers: { "mcp-protocol-version": "2025-11-25" } },
    );
    assertRefused(r, 400, -32020);
    assert.equal(upstreamSaw(bed, "old-header"), false);
  });

  test("Mcp-Method in another case: 400 -32020", async () => {
    const r = await callTool(
      bed.url(),
      bed.tokens.alice,
      next(),
      "echo",
      { message: "method-case" },
      { headers: { "mcp-method": "TOOLS/CALL" } },
    );
    assertRefused(r, 400, -32020);
    assert.equal(upstreamSaw(bed, "method-case"), false);
  });
});

describe("held-out: era confusion", () => {
  test("initialize carrying modern _meta and version header opens nothing that skips the header checks", async () => {
    const body = {
      jsonrpc: "2.0",
      id: next(),
      method: "initialize",
      params: {
        protocolVersion: MODERN,
        capabilities: {},
        clientInfo: { name: "x", version: "1" },
        _meta: { "io.modelcontextprotocol/protocolVersion": MODERN },
      },
    };
    const init = await rawPost(
      bed.url(),
      {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": MODERN,
        "mcp-method": "initialize",
        authorization: `Bearer ${bed.tokens.carol}`,
      },
      JSON.stringify(body),
    );
    assert.ok(init.status < 500, init.text.slice(0, 300));
    const sid = init.headers["mcp-session-id"];
    if (typeof sid === "string") {
      const r = await callTool(
        bed.url(),
        bed.tokens.carol,
        next(),
        "admin_tool",
        {},
        { headers: { "mcp-session-id": sid, "mcp-name": "echo" } },
      );
      assert.equal(r.status, 400, r.text.slice(0, 300));
      assert.equal(upstreamCalls(bed, "admin_tool").length, 0);
    }
  });

  test("a modern request without client capabilities and client info is not served", async () => {
    const body = JSON.stringify({
      jsonrpc: "2.0",
      id: next(),
      method: "tools/call",
      params: {
        name: "echo",
        arguments: { message: "bare-meta" },
        _meta: { "io.modelcontextprotocol/protocolVersion": MODERN },
      },
    });
    const { headers } = modernRequest({
      id: 0,
      method: "tools/call",
      token: bed.tokens.alice,
      params: { name: "echo" },
    });
    const r = await rawPost(bed.url(), headers, body);
    assert.equal(r.status, 400, r.text.slice(0, 300));
    assert.equal(upstreamSaw(bed, "bare-meta"), false);
  });

  test("a one-element batch carrying a modern tools/call: refused, never upstream", async () => {
    const { headers, body } = modernRequest({
      id: next(),
      method: "tools/call",
      token: bed.tokens.alice,
      params: { name: "echo", arguments: { message: "batch-of-one" } },
    });
    const r = await rawPost(bed.url(), headers, `[${body}]`);
    assert.ok(r.status >= 400, `${r.status} ${r.text.slice(0, 300)}`);
    assert.equal(upstreamSaw(bed, "batch-of-one"), false);
  });

  test("a legacy session's own id on a modern request with a smuggled Mcp-Name: still 400 -32020", async () => {
    const s = await openRawSession(bed.url(), { headers: { authorization: `Bearer ${bed.tokens.carol}` } });
    const r = await callTool(
      bed.url(),
      bed.tokens.carol,
      next(),
      "admin_tool",
      {},
      { headers: { "mcp-session-id": s.sessionId, "mcp-name": "echo" } },
    );
    assertRefused(r, 400, -32020);
    assert.equal(upstreamCalls(bed, "admin_tool").length, 0);
  });
});

describe("held-out: requestState abuse", () => {
  test("another spelling of the same bytes (unused bits of the last character): refused", async () => {
    const p = await pending(bed, bed.tokens.alice, next(), "same-bytes");
    assertBadState(
      await retry(
        bed,
        bed.tokens.alice,
        next(),
        "same-bytes",
        { ...p, state: sameBytes(p.state) },
        "same-bytes-answer",
      ),
    );
    assert.equal(upstreamSaw(bed, "same-bytes-answer"), false);
  });

  test("the state with whitespace around it or a trailing dot: refused", async () => {
    const p = await pending(bed, bed.tokens.alice, next(), "ws-state");
    for (const state of [
      ` ${p.state}`,
      `${p.state}\n`,
      `${p.state} `,
      `${p.state}.`,
      p.state.replace(".", ".."),
    ])
      assertBadState(
        await retry(bed, bed.tokens.alice, next(), "ws-state", { ...p, state }, "ws-state-answer"),
      );
    assert.equal(upstreamSaw(bed, "ws-state-answer"), false);
  });

  test("a state from /servers/rec/mcp presented on /mcp as rec__ask: refused", async () => {
    const p = await pending(bed, bed.tokens.alice, next(), "cross-route");
    const r = await callTool(
      bed.gw.mcpUrl,
      bed.tokens.alice,
      next(),
      "rec__ask",
      { q: "cross-route" },
      {
        params: {
          requestState: p.state,
          inputResponses: { [p.key]: { action: "accept", content: { answer: "via-aggregate" } } },
        },
      },
    );
    assertBadState(r);
    assert.equal(upstreamSaw(bed, "via-aggregate"), false);
  });

  test("a state on prompts/get and on resources/read: nothing delivered upstream", async () => {
    const p = await pending(bed, bed.tokens.alice, next(), "other-methods");
    const responses = { [p.key]: { action: "accept", content: { answer: "via-other-method" } } };
    const a = await modern(bed.url(), {
      id: next(),
      method: "prompts/get",
      token: bed.tokens.alice,
      params: { name: "greet", requestState: p.state, inputResponses: responses },
    });
    const b = await modern(bed.url(), {
      id: next(),
      method: "resources/read",
      token: bed.tokens.alice,
      params: { uri: "mem://public/readme", requestState: p.state, inputResponses: responses },
    });
    assert.ok(a.status < 500 && b.status < 500);
    assert.equal(upstreamSaw(bed, "via-other-method"), false);
  });

  test("input responses without any state never answer a parked call", async () => {
    const p = await pending(bed, bed.tokens.alice, next(), "stateless");
    const r = await callTool(
      bed.url(),
      bed.tokens.alice,
      next(),
      "ask",
      { q: "stateless" },
      {
        params: { inputResponses: { [p.key]: { action: "accept", content: { answer: "no-state-answer" } } } },
      },
    );
    assert.ok(r.status < 500, r.text.slice(0, 300));
    assert.ok(!upstreamAnswers(bed).some((e) => JSON.stringify(e).includes("no-state-answer")));
  });

  test("input responses without a state are not forwarded bare to the upstream", async () => {
    await pending(bed, bed.tokens.alice, next(), "bare-forward");
    const r = await callTool(
      bed.url(),
      bed.tokens.alice,
      next(),
      "ask",
      { q: "bare-forward" },
      { params: { inputResponses: { "1": { action: "accept", content: { answer: "bare-forwarded" } } } } },
    );
    assert.ok(r.status < 500, r.text.slice(0, 300));
    assert.equal(
      upstreamSaw(bed, "bare-forwarded"),
      false,
      "the upstream received the caller's unsolicited inputResponses",
    );
  });

  test("bob's own state with alice's input key: bob's answer reaches only bob's call", async () => {
    const pa = await pending(bed, bed.tokens.alice, next(), "key-alice");
    const pb = await pending(bed, bed.tokens.bob, next(), "key-bob");
    const r = await retry(
      bed,
      bed.tokens.bob,
      next(),
      "key-bob",
      { state: pb.state, key: pa.key },
      "bob-into-alice-key",
    );
    assert.ok(r.status < 500);
    const answers = readRecords(bed.recFile()).filter(
      (e) => e.event === "answer" && JSON.stringify(e).includes("bob-into-alice-key"),
    );
    assert.ok(answers.length <= 1);
    // Alice's own retry still gets her answer, not bob's.
    const fa = await retry(bed, bed.tokens.alice, next(), "key-alice", pa, "alice-own");
    assert.doesNotMatch(fa.text, /bob-into-alice-key/);
  });

  test("the retry passes the kill switch again: killed between the legs, refused, no answer upstream", async () => {
    const dave = await bed.mint("dave", "demo:use");
    const p = await pending(bed, dave, next(), "kill-between");
    await killAndWait(bed, "dave", dave);
    try {
      let r = await retry(bed, dave, next(), "kill-between", p, "after-kill");
      for (let i = 0; i < 20 && errorOf(r).code !== -32003 && !textOf(r); i++) {
        await sleep(250);
        r = await retry(bed, dave, next(), "kill-between", p, "after-kill");
      }
      assert.equal(errorOf(r).code, -32003, r.text.slice(0, 300));
      assert.equal(upstreamSaw(bed, "after-kill"), false);
    } finally {
      await bed.cli("revive", "--user", "dave", "--reason", "held-out test");
    }
  });

  test("forged envelopes: alg none, header swapped, two states joined: refused", async () => {
    const p = await pending(bed, bed.tokens.alice, next(), "forged");
    const parts = p.state.split(".");
    const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const forged = [
      `${enc({ alg: "none" })}.${enc({ sub: "alice", tool: "ask" })}.`,
      [enc({ alg: "dir", enc: "A128GCM" }), ...parts.slice(1)].join("."),
      [enc({ alg: "dir", enc: "A256GCM", zip: "DEF" }), ...parts.slice(1)].join("."),
      `${p.state}.${p.state}`,
      parts.slice(0, 4).join("."),
    ];
    for (const state of forged)
      assertBadState(await retry(bed, bed.tokens.alice, next(), "forged", { ...p, state }, "forged-answer"));
    assert.equal(upstreamSaw(bed, "forged-answer"), false);
  });

  test("five retries with one state at once: at most one reaches the upstream", async () => {
    const p = await pending(bed, bed.tokens.alice, next(), "race5");
    const rs = await Promise.all(
      [1, 2, 3, 4, 5].map((n) => retry(bed, bed.tokens.alice, next(), "race5", p, `race5-${n}`)),
    );
    const served = rs.filter((r) => /race5-/.test(textOf(r)));
    assert.ok(served.length <= 1, rs.map((r) => r.text.slice(0, 120)).join(" | "));
    assert.ok([1, 2, 3, 4, 5].filter((n) => upstreamSaw(bed, `race5-${n}`)).length <= 1);
  });

  test("a state sent by carol (more scopes) for alice's call: refused", async () => {
    const p = await pending(bed, bed.tokens.alice, next(), "carol-takes");
    assertBadState(await retry(bed, bed.tokens.carol, next(), "carol-takes", p, "carol-answer"));
    assert.equal(upstreamSaw(bed, "carol-answer"), false);
  });
});

describe("held-out: cross-caller leaks", () => {
  test("a client that declares no elicitation gets no elicitation input request", async () => {
    const r = await callTool(
      bed.url(),
      bed.tokens.alice,
      next(),
      "ask",
      { q: "no-elicit-cap" },
      { capabilities: {} },
    );
    const requests = Object.values(answer(r).result?.inputRequests ?? {}) as { method?: string }[];
    assert.ok(!requests.some((x) => x.method === "elicitation/create"), r.text.slice(0, 400));
  });

  test("two callers with one progress token and one id: each stream carries only its own progress", async () => {
    const open = (token: string, label: string) =>
      openModern(bed.url(), {
        id: 4242,
        method: "tools/call",
        token,
        params: { name: "slow", arguments: { label }, _meta: { progressToken: "shared-token" } },
      });
    const a = open(bed.tokens.alice, "label-alice");
    const b = open(bed.tokens.bob, "label-bob");
    try {
      await a.next((m) => m.method === "notifications/progress");
      await b.next((m) => m.method === "notifications/progress");
      await sleep(300);
      assert.ok(!JSON.stringify(a.messages).includes("label-bob"), JSON.stringify(a.messages).slice(0, 400));
      assert.ok(
        !JSON.stringify(b.messages).includes("label-alice"),
        JSON.stringify(b.messages).slice(0, 400),
      );
    } finally {
      a.close();
      b.close();
    }
  });

  test("ten callers with the same JSON-RPC id at once: each input request is the caller's own", async () => {
    const users = await Promise.all(Array.from({ length: 10 }, (_, i) => bed.mint(`u${i}`, "demo:use")));
    const rs = await Promise.all(
      users.map((t, i) => callTool(bed.url(), t, 1, "ask", { q: `marker-u${i}-x` })),
    );
    rs.forEach((r, i) => {
      const text = JSON.stringify(answer(r).result?.inputRequests ?? {});
      assert.match(text, new RegExp(`marker-u${i}-x`), r.text.slice(0, 300));
      assert.equal((text.match(/marker-u\d+-x/g) ?? []).length, 1, text);
    });
  });

  test("a listen stream: list_changed only when asked, never a secret resource, tagged with its own id", async () => {
    const listenId = next();
    const s = openModern(bed.url(), {
      id: listenId,
      method: "subscriptions/listen",
      token: bed.tokens.alice,
      params: {
        notifications: {
          toolsListChanged: true,
          resourceSubscriptions: ["mem://secret/keys", "mem://public/readme"],
        },
      },
    });
    try {
      const ack = await s.next((m) => m.method === "notifications/subscriptions/acknowledged");
      assert.ok(!JSON.stringify(ack).includes("mem://secret"), JSON.stringify(ack));
      await callTool(bed.url(), bed.tokens.carol, next(), "change", { uri: "mem://secret/keys" });
      await sleep(1500);
      const updates = s.messages.filter((m) => m.method === "notifications/resources/updated");
      assert.ok(!JSON.stringify(updates).includes("mem://secret"), JSON.stringify(s.messages).slice(0, 500));
      for (const m of s.messages.filter(
        (x) => x.method?.startsWith("notifications/") && x.method !== "notifications/message",
      ))
        assert.equal(
          m.params?._meta?.["io.modelcontextprotocol/subscriptionId"],
          listenId,
          JSON.stringify(m),
        );
    } finally {
      s.close();
    }
  });
});

describe("held-out: principal keying", () => {
  test("a user killed by name is refused whatever client info and capabilities it claims", async () => {
    const frank = await bed.mint("frank", "demo:use");
    await killAndWait(bed, "frank", frank);
    try {
      for (const caps of [{}, { elicitation: {} }, { sampling: {}, roots: {} }]) {
        const { headers, body } = modernRequest({
          id: next(),
          method: "tools/call",
          token: frank,
          capabilities: caps,
          params: {
            name: "echo",
            arguments: { message: "killed-frank" },
            _meta: { "io.modelcontextprotocol/clientInfo": { name: `other-${Math.random()}`, version: "9" } },
          },
        });
        const r = await rawPost(bed.url(), headers, body);
        assert.equal(errorOf(r).code, -32003, r.text.slice(0, 300));
      }
      assert.equal(upstreamSaw(bed, "killed-frank"), false);
    } finally {
      await bed.cli("revive", "--user", "frank", "--reason", "held-out test");
    }
  });

  test("rate limits hold across client identities of one user; another user keeps its own budget", async () => {
    const gus = await bed.mint("gus", "demo:use");
    let limited = 0;
    for (let i = 0; i < 8; i++) {
      const r = await callTool(
        bed.url("rec2"),
        gus,
        next(),
        "echo",
        { message: `rl-${i}` },
        {
          capabilities: { experimental: { [`c${i}`]: {} } },
          params: { _meta: { "io.modelcontextprotocol/clientInfo": { name: `client-${i}`, version: "1" } } },
        },
      );
      if (errorOf(r).data?.reason === "rate_limited") limited++;
    }
    assert.ok(limited >= 3, `${limited} of 8 calls limited at 5/min`);
    const hal = await bed.mint("hal", "demo:use");
    const r = await callTool(bed.url("rec2"), hal, next(), "echo", { message: "hal-ok" });
    assert.match(textOf(r), /hal-ok/, r.text.slice(0, 300));
  });

  test("a refused state is audited with the caller and the protocol version", async () => {
    const p = await pending(bed, bed.tokens.alice, next(), "audit-state");
    await retry(bed, bed.tokens.bob, next(), "audit-state", p, "audit-bob");
    // The denial event carries no arguments: take bob's latest invalid_request_state.
    const e = (await bed.audit())
      .filter((x) => x.reason === "invalid_request_state" && x.principal?.sub === "bob")
      .at(-1);
    assert.ok(e, "an audit event for bob's refused state");
    assert.equal(e?.detail?.protocol_version, MODERN, JSON.stringify(e));
  });
});

describe("held-out: expiry", () => {
  let short: Bed;
  before(async () => {
    short = await startBed("warden-modern-expiry-", { upstream_timeout: "5s" });
    // The upstream may take longer than 5 s to start on a loaded machine: call until it answers.
    for (let i = 0; i < 20; i++) {
      const r = await callTool(short.url(), short.tokens.alice, 9000 + i, "echo", { message: "warm" });
      if (/echo: warm/.test(textOf(r))) break;
      await sleep(1000);
    }
  });
  after(async () => {
    await short?.gw.stop();
  });

  test("a state presented after upstream_timeout: refused, nothing answered upstream", async () => {
    const p = await pending(short, short.tokens.alice, 9100, "expiring");
    await sleep(7000);
    assertBadState(await retry(short, short.tokens.alice, 9101, "expiring", p, "too-late"));
    assert.equal(upstreamSaw(short, "too-late"), false);
    assert.equal(upstreamAnswers(short).length, 0);
  });
});

describe("held-out: denial of service", () => {
  test("three hundred parked calls of one user leave the gateway serving another", async () => {
    const eve = await bed.mint("eve", "demo:use");
    const rs = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        callTool(bed.url(), eve, i + 1, "ask", { q: `park-${i}` }).catch((e: Error) => ({
          status: 0,
          text: e.message,
          messages: [],
          headers: {},
        })),
      ),
    );
    assert.ok(
      rs.every((r) => r.status > 0),
      "every parked call was answered",
    );
    await gatewayAlive();
  });

  test("two hundred capability sets of one user do not each open an upstream process", async () => {
    const before = startedProcesses();
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        callTool(
          bed.url(),
          bed.tokens.alice,
          next(),
          "echo",
          { message: `caps-${i}` },
          { capabilities: { experimental: { [`x-${i}`]: {} } } },
        ),
      ),
    );
    const grown = startedProcesses() - before;
    // max_sessions_per_user defaults to 64: whatever a modern caller's capability sets map to, one
    // user must not hold more upstream processes than that.
    assert.ok(grown <= 64, `${grown} new upstream processes for one user`);
    await gatewayAlive();
  });

  test("a hundred listen streams that never close leave the gateway serving another user", async () => {
    const streams = Array.from({ length: 100 }, () =>
      openModern(bed.url(), {
        id: next(),
        method: "subscriptions/listen",
        token: bed.tokens.alice,
        params: { notifications: { toolsListChanged: true } },
      }),
    );
    try {
      await Promise.all(streams.map((s) => s.status.catch(() => 0)));
      await gatewayAlive();
    } finally {
      for (const s of streams) s.close();
    }
  });

  test("a _meta just under max_body_bytes in 80000 keys, and a 20000-deep _meta: the gateway lives", async () => {
    const keys: Record<string, string> = {};
    for (let i = 0; i < 80_000; i++) keys[`k${i}`] = "x".repeat(30);
    await callTool(
      bed.url(),
      bed.tokens.alice,
      next(),
      "echo",
      { message: "wide-meta" },
      { params: { _meta: keys } },
    ).catch(() => undefined);
    const { headers, body } = modernRequest({
      id: next(),
      method: "tools/call",
      token: bed.tokens.alice,
      params: { name: "echo", arguments: { message: "deep-meta" } },
    });
    const deep = `${'{"d":'.repeat(20_000)}{}${"}".repeat(20_000)}`;
    const withDeep = body.replace('"_meta":{', `"_meta":{"deep":${deep},`);
    const d = await rawPost(bed.url(), headers, withDeep).catch(() => undefined);
    assert.ok(!d || d.status >= 400, `status ${d?.status}`);
    assert.equal(upstreamSaw(bed, "deep-meta"), false);
    await gatewayAlive();
  });
});
