// The authorization server's and the API keys' Postgres state in-process (a schema of its own):
// bearer ids stored under a keyed digest and payloads sealed (rows an earlier release wrote
// rewritten once, however many instances start together; another state key refused), one-time use that stays atomic under concurrent redemptions (several
// connections, as several instances would hold), family revocation, access tokens born revoked
// once their grant is gone, sweeps that are safe when instances sweep together, the schema
// version, and API keys. Time is passed to the sweep, never waited for.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { errors } from "oidc-provider";
import pgLib from "pg";
import { PostgresApiKeys } from "../../src/auth/api-keys-postgres.js";
import { AuthError } from "../../src/auth/errors.js";
import { PostgresAccessTokenRegistry } from "../../src/authserver/access-tokens.js";
import { PostgresConsentStore } from "../../src/authserver/consents.js";
import { ABANDONED_CLIENT_MS, type GrantRevocation } from "../../src/authserver/models.js";
import { PostgresOAuthStore } from "../../src/authserver/store-postgres.js";
import { POSTGRES_MIGRATIONS } from "../../src/state/postgres-migrations.js";
import { PostgresState } from "../../src/state/postgres.js";
import { isSealed, StateKey, StateKeyError } from "../../src/state/sealed.js";

const PG = "postgres://postgres@127.0.0.1:5432/test";
// Every instance shares one state key.
const KEY = StateKey.ephemeral();
const sha256 = (value: string) => createHash("sha256").update(value).digest("base64url");

describe("authorization server state in Postgres", () => {
  const schema = `as_store_${process.pid}_${Date.now()}`;
  const url = `${PG}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  let admin: pgLib.Client;
  const opened: PostgresState[] = [];
  const open = () => {
    const state = new PostgresState(url);
    opened.push(state);
    return state;
  };

  before(async () => {
    admin = new pgLib.Client({ connectionString: PG });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
  });

  after(async () => {
    await Promise.all(opened.map((s) => s.close()));
    await admin?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await admin?.end();
  });

  let n = 0;
  /** A grant with a refresh token, a code, an access token and a remembered consent, under fresh ids. */
  async function setup(pg = open()) {
    const id = `${++n}`;
    const reused: GrantRevocation[] = [];
    const store = new PostgresOAuthStore(pg, KEY, (r) => reused.push(r));
    const registry = new PostgresAccessTokenRegistry(pg);
    const consents = new PostgresConsentStore(pg);
    const now = Math.floor(Date.now() / 1000);
    const grant = `grant-${id}`;
    const client = `client-${id}`;
    await store.upsert("Grant", grant, { accountId: "alice", clientId: client, exp: now + 100 }, 100);
    await store.upsert(
      "RefreshToken",
      `refresh-secret-${id}`,
      { jti: `refresh-secret-${id}`, grantId: grant, clientId: client, accountId: "alice" },
      1000,
    );
    await store.upsert(
      "AuthorizationCode",
      `code-secret-${id}`,
      { jti: `code-secret-${id}`, grantId: grant, clientId: client },
      60,
    );
    await registry.record({
      jti: `at-${id}`,
      grantId: grant,
      clientId: client,
      accountId: "alice",
      expiresAt: Date.now() + 60_000,
    });
    await consents.remember("alice", client, grant);
    return { id, pg, store, registry, consents, reused, grant, client };
  }

  test("the schema is created once under a lock, and its version recorded", async () => {
    await Promise.all([open().ready(), open().ready(), open().ready()]);
    const r = await admin.query<{ component: string; version: number }>(
      `SELECT component, version FROM ${schema}.warden_schema_versions`,
    );
    assert.deepEqual(r.rows, [{ component: "state", version: POSTGRES_MIGRATIONS.length }]);
    const tables = await admin.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name",
      [schema],
    );
    for (const t of tables.rows) assert.match(t.table_name, /^warden_/);
  });

  test("codes and refresh tokens are stored under a hash, and found by their value", async () => {
    const { store, id } = await setup();
    const rows = await admin.query<{ key: string; payload: string }>(
      `SELECT key, payload FROM ${schema}.warden_oauth_models WHERE model = 'RefreshToken' AND grant_id = $1`,
      [`grant-${id}`],
    );
    assert.equal(rows.rows.length, 1);
    assert.notEqual(rows.rows[0]?.key, `refresh-secret-${id}`);
    assert.ok(!rows.rows[0]?.payload.includes(`refresh-secret-${id}`), "the token value is not stored");
    const found = await store.find("RefreshToken", `refresh-secret-${id}`);
    assert.equal(found?.jti, `refresh-secret-${id}`);
    assert.equal(found?.grantId, `grant-${id}`);
    assert.equal(await store.find("RefreshToken", "another-value"), undefined);
  });

  /** Every value of every column of every table of the schema, as text. */
  async function everyStoredValue(): Promise<string[]> {
    const tables = await admin.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
      [schema],
    );
    const values: string[] = [];
    for (const t of tables.rows) {
      const r = await admin.query(`SELECT * FROM ${schema}."${t.table_name}"`);
      for (const row of r.rows) for (const v of Object.values(row)) if (v !== null) values.push(String(v));
    }
    return values;
  }

  test("bearer ids are stored under a keyed digest, every payload is sealed; no column holds a secret", async () => {
    const { store, id } = await setup();
    await store.upsert(
      "Session",
      `cookie-${id}-value`,
      { jti: `cookie-${id}-value`, uid: `uid-${id}`, accountId: "alice" },
      100,
    );
    await store.upsert("Interaction", `interaction-${id}-uid`, { jti: `interaction-${id}-uid` }, 100);
    await store.upsert(
      "Client",
      `client-secretive-${id}`,
      { client_id: `client-secretive-${id}`, client_secret: `client-secret-${id}-value` },
      undefined,
    );
    const secrets = [
      `cookie-${id}-value`,
      `interaction-${id}-uid`,
      `refresh-secret-${id}`,
      `code-secret-${id}`,
      `client-secret-${id}-value`,
    ];
    const values = await everyStoredValue();
    for (const secret of secrets) {
      assert.ok(!values.some((v) => v.includes(secret)), `${secret} is stored`);
      assert.ok(!values.includes(sha256(secret)), `${secret} is stored under its bare SHA-256`);
    }
    const payloads = await admin.query<{ payload: string }>(
      `SELECT payload FROM ${schema}.warden_oauth_models`,
    );
    assert.ok(payloads.rows.every((r) => isSealed(r.payload)));
    assert.equal((await store.findByUid(`uid-${id}`))?.jti, `cookie-${id}-value`);
    assert.equal((await store.find("Interaction", `interaction-${id}-uid`))?.jti, `interaction-${id}-uid`);
    const client = await store.find("Client", `client-secretive-${id}`);
    assert.equal(client?.client_secret, `client-secret-${id}-value`);
    // The registration tests below count the clients.
    await store.destroy("Client", `client-secretive-${id}`);
  });

  test("rows an earlier release wrote are rewritten once, however many instances start together", async () => {
    const now = Date.now();
    const insert = (model: string, key: string, payload: object, grant: string | null, uid: string | null) =>
      admin.query(
        `INSERT INTO ${schema}.warden_oauth_models
           (model, key, payload, grant_id, session_uid, client_id, account_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, 'c-earlier', 'alice', $6, $7)`,
        [model, key, JSON.stringify(payload), grant, uid, now, now + 60_000],
      );
    await insert(
      "Grant",
      "grant-earlier",
      { jti: "grant-earlier", accountId: "alice" },
      "grant-earlier",
      null,
    );
    await insert(
      "RefreshToken",
      sha256("refresh-earlier"),
      { grantId: "grant-earlier" },
      "grant-earlier",
      null,
    );
    await insert(
      "Session",
      "cookie-earlier",
      { jti: "cookie-earlier", uid: "uid-earlier" },
      null,
      "uid-earlier",
    );
    await insert(
      "Client",
      "c-earlier",
      { client_id: "c-earlier", client_secret: "secret-earlier" },
      null,
      null,
    );
    const stores = [open(), open(), open()].map((pg) => new PostgresOAuthStore(pg, KEY, () => undefined));
    const found = await Promise.all(stores.map((s) => s.find("RefreshToken", "refresh-earlier")));
    for (const f of found) assert.equal(f?.grantId, "grant-earlier");
    const rows = await admin.query<{ model: string; key: string; payload: string }>(
      `SELECT model, key, payload FROM ${schema}.warden_oauth_models
       WHERE grant_id = 'grant-earlier' OR account_id = 'alice' AND client_id = 'c-earlier'`,
    );
    assert.equal(rows.rowCount, 4);
    for (const r of rows.rows) {
      assert.ok(isSealed(r.payload), `${r.model} sealed`);
      assert.ok(!["cookie-earlier", sha256("refresh-earlier")].includes(r.key));
    }
    const values = await everyStoredValue();
    assert.ok(!values.some((v) => v.includes("secret-earlier") || v.includes("cookie-earlier")));
    assert.equal((await stores[1]!.find("Session", "cookie-earlier"))?.uid, "uid-earlier");
    assert.equal((await stores[2]!.findByUid("uid-earlier"))?.jti, "cookie-earlier");
    assert.equal((await stores[0]!.find("Client", "c-earlier"))?.client_secret, "secret-earlier");
    await stores[0]!.destroy("Client", "c-earlier");
  });

  test("an instance with another state key refuses everything, naming the row, and rewrites nothing", async () => {
    await setup();
    const before = await admin.query(
      `SELECT key, payload FROM ${schema}.warden_oauth_models ORDER BY model, key`,
    );
    const stranger = new PostgresOAuthStore(open(), StateKey.ephemeral(), () => undefined);
    for (let i = 0; i < 2; i++) {
      await assert.rejects(
        stranger.find("RefreshToken", "anything"),
        (err: unknown) =>
          err instanceof StateKeyError &&
          /oauth_models:\w+:\S+: sealed with another state key/.test(err.message),
      );
    }
    await assert.rejects(stranger.listGrants(), StateKeyError);
    const after = await admin.query(
      `SELECT key, payload FROM ${schema}.warden_oauth_models ORDER BY model, key`,
    );
    assert.deepEqual(after.rows, before.rows);
  });

  test("of concurrent redemptions from several connections one wins; the rest revoke the family", async () => {
    for (let round = 0; round < 5; round++) {
      const { id, grant, client, registry, consents } = await setup();
      // One store per "instance", each with its own pool.
      const instances = [open(), open(), open(), open()].map((pg) => {
        const reused: GrantRevocation[] = [];
        return { reused, store: new PostgresOAuthStore(pg, KEY, (r) => reused.push(r)) };
      });
      const results = await Promise.allSettled(
        instances.map((i) => i.store.consume("RefreshToken", `refresh-secret-${id}`)),
      );
      assert.equal(results.filter((r) => r.status === "fulfilled").length, 1, `round ${round}: one winner`);
      for (const r of results) {
        if (r.status === "rejected") assert.ok(r.reason instanceof errors.InvalidGrant);
      }
      const revocations = instances.flatMap((i) => i.reused);
      assert.ok(revocations.length >= 1, "a loser revoked the grant");
      assert.equal(revocations[0]?.grantId, grant);
      assert.equal(revocations[0]?.reason, "refresh token reused");
      const { store } = instances[0]!;
      assert.equal(await store.find("Grant", grant), undefined);
      assert.equal(await store.find("AuthorizationCode", `code-secret-${id}`), undefined);
      assert.equal(await registry.isRevoked(`at-${id}`), true, "the grant's access tokens are revoked");
      assert.equal(await consents.grantFor("alice", client), undefined, "the remembered consent goes");
    }
  });

  test("an access token recorded for a grant that is gone, or going, is born revoked", async () => {
    const { store, registry, grant, client, id } = await setup();
    // Recorded while the family is being revoked on other connections: never left unrevoked.
    const recording = Array.from({ length: 10 }, (_, i) =>
      new PostgresAccessTokenRegistry(open()).record({
        jti: `race-${id}-${i}`,
        grantId: grant,
        clientId: client,
        accountId: "alice",
        expiresAt: Date.now() + 60_000,
      }),
    );
    await Promise.all([...recording, store.revokeGrant(grant, "test")]);
    for (let i = 0; i < 10; i++) assert.equal(await registry.isRevoked(`race-${id}-${i}`), true, `race ${i}`);
    // The window itself, held open: a revocation that has deleted the family but not committed.
    const other = await setup();
    const tx = new pgLib.Client({ connectionString: url });
    await tx.connect();
    try {
      await tx.query("BEGIN");
      await tx.query("SELECT 1 FROM warden_oauth_models WHERE model = 'Grant' AND key = $1 FOR UPDATE", [
        other.grant,
      ]);
      await tx.query("DELETE FROM warden_oauth_models WHERE grant_id = $1", [other.grant]);
      await tx.query("UPDATE warden_oauth_access_tokens SET revoked_at = $1 WHERE grant_id = $2", [
        Date.now(),
        other.grant,
      ]);
      let done = false;
      const recorded = other.registry
        .record({
          jti: `window-${id}`,
          grantId: other.grant,
          clientId: other.client,
          accountId: "alice",
          expiresAt: Date.now() + 60_000,
        })
        .then(() => (done = true));
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(done, false, "the record waits for the revocation in progress");
      await tx.query("COMMIT");
      await recorded;
      assert.equal(await registry.isRevoked(`window-${id}`), true, "and is then born revoked");
    } finally {
      await tx.end();
    }
    await registry.record({
      jti: `late-${id}`,
      grantId: grant,
      clientId: client,
      accountId: "alice",
      expiresAt: Date.now() + 60_000,
    });
    assert.equal(await registry.isRevoked(`late-${id}`), true);
  });

  test("expired grants are swept once, however many instances sweep at the same time", async () => {
    const { grant, registry, id } = await setup();
    const sweepers = [open(), open(), open()].map((pg) => new PostgresOAuthStore(pg, KEY, () => undefined));
    const later = Date.now() + 200_000;
    const results = await Promise.all(sweepers.map((s) => s.sweep(later)));
    const expired = results.flatMap((r) => r.expiredGrants.map((g) => g.grantId));
    assert.ok(expired.includes(grant));
    assert.equal(new Set(expired).size, expired.length, "no grant reported twice");
    const left = await admin.query(`SELECT 1 FROM ${schema}.warden_oauth_models WHERE grant_id = $1`, [
      grant,
    ]);
    assert.equal(left.rowCount, 0);
    assert.equal(await registry.isRevoked(`at-${id}`), true);
    const again = await sweepers[0]!.sweep(later);
    assert.equal(again.expiredGrants.length, 0);
  });

  test("a registration that never obtained a grant is removed after a day", async () => {
    const { store } = await setup();
    const tenDays = 10 * 24 * 3600;
    await store.upsert("Grant", "grant-kept", { accountId: "bob", clientId: "kept" }, tenDays);
    await store.upsert(
      "Client",
      "abandoned",
      { client_id: "abandoned", redirect_uris: ["https://a.example/cb"] },
      undefined,
    );
    await store.upsert(
      "Client",
      "kept",
      { client_id: "kept", redirect_uris: ["https://b.example/cb"] },
      undefined,
    );
    assert.equal(await store.dynamicClientCount(), 2);
    assert.equal((await store.sweep()).abandonedClients, 0, "a fresh registration is kept");
    assert.equal((await store.sweep(Date.now() + ABANDONED_CLIENT_MS + 1000)).abandonedClients, 1);
    assert.equal((await store.find("Client", "kept"))?.client_id, "kept");
    assert.equal(await store.find("Client", "abandoned"), undefined);
  });

  test("revoking one JWT access token is seen through every connection", async () => {
    const { registry, id } = await setup();
    const elsewhere = new PostgresAccessTokenRegistry(open());
    assert.equal(await elsewhere.isRevoked("never-seen"), false);
    await registry.revokeOne(`foreign-${id}`, "client-x", Date.now() + 60_000);
    assert.equal(await elsewhere.isRevoked(`foreign-${id}`), true);
    assert.equal(await elsewhere.isRevoked(`at-${id}`), false);
    await registry.revokeOne(`at-${id}`, "client-x", Date.now() + 60_000);
    assert.equal(await elsewhere.isRevoked(`at-${id}`), true);
  });

  test("API keys: stored hashed, verified and revoked across connections", async () => {
    const here = new PostgresApiKeys(open());
    const there = new PostgresApiKeys(open());
    const { key, info } = await here.create("bot", ["a", "b"], undefined);
    const row = await admin.query<{ hash: string }>(
      `SELECT hash FROM ${schema}.warden_api_keys WHERE id = $1`,
      [info.id],
    );
    assert.ok(!row.rows[0]?.hash.includes(key) && row.rows[0]?.hash.length === 64);
    const p = await there.verify(key);
    assert.equal(p.subject, "apikey:bot");
    assert.deepEqual([...p.scopes], ["a", "b"]);
    for (const bad of [
      key.slice(0, -1) + (key.endsWith("A") ? "B" : "A"),
      "mwk_",
      "mwk_x_y",
      `mwk_${info.id}_`,
    ]) {
      await assert.rejects(
        Promise.resolve().then(() => there.verify(bad)),
        (e: unknown) => e instanceof AuthError && e.error === "invalid_token",
        bad,
      );
    }
    assert.ok((await there.list()).some((k) => k.id === info.id && k.revokedAt === null));
    assert.equal(await here.revoke(info.id), true);
    assert.equal(await here.revoke(info.id), false, "already revoked");
    await assert.rejects(
      Promise.resolve().then(() => there.verify(key)),
      /revoked/,
    );
    const expiring = await here.create("short", [], 1);
    await new Promise((r) => setTimeout(r, 5));
    await assert.rejects(
      Promise.resolve().then(() => there.verify(expiring.key)),
      /expired/,
    );
  });

  test("a store whose Postgres is unreachable rejects; it does not answer", async () => {
    const down = new PostgresState("postgres://postgres@127.0.0.1:9/test");
    opened.push(down);
    await assert.rejects(new PostgresAccessTokenRegistry(down).isRevoked("x"));
    await assert.rejects(
      Promise.resolve().then(() => new PostgresApiKeys(down).verify(`mwk_${"0".repeat(18)}_x`)),
    );
  });
});
