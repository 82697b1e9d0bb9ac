// Sources behind a reverse proxy (issue 14 §3, §4): with `gateway.trusted_proxies`, the client a
// trusted proxy names is the source for per-source limits, anonymous callers and their sessions,
// and audit; anyone else's forwarding header is ignored. Debian's nginx runs deploy/nginx.conf in
// front of a real gateway, and raw clients on other loopback addresses stand for callers (all of
// 127/8 is loopback on Linux) and for a second, hand-driven proxy. Also here: 401 floods on the
// admin API share the failed_auth budget, and a user's flood of bodies refused for JSON limits is
// summarised in the audit log and cut with 429 (-32002) while another user is served.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { textOf } from "../helpers/client.js";
import { recorderStdio } from "../helpers/configs.js";
import {
  connectClient,
  makeTempDir,
  runCli,
  startGateway,
  type ConnectedClient,
  type Gateway,
} from "../helpers/gateway.js";
import { startNginx, type Nginx } from "../helpers/nginx.js";
import { initializeRequest, mcpHeaders, openRawSession, parseMessages, rpcError } from "../helpers/http.js";
import { receivedToolCalls } from "../helpers/records.js";
import { fetchFrom, sendFrom, type RawAnswer } from "../helpers/sources.js";
import { auditEvents } from "../helpers/supply.js";
import { freePort } from "../helpers/upstreams.js";

/** A second proxy, driven by hand: trusted like nginx's own address (127.0.0.1). */
const RAW_PROXY = "127.0.0.5";
const FAILED_AUTH = 5;
const REFUSED_BODIES = 5;

type Answer = RawAnswer;

const send = (url: string, localAddress: string, opts: Parameters<typeof sendFrom>[1] = {}) =>
  sendFrom(url, { ...opts, localAddress });

const errorOf = (a: Answer) =>
  rpcError({ messages: parseMessages(a.text, String(a.headers["content-type"] ?? "")) } as never);

describe("trusted proxies: the client a trusted proxy names is the source", () => {
  let gw: Gateway;
  let nginx: Nginx | undefined;
  let lb: string;
  let dir: string;
  let recordFile: string;
  const tokens: Record<string, string> = {};
  const clients: ConnectedClient[] = [];

  before(async () => {
    dir = makeTempDir("warden-proxies-");
    recordFile = join(dir, "rec.jsonl");
    const [lbPort, port] = [await freePort(), await freePort()];
    lb = `http://127.0.0.1:${lbPort}`;
    gw = await startGateway({
      gateway: {
        listen: `127.0.0.1:${port}`,
        public_url: lb,
        instance_id: "warden-1",
        trusted_proxies: ["127.0.0.1", `${RAW_PROXY}/32`],
        source_limits: { failed_auth: `${FAILED_AUTH}/min`, refused_bodies: `${REFUSED_BODIES}/min` },
        max_sessions_per_user: 2,
      },
      state: { sqlite: join(dir, "state.db") },
      auth: { signing_key_file: join(dir, "signing.jwk"), anonymous: ["demo:use"] },
      servers: [recorderStdio("rec", recordFile, { echo: ["demo:use"] })],
    });
    for (const [sub, scope] of [
      ["alice", "demo:use"],
      ["bob", "demo:use"],
      ["ops", "warden:admin"],
    ] as const) {
      const t = await runCli(["token", "-c", gw.configFile, "--sub", sub, "--scope", scope], { cwd: gw.dir });
      assert.equal(t.code, 0, t.stderr);
      tokens[sub] = t.stdout.trim();
    }
    nginx = await startNginx({ dir, port: lbPort, upstreams: [port, port] });
  });

  after(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await nginx?.stop();
    await gw?.stop();
  });

  /** An initialize with a bad token, from `localAddress` to `base`'s /mcp. */
  const badToken = (base: string, localAddress: string, headers: Record<string, string> = {}) =>
    send(`${base}/mcp`, localAddress, {
      headers: mcpHeaders({ authorization: "Bearer not-a-token", ...headers }),
      body: JSON.stringify(initializeRequest()),
    });
  /** Spends a source's whole failed_auth budget; each refusal a 401. */
  const exhaust = async (base: string, localAddress: string, headers: Record<string, string> = {}) => {
    for (let i = 0; i < FAILED_AUTH; i++) {
      const r = await badToken(base, localAddress, headers);
      assert.equal(r.status, 401, `refusal ${i + 1} from ${localAddress} ${JSON.stringify(headers)}`);
    }
  };
  const floodsOf = async (source: string) =>
    (await auditEvents(gw)).filter(
      (e) => e.reason === "source_rate_limited" && (e.detail as { source?: string })?.source === source,
    );

  test("through nginx, two clients have their own failed_auth budgets; a forged header buys no fresh one", async () => {
    const initialize = (address: string, token: string) =>
      send(`${lb}/mcp`, address, {
        headers: mcpHeaders({ authorization: `Bearer ${token}` }),
        body: JSON.stringify(initializeRequest()),
      });
    // Alice's agent is in session from the client that is about to flood.
    assert.equal((await initialize("127.0.0.2", tokens.alice as string)).status, 200);
    await exhaust(lb, "127.0.0.2");
    const held = await badToken(lb, "127.0.0.2");
    assert.equal(held.status, 429);
    assert.ok(Number(held.headers["retry-after"]) >= 1);
    assert.equal(errorOf(held)?.code, -32002);
    assert.equal((errorOf(held)?.data as { limit?: string })?.limit, "failed_auth");
    // Another client behind the same proxy is not held by the first one's flood.
    assert.equal((await badToken(lb, "127.0.0.3")).status, 401);
    // Whatever the flooding client writes, nginx names its real address, and the gateway takes that.
    const forgeries: Record<string, string>[] = [
      { "x-forwarded-for": "198.51.100.77" },
      { "x-forwarded-for": "198.51.100.77, 127.0.0.1" },
      { "x-forwarded-for": "127.0.0.3" },
      { forwarded: "for=198.51.100.78" },
      { "x-real-ip": "198.51.100.79" },
    ];
    for (const forged of forgeries) {
      assert.equal((await badToken(lb, "127.0.0.2", forged)).status, 429, JSON.stringify(forged));
    }
    // A token verified in the last minute is still served from the flooding client; one never seen
    // there waits for the window, and is served from the other client.
    const good = await initialize("127.0.0.2", tokens.alice as string);
    assert.equal(good.status, 200, good.text.slice(0, 200));
    const waiting = await initialize("127.0.0.2", tokens.bob as string);
    assert.equal(waiting.status, 429);
    assert.equal((errorOf(waiting)?.data as { limit?: string })?.limit, "failed_auth");
    assert.equal((await initialize("127.0.0.3", tokens.bob as string)).status, 200);
    // The audit log names the client, not the proxy.
    assert.equal((await floodsOf("127.0.0.2")).length, 1);
    assert.equal((await floodsOf("127.0.0.1")).length, 0, "nginx's own address was never the source");
  });

  test("a peer that is no trusted proxy: its X-Forwarded-For and Forwarded are ignored", async () => {
    const direct = gw.url;
    // Each forged header from the untrusted peer still counts against the peer itself.
    await exhaust(direct, "127.0.0.4", { "x-forwarded-for": "198.51.100.1" });
    const forgeries: Record<string, string>[] = [
      { "x-forwarded-for": "198.51.100.2" },
      { "x-forwarded-for": "198.51.100.3, 127.0.0.1" },
      { forwarded: "for=198.51.100.4" },
      {},
    ];
    for (const forged of forgeries) {
      assert.equal((await badToken(direct, "127.0.0.4", forged)).status, 429, JSON.stringify(forged));
    }
    assert.equal((await floodsOf("127.0.0.4")).length, 1);
    for (const forged of ["198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"])
      assert.equal((await floodsOf(forged)).length, 0, `${forged} was never a source`);
  });

  test("a trusted proxy's chain is walked right to left: the first untrusted address is the client", async () => {
    const viaRaw = (xff: string) => badToken(gw.url, RAW_PROXY, { "x-forwarded-for": xff });
    await exhaust(gw.url, RAW_PROXY, { "x-forwarded-for": "203.0.113.10" });
    assert.equal((await viaRaw("203.0.113.10")).status, 429);
    // Another client named by the same proxy has its own budget.
    assert.equal((await viaRaw("203.0.113.11")).status, 401);
    // What the client wrote is left of what the proxy appended: never read.
    assert.equal((await viaRaw("203.0.113.11, 203.0.113.10")).status, 429);
    // A forged chain with trusted addresses appended by the client: the walk skips trusted hops only
    // from the right, so the client the last proxy saw is still found.
    assert.equal((await viaRaw("203.0.113.12, 127.0.0.1, 203.0.113.10, 127.0.0.1")).status, 429);
    assert.equal((await viaRaw(`203.0.113.12, 203.0.113.10, ${RAW_PROXY}`)).status, 429);
    // RFC 7239 Forwarded, with a port.
    const forwarded = (value: string) => badToken(gw.url, RAW_PROXY, { forwarded: value });
    assert.equal((await forwarded('for="203.0.113.10:4711";proto=https')).status, 429);
    assert.equal((await forwarded('for="[2001:db8:cafe::17]:4711"')).status, 401);
    assert.equal((await floodsOf("203.0.113.10")).length, 1);
    assert.equal((await floodsOf(RAW_PROXY)).length, 0);
  });

  test("anonymous callers behind the proxy: one per client address, each with its own sessions and cap", async () => {
    const anonymous = async (address: string, headers?: Record<string, string>) => {
      const c = await connectClient(`${lb}/mcp`, {
        fetch: fetchFrom(address),
        ...(headers ? { headers } : {}),
      });
      clients.push(c);
      return c;
    };
    const b = await anonymous("127.0.0.7");
    assert.equal(
      textOf(await b.client.callTool({ name: "rec__echo", arguments: { message: "b-1" } })),
      "recorder: b-1",
    );
    // A opens more sessions than its cap of 2: only its own oldest goes, never B's.
    const a = [];
    for (let i = 0; i < 3; i++) a.push(await anonymous("127.0.0.6", { "x-forwarded-for": "127.0.0.7" }));
    await assert.rejects(a[0]!.client.callTool({ name: "rec__echo", arguments: { message: "a-0" } }));
    assert.equal(
      textOf(await a[2]!.client.callTool({ name: "rec__echo", arguments: { message: "a-2" } })),
      "recorder: a-2",
    );
    assert.equal(
      textOf(await b.client.callTool({ name: "rec__echo", arguments: { message: "b-2" } })),
      "recorder: b-2",
    );
    // A's session id presented by another client behind the proxy is another caller's: 404.
    const stolen = await send(`${lb}/mcp`, "127.0.0.7", {
      headers: mcpHeaders({ "mcp-protocol-version": "2025-11-25" }, a[2]!.transport.sessionId),
      body: JSON.stringify({ jsonrpc: "2.0", id: 9, method: "ping" }),
    });
    assert.equal(stolen.status, 404);
    // Audit names each client's address as principal.source.
    const calls = (await auditEvents(gw)).filter((e) => e.event === "tool_call");
    const sources = new Set(
      calls
        .map((e) => (e.principal as { source?: string } | undefined)?.source)
        .filter((s) => s !== undefined),
    );
    assert.ok(sources.has("127.0.0.6") && sources.has("127.0.0.7"), [...sources].join(","));
    assert.ok(!sources.has("127.0.0.1"), "the proxy's address is no caller");
  });

  test("admin API: a 401 flood gets 429 past failed_auth (the same budget), while another source is served", async () => {
    const status = (address: string, token: string) =>
      send(`${gw.url}/admin/api/me`, address, {
        method: "GET",
        headers: { authorization: `Bearer ${token}` },
      });
    for (let i = 0; i < FAILED_AUTH; i++) assert.equal((await status("127.0.0.8", "wrong")).status, 401);
    const flood: Answer[] = [];
    for (let i = 0; i < 30; i++) flood.push(await status("127.0.0.8", i % 2 ? "wrong" : "wbt_forged"));
    for (const r of flood) {
      assert.equal(r.status, 429);
      assert.ok(Number(r.headers["retry-after"]) >= 1);
      assert.match(r.text, /too many failed authentications/);
    }
    // The budget is the MCP routes' one: the flooding source is held there too.
    assert.equal((await badToken(gw.url, "127.0.0.8")).status, 429);
    const served = await status("127.0.0.9", tokens.ops as string);
    assert.equal(served.status, 200, served.text.slice(0, 200));
    assert.equal((await status("127.0.0.9", "wrong")).status, 401, "another source gets its plain 401");
    // Through nginx, the admin API's budget goes by the client too.
    assert.equal((await send(`${lb}/admin/api/me`, "127.0.0.9", { method: "GET" })).status, 401);
    const events = await auditEvents(gw);
    const adminRefusals = events.filter(
      (e) => e.reason === "authentication" && String(e.method ?? "").includes("/admin/api/me"),
    );
    assert.equal(adminRefusals.length, FAILED_AUTH + 2, "each 401 under the budget; none for the 429s");
    assert.equal((await floodsOf("127.0.0.8")).length, 1, "the flood once in full");
  });

  test("a user's flood of bodies refused for JSON limits: audited in summary, cut with -32002; another user is served", async () => {
    const alice = await openRawSession(gw.mcpUrl, { headers: { authorization: `Bearer ${tokens.alice}` } });
    const bob = await openRawSession(gw.mcpUrl, { headers: { authorization: `Bearer ${tokens.bob}` } });
    const before = (await auditEvents(gw)).length;
    const deep = (id: number) =>
      `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"rec__echo","arguments":{"message":"flood-${id}","x":${"[".repeat(200)}${"]".repeat(200)}}}}`;
    const FLOOD = 200;
    const answers = [];
    const bobAnswers = [];
    for (let i = 0; i < FLOOD; i++) {
      answers.push(await alice.post(deep(i)));
      if (i % 50 === 25)
        bobAnswers.push(
          await bob.post({
            jsonrpc: "2.0",
            id: 1000 + i,
            method: "tools/call",
            params: { name: "rec__echo", arguments: { message: `bob-${i}` } },
          }),
        );
    }
    for (const r of answers.slice(0, REFUSED_BODIES)) {
      assert.equal(r.status, 400);
      assert.deepEqual(rpcError(r)?.data, { reason: "json_limit_exceeded", limit: "depth" });
    }
    for (const r of answers.slice(REFUSED_BODIES)) {
      assert.equal(r.status, 429);
      assert.ok(Number(r.headers["retry-after"]) >= 1);
      assert.equal(rpcError(r)?.code, -32002);
      assert.equal((rpcError(r)?.data as { limit?: string })?.limit, "refused_bodies");
    }
    // Cut: alice's well-formed call is refused unread too, for the rest of the window.
    const aliceGood = await alice.post({
      jsonrpc: "2.0",
      id: 5000,
      method: "tools/call",
      params: { name: "rec__echo", arguments: { message: "alice-after" } },
    });
    assert.equal(aliceGood.status, 429);
    // Bob was served throughout.
    for (const r of bobAnswers) {
      assert.equal(r.status, 200);
      assert.match(JSON.stringify(r.messages), /recorder: bob-/);
    }
    const seen = receivedToolCalls(recordFile, "echo").map((c) => JSON.stringify(c));
    assert.ok(
      !seen.some((c) => c.includes("flood-") || c.includes("alice-after")),
      "the upstream saw alice's calls",
    );
    assert.equal(seen.filter((c) => c.includes("bob-")).length, bobAnswers.length);
    // 201 refusals cost two audit events so far: the first refusal and the cut, each in full.
    const events = (await auditEvents(gw)).slice(before);
    const aliceDenials = events.filter(
      (e) => e.event === "denied" && (e.principal as { sub?: string } | undefined)?.sub === "alice",
    );
    assert.deepEqual(
      aliceDenials.map((e) => [e.reason, (e.detail as { limit?: string }).limit]),
      [
        ["json_limit_exceeded", "depth"],
        ["rate_limited", "refused_bodies"],
      ],
    );
    assert.equal((aliceDenials[1]?.detail as { code?: number }).code, -32002);
    // The rest are summarised once a minute, and at shutdown.
    await gw.stop();
    const summaries = (await auditEvents(gw))
      .slice(before)
      .filter((e) => (e.detail as { summary?: boolean } | undefined)?.summary === true);
    assert.deepEqual(
      summaries
        .filter((e) => (e.principal as { sub?: string } | undefined)?.sub === "alice")
        .map((e) => [e.reason, (e.detail as { refused?: number }).refused])
        .sort(),
      [
        ["json_limit_exceeded", REFUSED_BODIES - 1],
        ["rate_limited", FLOOD - REFUSED_BODIES - 1 + 1],
      ],
    );
  });
});
