/**
 * The hash chain: each stored event's `hash` is an HMAC-SHA256, under a key kept apart from the
 * log, of the event's canonical JSON (RFC 8785, `canonicalize`) including its `seq` and the
 * previous event's hash. Editing, deleting or reordering an event breaks the chain from there on;
 * without the key nobody can recompute it.
 */
import { createHmac } from "node:crypto";
import * as jcs from "canonicalize";
import { loadKeyFile } from "../state/key-file.js";
import { canonicalData, canonicalHalves, joinMembers } from "./canonical.js";
import type { AuditEvent, StoredEvent } from "./event.js";

/** The `prev_hash` of a chain's first event. */
export const GENESIS = "0".repeat(64);

export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

export const EMPTY_HEAD: ChainHead = Object.freeze({ seq: 0, hash: GENESIS });

// A CommonJS module whose types declare an ES default export: its function, typed here.
const canonicalize = (jcs as unknown as { default: (value: unknown) => string | undefined }).default;

/** RFC 8785 text of `value`: plain data written here (canonical.ts), anything else by the package. */
export function canonical(value: unknown): string {
  const text = canonicalData(value) ?? canonicalize(value);
  if (text === undefined) throw new Error("audit event cannot be serialized");
  return text;
}

const mac = (key: Uint8Array, text: string) => createHmac("sha256", key).update(text).digest("hex");

/** The MAC of a stored event: everything but its own `hash`. */
export function eventMac(key: Uint8Array, event: Omit<StoredEvent, "hash">): string {
  return mac(key, canonical(event));
}

/** A stored event, and its RFC 8785 text with `hash`, or JSON.stringify's when it is not plain data. */
export interface ChainedEvent {
  readonly stored: StoredEvent;
  /** What the database sinks keep as `body`: read back (JSON.parse), the same event. */
  readonly text: string;
}

/** Places `event` after `head`: the stored form, and the new head. */
export function chain(key: Uint8Array, head: ChainHead, event: AuditEvent): StoredEvent {
  return link(key, head, event).stored;
}

/**
 * `chain`, with the stored event's text. The event is serialised once: the MAC's text is the
 * canonical halves before and after `hash`, and the body is the same halves with `hash` between.
 */
export function link(key: Uint8Array, head: ChainHead, event: AuditEvent): ChainedEvent {
  const linked = copyOf(event);
  linked.seq = head.seq + 1;
  linked.prev_hash = head.hash;
  const halves = canonicalHalves(linked, "hash");
  if (halves === undefined) {
    // Not plain data, or it has a `hash` of its own (which the MAC covers, as it always has).
    linked.hash = eventMac(key, linked as unknown as Omit<StoredEvent, "hash">);
    return { stored: linked as unknown as StoredEvent, text: JSON.stringify(linked) };
  }
  const [before, after] = halves;
  // `hash` joins the stored object last, outside what its MAC covers.
  const hash = mac(key, joinMembers(before, "", after));
  linked.hash = hash;
  return {
    stored: linked as unknown as StoredEvent,
    text: joinMembers(before, `"hash":"${hash}"`, after),
  };
}

/**
 * A shallow copy with the members of `{ ...value }`, in the same order: Object.assign copies an
 * event of sixteen members several times faster than a spread does (bench/README.md, the hot
 * path). A `__proto__` member (an event read back from a file) would set the copy's prototype
 * there instead of being copied: such a value is spread.
 */
function copyOf(value: object): Record<string, unknown> {
  return (Object.hasOwn(value, "__proto__") ? { ...value } : Object.assign({}, value)) as Record<
    string,
    unknown
  >;
}

/** Places a batch after `head`, in order: the stored events (non-empty batch: the last is the new head). */
export function chainAll(key: Uint8Array, head: ChainHead, events: readonly AuditEvent[]): StoredEvent[] {
  const out: StoredEvent[] = [];
  let at = head;
  for (const e of events) {
    const s = chain(key, at, e);
    out.push(s);
    at = s;
  }
  return out;
}

/** `chainAll` with each stored event's text (`link`), for the sinks that keep it. */
export function linkAll(key: Uint8Array, head: ChainHead, events: readonly AuditEvent[]): ChainedEvent[] {
  const out: ChainedEvent[] = [];
  let at = head;
  for (const e of events) {
    const c = link(key, at, e);
    out.push(c);
    at = c.stored;
  }
  return out;
}

/** Events as JSON lines, as the JSONL and stdout sinks write them. */
export const jsonLines = (events: readonly StoredEvent[]) =>
  events.map((s) => `${JSON.stringify(s)}\n`).join("");

/** A stored event's fields as an object with `hash` removed, for recomputing its MAC. */
export function withoutHash(event: StoredEvent): Omit<StoredEvent, "hash"> {
  const { hash: _hash, ...rest } = event;
  return rest;
}

const KEY_BYTES = 32;

/**
 * The chain key: read from `file`, or created there (owner-only) the first time. It lives beside
 * the state store, not in it, so someone who can rewrite the log cannot also re-sign it.
 */
export function loadAuditKey(file: string, create = true): Uint8Array {
  return loadKeyFile(file, (text) => auditKeyOf(text, file), { create, bytes: KEY_BYTES });
}

function auditKeyOf(text: string, file: string): Uint8Array {
  const key = Buffer.from(text.trim(), "base64url");
  if (key.length < KEY_BYTES) throw new Error(`audit key in ${file} is shorter than ${KEY_BYTES} bytes`);
  return key;
}
