// No single request stalls the gateway (issue 14 §3): over-deep and over-wide bodies are refused
// before parsing, slow bodies are cut, every request of a batch is answered, and unauthenticated
// floods (refused tokens, authorization requests, sign-ins, registrations) are limited per source
// address, a second loopback address (127.0.0.2) standing for another source.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { sendFrom, type RawAnswer } from "../helpers/sources.js";
import { connect } from "node:net";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { authorizeUrl, FormBrowser, formEndingWith, pkcePair, USERS } from "../e2e/oauth-client.js";
import { hashPassword } from "../../src/auth/passwords.js";
import { recorderStdio } from "../helpers/configs.js";
import {
  CLI,
  fixture,
  makeTempDir,
  runCli,
  startGateway,
  writeConfig,
  type Gateway,
} from "../helpers/gateway.js";
import { spawnTracked, stopChild } from "../helpers/processes.js";
import { initializeRequest, mcpHeaders, openRawSession, parseMessages, rpcError } from "../helpers/http.js";
import { parseMetrics, valueOf } from "../helpers/metrics.js";
import { receivedToolCalls } from "../helpers/records.js";
import { auditEvents } from "../helpers/supply.js";
import { freePort } from "../helpers/upstreams.js";
import { waitFor } from "../helpers/wait.js";

const LIMITS = { failed_auth: "5/min", authorize: "4/min", sign_in: "3/min", register: "3/hour" };
const OTHER_SOURCE = "127.0.0.2";

type Answer = RawAnswer;

const send = (url: string, opts: Parameters<typeof sendFrom>[1]) => sendFrom(url, opts);

describe("denial of service", () => {
  let gw: Gateway;
  let dir: string;
  let recordFile: string;
  let floodFile: string;
  let token: string;

  before(async () => {
    dir = makeTempDir("warden-dos-");
    recordFile = join(dir, "recorder.jsonl");
    floodFile = join(dir, "deep.jsonl");
    const port = await freePort();
    const config = {
      gateway: { listen: `127.0.0.1:${port}`, request_timeout: "2s", source_limits: LIMITS },
      state: { sqlite: join(dir, "state.db") },
      auth: {
        anonymous: [],
        signing_key_file: join(dir, "signing.jwk"),
        users: [
          { name: "alice", password_hash: await hashPassword(USERS.alice.password), scopes: ["demo:use"] },
        ],
      },
      servers: [
        recorderStdio("recorder", recordFile, { echo: ["demo:use"], admin_tool: ["demo:admin"] }),
        {
          name: "hostile",
          command: process.execPath,
          args: [fixture("deep-reply-server.mjs")],
          env: { RECORD_FILE: floodFile },
          tools: { "*": ["demo:use"] },
        },
      ],
    };
    gw = await startGateway(config);
    const t = await runCli(["token", "-c", gw.configFile, "--sub", "tester", "--scope", "demo:use"], {
      cwd: gw.dir,
    });
    assert.equal(t.code, 0, t.stderr);
    token = t.stdout.trim();
  });

  after(async () => {
    await gw?.stop();
  });

  const bearer = () => ({ authorization: `Bearer ${token}` });
  const echo = (id: number, message: string) => ({
    jsonrpc: "2.0",
    id,
    method: "tools/call",
    params: { name: "recorder__echo", arguments: { message } },
  });
  const echoed = (res: { messages: Record<string, unknown>[] }, id: number) =>
    (res.messages.find((m) => m.id === id)?.result as { content?: { text?: string }[] } | undefined)
      ?.content?.[0]?.text;

  describe("bodies", () => {
    test("two million nested brackets are refused with -32600 before parsing; the next call is served", async () => {
      const s = await openRawSession(gw.mcpUrl, { headers: bearer() });
      const body = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"recorder__echo","arguments":{"message":${"[".repeat(2_000_000)}]}}}`;
      const res = await s.post(body);
      assert.equal(res.status, 400, res.text.slice(0, 300));
      const error = rpcError(res);
      assert.equal(error?.code, -32600);
      assert.deepEqual(error?.data, { reason: "json_limit_exceeded", limit: "depth" });
      assert.equal(receivedToolCalls(recordFile, "echo").length, 0, "the upstream saw the refused call");
      const next = await s.post(echo(8, "still here"));
      assert.equal(echoed(next, 8), "recorder: still here");
      const events = await auditEvents(gw);
      assert.ok(
        events.some(
          (e) => e.reason === "json_limit_exceeded" && (e.principal as { sub?: string })?.sub === "tester",
        ),
        "the refusal is audited with its caller",
      );
    });

    test("an array or object wider than max_json_width, or too many values, is refused the same way", async () => {
      const s = await openRawSession(gw.mcpUrl, { headers: bearer() });
      const wide = await s.post({
        ...echo(9, "x"),
        params: { name: "recorder__echo", arguments: { message: "x", extra: Array(10_001).fill(0) } },
      });
      assert.equal(rpcError(wide)?.code, -32600);
      assert.deepEqual(rpcError(wide)?.data, { reason: "json_limit_exceeded", limit: "width" });
      const many = await s.post({
        ...echo(10, "x"),
        params: {
          name: "recorder__echo",
          arguments: { message: "x", extra: Array(20).fill(Array(6000).fill(0)) },
        },
      });
      assert.deepEqual(rpcError(many)?.data, { reason: "json_limit_exceeded", limit: "values" });
      assert.equal(
        receivedToolCalls(recordFile, "echo").filter((c) => JSON.stringify(c).includes('"x"')).length,
        0,
      );
    });

    test("a body that trickles in is cut with 408 and its connection closed", async () => {
      const s = await openRawSession(gw.mcpUrl, { headers: bearer() });
      const { port } = new URL(gw.url);
      const socket = connect(Number(port), "127.0.0.1");
      const head = [
        "POST /mcp HTTP/1.1",
        `host: 127.0.0.1:${port}`,
        ...Object.entries(
          mcpHeaders({ ...bearer(), "mcp-protocol-version": s.protocolVersion }, s.sessionId),
        ).map(([k, v]) => `${k}: ${v}`),
        "content-length: 1000",
        "",
        "",
      ].join("\r\n");
      let received = "";
      let reset = false;
      socket.on("data", (d: Buffer) => (received += d.toString()));
      // The gateway answers 408 and closes with our drip bytes still unread on its side, so the
      // kernel may send a reset, which can discard the 408 before we read it: both are the cut.
      socket.on("error", (err: NodeJS.ErrnoException) => (reset = err.code === "ECONNRESET"));
      const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
      socket.write(`${head}{"jsonrpc":"2.0",`);
      // One byte at a time, long past request_timeout (2 s), until the gateway hangs up.
      const drip = setInterval(() => socket.writable && received === "" && socket.write(" "), 200);
      await closed;
      clearInterval(drip);
      assert.ok(/^HTTP\/1\.1 408/.test(received) || (reset && received === ""), received.slice(0, 200));
    });
  });

  test("over stdio, a line of two million brackets is answered -32600 under its id; the next is served", async () => {
    const stdioRecord = join(dir, "stdio-recorder.jsonl");
    const configFile = writeConfig(
      {
        state: { sqlite: join(dir, "stdio-state.db") },
        auth: { anonymous: ["demo:use"] },
        servers: [recorderStdio("recorder", stdioRecord, { echo: ["demo:use"] })],
      },
      makeTempDir("warden-dos-stdio-"),
    );
    const proc = spawnTracked(process.execPath, [CLI, "stdio", "-c", configFile], {
      stdio: ["pipe", "pipe", "ignore"],
    });
    try {
      const answers = new Map<unknown, Record<string, unknown>>();
      createInterface({ input: proc.stdout! }).on("line", (line) => {
        const m = JSON.parse(line) as Record<string, unknown>;
        if (m.id !== undefined) answers.set(m.id, m);
      });
      const write = (m: unknown) => proc.stdin!.write(typeof m === "string" ? m : `${JSON.stringify(m)}\n`);
      write(initializeRequest("2025-06-18", 1));
      await waitFor(() => answers.has(1), { what: "the initialize answer" });
      write({ jsonrpc: "2.0", method: "notifications/initialized" });
      write(
        `{"jsonrpc":"2.0","id":"deep-1","method":"tools/call","params":{"name":"recorder__echo","arguments":{"message":${"[".repeat(2_000_000)}]}}}\n`,
      );
      write(echo(2, "after the deep line"));
      await waitFor(() => answers.has(2) && answers.has("deep-1"), { what: "both answers" });
      const refused = answers.get("deep-1")?.error as { code?: number; data?: unknown } | undefined;
      assert.equal(refused?.code, -32600);
      assert.deepEqual(refused?.data, { reason: "json_limit_exceeded", limit: "depth" });
      assert.equal(
        echoed({ messages: [answers.get(2) as Record<string, unknown>] }, 2),
        "recorder: after the deep line",
      );
      assert.deepEqual(
        receivedToolCalls(stdioRecord, "echo").map((c) => JSON.stringify(c).includes("after the deep line")),
        [true],
        "only the good call reached the upstream",
      );
    } finally {
      proc.stdin!.end();
      await stopChild(proc, "SIGTERM", 5_000);
    }
  });

  test("a 2025-03-26 batch with a refused call gets an answer for every request", async () => {
    const s = await openRawSession(gw.mcpUrl, { protocolVersion: "2025-03-26", headers: bearer() });
    const res = await s.post([
      echo(21, "batched"),
      {
        jsonrpc: "2.0",
        id: 22,
        method: "tools/call",
        params: { name: "recorder__admin_tool", arguments: {} },
      },
      { jsonrpc: "2.0", id: 23, method: "tools/list" },
    ]);
    assert.equal(res.status, 200, res.text.slice(0, 300));
    assert.deepEqual(res.messages.map((m) => m.id).sort(), [21, 22, 23]);
    assert.equal(echoed(res, 21), "recorder: batched");
    const refused = rpcError(res, 22);
    assert.equal(refused?.code, -32001);
    assert.equal(refused?.data?.reason, "insufficient_scope");
    assert.equal(receivedToolCalls(recordFile, "admin_tool").length, 0, "the upstream ran the refused call");
  });

  test("a server that answers with two million nested brackets is cut off; the gateway goes on", async () => {
    const s = await openRawSession(gw.mcpUrl, { headers: bearer() });
    const res = await s.post({
      jsonrpc: "2.0",
      id: 31,
      method: "tools/call",
      params: { name: "hostile__flood", arguments: {} },
    });
    assert.equal(rpcError(res, 31)?.code, -32005, res.text.slice(0, 300));
    const next = await s.post(echo(32, "after the flood"));
    assert.equal(echoed(next, 32), "recorder: after the flood");
    await waitFor(() => gw.logs().some((l) => l.server === "hostile" && l.limit === "depth"), {
      what: "the log line naming the refused upstream message",
    });
  });

  describe("floods from one source", () => {
    test("past failed_auth, a source gets 429 with Retry-After; another source still gets its 401", async () => {
      const before = (await auditEvents(gw)).length;
      const post = (localAddress?: string, headers: Record<string, string> = {}) =>
        send(gw.mcpUrl, {
          headers: mcpHeaders(headers),
          body: JSON.stringify(initializeRequest()),
          ...(localAddress ? { localAddress } : {}),
        });
      // An agent in session from the address that is about to flood; and a good token never used.
      assert.equal((await post(undefined, bearer())).status, 200);
      const t = await runCli(["token", "-c", gw.configFile, "--sub", "newcomer", "--scope", "demo:use"], {
        cwd: gw.dir,
      });
      assert.equal(t.code, 0, t.stderr);
      const newcomer = { authorization: `Bearer ${t.stdout.trim()}` };
      for (let i = 0; i < 5; i++)
        assert.equal((await post(undefined, { authorization: "Bearer nope" })).status, 401);
      const flood: Answer[] = [];
      for (let i = 0; i < 20; i++) flood.push(await post());
      for (const res of flood) {
        assert.equal(res.status, 429);
        assert.ok(Number(res.headers["retry-after"]) >= 1, "Retry-After in seconds");
        const error = rpcError({ messages: parseMessages(res.text, "application/json") } as never);
        assert.equal(error?.code, -32002);
        assert.equal((error?.data as { limit?: string })?.limit, "failed_auth");
      }
      const other = await post(OTHER_SOURCE);
      assert.equal(other.status, 401, "another source is not held by this one's flood");
      assert.match(String(other.headers["www-authenticate"]), /^Bearer /);
      // A caller whose token was verified in the last minute is still served from the flooding
      // source; a token never seen there waits for the window (it is not even verified), and is
      // served from another source.
      const good = await post(undefined, bearer());
      assert.equal(good.status, 200, good.text.slice(0, 200));
      const waiting = await post(undefined, newcomer);
      assert.equal(waiting.status, 429);
      assert.equal(
        (
          rpcError({ messages: parseMessages(waiting.text, "application/json") } as never)?.data as {
            limit?: string;
          }
        )?.limit,
        "failed_auth",
      );
      assert.equal((await post(OTHER_SOURCE, newcomer)).status, 200);
      // 5 + 1 refusals recorded one by one, and the 20-request flood once (the rest summarised later).
      const events = (await auditEvents(gw)).slice(before);
      const authDenials = events.filter((e) => e.reason === "authentication");
      const floods = events.filter((e) => e.reason === "source_rate_limited");
      assert.equal(authDenials.length, 6, JSON.stringify(authDenials));
      assert.equal(floods.length, 1, JSON.stringify(floods));
      assert.equal((floods[0]?.detail as { limit?: string }).limit, "failed_auth");
    });

    test("registration: one source past its limit does not stop another from registering", async () => {
      const register = (localAddress?: string, path = "/oauth/register") =>
        send(`${gw.url}${path}`, {
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            client_name: `flood-${randomBytes(4).toString("hex")}`,
            redirect_uris: ["http://127.0.0.1:9/callback"],
            grant_types: ["authorization_code"],
            response_types: ["code"],
            token_endpoint_auth_method: "none",
          }),
          ...(localAddress ? { localAddress } : {}),
        });
      const sourceRefusals = async () =>
        valueOf(parseMetrics(await (await fetch(`${gw.url}/metrics`)).text()), "warden_denials_total", {
          reason: "source_rate_limited",
        });
      const counted = await sourceRefusals();
      for (let i = 0; i < 3; i++) assert.equal((await register()).status, 201);
      const refused = await register();
      assert.equal(refused.status, 429);
      assert.ok(Number(refused.headers["retry-after"]) > 0);
      assert.equal((JSON.parse(refused.text) as { error?: string }).error, "temporarily_unavailable");
      // Every spelling the provider's router runs as registration spends the same budget.
      for (const path of ["/oauth/register/", "/oauth/REGISTER", "/oauth/Register/"]) {
        const again = await register(undefined, path);
        assert.equal(again.status, 429, `${path}: ${again.status} ${again.text.slice(0, 200)}`);
      }
      // The issuer's refusals go through the gateway's one SourceGuard: counted like the others.
      assert.equal((await sourceRefusals()) - counted, 4);
      const other = await register(OTHER_SOURCE);
      assert.equal(other.status, 201, other.text);
      // ... and the other spellings are registration indeed (not a 404 that proves nothing).
      assert.equal((await register(OTHER_SOURCE, "/oauth/register/")).status, 201);
      assert.equal((await register(OTHER_SOURCE, "/oauth/REGISTER")).status, 201);
    });

    test("sign-in with random user names: past sign_in the source gets 429 before any password check", async () => {
      const registered = await send(`${gw.url}/oauth/register`, {
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          redirect_uris: ["http://127.0.0.1:9/callback"],
          token_endpoint_auth_method: "none",
        }),
        localAddress: "127.0.0.3",
      });
      assert.equal(registered.status, 201, registered.text);
      const clientId = (JSON.parse(registered.text) as { client_id: string }).client_id;
      const browser = new FormBrowser(gw.url);
      const step = await browser.navigate(
        authorizeUrl(gw.url, {
          clientId,
          redirectUri: "http://127.0.0.1:9/callback",
          scope: "demo:use",
          resource: gw.mcpUrl,
          challenge: pkcePair().challenge,
          method: "S256",
        }),
      );
      assert.ok(step.page, "the sign-in page");
      const form = formEndingWith(step.page, "/login");
      for (let i = 0; i < 3; i++) {
        const r = await browser.submit(form, {
          username: `nobody-${randomBytes(6).toString("hex")}`,
          password: "x",
        });
        assert.equal(r.page?.status, 401);
      }
      const held = await browser.submit(form, {
        username: `nobody-${randomBytes(6).toString("hex")}`,
        password: "x",
      });
      assert.equal(held.page?.status, 429);
      assert.match(held.page?.html ?? "", /Too many sign-in attempts from your network/);
      assert.ok(Number(held.page?.headers.get("retry-after")) > 0);
      // Even the right password waits for the window: the source is held, not the user.
      const right = await browser.submit(form, { username: "alice", password: USERS.alice.password });
      assert.equal(right.page?.status, 429);
    });

    test("past authorize, a source gets 429 at the authorization endpoint; another source does not", async () => {
      const url = `${gw.url}/oauth/authorize?response_type=code&client_id=unknown`;
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await send(url, { method: "GET" })).status);
      // The sign-in test spent one of this source's four; the rest are refused before oidc-provider.
      assert.deepEqual(statuses.slice(3), [429, 429, 429], statuses.join(","));
      // The spellings the provider's router also runs as the authorization endpoint, and HEAD.
      for (const path of ["/oauth/authorize/", "/oauth/AUTHORIZE", "/oauth/Authorize/"]) {
        const again = await send(`${gw.url}${path}?response_type=code&client_id=unknown`, { method: "GET" });
        assert.equal(again.status, 429, path);
      }
      assert.equal((await send(url, { method: "HEAD" })).status, 429, "HEAD");
      const other = await send(url, { method: "GET", localAddress: OTHER_SOURCE });
      assert.notEqual(other.status, 429);
    });
  });
});
