import { mkdir, open, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../log.js";
import type { CheckpointCopy } from "./checkpoint-copies.js";
import { makeCheckpoint, writeCheckpoint } from "./checkpoints.js";
import { rotationOf, type AuditEvent, type Rotation, type StoredEvent } from "./event.js";
import type { AuditMarks } from "./marks.js";
import type { AuditSink } from "./sinks/sink.js";

/** Thrown to the caller of `record` when an event could not be made durable: refuse the call. */
export class AuditUnavailable extends Error {
  constructor(
    readonly sink: string,
    cause: unknown,
  ) {
    super(`audit sink ${sink} failed: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = "AuditUnavailable";
  }
}

export interface AuditLogOptions {
  readonly key: Uint8Array;
  readonly checkpointFile: string;
  readonly checkpointEvery: number;
  readonly checkpointIntervalMs: number;
  /** Directory where events for a failing sink wait; undefined: a failing sink refuses calls. */
  readonly spool: string | undefined;
  readonly log: Logger;
  /** High-water marks in the state store (marks.ts); the gateway and the CLI always keep them. */
  readonly marks?: AuditMarks;
  /** Where every checkpoint is also written, apart from this machine. */
  readonly checkpointCopies?: readonly CheckpointCopy[];
}

interface Waiting {
  readonly event: AuditEvent;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

interface SinkState {
  readonly sink: AuditSink;
  spooling: boolean;
  /** The last write failed (and no spool took the events): calls are refused until a ping passes. */
  failing: boolean;
  /** Events written since the last checkpoint, and the newest of them. */
  unchecked: number;
  last: StoredEvent | undefined;
  /** The seq of the last head written to the marks. */
  marked: number;
  /** The oldest seq the sink still holds, once a rotation record said so (JSONL). */
  first: number | undefined;
}

const RETRY_MS = 2_000;
const PING_EVERY_MS = 1_000;
const REPLAY_BATCH = 500;

/**
 * The audit log: events queue here and are written in batches, one batch at a time, to every sink.
 * `record` resolves when its event is durable in all of them (the caller then releases its
 * response); it rejects with AuditUnavailable when a sink failed and no spool is set. With a spool,
 * a failing sink's events are appended (fsync'd) to `<spool>/<sink>.jsonl` in order, and replayed
 * into the sink, chained there, once it accepts writes again.
 */
export class AuditLog {
  private queue: Waiting[] = [];
  private scheduled = false;
  /** Every write (flush, replay, checkpoint) runs on this one chain: batches never interleave. */
  private serial: Promise<void> = Promise.resolve();
  private readonly states: SinkState[];
  private readonly timer: NodeJS.Timeout;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;
  private probe: Promise<void> | undefined;
  private readonly listeners: Array<(event: AuditEvent) => void> = [];
  private probedAt = 0;
  private inFlight = 0;
  /** Checkpoint copies being written. */
  private readonly copying = new Set<Promise<void>>();

  constructor(
    sinks: readonly AuditSink[],
    private readonly opts: AuditLogOptions,
  ) {
    this.states = sinks.map((sink) => ({
      sink,
      spooling: false,
      // Unknown until pinged: the first call waits for every sink to answer.
      failing: true,
      unchecked: 0,
      last: undefined,
      marked: 0,
      first: undefined,
    }));
    this.timer = setInterval(() => void this.run(() => this.checkpointAll()), opts.checkpointIntervalMs);
    this.timer.unref();
  }

  /** Whether calls are being refused because a sink cannot be written (never with a spool). */
  get failing(): boolean {
    return this.opts.spool === undefined && this.states.some((s) => s.failing);
  }

  /** Events waiting to be written, and those being written. */
  get pending(): number {
    return this.queue.length + this.inFlight;
  }

  /**
   * Resolves when every sink is believed writable: at once normally; after a failure, once each
   * failing sink answers a ping (one ping in flight, at most one a second). Rejects otherwise, so
   * the caller refuses the call before it reaches an upstream rather than after.
   */
  ready(): Promise<void> {
    // With a spool nothing is refused: a failing sink's events wait there.
    if (!this.failing) return Promise.resolve();
    if (this.probe && Date.now() - this.probedAt < PING_EVERY_MS) return this.probe;
    this.probedAt = Date.now();
    this.probe = Promise.all(
      this.states
        .filter((s) => s.failing)
        .map(async (s) => {
          try {
            await s.sink.ping();
            s.failing = false;
          } catch (err) {
            throw new AuditUnavailable(s.sink.id, err);
          }
        }),
    ).then(() => undefined);
    this.probe.catch(() => undefined);
    return this.probe;
  }

  /**
   * The sink to read events back from (the admin API): the first database sink (SQLite or
   * Postgres), else the first readable one (a JSONL file, scanned); undefined when none is readable.
   */
  readableSink(): AuditSink | undefined {
    const sinks = this.states.map((s) => s.sink).filter((s) => s.readable);
    return sinks.find((s) => s.id === "sqlite" || s.id.startsWith("postgres:")) ?? sinks[0];
  }

  /** Calls `listener` with every event as it is recorded (kill rules count them); it must not throw. */
  onRecord(listener: (event: AuditEvent) => void): void {
    this.listeners.push(listener);
  }

  record(event: AuditEvent): Promise<void> {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch (err) {
        this.opts.log.error({ err: (err as Error).message }, "audit listener failed");
      }
    }
    if (this.closed) return Promise.reject(new AuditUnavailable("(closed)", "the audit log is closed"));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ event, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.run(() => this.flush()));
      }
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    if (this.retry) clearTimeout(this.retry);
    await this.run(() => this.flush());
    await this.run(() => this.checkpointAll());
    await Promise.allSettled(this.copying);
    await Promise.all(this.states.map((s) => s.sink.close().catch(() => undefined)));
    await Promise.all((this.opts.checkpointCopies ?? []).map((c) => c.close().catch(() => undefined)));
  }

  private run(fn: () => Promise<void>): Promise<void> {
    const next = this.serial.then(fn, fn);
    this.serial = next.catch((err: unknown) => {
      this.opts.log.error({ err: err instanceof Error ? err.message : String(err) }, "audit write failed");
    });
    return this.serial;
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    this.inFlight = batch.length;
    const events = batch.map((w) => w.event);
    let failure: AuditUnavailable | undefined;
    const writes = this.states.map((st) =>
      this.write(st, events).catch((err: unknown) => {
        failure ??= err instanceof AuditUnavailable ? err : new AuditUnavailable(st.sink.id, err);
      }),
    );
    // One sink (the default) is awaited as it is: no Promise.all per batch around it.
    await (writes.length === 1 ? writes[0] : Promise.all(writes));
    this.inFlight = 0;
    this.markHeads();
    for (const w of batch) {
      if (failure) w.reject(failure);
      else w.resolve();
    }
  }

  private async write(st: SinkState, events: readonly AuditEvent[]): Promise<void> {
    if (!st.spooling) {
      try {
        this.written(st, await st.sink.append(events));
        st.failing = false;
        return;
      } catch (err) {
        const failure = new AuditUnavailable(st.sink.id, err);
        this.opts.log.error({ sink: st.sink.id, err: failure.message }, "audit sink failed");
        if (this.opts.spool === undefined) {
          st.failing = true;
          throw failure;
        }
        st.spooling = true;
      }
    }
    await this.spool(st, events);
    this.scheduleReplay();
  }

  private written(st: SinkState, stored: readonly StoredEvent[]): void {
    if (!st.sink.readable || stored.length === 0) return;
    // This process's first events in a log that already held some (a restart, perhaps after a
    // crash left events unchecked): checkpointed at once, so no log goes an interval without one.
    const continued = st.last === undefined && (stored[0] as StoredEvent).seq > 1;
    st.unchecked += stored.length;
    st.last = stored[stored.length - 1];
    // A rotation removed files: checkpoint at once, so the copies learn what is kept from now on.
    let rotated: Rotation | undefined;
    for (let i = stored.length - 1; i >= 0 && rotated === undefined; i--) {
      rotated = rotationOf(stored[i] as StoredEvent);
    }
    if (rotated) st.first = rotated.retained_from;
    if (rotated || continued || st.unchecked >= this.opts.checkpointEvery) this.checkpoint(st);
  }

  /** Every sink's newest event into the state store's marks: one transaction per batch. */
  private markHeads(): void {
    const marks = this.opts.marks;
    if (!marks) return;
    const moved = this.states.filter(
      (s) => !s.sink.marksItself && s.last !== undefined && s.last.seq !== s.marked,
    );
    if (moved.length === 0) return;
    try {
      marks.note(
        "head",
        moved.map((s) => ({
          sink: s.sink.id,
          seq: (s.last as StoredEvent).seq,
          hash: (s.last as StoredEvent).hash,
        })),
      );
      for (const s of moved) s.marked = (s.last as StoredEvent).seq;
    } catch (err) {
      // The events are durable; only the evidence of their tail is late. Loud, not fatal.
      this.opts.log.error(
        { err: err instanceof Error ? err.message : String(err) },
        "audit marks could not be written",
      );
    }
  }

  private checkpoint(st: SinkState): void {
    if (!st.last || st.unchecked === 0) return;
    const c = makeCheckpoint(this.opts.key, {
      sink: st.sink.id,
      seq: st.last.seq,
      hash: st.last.hash,
      ...(st.first === undefined ? {} : { first: st.first }),
    });
    st.unchecked = 0;
    try {
      writeCheckpoint(this.opts.checkpointFile, c);
      // Remembered in the state store, so a checkpoint file deleted or emptied later shows.
      this.opts.marks?.note("checkpoint", [c]);
    } catch (err) {
      st.unchecked = 1; // try again next time
      // The events themselves are durable; only truncation evidence is late. Loud, not fatal.
      this.opts.log.error(
        { file: this.opts.checkpointFile, err: err instanceof Error ? err.message : String(err) },
        "audit checkpoint could not be written",
      );
    }
    // Copies never hold up the log: each is written in the background and waited for on close.
    for (const copy of this.opts.checkpointCopies ?? []) {
      const p: Promise<void> = copy
        .append(c)
        .catch((err: unknown) =>
          this.opts.log.error(
            { copy: copy.name, err: err instanceof Error ? err.message : String(err) },
            "audit checkpoint copy could not be written",
          ),
        )
        .finally(() => this.copying.delete(p));
      this.copying.add(p);
    }
  }

  private checkpointAll(): Promise<void> {
    for (const st of this.states) this.checkpoint(st);
    return Promise.resolve();
  }

  private spoolFile(st: SinkState): string {
    return join(this.opts.spool as string, `${st.sink.id.replace(/[^A-Za-z0-9._-]+/g, "_")}.jsonl`);
  }

  private async spool(st: SinkState, events: readonly AuditEvent[]): Promise<void> {
    try {
      await mkdir(this.opts.spool as string, { recursive: true, mode: 0o700 });
      const handle = await open(this.spoolFile(st), "a", 0o600);
      try {
        await handle.write(events.map((e) => `${JSON.stringify(e)}\n`).join(""));
        await handle.datasync();
      } finally {
        await handle.close();
      }
    } catch (err) {
      throw new AuditUnavailable(st.sink.id, err);
    }
  }

  private scheduleReplay(): void {
    if (this.retry || this.closed) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.run(() => this.replay());
    }, RETRY_MS);
    this.retry.unref();
  }

  /** Moves spooled events into their sinks, oldest first; the spool is removed once all are in. */
  private async replay(): Promise<void> {
    for (const st of this.states) {
      if (!st.spooling) continue;
      const file = this.spoolFile(st);
      try {
        const text = await readFile(file, "utf8");
        const events = text
          .split("\n")
          .filter((l) => l.trim() !== "")
          .map((l) => JSON.parse(l) as AuditEvent);
        for (let i = 0; i < events.length; i += REPLAY_BATCH) {
          this.written(st, await st.sink.append(events.slice(i, i + REPLAY_BATCH)));
          this.markHeads();
          // What is in the sink leaves the spool at once, so a failure later never replays it twice.
          const rest = events.slice(i + REPLAY_BATCH);
          if (rest.length > 0) {
            await writeFile(`${file}.tmp`, rest.map((e) => `${JSON.stringify(e)}\n`).join(""), {
              mode: 0o600,
            });
            await rename(`${file}.tmp`, file);
          }
        }
        await rm(file, { force: true });
        st.spooling = false;
        this.opts.log.info(
          { sink: st.sink.id, events: events.length },
          "audit sink recovered: spool replayed",
        );
      } catch (err) {
        this.opts.log.warn(
          { sink: st.sink.id, err: err instanceof Error ? err.message : String(err) },
          "audit spool replay failed",
        );
        this.scheduleReplay();
      }
    }
  }
}
