// The audit log: filters, the last `limit` matching events, and a live tail that asks every
// second for what came after the newest event shown (after_seq).
import { useEffect, useRef, useState } from "preact/hooks";
import { api, messageOf, type AuditEvent } from "../api";
import { AUDIT_EVENTS } from "../audit-events";
import { ErrorNote, when } from "../util";

const KEEP = 1000;

interface Filters {
  user: string;
  server: string;
  tool: string;
  status: string;
  event: string;
  since: string;
  until: string;
  limit: string;
}

const EMPTY: Filters = {
  user: "",
  server: "",
  tool: "",
  status: "",
  event: "",
  since: "",
  until: "",
  limit: "100",
};

function toQuery(f: Filters): Record<string, string | undefined> {
  const iso = (v: string) => (v === "" ? undefined : new Date(v).toISOString());
  return { ...f, since: iso(f.since), until: iso(f.until) };
}

export function Audit() {
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [events, setEvents] = useState<AuditEvent[]>([]);
  const [sink, setSink] = useState("");
  const [error, setError] = useState("");
  const [tail, setTail] = useState(false);
  const [open, setOpen] = useState<number | null>(null);
  const lastSeq = useRef(0);

  useEffect(() => {
    let live = true;
    api.audit(toQuery(filters)).then(
      (page) => {
        if (!live) return;
        setEvents(page.events.slice().reverse());
        setSink(page.sink);
        lastSeq.current = page.last_seq;
        setError("");
      },
      (err: unknown) => live && setError(messageOf(err)),
    );
    return () => {
      live = false;
    };
  }, [filters]);

  useEffect(() => {
    if (!tail) return;
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    // One request in flight at a time; the next is asked a second after the last answer.
    const poll = async () => {
      try {
        const page = await api.audit({ ...toQuery(filters), until: undefined, after_seq: lastSeq.current });
        if (!live) return;
        if (page.events.length > 0) {
          setEvents((old) => {
            // The first load may have answered after a tail poll: never show an event twice.
            const newest = old[0]?.seq ?? 0;
            const fresh = page.events.filter((e) => e.seq > newest).reverse();
            return [...fresh, ...old].slice(0, KEEP);
          });
        }
        lastSeq.current = Math.max(lastSeq.current, page.last_seq);
        setError("");
      } catch (err) {
        if (live) setError(messageOf(err));
      }
      if (live) timer = setTimeout(() => void poll(), 1000);
    };
    timer = setTimeout(() => void poll(), 1000);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [tail, filters]);

  const field = (name: keyof Filters, label: string, type: "text" | "datetime-local" = "text") => {
    const props = {
      id: `audit-${name}`,
      value: draft[name],
      onInput: (e: { currentTarget: HTMLInputElement }) =>
        setDraft({ ...draft, [name]: e.currentTarget.value }),
    };
    return (
      <div class="field">
        <label for={props.id}>{label}</label>
        {type === "text" ? <input type="text" {...props} /> : <input type="datetime-local" {...props} />}
      </div>
    );
  };

  return (
    <>
      <form
        class="filters"
        aria-label="Audit filters"
        onSubmit={(e) => {
          e.preventDefault();
          setFilters({ ...draft });
        }}
      >
        {field("user", "User")}
        {field("server", "Server")}
        {field("tool", "Tool")}
        {field("status", "Status")}
        <div class="field">
          <label for="audit-event">Event</label>
          <select
            id="audit-event"
            value={draft.event}
            onChange={(e) => setDraft({ ...draft, event: e.currentTarget.value })}
          >
            <option value="">any</option>
            {AUDIT_EVENTS.map((ev) => (
              <option key={ev} value={ev}>
                {ev}
              </option>
            ))}
          </select>
        </div>
        {field("since", "Since", "datetime-local")}
        {field("until", "Until", "datetime-local")}
        <div class="field">
          <label for="audit-limit">Limit</label>
          <input
            id="audit-limit"
            type="number"
            min={1}
            max={500}
            value={draft.limit}
            onInput={(e) => setDraft({ ...draft, limit: e.currentTarget.value })}
          />
        </div>
        <div class="field-actions">
          <button type="submit" class="primary">
            Apply filters
          </button>
          <button
            type="button"
            onClick={() => {
              setDraft(EMPTY);
              setFilters(EMPTY);
            }}
          >
            Clear
          </button>
        </div>
      </form>
      <div class="toolbar">
        <label class="switch">
          <input type="checkbox" checked={tail} onChange={(e) => setTail(e.currentTarget.checked)} />
          Live tail (every second)
        </label>
        <span class="muted">
          {events.length} events{sink !== "" ? `, from the ${sink} sink` : ""}, newest first
        </span>
      </div>
      <ErrorNote error={error} />
      <table class="audit">
        <caption class="visually-hidden">Audit events, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Seq</th>
            <th scope="col">Time</th>
            <th scope="col">Event</th>
            <th scope="col">Status</th>
            <th scope="col">User</th>
            <th scope="col">Server</th>
            <th scope="col">Tool or target</th>
            <th scope="col">Reason</th>
            <th scope="col">
              <span class="visually-hidden">Details</span>
            </th>
          </tr>
        </thead>
        <tbody aria-live={tail ? "polite" : "off"} aria-relevant="additions">
          {events.map((e) => (
            <EventRow
              key={e.seq}
              event={e}
              open={open === e.seq}
              toggle={() => setOpen(open === e.seq ? null : e.seq)}
            />
          ))}
        </tbody>
      </table>
    </>
  );
}

/**
 * What an event is about: the tool or method of a call; for an admin change, what it changed (a
 * kill's scope and target, an approved definition, a key or grant id).
 */
function target(e: AuditEvent): string {
  const d = e.detail ?? {};
  const text = (v: unknown) => (typeof v === "string" ? v : undefined);
  if (e.event === "admin") {
    const scope = text(d.scope);
    if (scope === "all") return "the whole gateway";
    if (scope !== undefined) return `${scope} ${text(d.target) ?? ""}`;
    const tool = text(d.tool);
    if (tool !== undefined) return `${text(d.kind) ?? "tool"} ${text(d.server) ?? e.server ?? ""}/${tool}`;
    const id = text(d.name) ?? text(d.id);
    if (id !== undefined) return id;
  }
  return e.tool ?? e.method ?? "";
}

function EventRow({ event: e, open, toggle }: { event: AuditEvent; open: boolean; toggle(): void }) {
  return (
    <>
      <tr class={`event-${e.event} status-${e.status ?? "none"}`}>
        <td class="num">{e.seq}</td>
        <td>{when(e.ts)}</td>
        <td>{e.event}</td>
        <td>{e.status ?? ""}</td>
        <td>{e.principal?.sub ?? ""}</td>
        <td>{e.server ?? ""}</td>
        <td>{target(e)}</td>
        <td>
          {e.reason ?? ""}
          {typeof e.detail?.why === "string" && <q class="why">{e.detail.why}</q>}
        </td>
        <td>
          <button type="button" class="small" aria-expanded={open} onClick={toggle}>
            {open ? "Hide" : "Details"}
            <span class="visually-hidden"> of event {e.seq}</span>
          </button>
        </td>
      </tr>
      {open && (
        <tr class="event-detail">
          <td colSpan={9}>
            <pre>{JSON.stringify(e, null, 2)}</pre>
          </td>
        </tr>
      )}
    </>
  );
}
