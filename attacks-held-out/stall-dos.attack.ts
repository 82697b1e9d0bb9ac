// Held-out attacks, issue 14 §3 (no single request stalls the gateway): shapes, routes and floods
// not in test/attacks/stall-dos.test.ts.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { connect } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { recorderStdio } from "../test/helpers/configs.js";
import { makeTempDir, startGateway, type Gateway } from "../test/helpers/gateway.js";
import { receivedToolCalls } from "../test/helpers/records.js";
import { freePort } from "../test/helpers/upstreams.js";
import {
  cliToken,
  errorFor,
  http,
  mcpPostHeaders,
  openSession,
  resultFor,
  toolCall,
  type AttackSession,
  type HttpResult,
} from "../test/attacks/fixtures/attack-lib.js";

const SLOW_BOUND_MS = 40_000;
const BOUND = 2_000; // a healthy call takes a few ms; parsing one of these bodies takes ~1 s

function trickle(port: number, localAddress: string, head: string, drip: string) {
  const started = Date.now();
  return new Promise<{ ms: number; answer: string }>((resolve) => {
    let answer = "";
    let i = 0;
    const socket = connect({ host: "127.0.0.1", port, localAddress }, () => socket.write(head));
    const timer = setInterval(() => {
      if (i < drip.length && socket.writable) socket.write(drip.slice(i, (i += 8)));
    }, 1000);
    const done = () => {
      clearInterval(timer);
      clearTimeout(cap);
      resolve({ ms: Date.now() - started, answer });
    };
    const cap = setTimeout(() => {
      socket.destroy();
      done();
    }, SLOW_BOUND_MS + 5_000);
    socket.on("data", (d: Buffer) => (answer += d.toString("latin1")));
    socket.on("close", done);
    socket.on("error", () => {});
  });
}

/** One sign-in attempt from `source`: a new authorization request, its form, a wrong password. */
async function signInAttempt(gw: Gateway, clientId: string, source: string, user: string): Promise<number> {
  const verifier = randomBytes(32).toString("base64url");
  const q = new URLSearchParams({
    client_id: clientId,
    response_type: "code",
    redirect_uri: "http://127.0.0.1:9/cb",
    code_challenge: createHash("sha256").update(verifier).digest("base64url"),
    code_challenge_method: "S256",
    resource: gw.mcpUrl,
    scope: "demo:use",
    state: "s",
  });
  const a = await http(`${gw.url}/oauth/authorize?${q}`, { method: "GET", localAddress: source });
  if (a.status !== 303 && a.status !== 302) return a.status;
  const cookies = ([] as string[])
    .concat(a.headers["set-cookie"] ?? [])
    .map((c) => c.split(";")[0])
    .join("; ");
  const page = await http(new URL(String(a.headers.location), gw.url).toString(), {
    method: "GET",
    localAddress: source,
    headers: { cookie: cookies },
  });
  if (page.status !== 200) return page.status;
  const action = /<form method="post" action="([^"]+\/login)"/.exec(page.text)?.[1];
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)?.[1];
  if (!action || !csrf) return -1;
  const post = await http(new URL(action, gw.url).toString(), {
    localAddress: source,
    headers: { cookie: cookies, "content-type": "application/x-www-form-urlencoded", origin: gw.url },
    body: new URLSearchParams({
      csrf,
      username: user,
      password: `wrong-${randomBytes(4).toString("hex")}`,
    }).toString(),
  });
  return post.status;
}

async function registerClient(gw: Gateway, source = "127.0.0.1"): Promise<HttpResult> {
  return http(`${gw.url}/oauth/register`, {
    localAddress: source,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      redirect_uris: ["http://127.0.0.1:9/cb"],
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code"],
      response_types: ["code"],
      client_name: "held-out",
    }),
  });
}

describe("held-out stall and denial of service", () => {
  let gw: Gateway;
  let port: number;
  let recordFile: string;
  let token: string;
  let session: AttackSession;
  let clientId: string;
  let chunked: Promise<{ ms: number; answer: string }>;
  let slowRegister: Promise<{ ms: number; answer: string }>;

  before(async () => {
    port = await freePort();
    recordFile = join(makeTempDir("warden-ho-dos-"), "rec.jsonl");
    gw = await startGateway({
      gateway: { listen: `127.0.0.1:${port}` },
      auth: { anonymous: [] },
      audit: { sinks: ["sqlite", { jsonl: "audit.jsonl" }] },
      servers: [
        recorderStdio("rec", recordFile, { echo: ["demo:use"], deep: ["demo:use"], admin_tool: ["admin:x"] }),
      ],
    });
    chunked = trickle(
      port,
      "127.0.0.31",
      `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\n` +
        `accept: application/json, text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n`,
      "1\r\n[\r\n".repeat(400),
    );
    slowRegister = trickle(
      port,
      "127.0.0.32",
      `POST /oauth/register HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\ncontent-length: 2000\r\n\r\n{`,
      " ".repeat(400),
    );
    token = await cliToken(gw, "alice", "demo:use");
    session = await openSession(gw.mcpUrl, { token });
    const reg = await registerClient(gw);
    assert.equal(reg.status, 201, reg.text);
    clientId = (JSON.parse(reg.text) as { client_id: string }).client_id;
  });

  after(async () => {
    await gw?.stop();
  });

  const send = (body: string) =>
    http(gw.mcpUrl, {
      headers: mcpPostHeaders(
        { authorization: `Bearer ${token}` },
        session.sessionId,
        session.protocolVersion,
      ),
      body,
      timeoutMs: 30_000,
      tolerateEarlyClose: true,
    });

  function expectRejected(res: HttpResult, what: string) {
    const err = errorFor(res);
    assert.ok(
      res.closedEarly || res.status === 413 || err?.code === -32600,
      `${what}: expected -32600, got HTTP ${res.status} ${res.text.slice(0, 200)}`,
    );
  }

  const call = (id: number, name: string, args: Record<string, unknown>) =>
    session.post(toolCall(id, name, args));

  test("depth hidden in one element of a batch", async () => {
    const n = 1_500_000;
    const body = `[${JSON.stringify(toolCall(1, "rec__echo", { message: "a" }))},${"[".repeat(n)}${"]".repeat(n)}]`;
    expectRejected(await send(body), "deep batch element");
  });

  test("alternating arrays and objects, and whitespace between brackets", async () => {
    const n = 400_000;
    expectRejected(await send('[{"a":'.repeat(n) + "0" + "}]".repeat(n)), "alternating");
    expectRejected(await send("[ \n\t".repeat(n) + "]\r\n".repeat(n)), "whitespace");
  });

  test("just past the documented depth (64): refused; a modest depth is served", async () => {
    let v: unknown = 1;
    for (let i = 0; i < 80; i++) v = [v];
    const res = await call(10, "rec__deep", { value: v });
    expectRejected(res, "depth 80");
    assert.equal(receivedToolCalls(recordFile, "deep").length, 0, "the too-deep call reached the upstream");
    let w: unknown = 1;
    for (let i = 0; i < 20; i++) w = { x: w };
    const ok = await call(11, "rec__deep", { value: w });
    assert.ok(resultFor(ok, 11), `a depth-20 argument must be served: ${ok.text.slice(0, 200)}`);
  });

  test("strings full of brackets, quotes and backslashes are data, not depth", async () => {
    const s = `${"[".repeat(5000)}\\"{{{${"]".repeat(10)}\\\\"[[[${"{".repeat(3000)}`;
    const ok = await call(12, "rec__deep", { value: [s, { k: s }] });
    assert.ok(resultFor(ok, 12), `a string of brackets was refused: ${ok.status} ${ok.text.slice(0, 200)}`);
  });

  test("an over-wide body (half a million elements) is refused before it reaches the upstream", async () => {
    const before = receivedToolCalls(recordFile, "deep").length;
    const body = `{"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"rec__deep","arguments":{"value":[${"0,".repeat(499_999)}0]}}}`;
    expectRejected(await send(body), "wide array");
    assert.equal(receivedToolCalls(recordFile, "deep").length, before, "the wide call reached the upstream");
  });

  test("a legitimate call is not held up behind alternating deep bodies", async () => {
    const n = 500_000;
    const body = '[{"a":'.repeat(n) + "0" + "}]".repeat(n);
    const attacks = Array.from({ length: 6 }, () => send(body).catch((e: Error) => e));
    let attacking = true;
    void Promise.all(attacks).then(() => (attacking = false));
    const latencies: number[] = [];
    await new Promise((r) => setTimeout(r, 150));
    while (attacking && latencies.length < 40) {
      const t0 = Date.now();
      const r = await call(100 + latencies.length, "rec__echo", { message: "x" });
      assert.ok(resultFor(r), r.text.slice(0, 200));
      latencies.push(Date.now() - t0);
      await new Promise((res) => setTimeout(res, 50));
    }
    await Promise.all(attacks);
    const worst = Math.max(...latencies);
    assert.ok(worst < BOUND, `a legitimate call waited ${worst} ms (${latencies.join(", ")})`);
  });

  test("2025-03-26 batches: refused, unmapped and a notification together; string ids; two refusals", async () => {
    const old = await openSession(gw.mcpUrl, { token, protocolVersion: "2025-03-26" });
    const res = await old.post(
      [
        toolCall("r1", "rec__admin_tool", {}),
        toolCall("u1", "rec__secret_tool", {}),
        { jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: "x", progress: 1 } },
        toolCall("ok", "rec__echo", { message: "fine" }),
      ],
      { timeoutMs: 15_000 },
    );
    assert.ok(errorFor(res, "r1"), `the scope refusal must be answered: ${res.status} ${res.text}`);
    assert.ok(errorFor(res, "u1"), `the unmapped tool must be answered: ${res.text}`);
    assert.ok(resultFor(res, "ok"), `the allowed call must be answered: ${res.text}`);
    const two = await old.post([toolCall(41, "rec__admin_tool", {}), toolCall(42, "rec__admin_tool", {})], {
      timeoutMs: 15_000,
    });
    assert.ok(
      errorFor(two, 41) && errorFor(two, 42),
      `both refusals must be answered: ${two.status} ${two.text}`,
    );
    assert.equal(receivedToolCalls(recordFile, "admin_tool").length, 0);
  });

  test("a flood of bad bearer tokens on a per-server route is cut with 429; another address is served", async () => {
    let limited = 0;
    let sent = 0;
    const deadline = Date.now() + 25_000;
    const bad = `${Buffer.from('{"alg":"RS256","typ":"at+jwt"}').toString("base64url")}.${Buffer.from('{"sub":"x"}').toString("base64url")}.${randomBytes(256).toString("base64url")}`;
    const worker = async () => {
      while (sent < 500 && Date.now() < deadline) {
        sent++;
        const r = await http(gw.serverUrl("rec"), {
          localAddress: "127.0.0.21",
          headers: mcpPostHeaders({ authorization: `Bearer ${bad}` }),
          body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
        });
        if (r.status === 429) limited++;
      }
    };
    await Promise.all(Array.from({ length: 12 }, worker));
    assert.ok(limited > 0, `no 429 among ${sent} bad-token requests from one address`);
    const other = await openSession(gw.serverUrl("rec"), { token, localAddress: "127.0.0.22" });
    assert.ok(resultFor(await other.post(toolCall(1, "echo", { message: "hi" })), 1));
  });

  test("GET stream requests without a token from one address are cut with 429", async () => {
    let limited = 0;
    for (let i = 0; i < 400 && limited === 0; i++) {
      const r = await http(gw.mcpUrl, {
        method: "GET",
        localAddress: "127.0.0.23",
        headers: { accept: "text/event-stream" },
      });
      if (r.status === 429) limited++;
    }
    assert.ok(limited > 0, "400 unauthenticated GETs from one address were never limited");
  });

  test("new authorization requests from one address are limited; another address can still start one", async () => {
    let limited = false;
    for (let i = 0; i < 500 && !limited; i++) {
      const q = new URLSearchParams({
        client_id: clientId,
        response_type: "code",
        redirect_uri: "http://127.0.0.1:9/cb",
        code_challenge: createHash("sha256").update(String(i)).digest("base64url"),
        code_challenge_method: "S256",
        resource: gw.mcpUrl,
        state: String(i),
      });
      const r = await http(`${gw.url}/oauth/authorize?${q}`, { method: "GET", localAddress: "127.0.0.24" });
      if (r.status === 429) limited = true;
    }
    assert.ok(limited, "500 authorization requests from one address were never limited");
    const q = new URLSearchParams({
      client_id: clientId,
      response_type: "code",
      redirect_uri: "http://127.0.0.1:9/cb",
      code_challenge: createHash("sha256").update("other").digest("base64url"),
      code_challenge_method: "S256",
      resource: gw.mcpUrl,
      state: "o",
    });
    const other = await http(`${gw.url}/oauth/authorize?${q}`, { method: "GET", localAddress: "127.0.0.25" });
    assert.ok(
      [302, 303].includes(other.status),
      `another address could not start a sign-in: ${other.status}`,
    );
  });

  test("new authorization requests through /oauth/authorize/ (trailing slash) are limited too", async () => {
    let started = 0;
    let limited = false;
    for (let i = 0; i < 300 && !limited; i++) {
      const q = new URLSearchParams({
        client_id: clientId,
        response_type: "code",
        redirect_uri: "http://127.0.0.1:9/cb",
        code_challenge: createHash("sha256").update(`slash${i}`).digest("base64url"),
        code_challenge_method: "S256",
        resource: gw.mcpUrl,
        state: String(i),
      });
      const r = await http(`${gw.url}/oauth/authorize/?${q}`, { method: "GET", localAddress: "127.0.0.27" });
      if (r.status === 429) limited = true;
      else if (r.status === 302 || r.status === 303) started++;
    }
    assert.ok(
      limited || started === 0,
      `one address started ${started} authorization requests through /oauth/authorize/`,
    );
  });

  test("registrations through other spellings of the path share the one budget", async () => {
    let created = 0;
    let limited = false;
    const paths = [
      "/oauth/register?via=query",
      "/oauth/./register",
      "/oauth/register#frag",
      "/oauth/register/",
    ];
    for (let i = 0; i < 240 && !limited; i++) {
      const r = await http(`${gw.url}${paths[i % paths.length]}`, {
        localAddress: "127.0.0.28",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          redirect_uris: [`http://127.0.0.1:9/spell${i}`],
          token_endpoint_auth_method: "none",
          grant_types: ["authorization_code"],
          response_types: ["code"],
        }),
      });
      if (r.status === 429) limited = true;
      if (r.status === 201) created++;
    }
    assert.ok(
      limited,
      `one address registered ${created} clients through path spellings without being limited`,
    );
  });

  test("sign-in with a new random user name each time, from one address, is limited", async () => {
    const statuses: number[] = [];
    const deadline = Date.now() + 40_000;
    for (let i = 0; i < 150 && Date.now() < deadline; i++) {
      const s = await signInAttempt(gw, clientId, "127.0.0.26", `user-${randomBytes(6).toString("hex")}`);
      statuses.push(s);
      if (s === 429) break;
    }
    assert.ok(
      statuses.includes(429),
      `${statuses.length} sign-ins with random names were never limited: ${statuses.slice(-5)}`,
    );
  });

  test("a chunked body and a registration body trickled in are cut within request_timeout", async () => {
    const [a, b] = await Promise.all([chunked, slowRegister]);
    assert.ok(a.ms <= SLOW_BOUND_MS, `a chunked body trickled in held its connection for ${a.ms} ms`);
    assert.ok(b.ms <= SLOW_BOUND_MS, `a registration body trickled in held its connection for ${b.ms} ms`);
  });
});

describe("held-out: password checks cannot starve the call path", () => {
  test("a burst of sign-ins from many addresses does not hold up a caller whose new token needs checking", async () => {
    const port = await freePort();
    const recordFile = join(makeTempDir("warden-ho-scrypt-"), "rec.jsonl");
    const gw = await startGateway({
      gateway: { listen: `127.0.0.1:${port}` },
      auth: { anonymous: [] },
      servers: [recorderStdio("rec", recordFile, { echo: ["demo:use"] })],
    });
    try {
      const s = await openSession(gw.mcpUrl, { token: await cliToken(gw, "bob", "demo:use") });
      // Fresh tokens: each is verified (signature work on the thread pool) on first use.
      const fresh: string[] = [];
      for (let i = 0; i < 3; i++) fresh.push(await cliToken(gw, "bob", "demo:use"));
      const reg = await registerClient(gw);
      const clientId = (JSON.parse(reg.text) as { client_id: string }).client_id;
      // 160 sign-in forms from 160 addresses (one attempt each: no per-source limit applies).
      const forms = await Promise.all(
        Array.from({ length: 160 }, (_, k) => prepareSignIn(gw, clientId, `127.0.2.${k + 2}`)),
      );
      const flood = forms.map((post) => post().catch(() => undefined));
      await new Promise((r) => setTimeout(r, 300));
      const during: number[] = [];
      for (const t of fresh) {
        const t0 = Date.now();
        const r = await s.post(toolCall(100 + during.length, "rec__echo", { message: "d" }), {
          timeoutMs: 60_000,
          headers: { authorization: `Bearer ${t}` },
        });
        assert.ok(resultFor(r), `${r.status} ${r.text.slice(0, 200)}`);
        during.push(Date.now() - t0);
      }
      await Promise.all(flood);
      const worst = Math.max(...during);
      assert.ok(worst < 5_000, `a call waited ${worst} ms behind a burst of sign-ins (${during.join(", ")})`);
    } finally {
      await gw.stop();
    }
  });
});

/** Starts an authorization request from `source` and returns a function that posts its sign-in form once. */
async function prepareSignIn(
  gw: Gateway,
  clientId: string,
  source: string,
): Promise<() => Promise<HttpResult>> {
  const q = new URLSearchParams({
    client_id: clientId,
    response_type: "code",
    redirect_uri: "http://127.0.0.1:9/cb",
    code_challenge: createHash("sha256").update(source).digest("base64url"),
    code_challenge_method: "S256",
    resource: gw.mcpUrl,
    scope: "demo:use",
    state: "s",
  });
  const a = await http(`${gw.url}/oauth/authorize?${q}`, { method: "GET", localAddress: source });
  const cookies = ([] as string[])
    .concat(a.headers["set-cookie"] ?? [])
    .map((c) => c.split(";")[0])
    .join("; ");
  const page = await http(new URL(String(a.headers.location), gw.url).toString(), {
    method: "GET",
    localAddress: source,
    headers: { cookie: cookies },
  });
  const action = /<form method="post" action="([^"]+\/login)"/.exec(page.text)?.[1];
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)?.[1];
  assert.ok(action && csrf, `no sign-in form for ${source}: ${a.status} ${page.status}`);
  return () =>
    http(new URL(action, gw.url).toString(), {
      localAddress: source,
      timeoutMs: 90_000,
      headers: { cookie: cookies, "content-type": "application/x-www-form-urlencoded", origin: gw.url },
      body: new URLSearchParams({ csrf, username: `u-${source}`, password: "not the password" }).toString(),
    });
}
