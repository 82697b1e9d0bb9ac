// Key material in the state store is sealed (AES-256-GCM) under a key kept outside it: the stored
// columns hold no usable key, a copy of the database opened with another key (or none) yields
// nothing, a tampered or moved value is refused naming its row, and plaintext rows left by an
// earlier release are sealed on the first keyed open without leaving the plaintext in the file.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import Database from "better-sqlite3";
import fc from "fast-check";
import { KeyStore } from "../../src/auth/keys.js";
import { StateKey, StateKeyError, STATE_KEY_ENV } from "../../src/state/sealed.js";
import { StateStore } from "../../src/state/store.js";
import { makeTempDir } from "../helpers/gateway.js";

const newKeyText = () => randomBytes(32).toString("base64url");

function location(dir = makeTempDir("warden-sealed-")) {
  return { dir, sqlite: join(dir, "state.db"), keyFile: join(dir, "keys", "state.key") };
}

/** Every byte of the database and its WAL, as latin1 text, for substring searches. */
function onDisk(sqlite: string): string {
  return [sqlite, `${sqlite}-wal`]
    .filter((f) => existsSync(f))
    .map((f) => readFileSync(f).toString("latin1"))
    .join("");
}

describe("StateKey", () => {
  test("seals and opens any text, bound to its context", () => {
    const key = StateKey.parse(newKeyText(), "test");
    fc.assert(
      fc.property(
        fc.string({ unit: "grapheme", maxLength: 200 }),
        fc.string({ maxLength: 40 }),
        (text, ctx) => {
          const sealed = key.seal(text, `kv:${ctx}`);
          assert.equal(key.open(sealed, `kv:${ctx}`), text);
          assert.throws(() => key.open(sealed, `kv:${ctx}x`), StateKeyError);
          if (text.length >= 8) assert.ok(!sealed.includes(text));
        },
      ),
    );
  });

  test("another key, a flipped byte, a cut value and plaintext are refused", () => {
    const key = StateKey.parse(newKeyText(), "test");
    const other = StateKey.parse(newKeyText(), "other");
    const sealed = key.seal("secret", "kv:a");
    assert.throws(() => other.open(sealed, "kv:a"), /sealed with another state key/);
    const raw = Buffer.from(sealed.split(":")[3] as string, "base64url");
    for (let i = 0; i < raw.length; i++) {
      const flipped = Buffer.from(raw);
      flipped[i] = (flipped[i] as number) ^ 1;
      const forged = `${sealed.split(":").slice(0, 3).join(":")}:${flipped.toString("base64url")}`;
      assert.throws(() => key.open(forged, "kv:a"), /fails authentication/, `byte ${i}`);
    }
    assert.throws(() => key.open(sealed.slice(0, 30), "kv:a"), StateKeyError);
    assert.throws(() => key.open("secret", "kv:a"), /plaintext/);
  });

  test("keys are 32 bytes as hex or base64; anything else is refused", () => {
    const bytes = randomBytes(32);
    const a = StateKey.parse(bytes.toString("hex"), "hex");
    const b = StateKey.parse(bytes.toString("base64"), "base64");
    const c = StateKey.parse(`${bytes.toString("base64url")}\n`, "file");
    assert.equal(a.id, b.id);
    assert.equal(b.id, c.id);
    for (const bad of [
      "",
      "short",
      randomBytes(16).toString("hex"),
      randomBytes(31).toString("base64url"),
      "!".repeat(43),
    ])
      assert.throws(() => StateKey.parse(bad, "bad"), StateKeyError, bad);
  });
});

describe("StateStore sealed at rest", () => {
  test("a key file is made 0600 outside the database; the stored signing key is no JWK", async () => {
    const loc = location();
    const state = StateStore.openWithKey(loc, {});
    const keys = await KeyStore.load({ file: undefined, state });
    state.set("redaction_hash_key", "a-setting-in-plaintext");
    state.close();
    assert.equal(statSync(loc.keyFile).mode & 0o777, 0o600);

    const db = new Database(loc.sqlite, { readonly: true });
    const rows = db.prepare("SELECT kid, jwk FROM signing_keys").all() as Array<{ kid: string; jwk: string }>;
    const kv = db.prepare("SELECT value FROM kv").all() as Array<{ value: string }>;
    db.close();
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.kid, keys.current.kid);
    assert.throws(() => JSON.parse(rows[0]?.jwk as string), "the stored key parses as JSON");
    assert.match(rows[0]?.jwk as string, /^sealed:v1:/);
    const disk = onDisk(loc.sqlite);
    for (const member of ["d", "p", "q", "dp", "dq", "qi"]) {
      const value = keys.current[member as "d"] as string;
      assert.ok(!disk.includes(value.slice(0, 32)), `private member ${member} is in the database file`);
    }
    assert.ok(!disk.includes("a-setting-in-plaintext"));
    assert.ok(kv.every((r) => r.value.startsWith("sealed:v1:")));

    const again = StateStore.openWithKey(loc, {});
    assert.equal((await KeyStore.load({ file: undefined, state: again })).current.d, keys.current.d);
    assert.equal(again.get("redaction_hash_key"), "a-setting-in-plaintext");
    again.close();
  });

  test("a copied database with another key, or without its key file, does not open", async () => {
    const loc = location();
    const state = StateStore.openWithKey(loc, {});
    await KeyStore.load({ file: undefined, state });
    state.close();

    const copy = location();
    copyFileSync(loc.sqlite, copy.sqlite);
    // No key file beside the copy: no new key is made over sealed rows.
    assert.throws(() => StateStore.openWithKey(copy, {}), /state key file .* is missing/);
    assert.ok(!existsSync(copy.keyFile), "a new key was made over sealed rows");
    assert.throws(
      () => StateStore.openWithKey(copy, { [STATE_KEY_ENV]: newKeyText() }),
      /signing_keys:.*sealed with another state key/,
    );
    // The right key, from the environment, opens it.
    const key = readFileSync(loc.keyFile, "utf8");
    const opened = StateStore.openWithKey(copy, { [STATE_KEY_ENV]: key });
    assert.equal((await KeyStore.load({ file: undefined, state: opened })).privateJwks.keys.length, 1);
    opened.close();
  });

  test("a store opened without its key refuses sealed reads and writes", () => {
    const loc = location();
    StateStore.openWithKey(loc, {}).close();
    const keyless = StateStore.open(loc.sqlite);
    assert.throws(() => keyless.get("x"), StateKeyError);
    assert.throws(() => keyless.set("x", "y"), StateKeyError);
    keyless.close();
  });

  test("a tampered value, or one moved to another row, stops the open naming the row", () => {
    const loc = location();
    const state = StateStore.openWithKey(loc, {});
    state.set("a", "first");
    state.set("b", "second");
    state.close();
    const db = new Database(loc.sqlite);
    const a = (db.prepare("SELECT value FROM kv WHERE key = 'a'").get() as { value: string }).value;
    db.prepare("UPDATE kv SET value = ? WHERE key = 'b'").run(a);
    db.close();
    assert.throws(() => StateStore.openWithKey(loc, {}), /kv:b: sealed value fails authentication/);

    const db2 = new Database(loc.sqlite);
    const tail = a.slice(-4) === "AAAA" ? "BBBB" : "AAAA";
    db2.prepare("UPDATE kv SET value = ? WHERE key = 'b'").run(`${a.slice(0, -4)}${tail}`);
    db2.close();
    assert.throws(() => StateStore.openWithKey(loc, {}), StateKeyError);
  });

  test("plaintext rows of an earlier release are sealed on the first keyed open, and gone from the file", async () => {
    const loc = location();
    // An earlier release: the same schema, key material in plaintext.
    const old = StateStore.open(loc.sqlite);
    const jwk = {
      kty: "RSA",
      kid: "old-kid",
      alg: "RS256",
      n: "n",
      e: "AQAB",
      d: "PRIVATE-EXPONENT-".repeat(8),
    };
    const legacy = await import("../../src/auth/keys.js").then((m) => m.generateSigningKey());
    old.db
      .prepare("INSERT INTO signing_keys (kid, jwk, created_at) VALUES (?, ?, ?)")
      .run(legacy.kid, JSON.stringify(legacy), Date.now());
    old.db.prepare("INSERT INTO kv (key, value) VALUES ('authserver.csrf_key', ?)").run(jwk.d);
    old.close();
    assert.ok(onDisk(loc.sqlite).includes(jwk.d), "the fixture did not write plaintext");

    const state = StateStore.openWithKey(loc, {});
    assert.equal(state.get("authserver.csrf_key"), jwk.d);
    const keys = await KeyStore.load({ file: undefined, state });
    assert.equal(keys.current.d, legacy.d);
    // While the gateway runs (the store open, its WAL live), and after.
    for (const when of ["open", "closed"]) {
      const disk = onDisk(loc.sqlite);
      assert.ok(!disk.includes(jwk.d), `the plaintext setting lingers in the database files (${when})`);
      assert.ok(!disk.includes((legacy.d as string).slice(0, 32)), `the plaintext key lingers (${when})`);
      state.close();
    }
  });
});
