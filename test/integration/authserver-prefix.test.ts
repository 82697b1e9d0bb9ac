// The authorization server mounted in-process behind a plain node:http server, with an issuer that
// has a path (a gateway published under https://host/warden): RFC 8414 path-inserted metadata, every
// endpoint and page under the path, and a full code flow. Also: a request without `scope` asks
// for the resource's scopes, and a closed server answers 503.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import pino from "pino";
import { AuditLog } from "../../src/audit/log.js";
import { SqliteSink } from "../../src/audit/sinks/sqlite.js";
import { makeTempDir } from "../helpers/paths.js";
import { KeyStore } from "../../src/auth/keys.js";
import { hashPassword } from "../../src/auth/passwords.js";
import { createAuthServer, type AuthServer } from "../../src/authserver/index.js";
import { Refusals } from "../../src/gateway/refusals.js";
import { SourceGuard, SourceLimits } from "../../src/ops/source-limits.js";
import type { Config } from "../../src/config/types.js";
import { StateStore } from "../../src/state/store.js";
import {
  FormBrowser,
  USERS,
  authorize,
  authorizeUrl,
  decodeJwt,
  pkcePair,
  registerPublicClient,
  tokenRequest,
} from "../e2e/oauth-client.js";

const CALLBACK = "http://127.0.0.1:9/callback";

describe("authorization server under an issuer path", () => {
  let server: Server;
  let state: StateStore;
  let as: AuthServer;
  let sources: SourceGuard;
  let issuer: string;
  let origin: string;

  before(async () => {
    state = StateStore.open(":memory:");
    const keys = await KeyStore.load({ file: undefined, state });
    server = createServer((req, res) => {
      as.handle(req, res).then(
        (mine) => {
          if (!mine) res.writeHead(404).end("not the authorization server's");
        },
        (err: unknown) => {
          res.writeHead(500).end(String(err));
        },
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    issuer = `${origin}/warden`;
    const config = {
      // No per-source limits here (test/integration/dos.test.ts covers them).
      gateway: { sourceLimits: {} },
      auth: {
        issuer: "embedded",
        signingKeyFile: undefined,
        anonymous: [],
        users: [
          { name: "alice", passwordHash: await hashPassword(USERS.alice.password), scopes: ["demo:use"] },
        ],
        clients: [],
        accessTokenTtlS: 600,
        refreshTokenTtlS: 3600,
        grantTtlS: 7200,
      },
    } as unknown as Config;
    const auditKey = randomBytes(32);
    const audit = new AuditLog([new SqliteSink(state.db, auditKey)], {
      key: auditKey,
      checkpointFile: join(makeTempDir("warden-as-audit-"), "checkpoints.jsonl"),
      checkpointEvery: 1000,
      checkpointIntervalMs: 60_000,
      spool: undefined,
      log: pino({ level: "silent" }),
    });
    const silent = pino({ level: "silent" });
    // Every per-source limit off, as in the config above.
    const off = {
      failedAuth: undefined,
      authorize: undefined,
      signIn: undefined,
      register: undefined,
      refusedBodies: undefined,
    };
    const refusals = new Refusals(audit, { denied: () => {} }, silent);
    sources = new SourceGuard(new SourceLimits(off, undefined, silent), refusals);
    as = await createAuthServer({
      config,
      issuer,
      keys,
      state,
      log: silent,
      resources: [{ url: `${issuer}/mcp`, scopes: ["demo:use", "demo:admin"] }],
      audit,
      sources,
    });
  });

  after(async () => {
    await as?.close();
    sources?.close();
    server?.close();
    state?.close();
  });

  test("metadata is at the path-inserted well-known URL and names endpoints under the path", async () => {
    const res = await fetch(`${origin}/.well-known/oauth-authorization-server/warden`);
    assert.equal(res.status, 200);
    const meta = (await res.json()) as Record<string, string>;
    assert.equal(meta.issuer, issuer);
    assert.equal(meta.token_endpoint, `${issuer}/oauth/token`);
    assert.equal(meta.authorization_endpoint, `${issuer}/oauth/authorize`);
    assert.equal((await fetch(`${issuer}/.well-known/openid-configuration`)).status, 200);
    // Paths that are not the issuer's are left to the gateway.
    assert.equal((await fetch(`${origin}/.well-known/oauth-authorization-server`)).status, 404);
    assert.equal((await fetch(`${origin}/oauth/token`, { method: "POST" })).status, 404);
  });

  test("a full code flow; without `scope` the resource's scopes are asked for, cut to the user's", async () => {
    const client = await registerPublicClient(issuer, CALLBACK);
    const { verifier, challenge } = pkcePair();
    const out = await authorize(
      new FormBrowser(issuer),
      authorizeUrl(issuer, {
        clientId: client.client_id,
        redirectUri: CALLBACK,
        resource: `${issuer}/mcp`,
        challenge,
        method: "S256",
      }),
      { user: "alice" },
    );
    assert.deepEqual(
      out.pages,
      ["login", "consent"],
      `${out.page?.url} ${out.page?.status} ${out.page?.html.slice(-900)}`,
    );
    assert.ok(out.code);
    const tokens = await tokenRequest(issuer, {
      grant_type: "authorization_code",
      code: out.code,
      code_verifier: verifier,
      redirect_uri: CALLBACK,
      client_id: client.client_id,
    });
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    const { payload } = decodeJwt(tokens.body.access_token as string);
    assert.equal(payload.iss, issuer);
    assert.equal(payload.aud, `${issuer}/mcp`);
    assert.equal(payload.scope, "demo:use");
  });

  test("a user who holds none of the requested scopes is granted nothing", async () => {
    const client = await registerPublicClient(issuer, CALLBACK, "Greedy");
    const out = await authorize(
      new FormBrowser(issuer),
      authorizeUrl(issuer, {
        clientId: client.client_id,
        redirectUri: CALLBACK,
        scope: "demo:admin",
        resource: `${issuer}/mcp`,
        challenge: pkcePair().challenge,
        method: "S256",
      }),
      { user: "alice" },
    );
    assert.deepEqual(out.pages, ["login", "consent"], "the consent page offers only Deny");
    assert.equal(out.error, "access_denied");
    assert.equal(out.code, undefined);
  });

  test("once closed, its paths answer 503", async () => {
    await as.close();
    const res = await fetch(`${origin}/.well-known/oauth-authorization-server/warden`);
    assert.equal(res.status, 503);
  });
});
