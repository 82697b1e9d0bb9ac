import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashPassword, verifyPassword } from "../../src/auth/passwords.js";
import { KeyStore } from "../../src/auth/keys.js";
import { StateStore } from "../../src/state/store.js";
import { ApiKeys } from "../../src/auth/api-keys.js";
import { AuthError } from "../../src/auth/errors.js";

test("password hashes verify the right password only, and differ per salt", async () => {
  const h1 = await hashPassword("correct horse");
  const h2 = await hashPassword("correct horse");
  assert.notEqual(h1, h2);
  assert.match(h1, /^scrypt\$32768\$8\$1\$/);
  assert.equal(await verifyPassword("correct horse", h1), true);
  assert.equal(await verifyPassword("correct horsf", h1), false);
  assert.equal(await verifyPassword("", h1), false);
  for (const bad of [
    "",
    "plain",
    "scrypt$1$1$1$x$y",
    "scrypt$99999999$8$1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
    h1.replace("scrypt", "bcrypt"),
  ]) {
    assert.equal(await verifyPassword("correct horse", bad), false, bad);
  }
});

test("signing keys: a missing key file is created owner-only and reused; the state store keeps its key", async () => {
  const dir = mkdtempSync(join(tmpdir(), "warden-keys-"));
  const file = join(dir, "keys", "signing.jwk");
  const a = await KeyStore.load({ file, state: undefined });
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const b = await KeyStore.load({ file, state: undefined });
  assert.equal(a.current.kid, b.current.kid);
  assert.equal(a.publicJwks.keys[0]?.d, undefined, "the public set carries a private member");
  assert.ok(readFileSync(file, "utf8").includes('"d"'));

  const state = StateStore.openWithKey({ sqlite: join(dir, "state.db"), keyFile: join(dir, "state.key") });
  const s1 = await KeyStore.load({ file: undefined, state });
  const s2 = await KeyStore.load({ file: undefined, state });
  assert.equal(s1.current.kid, s2.current.kid);
  assert.equal(statSync(join(dir, "state.db")).mode & 0o777, 0o600);
  state.close();
});

test("API keys: stored hashed, verified, revoked, unknown and malformed keys refused alike", () => {
  const state = StateStore.open(":memory:");
  const keys = new ApiKeys(state);
  const { key, info } = keys.create("bot", ["a", "b"], undefined);
  const row = state.db.prepare("SELECT hash FROM api_keys WHERE id = ?").get(info.id) as { hash: string };
  assert.ok(!row.hash.includes(key) && row.hash.length === 64);
  const p = keys.verify(key);
  assert.equal(p.subject, "apikey:bot");
  assert.deepEqual([...p.scopes], ["a", "b"]);
  for (const bad of [
    key.slice(0, -1) + (key.endsWith("A") ? "B" : "A"),
    "mwk_",
    "mwk__",
    "mwk_x_y",
    `mwk_${info.id}_`,
  ]) {
    assert.throws(
      () => keys.verify(bad),
      (e: unknown) => e instanceof AuthError && e.error === "invalid_token",
      bad,
    );
  }
  assert.equal(keys.revoke(info.id), true);
  assert.throws(() => keys.verify(key), /revoked/);
  state.close();
});

test("API key ids are hex: never read as a CLI option, never containing the separator", () => {
  const state = StateStore.open(":memory:");
  const keys = new ApiKeys(state);
  for (let i = 0; i < 50; i++) {
    const { key, info } = keys.create(`k${i}`, [], undefined);
    assert.match(info.id, /^[0-9a-f]{18}$/);
    assert.equal(keys.verify(key).subject, `apikey:k${i}`);
  }
  state.close();
});
