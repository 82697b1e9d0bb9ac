import type { StoredEvent } from "./event.js";
import type { AuditFilter, AuditSink } from "./sinks/sink.js";

/** The newest `limit` matching events, oldest first: by query where the sink can, else by a scan. */
export async function newestEvents(
  sink: AuditSink,
  filter: AuditFilter,
  limit: number,
): Promise<StoredEvent[]> {
  if (sink.newest) return sink.newest(filter, limit);
  const out: StoredEvent[] = [];
  for await (const e of sink.read(filter)) {
    out.push(e);
    if (out.length > limit) out.shift();
  }
  return out;
}

/** The first `limit` matching events after `afterSeq`, oldest first (following a log). */
export async function eventsAfter(
  sink: AuditSink,
  filter: AuditFilter,
  afterSeq: number,
  limit: number,
): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  for await (const e of sink.read({ ...filter, afterSeq })) {
    out.push(e);
    // Leaving the loop closes the reader (the SQLite iterator, the Postgres paging).
    if (out.length >= limit) break;
  }
  return out;
}
