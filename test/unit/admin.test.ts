// Admin API parts that need no gateway: the bootstrap token's peer check and comparison, the
// per-minute activity recorder behind GET /admin/api/summary, who the embedded issuer may give
// warden:admin to (only through a configured client listing it), and that an approval is recorded
// before it takes effect, and the bootstrap token refused through AdminApi from a peer that is not
// the machine itself.
import assert from "node:assert/strict";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { ActivityRecorder } from "../../src/admin/activity.js";
import { AdminApi, type AdminContext } from "../../src/admin/api.js";
import { consoleConnectOrigins } from "../../src/admin/console.js";
import { LoginInfo } from "../../src/admin/login.js";
import { toolRoutes } from "../../src/admin/routes-tools.js";
import type { AuditEvent } from "../../src/audit/event.js";
import { BootstrapToken, isLoopbackPeer } from "../../src/admin/bootstrap.js";
import { auditEvent } from "../../src/audit/event.js";
import { consoleClient } from "../../src/authserver/client-rules.js";
import { ScopePolicy } from "../../src/authserver/policy.js";
import { AuthError } from "../../src/auth/errors.js";
import type { AuthClient, Config, GatewayConfig } from "../../src/config/types.js";
import { RequestGuard } from "../../src/transports/guard.js";

describe("bootstrap token", () => {
  test("accepted only from a loopback TCP peer", () => {
    for (const peer of ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
      assert.equal(isLoopbackPeer(peer), true, peer);
    for (const peer of [
      undefined,
      "",
      "10.0.0.1",
      "192.168.1.20",
      "::ffff:10.0.0.1",
      "::2",
      "fe80::1",
      "0.0.0.0",
      "localhost",
      "127.0.0.1.evil.example",
      "128.0.0.1",
    ])
      assert.equal(isLoopbackPeer(peer), false, String(peer));
  });

  test("random, prefixed, compared whole", () => {
    const a = BootstrapToken.generate();
    const b = BootstrapToken.generate();
    assert.match(a.value, /^wbt_[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a.value, b.value);
    assert.equal(a.matches(a.value), true);
    assert.equal(a.matches(b.value), false);
    assert.equal(a.matches(a.value.slice(0, -1)), false);
    assert.equal(a.matches(`${a.value}x`), false);
    assert.equal(BootstrapToken.looksLike(a.value), true);
    assert.equal(BootstrapToken.looksLike("mwk_abc"), false);
  });
});

describe("activity recorder", () => {
  const call = (status = "ok") => auditEvent({ event: "tool_call", status, method: "tools/call" });
  const denied = (reason: string, method = "tools/call") =>
    auditEvent({ event: "denied", status: "denied", reason, method });

  test("totals, denials by reason, calls per second over the last minute, 60 minutes oldest first", () => {
    let now = Date.parse("2030-01-01T10:00:30Z");
    const r = new ActivityRecorder(() => now);
    r.observe(call());
    r.observe(call("error"));
    r.observe(denied("killed"));
    r.observe(denied("insufficient_scope", "GET /admin/api/me"));
    r.observe(auditEvent({ event: "redacted", status: "ok" }));
    r.observe(auditEvent({ event: "injection", status: "ok" }));
    r.observe(auditEvent({ event: "admin", status: "ok", reason: "kill" }));
    let s = r.summary();
    assert.deepEqual(s.totals, { calls: 3, denied: 2, errors: 1, redacted: 1, injection: 1 });
    assert.deepEqual(s.denials_by_reason, { killed: 1, insufficient_scope: 1 });
    assert.equal(s.calls_per_s, 0.05);
    assert.equal(s.minutes.length, 60);
    assert.equal(s.minutes[59]?.t, "2030-01-01T10:00:00.000Z");
    assert.equal(s.minutes[0]?.t, "2030-01-01T09:01:00.000Z");
    assert.deepEqual(s.minutes[59], { t: "2030-01-01T10:00:00.000Z", calls: 3, denied: 2, errors: 1 });

    // A minute on: the calls left the last-minute rate and moved one minute back.
    now += 60_000;
    r.observe(call());
    s = r.summary();
    assert.equal(s.calls_per_s, Math.round((1 / 60) * 1000) / 1000);
    assert.deepEqual(s.minutes[58], { t: "2030-01-01T10:00:00.000Z", calls: 3, denied: 2, errors: 1 });
    assert.deepEqual(s.minutes[59], { t: "2030-01-01T10:01:00.000Z", calls: 1, denied: 0, errors: 0 });
    assert.equal(s.uptime_s, 60);

    // An hour later the old minutes are gone from the window (their ring slots reused or stale).
    now += 60 * 60_000;
    s = r.summary();
    assert.ok(s.minutes.every((m) => m.calls === 0 && m.denied === 0));
    assert.equal(s.totals.calls, 4);
  });

  test("a reason named __proto__ is a plain key", () => {
    const r = new ActivityRecorder();
    r.observe(denied("__proto__"));
    const reasons = r.summary().denials_by_reason;
    assert.equal(Object.getPrototypeOf(reasons), Object.prototype);
    assert.equal(Object.hasOwn(reasons, "__proto__"), true);
    assert.equal(JSON.stringify(reasons), '{"__proto__":1}');
  });
});

describe("warden:admin through the embedded issuer", () => {
  const base = "https://warden.example";
  const mcp = `${base}/mcp`;
  const client = (clientId: string, scopes: string[]): AuthClient => ({
    clientId,
    clientSecret: "s".repeat(32),
    scopes,
    grantTypes: ["authorization_code", "client_credentials"],
    redirectUris: ["https://app.example/cb"],
  });
  const policy = new ScopePolicy(
    [{ name: "ops", passwordHash: "x", scopes: ["demo:use", "warden:admin"] }],
    [consoleClient(base), client("ops-tool", ["warden:admin", "demo:use"]), client("agent", ["demo:use"])],
    [
      { url: mcp, scopes: ["demo:use", "warden:admin"] },
      { url: base, scopes: ["warden:admin"] },
    ],
    base,
  );

  test("an admin user gets it only through the console or a configured client listing it", () => {
    assert.deepEqual([...policy.userCeiling("ops", "mcp-warden-console", base)], ["warden:admin"]);
    assert.deepEqual([...policy.userCeiling("ops", "ops-tool", base)], ["warden:admin"]);
    assert.deepEqual([...policy.userCeiling("ops", "agent", base)], []);
    // A registered client or a Client ID Metadata Document: nothing on the base URL, and the
    // scope is dropped even where a route offers it.
    for (const id of ["c2f1a9", "https://evil.example/client.json"]) {
      assert.deepEqual([...policy.userCeiling("ops", id, base)], [], id);
      assert.deepEqual([...policy.userCeiling("ops", id, `${base}/`)], [], id);
      assert.deepEqual([...policy.userCeiling("ops", id, mcp)], ["demo:use"], id);
      assert.equal(policy.mayHoldAdmin(id), false);
    }
    assert.equal(policy.isAdminResource(`${base}/`), true);
    assert.equal(policy.isAdminResource(mcp), false);
  });

  test("client credentials: warden:admin only for a configured client listing it", () => {
    assert.deepEqual([...policy.clientCeiling("ops-tool", base)], ["warden:admin"]);
    assert.deepEqual([...policy.clientCeiling("agent", base)], []);
    assert.deepEqual([...policy.clientCeiling("agent", mcp)], ["demo:use"]);
    assert.deepEqual([...policy.clientCeiling("c2f1a9", base)], []);
  });
});

describe("tool approval and the audit log", () => {
  const pinned = `sha256:${"a".repeat(64)}`;
  const current = `sha256:${"b".repeat(64)}`;
  const pin = {
    server: "rp",
    kind: "tool" as const,
    name: "weather",
    pinnedHash: pinned,
    pinnedDef: { name: "weather" },
    currentHash: current,
    currentDef: { name: "weather", description: "changed" },
    findings: [],
    pinnedAt: "2030-01-01T00:00:00.000Z",
    seenAt: "2030-01-01T00:00:00.000Z",
  };
  const approve = new Map(toolRoutes).get("POST tools/approve")!;
  const call = {
    caller: { sub: "ops", auth: "bearer", clientId: "mcp-warden-console", scopes: ["warden:admin"] },
    query: new URLSearchParams(),
    body: { server: "rp", kind: "tool", name: "weather", hash: current, reason: "reviewed" },
  };
  const context = (record: (e: AuditEvent) => Promise<void>, steps: string[]) =>
    ({
      gateway: {
        audit: { ready: async () => undefined, record },
        pins: {
          get: () => pin,
          approve: () => {
            steps.push("approve");
            return true;
          },
        },
      },
    }) as unknown as AdminContext;

  test("the event is written before the pin moves", async () => {
    const steps: string[] = [];
    const events: AuditEvent[] = [];
    const ctx = context(async (e) => {
      steps.push(`record ${e.status}`);
      events.push(e);
    }, steps);
    const answer = await approve(ctx, call);
    assert.deepEqual(answer.body, {
      approved: { server: "rp", kind: "tool", name: "weather", hash: current },
    });
    assert.deepEqual(steps, ["record ok", "approve"]);
    assert.deepEqual(events[0]?.principal, { sub: "ops", auth: "bearer", client_id: "mcp-warden-console" });
  });

  test("an approval the audit log cannot hold never happens", async () => {
    const steps: string[] = [];
    const ctx = context(async () => {
      steps.push("record failed");
      throw new Error("disk full");
    }, steps);
    await assert.rejects(async () => approve(ctx, call), /disk full/);
    assert.deepEqual(steps, ["record failed"], "the pin was not approved");
  });
});

describe("the bootstrap token through AdminApi, by TCP peer", () => {
  const bootstrap = BootstrapToken.generate();
  const recorded: AuditEvent[] = [];
  const kills: string[] = [];
  let server: Server;
  let base: string;

  before(async () => {
    server = createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const gatewayConfig = {
      host: "127.0.0.1",
      publicUrl: undefined,
      allowedOrigins: [],
      allowedHosts: [],
    } as unknown as GatewayConfig;
    const config = { auth: { issuer: "embedded" }, admin: { clientId: undefined } } as unknown as Config;
    const ctx = {
      gateway: {
        audit: { ready: async () => undefined, record: async (e: AuditEvent) => void recorded.push(e) },
        log: { error: () => undefined },
        kills: {
          active: [],
          kill: async (scope: string) => {
            kills.push(scope);
            return { scope };
          },
        },
      },
      auth: {
        urls: { base },
        verifier: {
          authenticate: async () => {
            throw new AuthError("invalid_token", "not a token of this gateway");
          },
        },
      },
      bootstrap,
      origins: new Set([base]),
      guard: new RequestGuard(gatewayConfig, base),
      login: new LoginInfo(config, base, true),
    } as unknown as AdminContext;
    const api = new AdminApi(ctx);
    server.on("request", (req, res) => {
      // The peer address as the socket would give it: the test names it, the API reads the socket.
      const peer = req.headers["x-test-peer"];
      if (typeof peer === "string")
        Object.defineProperty(req.socket, "remoteAddress", { value: peer, configurable: true });
      void api.handle(req, res, (req.url ?? "/").split("?")[0]!);
    });
  });

  after(() => new Promise<void>((r) => server.close(() => r())));

  /** One request on a connection of its own (a faked peer address never outlives it). */
  const send = (method: string, path: string, headers: Record<string, string>, body?: unknown) =>
    new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
      const req = request(
        `${base}/admin/api/${path}`,
        {
          method,
          headers: { ...headers, ...(body ? { "content-type": "application/json" } : {}) },
          agent: false,
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => (text += c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as never }));
        },
      );
      req.on("error", reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  const bearer = { authorization: `Bearer ${bootstrap.value}` };

  test("from loopback it is the bootstrap caller, and config reports it", async () => {
    const me = await send("GET", "me", bearer);
    assert.equal(me.status, 200);
    assert.deepEqual(me.body, { sub: "bootstrap", auth: "bootstrap", scopes: ["warden:admin"] });
    assert.equal((await send("GET", "config", {})).body.bootstrap, true);
  });

  test("from any other peer: 401, nothing killed, the refusal audited; config says false", async () => {
    for (const peer of ["10.0.0.5", "192.168.1.20", "::ffff:10.1.2.3", "2001:db8::1", "fe80::1"]) {
      recorded.length = 0;
      const me = await send("GET", "me", { ...bearer, "x-test-peer": peer });
      assert.equal(me.status, 401, peer);
      const kill = await send(
        "POST",
        "kill",
        { ...bearer, "x-test-peer": peer },
        { scope: "all", target: "", reason: "remote" },
      );
      assert.equal(kill.status, 401, peer);
      assert.deepEqual(kills, [], peer);
      assert.deepEqual(
        recorded.map((e) => [e.event, e.method, e.reason]),
        [
          ["denied", "GET /admin/api/me", "authentication"],
          ["denied", "POST /admin/api/kill", "authentication"],
        ],
        peer,
      );
      assert.equal((await send("GET", "config", { "x-test-peer": peer })).body.bootstrap, false, peer);
    }
  });
});

describe("an external issuer's endpoints, read once for the login document and the console", () => {
  let idp: Server;
  let issuer: string;
  let reads = 0;

  before(async () => {
    idp = createServer((req, res) => {
      if (req.url !== "/.well-known/oauth-authorization-server") return void res.writeHead(404).end();
      reads++;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          issuer,
          authorization_endpoint: "https://login.example/authorize",
          token_endpoint: "https://tokens.example/oauth/token",
        }),
      );
    });
    await new Promise<void>((r) => idp.listen(0, "127.0.0.1", r));
    issuer = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
  });

  after(() => new Promise<void>((r) => idp.close(() => r())));

  test("one metadata read; both name the same token endpoint", async () => {
    const config = { auth: { issuer: { url: issuer } }, admin: { clientId: "console" } } as unknown as Config;
    const login = new LoginInfo(config, "https://warden.example/gw", false);
    const doc = await login.document(true);
    assert.equal(doc.token_endpoint, "https://tokens.example/oauth/token");
    assert.equal(doc.authorization_endpoint, "https://login.example/authorize");
    assert.equal(doc.redirect_uri, "https://warden.example/gw/admin/");
    assert.equal(doc.bootstrap, false);
    assert.deepEqual(await consoleConnectOrigins(config), [new URL(doc.token_endpoint).origin]);
    await login.document(false);
    assert.equal(reads, 1);
  });
});
