import type { PostgresState } from "../../state/postgres.js";
import { EMPTY_HEAD, linkAll, type ChainHead } from "../chain.js";
import type { AuditEvent, StoredEvent } from "../event.js";
import {
  columnText,
  fromRow,
  ROW_COLUMNS,
  rowOf,
  type AuditFilter,
  type AuditRow,
  type AuditSink,
} from "./sink.js";

/** Any constant: every writer of the table serialises on this advisory lock. */
const LOCK_KEY = 0x77617264; // "ward"
const READ_PAGE = 1000;

/**
 * The scale-out sink: `warden_audit_events` in Postgres (created by the shared schema's steps,
 * src/state/postgres-migrations.ts), shared by every gateway instance. A batch is one transaction
 * that takes an advisory lock and reads the chain head inside it, so instances appending at once
 * still build one chain. Durable when COMMIT returns.
 */
export class PostgresSink implements AuditSink {
  readonly id: string;
  readonly readable = true;

  /** `db` is the sink's own: closing the sink closes it. */
  constructor(
    private readonly db: PostgresState,
    private readonly key: Uint8Array,
  ) {
    this.id = `postgres:${db.where}`;
  }

  append(events: readonly AuditEvent[]): Promise<readonly StoredEvent[]> {
    return this.db.transaction(async (tx) => {
      await tx.query("SELECT pg_advisory_xact_lock($1)", [LOCK_KEY]);
      const r = await tx.query<{ seq: string | number; hash: string }>(
        "SELECT seq, hash FROM warden_audit_events ORDER BY seq DESC LIMIT 1",
      );
      const top = r.rows[0];
      const head: ChainHead = top ? { seq: Number(top.seq), hash: top.hash } : EMPTY_HEAD;
      const linked = linkAll(this.key, head, events);
      const values: unknown[] = [];
      const rows = linked.map(({ stored: s, text }) => {
        const base = values.length;
        values.push(...rowOf(s, text));
        return `(${Array.from({ length: 10 }, (_, i) => `$${base + i + 1}`).join(",")})`;
      });
      await tx.query(
        `INSERT INTO warden_audit_events (${ROW_COLUMNS})
         VALUES ${rows.join(",")}`,
        values,
      );
      return linked.map((l) => l.stored);
    });
  }

  async ping(): Promise<void> {
    await this.db.query("SELECT 1");
  }

  async *read(filter: AuditFilter = {}): AsyncIterable<StoredEvent> {
    const { where, params } = whereOf(filter);
    let after = filter.afterSeq ?? 0;
    for (;;) {
      const r = await this.db.query<AuditRow>(
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

  /** The newest `limit` matching events in chain order, read newest first (no scan of the rest). */
  async newest(filter: AuditFilter, limit: number): Promise<StoredEvent[]> {
    const { where, params } = whereOf(filter);
    const r = await this.db.query<AuditRow>(
      `SELECT seq, sub, server, tool, status, event, ts, hash, body FROM warden_audit_events
       WHERE seq > $${params.length + 1} ${where.length ? `AND ${where.join(" AND ")}` : ""}
       ORDER BY seq DESC LIMIT $${params.length + 2}`,
      [...params, filter.afterSeq ?? 0, limit],
    );
    return r.rows.reverse().map(fromRow);
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

function whereOf(filter: AuditFilter): { where: string[]; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (column: string, op: string, value: unknown) => {
    if (value === undefined) return;
    params.push(value);
    where.push(`${column} ${op} $${params.length}`);
  };
  add("sub", "=", columnText(filter.user));
  add("server", "=", columnText(filter.server));
  add("tool", "=", columnText(filter.tool));
  add("status", "=", columnText(filter.status));
  add("event", "=", filter.event);
  add("ts", ">=", filter.since);
  add("ts", "<=", filter.until);
  return { where, params };
}
