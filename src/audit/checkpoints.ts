/**
 * Signed checkpoints: now and then the head of each sink's chain (seq and hash) is appended to a
 * file apart from the log, with an HMAC under the audit key, and to every configured copy
 * (checkpoint-copies.ts). A log cut short after a checkpoint no longer reaches that checkpoint's
 * seq, which verify reports as truncation; the chain alone cannot show a missing tail.
 */
import { createHmac } from "node:crypto";
import { appendFileSync, mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { canonical } from "./chain.js";

export interface Checkpoint {
  readonly sink: string;
  readonly seq: number;
  readonly hash: string;
  readonly ts: string;
  /**
   * The oldest seq the sink still held when this was written, when retention (JSONL rotation)
   * had removed older ones: checkpoints below it are accounted for. Absent: not known here.
   */
  readonly first?: number;
  readonly mac: string;
}

export type CheckpointHead = Pick<Checkpoint, "sink" | "seq" | "hash" | "first">;

function checkpointMac(key: Uint8Array, c: Omit<Checkpoint, "mac">): string {
  const fields: Record<string, unknown> = { sink: c.sink, seq: c.seq, hash: c.hash, ts: c.ts };
  // Only when present, so checkpoints written before `first` existed keep their MAC.
  if (c.first !== undefined) fields.first = c.first;
  // Domain-separated from event MACs: a checkpoint line can never pass as an event or back.
  return createHmac("sha256", key)
    .update(`mcp-warden checkpoint\n${canonical(fields)}`)
    .digest("hex");
}

/** A signed checkpoint of `head`, stamped now. */
export function makeCheckpoint(key: Uint8Array, head: CheckpointHead): Checkpoint {
  const base = {
    sink: head.sink,
    seq: head.seq,
    hash: head.hash,
    ts: new Date().toISOString(),
    ...(head.first === undefined ? {} : { first: head.first }),
  };
  return { ...base, mac: checkpointMac(key, base) };
}

/** Appends one checkpoint line to `file` (created owner-only). */
export function writeCheckpoint(file: string, c: Checkpoint): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  appendFileSync(file, `${JSON.stringify(c)}\n`, { mode: 0o600 });
}

export function appendCheckpoint(file: string, key: Uint8Array, head: CheckpointHead): Checkpoint {
  const c = makeCheckpoint(key, head);
  writeCheckpoint(file, c);
  return c;
}

/** Checkpoints as one place holds them: the local file, a copy, or a file given to verify. */
export interface CheckpointSource {
  /** For messages: `checkpoint file /var/lib/…`, `checkpoint copy postgres:db/test`. */
  readonly name: string;
  /** Kept where an intruder on the gateway's machine cannot rewrite it (a copy, a shipped file). */
  readonly external: boolean;
  /** `missing`: no such file; `unreadable`: it could not be read (`error` says why). */
  readonly state: "present" | "empty" | "missing" | "unreadable";
  readonly error?: string;
  readonly valid: readonly Checkpoint[];
  /** Line numbers (1-based) or row ids whose MAC or shape is wrong: forged or damaged. */
  readonly invalidLines: readonly number[];
}

/** A checkpoint as stored (a parsed line, a row), or undefined when its shape or MAC is wrong. */
export function checkedCheckpoint(key: Uint8Array, value: unknown): Checkpoint | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const c = value as Checkpoint;
  const ok =
    typeof c.sink === "string" &&
    Number.isSafeInteger(c.seq) &&
    typeof c.hash === "string" &&
    typeof c.ts === "string" &&
    (c.first === undefined || Number.isSafeInteger(c.first)) &&
    typeof c.mac === "string" &&
    c.mac === checkpointMac(key, c);
  return ok ? c : undefined;
}

/** Checks lines of JSON checkpoints, numbering bad ones from 1. */
export function parseCheckpoints(
  lines: readonly string[],
  key: Uint8Array,
): Pick<CheckpointSource, "valid" | "invalidLines"> {
  const valid: Checkpoint[] = [];
  const invalidLines: number[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    let c: Checkpoint | undefined;
    try {
      c = checkedCheckpoint(key, JSON.parse(line));
    } catch {
      c = undefined;
    }
    if (c) valid.push(c);
    else invalidLines.push(i + 1);
  });
  return { valid, invalidLines };
}

export function readCheckpoints(file: string, key: Uint8Array, external = false): CheckpointSource {
  const name = `${external ? "checkpoint copy" : "checkpoint file"} ${file}`;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
    return {
      name,
      external,
      state: missing ? "missing" : "unreadable",
      ...(missing ? {} : { error: (err as Error).message }),
      valid: [],
      invalidLines: [],
    };
  }
  const parsed = parseCheckpoints(text.split("\n"), key);
  const empty = parsed.valid.length === 0 && parsed.invalidLines.length === 0;
  return { name, external, state: empty ? "empty" : "present", ...parsed };
}
