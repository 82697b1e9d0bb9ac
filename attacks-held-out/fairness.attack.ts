// Held-out attacks, issue 14 §4 (sessions, limits and kill rules cannot be turned against other
// callers): variants not in test/attacks/fairness.test.ts.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { recorderStdio } from "../test/helpers/configs.js";
import { makeTempDir, runCli, startGateway, type Gateway } from "../test/helpers/gateway.js";
import { readRecords, receivedToolCalls } from "../test/helpers/records.js";
import { freePort } from "../test/helpers/upstreams.js";
import { waitFor } from "../test/helpers/wait.js";
import {
  attackFixture,
  AWS_KEY,
  cliToken,
  errorFor,
  http,
  INJECTION,
  mcpPostHeaders,
  openSession,
  resultFor,
  signWith,
  toolCall,
  type AttackSession,
  type HttpResult,
} from "../test/attacks/fixtures/attack-lib.js";

const TOOLS = { echo: ["demo:use"], pid: ["demo:use"], slow: ["demo:use"], admin_tool: ["admin:x"] };

async function alive(s: AttackSession): Promise<boolean> {
  return (await s.post({ jsonrpc: "2.0", id: 999, method: "ping" })).status === 200;
}

describe("held-out fairness: session caps", () => {
  let gw: Gateway;

  before(async () => {
    gw = await startGateway({
      gateway: { listen: `127.0.0.1:${await freePort()}`, max_sessions: 10, max_sessions_per_caller: 2 },
      auth: { anonymous: ["demo:use"] },
      servers: [recorderStdio("rec", join(makeTempDir("warden-ho-fair-"), "rec.jsonl"), TOOLS)],
    });
  });

  after(async () => {
    await gw?.stop();
  });

  test("an address holding its two sessions keeps both while two other addresses open many", async () => {
    const mine = [
      await openSession(gw.serverUrl("rec"), { localAddress: "127.0.0.2" }),
      await openSession(gw.serverUrl("rec"), { localAddress: "127.0.0.2" }),
    ];
    for (const source of ["127.0.0.3", "127.0.0.4"])
      for (let i = 0; i < 3; i++)
        await openSession(gw.serverUrl("rec"), { localAddress: source }).catch(() => undefined);
    for (const s of mine) assert.ok(await alive(s), "another address's sessions evicted one of 127.0.0.2's");
  });

  test("a user with five clients cannot evict another user's idle session, nor keep a new user or an anonymous caller out", async () => {
    const bob = await openSession(gw.serverUrl("rec"), { token: await cliToken(gw, "bob", "demo:use") });
    for (let c = 0; c < 5; c++) {
      const token = await cliToken(gw, "alice", "demo:use", `client-${c}`);
      for (let i = 0; i < 2; i++) await openSession(gw.serverUrl("rec"), { token }).catch(() => undefined);
    }
    assert.ok(await alive(bob), "alice's sessions through five clients evicted bob's");
    const carl = await openSession(gw.serverUrl("rec"), {
      token: await cliToken(gw, "carl", "demo:use"),
    }).catch((e: Error) => e);
    assert.ok(!(carl instanceof Error), `a new user could not get in: ${String(carl)}`);
    const anon = await openSession(gw.serverUrl("rec"), { localAddress: "127.0.0.5" }).catch((e: Error) => e);
    assert.ok(!(anon instanceof Error), `an anonymous caller could not get in: ${String(anon)}`);
  });
});

describe("held-out fairness: forwarded-address headers and foreign sessions", () => {
  let gw: Gateway;

  before(async () => {
    gw = await startGateway({
      gateway: { listen: `127.0.0.1:${await freePort()}`, max_sessions_per_caller: 2 },
      auth: { anonymous: ["demo:use"] },
      servers: [
        {
          ...recorderStdio("rec", join(makeTempDir("warden-ho-xff-"), "rec.jsonl"), TOOLS),
          rate_limit: "3/min",
        },
      ],
    });
  });

  after(async () => {
    await gw?.stop();
  });

  const spoof = (ip: string) => ({ "x-forwarded-for": ip, forwarded: `for=${ip}`, "x-real-ip": ip });

  test("claiming another address in a header neither evicts its sessions nor escapes the rate limit", async () => {
    const victim = await openSession(gw.serverUrl("rec"), { localAddress: "127.0.0.2" });
    for (let i = 0; i < 4; i++) {
      await http(gw.serverUrl("rec"), {
        localAddress: "127.0.0.3",
        headers: mcpPostHeaders(spoof("127.0.0.2")),
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "initialize",
          params: {
            protocolVersion: "2025-11-25",
            capabilities: {},
            clientInfo: { name: "x", version: "1" },
          },
        }),
      });
    }
    assert.ok(await alive(victim), "sessions opened with a forged X-Forwarded-For evicted the victim's");
    const a = await openSession(gw.serverUrl("rec"), { localAddress: "127.0.0.4" });
    const codes: (number | string)[] = [];
    for (let i = 1; i <= 6; i++) {
      const r = await a.post(toolCall(i, "echo", { message: "x" }), { headers: spoof(`10.9.8.${i}`) });
      codes.push(errorFor(r, i)?.code ?? "ok");
    }
    assert.ok(codes.includes(-32002), `rotating X-Forwarded-For escaped the rate limit: ${codes.join(", ")}`);
  });

  test("an anonymous session id presented from another address is not that session", async () => {
    const victim = await openSession(gw.serverUrl("rec"), { localAddress: "127.0.0.5" });
    const r = await http(gw.serverUrl("rec"), {
      localAddress: "127.0.0.6",
      headers: mcpPostHeaders({}, victim.sessionId),
      body: JSON.stringify(toolCall(9, "echo", { message: "hijack" })),
    });
    assert.equal(r.status, 404, `another address used the session: ${r.status} ${r.text.slice(0, 200)}`);
  });
});

describe("held-out fairness: rate limits", () => {
  let gw: Gateway;

  before(async () => {
    gw = await startGateway({
      gateway: { listen: `127.0.0.1:${await freePort()}` },
      auth: { anonymous: ["demo:use"] },
      servers: [
        {
          ...recorderStdio("rl", join(makeTempDir("warden-ho-rl-"), "rl.jsonl"), TOOLS),
          rate_limit: { per_caller: "100/min", tools: { echo: "2/min" } },
        },
        {
          ...recorderStdio("rl2", join(makeTempDir("warden-ho-rl-"), "rl2.jsonl"), TOOLS),
          rate_limit: "3/min",
        },
      ],
    });
  });

  after(async () => {
    await gw?.stop();
  });

  test("a per-tool limit is one budget for all of a user's clients", async () => {
    const c1 = await openSession(gw.serverUrl("rl"), {
      token: await cliToken(gw, "gina", "demo:use", "desk"),
    });
    const c2 = await openSession(gw.serverUrl("rl"), {
      token: await cliToken(gw, "gina", "demo:use", "phone"),
    });
    for (let i = 1; i <= 2; i++)
      assert.ok(resultFor(await c1.post(toolCall(i, "echo", { message: "a" })), i));
    const r = await c2.post(toolCall(3, "echo", { message: "b" }));
    assert.equal(
      errorFor(r, 3)?.code,
      -32002,
      `gina's second client got a fresh per-tool budget: ${r.text.slice(0, 200)}`,
    );
  });

  test("an anonymous address does not get a new budget by opening a new session", async () => {
    const a = await openSession(gw.serverUrl("rl2"), { localAddress: "127.0.0.9" });
    for (let i = 1; i <= 3; i++) await a.post(toolCall(i, "echo", { message: "a" }));
    const b = await openSession(gw.serverUrl("rl2"), { localAddress: "127.0.0.9" });
    const r = await b.post(toolCall(4, "echo", { message: "a" }));
    assert.equal(
      errorFor(r, 4)?.code,
      -32002,
      `a new session from the same address got a new budget: ${r.text.slice(0, 200)}`,
    );
    const other = await openSession(gw.serverUrl("rl2"), { localAddress: "127.0.0.10" });
    assert.ok(
      resultFor(await other.post(toolCall(5, "echo", { message: "b" })), 5),
      "another address was refused",
    );
  });
});

describe("held-out fairness: kill rules", () => {
  let gw: Gateway;

  before(async () => {
    const dir = makeTempDir("warden-ho-kill-");
    gw = await startGateway({
      gateway: { listen: `127.0.0.1:${await freePort()}` },
      auth: { anonymous: ["demo:use"] },
      protect: { redact_arguments: "redact", injection: "annotate" },
      kill_switch: {
        rules: [
          { when: "redacted", count: 2, within: "1m", kill: "tool" },
          { when: "injection", count: 2, within: "1m", kill: "tool" },
          { when: "upstream_error", count: 2, within: "1m", kill: "server" },
          { when: "denied", count: 2, within: "1m", kill: "server" },
          { when: "denied", count: 3, within: "1m", kill: "user" },
        ],
      },
      servers: [
        recorderStdio("red", join(dir, "red.jsonl"), TOOLS),
        recorderStdio("inj", join(dir, "inj.jsonl"), TOOLS),
        {
          name: "flaky",
          command: process.execPath,
          args: [attackFixture("uri-server.mjs")],
          tools: { "*": ["demo:use"] },
          resources: { "file:///srv/*": [] },
        },
        recorderStdio("auth", join(dir, "auth.jsonl"), TOOLS),
        recorderStdio("anon", join(dir, "anon.jsonl"), TOOLS),
      ],
    });
  });

  after(async () => {
    await gw?.stop();
  });

  const killed = (r: HttpResult, id: number | string) => errorFor(r, id)?.code === -32003;

  async function bobCalls(server: string, tool: string, args: Record<string, unknown>) {
    const bob = await openSession(gw.serverUrl(server), {
      token: await cliToken(gw, "bob", "demo:use"),
    }).catch((e: Error) => e);
    assert.ok(!(bob instanceof Error), `bob cannot open a session on ${server}: ${String(bob)}`);
    return bob.post(toolCall("b", tool, args));
  }

  test("one user's redacted calls, through three clients, do not kill the tool", async () => {
    for (const c of ["c1", "c2", "c3"]) {
      const s = await openSession(gw.serverUrl("red"), {
        token: await cliToken(gw, "mallory", "demo:use", c),
      });
      await s.post(toolCall(1, "echo", { message: `key ${AWS_KEY}` }));
    }
    await new Promise((r) => setTimeout(r, 400));
    const r = await bobCalls("red", "echo", { message: "hello" });
    assert.ok(
      !killed(r, "b"),
      `mallory killed red/echo for bob with redacted calls: ${r.text.slice(0, 200)}`,
    );
  });

  test("one user's injection-bearing results do not kill the tool", async () => {
    const s = await openSession(gw.serverUrl("inj"), { token: await cliToken(gw, "mallory2", "demo:use") });
    for (let i = 1; i <= 4; i++) await s.post(toolCall(i, "echo", { message: INJECTION }));
    await new Promise((r) => setTimeout(r, 400));
    const r = await bobCalls("inj", "echo", { message: "hello" });
    assert.ok(
      !killed(r, "b"),
      `mallory2 killed inj/echo for bob with injected results: ${r.text.slice(0, 200)}`,
    );
  });

  test("one user's upstream errors do not kill the server", async () => {
    const s = await openSession(gw.serverUrl("flaky"), { token: await cliToken(gw, "mallory3", "demo:use") });
    // A document the upstream does not have: it answers with a JSON-RPC error (an upstream error).
    for (let i = 1; i <= 4; i++) {
      await s.post({
        jsonrpc: "2.0",
        id: i,
        method: "resources/read",
        params: { uri: `file:///srv/missing-${i}` },
      });
    }
    await new Promise((r) => setTimeout(r, 400));
    const bob = await openSession(gw.serverUrl("flaky"), {
      token: await cliToken(gw, "bob", "demo:use"),
    }).catch((e: Error) => e);
    assert.ok(!(bob instanceof Error), `bob cannot open a session on flaky: ${String(bob)}`);
    const r = await bob.post({
      jsonrpc: "2.0",
      id: "b",
      method: "resources/read",
      params: { uri: "file:///srv/public/readme.txt" },
    });
    assert.ok(!killed(r, "b"), `mallory3 killed flaky for bob with upstream errors: ${r.text.slice(0, 200)}`);
    assert.ok(resultFor(r, "b"), r.text.slice(0, 200));
  });

  test("unauthenticated refusals on a server's route never kill it", async () => {
    for (let i = 0; i < 6; i++) {
      await http(gw.serverUrl("auth"), {
        localAddress: "127.0.0.11",
        headers: mcpPostHeaders({ authorization: "Bearer not-a-token" }),
        body: JSON.stringify(toolCall(i, "admin_tool", {})),
      });
    }
    await new Promise((r) => setTimeout(r, 400));
    const r = await bobCalls("auth", "echo", { message: "hello" });
    assert.ok(!killed(r, "b"), `unauthenticated refusals killed auth: ${r.text.slice(0, 200)}`);
  });

  test("one anonymous address's denials kill neither the server nor every anonymous caller", async () => {
    const a = await openSession(gw.serverUrl("anon"), { localAddress: "127.0.0.12" });
    for (let i = 1; i <= 5; i++) await a.post(toolCall(i, "secret_tool", {}));
    await new Promise((r) => setTimeout(r, 400));
    const other = await openSession(gw.serverUrl("anon"), { localAddress: "127.0.0.13" }).catch(
      (e: Error) => e,
    );
    assert.ok(!(other instanceof Error), `another anonymous address cannot open a session: ${String(other)}`);
    const r = await other.post(toolCall(1, "echo", { message: "hi" }));
    assert.ok(!killed(r, 1), `one anonymous address's denials killed the others: ${r.text.slice(0, 200)}`);
    const b = await bobCalls("anon", "echo", { message: "hi" });
    assert.ok(!killed(b, "b"), `anonymous denials killed the server: ${b.text.slice(0, 200)}`);
  });
});

describe("held-out fairness: duplicate in-flight ids and the scope memo", () => {
  let gw: Gateway;
  let dir: string;
  let keyFile: string;

  before(async () => {
    dir = makeTempDir("warden-ho-dup-");
    keyFile = join(dir, "signing.jwk");
    assert.equal((await runCli(["keygen", "--signing", keyFile], { cwd: dir })).code, 0);
    gw = await startGateway({
      gateway: { listen: `127.0.0.1:${await freePort()}` },
      auth: { anonymous: [], signing_key_file: keyFile },
      servers: [
        recorderStdio("d1", join(dir, "d1.jsonl"), TOOLS),
        recorderStdio("d2", join(dir, "d2.jsonl"), TOOLS),
        recorderStdio("d3", join(dir, "d3.jsonl"), TOOLS),
        recorderStdio("d4", join(dir, "d4.jsonl"), TOOLS),
        recorderStdio("memo", join(dir, "memo.jsonl"), TOOLS),
      ],
    });
  });

  after(async () => {
    await gw?.stop();
  });

  const started = (file: string, label: string) =>
    waitFor(() => readRecords(file).some((r) => r.event === "tool" && r.label === label), {
      timeoutMs: 10_000,
      what: `slow ${label} to start upstream`,
    });
  const aborted = (file: string, label: string) =>
    waitFor(() => readRecords(file).some((r) => r.event === "aborted" && r.label === label), {
      timeoutMs: 10_000,
      what: `slow ${label} to be cancelled upstream`,
    });
  const kill = async (server: string) => {
    const r = await runCli(["kill", "-c", gw.configFile, "--server", server, "--reason", "held-out"], {
      cwd: gw.dir,
    });
    assert.equal(r.code, 0, r.stderr);
  };

  test("a duplicate id inside a 2025-03-26 batch: refused, and the other still killed", async () => {
    const file = join(dir, "d1.jsonl");
    const s = await openSession(gw.serverUrl("d1"), {
      token: await cliToken(gw, "hal", "demo:use"),
      protocolVersion: "2025-03-26",
    });
    const batch = s
      .post([toolCall(9, "slow", { label: "b1" }), toolCall(9, "echo", { message: "twin" })], {
        timeoutMs: 20_000,
      })
      .catch((e: Error) => e);
    await started(file, "b1");
    await kill("d1");
    const res = await batch;
    assert.ok(!(res instanceof Error), `the batch was never answered: ${String(res)}`);
    const errors = res.messages
      .filter((m) => m.id === 9 && "error" in m)
      .map((m) => (m.error as { code: number }).code);
    assert.ok(errors.includes(-32003), `the slow call escaped the kill: ${res.text.slice(0, 300)}`);
    assert.equal(receivedToolCalls(file, "echo").length, 0, "the duplicate reached the upstream");
  });

  test('number 7 in flight, then string "7": whatever happens, the kill reaches every call in flight', async () => {
    const file = join(dir, "d2.jsonl");
    const s = await openSession(gw.serverUrl("d2"), { token: await cliToken(gw, "ivy", "demo:use") });
    const first = s.post(toolCall(7, "slow", { label: "n7" }), { timeoutMs: 20_000 }).catch((e: Error) => e);
    await started(file, "n7");
    const second = s
      .post(toolCall("7", "slow", { label: "s7" }), { timeoutMs: 20_000 })
      .catch((e: Error) => e);
    await new Promise((r) => setTimeout(r, 500));
    await kill("d2");
    const [a, b] = await Promise.all([first, second]);
    assert.ok(!(a instanceof Error), `the first call escaped the kill switch: ${String(a)}`);
    assert.equal(errorFor(a, 7)?.code, -32003, a.text.slice(0, 200));
    assert.ok(!(b instanceof Error), `the second call was never answered: ${String(b)}`);
    assert.ok(errorFor(b, "7"), `the second call must be refused or killed: ${b.text.slice(0, 200)}`);
  });

  test("after a refused duplicate, the client's cancellation still reaches the first call", async () => {
    const file = join(dir, "d3.jsonl");
    const s = await openSession(gw.serverUrl("d3"), { token: await cliToken(gw, "jon", "demo:use") });
    const first = s.post(toolCall(8, "slow", { label: "c8" }), { timeoutMs: 20_000 }).catch((e: Error) => e);
    await started(file, "c8");
    const dup = await s.post(toolCall(8, "pid", {}));
    assert.ok(errorFor(dup, 8), `the duplicate must be refused: ${dup.text.slice(0, 200)}`);
    await s.post({
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: 8, reason: "user" },
    });
    await aborted(file, "c8");
    await first;
  });

  test("eight requests with one id sent at once: one runs, the kill reaches it", async () => {
    const file = join(dir, "d4.jsonl");
    const s = await openSession(gw.serverUrl("d4"), { token: await cliToken(gw, "kim", "demo:use") });
    const calls = Array.from({ length: 8 }, (_, i) =>
      s.post(toolCall(70, "slow", { label: `race${i}` }), { timeoutMs: 20_000 }).catch((e: Error) => e),
    );
    await waitFor(() => readRecords(file).some((r) => r.event === "tool"), {
      timeoutMs: 10_000,
      what: "a start",
    });
    await new Promise((r) => setTimeout(r, 500));
    const started = readRecords(file).filter((r) => r.event === "tool").length;
    await kill("d4");
    const answers = await Promise.all(calls);
    for (const a of answers)
      assert.ok(!(a instanceof Error), `a request with the raced id was never answered: ${String(a)}`);
    assert.equal(started, 1, `${started} requests with one in-flight id reached the upstream`);
    const codes = answers.map((a) => (a instanceof Error ? 0 : errorFor(a, 70)?.code));
    assert.ok(codes.includes(-32003), `the running call escaped the kill: ${codes.join(", ")}`);
  });

  test("scope strings with other separators do not inherit a caller's set", async () => {
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
    let id = 10;
    const forms: Record<string, unknown>[] = [
      { scp: ["admin:x|demo:use"] },
      { scp: ["admin:x,demo:use"] },
      { scp: ["admin:x\ndemo:use"] },
      { scp: ["admin:x\tdemo:use"] },
      { scp: ["admin:x\u0000demo:use"] },
      { scope: "admin:x\tdemo:use" },
      { scp: ['admin:x","demo:use'] },
    ];
    for (const claims of forms) {
      const forged = await signWith(keyFile, template, { sub: `eve${id}`, scope: undefined, ...claims });
      const e = await openSession(gw.serverUrl("memo"), { token: forged }).catch((err: Error) => err);
      if (e instanceof Error) continue; // refusing the token outright is fine
      const r = await e.post(toolCall(++id, "admin_tool", {}));
      assert.ok(
        r.status === 401 || r.status === 403 || errorFor(r, id)?.code === -32001,
        `${JSON.stringify(claims)} ran admin_tool: ${r.status} ${r.text.slice(0, 200)}`,
      );
    }
    assert.equal(
      receivedToolCalls(join(dir, "memo.jsonl"), "admin_tool").length,
      1,
      "admin_tool ran for a forged scope string",
    );
  });
});
