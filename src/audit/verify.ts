import { eventMac, GENESIS, withoutHash } from "./chain.js";
import type { Checkpoint, CheckpointSource } from "./checkpoints.js";
import { rotationOf, type Rotation, type StoredEvent } from "./event.js";
import type { Mark, SinkMarks } from "./marks.js";

export type ProblemKind =
  | "edited"
  | "deleted"
  | "reordered"
  | "truncated"
  | "forged_checkpoint"
  | "missing_checkpoints"
  | "missing_marks"
  | "missing_file";

export interface Problem {
  readonly kind: ProblemKind;
  /** 1-based position in the log (in read order). */
  readonly position?: number;
  readonly seq?: number;
  readonly id?: string;
  readonly detail: string;
}

export interface VerifyReport {
  readonly sink: string;
  readonly ok: boolean;
  readonly events: number;
  readonly firstSeq: number | undefined;
  readonly lastSeq: number | undefined;
  /** Checkpoints of this sink in the local checkpoint file that were checked against the log. */
  readonly checkpoints: number;
  /** Checkpoints of this sink in copies kept elsewhere (`--checkpoints`, `checkpoint_copies`). */
  readonly external: number;
  /** The first problem: in log order when the chain itself is broken, else the first found. */
  readonly problem?: Problem;
  /** Every problem found (the chain walk stops at its first). */
  readonly problems: readonly Problem[];
}

export interface VerifyOptions {
  /** The local checkpoint file as read (its state: missing, empty…); `checkpoints` are its valid ones. */
  readonly checkpointFile?: CheckpointSource;
  /** Copies kept elsewhere: a key holder cannot take back what they recorded. */
  readonly copies?: readonly CheckpointSource[];
  /** The state store's high-water marks for this sink. */
  readonly marks?: SinkMarks;
  /** For a JSONL sink: what is wrong with its rotated files, given how many should exist. */
  readonly rotatedFiles?: (expected: number) => readonly string[];
  /**
   * For a sink only this machine writes (SQLite, a JSONL file; not a Postgres sink that other
   * instances write too): how its writer checkpoints it (`audit.checkpoint_every`,
   * `checkpoint_interval`). Then the witnesses such a writer always leaves are expected: a
   * checkpoint in the local file and marks in the state store.
   */
  readonly writtenHere?: { readonly checkpointEvery: number; readonly checkpointIntervalMs: number };
}

interface Seen {
  readonly seq: number;
  readonly id: string | undefined;
  readonly hash: string;
  readonly prev: string;
  readonly macOk: boolean;
  readonly rotation: Rotation | undefined;
  /** When it was recorded (ms since the epoch); NaN unless its MAC holds. */
  readonly ts: number;
}

/**
 * Verifies one sink. The chain: every MAC must match (else `edited`), each event must follow the
 * one before it by seq and prev_hash (else `deleted` when a seq never appears, else `reordered`),
 * and the log must start at seq 1 or where a rotation record in it says retention kept from.
 * Then every witness must agree with the log: each checkpoint (local file, copies, the state
 * store's marks) must be found with the same hash, or lie below what a recorded rotation removed;
 * a checkpoint file the marks say was written must exist and hold that checkpoint; the rotated
 * files the last rotation record counts must exist. For a sink written only here, the witnesses
 * its writer always leaves must exist too (`unwitnessed`).
 */
export async function verifyEvents(
  sink: string,
  events: AsyncIterable<StoredEvent>,
  key: Uint8Array,
  checkpoints: readonly Checkpoint[],
  opts: VerifyOptions = {},
): Promise<VerifyReport> {
  const seen = await walk(events, key);
  const mine = (list: readonly Checkpoint[]) => list.filter((c) => c.sink === sink);
  const copies = opts.copies ?? [];
  const first = seen[0]?.seq;
  const last = seen[seen.length - 1]?.seq;
  const problems: Problem[] = [];

  const invalid = opts.checkpointFile?.invalidLines ?? [];
  if (invalid.length > 0) {
    problems.push({
      kind: "forged_checkpoint",
      detail: `${opts.checkpointFile?.name ?? "checkpoint file"}: lines ${invalid.slice(0, 5).join(", ")} fail their MAC`,
    });
  }
  const chain = chainProblems(seen);
  const rotation = chain.rotation;
  for (const detail of opts.rotatedFiles?.(rotation?.rotated_files ?? 0) ?? []) {
    problems.push({ kind: "missing_file", detail });
  }

  const positions = new Map<number, number>();
  seen.forEach((s, i) => {
    if (s.macOk && !positions.has(s.seq)) positions.set(s.seq, i);
  });
  const retainedFrom = rotation?.retained_from ?? 1;
  /** Checks that the log holds `seq` with `hash`; `what` names the witness in messages. */
  const agrees = (seq: number, hash: string, what: string, keptFrom: number): Problem | undefined => {
    const i = positions.get(seq);
    if (i !== undefined) {
      return seen[i]?.hash === hash
        ? undefined
        : { kind: "edited", seq, detail: `seq ${seq} differs from ${what}: the chain was rewritten` };
    }
    if (last === undefined || seq > last) {
      return {
        kind: "truncated",
        seq,
        detail: `${what} records seq ${seq}; the log ${last === undefined ? "holds no events" : `ends at seq ${last}`}`,
      };
    }
    if (first !== undefined && seq < first) {
      if (seq < keptFrom) return undefined; // removed by a recorded rotation
      return {
        kind: "deleted",
        seq,
        detail: `${what} records seq ${seq}, below the oldest event left (seq ${first}), and no recorded rotation removed it`,
      };
    }
    return { kind: "deleted", seq, detail: `${what} records seq ${seq}, which is not in the log` };
  };

  // The local file and the marks share the key with the log: the chain's rotation records count.
  const localKeptFrom = Math.max(retainedFrom, ...mine(checkpoints).map((c) => c.first ?? 1));
  for (const c of mine(checkpoints)) {
    const p = agrees(c.seq, c.hash, `the checkpoint of ${c.ts}`, localKeptFrom);
    if (p) problems.push(p);
  }
  const marked = markProblems(opts, (m, what) => agrees(m.seq, m.hash, what, localKeptFrom));
  problems.push(...marked);
  const fileReported = marked.some((p) => p.kind === "missing_checkpoints");
  problems.push(...unwitnessed(seen, mine(checkpoints), opts, fileReported));

  // A copy trusts only itself: retention counts when the copy recorded it (a checkpoint's `first`).
  let external = 0;
  for (const source of copies) {
    if (source.state === "missing" || source.state === "unreadable") {
      problems.push({
        kind: "missing_checkpoints",
        detail: `${source.name} could not be read${source.error ? `: ${source.error}` : " (it does not exist)"}`,
      });
      continue;
    }
    if (source.invalidLines.length > 0) {
      problems.push({
        kind: "forged_checkpoint",
        detail: `${source.name}: entries ${source.invalidLines.slice(0, 5).join(", ")} fail their MAC`,
      });
    }
    const theirs = mine(source.valid);
    external += theirs.length;
    const keptFrom = Math.max(1, ...theirs.map((c) => c.first ?? 1));
    for (const c of theirs) {
      const p = agrees(c.seq, c.hash, `${source.name} (checkpoint of ${c.ts})`, keptFrom);
      if (p) problems.push(p);
    }
  }

  const base = {
    sink,
    events: seen.length,
    firstSeq: first,
    lastSeq: last,
    checkpoints: mine(checkpoints).length,
    external,
  };
  // A broken chain is the first thing to read; its problems lead, in log order.
  const ordered = [...chain.problems, ...problems];
  return ordered.length === 0
    ? { ...base, ok: true, problems: [] }
    : { ...base, ok: false, problem: ordered[0], problems: ordered.slice(0, 20) };
}

async function walk(events: AsyncIterable<StoredEvent>, key: Uint8Array): Promise<Seen[]> {
  const seen: Seen[] = [];
  for await (const e of events) {
    const shaped = typeof e.seq === "number" && typeof e.hash === "string" && typeof e.prev_hash === "string";
    let macOk = false;
    if (shaped) {
      try {
        macOk = eventMac(key, withoutHash(e)) === e.hash;
      } catch {
        macOk = false;
      }
    }
    seen.push({
      seq: shaped ? e.seq : NaN,
      id: typeof e.id === "string" ? e.id : undefined,
      hash: shaped ? e.hash : "",
      prev: shaped ? e.prev_hash : "",
      macOk,
      rotation: macOk ? rotationOf(e) : undefined,
      ts: macOk && typeof e.ts === "string" ? Date.parse(e.ts) : NaN,
    });
  }
  return seen;
}

/**
 * The chain's problems in log order (a bad start, then the first broken link), and the newest
 * rotation record in the part of the log that holds together: records past a break are not
 * trusted to explain anything.
 */
function chainProblems(seen: readonly Seen[]): { problems: Problem[]; rotation?: Rotation } {
  const positions = new Map<number, number>();
  seen.forEach((s, i) => {
    if (s.macOk && !positions.has(s.seq)) positions.set(s.seq, i);
  });
  let rotation: Rotation | undefined;
  let broken: Problem | undefined;
  for (let i = 0; i < seen.length && !broken; i++) {
    const s = seen[i] as Seen;
    const at = { position: i + 1, seq: Number.isNaN(s.seq) ? undefined : s.seq, id: s.id };
    if (!s.macOk) {
      broken = { kind: "edited", ...at, detail: "the event's hash does not match its content" };
      break;
    }
    const prev = seen[i - 1];
    if (prev === undefined || (s.seq === prev.seq + 1 && s.prev === prev.hash)) {
      if (s.rotation) rotation = s.rotation;
      continue;
    }
    const expected = prev.seq + 1;
    if (s.seq < expected) {
      broken = { kind: "reordered", ...at, detail: `seq ${s.seq} comes after seq ${prev.seq}` };
    } else if (s.seq > expected) {
      const later = positions.get(expected);
      broken =
        later !== undefined && later > i
          ? { kind: "reordered", ...at, detail: `seq ${expected} was moved to position ${later + 1}` }
          : {
              kind: "deleted",
              ...at,
              detail: `seq ${expected}${s.seq - 1 > expected ? `–${s.seq - 1}` : ""} missing before seq ${s.seq}`,
            };
    } else {
      broken = { kind: "edited", ...at, detail: "prev_hash does not match the event before it" };
    }
  }
  const problems: Problem[] = [];
  // The start: seq 1 after the genesis hash, or exactly where recorded retention kept from.
  const head = seen[0];
  if (head?.macOk) {
    const keptFrom = rotation?.retained_from ?? 1;
    const fromGenesis = head.seq === 1 && head.prev === GENESIS;
    if (!fromGenesis && head.seq !== keptFrom) {
      const missing = `seq ${keptFrom}${head.seq - 1 > keptFrom ? `–${head.seq - 1}` : ""} missing`;
      problems.push({
        kind: "deleted",
        position: 1,
        seq: head.seq,
        id: head.id,
        detail:
          keptFrom > 1
            ? `the log starts at seq ${head.seq}, but its last rotation record keeps seq ${keptFrom} onwards: ${missing}`
            : `the log starts at seq ${head.seq}: ${missing}, and no recorded rotation removed them`,
      });
    }
  }
  if (broken) problems.push(broken);
  return { problems, ...(rotation ? { rotation } : {}) };
}

/** The state store's marks against the log and the local checkpoint file, and those deleted. */
function markProblems(
  opts: VerifyOptions,
  agrees: (m: Mark, what: string) => Problem | undefined,
): Problem[] {
  const marks = opts.marks;
  if (!marks) return [];
  const out: Problem[] = [];
  for (const kind of marks.forged) {
    out.push({
      kind: "forged_checkpoint",
      detail: `the state store's ${kind} mark for this sink fails its MAC`,
    });
  }
  if (marks.head) {
    const p = agrees(marks.head, `the state store's high-water mark (written ${marks.head.ts})`);
    if (p) out.push(p);
  }
  // A mark is never removed: one the store began to keep and holds no more was deleted.
  for (const kind of ["head", "checkpoint"] as const) {
    const began = marks.begun?.[kind];
    if (began === undefined || marks[kind] !== undefined || marks.forged.includes(kind)) continue;
    const what = kind === "head" ? "a high-water mark" : "a record of its checkpoints";
    out.push({
      kind: "missing_marks",
      detail: `the state store has kept ${what} for this sink since ${began}, and holds none now: its marks were deleted`,
    });
  }
  const cp = marks.checkpoint;
  const file = opts.checkpointFile;
  if (cp) {
    const p = agrees(cp, `the state store's record of the checkpoint written ${cp.ts}`);
    if (p) out.push(p);
    if (file) {
      const held = file.valid.some((c) => c.seq === cp.seq && c.hash === cp.hash);
      if (!held) {
        const why =
          file.state === "missing" ? "is missing" : file.state === "empty" ? "is empty" : "does not hold it";
        out.push({
          kind: "missing_checkpoints",
          seq: cp.seq,
          detail: `${file.name} ${why}, but the state store recorded a checkpoint of seq ${cp.seq} written to it at ${cp.ts}`,
        });
      }
    }
  }
  return out;
}

/** How late a writer's checkpoint timer may fire (a busy event loop, a slow batch ahead of it). */
const TIMER_SLACK_MS = 5_000;

/**
 * For a sink written only here: a checkpoint of it in the local file, once the log holds
 * `checkpoint_every` events or its events span more than the interval. Its writer checkpoints at
 * both, at shutdown, and at once when a restart continues a log; so a log without one had its
 * checkpoints removed. (`fileReported`: the marks already named the file.)
 */
function unwitnessed(
  seen: readonly Seen[],
  local: readonly Checkpoint[],
  opts: VerifyOptions,
  fileReported: boolean,
): Problem[] {
  const cadence = opts.writtenHere;
  if (!cadence || seen.length === 0) return [];
  const out: Problem[] = [];
  const file = opts.checkpointFile;
  const name = file?.name ?? "the checkpoint file";
  if (local.length === 0 && !fileReported) {
    const why =
      file?.state === "missing"
        ? "is missing"
        : file?.state === "empty"
          ? "is empty"
          : "holds no checkpoint of this sink";
    const span = spanOf(seen);
    if (seen.length >= cadence.checkpointEvery) {
      out.push({
        kind: "missing_checkpoints",
        detail: `${name} ${why}, but the log holds ${seen.length} events and a checkpoint is written every ${cadence.checkpointEvery}`,
      });
    } else if (span > cadence.checkpointIntervalMs + TIMER_SLACK_MS) {
      out.push({
        kind: "missing_checkpoints",
        detail: `${name} ${why}, but the log's events span ${seconds(span)} and a checkpoint is written at least every ${seconds(cadence.checkpointIntervalMs)}`,
      });
    }
  }
  return out;
}

/** From the earliest to the latest event time (ms), over events whose MAC holds. */
function spanOf(seen: readonly Seen[]): number {
  let min = Infinity;
  let max = -Infinity;
  for (const s of seen) {
    if (!Number.isFinite(s.ts)) continue;
    if (s.ts < min) min = s.ts;
    if (s.ts > max) max = s.ts;
  }
  return max > min ? max - min : 0;
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}
