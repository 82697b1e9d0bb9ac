/**
 * The audit log, opened from config: each configured sink, the chain key, checkpoints and spool.
 * Design notes: docs/audit.md.
 */
import { userInfo } from "node:os";
import type { Config } from "../config/types.js";
import type { Logger } from "../log.js";
import type { StateStore } from "../state/store.js";
import { loadAuditKey } from "./chain.js";
import { openCheckpointCopies } from "./checkpoint-copies.js";
import { auditEvent, type AuditPrincipal } from "./event.js";
import { AuditLog } from "./log.js";
import { AuditMarks } from "./marks.js";
import { JsonlSink } from "./sinks/jsonl.js";
import { PostgresSink } from "./sinks/postgres.js";
import { PostgresState } from "../state/postgres.js";
import type { AuditSink } from "./sinks/sink.js";
import { SqliteSink } from "./sinks/sqlite.js";
import { StdoutSink } from "./sinks/stdout.js";

export { AuditLog, AuditUnavailable } from "./log.js";
export { auditEvent, type AuditEvent, type StoredEvent } from "./event.js";
export type { AuditFilter, AuditSink } from "./sinks/sink.js";

/** With `marks`, the SQLite sink moves its high-water mark inside its own transaction. */
export function openSinks(
  config: Config,
  state: StateStore,
  key: Uint8Array,
  log?: Logger,
  marks?: AuditMarks,
): AuditSink[] {
  return config.audit.sinks.map((s) => {
    switch (s.kind) {
      case "sqlite":
        return new SqliteSink(state.db, key, marks);
      case "stdout":
        return new StdoutSink(key);
      case "jsonl":
        return new JsonlSink(s.path, key, s.maxBytes, s.keep, log);
      case "postgres":
        // Its own connections, and the shared schema's steps (the audit table is one of them).
        return new PostgresSink(new PostgresState(s.url, log), key);
    }
  });
}

/** The configured audit log; `withoutStdout` for a CLI command (stdout is the gateway's shipper's). */
export function openAuditLog(
  config: Config,
  state: StateStore,
  log: Logger,
  { withoutStdout = false }: { withoutStdout?: boolean } = {},
): AuditLog {
  const key = loadAuditKey(config.audit.keyFile);
  const marks = new AuditMarks(state.db, key);
  const sinks = openSinks(config, state, key, log, marks).filter((s) => !withoutStdout || s.id !== "stdout");
  return new AuditLog(sinks, {
    key,
    checkpointFile: config.audit.checkpointFile,
    checkpointEvery: config.audit.checkpointEvery,
    checkpointIntervalMs: config.audit.checkpointIntervalMs,
    spool: config.audit.spool,
    log: log.child({ component: "audit" }),
    marks,
    checkpointCopies: openCheckpointCopies(config.audit.checkpointCopies, log),
  });
}

/**
 * The audit log of a CLI command that changes state (API keys; later kill, revive, approve): every
 * configured sink but stdout, which belongs to the gateway's log shipper. `run` is refused unless
 * every sink answers first, and its action is recorded (with `who`, the operating-system user)
 * before the command reports success.
 */
export async function withAdminAudit<T>(
  config: Config,
  state: StateStore,
  log: Logger,
  action: string,
  run: () => AuditedChange<T> | Promise<AuditedChange<T>>,
  event: "admin" | "supply_chain" = "admin",
): Promise<T> {
  const audit = openAuditLog(config, state, log, { withoutStdout: true });
  try {
    return await auditedAction(audit, { sub: operator(), auth: "cli" }, action, run, event);
  } finally {
    await audit.close();
  }
}

/** What an audited change returns: its result and what its event records. */
export interface AuditedChange<T> {
  result: T;
  detail: Record<string, unknown>;
  status?: string;
  server?: string;
}

/**
 * A change made by `who`, recorded in `audit` (the CLI's own log, or the running gateway's for
 * the admin API): refused unless every sink answers first, and recorded before it is reported.
 */
export async function auditedAction<T>(
  audit: AuditLog,
  who: AuditPrincipal,
  action: string,
  run: () => AuditedChange<T> | Promise<AuditedChange<T>>,
  event: "admin" | "supply_chain" = "admin",
): Promise<T> {
  await audit.ready();
  const { result, detail, status, server } = await run();
  await audit.record(
    auditEvent({
      event,
      ...(server === undefined ? {} : { server }),
      principal: who,
      status: status ?? "ok",
      reason: action,
      detail,
    }),
  );
  return result;
}

/** Who runs a CLI command that changes state: the operating-system user, as the audit log names them. */
export function operator(): string {
  try {
    return `${userInfo().username}@cli`;
  } catch {
    return `uid:${process.getuid?.() ?? "?"}@cli`;
  }
}
