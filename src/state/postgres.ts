import type pg from "pg";
import type { Logger } from "../log.js";
import { pgModule } from "./pg.js";
import { POSTGRES_MIGRATIONS } from "./postgres-migrations.js";
import { isSealed, StateKeyError, type StateKey } from "./sealed.js";

/** What a statement runs on: the pool, or one connection inside a transaction. */
export type Queryable = Pick<pg.PoolClient, "query">;

const COMPONENT = "state";
const INT8 = 20;
// Times are epoch milliseconds and counts are small: BIGINT as a number, not pg's default string.
const TYPES = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === INT8 && format !== "binary"
      ? (value: string) => Number(value)
      : pgModule().types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/**
 * The connections to `state.postgres` one process holds, and the shared state's schema there
 * (src/state/postgres-migrations.ts). Nothing connects at construction: a gateway starts while
 * Postgres is down, and whatever needs it fails (closed) until it is back. The schema is created
 * or migrated on first use, under an advisory lock so instances starting together take turns,
 * and tried again after a failure.
 */
export class PostgresState {
  /** host:port/database, for logs (never the password). */
  readonly where: string;
  private readonly pool: pg.Pool;
  private schema: Promise<void> | undefined;
  private readonly listeners = new Set<Listener>();

  constructor(
    private readonly url: string,
    private readonly log?: Logger,
    /** Seals the shared settings (key material, `warden_kv`); without it `setting` refuses. */
    private readonly stateKey?: StateKey,
  ) {
    const u = new URL(url);
    this.where = `${u.host}${u.pathname}`;
    this.pool = new (pgModule().Pool)({
      connectionString: url,
      max: 10,
      connectionTimeoutMillis: 3_000,
      // A statement stuck behind a lock or a dead server ends; its caller then refuses.
      query_timeout: 10_000,
      idleTimeoutMillis: 30_000,
      types: TYPES,
    });
    // An idle connection's error (a server restart) must not crash the process; the next query
    // reports it to its caller.
    this.pool.on("error", (err) => log?.warn({ err: err.message }, "postgres connection lost"));
  }

  /** Creates or migrates the schema now; resolves at once when that is done. */
  ready(): Promise<void> {
    this.schema ??= this.migrate()
      .then(() => this.sealSettings())
      .catch((err: unknown) => {
        this.schema = undefined; // tried again by the next caller
        throw err;
      });
    return this.schema;
  }

  /**
   * One statement. A `name` makes it a prepared statement, parsed and planned once per connection:
   * for the lookups every request makes.
   */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    params?: readonly unknown[],
    name?: string,
  ): Promise<pg.QueryResult<R>> {
    await this.ready();
    return this.pool.query<R>({ text, values: params as unknown[], ...(name ? { name } : {}) });
  }

  /** `fn` inside BEGIN … COMMIT on one connection, rolled back when it throws. */
  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    await this.ready();
    return this.inTransaction(fn);
  }

  /**
   * A value every instance shares (a key, say): the stored one, else `create()`'s, stored by the
   * first instance to get there (a later one reads the first one's value). Sealed at rest with the
   * state key, which every instance must share.
   */
  async setting(key: string, create: () => string): Promise<string> {
    const stateKey = this.requireKey();
    const context = `kv:${key}`;
    await this.query("INSERT INTO warden_kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", [
      key,
      stateKey.seal(create(), context),
    ]);
    const r = await this.query<{ value: string }>("SELECT value FROM warden_kv WHERE key = $1", [key]);
    const value = r.rows[0]?.value;
    if (value === undefined) throw new Error(`shared setting ${key} vanished`);
    return stateKey.open(value, context);
  }

  /**
   * Calls `onMessage` with the payload of every NOTIFY on `channel` (from any instance, this one
   * too), on a connection of its own. Resolves once listening; rejects when Postgres cannot be
   * reached. A lost connection is re-opened (1 s to 10 s apart) and `onResync` is called once it
   * listens again, since notifications sent meanwhile are lost.
   */
  async listen(channel: string, onMessage: (payload: string) => void, onResync: () => void): Promise<void> {
    await this.ready();
    const listener = new Listener(this.url, channel, onMessage, onResync, this.log);
    await listener.connect();
    this.listeners.add(listener);
  }

  async close(): Promise<void> {
    for (const l of this.listeners) await l.close();
    this.listeners.clear();
    await this.pool.end();
  }

  private async inTransaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      const result = await fn(client);
      await client.query("COMMIT");
      return result;
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  private requireKey(): StateKey {
    if (!this.stateKey)
      throw new StateKeyError("postgres state opened without the state key (state.key_file)");
    return this.stateKey;
  }

  /**
   * Every sealed setting must open with this instance's state key: an instance started with
   * another key fails here, on its first use of Postgres, naming the setting. Settings an earlier
   * release stored in plaintext are sealed (the compare-and-set keeps a concurrent instance's
   * sealing). Postgres keeps old row versions until VACUUM: run `VACUUM warden_kv` after upgrading.
   */
  private async sealSettings(): Promise<void> {
    if (!this.stateKey) return;
    const key = this.stateKey;
    const rows = await this.pool.query<{ key: string; value: string }>("SELECT key, value FROM warden_kv");
    for (const row of rows.rows) {
      const context = `kv:${row.key}`;
      if (isSealed(row.value)) {
        try {
          key.open(row.value, context);
        } catch (err) {
          throw new StateKeyError(`postgres state ${this.where}: ${(err as Error).message}`);
        }
      } else {
        await this.pool.query("UPDATE warden_kv SET value = $1 WHERE key = $2 AND value = $3", [
          key.seal(row.value, context),
          row.key,
          row.value,
        ]);
      }
    }
  }

  private migrate(): Promise<void> {
    return this.inTransaction(async (tx) => {
      await tx.query("SELECT pg_advisory_xact_lock(hashtext('mcp-warden state schema'))");
      await tx.query(
        `CREATE TABLE IF NOT EXISTS warden_schema_versions (
           component TEXT PRIMARY KEY,
           version INTEGER NOT NULL,
           migrated_at BIGINT NOT NULL
         )`,
      );
      const r = await tx.query<{ version: number }>(
        "SELECT version FROM warden_schema_versions WHERE component = $1",
        [COMPONENT],
      );
      const current = r.rows[0]?.version ?? 0;
      if (current > POSTGRES_MIGRATIONS.length) {
        throw new Error(
          `postgres state schema ${current} is newer than this mcp-warden (${POSTGRES_MIGRATIONS.length})`,
        );
      }
      if (current === POSTGRES_MIGRATIONS.length) return;
      for (let v = current; v < POSTGRES_MIGRATIONS.length; v++) {
        await tx.query(POSTGRES_MIGRATIONS[v] as string);
      }
      await tx.query(
        `INSERT INTO warden_schema_versions (component, version, migrated_at) VALUES ($1, $2, $3)
         ON CONFLICT (component) DO UPDATE SET version = excluded.version, migrated_at = excluded.migrated_at`,
        [COMPONENT, POSTGRES_MIGRATIONS.length, Date.now()],
      );
    });
  }
}

/** One LISTEN connection, re-opened when lost. */
class Listener {
  private client: pg.Client | undefined;
  private closed = false;
  private retryMs = 1_000;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly url: string,
    private readonly channel: string,
    private readonly onMessage: (payload: string) => void,
    private readonly onResync: () => void,
    private readonly log: Logger | undefined,
  ) {}

  async connect(): Promise<void> {
    const client = new (pgModule().Client)({ connectionString: this.url, connectionTimeoutMillis: 3_000 });
    client.on("notification", (n) => {
      if (n.channel === this.channel && n.payload !== undefined) this.onMessage(n.payload);
    });
    const lost = (err?: Error) => {
      if (this.client !== client) return;
      this.client = undefined;
      client.end().catch(() => undefined);
      if (this.closed) return;
      this.log?.warn({ channel: this.channel, err: err?.message }, "postgres listen connection lost");
      this.retry();
    };
    client.on("error", lost);
    client.on("end", () => lost());
    await client.connect();
    try {
      // LISTEN takes an identifier; the channel name is ours, quoted as one.
      await client.query(`LISTEN "${this.channel.replaceAll('"', '""')}"`);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    this.client = client;
    this.retryMs = 1_000;
  }

  private retry(): void {
    this.timer = setTimeout(() => {
      this.connect().then(
        () => {
          this.log?.info({ channel: this.channel }, "postgres listen connection restored");
          this.onResync();
        },
        () => {
          this.retryMs = Math.min(this.retryMs * 2, 10_000);
          if (!this.closed) this.retry();
        },
      );
    }, this.retryMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}
