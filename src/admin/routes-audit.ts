/** The audit log, read back: filters, the newest events, or those after a sequence (live tail). */
import { eventsAfter, newestEvents } from "../audit/query.js";
import type { AuditFilter } from "../audit/sinks/sink.js";
import type { AdminHandler } from "./api.js";
import { AdminRefusal } from "./http.js";

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 500;
const TEXT_FILTERS = ["user", "server", "tool", "status", "event"] as const;

function filterOf(query: URLSearchParams): AuditFilter {
  const filter: Record<string, string> = {};
  for (const name of TEXT_FILTERS) {
    const v = query.get(name);
    if (v === null || v === "") continue;
    if (v.length > 300) throw new AdminRefusal(400, `${name}: at most 300 characters`);
    filter[name] = v;
  }
  for (const name of ["since", "until"] as const) {
    const v = query.get(name);
    if (v === null || v === "") continue;
    const t = Date.parse(v);
    if (v.length > 40 || Number.isNaN(t)) throw new AdminRefusal(400, `${name}: an ISO 8601 time`);
    // Events store UTC ISO strings, compared as text: the bound is normalised the same way.
    filter[name] = new Date(t).toISOString();
  }
  return filter;
}

function integer(query: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const v = query.get(name);
  if (v === null || v === "") return undefined;
  const n = Number(v);
  if (!/^\d{1,16}$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max)
    throw new AdminRefusal(400, `${name}: an integer from ${min} to ${max}`);
  return n;
}

const query: AdminHandler = async (ctx, call) => {
  const filter = filterOf(call.query);
  const limit = integer(call.query, "limit", 1, MAX_LIMIT) ?? DEFAULT_LIMIT;
  const afterSeq = integer(call.query, "after_seq", 0, Number.MAX_SAFE_INTEGER);
  const sink = ctx.gateway.audit.readableSink();
  if (!sink) throw new AdminRefusal(503, "no readable audit sink");
  const events =
    afterSeq === undefined
      ? await newestEvents(sink, filter, limit)
      : await eventsAfter(sink, filter, afterSeq, limit);
  // With nothing new, the tail goes on from the head of the log (or where it was): never from 0,
  // which would replay the whole log to a console that asked for what comes next.
  const last = events[events.length - 1]?.seq;
  const lastSeq = last ?? Math.max(afterSeq ?? 0, (await newestEvents(sink, {}, 1))[0]?.seq ?? 0);
  return { body: { sink: sink.id, events, last_seq: lastSeq } };
};

export const auditRoutes: ReadonlyArray<[string, AdminHandler]> = [["GET audit", query]];
