import pg from "pg";
import { chain, EMPTY_HEAD, type ChainHead } from "../chain.js";
import type { AuditEvent, StoredEvent } from "../event.js";
import { columns, fromRow, type AuditFilter, type AuditRow, type AuditSink } from "./sink.js";

/** Any constant: every writer of the table serialises on this advisory lock. */
const LOCK_KEY = 0x77617264; // "ward"
const READ_PAGE = 1000;

/**
 * The scale-out sink: `warden_audit_events` in Postgres, shared by every gateway instance. A
 * batch is one transaction that takes an advisory lock and reads the chain head inside it, so
 * instances appending at once still build one chain. Durable when COMMIT returns.
 */
export class PostgresSink implements AuditSink {
  readonly id: string;
  readonly readable = true;
  private readonly pool: pg.Pool;
  private ready: Promise<void> | undefined;

  constructor(
    url: string,
    private readonly key: Uint8Array,
  ) {
    const u = new URL(url);
    this.id = `postgres:${u.host}${u.pathname}`;
    this.pool = new pg.Pool({ connectionString: url, max: 2, connectionTimeoutMillis: 5_000 });
    // An idle client's error (server restart) must not crash the gateway; the next query reports it.
    this.pool.on("error", () => undefined);
  }

  private schema(): Promise<void> {
    this.ready ??= this.pool
      .query(
        `CREATE TABLE IF NOT EXISTS warden_audit_events (
           seq BIGINT PRIMARY KEY,
           id TEXT NOT NULL,
           ts TEXT NOT NULL,
           event TEXT NOT NULL,
           sub TEXT,
           server TEXT,
           tool TEXT,
           status TEXT,
           hash TEXT NOT NULL,
           body TEXT NOT NULL
         );
         CREATE INDEX IF NOT EXISTS warden_audit_events_ts ON warden_audit_events (ts);
         CREATE INDEX IF NOT EXISTS warden_audit_events_sub ON warden_audit_events (sub, ts);`,
      )
      .then(
        () => undefined,
        (err: unknown) => {
          this.ready = undefined; // try again on the next batch
          throw err;
        },
      );
    return this.ready;
  }

  async append(events: readonly AuditEvent[]): Promise<readonly StoredEvent[]> {
    await this.schema();
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      await client.query("SELECT pg_advisory_xact_lock($1)", [LOCK_KEY]);
      const r = await client.query<{ seq: string; hash: string }>(
        "SELECT seq, hash FROM warden_audit_events ORDER BY seq DESC LIMIT 1",
      );
      const top = r.rows[0];
      let head: ChainHead = top ? { seq: Number(top.seq), hash: top.hash } : EMPTY_HEAD;
      const stored: StoredEvent[] = [];
      const values: unknown[] = [];
      const rows: string[] = [];
      for (const e of events) {
        const s = chain(this.key, head, e);
        stored.push(s);
        head = s;
        const base = values.length;
        rows.push(`(${Array.from({ length: 10 }, (_, i) => `$${base + i + 1}`).join(",")})`);
        const c = columns(s);
        values.push(c.seq, c.id, c.ts, c.event, c.sub, c.server, c.tool, c.status, c.hash, JSON.stringify(s));
      }
      await client.query(
        `INSERT INTO warden_audit_events (seq, id, ts, event, sub, server, tool, status, hash, body)
         VALUES ${rows.join(",")}`,
        values,
      );
      await client.query("COMMIT");
      return stored;
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async ping(): Promise<void> {
    await this.pool.query("SELECT 1");
  }

  async *read(filter: AuditFilter = {}): AsyncIterable<StoredEvent> {
    await this.schema();
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (column: string, op: string, value: unknown) => {
      if (value === undefined) return;
      params.push(value);
      where.push(`${column} ${op} $${params.length}`);
    };
    add("sub", "=", filter.user);
    add("server", "=", filter.server);
    add("tool", "=", filter.tool);
    add("status", "=", filter.status);
    add("event", "=", filter.event);
    add("ts", ">=", filter.since);
    add("ts", "<=", filter.until);
    let after = filter.afterSeq ?? 0;
    for (;;) {
      const r = await this.pool.query<AuditRow & { seq: string }>(
        `SELECT seq, sub, server, tool, status, event, ts, hash, body FROM warden_audit_events
         WHERE seq > $${params.length + 1} ${where.length ? `AND ${where.join(" AND ")}` : ""}
         ORDER BY seq LIMIT ${READ_PAGE}`,
        [...params, after],
      );
      for (const row of r.rows) yield fromRow(row);
      if (r.rows.length < READ_PAGE) return;
      after = Number((r.rows[r.rows.length - 1] as AuditRow).seq);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
