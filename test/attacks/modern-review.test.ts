/* eslint-disable @typescript-eslint/no-explicit-any -- wire messages are read loosely in assertions */
// Findings of the second review of the 2026-07-28 code (docs/protocol-eras.md), each proved
// through the real gateway: one user's clients (and one client's tokens) must not ride on each
// other's principal in the session the gateway keeps for them; a JSON-RPC id reused while a call
// with that id waits for input must not see or answer its questions; Mcp-Name mirrors taskId on
// tasks/*; a method named like an Object.prototype member is unknown; a killed caller gets
// neither server/discover nor a listen stream.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { openRawSession, raw } from "../helpers/http.js";
import { makeTempDir } from "../helpers/gateway.js";
import { fixture } from "../helpers/paths.js";
import { gatewayWithUsers } from "../helpers/users.js";
import { answer, modern, modernRequest, openModern } from "../helpers/modern-raw.js";
import { receivedMessages } from "../helpers/records.js";
import { callTool, errorOf, startBed, textOf, upstreamSaw, type Bed } from "./fixtures/modern-attack-lib.js";

let bed: Bed;
/** rec2 answers tools/list 2 s late: the window in which another request of the same user lands. */
const rec2Dir = makeTempDir("warden-modern-review-rec2-");
const rec2File = join(rec2Dir, "rec2.jsonl");
let id = 5000;
const next = () => ++id;

before(async () => {
  bed = await startBed(
    "warden-modern-review-",
    {},
    {},
    { env: { RECORD_FILE: rec2File, LIST_DELAY_MS: "2000" } },
  );
  const r = await callTool(bed.url(), bed.tokens.alice, next(), "echo", { message: "warm" });
  assert.match(textOf(r), /echo: warm/, r.text.slice(0, 300));
});
after(async () => {
  await bed?.gw.stop();
});

async function token(sub: string, scope: string, client: string): Promise<string> {
  const r = await bed.cli("token", "--sub", sub, "--scope", scope, "--client-id", client);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

const rec2AdminCalls = () =>
  receivedMessages(rec2File).filter((m) => m.method === "tools/call" && m.params?.name === "admin_tool");

/**
 * `weak` calls admin_tool (which it may not) on rec2 for a user the gateway has no catalog of, so
 * the gateway waits for rec2's slow tools/list; meanwhile `strong` (the same user) asks anything.
 */
async function rideOnAnother(sub: string, weak: string, strong: string) {
  // Forget rec2's cached lists, so the weak call waits for a fresh (slow) one.
  const changed = await callTool(bed.url("rec2"), bed.tokens.alice, next(), "change", { uri: "mem://x" });
  assert.match(textOf(changed), /changed/, changed.text.slice(0, 300));
  const before = rec2AdminCalls().length;
  const pending = callTool(bed.url("rec2"), weak, next(), "admin_tool", {});
  await sleep(500);
  const other = await modern(bed.url("rec2"), { id: next(), method: "server/discover", token: strong });
  assert.equal(other.status, 200, other.text.slice(0, 300));
  const r = await pending;
  return { r, reached: rec2AdminCalls().length - before, sub };
}

describe("one user's clients and tokens", () => {
  test("a client without admin:use never runs admin_tool as the same user's other client", async () => {
    const weak = await token("dave", "demo:use", "agent-weak");
    const strong = await token("dave", "demo:use admin:use", "agent-strong");
    const { r, reached } = await rideOnAnother("dave", weak, strong);
    assert.equal(reached, 0, `admin_tool reached the upstream: ${r.text.slice(0, 300)}`);
    assert.equal(errorOf(r).code, -32001, r.text.slice(0, 300));
  });

  test("a down-scoped token of a client never runs admin_tool on its wider token's scopes", async () => {
    const weak = await token("erin", "demo:use", "agent-one");
    const strong = await token("erin", "demo:use admin:use", "agent-one");
    const { r, reached } = await rideOnAnother("erin", weak, strong);
    assert.equal(reached, 0, `admin_tool reached the upstream: ${r.text.slice(0, 300)}`);
    assert.equal(errorOf(r).code, -32001, r.text.slice(0, 300));
  });

  test("killing one client cancels its call in flight even after the user's other client asked something", async () => {
    const x = await token("gus", "demo:use", "agent-x");
    const y = await token("gus", "demo:use", "agent-y");
    const label = `kill-client-${next()}`;
    const slow = openModern(bed.url(), {
      id: next(),
      method: "tools/call",
      params: { name: "slow", arguments: { label }, _meta: { progressToken: "p1" } },
      token: x,
    });
    try {
      await slow.next((m) => m.method === "notifications/progress");
      const ok = await callTool(bed.url(), y, next(), "echo", { message: "gus-y" });
      assert.match(textOf(ok), /gus-y/, ok.text.slice(0, 300));
      const k = await bed.cli("kill", "--client", "agent-x", "--reason", "review test");
      assert.equal(k.code, 0, k.stderr);
      const end = await slow.next((m) => "error" in m || "result" in m, 10_000);
      assert.equal(end.error?.code, -32003, JSON.stringify(end));
    } finally {
      slow.close();
      await bed.cli("revive", "--client", "agent-x", "--reason", "review test");
    }
  });
});

describe("JSON-RPC ids of a caller's own requests", () => {
  test("a new request reusing the id of a call waiting for input neither sees nor answers its questions", async () => {
    const hank = await bed.mint("hank", "demo:use");
    const parked = await callTool(bed.url(), hank, "dup-1", "ask", { q: "question-of-the-first-call" });
    assert.equal(answer(parked).result?.resultType, "input_required", parked.text.slice(0, 300));
    const reuse = await callTool(bed.url(), hank, "dup-1", "echo", { message: "second-call" });
    assert.doesNotMatch(reuse.text, /question-of-the-first-call/, "the other call's question leaked");
    assert.equal(errorOf(reuse).code, -32600, reuse.text.slice(0, 300));
  });
});

describe("tasks/* headers", () => {
  test("Mcp-Name naming another task than the body's taskId: 400 -32020", async () => {
    const r = await modern(bed.url(), {
      id: next(),
      method: "tasks/get",
      params: { taskId: "task-of-the-body" },
      token: bed.tokens.alice,
      headers: { "mcp-name": "task-of-the-header" },
    });
    assert.equal(r.status, 400, r.text.slice(0, 300));
    assert.equal(errorOf(r).code, -32020, r.text.slice(0, 300));
  });
});

describe("odd method names", () => {
  test("a legacy session's method named like an Object.prototype member is unknown and never forwarded", async () => {
    const s = await openRawSession(bed.gw.serverUrl("rec"), {
      headers: { authorization: `Bearer ${bed.tokens.alice}` },
    });
    for (const method of ["constructor", "toString", "hasOwnProperty"]) {
      const r = await s.post({ jsonrpc: "2.0", id: next(), method, params: {} });
      const e = (r.messages.find((m) => "error" in m) as any)?.error;
      assert.equal(e?.code, -32601, `${method}: ${r.text.slice(0, 300)}`);
    }
    const seen = receivedMessages(bed.recFile()).filter((m) =>
      ["constructor", "toString", "hasOwnProperty"].includes(m.method as string),
    );
    assert.deepEqual(seen, [], "the upstream received it");
  });
});

describe("the kill switch before any upstream work", () => {
  test("a killed user gets neither server/discover nor a subscriptions/listen stream", async () => {
    const ivan = await bed.mint("ivan", "demo:use");
    const k = await bed.cli("kill", "--user", "ivan", "--reason", "review test");
    assert.equal(k.code, 0, k.stderr);
    try {
      const d = await modern(bed.url(), { id: next(), method: "server/discover", token: ivan });
      assert.equal(errorOf(d).code, -32003, d.text.slice(0, 300));
      assert.equal(answer(d).result, undefined, "discover was served");
      // Before the fix the stream was acknowledged and held open: the read times out.
      const l = await raw(bed.url(), {
        ...modernRequest({
          id: next(),
          method: "subscriptions/listen",
          params: { notifications: { toolsListChanged: true } },
          token: ivan,
        }),
        timeoutMs: 10_000,
      });
      assert.equal(errorOf(l).code, -32003, l.text.slice(0, 300));
      assert.doesNotMatch(l.text, /acknowledged/);
      assert.equal(upstreamSaw(bed, "ivan"), false);
    } finally {
      await bed.cli("revive", "--user", "ivan", "--reason", "review test");
    }
  });
});

describe("a task's questions to the caller", () => {
  test("a URL-mode elicitation in tasks/get inputRequests passes the server's URL guard", async () => {
    const g = await gatewayWithUsers("warden-modern-review-tasks-", (dir) => ({
      servers: [
        {
          name: "jobs",
          command: process.execPath,
          args: [fixture("tasks-server.mjs")],
          env: { RECORD_FILE: join(dir, "jobs.jsonl"), URL_TASK: "https://phish.evil.test/login" },
          tools: { "*": ["demo:use"] },
          allowed_domains: ["example.com"],
        },
        {
          name: "fair",
          command: process.execPath,
          args: [fixture("tasks-server.mjs")],
          env: { RECORD_FILE: join(dir, "fair.jsonl"), URL_TASK: "https://example.com/login" },
          tools: { "*": ["demo:use"] },
          allowed_domains: ["example.com"],
        },
      ],
    }));
    try {
      const tok = await g.token("kate");
      const poll = async (server: string) => {
        const url = g.gw.serverUrl(server);
        const made = answer(
          await modern(url, {
            id: next(),
            method: "tools/call",
            params: { name: "job_url", arguments: {} },
            token: tok,
            capabilities: { elicitation: { url: {} }, extensions: { "io.modelcontextprotocol/tasks": {} } },
          }),
        ).result;
        assert.equal(made?.resultType, "task", JSON.stringify(made));
        return modern(url, { id: next(), method: "tasks/get", params: { taskId: made.taskId }, token: tok });
      };
      // An allowed URL reaches the caller as the server asked it.
      const fair = answer(await poll("fair")).result;
      assert.equal(
        fair?.inputRequests?.login?.params?.url,
        "https://example.com/login",
        JSON.stringify(fair),
      );
      const polled = await poll("jobs");
      assert.doesNotMatch(polled.text, /phish\.evil\.test/, polled.text.slice(0, 400));
      // The documented refusal (-32001), audited as the server's request that was denied.
      assert.equal(errorOf(polled).code, -32001, polled.text.slice(0, 400));
      const refused = (await g.audit()).filter(
        (e) => e.event === "server_request" && e.method === "elicitation/create" && e.server === "jobs",
      );
      assert.deepEqual(
        refused.map((e) => [e.status, e.reason]),
        [["denied", "domain_not_allowed"]],
      );
    } finally {
      await g.gw.stop();
    }
  });
});
