// Two gateway processes with one public URL, one signing key and one `state.postgres` (and SQLite
// files of their own, so nothing can lean on SQLite) behave as one authorization server and one
// resource server: a sign-in whose every request lands on the other instance; a refresh token
// from one redeemed at the other; reuse on one revoking the family on both; two instances racing
// to redeem one refresh token; RFC 7009 revocation at one refused at the other; consent remembered
// across them; API keys from the CLI honoured and revoked on both at once. A third gateway whose
// Postgres goes away refuses (503) what it cannot check, and recovers when Postgres is back.
import assert from "node:assert/strict";
import { createServer as createHttpServer, request as httpRequest, type Server } from "node:http";
import { connect, createServer as createTcpServer, type Socket } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import pgLib from "pg";
import { makeTempDir, runCli, startGateway, writeConfig, type Gateway } from "../helpers/gateway.js";
import { initializeRequest, mcpHeaders, openRawSession, raw } from "../helpers/http.js";
import { receivedToolCalls } from "../helpers/records.js";
import { freePort } from "../helpers/upstreams.js";
import { waitFor } from "../helpers/wait.js";
import {
  FormBrowser,
  authGatewayConfig,
  authorize,
  authorizeUrl,
  pkcePair,
  registerClient,
  registerPublicClient,
  revoke,
  tokenRequest,
  type Registered,
  type UserName,
} from "../e2e/oauth-client.js";

const PG = "postgres://postgres@127.0.0.1:5432/test";
// Never contacted: the scripted browser stops at the first redirect off the issuer's origin.
const CALLBACK = "http://127.0.0.1:9/callback";

/** The load balancer in front of the instances: to one of them, or to each in turn. */
interface Balancer {
  url: string;
  send(to: "a" | "b" | "alternate"): void;
  close(): Promise<void>;
}

async function startBalancer(backends: () => { a: string; b: string }): Promise<Balancer> {
  let mode: "a" | "b" | "alternate" = "a";
  let turn = 0;
  const server: Server = createHttpServer((req, res) => {
    const which = mode === "alternate" ? (turn++ % 2 === 0 ? "a" : "b") : mode;
    const target = new URL(backends()[which]);
    const upstream = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    upstream.on("error", () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    send: (to) => {
      mode = to;
      turn = 0;
    },
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A TCP proxy to Postgres that the test can take down (every connection cut, new ones cut at once)
 * and bring back. It listens from the start, on a port of its own, so that no other process can
 * take the port while Postgres is "down" (a port picked and left unbound can be).
 */
async function startPostgresProxy(): Promise<{
  port: number;
  up(): Promise<void>;
  down(): Promise<void>;
  close(): Promise<void>;
}> {
  const sockets = new Set<Socket>();
  let open = false;
  const server = createTcpServer((client) => {
    if (!open) {
      client.destroy();
      return;
    }
    const pgSocket = connect(5432, "127.0.0.1");
    for (const s of [client, pgSocket]) {
      sockets.add(s);
      s.on("error", () => undefined);
      s.on("close", () => {
        sockets.delete(s);
        client.destroy();
        pgSocket.destroy();
      });
    }
    client.pipe(pgSocket).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  const cut = () => {
    open = false;
    for (const s of sockets) s.destroy();
  };
  return {
    port: typeof address === "object" && address ? address.port : 0,
    up: async () => {
      open = true;
    },
    down: async () => cut(),
    close: () =>
      new Promise((resolve) => {
        cut();
        server.close(() => resolve());
      }),
  };
}

/**
 * What an instance answers to an MCP initialize carrying `credential`: 200 when it is accepted
 * (the session is closed again), 401 when refused, 503 when it cannot be checked.
 */
async function access(gw: Gateway, credential: string): Promise<number> {
  const authorization = `Bearer ${credential}`;
  const res = await raw(gw.mcpUrl, {
    headers: mcpHeaders({ authorization }),
    body: JSON.stringify(initializeRequest()),
  });
  const session = res.headers["mcp-session-id"];
  if (typeof session === "string") {
    await raw(gw.mcpUrl, { method: "DELETE", headers: mcpHeaders({ authorization }, session) });
  }
  return res.status;
}

describe("two instances on one Postgres: one authorization server", () => {
  const schema = `as_pg_${process.pid}_${Date.now()}`;
  const pgUrl = `${PG}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  const dir = makeTempDir("warden-as-pg-");
  let pg: pgLib.Client;
  let lb: Balancer;
  let a: Gateway;
  let b: Gateway;
  let resource: string;

  async function instanceConfig(name: string): Promise<Record<string, unknown>> {
    const config = await authGatewayConfig({
      stateFile: join(dir, `${name}.db`),
      recordFile: join(dir, `${name}.jsonl`),
    });
    return {
      ...config,
      gateway: { listen: "127.0.0.1:0", public_url: lb.url },
      state: { sqlite: join(dir, `${name}.db`), postgres: pgUrl },
      audit: { key_file: join(dir, "audit.key"), checkpoint_file: join(dir, "checkpoints.jsonl") },
      auth: { ...(config.auth as object), signing_key_file: join(dir, "signing.jwk") },
    };
  }

  before(async () => {
    pg = new pgLib.Client({ connectionString: PG });
    await pg.connect();
    await pg.query(`CREATE SCHEMA ${schema}`);
    lb = await startBalancer(() => ({ a: a.url, b: b.url }));
    a = await startGateway(await instanceConfig("a"));
    b = await startGateway(await instanceConfig("b"));
    resource = `${lb.url}/mcp`;
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    await lb?.close();
    await pg?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await pg?.end();
  });

  /** Signs `user` in through the balancer as it is set now, and exchanges the code at `exchangeAt`. */
  async function signIn(
    client: Registered,
    opts: { user?: UserName; exchangeAt?: string; browser?: FormBrowser } = {},
  ) {
    const { verifier, challenge } = pkcePair();
    const out = await authorize(
      opts.browser ?? new FormBrowser(lb.url),
      authorizeUrl(lb.url, {
        clientId: client.client_id,
        redirectUri: CALLBACK,
        scope: "demo:use",
        resource,
        challenge,
        method: "S256",
      }),
      { user: opts.user ?? "alice" },
    );
    assert.ok(out.code, `no code: ${JSON.stringify({ ...out, page: out.page?.html.slice(0, 300) })}`);
    const tokens = await tokenRequest(opts.exchangeAt ?? lb.url, {
      grant_type: "authorization_code",
      code: out.code,
      code_verifier: verifier,
      redirect_uri: CALLBACK,
      client_id: client.client_id,
      resource,
    });
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    const { access_token, refresh_token } = tokens.body;
    assert.ok(access_token && refresh_token);
    return { access: access_token, refresh: refresh_token, pages: out.pages };
  }

  const refresh = (at: Gateway, client: Registered, refreshToken: string) =>
    tokenRequest(at.url, {
      grant_type: "refresh_token",
      refresh_token: refreshToken,
      client_id: client.client_id,
      resource,
    });

  test("a sign-in whose requests alternate between the instances succeeds, and its token works on both", async () => {
    lb.send("alternate");
    const client = await registerPublicClient(lb.url, CALLBACK);
    const tokens = await signIn(client);
    assert.deepEqual(tokens.pages, ["login", "consent"]);
    assert.equal(await access(a, tokens.access), 200);
    assert.equal(await access(b, tokens.access), 200);
  });

  test("a refresh token from A is redeemed at B; the old one reused at A revokes the family on both", async () => {
    lb.send("a");
    const client = await registerPublicClient(lb.url, CALLBACK);
    const first = await signIn(client);
    const stored = await pg.query<{ key: string; payload: string }>(
      `SELECT key, payload FROM ${schema}.warden_oauth_models`,
    );
    assert.ok(
      stored.rows.every((r) => r.key !== first.refresh && !r.payload.includes(first.refresh)),
      "Postgres holds no usable refresh token",
    );

    const second = await refresh(b, client, first.refresh);
    assert.equal(second.status, 200, JSON.stringify(second.body));
    const rotated = { access: second.body.access_token!, refresh: second.body.refresh_token! };
    assert.notEqual(rotated.refresh, first.refresh);
    assert.equal(await access(a, rotated.access), 200);

    const reuse = await refresh(a, client, first.refresh);
    assert.equal(reuse.status, 400);
    assert.equal(reuse.body.error, "invalid_grant");
    const after = await refresh(b, client, rotated.refresh);
    assert.equal(after.status, 400, "the newest refresh token of the family is dead at B too");
    assert.equal(await access(b, rotated.access), 401, "its access token is refused at B");
    assert.equal(await access(a, rotated.access), 401);
    assert.equal(await access(b, first.access), 401);
  });

  test("Postgres holds no session cookie, interaction id, code, token or client secret; all of them work", async () => {
    lb.send("alternate");
    const reg = await registerClient(lb.url, {
      redirect_uris: [CALLBACK],
      grant_types: ["authorization_code", "refresh_token"],
      token_endpoint_auth_method: "client_secret_basic",
    });
    assert.equal(reg.status, 201, JSON.stringify(reg.body));
    const client = reg.body as Registered & { client_secret: string };
    const basic = { id: client.client_id, secret: client.client_secret };
    const browser = new FormBrowser(lb.url);
    const { verifier, challenge } = pkcePair();
    const url = authorizeUrl(lb.url, {
      clientId: client.client_id,
      redirectUri: CALLBACK,
      scope: "demo:use",
      resource,
      challenge,
      method: "S256",
    });
    const out = await authorize(browser, url, { user: "alice" });
    assert.ok(out.code);
    const tokens = await tokenRequest(
      lb.url,
      {
        grant_type: "authorization_code",
        code: out.code,
        code_verifier: verifier,
        redirect_uri: CALLBACK,
        resource,
      },
      basic,
    );
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    const pending = new FormBrowser(lb.url);
    const step = await pending.navigate(url);
    const uid = /\/oauth\/interaction\/([^/?]+)/.exec(step.page?.url ?? "")?.[1];
    assert.ok(uid, "a sign-in left pending");
    const secrets: Record<string, string> = {
      "session cookie": browser.cookie("warden-session") ?? "",
      "interaction id": uid,
      code: out.code,
      "refresh token": tokens.body.refresh_token ?? "",
      "access token": tokens.body.access_token ?? "",
      "client secret": client.client_secret,
    };
    const tables = await pg.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
      [schema],
    );
    const values: string[] = [];
    for (const t of tables.rows) {
      for (const row of (await pg.query(`SELECT * FROM ${schema}."${t.table_name}"`)).rows)
        for (const v of Object.values(row as object)) if (v !== null) values.push(String(v));
    }
    for (const [what, secret] of Object.entries(secrets)) {
      assert.ok(secret.length >= 16, what);
      assert.ok(!values.some((v) => v.includes(secret)), `${what} is stored in Postgres`);
    }
    // Each still works, on either instance.
    const again = await authorize(browser, url);
    assert.ok(again.code && again.pages.length === 0, "the session is still signed in");
    const rotated = await tokenRequest(
      b.url,
      { grant_type: "refresh_token", refresh_token: tokens.body.refresh_token!, resource },
      basic,
    );
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    assert.equal(await access(a, rotated.body.access_token!), 200);
  });

  test("two instances redeeming one refresh token at once: at most one wins, and the family is revoked", async () => {
    lb.send("a");
    const client = await registerPublicClient(lb.url, CALLBACK);
    for (let round = 0; round < 4; round++) {
      const tokens = await signIn(client);
      const results = await Promise.all([
        refresh(a, client, tokens.refresh),
        refresh(b, client, tokens.refresh),
      ]);
      const winners = results.filter((r) => r.status === 200);
      assert.ok(winners.length <= 1, `round ${round}: ${results.map((r) => r.status).join(", ")}`);
      for (const w of winners) {
        assert.equal((await refresh(a, client, w.body.refresh_token!)).status, 400);
        assert.equal(await access(a, w.body.access_token!), 401);
        assert.equal(await access(b, w.body.access_token!), 401);
      }
      assert.equal(await access(b, tokens.access), 401);
    }
  });

  test("an access token revoked at B (RFC 7009) is refused at A on the next request", async () => {
    lb.send("a");
    const client = await registerPublicClient(lb.url, CALLBACK);
    const tokens = await signIn(client);
    assert.equal(await access(a, tokens.access), 200);
    const r = await revoke(b.url, { token: tokens.access, client_id: client.client_id });
    assert.equal(r.status, 200, r.text);
    assert.equal(await access(a, tokens.access), 401);
    assert.equal(await access(b, tokens.access), 401);
    const fresh = await refresh(a, client, tokens.refresh);
    assert.equal(fresh.status, 200, "revoking one access token leaves its grant alone");
    assert.equal(await access(b, fresh.body.access_token!), 200);
  });

  test("consent given through A is remembered at B, from a new browser", async () => {
    lb.send("a");
    const client = await registerPublicClient(lb.url, CALLBACK);
    const first = await signIn(client, { user: "bob" });
    assert.deepEqual(first.pages, ["login", "consent"]);
    lb.send("b");
    const again = await signIn(client, { user: "bob", exchangeAt: b.url });
    assert.deepEqual(again.pages, ["login"], "no consent page at B");
    assert.equal(await access(a, again.access), 200);
  });

  test("an API key made by the CLI works on both instances, and once revoked is refused on both", async () => {
    const created = await runCli([
      "apikey",
      "create",
      "-c",
      a.configFile,
      "--name",
      "nightly",
      "--scope",
      "demo:use",
    ]);
    assert.equal(created.code, 0, created.stderr);
    const key = created.stdout.trim();
    assert.match(key, /^mwk_[0-9a-f]{18}_/);
    const id = key.slice(4, 22);
    assert.equal(await access(a, key), 200);
    assert.equal(await access(b, key), 200);
    for (const name of ["a", "b"]) {
      const db = new Database(join(dir, `${name}.db`), { readonly: true });
      const n = (db.prepare("SELECT COUNT(*) AS n FROM api_keys").get() as { n: number }).n;
      db.close();
      assert.equal(n, 0, `nothing in ${name}'s SQLite`);
    }
    const row = await pg.query<{ hash: string }>(`SELECT hash FROM ${schema}.warden_api_keys WHERE id = $1`, [
      id,
    ]);
    assert.equal(row.rows[0]?.hash.length, 64);
    assert.ok(!row.rows[0]?.hash.includes(key.slice(23)));
    const list = await runCli(["apikey", "list", "-c", b.configFile, "--json"]);
    assert.equal(list.code, 0, list.stderr);
    assert.ok(list.stdout.includes(`"id":"${id}"`));

    const revoked = await runCli(["apikey", "revoke", "-c", b.configFile, id]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal(await access(a, key), 401);
    assert.equal(await access(b, key), 401);
  });
});

describe("an instance whose Postgres is unreachable refuses what it cannot check", () => {
  const schema = `as_pg_down_${process.pid}_${Date.now()}`;
  const dir = makeTempDir("warden-as-pg-down-");
  let pg: pgLib.Client;
  let proxy: Awaited<ReturnType<typeof startPostgresProxy>>;
  let gw: Gateway;
  let configFile: string;

  before(async () => {
    pg = new pgLib.Client({ connectionString: PG });
    await pg.connect();
    await pg.query(`CREATE SCHEMA ${schema}`);
    proxy = await startPostgresProxy();
    const proxyPort = proxy.port;
    const port = await freePort();
    const config = {
      ...(await authGatewayConfig({ stateFile: join(dir, "state.db"), recordFile: join(dir, "rec.jsonl") })),
      gateway: { listen: `127.0.0.1:${port}` },
      state: {
        sqlite: join(dir, "state.db"),
        postgres: `postgres://postgres@127.0.0.1:${proxyPort}/test?options=${encodeURIComponent(
          `-c search_path=${schema}`,
        )}`,
      },
    };
    configFile = writeConfig(config, dir);
    // Started while the proxy cuts every connection to Postgres (not ready: its audit sink is down too).
    gw = await startGateway(config, { waitReady: false });
  });

  after(async () => {
    await gw?.stop();
    await proxy?.close();
    await pg?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await pg?.end();
  });

  test("tokens and API keys get 503, never acceptance; the process stays up and recovers", async () => {
    const minted = await runCli(["token", "-c", configFile, "--sub", "ci", "--scope", "demo:use"]);
    assert.equal(minted.code, 0, minted.stderr);
    const token = minted.stdout.trim();

    // A token that would be valid, and a well-formed API key: neither can be checked.
    const refused = await raw(gw.mcpUrl, {
      headers: mcpHeaders({ authorization: `Bearer ${token}` }),
      body: JSON.stringify(initializeRequest()),
    });
    assert.equal(refused.status, 503, refused.text);
    assert.ok(refused.headers["retry-after"]);
    assert.match(refused.text, /auth_unavailable/);
    assert.equal(await access(gw, `mwk_${"0".repeat(18)}_${"x".repeat(43)}`), 503);
    assert.equal((await fetch(`${gw.url}/healthz`)).status, 200, "the process is up");

    await proxy.up();
    await waitFor(async () => (await access(gw, token)) === 200, {
      timeoutMs: 20_000,
      what: "the token to be accepted once Postgres is back",
    });
    const created = await runCli([
      "apikey",
      "create",
      "-c",
      configFile,
      "--name",
      "bot",
      "--scope",
      "demo:use",
    ]);
    assert.equal(created.code, 0, created.stderr);
    const key = created.stdout.trim();
    assert.equal(await access(gw, key), 200);
    const session = await openRawSession(gw.mcpUrl, { headers: { authorization: `Bearer ${token}` } });

    await proxy.down();
    // A call on an open session is refused too, before anything reaches the upstream.
    const call = await session.post({
      jsonrpc: "2.0",
      id: 9,
      method: "tools/call",
      params: { name: "recorder__echo", arguments: { message: "while postgres is down" } },
    });
    assert.equal(call.status, 503, call.text);
    assert.match(call.text, /auth_unavailable/);
    assert.equal(receivedToolCalls(join(dir, "rec.jsonl"), "echo").length, 0, "the upstream saw the call");
    assert.equal(await access(gw, token), 503, "Postgres gone again: refused");
    assert.equal(await access(gw, key), 503);
    assert.equal((await fetch(`${gw.url}/healthz`)).status, 200);
    const issued = await tokenRequest(gw.url, {
      grant_type: "refresh_token",
      refresh_token: "x",
      client_id: "y",
    });
    // The token endpoint cannot look the client up: 503 temporarily_unavailable, not a 500.
    assert.equal(issued.status, 503, JSON.stringify(issued.body));
    assert.equal((issued.body as { error?: string }).error, "temporarily_unavailable");

    await proxy.up();
    await waitFor(async () => (await access(gw, key)) === 200, {
      timeoutMs: 20_000,
      what: "the API key to be accepted again",
    });
  });
});
