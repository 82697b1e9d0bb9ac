import { closeSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { MIGRATIONS } from "./migrations.js";
import { isSealed, StateKey, StateKeyError } from "./sealed.js";

export type Db = Database.Database;

/** Where a keyed store lives: the database and the file its key is read from (or created in). */
export interface StateLocation {
  readonly sqlite: string;
  readonly keyFile: string;
}

/**
 * The embedded state store: one SQLite file (WAL) holding keys, API keys, the authorization
 * server's grants and, with later issues, audit and pins. Opened once per process.
 *
 * Key material (the `kv` settings, `signing_keys.jwk`) is sealed with the state key (sealed.ts),
 * which lives outside the database: a copy of the database alone yields no usable key. A store
 * opened without the key serves everything else and refuses to read or write sealed values.
 */
export class StateStore {
  private constructor(
    readonly db: Db,
    private readonly key: StateKey | undefined,
  ) {}

  /** `:memory:` without a key gets an ephemeral one: nothing of it reaches a disk. */
  static open(path: string, key?: StateKey): StateStore {
    if (path === ":memory:") key ??= StateKey.ephemeral();
    else {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      // The store holds signing keys: owner-only, and SQLite gives its -wal/-shm files the same mode.
      closeSync(openSync(path, "a", 0o600));
    }
    const db = new Database(path);
    try {
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
      db.pragma("foreign_keys = ON");
      db.pragma("busy_timeout = 5000");
      migrate(db);
      if (key) sealAtRest(db, key, path);
    } catch (err) {
      db.close();
      throw err;
    }
    return new StateStore(db, key);
  }

  /**
   * The store with its key: `WARDEN_STATE_KEY`, else `keyFile` (created on first use). A store that
   * already holds sealed values never gets a new key: a lost key file stops the start instead.
   */
  static openWithKey(location: StateLocation, env: NodeJS.ProcessEnv = process.env): StateStore {
    const probe = StateStore.open(location.sqlite);
    let sealed: boolean;
    try {
      sealed = holdsSealedValues(probe.db);
    } finally {
      probe.close();
    }
    return StateStore.open(location.sqlite, StateKey.load(location.keyFile, { create: !sealed, env }));
  }

  /** The state key; a StateKeyError when this store was opened without it. */
  get stateKey(): StateKey {
    if (!this.key) throw new StateKeyError("the state store was opened without its key (state.key_file)");
    return this.key;
  }

  /** A setting of the store's own (each one is key material: sealed at rest). */
  get(name: string): string | undefined {
    const key = this.stateKey;
    const row = this.db.prepare("SELECT value FROM kv WHERE key = ?").get(name) as
      { value: string } | undefined;
    return row === undefined ? undefined : key.open(row.value, `kv:${name}`);
  }

  set(name: string, value: string): void {
    const sealed = this.stateKey.seal(value, `kv:${name}`);
    this.db
      .prepare(
        "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      )
      .run(name, sealed);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function migrate(db: Db): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(`state store schema ${current} is newer than this mcp-warden (${MIGRATIONS.length})`);
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v] as string);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

interface SealedColumn {
  readonly rows: (db: Db) => Array<{ id: string; value: string }>;
  readonly update: string;
  readonly context: (id: string) => string;
}

/** Every column that holds key material, and the AAD its values are bound to. */
const SEALED_COLUMNS: readonly SealedColumn[] = [
  {
    rows: (db) => db.prepare("SELECT key AS id, value FROM kv").all() as Array<{ id: string; value: string }>,
    update: "UPDATE kv SET value = ? WHERE key = ?",
    context: (id) => `kv:${id}`,
  },
  {
    rows: (db) =>
      db.prepare("SELECT kid AS id, jwk AS value FROM signing_keys").all() as Array<{
        id: string;
        value: string;
      }>,
    update: "UPDATE signing_keys SET jwk = ? WHERE kid = ?",
    context: (id) => `signing_keys:${id}`,
  },
];

/** Whether anything in the store was sealed: then a missing key file is an error, never a new key. */
function holdsSealedValues(db: Db): boolean {
  if (SEALED_COLUMNS.some((c) => c.rows(db).some((r) => isSealed(r.value)))) return true;
  // The authorization server's rows (src/authserver/at-rest.ts) are sealed under the same key.
  const row = db.prepare("SELECT payload FROM oauth_models LIMIT 1").get() as { payload: string } | undefined;
  return row !== undefined && isSealed(row.payload);
}

/**
 * Checks that every sealed value opens with `key` (the start stops, naming the row, when one was
 * sealed with another key or tampered with) and seals what an earlier release stored in plaintext.
 * After such a migration the database is rewritten (VACUUM) and the WAL emptied, so the plaintext
 * does not linger in free pages or old WAL frames.
 */
function sealAtRest(db: Db, key: StateKey, where: string): void {
  const plaintext: Array<{ column: SealedColumn; id: string; value: string }> = [];
  for (const column of SEALED_COLUMNS) {
    for (const row of column.rows(db)) {
      if (!isSealed(row.value)) {
        plaintext.push({ column, id: row.id, value: row.value });
        continue;
      }
      try {
        key.open(row.value, column.context(row.id));
      } catch (err) {
        throw new StateKeyError(`state store ${where}: ${(err as Error).message}`);
      }
    }
  }
  if (plaintext.length === 0) return;
  db.transaction(() => {
    for (const p of plaintext)
      db.prepare(p.column.update).run(key.seal(p.value, p.column.context(p.id)), p.id);
  })();
  db.exec("VACUUM");
  db.pragma("wal_checkpoint(TRUNCATE)");
}
