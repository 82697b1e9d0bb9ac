// An oauth_user connection whose refresh the authorization server refuses, in-process against a
// real HTTP token endpoint: `invalid_grant` (the grant is gone) and `invalid_client` (the client the
// connection was made with is gone, e.g. replaced by a new registration) both break the connection
// and ask the user to connect again, audited; a server error leaves it as it was (-32005, try again).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import pino from "pino";
import { AuditLog } from "../../src/audit/log.js";
import { SqliteSink } from "../../src/audit/sinks/sqlite.js";
import type { Principal } from "../../src/auth/principal.js";
import type { HttpServerConfig } from "../../src/config/types.js";
import { GatewayError } from "../../src/errors.js";
import { StateKey } from "../../src/state/sealed.js";
import { StateStore } from "../../src/state/store.js";
import { OAuthUserBroker } from "../../src/upstreams/oauth-user/broker.js";
import { SqliteConnectionStore } from "../../src/upstreams/oauth-user/store.js";
import { sealTokens } from "../../src/upstreams/oauth-user/vault.js";
import { makeTempDir } from "../helpers/paths.js";

describe("a refresh the authorization server refuses", () => {
  let server: Server;
  let origin: string;
  /** The token endpoint's next answer. */
  let answer: { status: number; body: unknown } = { status: 200, body: {} };
  let tokenRequests = 0;

  before(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        tokenRequests++;
        res.writeHead(answer.status, { "content-type": "application/json" });
        res.end(JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(() => server.close());

  function bench() {
    const state = StateStore.open(":memory:");
    const store = new SqliteConnectionStore(state.db);
    const key = StateKey.ephemeral();
    const auditKey = randomBytes(32);
    const sink = new SqliteSink(state.db, auditKey);
    const audit = new AuditLog([sink], {
      key: auditKey,
      checkpointFile: join(makeTempDir("warden-refresh-audit-"), "checkpoints.jsonl"),
      checkpointEvery: 1000,
      checkpointIntervalMs: 60_000,
      spool: undefined,
      log: pino({ level: "silent" }),
    });
    const config = {
      name: "tracker",
      kind: "streamable_http",
      url: `${origin}/mcp`,
      auth: {
        type: "oauth_user",
        issuer: origin,
        authorization_endpoint: `${origin}/authorize`,
        token_endpoint: `${origin}/token`,
        authorize_params: {},
      },
    } as unknown as HttpServerConfig;
    const broker = new OAuthUserBroker([config], store, key, audit, pino({ level: "silent" }));
    broker.setBase("https://gw.example");
    return { store, key, broker, sink };
  }

  const alice = { subject: "alice", method: "jwt" } as unknown as Principal;

  /** Alice's connection, made with `clientId`, its access token expired (so a call refreshes first). */
  async function connected(b: ReturnType<typeof bench>, clientId: string) {
    const now = Date.now();
    await b.store.replace({
      id: "conn-1",
      subject: "alice",
      server: "tracker",
      status: "connected",
      issuer: origin,
      clientId,
      scopes: "repo",
      requestedScopes: "repo",
      stepUpScopes: "",
      tokens: sealTokens(b.key, "tracker", "alice", {
        access_token: "old-access",
        token_type: "Bearer",
        refresh_token: "refresh-1",
        expires_at: now - 1000,
      }),
      expiresAt: now - 1000,
      version: 1,
      createdAt: now,
      updatedAt: now,
      lastUsedAt: null,
    });
  }

  async function events(sink: SqliteSink, reason: string) {
    const out = [];
    for await (const e of sink.read({})) if ((e as { reason?: string }).reason === reason) out.push(e);
    return out;
  }

  for (const error of ["invalid_grant", "invalid_client", "unauthorized_client"])
    test(`${error}: the connection is broken, the user asked to connect again, audited`, async () => {
      const b = bench();
      await connected(b, "client-replaced-since");
      answer = { status: 400, body: { error } };
      const before = tokenRequests;
      await assert.rejects(
        b.broker.accessToken("tracker", alice),
        (err: unknown) =>
          err instanceof GatewayError && err.code === -32007 && err.reason === "reconnect_required",
      );
      assert.equal(tokenRequests, before + 1, "one refresh, not retried");
      assert.equal((await b.store.get("alice", "tracker"))?.status, "broken");
      assert.equal((await events(b.sink, "upstream_refresh_failed")).length, 1);
      // The next call does not try again: the user must connect.
      await assert.rejects(b.broker.accessToken("tracker", alice), /renewed|connect/);
      assert.equal(tokenRequests, before + 1);
    });

  test("a server error leaves the connection as it was: -32005, to be tried again", async () => {
    const b = bench();
    await connected(b, "client-1");
    answer = { status: 500, body: { error: "server_error" } };
    await assert.rejects(
      b.broker.accessToken("tracker", alice),
      (err: unknown) => err instanceof GatewayError && err.code === -32005,
    );
    assert.equal((await b.store.get("alice", "tracker"))?.status, "connected");
    answer = { status: 200, body: { access_token: "new-access", token_type: "Bearer", expires_in: 3600 } };
    assert.equal(await b.broker.accessToken("tracker", alice), "new-access");
  });
});
