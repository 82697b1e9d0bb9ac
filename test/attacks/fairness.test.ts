// Issue 14 §4: sessions, limits and kill rules cannot be turned against other callers. Anonymous
// callers are told apart by source address (127.0.0.x here); caps and rate limits are per user,
// not per (user, client); one caller (or anonymous callers) cannot make an automatic rule kill a
// server or tool for everyone; rate-limit refusals are not `denied`; a duplicate in-flight
// JSON-RPC id is refused and cannot hide the first request from the kill switch; a scope string
// holding a space cannot inherit another caller's memoised scope set.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { recorderStdio } from "../helpers/configs.js";
import { makeTempDir, runCli, startGateway, type Gateway } from "../helpers/gateway.js";
import { readRecords, receivedToolCalls } from "../helpers/records.js";
import { freePort } from "../helpers/upstreams.js";
import { waitFor } from "../helpers/wait.js";
import {
  AWS_KEY,
  cliToken,
  errorFor,
  openSession,
  resultFor,
  signWith,
  toolCall,
  type AttackSession,
  type HttpResult,
} from "./fixtures/attack-lib.js";

const TOOLS = { echo: ["demo:use"], pid: ["demo:use"], slow: ["demo:use"], admin_tool: ["admin:x"] };

/** Whether a session still answers (a session evicted or lost answers 404). */
async function alive(s: AttackSession): Promise<boolean> {
  const r = await s.post({ jsonrpc: "2.0", id: 999, method: "ping" });
  return r.status === 200;
}

describe("fairness: session caps", () => {
  let gw: Gateway;

  before(async () => {
    const rec = join(makeTempDir("warden-fair-"), "rec.jsonl");
    gw = await startGateway({
      gateway: { listen: `127.0.0.1:${await freePort()}`, max_sessions: 4, max_sessions_per_caller: 2 },
      auth: { anonymous: ["demo:use"] },
      servers: [recorderStdio("rec", rec, TOOLS)],
    });
  });

  after(async () => {
    await gw?.stop();
  });

  test("one anonymous address opening many sessions does not evict another address's session", async () => {
    const victim = await openSession(gw.serverUrl("rec"), { localAddress: "127.0.0.2" });
    for (let i = 0; i < 3; i++) {
      const s = await openSession(gw.serverUrl("rec"), { localAddress: "127.0.0.3" }).catch(() => undefined);
      void s;
    }
    assert.ok(
      await alive(victim),
      "the anonymous caller on 127.0.0.2 lost its session to 127.0.0.3's sessions",
    );
    const r = await victim.post(toolCall(1, "echo", { message: "still mine" }));
    assert.ok(resultFor(r, 1), `${r.status} ${r.text.slice(0, 200)}`);
  });

  test("one user with three clients cannot fill max_sessions; another user still gets in", async () => {
    const sessions: AttackSession[] = [];
    for (const client of ["c1", "c2", "c3"]) {
      const token = await cliToken(gw, "alice", "demo:use", client);
      for (let i = 0; i < 2; i++) {
        const s = await openSession(gw.serverUrl("rec"), { token }).catch(() => undefined);
        if (s) sessions.push(s);
      }
    }
    let live = 0;
    for (const s of sessions) if (await alive(s)) live++;
    assert.ok(live <= 2, `alice holds ${live} live sessions through three clients (cap per user: 2)`);
    const bob = await cliToken(gw, "bob", "demo:use");
    const b = await openSession(gw.serverUrl("rec"), { token: bob }).catch((e: Error) => e);
    assert.ok(!(b instanceof Error), `bob could not open a session: ${b instanceof Error ? b.message : ""}`);
  });
});

describe("fairness: rate limits, duplicate ids and the scope memo", () => {
  let gw: Gateway;
  let dupRecord: string;
  let keyFile: string;

  before(async () => {
    const dir = makeTempDir("warden-fair-");
    dupRecord = join(dir, "dup.jsonl");
    keyFile = join(dir, "signing.jwk");
    const kg = await runCli(["keygen", "--signing", keyFile], { cwd: dir });
    assert.equal(kg.code, 0, kg.stderr);
    gw = await startGateway({
      gateway: { listen: `127.0.0.1:${await freePort()}` },
      auth: { anonymous: ["demo:use"], signing_key_file: keyFile },
      servers: [
        { ...recorderStdio("rl", join(dir, "rl.jsonl"), TOOLS), rate_limit: "3/min" },
        recorderStdio("dup", dupRecord, TOOLS),
        recorderStdio("memo", join(dir, "memo.jsonl"), TOOLS),
      ],
    });
  });

  after(async () => {
    await gw?.stop();
  });

  const limited = (r: HttpResult, id: number) => errorFor(r, id)?.code === -32002;

  test("one user's budget is shared by its clients", async () => {
    const c1 = await openSession(gw.serverUrl("rl"), {
      token: await cliToken(gw, "carol", "demo:use", "c1"),
    });
    const c2 = await openSession(gw.serverUrl("rl"), {
      token: await cliToken(gw, "carol", "demo:use", "c2"),
    });
    const c3 = await openSession(gw.serverUrl("rl"), {
      token: await cliToken(gw, "carol", "demo:use", "c3"),
    });
    for (let i = 1; i <= 3; i++)
      assert.ok(resultFor(await c1.post(toolCall(i, "echo", { message: "a" })), i));
    const r2 = await c2.post(toolCall(4, "echo", { message: "b" }));
    const r3 = await c3.post(toolCall(5, "echo", { message: "c" }));
    assert.ok(limited(r2, 4), `carol's second client got a fresh budget: ${r2.text.slice(0, 200)}`);
    assert.ok(limited(r3, 5), `carol's third client got a fresh budget: ${r3.text.slice(0, 200)}`);
  });

  test("anonymous callers are told apart by address: one address's spent budget does not refuse another", async () => {
    const a = await openSession(gw.serverUrl("rl"), { localAddress: "127.0.0.4" });
    for (let i = 1; i <= 3; i++) await a.post(toolCall(i, "echo", { message: "a" }));
    const over = await a.post(toolCall(4, "echo", { message: "a" }));
    assert.ok(limited(over, 4), `the flooding address should be limited: ${over.text.slice(0, 200)}`);
    const b = await openSession(gw.serverUrl("rl"), { localAddress: "127.0.0.5" });
    const first = await b.post(toolCall(1, "echo", { message: "b" }));
    assert.ok(
      resultFor(first, 1),
      `127.0.0.5 was refused for 127.0.0.4's calls: ${first.text.slice(0, 200)}`,
    );
  });

  test("a request reusing an in-flight id is refused, and the first still falls to the kill switch", async () => {
    const s = await openSession(gw.serverUrl("dup"), { token: await cliToken(gw, "dora", "demo:use") });
    const first = s
      .post(toolCall(7, "slow", { label: "first" }), { timeoutMs: 20_000 })
      .catch((e: Error) => e);
    await waitFor(() => readRecords(dupRecord).some((r) => r.event === "tool" && r.label === "first"), {
      timeoutMs: 10_000,
      what: "the slow call to start upstream",
    });
    const second = await s.post(toolCall(7, "echo", { message: "same id" }), { timeoutMs: 10_000 });
    const err = errorFor(second, 7);
    assert.ok(
      err,
      `a second request with an in-flight id must be refused: ${second.status} ${second.text.slice(0, 200)}`,
    );
    assert.equal(err.code, -32600, `expected -32600 for a duplicate id, got ${JSON.stringify(err)}`);
    assert.equal(receivedToolCalls(dupRecord, "echo").length, 0, "the duplicate reached the upstream");

    const kill = await runCli(["kill", "-c", gw.configFile, "--server", "dup", "--reason", "attack test"], {
      cwd: gw.dir,
    });
    assert.equal(kill.code, 0, kill.stderr);
    const answer = await first;
    assert.ok(!(answer instanceof Error), `the first request escaped the kill switch: ${String(answer)}`);
    assert.equal(
      errorFor(answer, 7)?.code,
      -32003,
      `the first request must be killed: ${answer.text.slice(0, 300)}`,
    );
    await waitFor(() => readRecords(dupRecord).some((r) => r.event === "aborted" && r.label === "first"), {
      timeoutMs: 10_000,
      what: "the upstream to be told to cancel the first call",
    });
  });

  test("a scope string with a space does not inherit a caller's two scopes", async () => {
    const template = await cliToken(gw, "template", "demo:use");
    const legit = await signWith(keyFile, template, {
      sub: "root",
      scope: undefined,
      scp: ["demo:use", "admin:x"],
    });
    const l = await openSession(gw.serverUrl("memo"), { token: legit });
    assert.ok(
      resultFor(await l.post(toolCall(1, "admin_tool", {})), 1),
      "the legitimate caller holds admin:x",
    );

    // The one scope string, in either order a memo key might join the two scopes in.
    let id = 1;
    for (const scp of [["demo:use admin:x"], ["admin:x demo:use"]]) {
      const forged = await signWith(keyFile, template, { sub: "eve", scope: undefined, scp });
      const e = await openSession(gw.serverUrl("memo"), { token: forged });
      const r = await e.post(toolCall(++id, "admin_tool", {}));
      assert.ok(
        r.status === 403 || errorFor(r, id)?.code === -32001,
        `a caller holding the one scope ${JSON.stringify(scp[0])} ran admin_tool: ${r.status} ${r.text.slice(0, 200)}`,
      );
    }
  });
});

describe("fairness: automatic kill rules", () => {
  let gw: Gateway;

  before(async () => {
    const dir = makeTempDir("warden-kill-");
    gw = await startGateway({
      gateway: { listen: `127.0.0.1:${await freePort()}` },
      auth: { anonymous: ["demo:use"] },
      protect: { redact_arguments: "block" },
      kill_switch: {
        rules: [
          { when: "denied", count: 3, within: "1m", kill: "server" },
          { when: "denied", count: 2, within: "1m", kill: "tool" },
          { when: "denied", count: 3, within: "1m", kill: "user" },
        ],
      },
      servers: [
        recorderStdio("k1", join(dir, "k1.jsonl"), TOOLS),
        recorderStdio("k2", join(dir, "k2.jsonl"), TOOLS),
        { ...recorderStdio("k3", join(dir, "k3.jsonl"), TOOLS), rate_limit: { tools: { echo: "2/min" } } },
      ],
    });
  });

  after(async () => {
    await gw?.stop();
  });

  const killed = (r: HttpResult, id: number) => errorFor(r, id)?.code === -32003;

  test("one user's denials do not kill a server or a tool for everyone", async () => {
    const mallory = await openSession(gw.serverUrl("k1"), {
      token: await cliToken(gw, "mallory", "demo:use"),
    });
    // Unmapped tools and missing scopes: both are refusals the caller caused.
    for (let i = 1; i <= 6; i++) await mallory.post(toolCall(i, i % 2 ? "secret_tool" : "admin_tool", {}));
    await new Promise((r) => setTimeout(r, 500));
    const bob = await openSession(gw.serverUrl("k1"), { token: await cliToken(gw, "bob", "demo:use") }).catch(
      (e: Error) => e,
    );
    assert.ok(
      !(bob instanceof Error),
      `after mallory's denials bob cannot even open a session on k1: ${String(bob)}`,
    );
    const r = await bob.post(toolCall(1, "echo", { message: "hi" }));
    assert.ok(!killed(r, 1), `mallory alone killed k1 (or its tool) for bob: ${r.text.slice(0, 200)}`);
    assert.ok(resultFor(r, 1), `${r.status} ${r.text.slice(0, 200)}`);
  });

  test("anonymous denials from several addresses never kill a tool or server", async () => {
    for (const source of ["127.0.0.6", "127.0.0.7", "127.0.0.8"]) {
      const s = await openSession(gw.serverUrl("k2"), { localAddress: source });
      for (let i = 1; i <= 2; i++) {
        const r = await s.post(toolCall(i, "echo", { message: `key ${AWS_KEY}` }));
        const code = errorFor(r, i)?.code;
        assert.ok(
          code === -32006 || code === -32003,
          `the call should be refused for its secret: ${r.text.slice(0, 200)}`,
        );
      }
    }
    await new Promise((r) => setTimeout(r, 500));
    const bob = await openSession(gw.serverUrl("k2"), { token: await cliToken(gw, "bob", "demo:use") });
    const r = await bob.post(toolCall(1, "echo", { message: "hi" }));
    assert.ok(!killed(r, 1), `anonymous callers killed k2/echo for bob: ${r.text.slice(0, 200)}`);
    const anon = await openSession(gw.serverUrl("k2"), { localAddress: "127.0.0.9" });
    const a = await anon.post(toolCall(1, "echo", { message: "hi" }));
    assert.ok(!killed(a, 1), `anonymous denials killed every anonymous caller: ${a.text.slice(0, 200)}`);
  });

  test("rate-limit refusals are not denials: a caller held by a rate limit is not killed", async () => {
    const erin = await openSession(gw.serverUrl("k3"), { token: await cliToken(gw, "erin", "demo:use") });
    let refused = 0;
    for (let i = 1; i <= 6; i++) {
      const r = await erin.post(toolCall(i, "echo", { message: "x" }));
      if (errorFor(r, i)?.code === -32002) refused++;
    }
    assert.ok(refused >= 1, `the per-tool limit should have refused erin (${refused} refusals)`);
    await new Promise((r) => setTimeout(r, 500));
    const r = await erin.post(toolCall(10, "pid", {}));
    assert.ok(!killed(r, 10), `erin was killed for being rate limited: ${r.text.slice(0, 200)}`);
    const bob = await openSession(gw.serverUrl("k3"), { token: await cliToken(gw, "bob", "demo:use") });
    const b = await bob.post(toolCall(11, "echo", { message: "mine" }));
    assert.ok(!killed(b, 11), `erin's rate-limit refusals killed k3/echo for bob: ${b.text.slice(0, 200)}`);
  });
});
