// The authorization server's SQLite state (migration 2) in-process: bearer ids stored under a
// keyed digest and payloads sealed (and rows an earlier release wrote rewritten; another key's
// or a moved payload refused), atomic one-time use with family revocation, grant expiry taking
// its tokens along, and the sweep of abandoned registrations. Time is passed to the sweep, never
// waited for. The same through the real gateway: authserver-at-rest.test.ts.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import fc from "fast-check";
import { errors } from "oidc-provider";
import { AccessTokenRegistry, createRevocationCheck } from "../../src/authserver/access-tokens.js";
import { ConsentStore } from "../../src/authserver/consents.js";
import { ABANDONED_CLIENT_MS, OAuthStore, type GrantRevocation } from "../../src/authserver/store.js";
import { StoreUnavailable } from "../../src/authserver/outage.js";
import { isSealed, StateKey, StateKeyError } from "../../src/state/sealed.js";
import { StateStore } from "../../src/state/store.js";

const sha256 = (value: string) => createHash("sha256").update(value).digest("base64url");

interface ModelRow {
  model: string;
  key: string;
  payload: string;
  user_code: string | null;
}

function setup() {
  const state = StateStore.open(":memory:");
  const reused: GrantRevocation[] = [];
  const store = new OAuthStore(state.db, state.stateKey, (r) => reused.push(r));
  const registry = new AccessTokenRegistry(state.db);
  const consents = new ConsentStore(state.db);
  const now = Math.floor(Date.now() / 1000);
  store.upsert("Grant", "grant-1", { accountId: "alice", clientId: "client-1", exp: now + 100 }, 100);
  store.upsert(
    "RefreshToken",
    "refresh-secret-value",
    { jti: "refresh-secret-value", grantId: "grant-1", clientId: "client-1", accountId: "alice" },
    1000,
  );
  store.upsert(
    "AuthorizationCode",
    "code-secret-value",
    { jti: "code-secret-value", grantId: "grant-1", clientId: "client-1" },
    60,
  );
  registry.record({
    jti: "at-1",
    grantId: "grant-1",
    clientId: "client-1",
    accountId: "alice",
    expiresAt: Date.now() + 60_000,
  });
  consents.remember("alice", "client-1", "grant-1");
  return { state, store, registry, consents, reused, isRevoked: createRevocationCheck(state) };
}

function count(state: StateStore, sql: string, ...args: unknown[]): number {
  return (state.db.prepare(sql).get(...args) as { n: number }).n;
}

describe("authorization server state store", () => {
  test("codes and refresh tokens are stored under a hash, and found by their value", () => {
    const { state, store } = setup();
    const rows = state.db
      .prepare("SELECT key, payload FROM oauth_models WHERE model = 'RefreshToken'")
      .all() as {
      key: string;
      payload: string;
    }[];
    assert.equal(rows.length, 1);
    assert.notEqual(rows[0]?.key, "refresh-secret-value");
    assert.ok(!rows[0]?.payload.includes("refresh-secret-value"), "the token value is not in the payload");
    const found = store.find("RefreshToken", "refresh-secret-value");
    assert.equal(found?.jti, "refresh-secret-value");
    assert.equal(found?.grantId, "grant-1");
    assert.equal(store.find("RefreshToken", "another-value"), undefined);
    state.close();
  });

  test("bearer ids are stored under a keyed digest, not the id or its bare SHA-256; every payload is sealed", () => {
    const { state, store } = setup();
    store.upsert(
      "Session",
      "session-cookie-value",
      { jti: "session-cookie-value", uid: "session-uid-1", accountId: "alice" },
      100,
    );
    store.upsert(
      "Interaction",
      "interaction-uid-1",
      { jti: "interaction-uid-1", params: { state: "s" } },
      100,
    );
    store.upsert(
      "Client",
      "client-9",
      {
        client_id: "client-9",
        client_secret: "client-secret-value-9",
        redirect_uris: ["https://c.example/cb"],
      },
      undefined,
    );
    const rows = state.db
      .prepare("SELECT model, key, payload, user_code FROM oauth_models")
      .all() as ModelRow[];
    for (const row of rows) {
      assert.ok(isSealed(row.payload), `${row.model} payload sealed`);
      for (const secret of [
        "session-cookie-value",
        "interaction-uid-1",
        "refresh-secret-value",
        "code-secret-value",
      ]) {
        assert.ok(!row.key.includes(secret) && row.key !== sha256(secret), `${row.model} key`);
      }
      assert.ok(!row.payload.includes("client-secret-value-9"));
    }
    assert.deepEqual(
      rows.filter((r) => r.model === "Client").map((r) => r.key),
      ["client-9"],
      "client_id is a name",
    );
    assert.equal(store.find("Session", "session-cookie-value")?.accountId, "alice");
    // Found by its uid, a session is the same session: its id comes back with it.
    assert.equal(store.findByUid("session-uid-1")?.jti, "session-cookie-value");
    assert.equal(store.find("Session", "session-uid-1"), undefined);
    assert.equal(store.find("Interaction", "interaction-uid-1")?.jti, "interaction-uid-1");
    assert.equal(store.find("Client", "client-9")?.client_secret, "client-secret-value-9");
    assert.equal(store.find("Client", "client-9")?.jti, undefined);
    state.close();
  });

  test("any bearer id round-trips, and no column holds it (property)", () => {
    const { state, store } = setup();
    const models = [
      "Session",
      "Interaction",
      "AuthorizationCode",
      "RefreshToken",
      "DeviceCode",
      "ReplayDetection",
    ];
    fc.assert(
      fc.property(fc.constantFrom(...models), fc.string({ minLength: 12, maxLength: 80 }), (model, id) => {
        store.upsert(model, id, { jti: id, uid: `uid-of-${model}`, grantId: "grant-1", userCode: id }, 100);
        assert.equal(store.find(model, id)?.jti, id);
        assert.equal(store.find(model, `${id}x`), undefined);
        const rows = state.db.prepare("SELECT * FROM oauth_models").all() as Record<string, unknown>[];
        for (const row of rows) for (const v of Object.values(row)) assert.ok(!String(v).includes(id), model);
        store.destroy(model, id);
        assert.equal(store.find(model, id), undefined);
      }),
      { numRuns: 200 },
    );
    state.close();
  });

  test("a store opened with another state key stops, naming the row, and writes nothing", () => {
    const { state } = setup();
    const before = state.db.prepare("SELECT key, payload FROM oauth_models ORDER BY key").all();
    assert.throws(
      () => new OAuthStore(state.db, StateKey.ephemeral(), () => undefined),
      (err: unknown) =>
        err instanceof StateKeyError &&
        /oauth_models:\w+:\S+: sealed with another state key/.test(err.message),
    );
    assert.deepEqual(state.db.prepare("SELECT key, payload FROM oauth_models ORDER BY key").all(), before);
    state.close();
  });

  test("a payload moved to another row does not open: refused, as an outage", async () => {
    const { state, store } = setup();
    store.upsert(
      "RefreshToken",
      "other-refresh-value",
      { jti: "x", grantId: "grant-1", clientId: "client-1" },
      1000,
    );
    const [a, b] = state.db
      .prepare("SELECT key, payload FROM oauth_models WHERE model = 'RefreshToken'")
      .all() as { key: string; payload: string }[];
    const swap = state.db.prepare(
      "UPDATE oauth_models SET payload = ? WHERE model = 'RefreshToken' AND key = ?",
    );
    swap.run(b!.payload, a!.key);
    swap.run(a!.payload, b!.key);
    assert.throws(() => store.find("RefreshToken", "refresh-secret-value"), StateKeyError);
    await assert.rejects(
      store.adapterFactory()("RefreshToken").find("other-refresh-value"),
      StoreUnavailable,
    );
    state.close();
  });

  test("rows an earlier release wrote are rewritten when the store opens, and found by their ids", () => {
    const state = StateStore.open(":memory:");
    const now = Date.now();
    const insert = state.db.prepare(
      `INSERT INTO oauth_models (model, key, payload, grant_id, session_uid, user_code, client_id, account_id, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    // As the earlier release stored them: codes and tokens under their bare SHA-256 without jti,
    // sessions and interactions under their id, every payload in plaintext.
    insert.run(
      "Grant",
      "grant-e",
      JSON.stringify({ jti: "grant-e", accountId: "alice", clientId: "c-e" }),
      "grant-e",
      null,
      null,
      null,
      "alice",
      now,
      now + 60_000,
    );
    insert.run(
      "RefreshToken",
      sha256("refresh-e"),
      JSON.stringify({ grantId: "grant-e", clientId: "c-e" }),
      "grant-e",
      null,
      null,
      "c-e",
      "alice",
      now,
      now + 60_000,
    );
    insert.run(
      "Session",
      "cookie-e",
      JSON.stringify({ jti: "cookie-e", uid: "uid-e", accountId: "alice" }),
      null,
      "uid-e",
      null,
      null,
      "alice",
      now,
      now + 60_000,
    );
    insert.run(
      "Interaction",
      "interaction-e",
      JSON.stringify({ jti: "interaction-e", returnTo: "/x" }),
      null,
      null,
      null,
      null,
      null,
      now,
      now + 60_000,
    );
    insert.run(
      "DeviceCode",
      sha256("device-e"),
      JSON.stringify({ userCode: "ABCD-EFGH" }),
      null,
      null,
      sha256("ABCD-EFGH"),
      null,
      null,
      now,
      now + 60_000,
    );
    insert.run(
      "Client",
      "c-e",
      JSON.stringify({ client_id: "c-e", client_secret: "secret-of-c-e" }),
      null,
      null,
      null,
      "c-e",
      null,
      now,
      null,
    );

    const store = new OAuthStore(state.db, state.stateKey, () => undefined);
    const rows = state.db
      .prepare("SELECT model, key, payload, user_code FROM oauth_models")
      .all() as ModelRow[];
    assert.equal(rows.length, 6);
    for (const row of rows) {
      assert.ok(isSealed(row.payload), `${row.model} sealed`);
      for (const old of ["cookie-e", "interaction-e", sha256("refresh-e"), sha256("device-e")])
        assert.notEqual(row.key, old);
      assert.ok(!row.payload.includes("secret-of-c-e"));
    }
    assert.notEqual(rows.find((r) => r.model === "DeviceCode")?.user_code, sha256("ABCD-EFGH"));
    assert.equal(store.find("RefreshToken", "refresh-e")?.grantId, "grant-e");
    assert.equal(store.find("RefreshToken", "refresh-e")?.jti, "refresh-e");
    assert.equal(store.find("Session", "cookie-e")?.accountId, "alice");
    assert.equal(store.findByUid("uid-e")?.jti, "cookie-e");
    assert.equal(store.find("Interaction", "interaction-e")?.returnTo, "/x");
    assert.equal(store.find("Interaction", "interaction-e")?.jti, "interaction-e");
    assert.equal(store.find("DeviceCode", "device-e")?.userCode, "ABCD-EFGH");
    assert.equal(store.find("Client", "c-e")?.client_secret, "secret-of-c-e");
    assert.deepEqual(
      store.listGrants().map((g) => [g.id, g.accountId]),
      [["grant-e", "alice"]],
    );
    // Opening again finds nothing left to rewrite, and changes nothing.
    new OAuthStore(state.db, state.stateKey, () => undefined);
    assert.deepEqual(state.db.prepare("SELECT model, key, payload, user_code FROM oauth_models").all(), rows);
    state.close();
  });

  test("an earlier row that is not a payload stops the start without naming its id", () => {
    const state = StateStore.open(":memory:");
    state.db
      .prepare(
        "INSERT INTO oauth_models (model, key, payload, created_at) VALUES ('Session', 'cookie-z', 'garbage', 0)",
      )
      .run();
    assert.throws(
      () => new OAuthStore(state.db, state.stateKey, () => undefined),
      (err: unknown) =>
        err instanceof StateKeyError &&
        /oauth_models Session row/.test(err.message) &&
        !err.message.includes("cookie-z"),
    );
    state.close();
  });

  test("through oidc-provider's adapter, a reuse stays invalid_grant; a failing store is an outage", async () => {
    const { state, store, reused } = setup();
    const refresh = store.adapterFactory()("RefreshToken");
    await refresh.consume("refresh-secret-value");
    // The loser of a race must hear "this grant is dead", not "try again" (a 503).
    await assert.rejects(refresh.consume("refresh-secret-value"), errors.InvalidGrant);
    assert.equal(reused.length, 1);
    state.close();
    // The database is gone: that is the store failing, told apart for the 503 answer.
    await assert.rejects(refresh.find("anything"), StoreUnavailable);
  });

  test("a second concurrent use of a refresh token loses, and revokes the whole grant family", () => {
    const { state, store, reused, consents, isRevoked } = setup();
    store.consume("RefreshToken", "refresh-secret-value");
    assert.ok(store.find("RefreshToken", "refresh-secret-value")?.consumed, "marked consumed");
    assert.throws(() => store.consume("RefreshToken", "refresh-secret-value"), errors.InvalidGrant);
    assert.equal(reused.length, 1);
    assert.equal(reused[0]?.grantId, "grant-1");
    assert.equal(reused[0]?.reason, "refresh token reused");
    assert.equal(store.find("Grant", "grant-1"), undefined);
    assert.equal(store.find("AuthorizationCode", "code-secret-value"), undefined);
    assert.equal(isRevoked("at-1"), true, "the grant's JWT access tokens are marked revoked");
    assert.equal(consents.grantFor("alice", "client-1"), undefined, "the remembered consent goes with it");
    state.close();
  });

  test("an expired grant takes its refresh tokens and access tokens with it", () => {
    const { state, store, isRevoked } = setup();
    assert.equal(store.sweep().expiredGrants.length, 0, "nothing has expired yet");
    const result = store.sweep(Date.now() + 200_000);
    assert.deepEqual(
      result.expiredGrants.map((g) => [g.grantId, g.reason, g.clientId, g.accountId]),
      [["grant-1", "grant expired", "client-1", "alice"]],
    );
    assert.equal(count(state, "SELECT COUNT(*) AS n FROM oauth_models WHERE grant_id = 'grant-1'"), 0);
    assert.equal(isRevoked("at-1"), true);
    state.close();
  });

  test("tokens of a grant that no longer exists are swept", () => {
    const { state, store } = setup();
    state.db.prepare("DELETE FROM oauth_models WHERE model = 'Grant'").run();
    store.sweep();
    assert.equal(store.find("RefreshToken", "refresh-secret-value"), undefined);
    state.close();
  });

  test("a registration that never obtained a grant is removed after a day", () => {
    const { state, store } = setup();
    const tenDays = 10 * 24 * 3600;
    store.upsert("Grant", "grant-2", { accountId: "bob", clientId: "kept" }, tenDays);
    store.upsert(
      "Client",
      "abandoned",
      { client_id: "abandoned", redirect_uris: ["https://a.example/cb"] },
      undefined,
    );
    store.upsert("Client", "kept", { client_id: "kept", redirect_uris: ["https://b.example/cb"] }, undefined);
    assert.equal(store.dynamicClientCount(), 2);
    assert.equal(store.sweep().abandonedClients, 0, "a fresh registration is kept");
    assert.equal(store.sweep(Date.now() + ABANDONED_CLIENT_MS + 1000).abandonedClients, 1);
    assert.equal(store.find("Client", "kept")?.client_id, "kept", "a client with a live grant is kept");
    assert.equal(store.find("Client", "abandoned"), undefined);
    state.close();
  });

  test("revoking one JWT access token is remembered until it would have expired", () => {
    const { state, registry, isRevoked } = setup();
    assert.equal(isRevoked("never-seen"), false);
    registry.revokeOne("foreign-jti", "client-1", Date.now() + 60_000);
    assert.equal(isRevoked("foreign-jti"), true);
    assert.equal(isRevoked("at-1"), false);
    registry.revokeOne("at-1", "client-1", Date.now() + 60_000);
    assert.equal(isRevoked("at-1"), true);
    state.close();
  });
});
