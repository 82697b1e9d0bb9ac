// Key material in the shared Postgres state (`warden_kv`) is sealed with the state key too: stored
// sealed, a plaintext setting of an earlier release sealed on first use, and an instance started
// with another key refuses to start, naming the setting, instead of serving with a broken issuer.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import pgLib from "pg";
import { StateKey, StateKeyError } from "../../src/state/sealed.js";
import { PostgresState } from "../../src/state/postgres.js";
import { everythingStdio, gatewayConfig } from "../helpers/configs.js";
import { makeTempDir, runCli, startGateway, writeConfig } from "../helpers/gateway.js";

const PG = "postgres://postgres@127.0.0.1:5432/test";

describe("state key over Postgres", () => {
  const schema = `state_key_${process.pid}_${Date.now()}`;
  const url = `${PG}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  const keyText = randomBytes(32).toString("base64url");
  const key = StateKey.parse(keyText, "test");
  let admin: pgLib.Client;
  const opened: PostgresState[] = [];
  const open = (k?: StateKey) => {
    const pg = new PostgresState(url, undefined, k);
    opened.push(pg);
    return pg;
  };
  const raw = async (name: string) =>
    (await admin.query<{ value: string }>(`SELECT value FROM ${schema}.warden_kv WHERE key = $1`, [name]))
      .rows[0]?.value;

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

  test("a shared setting is stored sealed and read back", async () => {
    const pg = open(key);
    assert.equal(await pg.setting("authserver.csrf_key", () => "csrf-secret-value"), "csrf-secret-value");
    // A second instance with the same key reads the first one's value, not its own.
    assert.equal(await open(key).setting("authserver.csrf_key", () => "another"), "csrf-secret-value");
    const stored = await raw("authserver.csrf_key");
    assert.match(stored ?? "", /^sealed:v1:/);
    assert.ok(!stored?.includes("csrf-secret-value"));
  });

  test("a plaintext setting of an earlier release is sealed on first use", async () => {
    await open(key).ready();
    await admin.query(`INSERT INTO ${schema}.warden_kv (key, value) VALUES ('legacy', 'plain-legacy-key')`);
    const pg = open(key);
    await pg.ready();
    assert.match((await raw("legacy")) ?? "", /^sealed:v1:/);
    assert.equal(await pg.setting("legacy", () => "new"), "plain-legacy-key");
  });

  test("another key, or none, refuses", async () => {
    const other = open(StateKey.parse(randomBytes(32).toString("hex"), "other"));
    await assert.rejects(other.ready(), (err: Error) => {
      assert.ok(err instanceof StateKeyError);
      assert.match(err.message, /kv:.*sealed with another state key/);
      return true;
    });
    await assert.rejects(
      open().setting("authserver.csrf_key", () => "x"),
      StateKeyError,
    );
  });

  test("a gateway started with another key does not start (nor seals anything); with the right one it does", async () => {
    const dir = makeTempDir("warden-state-key-pg-");
    // One local database for both starts: the refused one must leave nothing sealed with its key.
    const config = {
      ...gatewayConfig([everythingStdio()]),
      state: { sqlite: join(dir, "state.db"), postgres: url },
    };
    const file = writeConfig(config, dir);
    const wrong = await runCli(["start", "-c", file], {
      timeoutMs: 20_000,
      env: { WARDEN_STATE_KEY: randomBytes(32).toString("base64url") },
    });
    assert.notEqual(wrong.code, 0, wrong.stderr);
    assert.equal(wrong.signal, null, "it kept serving until killed");
    assert.match(wrong.stderr, /postgres state .*sealed with another state key/);
    const gw = await startGateway(config, { env: { WARDEN_STATE_KEY: keyText } });
    await gw.stop();
  });
});
