// Upstream credentials: the gateway authenticates to remote servers with their own configured
// credentials (servers[].auth), on every HTTP request the SDK transport makes, and the client's
// token, cookies and other headers never reach an upstream. A fixture upstream reports the headers
// of every request it receives; a fixture token endpoint counts and records every token request.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { connectClient, mcpError, reasonOf, textOf, type ConnectedClient } from "../helpers/client.js";
import { makeTempDir, runCli, startGateway, writeConfig, type Gateway } from "../helpers/gateway.js";
import { startFixture, type NetworkFixture as Fixture } from "../helpers/fixtures.js";
import { freePort } from "../helpers/upstreams.js";
import { waitFor } from "../helpers/wait.js";

interface SeenRequest {
  method: string;
  path: string;
  headers: Record<string, string | undefined>;
  status?: number;
  at: number;
}

interface TokenRequest {
  at: number;
  content_type?: string;
  auth_method?: "basic" | "post" | "none";
  client_id?: string;
  secret_ok?: boolean;
  params?: Record<string, string>;
  issued?: string;
  stray?: boolean;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  return (await res.json()) as T;
}

async function postJson(url: string, body: unknown): Promise<void> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200, await res.text());
}

const secret = (label: string) => `${label}-${randomBytes(12).toString("hex")}`;
// Characters that RFC 6749 §2.3.1 form-encoding must carry through HTTP Basic intact.
const CC_SECRET = `${secret("cc")} &:=+%/é`;
const TX_SECRET = secret("tx");
const API_KEY = secret("apikey");
const BEARER = secret("bearer");
const CLIENT_COOKIE = `session=${secret("client-cookie")}`;
const CLIENT_HEADERS = {
  cookie: CLIENT_COOKIE,
  "x-client-secret": secret("client-header"),
  "x-forwarded-for": "203.0.113.7",
  "x-api-key": secret("client-api-key"),
  "proxy-authorization": `Basic ${secret("client-proxy")}`,
};
const TOOLS = { "*": ["demo:use"] };
const SECRETS_ENV = {
  UP_API_KEY: API_KEY,
  UP_BEARER: BEARER,
  UP_CC_SECRET: CC_SECRET,
  UP_TX_SECRET: TX_SECRET,
};

describe("upstream credentials", () => {
  let up: Fixture;
  let sts: Fixture;
  let gw: Gateway;
  let configFile: string;
  const clients: ConnectedClient[] = [];
  const minted: string[] = [];

  /** What the upstream received on these paths (every path when none is given). */
  const seen = async (...paths: string[]) =>
    (await getJson<SeenRequest[]>(`${up.base}/_control/requests`)).filter(
      (r) => paths.length === 0 || paths.includes(r.path),
    );
  const tokenRequests = async (clientId?: string) =>
    (await getJson<TokenRequest[]>(`${sts.base}/_control/requests`)).filter(
      (r) => clientId === undefined || r.client_id === clientId,
    );
  const setClient = (client: Record<string, unknown>) => postJson(`${sts.base}/_control/clients`, client);

  async function connect(url: string, opts: Parameters<typeof connectClient>[1] = {}) {
    const c = await connectClient(url, opts);
    clients.push(c);
    return c;
  }

  /** The headers the upstream saw on the request that called its `headers` tool. */
  async function toolHeaders(c: ConnectedClient, name = "headers") {
    return JSON.parse(textOf(await c.client.callTool({ name, arguments: {} }))) as Record<string, string>;
  }

  async function mint(sub: string, ttl = "15m"): Promise<string> {
    const r = await runCli(["token", "-c", configFile, "--sub", sub, "--scope", "demo:use", "--ttl", ttl], {
      env: SECRETS_ENV,
    });
    assert.equal(r.code, 0, r.stderr);
    const token = r.stdout.trim();
    minted.push(token);
    return token;
  }

  before(async () => {
    sts = await startFixture("token-server.mjs");
    up = await startFixture("headers-server.mjs");
    await setClient({ client_id: "cc-main", client_secret: CC_SECRET });
    await setClient({ client_id: "cc-sse", client_secret: CC_SECRET });
    await setClient({ client_id: "cc-retry", client_secret: CC_SECRET });
    await setClient({ client_id: "cc-refresh", client_secret: CC_SECRET, expires_in: 4 });
    await setClient({ client_id: "cc-fail", client_secret: CC_SECRET, expires_in: 3 });
    await setClient({ client_id: "tx-client", client_secret: TX_SECRET });

    const dir = makeTempDir("warden-upcred-");
    const port = await freePort();
    const cc = (name: string, client: string, extra: Record<string, unknown> = {}) => ({
      name,
      url: `${up.base}/mcp/${name}`,
      auth: {
        type: "oauth2_client_credentials",
        token_url: `${sts.base}/token`,
        client_id: client,
        client_secret: "${UP_CC_SECRET}",
        ...extra,
      },
      tools: TOOLS,
    });
    const config = {
      gateway: { listen: `127.0.0.1:${port}` },
      state: { sqlite: join(dir, "state.db") },
      auth: { signing_key_file: join(dir, "signing.jwk"), anonymous: ["demo:use"] },
      // The fixture reports the headers it received in its results: keep them readable here.
      protect: { redact_results: false, injection: "off" },
      servers: [
        { name: "plain", url: `${up.base}/mcp/plain`, headers: { "X-Static": "static-plain" }, tools: TOOLS },
        {
          name: "apikey",
          url: `${up.base}/mcp/apikey`,
          // The credential's header beats a configured one of the same name.
          headers: { "x-api-key": "configured-header-must-lose", "X-Static": "static-apikey" },
          auth: { type: "api_key", header: "X-Api-Key", key: "${UP_API_KEY}" },
          tools: TOOLS,
        },
        {
          name: "bearer",
          url: `${up.base}/mcp/bearer`,
          headers: { Authorization: "Bearer configured-header-must-lose" },
          auth: { type: "bearer", token: "${UP_BEARER}" },
          tools: TOOLS,
        },
        cc("cc", "cc-main", {
          scope: "mcp:read mcp:write",
          audience: "upstream-aud",
          resource: `${up.base}/mcp/cc`,
        }),
        { ...cc("legacy", "cc-sse"), url: `${up.base}/sse/legacy`, transport: "sse" },
        cc("ccretry", "cc-retry"),
        cc("ccrefresh", "cc-refresh"),
        cc("ccfail", "cc-fail"),
        {
          name: "tx",
          url: `${up.base}/mcp/tx`,
          auth: {
            type: "token_exchange",
            token_url: `${sts.base}/token`,
            client_id: "tx-client",
            client_secret: "${UP_TX_SECRET}",
            scope: "files:read",
            audience: "tx-aud",
            resource: `${up.base}/mcp/tx`,
          },
          tools: TOOLS,
        },
      ],
    };
    configFile = writeConfig(config, dir);
    gw = await startGateway(config, {
      env: { ...SECRETS_ENV, WARDEN_LOG_LEVEL: "debug" },
    });
  });

  after(async () => {
    for (const c of clients) await c.close();
    await gw?.stop();
    await up?.stop();
    await sts?.stop();
  });

  test("every remote server is ready; the token-exchange one by reachability only", async () => {
    const r = await gw.readyz();
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.upstreams?.tx?.readiness, "reachability");
    // The gateway's own connection cannot act for a caller: nothing was sent to the upstream.
    assert.deepEqual(await seen("/mcp/tx"), []);
  });

  const expectations: Array<{ server: string; check(h: Record<string, string | undefined>): void }> = [
    {
      server: "plain",
      check(h) {
        assert.equal(h.authorization, undefined);
        assert.equal(h["x-api-key"], undefined);
        assert.equal(h["x-static"], "static-plain");
      },
    },
    {
      server: "apikey",
      check(h) {
        assert.equal(h["x-api-key"], API_KEY);
        assert.equal(h.authorization, undefined);
        assert.equal(h["x-static"], "static-apikey");
      },
    },
    {
      server: "bearer",
      check(h) {
        assert.equal(h.authorization, `Bearer ${BEARER}`);
        assert.equal(h["x-api-key"], undefined);
      },
    },
    {
      server: "cc",
      check(h) {
        assert.match(h.authorization ?? "", /^Bearer cc\.cc-main\.\d+\.[0-9a-f]+$/);
        assert.equal(h["x-api-key"], undefined);
      },
    },
  ];

  for (const { server, check } of expectations) {
    test(`${server}: its credential on every request (POST, GET stream, DELETE), nothing of the client's`, async () => {
      const c = await connect(gw.serverUrl(server), { headers: CLIENT_HEADERS });
      const fromTool = await toolHeaders(c);
      check(fromTool);
      await c.close();
      const requests = await waitFor(
        async () => {
          const all = await seen(`/mcp/${server}`);
          return all.some((r) => r.method === "DELETE") && all.some((r) => r.method === "GET") && all;
        },
        { what: `a GET stream and a DELETE on /mcp/${server}` },
      );
      assert.ok(requests.some((r) => r.method === "POST"));
      for (const r of requests) {
        check(r.headers);
        assert.equal(r.headers.cookie, undefined, `${r.method}: the client's cookie reached the upstream`);
        assert.equal(r.headers["proxy-authorization"], undefined);
        assert.equal(r.headers["x-client-secret"], undefined);
        assert.equal(r.headers["x-forwarded-for"], undefined);
      }
      const text = JSON.stringify(requests);
      for (const value of Object.values(CLIENT_HEADERS)) assert.ok(!text.includes(value), value);
      if (server === "cc") {
        const issued = (await tokenRequests("cc-main")).map((t) => t.issued);
        for (const r of requests) assert.ok(issued.includes(r.headers.authorization?.slice(7)));
      }
    });
  }

  test("legacy SSE: the event stream's GET and every message POST carry the credential", async () => {
    const c = await connect(gw.serverUrl("legacy"), { headers: CLIENT_HEADERS });
    const fromTool = await toolHeaders(c);
    assert.match(fromTool.authorization ?? "", /^Bearer cc\.cc-sse\./);
    const requests = await seen("/sse/legacy", "/messages/legacy");
    assert.ok(requests.some((r) => r.method === "GET" && r.path === "/sse/legacy"));
    assert.ok(requests.some((r) => r.method === "POST" && r.path === "/messages/legacy"));
    for (const r of requests) {
      assert.match(r.headers.authorization ?? "", /^Bearer cc\.cc-sse\./, `${r.method} ${r.path}`);
      assert.equal(r.headers.cookie, undefined);
    }
  });

  test("a caller's bearer token is verified by the gateway and never forwarded", async () => {
    const token = await mint("alice");
    for (const server of ["plain", "apikey", "bearer", "cc"]) {
      const c = await connect(gw.serverUrl(server), {
        headers: { ...CLIENT_HEADERS, authorization: `Bearer ${token}` },
      });
      const h = await toolHeaders(c);
      assert.ok(!JSON.stringify(h).includes(token));
      if (server === "plain") assert.equal(h.authorization, undefined);
    }
    const everything = JSON.stringify(await seen());
    assert.ok(!everything.includes(token), "the caller's token reached an upstream");
    assert.ok(!everything.includes(CLIENT_COOKIE));
  });

  test("client credentials: client_secret_basic, the configured scope, audience and resource", async () => {
    const [first] = await tokenRequests("cc-main");
    assert.ok(first, "no token request for cc-main");
    assert.equal(first.auth_method, "basic");
    assert.equal(first.secret_ok, true, "the secret did not survive form-encoding in HTTP Basic");
    assert.equal(first.content_type, "application/x-www-form-urlencoded");
    assert.deepEqual(first.params, {
      grant_type: "client_credentials",
      scope: "mcp:read mcp:write",
      audience: "upstream-aud",
      resource: `${up.base}/mcp/cc`,
    });
  });

  test("client credentials: one token serves every session and call until it is due", async () => {
    const before = (await tokenRequests("cc-main")).length;
    const sessions = await Promise.all([1, 2, 3, 4].map(() => connect(gw.serverUrl("cc"))));
    const seenTokens = new Set<string>();
    await Promise.all(
      sessions.flatMap((c) =>
        [1, 2, 3].map(async () => seenTokens.add((await toolHeaders(c)).authorization ?? "")),
      ),
    );
    assert.equal((await tokenRequests("cc-main")).length, before);
    assert.equal(seenTokens.size, 1);
  });

  test("client credentials: refreshed before expiry, with one fetch in flight", async () => {
    const c = await connect(gw.serverUrl("ccrefresh"));
    await toolHeaders(c);
    let current = (await tokenRequests("cc-refresh")).at(-1)!;
    if (Date.now() - current.at > 1_000) {
      // Start from a token fetched just now, so the next call cannot find it due.
      await sleep(Math.max(0, current.at + 2_200 - Date.now()));
      await toolHeaders(c);
      current = (await tokenRequests("cc-refresh")).at(-1)!;
    }
    const issued = await tokenRequests("cc-refresh");
    assert.equal((await toolHeaders(c)).authorization, `Bearer ${current.issued}`);
    assert.equal(
      (await tokenRequests("cc-refresh")).length,
      issued.length,
      "a fresh token was fetched again",
    );

    // expires_in 4 s: due at 80%, but at least 2 s before expiry, so at 2 s.
    await setClient({ client_id: "cc-refresh", delay_ms: 300 });
    await sleep(Math.max(0, current.at + 2_200 - Date.now()));
    const during = await Promise.all([1, 2, 3, 4, 5, 6].map(() => toolHeaders(c)));
    const after = await tokenRequests("cc-refresh");
    assert.equal(after.length, issued.length + 1, "not exactly one token request for concurrent calls");
    const renewed = after.at(-1)!;
    assert.ok(renewed.at < current.at + 4_000, "the token was not refreshed before it expired");
    for (const h of during) assert.equal(h.authorization, `Bearer ${renewed.issued}`);
    await setClient({ client_id: "cc-refresh", delay_ms: 0 });
  });

  test("client credentials: a 401 drops the cached token and retries once with a new one", async () => {
    const c = await connect(gw.serverUrl("ccretry"));
    await toolHeaders(c);
    const stale = (await tokenRequests("cc-retry")).at(-1)!;
    await postJson(`${up.base}/_control/reject`, { value: `Bearer ${stale.issued}` });
    const h = await toolHeaders(c);
    const fresh = (await tokenRequests("cc-retry")).at(-1)!;
    assert.notEqual(fresh.issued, stale.issued);
    assert.equal(h.authorization, `Bearer ${fresh.issued}`);
    const refused = (await seen("/mcp/ccretry")).filter((r) => r.status === 401);
    assert.equal(refused.length, 1);
    assert.equal(refused[0]!.headers.authorization, `Bearer ${stale.issued}`);

    // Refused again with the new token: one retry only, then -32005 upstream_auth_failed.
    await postJson(`${up.base}/_control/reject`, { path: "/mcp/ccretry" });
    const countBefore = (await tokenRequests("cc-retry")).length;
    const seenBefore = (await seen("/mcp/ccretry")).length;
    const err = await mcpError(() => c.client.callTool({ name: "ping", arguments: {} }));
    assert.equal(err.code, -32005);
    assert.equal(reasonOf(err), "upstream_auth_failed");
    assert.equal((await tokenRequests("cc-retry")).length, countBefore + 1);
    assert.equal((await seen("/mcp/ccretry")).length, seenBefore + 2);
    await postJson(`${up.base}/_control/accept`, {});
  });

  test("a static credential refused with 401 is not retried: -32005 upstream_auth_failed", async () => {
    const c = await connect(gw.serverUrl("bearer"));
    // Listed first, so the argument guards know the tool's schema and the call is one request.
    await c.client.listTools();
    await postJson(`${up.base}/_control/reject`, { value: `Bearer ${BEARER}` });
    const before = (await seen("/mcp/bearer")).length;
    const err = await mcpError(() => c.client.callTool({ name: "ping", arguments: {} }));
    assert.equal(err.code, -32005);
    assert.equal(reasonOf(err), "upstream_auth_failed");
    assert.equal((await seen("/mcp/bearer")).length, before + 1);
    await postJson(`${up.base}/_control/accept`, {});
    assert.equal(textOf(await c.client.callTool({ name: "ping", arguments: {} })), "pong");
  });

  test("token endpoint failures: -32005 upstream_auth_failed, never an unauthenticated request", async () => {
    const c = await connect(gw.serverUrl("ccfail"));
    await toolHeaders(c);
    const last = (await tokenRequests("cc-fail")).at(-1)!;
    await setClient({ client_id: "cc-fail", fail: "server_error" });
    // The held token stays usable while refreshes fail, until 1 s before it expires (3 s).
    await sleep(Math.max(0, last.at + 2_200 - Date.now()));
    for (const fail of ["server_error", "invalid_client", "no_token", "not_json", "token_type"]) {
      await setClient({ client_id: "cc-fail", fail });
      const count = (await tokenRequests("cc-fail")).length;
      const err = await mcpError(() => c.client.callTool({ name: "ping", arguments: {} }));
      assert.equal(err.code, -32005, fail);
      assert.equal(reasonOf(err), "upstream_auth_failed", fail);
      assert.equal((await tokenRequests("cc-fail")).length, count + 1, fail);
    }
    // A new session cannot even initialize.
    const init = await mcpError(() => connectClient(gw.serverUrl("ccfail")));
    assert.equal(init.code, -32005);
    assert.equal(reasonOf(init), "upstream_auth_failed");

    for (const r of await seen("/mcp/ccfail"))
      assert.match(r.headers.authorization ?? "", /^Bearer cc\.cc-fail\./, `${r.method} without credentials`);

    await setClient({ client_id: "cc-fail", fail: null });
    assert.equal(textOf(await c.client.callTool({ name: "ping", arguments: {} })), "pong");
  });

  test("token exchange: an anonymous caller is refused and nothing reaches the upstream", async () => {
    const direct = await mcpError(() => connectClient(gw.serverUrl("tx")));
    assert.equal(direct.code, -32005);
    assert.equal(reasonOf(direct), "upstream_auth_failed");
    const c = await connect(gw.mcpUrl);
    const err = await mcpError(() => c.client.callTool({ name: "tx__headers", arguments: {} }));
    assert.equal(err.code, -32005);
    assert.equal(reasonOf(err), "upstream_auth_failed");
    assert.deepEqual(await seen("/mcp/tx"), []);
    assert.deepEqual(await tokenRequests("tx-client"), []);
  });

  test("token exchange: the caller's token goes to the token endpoint only, once per caller token", async () => {
    const alice = await mint("alice");
    const bob = await mint("bob");
    const a1 = await connect(gw.serverUrl("tx"), { headers: { authorization: `Bearer ${alice}` } });
    const h1 = await toolHeaders(a1);
    const [exchange, ...more] = await tokenRequests("tx-client");
    assert.equal(more.length, 0);
    assert.equal(exchange!.auth_method, "basic");
    assert.equal(exchange!.secret_ok, true);
    assert.deepEqual(exchange!.params, {
      grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
      subject_token: alice,
      subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
      requested_token_type: "urn:ietf:params:oauth:token-type:access_token",
      scope: "files:read",
      audience: "tx-aud",
      resource: `${up.base}/mcp/tx`,
    });
    assert.equal(h1.authorization, `Bearer ${exchange!.issued}`);

    // Another session of the same caller token reuses the exchanged token.
    const a2 = await connect(gw.serverUrl("tx"), { headers: { authorization: `Bearer ${alice}` } });
    assert.equal((await toolHeaders(a2)).authorization, h1.authorization);
    assert.equal((await tokenRequests("tx-client")).length, 1);

    // Another caller gets its own.
    const b = await connect(gw.mcpUrl, { headers: { authorization: `Bearer ${bob}` } });
    const hb = await toolHeaders(b, "tx__headers");
    const exchanges = await tokenRequests("tx-client");
    assert.equal(exchanges.length, 2);
    assert.equal(exchanges[1]!.params?.subject_token, bob);
    assert.equal(hb.authorization, `Bearer ${exchanges[1]!.issued}`);

    const requests = await seen("/mcp/tx");
    assert.ok(requests.length > 0);
    const issued = exchanges.map((e) => `Bearer ${e.issued}`);
    for (const r of requests) assert.ok(issued.includes(r.headers.authorization ?? ""), r.method);
    const everything = JSON.stringify(await seen());
    for (const t of [alice, bob]) assert.ok(!everything.includes(t), "a caller token reached an upstream");
  });

  test("token exchange: an exchanged token is not used, nor renewed, past the caller token's expiry", async () => {
    const carol = await mint("carol", "2s");
    const exp = (JSON.parse(Buffer.from(carol.split(".")[1]!, "base64url").toString()) as { exp: number })
      .exp;
    const c = await connect(gw.serverUrl("tx"), { headers: { authorization: `Bearer ${carol}` } });
    assert.match((await toolHeaders(c)).authorization ?? "", /^Bearer tx\.tx-client\./);
    const exchanges = (await tokenRequests("tx-client")).length;
    // The gateway still admits the caller within its clock leeway; the exchange must not outlive exp.
    await sleep(Math.max(0, exp * 1000 + 100 - Date.now()));
    const err = await mcpError(() => c.client.callTool({ name: "headers", arguments: {} }));
    assert.equal(err.code, -32005);
    assert.equal(reasonOf(err), "upstream_auth_failed");
    assert.equal(
      (await tokenRequests("tx-client")).length,
      exchanges,
      "an expired caller token was exchanged",
    );
  });

  test("no secret, token or cookie in the gateway's logs or /readyz", async () => {
    const issued = (await tokenRequests()).flatMap((t) => (t.issued ? [t.issued] : []));
    assert.ok(issued.length >= 5);
    const logs = gw.stderrLines.join("\n");
    assert.ok(logs.includes("upstream token request failed"), "expected the failures to be logged");
    const readyz = JSON.stringify((await gw.readyz()).body);
    const form = (v: string) => new URLSearchParams([["", v]]).toString().slice(1);
    const basics = ["cc-main", "cc-sse", "cc-retry", "cc-refresh", "cc-fail", "tx-client"].map((id) =>
      Buffer.from(`${id}:${form(id.startsWith("tx") ? TX_SECRET : CC_SECRET)}`).toString("base64"),
    );
    const secrets = [API_KEY, BEARER, CC_SECRET, form(CC_SECRET), TX_SECRET, CLIENT_COOKIE, ...basics];
    for (const value of [...secrets, ...issued, ...minted]) {
      assert.ok(!logs.includes(value), `the gateway logged ${value.slice(0, 12)}…`);
      assert.ok(!readyz.includes(value));
    }
    for (const value of Object.values(CLIENT_HEADERS)) assert.ok(!logs.includes(value));
  });
});

describe("upstream credentials that cannot be used", () => {
  let up: Fixture;
  let sts: Fixture;
  let gw: Gateway;

  before(async () => {
    sts = await startFixture("token-server.mjs");
    up = await startFixture("headers-server.mjs", { REDIRECT_TO: `${sts.base}/capture/` });
    await postJson(`${sts.base}/_control/clients`, {
      client_id: "down",
      client_secret: "s3cret-down",
      fail: "server_error",
    });
    const closed = await freePort();
    const cc = (name: string, tokenUrl: string, url = `${up.base}/mcp/${name}`) => ({
      name,
      url,
      auth: {
        type: "oauth2_client_credentials",
        token_url: tokenUrl,
        client_id: "down",
        client_secret: "s3cret-down",
      },
      tools: TOOLS,
    });
    gw = await startGateway(
      {
        gateway: { listen: "127.0.0.1:0" },
        state: { sqlite: join(makeTempDir("warden-upcred-bad-"), "state.db") },
        auth: { anonymous: ["demo:use"] },
        servers: [
          cc("ccdown", `${sts.base}/token`),
          cc("unreachable", `http://127.0.0.1:${closed}/token`),
          // Plain http beyond loopback (token_url or upstream) is a config error: see test/unit/config.test.ts.
          {
            name: "redirect",
            url: `${up.base}/redirect/elsewhere`,
            auth: { type: "api_key", header: "X-Api-Key", key: "s3cret-key" },
            tools: TOOLS,
          },
        ],
      },
      { waitReady: false },
    );
  });

  after(async () => {
    await gw?.stop();
    await up?.stop();
    await sts?.stop();
  });

  test("each is reported not ready with why, and a session gets -32005 upstream_auth_failed", async () => {
    const expected: Record<string, RegExp> = {
      ccdown: /token endpoint answered 500 server_error/,
      unreachable: /token endpoint unreachable/,
      redirect: /refused|[Rr]edirect/,
    };
    const body = await waitFor(
      async () => {
        const r = await gw.readyz();
        const ups = r.body.upstreams ?? {};
        return Object.keys(expected).every((s) => typeof ups[s]?.error === "string") && r.body;
      },
      { what: "an error reported for every server" },
    );
    for (const [server, pattern] of Object.entries(expected)) {
      const status = body.upstreams![server]!;
      assert.notEqual(status.state, "ready", server);
      assert.match(String(status.error), pattern, server);
    }
    for (const server of ["ccdown", "unreachable"]) {
      const err = await mcpError(() => connectClient(gw.serverUrl(server)));
      assert.equal(err.code, -32005, server);
      assert.equal(reasonOf(err), "upstream_auth_failed", server);
    }
  });

  test("nothing was sent without credentials, to plain http, or across a redirect", async () => {
    const requests = await getJson<SeenRequest[]>(`${up.base}/_control/requests`);
    assert.deepEqual(
      requests.filter((r) => r.path !== "/redirect/elsewhere"),
      [],
      "an upstream got a request although its credentials were unavailable",
    );
    for (const r of requests) assert.equal(r.headers["x-api-key"], "s3cret-key");
    const tokenSide = await getJson<TokenRequest[]>(`${sts.base}/_control/requests`);
    assert.deepEqual(
      tokenSide.filter((r) => r.stray),
      [],
      "the redirect was followed to another origin",
    );
    assert.ok(!gw.stderrLines.join("\n").includes("s3cret"));
  });
});
