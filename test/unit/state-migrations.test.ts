// The state store's migrations are append only: a store made by an earlier release (here, one
// stopped after step 3 with its three audit indexes) is carried forward to the same schema as a
// new one; step 6 leaves the audit table one index (time).
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import { MIGRATIONS } from "../../src/state/migrations.js";
import { StateStore } from "../../src/state/store.js";
import { makeTempDir } from "../helpers/gateway.js";

const auditIndexes = (db: Database.Database) =>
  (
    db
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_events' ORDER BY name",
      )
      .all() as Array<{ name: string }>
  ).map((r) => r.name);

test("an old store and a new one end with the same audit indexes", () => {
  const file = join(makeTempDir("warden-migrate-"), "old.db");
  const old = new Database(file);
  for (const step of MIGRATIONS.slice(0, 3)) old.exec(step);
  old.pragma("user_version = 3");
  assert.deepEqual(auditIndexes(old), ["audit_events_server", "audit_events_sub", "audit_events_ts"]);
  old.close();

  const upgraded = StateStore.open(file);
  const fresh = StateStore.open(":memory:");
  try {
    assert.deepEqual(auditIndexes(upgraded.db as unknown as Database.Database), ["audit_events_ts"]);
    assert.deepEqual(auditIndexes(fresh.db as unknown as Database.Database), ["audit_events_ts"]);
    assert.equal(upgraded.db.pragma("user_version", { simple: true }), MIGRATIONS.length);
  } finally {
    upgraded.close();
    fresh.close();
  }
});
