import type { AuditEvent, StoredEvent } from "../event.js";

/** Which events a reader returns; every field optional. Times are ISO 8601 strings. */
export interface AuditFilter {
  readonly user?: string;
  readonly server?: string;
  readonly tool?: string;
  readonly status?: string;
  readonly event?: string;
  readonly since?: string;
  readonly until?: string;
  /** Only events after this sequence number (for following a log). */
  readonly afterSeq?: number;
}

/**
 * Where events go. A sink keeps its own hash chain: `append` links the batch after the chain's
 * current head, writes it, and returns the stored events only once they are durable (they survive
 * the process being killed). It throws when it could not write; nothing is half-written silently.
 */
export interface AuditSink {
  /** Stable name: `sqlite`, `stdout`, `jsonl:<file name>`, `postgres:<host/db>`; checkpoints use it. */
  readonly id: string;
  /** Whether the sink can be read back and verified (stdout cannot). */
  readonly readable: boolean;
  /** Whether `append` records the state store's high-water mark itself, in its own transaction. */
  readonly marksItself?: boolean;
  append(events: readonly AuditEvent[]): Promise<readonly StoredEvent[]>;
  /** Resolves when the sink looks writable again (after a failure); rejects otherwise. */
  ping(): Promise<void>;
  /** Events in chain order. */
  read(filter?: AuditFilter): AsyncIterable<StoredEvent>;
  /** The newest `limit` matching events, in chain order; sinks that can query newest-first. */
  newest?(filter: AuditFilter, limit: number): Promise<StoredEvent[]>;
  close(): Promise<void>;
}

/** Applies a filter in memory (sinks that cannot query do it this way). */
export function matches(e: StoredEvent, f: AuditFilter): boolean {
  if (f.afterSeq !== undefined && e.seq <= f.afterSeq) return false;
  if (f.user !== undefined && e.principal?.sub !== f.user) return false;
  if (f.server !== undefined && e.server !== f.server) return false;
  if (f.tool !== undefined && e.tool !== f.tool) return false;
  if (f.status !== undefined && e.status !== f.status) return false;
  if (f.event !== undefined && e.event !== f.event) return false;
  if (f.since !== undefined && e.ts < f.since) return false;
  if (f.until !== undefined && e.ts > f.until) return false;
  return true;
}

/** A table row of the SQLite and Postgres sinks: the stored event (`body`) and query columns. */
export interface AuditRow {
  seq: number | string;
  sub: string | null;
  server: string | null;
  tool: string | null;
  status: string | null;
  event: string;
  ts: string;
  hash: string;
  body: string;
}

/** A table row as the SQLite and Postgres sinks insert it, in `ROW_COLUMNS` order. */
export type AuditRowValues = [
  seq: number,
  id: string,
  ts: string,
  event: string,
  sub: string | null,
  server: string | null,
  tool: string | null,
  status: string | null,
  hash: string,
  body: string,
];

export const ROW_COLUMNS = "seq, id, ts, event, sub, server, tool, status, hash, body";

/** The row of a stored event whose text is `body`, bound by position (named parameters cost more). */
export function rowOf(e: StoredEvent, body: string): AuditRowValues {
  return [
    e.seq,
    e.id,
    e.ts,
    e.event,
    columnText(e.principal?.sub) ?? null,
    columnText(e.server) ?? null,
    columnText(e.tool) ?? null,
    columnText(e.status) ?? null,
    e.hash,
    body,
  ];
}

/**
 * A query column's text as the database keeps it: a lone surrogate (UTF-8 cannot hold one, so the
 * driver writes U+FFFD) and NUL (Postgres text refuses it: the INSERT would fail and every call be
 * refused as unauditable) both as U+FFFD. The body keeps the exact value (JSON escapes both);
 * columns are compared with the body through this same mapping, and filters are mapped alike.
 */
export function columnText(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const whole = (value as string & { toWellFormed(): string }).toWellFormed();
  return whole.includes("\u0000") ? whole.replaceAll("\u0000", "\uFFFD") : whole;
}

/**
 * The stored event is its body. A query column that disagrees with it (edited to change what
 * `audit query` shows) marks the event, so its MAC no longer matches and verify reports it.
 */
export function fromRow(r: AuditRow): StoredEvent {
  const body = JSON.parse(r.body) as StoredEvent;
  const same =
    body.seq === Number(r.seq) &&
    body.hash === r.hash &&
    body.event === r.event &&
    body.ts === r.ts &&
    sameColumn(body.principal?.sub, r.sub) &&
    sameColumn(body.server, r.server) &&
    sameColumn(body.tool, r.tool) &&
    sameColumn(body.status, r.status);
  return same ? body : ({ ...body, _column_mismatch: true } as StoredEvent);
}

/** A column as written now (columnText), or as rows written before NUL was mapped hold it. */
function sameColumn(value: string | undefined, column: string | null): boolean {
  return column === (columnText(value) ?? null) || column === (value ?? null);
}
