import { resolve } from "node:path";
import { loadAuditKey } from "../audit/chain.js";
import { openCheckpointCopies } from "../audit/checkpoint-copies.js";
import { readCheckpoints, type CheckpointSource } from "../audit/checkpoints.js";
import { terminalJson, terminalText } from "../audit/display.js";
import { formatTable, Table } from "./table.js";
import type { StoredEvent } from "../audit/event.js";
import { openSinks, type AuditFilter, type AuditSink } from "../audit/index.js";
import { AuditMarks } from "../audit/marks.js";
import { JsonlSink } from "../audit/sinks/jsonl.js";
import { SqliteSink } from "../audit/sinks/sqlite.js";
import { verifyEvents, type VerifyReport } from "../audit/verify.js";
import { newestEvents } from "../audit/query.js";
import { durationMs } from "../config/duration.js";
import type { Config } from "../config/types.js";
import { StateStore } from "../state/store.js";
import { loadOrExit } from "./run.js";

export interface AuditOptions {
  config?: string;
  sink?: string;
  user?: string;
  server?: string;
  tool?: string;
  status?: string;
  event?: string;
  since?: string;
  until?: string;
  json?: boolean;
  limit?: string;
  follow?: boolean;
  format?: string;
  /** verify: checkpoint files kept elsewhere (copies shipped off the machine). */
  checkpoints?: string[];
}

interface Opened {
  readonly config: Config;
  readonly state: StateStore;
  readonly sinks: AuditSink[];
  readonly key: Uint8Array;
  close(): Promise<void>;
}

async function openReadable(option: string | undefined): Promise<Opened> {
  const { config } = await loadOrExit(option);
  const state = StateStore.open(config.state.sqlite);
  // Reading never creates a key: a missing key means there is no log to check it against.
  const key = loadAuditKey(config.audit.keyFile, false);
  const sinks = openSinks(config, state, key).filter((s) => s.readable);
  return {
    config,
    state,
    sinks,
    key,
    close: async () => {
      await Promise.all(sinks.map((s) => s.close()));
      state.close();
    },
  };
}

/** `--sink sqlite|postgres|jsonl` (or a full id such as `jsonl:audit.jsonl`); default: the first readable sink. */
function pick(sinks: readonly AuditSink[], wanted: string | undefined): AuditSink {
  const sink =
    wanted === undefined ? sinks[0] : sinks.find((s) => s.id === wanted || s.id.split(":")[0] === wanted);
  if (!sink) {
    const ids = sinks.map((s) => s.id).join(", ") || "none";
    throw new UsageError(
      wanted === undefined
        ? "no readable audit sink is configured"
        : `no sink "${wanted}" (configured: ${ids})`,
    );
  }
  return sink;
}

class UsageError extends Error {}

/** An ISO 8601 time, or a duration back from now (`15m`, `24h`, `7d`). */
export function parseTime(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  if (/^\d+(ms|s|m|h|d)$/.test(value)) return new Date(Date.now() - durationMs(value)).toISOString();
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new UsageError(`${flag}: not a time or a duration: ${value}`);
  return new Date(t).toISOString();
}

function filterOf(o: AuditOptions): AuditFilter {
  return {
    user: o.user,
    server: o.server,
    tool: o.tool,
    status: o.status,
    event: o.event,
    since: parseTime(o.since, "--since"),
    until: parseTime(o.until, "--until"),
  };
}

async function run(o: AuditOptions, fn: (opened: Opened) => Promise<number>): Promise<void> {
  let opened: Opened | undefined;
  let code: number;
  try {
    opened = await openReadable(o.config);
    code = await fn(opened);
  } catch (err) {
    if (!(err instanceof UsageError) && (err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    process.stderr.write(`mcp-warden audit: ${(err as Error).message}\n`);
    code = 2;
  } finally {
    await opened?.close();
  }
  process.exitCode = code;
}

const COLUMNS = ["seq", "ts", "event", "status", "reason", "user", "server", "tool", "ms"] as const;

function cells(e: StoredEvent): string[] {
  return [
    String(e.seq),
    e.ts,
    e.event,
    e.status ?? "",
    e.reason ?? "",
    e.principal?.sub ?? "",
    e.server ?? "",
    e.tool ?? "",
    e.duration_ms === undefined ? "" : String(e.duration_ms),
  ];
}

function limitOf(o: AuditOptions, fallback: number): number {
  const n = o.limit === undefined ? fallback : Number(o.limit);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--limit: not a positive integer: ${o.limit}`);
  return n;
}

export function auditQuery(o: AuditOptions): Promise<void> {
  return run(o, async ({ sinks }) => {
    const events = await newestEvents(pick(sinks, o.sink), filterOf(o), limitOf(o, 100));
    if (o.json) for (const e of events) process.stdout.write(`${terminalJson(e)}\n`);
    else process.stdout.write(formatTable(COLUMNS, events.map(cells)));
    return 0;
  });
}

export function auditTail(o: AuditOptions): Promise<void> {
  return run(o, async ({ sinks }) => {
    const sink = pick(sinks, o.sink);
    const filter = filterOf(o);
    const first = await newestEvents(sink, filter, limitOf(o, 10));
    // Followed events keep the first ones' columns: one header, rows that line up under it.
    const table = new Table(COLUMNS, first.map(cells));
    if (!o.json) process.stdout.write(table.header());
    const print = (e: StoredEvent) =>
      process.stdout.write(o.json ? `${terminalJson(e)}\n` : table.line(cells(e)));
    first.forEach(print);
    if (!o.follow) return 0;
    let after = first[first.length - 1]?.seq ?? 0;
    if (first.length === 0) for await (const e of sink.read({})) after = e.seq;
    for (;;) {
      await new Promise((r) => setTimeout(r, 500));
      for await (const e of sink.read({ ...filter, afterSeq: after })) {
        print(e);
        after = e.seq;
      }
    }
  });
}

const CSV_FIELDS = [
  "seq",
  "id",
  "ts",
  "event",
  "status",
  "reason",
  "sub",
  "client_id",
  "auth",
  "session",
  "request_id",
  "server",
  "tool",
  "method",
  "args",
  "started_at",
  "duration_ms",
  "result_bytes",
  "result_sha256",
  "trace_id",
  "detail",
  "prev_hash",
  "hash",
] as const;

function csvCell(v: unknown): string {
  if (v === undefined || v === null) return "";
  let s = typeof v === "string" ? v : JSON.stringify(v);
  // A cell a spreadsheet would run as a formula starts with a quote instead (CSV injection).
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function auditExport(o: AuditOptions): Promise<void> {
  return run(o, async ({ sinks }) => {
    const format = o.format ?? "jsonl";
    if (format !== "jsonl" && format !== "csv") throw new UsageError(`--format: jsonl or csv, not ${format}`);
    const sink = pick(sinks, o.sink);
    if (format === "csv") process.stdout.write(`${CSV_FIELDS.join(",")}\n`);
    for await (const e of sink.read(filterOf(o))) {
      if (format === "jsonl") {
        process.stdout.write(`${JSON.stringify(e)}\n`);
        continue;
      }
      const flat: Record<string, unknown> = {
        ...e,
        sub: e.principal?.sub,
        client_id: e.principal?.client_id,
        auth: e.principal?.auth,
      };
      process.stdout.write(`${CSV_FIELDS.map((f) => csvCell(flat[f])).join(",")}\n`);
    }
    return 0;
  });
}

export function auditVerify(o: AuditOptions): Promise<void> {
  return run(o, async ({ config, state, sinks, key }) => {
    const chosen = o.sink === undefined ? sinks : [pick(sinks, o.sink)];
    if (chosen.length === 0) throw new UsageError("no readable audit sink is configured");
    const local = readCheckpoints(config.audit.checkpointFile, key);
    if (local.state === "unreadable") throw new Error(`${local.name}: ${local.error}`);
    const copies = await readCopies(config, key, o.checkpoints ?? []);
    const marks = new AuditMarks(state.db, key);
    const { checkpointEvery, checkpointIntervalMs } = config.audit;
    const cadence = { checkpointEvery, checkpointIntervalMs };
    let failed = false;
    for (const sink of chosen) {
      const report = await verifyEvents(sink.id, sink.read(), key, local.valid, {
        checkpointFile: local,
        copies,
        marks: marks.read(sink.id),
        ...(sink instanceof JsonlSink ? { rotatedFiles: (n: number) => sink.rotatedFileProblems(n) } : {}),
        // Postgres is written by every instance: this machine's checkpoint file holds only its share.
        ...(sink instanceof JsonlSink || sink instanceof SqliteSink ? { writtenHere: cadence } : {}),
      });
      failed ||= !report.ok;
      process.stdout.write(o.json ? `${JSON.stringify(report)}\n` : describe(report));
    }
    return failed ? 1 : 0;
  });
}

/** Every configured checkpoint copy, and each `--checkpoints` file, as verify reads them. */
async function readCopies(
  config: Config,
  key: Uint8Array,
  files: readonly string[],
): Promise<CheckpointSource[]> {
  const configured = openCheckpointCopies(config.audit.checkpointCopies);
  try {
    const read = await Promise.all(configured.map((c) => c.read(key)));
    return [...read, ...files.map((f) => readCheckpoints(resolve(f), key, true))];
  } finally {
    await Promise.all(configured.map((c) => c.close().catch(() => undefined)));
  }
}

function describe(r: VerifyReport): string {
  const range = r.events === 0 ? "no events" : `${r.events} events, seq ${r.firstSeq}–${r.lastSeq}`;
  const copies = r.external > 0 ? `, ${r.external} in copies` : "";
  if (r.ok) return `${r.sink}: ok (${range}, ${r.checkpoints} checkpoints${copies})\n`;
  return r.problems
    .map((p, i) => {
      const where = [
        p.position !== undefined ? `position ${p.position}` : "",
        p.seq !== undefined ? `seq ${p.seq}` : "",
        p.id ? `id ${p.id}` : "",
      ]
        .filter(Boolean)
        .join(", ");
      // An id or a copy's error message is not the gateway's text: nothing in it reaches the terminal raw.
      const line = terminalText(`${p.kind}${where ? ` at ${where}` : ""}: ${p.detail}`);
      return i === 0 ? `${r.sink}: FAILED: ${line} (${range})\n` : `${r.sink}:   also ${line}\n`;
    })
    .join("");
}
