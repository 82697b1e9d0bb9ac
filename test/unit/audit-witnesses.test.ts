// verify's witnesses, in memory: the state store's marks catch a tail cut after the last
// checkpoint and a checkpoint file deleted or emptied; a checkpoint below the oldest event left is
// accounted for only by recorded retention; a copy kept elsewhere catches a key holder who
// recomputed the whole chain, the local checkpoints and the marks; a sink written here whose log
// is long enough (events or time) has a checkpoint in the local file; a mark the store began to
// keep and holds no more was deleted. Property-based (fast-check).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
import { chain, EMPTY_HEAD, type ChainHead } from "../../src/audit/chain.js";
import { makeCheckpoint, type Checkpoint, type CheckpointSource } from "../../src/audit/checkpoints.js";
import { auditEvent, type AuditEvent, type StoredEvent } from "../../src/audit/event.js";
import type { SinkMarks } from "../../src/audit/marks.js";
import { verifyEvents } from "../../src/audit/verify.js";

const key = randomBytes(32);
const SINK = "s";

const call = (i: number): AuditEvent =>
  auditEvent({ event: "tool_call", status: i % 4 ? "ok" : "denied", tool: `t${i}` });

function chainOf(k: Uint8Array, events: readonly AuditEvent[], from: ChainHead = EMPTY_HEAD): StoredEvent[] {
  const out: StoredEvent[] = [];
  let head = from;
  for (const e of events) {
    const s = chain(k, head, e);
    out.push(s);
    head = s;
  }
  return out;
}

async function* iterate(events: readonly StoredEvent[]): AsyncIterable<StoredEvent> {
  yield* events;
}

const checkpointAt = (k: Uint8Array, e: StoredEvent, first?: number): Checkpoint =>
  makeCheckpoint(k, { sink: SINK, seq: e.seq, hash: e.hash, ...(first === undefined ? {} : { first }) });

const file = (valid: Checkpoint[], state: CheckpointSource["state"] = "present"): CheckpointSource => ({
  name: "checkpoint file test",
  external: false,
  state,
  valid,
  invalidLines: [],
});

const copy = (valid: Checkpoint[]): CheckpointSource => ({
  name: "checkpoint copy test",
  external: true,
  state: "present",
  valid,
  invalidLines: [],
});

const markOf = (e: StoredEvent) => ({ seq: e.seq, hash: e.hash, ts: "2026-01-01T00:00:00.000Z" });

test("a tail cut after the last checkpoint is caught by the head mark", async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 2, max: 40 }), fc.nat(), fc.nat(), async (n, c, k) => {
      const events = chainOf(
        key,
        Array.from({ length: n }, (_, i) => call(i)),
      );
      const lastCheckpoint = c % n; // index of the event the last checkpoint recorded
      const keep = lastCheckpoint + 1 + (k % (n - lastCheckpoint)); // cut somewhere after it
      const checkpoints = [checkpointAt(key, events[lastCheckpoint] as StoredEvent)];
      const marks: SinkMarks = { head: markOf(events[n - 1] as StoredEvent), forged: [] };
      const cut = events.slice(0, keep);
      const r = await verifyEvents(SINK, iterate(cut), key, checkpoints, { marks });
      if (keep === n) {
        assert.equal(r.ok, true, JSON.stringify(r));
        return;
      }
      assert.equal(r.ok, false, `cut to ${keep} of ${n} after a checkpoint at ${lastCheckpoint + 1}`);
      assert.equal(r.problem?.kind, "truncated");
      assert.match(r.problem?.detail ?? "", /high-water mark/);
    }),
    { numRuns: 150 },
  );
});

test("an emptied store that once held events is reported; a fresh one is fine", async () => {
  const events = chainOf(key, [call(1), call(2), call(3)]);
  const emptied = await verifyEvents(SINK, iterate([]), key, [], {
    marks: { head: markOf(events[2] as StoredEvent), forged: [] },
  });
  assert.equal(emptied.problem?.kind, "truncated");
  assert.match(emptied.problem?.detail ?? "", /holds no events/);
  const fresh = await verifyEvents(SINK, iterate([]), key, [], {
    checkpointFile: file([], "missing"),
    marks: { forged: [] },
  });
  assert.equal(fresh.ok, true, JSON.stringify(fresh));
});

test("a checkpoint file deleted, emptied or cut short is reported when the marks saw a checkpoint", async () => {
  const events = chainOf(key, [call(1), call(2), call(3), call(4)]);
  const written = checkpointAt(key, events[3] as StoredEvent);
  const marks: SinkMarks = {
    head: markOf(events[3] as StoredEvent),
    checkpoint: markOf(events[3] as StoredEvent),
    forged: [],
  };
  for (const [state, valid, why] of [
    ["missing", [], /is missing/],
    ["empty", [], /is empty/],
    ["present", [checkpointAt(key, events[1] as StoredEvent)], /does not hold it/],
  ] as const) {
    const r = await verifyEvents(SINK, iterate(events), key, valid, {
      checkpointFile: file([...valid], state),
      marks,
    });
    assert.equal(r.ok, false, state);
    assert.equal(r.problem?.kind, "missing_checkpoints");
    assert.match(r.problem?.detail ?? "", why);
    assert.match(r.problem?.detail ?? "", /checkpoint of seq 4/);
  }
  const whole = await verifyEvents(SINK, iterate(events), key, [written], {
    checkpointFile: file([written]),
    marks,
  });
  assert.equal(whole.ok, true, JSON.stringify(whole));
});

test("a mark that fails its MAC is reported", async () => {
  const events = chainOf(key, [call(1)]);
  const r = await verifyEvents(SINK, iterate(events), key, [], { marks: { forged: ["head"] } });
  assert.equal(r.problem?.kind, "forged_checkpoint");
});

test("a checkpoint below the oldest event left is never skipped unless recorded retention removed it", async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 3, max: 30 }), fc.nat(), fc.nat(), async (n, a, b) => {
      const events = chainOf(
        key,
        Array.from({ length: n }, (_, i) => call(i)),
      );
      const start = 1 + (a % (n - 1)); // index of the first event left (≥ 1: a prefix is gone)
      const below = b % start; // a checkpoint in the removed prefix
      const checkpoints = [checkpointAt(key, events[below] as StoredEvent)];
      const r = await verifyEvents(SINK, iterate(events.slice(start)), key, checkpoints);
      assert.equal(r.ok, false);
      assert.ok(
        r.problems.some(
          (p) => p.kind === "deleted" && p.seq === below + 1 && /below the oldest/.test(p.detail),
        ),
        JSON.stringify(r.problems),
      );
    }),
    { numRuns: 100 },
  );
});

test("a key holder who recomputes everything local is caught by a copy kept elsewhere", async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 3, max: 30 }), fc.nat(), fc.nat(), async (n, e, c) => {
      const original = Array.from({ length: n }, (_, i) => call(i));
      const honest = chainOf(key, original);
      const copied = c % n; // the copy recorded this checkpoint before the rewrite
      const offBox = copy([checkpointAt(key, honest[copied] as StoredEvent)]);
      // The intruder holds the key: edits one event and recomputes the chain from there, plus
      // a fresh local checkpoint and marks that match the rewritten log.
      const at = e % n;
      const edited = original.map((ev, i) => (i === at ? { ...ev, status: "ok", tool: "innocent" } : ev));
      const forged = chainOf(key, edited);
      const tip = forged[n - 1] as StoredEvent;
      const local = [checkpointAt(key, tip)];
      const marks: SinkMarks = { head: markOf(tip), checkpoint: markOf(tip), forged: [] };
      const opts = { checkpointFile: file(local), marks };
      assert.equal((await verifyEvents(SINK, iterate(forged), key, local, opts)).ok, true);
      const r = await verifyEvents(SINK, iterate(forged), key, local, { ...opts, copies: [offBox] });
      if (copied < at) {
        assert.equal(r.ok, true, "the copy predates the rewritten part");
        return;
      }
      assert.equal(r.ok, false, `rewrite at ${at + 1} with a copy of ${copied + 1}`);
      assert.equal(r.problem?.kind, "edited");
      assert.match(r.problem?.detail ?? "", /checkpoint copy test/);
    }),
    { numRuns: 150 },
  );
});

test("a key holder's forged rotation record does not excuse history a copy recorded", async () => {
  const honest = chainOf(
    key,
    Array.from({ length: 10 }, (_, i) => call(i)),
  );
  const offBox = copy([checkpointAt(key, honest[3] as StoredEvent)]);
  // Drop seq 1–6 and claim retention removed them, with a signed rotation record.
  const record = chain(
    key,
    honest[9] as StoredEvent,
    auditEvent({
      event: "audit",
      status: "ok",
      reason: "rotated",
      detail: { rotation: 1, rotated_files: 1, retained_from: 7 },
    }),
  );
  const left = [...honest.slice(6), record];
  assert.equal((await verifyEvents(SINK, iterate(left), key, [])).ok, true);
  const r = await verifyEvents(SINK, iterate(left), key, [], { copies: [offBox] });
  assert.equal(r.problem?.kind, "deleted");
  assert.match(r.problem?.detail ?? "", /checkpoint copy test.*seq 4, below the oldest event left/);
  // Retention the copy itself recorded (a checkpoint's `first`) does account for it.
  const recorded = copy([checkpointAt(key, honest[3] as StoredEvent), checkpointAt(key, record, 7)]);
  assert.equal((await verifyEvents(SINK, iterate(left), key, [], { copies: [recorded] })).ok, true);
});

test("a copy that cannot be read is a problem, not a pass", async () => {
  const events = chainOf(key, [call(1)]);
  const r = await verifyEvents(SINK, iterate(events), key, [], {
    copies: [{ ...copy([]), state: "unreadable", error: "connection refused" }],
  });
  assert.equal(r.problem?.kind, "missing_checkpoints");
  assert.match(r.problem?.detail ?? "", /could not be read: connection refused/);
});

/** Events stamped `stepMs` apart from a fixed time. */
const timed = (n: number, stepMs: number): StoredEvent[] =>
  chainOf(
    key,
    Array.from({ length: n }, (_, i) => ({
      ...call(i),
      ts: new Date(Date.UTC(2026, 0, 1) + i * stepMs).toISOString(),
    })),
  );
const cadence = { checkpointEvery: 5, checkpointIntervalMs: 60_000 };

test("a sink written here: no checkpoint of it in the file once it holds checkpoint_every events", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 12 }),
      fc.constantFrom("missing", "empty", "present" as const),
      async (n, state) => {
        const events = timed(n, 10);
        // The file may hold another sink's checkpoints: none of this one's.
        const other = makeCheckpoint(key, { sink: "other", seq: 1, hash: "x" });
        const local = file(state === "present" ? [other] : [], state);
        const r = await verifyEvents(SINK, iterate(events), key, local.valid, {
          checkpointFile: local,
          writtenHere: cadence,
        });
        if (n < cadence.checkpointEvery) return assert.equal(r.ok, true, JSON.stringify(r));
        assert.equal(r.problem?.kind, "missing_checkpoints");
        const why = { missing: "is missing", empty: "is empty", present: "holds no checkpoint of this sink" };
        assert.match(r.problem?.detail ?? "", new RegExp(`${why[state]}, but the log holds ${n} events`));
        // With one of its checkpoints the file is a witness; a shared (Postgres) sink expects none.
        const held = [checkpointAt(key, events[0] as StoredEvent)];
        const withOne = await verifyEvents(SINK, iterate(events), key, held, {
          checkpointFile: file(held),
          writtenHere: cadence,
        });
        assert.equal(withOne.ok, true, JSON.stringify(withOne));
        const shared = await verifyEvents(SINK, iterate(events), key, [], { checkpointFile: local });
        assert.equal(shared.ok, true);
      },
    ),
  );
});

test("a sink written here: no checkpoint of it though its events span more than the interval", async () => {
  // Two events, the timer's slack (5 s) past the interval or not.
  for (const [stepMs, ok] of [
    [60_000 + 4_000, true],
    [60_000 + 6_000, false],
  ] as const) {
    const r = await verifyEvents(SINK, iterate(timed(2, stepMs)), key, [], {
      checkpointFile: file([], "missing"),
      writtenHere: cadence,
    });
    assert.equal(r.ok, ok, JSON.stringify(r));
    if (!ok)
      assert.match(r.problem?.detail ?? "", /span 66 s and a checkpoint is written at least every 60 s/);
  }
});

test("a mark the store began to keep and holds no more was deleted; a forged one is reported as such", async () => {
  const events = timed(3, 10);
  const began = "2025-12-31T00:00:00.000Z";
  const head = markOf(events[2] as StoredEvent);
  for (const [marks, kinds] of [
    [{ forged: [], begun: {} }, []],
    [{ head, forged: [], begun: { head: began } }, []],
    [{ forged: [], begun: { head: began } }, ["missing_marks"]],
    [{ head, forged: [], begun: { head: began, checkpoint: began } }, ["missing_marks"]],
    [{ forged: ["head"], begun: { head: began } }, ["forged_checkpoint"]],
  ] as Array<[SinkMarks, string[]]>) {
    const r = await verifyEvents(SINK, iterate(events), key, [], { marks });
    assert.deepEqual(
      r.problems.map((p) => p.kind),
      kinds,
      JSON.stringify(marks),
    );
    if (kinds[0] === "missing_marks") assert.match(r.problem?.detail ?? "", new RegExp(`since ${began}`));
  }
});
