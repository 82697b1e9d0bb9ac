// The authorization server's SQLite state (migration 2) in-process: secrets stored hashed,
// atomic one-time use with family revocation, grant expiry taking its tokens along, and the sweep
// of abandoned registrations. Time is passed to the sweep, never waited for.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { errors } from "oidc-provider";
import { AccessTokenRegistry, createRevocationCheck } from "../../src/authserver/access-tokens.js";
import { ConsentStore } from "../../src/authserver/consents.js";
import { ABANDONED_CLIENT_MS, OAuthStore, type GrantRevocation } from "../../src/authserver/store.js";
import { StoreUnavailable } from "../../src/authserver/outage.js";
import { StateStore } from "../../src/state/store.js";

function setup() {
  const state = StateStore.open(":memory:");
  const reused: GrantRevocation[] = [];
  const store = new OAuthStore(state.db, (r) => reused.push(r));
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
