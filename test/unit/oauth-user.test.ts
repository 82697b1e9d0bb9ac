// Per-user upstream OAuth in-process: its config rules, the vault's sealing, and the connection
// store's contract on both databases (the embedded SQLite and a real Postgres): conditional
// writes, the refresh lease, single-use flows.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import pgLib from "pg";
import { parseConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/config/errors.js";
import { PostgresState } from "../../src/state/postgres.js";
import { StateKey } from "../../src/state/sealed.js";
import { StateStore } from "../../src/state/store.js";
import {
  SqliteConnectionStore,
  type ConnectionRow,
  type ConnectionStore,
} from "../../src/upstreams/oauth-user/store.js";
import { PostgresConnectionStore } from "../../src/upstreams/oauth-user/store-postgres.js";
import { fromResponse, openTokens, sealTokens } from "../../src/upstreams/oauth-user/vault.js";
import { AuthFetchRefused, authFetch } from "../../src/upstreams/oauth-user/auth-fetch.js";

function problems(text: string): string[] {
  try {
    parseConfig(text, "t.yaml", {});
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return [...err.problems];
  }
  assert.fail("expected a config error");
}

const remote = (auth: string, extra = "") =>
  `servers:\n  - name: gh\n    url: https://mcp.example/mcp\n    auth: ${auth}\n${extra}`;

describe("oauth_user config", () => {
  test("defaults to per_user isolation; shared and per_session are kept", () => {
    const c = parseConfig(remote("{ type: oauth_user }"), "t.yaml", {});
    assert.equal(c.servers[0]?.isolation, "per_user");
    const shared = parseConfig(remote("{ type: oauth_user }", "    isolation: shared\n"), "t.yaml", {});
    assert.equal(shared.servers[0]?.isolation, "shared");
  });

  test("an external issuer needs a client for the connect pages' sign-in", () => {
    const text = `auth:\n  issuer: { url: https://idp.example }\n${remote("{ type: oauth_user }")}`;
    assert.match(
      problems(text).join("\n"),
      /auth\.issuer\.connect_client: needed by servers with auth oauth_user \(gh\)/,
    );
    const ok = `auth:\n  issuer: { url: https://idp.example, connect_client: { client_id: warden } }\n${remote("{ type: oauth_user }")}`;
    assert.equal(parseConfig(ok, "t.yaml", {}).servers.length, 1);
  });

  test("a stdio server is told it cannot take auth; overrides are checked", () => {
    assert.match(
      problems("servers:\n  - name: s\n    command: node\n    auth: { type: oauth_user }\n").join("\n"),
      /servers\[0\]\.auth: a stdio server takes no auth/,
    );
    assert.match(
      problems(remote("{ type: oauth_user, token_endpoint: https://as.example/token }")).join("\n"),
      /go together/,
    );
    assert.match(
      problems(remote("{ type: oauth_user, client_secret: x }")).join("\n"),
      /client_secret: needs client_id/,
    );
    assert.match(
      problems(remote("{ type: oauth_user, authorize_params: { state: x, redirect_uri: y } }")).join("\n"),
      /authorize_params\.state: a parameter the gateway sets itself/,
    );
    assert.match(
      problems(
        remote(
          "{ type: oauth_user, authorization_endpoint: http://as.example/a, token_endpoint: https://as.example/t }",
        ),
      ).join("\n"),
      /authorization_endpoint: needs https/,
    );
    assert.match(problems(remote('{ type: oauth_user, scopes: ["a b"] }')).join("\n"), /an OAuth scope/);
  });

  test("gateway.client_metadata_url: an https URL with a path, as the CIMD draft has a client id be", () => {
    const at = (url: string) =>
      `gateway: { client_metadata_url: "${url}" }\n${remote("{ type: oauth_user }")}`;
    const c = parseConfig(at("https://warden.example/oauth/client.json"), "t.yaml", {});
    assert.equal(c.gateway.clientMetadataUrl, "https://warden.example/oauth/client.json");
    assert.equal(
      parseConfig(remote("{ type: oauth_user }"), "t.yaml", {}).gateway.clientMetadataUrl,
      undefined,
    );
    for (const [url, why] of [
      ["http://warden.example/client.json", /client_metadata_url/],
      ["https://warden.example", /needs a path/],
      ["https://warden.example/", /needs a path/],
      ["https://warden.example/client.json#x", /no fragment/],
      ["https://me:pw@warden.example/client.json", /no user name or password/],
      ["https://warden.example/a/../client.json", /no \. or \.\. path segments/],
      ["https://warden.example/a/%2E/client.json", /no \. or \.\. path segments/],
    ] as const)
      assert.match(problems(at(url)).join("\n"), why, url);
  });
});

describe("what the OAuth steps may fetch", () => {
  test("never a metadata service (by address or name), plain http elsewhere than loopback, or credentials in the URL", async () => {
    for (const url of [
      "https://169.254.169.254/latest/meta-data/",
      "https://[fd00:ec2::254]/latest",
      "https://metadata.google.internal/computeMetadata/v1/",
      "http://as.example.com/.well-known/oauth-authorization-server",
      "https://user:pw@as.example.com/token",
    ])
      await assert.rejects(authFetch(url), AuthFetchRefused, url);
    // Loopback over http passes the checks: what fails then is the connection itself.
    await assert.rejects(
      authFetch("http://127.0.0.1:9/token"),
      (err: unknown) => !(err instanceof AuthFetchRefused),
    );
  });
});

describe("the vault's sealing", () => {
  const key = StateKey.ephemeral();
  const row = (subject: string, server: string, tokens: string): ConnectionRow => ({
    id: "x",
    subject,
    server,
    status: "connected",
    issuer: "https://as",
    clientId: "c",
    scopes: "",
    requestedScopes: "",
    stepUpScopes: "",
    tokens,
    expiresAt: null,
    version: 1,
    createdAt: 0,
    updatedAt: 0,
    lastUsedAt: null,
  });

  test("tokens open only for the user and server they were sealed for", () => {
    const sealed = sealTokens(key, "gh", "alice", { access_token: "at-1", token_type: "Bearer" });
    assert.equal(openTokens(key, row("alice", "gh", sealed)).access_token, "at-1");
    assert.throws(() => openTokens(key, row("mallory", "gh", sealed)), /fails authentication/);
    assert.throws(() => openTokens(key, row("alice", "lin", sealed)), /fails authentication/);
    // Names that would collide if joined by a separator do not.
    const odd = sealTokens(key, "a", "b:c", { access_token: "t", token_type: "Bearer" });
    assert.throws(() => openTokens(key, row("b", "a:c", odd)));
    assert.ok(!sealed.includes("at-1"));
  });

  test("a token response's lifetime is believed only when plausible; a missing refresh token keeps the old one", () => {
    const now = Date.now();
    assert.equal(
      fromResponse({ access_token: "a", token_type: "Bearer", expires_in: 0 }).expires_at,
      undefined,
    );
    assert.equal(
      fromResponse({ access_token: "a", token_type: "Bearer", expires_in: 2 ** 53 + 1 }).expires_at,
      undefined,
    );
    assert.equal(
      fromResponse({ access_token: "a", token_type: "Bearer", expires_in: -5 }).expires_at,
      undefined,
    );
    const t = fromResponse({ access_token: "a", token_type: "Bearer", expires_in: 60 });
    assert.ok((t.expires_at as number) >= now + 59_000);
    const kept = fromResponse(
      { access_token: "b", token_type: "Bearer" },
      { access_token: "a", token_type: "Bearer", refresh_token: "r1" },
    );
    assert.equal(kept.refresh_token, "r1");
  });
});

/** The store contract, run against each database. */
function contract(name: string, open: () => Promise<ConnectionStore>) {
  describe(`connection store: ${name}`, () => {
    let store: ConnectionStore;
    before(async () => {
      store = await open();
    });
    const base = (id: string, subject: string): ConnectionRow => ({
      id,
      subject,
      server: "gh",
      status: "connected",
      issuer: "https://as",
      clientId: "c",
      scopes: "repo",
      requestedScopes: "repo offline_access",
      stepUpScopes: "",
      tokens: "sealed:v1:x:y",
      expiresAt: 1000,
      version: 1,
      createdAt: 1,
      updatedAt: 1,
      lastUsedAt: null,
    });

    test("replace keeps one row per user and server; list filters; remove", async () => {
      await store.replace(base("r1", "alice"));
      await store.replace(base("r2", "alice"));
      await store.replace(base("r3", "bob"));
      assert.equal((await store.get("alice", "gh"))?.id, "r2");
      assert.deepEqual(
        (await store.list({ subject: "alice" })).map((r) => r.id),
        ["r2"],
      );
      assert.equal((await store.list({ server: "gh" })).length, 2);
      assert.equal(await store.remove("r3"), true);
      assert.equal(await store.remove("r3"), false);
    });

    test("an update writes only over the version it read; the lease is exclusive until it runs out", async () => {
      const change = {
        tokens: "sealed:v1:x:z",
        expiresAt: 2000,
        scopes: "repo",
        status: "connected" as const,
      };
      assert.equal(await store.update("r2", 1, change), true);
      assert.equal(await store.update("r2", 1, change), false, "a second writer over the same version");
      assert.equal((await store.get("alice", "gh"))?.version, 2);
      const now = Date.now();
      assert.equal(await store.lease("r2", now, now + 10_000), true);
      assert.equal(await store.lease("r2", now, now + 10_000), false, "a second holder");
      assert.equal(await store.lease("r2", now + 20_000, now + 30_000), true, "an expired lease is taken");
      await store.release("r2");
      assert.equal(await store.lease("r2", now, now + 10_000), true);
      await store.markBroken("r2");
      assert.equal((await store.get("alice", "gh"))?.status, "broken");
    });

    test("step-up scopes are set over what was read, and kept through a token refresh", async () => {
      await store.replace(base("r4", "carol"));
      const row = await store.get("carol", "gh");
      assert.equal(row?.requestedScopes, "repo offline_access");
      assert.equal(row?.stepUpScopes, "");
      assert.equal(await store.stepUp("r4", "", "repo:write"), true);
      assert.equal(await store.stepUp("r4", "", "admin"), false, "a second writer over the same value");
      assert.equal(await store.stepUp("r4", "repo:write", "repo:write admin"), true);
      const refreshed = {
        tokens: "sealed:v1:x:w",
        expiresAt: 3000,
        scopes: "repo",
        status: "connected" as const,
      };
      assert.equal(await store.update("r4", 1, refreshed), true);
      const after = await store.get("carol", "gh");
      assert.equal(after?.stepUpScopes, "repo:write admin");
      assert.equal(after?.version, 2, "a step-up is not a token write");
      // A new connect replaces the row: nothing pending.
      await store.replace(base("r5", "carol"));
      assert.equal((await store.get("carol", "gh"))?.stepUpScopes, "");
    });

    test("a flow is taken once; expired flows are swept", async () => {
      await store.saveFlow({
        stateDigest: "d1",
        subject: "alice",
        server: "gh",
        data: "x",
        expiresAt: Date.now() + 60_000,
      });
      await store.saveFlow({ stateDigest: "d2", subject: "alice", server: "gh", data: "x", expiresAt: 1 });
      const [a, b] = await Promise.all([store.takeFlow("d1"), store.takeFlow("d1")]);
      assert.equal([a, b].filter(Boolean).length, 1, "two callbacks with one state both got the flow");
      await store.sweepFlows(Date.now());
      assert.equal(await store.takeFlow("d2"), undefined);
      await store.saveClient("https://as", "one");
      await store.saveClient("https://as", "two");
      assert.equal(await store.client("https://as"), "two");
    });

    test("a configured client belongs to the first issuer recorded for it, whoever asks next", async () => {
      const [a, b] = await Promise.all([
        store.clientIssuer("gh", "warden", "https://as1"),
        store.clientIssuer("gh", "warden", "https://as2"),
      ]);
      assert.equal(a, b, "two instances recorded different issuers for one client");
      const first = a;
      assert.equal(await store.clientIssuer("gh", "warden", "https://as3"), first);
      // Per server and per client id: another server, or a new client id, is recorded afresh.
      assert.equal(await store.clientIssuer("lin", "warden", "https://as2"), "https://as2");
      assert.equal(await store.clientIssuer("gh", "warden-2", "https://as2"), "https://as2");
    });
  });
}

contract("SQLite", async () => new SqliteConnectionStore(StateStore.open(":memory:").db));

const PG = "postgres://postgres@127.0.0.1:5432/test";
const schema = `oauth_user_${process.pid}_${Date.now()}`;
let admin: pgLib.Client | undefined;
let pg: PostgresState | undefined;
contract("Postgres", async () => {
  admin = new pgLib.Client({ connectionString: PG });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  pg = new PostgresState(`${PG}?options=${encodeURIComponent(`-c search_path=${schema}`)}`);
  return new PostgresConnectionStore(pg);
});
after(async () => {
  await pg?.close();
  await admin?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
  await admin?.end();
});
