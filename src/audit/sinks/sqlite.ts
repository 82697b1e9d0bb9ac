import type { Db } from "../../state/store.js";
import { EMPTY_HEAD, linkAll, type ChainHead } from "../chain.js";
import type { AuditEvent, StoredEvent } from "../event.js";
import { AuditMarks } from "../marks.js";
import {
  columnText,
  fromRow,
  ROW_COLUMNS,
  rowOf,
  type AuditFilter,
  type AuditRow,
  type AuditSink,
} from "./sink.js";

/**
 * The embedded default: the `audit_events` table of the state store (WAL). A batch is one
 * IMMEDIATE transaction that reads the chain head inside it, so another process appending to the
 * same file (the CLI recording an admin action) cannot fork the chain.
 */
export class SqliteSink implements AuditSink {
  readonly id = "sqlite";
  readonly readable = true;
  readonly marksItself = true;
  private readonly marks: AuditMarks;
  private readonly insert;
  private readonly head;
  private readonly write;

  /** Each batch moves this sink's high-water mark (`marks`, on the same database) with it. */
  constructor(
    private readonly db: Db,
    private readonly key: Uint8Array,
    marks?: AuditMarks,
  ) {
    this.marks = marks ?? new AuditMarks(db, key);
    this.head = db.prepare("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1");
    this.insert = db.prepare(
      `INSERT INTO audit_events (${ROW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.write = db.transaction((events: readonly AuditEvent[]): StoredEvent[] => {
      const head = (this.head.get() as ChainHead | undefined) ?? EMPTY_HEAD;
      const linked = linkAll(this.key, head, events);
      const stored: StoredEvent[] = [];
      for (const { stored: e, text } of linked) {
        this.insert.run(rowOf(e, text));
        stored.push(e);
      }
      const top = stored[stored.length - 1];
      if (top) this.marks.noteInTransaction("head", [{ sink: this.id, seq: top.seq, hash: top.hash }]);
      return stored;
    });
  }

  append(events: readonly AuditEvent[]): Promise<readonly StoredEvent[]> {
    try {
      return Promise.resolve(this.write.immediate(events));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  ping(): Promise<void> {
    try {
      this.db.prepare("SELECT 1").get();
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  async *read(filter: AuditFilter = {}): AsyncIterable<StoredEvent> {
    const { where, params } = whereOf(filter);
    const sql = `SELECT seq, sub, server, tool, status, event, ts, hash, body FROM audit_events
      ${where} ORDER BY seq`;
    for (const r of this.db.prepare(sql).iterate(params) as Iterable<AuditRow>) yield fromRow(r);
  }

  /** The newest `limit` matching events in chain order, read newest first (no scan of the rest). */
  newest(filter: AuditFilter, limit: number): Promise<StoredEvent[]> {
    try {
      const { where, params } = whereOf(filter);
      const sql = `SELECT seq, sub, server, tool, status, event, ts, hash, body FROM audit_events
        ${where} ORDER BY seq DESC LIMIT @limit`;
      const rows = this.db.prepare(sql).all({ ...params, limit }) as AuditRow[];
      return Promise.resolve(rows.reverse().map(fromRow));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

function whereOf(filter: AuditFilter): { where: string; params: Record<string, string | number> } {
  const where: string[] = [];
  const params: Record<string, string | number> = {};
  const add = (sql: string, name: string, value: string | number | undefined) => {
    if (value === undefined) return;
    where.push(sql);
    params[name] = value;
  };
  add("seq > @afterSeq", "afterSeq", filter.afterSeq);
  add("sub = @user", "user", columnText(filter.user));
  add("server = @server", "server", columnText(filter.server));
  add("tool = @tool", "tool", columnText(filter.tool));
  add("status = @status", "status", columnText(filter.status));
  add("event = @event", "event", filter.event);
  add("ts >= @since", "since", filter.since);
  add("ts <= @until", "until", filter.until);
  return { where: where.length ? `WHERE ${where.join(" AND ")}` : "", params };
}
