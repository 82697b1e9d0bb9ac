/**
 * High-water marks in the state store: for each sink, the newest event this store saw written
 * (after every batch) and the newest checkpoint written for it, each with an HMAC under the audit
 * key. A mark is overwritten in place and never moves back, so someone without the key can delete
 * it but cannot set it back to an earlier point (short of replaying a row copied back then): a
 * log emptied or cut short (even after its last checkpoint), or a checkpoint file deleted or
 * emptied, no longer agrees with the marks, and verify says so.
 *
 * Nor is a mark ever removed: the store also records, apart from them, each mark it has begun to
 * keep (`audit_marks_begun`, migration 8), so marks deleted later are missed. A store upgraded
 * from a release without marks begins them with its first batch under this one.
 */
import { createHmac } from "node:crypto";
import type { Db } from "../state/store.js";

export interface Mark {
  readonly seq: number;
  readonly hash: string;
  readonly ts: string;
}

export type MarkKind = "head" | "checkpoint";

export interface SinkMarks {
  readonly head?: Mark;
  readonly checkpoint?: Mark;
  /** Marks of this sink whose MAC or shape is wrong. */
  readonly forged: readonly MarkKind[];
  /** The marks of this sink the store has kept, by when it began to (ISO time). */
  readonly begun?: Readonly<Partial<Record<MarkKind, string>>>;
}

function markMac(key: Uint8Array, kind: MarkKind, sink: string, m: Mark): string {
  // A fixed-order array, not RFC 8785: this runs on every batch, and the fields are all ours.
  return createHmac("sha256", key)
    .update(`mcp-warden mark\n${JSON.stringify([kind, sink, m.seq, m.hash, m.ts])}`)
    .digest("hex");
}

/** The marks in the state store's `audit_marks` table (migration 7). */
export class AuditMarks {
  private readonly upsert;
  private readonly select;
  private readonly begin;
  private readonly selectBegun;
  private readonly noteAll;
  /**
   * Marks this process has recorded as begun: one insert per sink and kind per process. (A batch
   * rolled back after it leaves the record to the next process: less evidence, never a false alarm.)
   */
  private readonly begunHere = new Set<string>();

  constructor(
    db: Db,
    private readonly key: Uint8Array,
  ) {
    // Only forward: a writer that lost a race (the CLI beside the gateway) never moves a mark back.
    // Bound by position: this runs with every batch of the SQLite sink, and named binding costs more.
    this.upsert = db.prepare(
      `INSERT INTO audit_marks (sink, kind, seq, hash, ts, mac) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (sink, kind) DO UPDATE
       SET seq = excluded.seq, hash = excluded.hash, ts = excluded.ts, mac = excluded.mac
       WHERE excluded.seq > audit_marks.seq`,
    );
    this.select = db.prepare("SELECT kind, seq, hash, ts, mac FROM audit_marks WHERE sink = ?");
    this.begin = db.prepare("INSERT OR IGNORE INTO audit_marks_begun (sink, kind, ts) VALUES (?, ?, ?)");
    this.selectBegun = db.prepare("SELECT kind, ts FROM audit_marks_begun WHERE sink = ?");
    this.noteAll = db.transaction((kind: MarkKind, heads: readonly Head[]) =>
      this.noteInTransaction(kind, heads),
    );
  }

  /** Records that each sink's log held `seq` with `hash`, in one transaction. */
  note(kind: MarkKind, heads: readonly Head[]): void {
    if (heads.length > 0) this.noteAll(kind, heads);
  }

  /** `note` inside a transaction the caller holds on the same database (the SQLite sink's own). */
  noteInTransaction(kind: MarkKind, heads: readonly Head[]): void {
    const ts = new Date().toISOString();
    for (const h of heads) {
      const m = { seq: h.seq, hash: h.hash, ts };
      this.upsert.run(h.sink, kind, m.seq, m.hash, ts, markMac(this.key, kind, h.sink, m));
      const begun = `${kind}\n${h.sink}`;
      if (!this.begunHere.has(begun)) {
        this.begin.run(h.sink, kind, ts);
        this.begunHere.add(begun);
      }
    }
  }

  read(sink: string): SinkMarks {
    const out: { head?: Mark; checkpoint?: Mark; forged: MarkKind[] } = { forged: [] };
    const rows = this.select.all(sink) as Array<Mark & { kind: string; mac: string }>;
    for (const r of rows) {
      if (r.kind !== "head" && r.kind !== "checkpoint") continue;
      const m = { seq: r.seq, hash: r.hash, ts: r.ts };
      if (Number.isSafeInteger(m.seq) && r.mac === markMac(this.key, r.kind, sink, m)) out[r.kind] = m;
      else out.forged.push(r.kind);
    }
    const begun: Partial<Record<MarkKind, string>> = {};
    for (const r of this.selectBegun.all(sink) as Array<{ kind: string; ts: string }>) {
      if (r.kind === "head" || r.kind === "checkpoint") begun[r.kind] = r.ts;
    }
    return { ...out, begun };
  }
}

interface Head {
  readonly sink: string;
  readonly seq: number;
  readonly hash: string;
}
