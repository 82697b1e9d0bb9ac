import { eventMac, GENESIS, withoutHash } from "./chain.js";
import type { Checkpoint } from "./checkpoints.js";
import type { StoredEvent } from "./event.js";

export type ProblemKind = "edited" | "deleted" | "reordered" | "truncated" | "forged_checkpoint";

export interface VerifyReport {
  readonly sink: string;
  readonly ok: boolean;
  readonly events: number;
  readonly firstSeq: number | undefined;
  readonly lastSeq: number | undefined;
  /** Checkpoints of this sink that were checked against the log. */
  readonly checkpoints: number;
  /** The first problem in log order; the log is trustworthy up to just before it. */
  readonly problem?: {
    readonly kind: ProblemKind;
    /** 1-based position in the log (in read order). */
    readonly position?: number;
    readonly seq?: number;
    readonly id?: string;
    readonly detail: string;
  };
}

interface Seen {
  readonly seq: number;
  readonly id: string | undefined;
  readonly hash: string;
  readonly prev: string;
  readonly macOk: boolean;
}

/**
 * Walks one sink's events in stored order: every MAC must match (else `edited`), each event must
 * follow the one before it by seq and prev_hash (else `deleted` when a seq never appears, else
 * `reordered`), and every checkpoint of this sink must be reached with the same hash (else
 * `truncated`, or `edited` when the hash differs). `startsMidChain` accepts a first event after
 * seq 1, for logs whose oldest files were rotated away.
 */
export async function verifyEvents(
  sink: string,
  events: AsyncIterable<StoredEvent>,
  key: Uint8Array,
  checkpoints: readonly Checkpoint[],
  opts: { startsMidChain?: boolean; invalidCheckpointLines?: readonly number[] } = {},
): Promise<VerifyReport> {
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
    });
  }
  const mine = checkpoints.filter((c) => c.sink === sink);
  const base = {
    sink,
    events: seen.length,
    firstSeq: seen[0]?.seq,
    lastSeq: seen[seen.length - 1]?.seq,
    checkpoints: mine.length,
  };
  const fail = (problem: VerifyReport["problem"]): VerifyReport => ({ ...base, ok: false, problem });

  if (opts.invalidCheckpointLines?.length) {
    return fail({
      kind: "forged_checkpoint",
      detail: `checkpoint file lines ${opts.invalidCheckpointLines.slice(0, 5).join(", ")} fail their MAC`,
    });
  }
  const positions = new Map<number, number>();
  seen.forEach((s, i) => {
    if (s.macOk && !positions.has(s.seq)) positions.set(s.seq, i);
  });
  for (let i = 0; i < seen.length; i++) {
    const s = seen[i] as Seen;
    const at = { position: i + 1, seq: Number.isNaN(s.seq) ? undefined : s.seq, id: s.id };
    if (!s.macOk)
      return fail({ kind: "edited", ...at, detail: "the event's hash does not match its content" });
    const prev = seen[i - 1];
    if (prev === undefined) {
      if (s.seq === 1 && s.prev === GENESIS) continue;
      if (opts.startsMidChain) continue;
      return fail({
        kind: "deleted",
        ...at,
        detail: `the log starts at seq ${s.seq}: earlier events are missing`,
      });
    }
    const expected = prev.seq + 1;
    if (s.seq === expected && s.prev === prev.hash) continue;
    if (s.seq < expected) {
      return fail({ kind: "reordered", ...at, detail: `seq ${s.seq} comes after seq ${prev.seq}` });
    }
    if (s.seq > expected) {
      const later = positions.get(expected);
      if (later !== undefined && later > i) {
        return fail({
          kind: "reordered",
          ...at,
          detail: `seq ${expected} was moved to position ${later + 1}`,
        });
      }
      return fail({
        kind: "deleted",
        ...at,
        detail: `seq ${expected}${s.seq - 1 > expected ? `–${s.seq - 1}` : ""} missing before seq ${s.seq}`,
      });
    }
    return fail({ kind: "edited", ...at, detail: "prev_hash does not match the event before it" });
  }
  for (const c of mine) {
    const i = positions.get(c.seq);
    if (i === undefined) {
      if (base.lastSeq === undefined || c.seq > base.lastSeq) {
        return fail({
          kind: "truncated",
          seq: c.seq,
          detail: `a checkpoint at ${c.ts} records seq ${c.seq}; the log ends at ${base.lastSeq ?? "nothing"}`,
        });
      }
      if (opts.startsMidChain && base.firstSeq !== undefined && c.seq < base.firstSeq) continue;
      return fail({ kind: "deleted", seq: c.seq, detail: `checkpointed seq ${c.seq} is not in the log` });
    }
    if ((seen[i] as Seen).hash !== c.hash) {
      return fail({
        kind: "edited",
        seq: c.seq,
        detail: `seq ${c.seq} differs from its checkpoint of ${c.ts}`,
      });
    }
  }
  return { ...base, ok: true };
}
