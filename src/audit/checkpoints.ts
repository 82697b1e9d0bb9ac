/**
 * Signed checkpoints: now and then the head of each sink's chain (seq and hash) is appended to a
 * file apart from the log, with an HMAC under the audit key. A log cut short after a checkpoint
 * no longer reaches that checkpoint's seq, which verify reports as truncation; the chain alone
 * cannot show a missing tail.
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
  readonly mac: string;
}

function checkpointMac(key: Uint8Array, c: Omit<Checkpoint, "mac">): string {
  // Domain-separated from event MACs: a checkpoint line can never pass as an event or back.
  return createHmac("sha256", key)
    .update(`mcp-warden checkpoint\n${canonical({ sink: c.sink, seq: c.seq, hash: c.hash, ts: c.ts })}`)
    .digest("hex");
}

export function appendCheckpoint(
  file: string,
  key: Uint8Array,
  head: { sink: string; seq: number; hash: string },
): Checkpoint {
  const base = { sink: head.sink, seq: head.seq, hash: head.hash, ts: new Date().toISOString() };
  const c: Checkpoint = { ...base, mac: checkpointMac(key, base) };
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  appendFileSync(file, `${JSON.stringify(c)}\n`, { mode: 0o600 });
  return c;
}

export interface CheckpointFile {
  readonly valid: readonly Checkpoint[];
  /** Line numbers (1-based) whose MAC or shape is wrong: forged or damaged checkpoints. */
  readonly invalidLines: readonly number[];
}

export function readCheckpoints(file: string, key: Uint8Array): CheckpointFile {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { valid: [], invalidLines: [] };
    throw err;
  }
  const valid: Checkpoint[] = [];
  const invalidLines: number[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    try {
      const c = JSON.parse(line) as Checkpoint;
      const ok =
        typeof c.sink === "string" &&
        Number.isInteger(c.seq) &&
        typeof c.hash === "string" &&
        typeof c.ts === "string" &&
        c.mac === checkpointMac(key, c);
      if (ok) valid.push(c);
      else invalidLines.push(i + 1);
    } catch {
      invalidLines.push(i + 1);
    }
  });
  return { valid, invalidLines };
}
