import { randomUUID } from "node:crypto";

/** What an event records about the caller; never a token or a secret. */
export interface AuditPrincipal {
  readonly sub: string;
  readonly client_id?: string;
  /** How the caller authenticated: jwt, api_key, anonymous, introspection, cli. */
  readonly auth?: string;
  /** An anonymous caller's source address (IPv6: its /64), which tells anonymous callers apart. */
  readonly source?: string;
}

export type AuditEventType =
  | "tool_call"
  | "prompt_get"
  | "resource_read"
  | "call"
  | "denied"
  | "redacted"
  | "injection"
  | "admin"
  | "auth"
  | "supply_chain"
  /** A server→client request (sampling, elicitation, roots) relayed or refused: docs/data-protection.md. */
  | "server_request"
  /** An upstream connection died under its callers: `principal` is the caller it is attributed to. */
  | "upstream_crash"
  /** The audit log's own housekeeping, in a sink's chain: `reason: "rotated"` (JSONL rotation). */
  | "audit";

/**
 * One audit event as the gateway produces it. Result content is never recorded: only its size and
 * SHA-256. Arguments are recorded redacted and cut to a size. Fields left undefined are omitted.
 */
export interface AuditEvent {
  readonly id: string;
  /** UTC ISO 8601, when the outcome was known. */
  readonly ts: string;
  readonly event: AuditEventType;
  readonly principal?: AuditPrincipal;
  readonly session?: string;
  readonly request_id?: string | number;
  readonly server?: string;
  /** The tool or prompt name, or the resource URI. */
  readonly tool?: string;
  readonly method?: string;
  /** Redacted arguments as JSON text, cut to `audit.max_args_bytes`. */
  readonly args?: string;
  readonly status?: string;
  readonly reason?: string;
  readonly started_at?: string;
  readonly duration_ms?: number;
  readonly result_bytes?: number;
  readonly result_sha256?: string;
  readonly trace_id?: string;
  /**
   * `redacted`: counts by type. `injection`: signal kinds. Both: `origin` and `channel` when the
   * server sent the text on its own (SERVER_ORIGIN). `admin`/`auth`: the action's details.
   * `supply_chain`: what was refused (an integrity mismatch: `file`, `expected`, `actual`).
   */
  readonly detail?: Readonly<Record<string, unknown>>;
}

/**
 * `detail.origin` of a `redacted` or `injection` event about what a server sent on its own (its
 * instructions, serverInfo, notifications, requests to the client, errors outside a call), with
 * `detail.channel` naming which: it says something about the server, nothing about the user whose
 * session received it (kill rules count it only toward server and tool rules). Events without an
 * origin are about the caller's own call: its arguments, the result or error answering it, or the
 * client's answer to a server's request.
 */
export const SERVER_ORIGIN = "server";

export function fromServer(e: AuditEvent): boolean {
  return e.detail?.origin === SERVER_ORIGIN;
}

/** An event as a sink stores it: its place in that sink's hash chain. */
export interface StoredEvent extends AuditEvent {
  readonly seq: number;
  readonly prev_hash: string;
  readonly hash: string;
}

/** A new event with its id and timestamp; undefined fields dropped so hashing sees one form. */
export function auditEvent(fields: Omit<AuditEvent, "id" | "ts"> & { ts?: string }): AuditEvent {
  const out: Record<string, unknown> = { id: randomUUID(), ts: fields.ts ?? new Date().toISOString() };
  // for…in rather than Object.entries: no array per member, on every call. `fields` is a literal,
  // so it has no inherited members to walk.
  for (const k in fields) {
    const v = fields[k as keyof typeof fields];
    if (v !== undefined && k !== "ts") out[k] = v;
  }
  return out as unknown as AuditEvent;
}

/** What a rotation record (`event: "audit"`, `reason: "rotated"`) states in its `detail`. */
export interface Rotation {
  /** How many rotations the log has had, this one included. */
  readonly rotation: number;
  /** How many rotated files (`path.1` …) exist after it. */
  readonly rotated_files: number;
  /** The oldest seq still kept: older events were in files that `keep` removed. */
  readonly retained_from: number;
}

/** The rotation a stored event records, when it is a rotation record. */
export function rotationOf(e: StoredEvent): Rotation | undefined {
  if (e.event !== "audit" || e.reason !== "rotated" || typeof e.detail !== "object" || e.detail === null) {
    return undefined;
  }
  const { rotation, rotated_files, retained_from } = e.detail as Record<string, unknown>;
  const whole = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 1;
  if (!whole(rotation) || !whole(rotated_files) || !whole(retained_from)) return undefined;
  return { rotation, rotated_files, retained_from };
}
