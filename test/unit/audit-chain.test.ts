// The hash chain and verify, in memory: an untouched chain always verifies; any single edit,
// deletion, swap or cut (with a checkpoint at the end) never does; a log starts at seq 1 or where
// a rotation record in it says retention kept from. Property-based (fast-check).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
import { chain, EMPTY_HEAD, eventMac, GENESIS } from "../../src/audit/chain.js";
import type { Checkpoint } from "../../src/audit/checkpoints.js";
import { auditEvent, type StoredEvent } from "../../src/audit/event.js";
import { verifyEvents } from "../../src/audit/verify.js";

const key = randomBytes(32);

function build(n: number): StoredEvent[] {
  const out: StoredEvent[] = [];
  let head = EMPTY_HEAD;
  for (let i = 0; i < n; i++) {
    const e = chain(
      key,
      head,
      auditEvent({ event: "tool_call", status: i % 3 ? "ok" : "denied", tool: `t${i}` }),
    );
    out.push(e);
    head = e;
  }
  return out;
}

async function* iterate(events: readonly StoredEvent[]): AsyncIterable<StoredEvent> {
  yield* events;
}

const tip = (events: readonly StoredEvent[]): Checkpoint[] => {
  const last = events[events.length - 1] as StoredEvent;
  return [{ sink: "s", seq: last.seq, hash: last.hash, ts: "", mac: "" }];
};

test("the first event links to the genesis hash and seq 1", () => {
  const [first] = build(1);
  assert.equal(first?.seq, 1);
  assert.equal(first?.prev_hash, GENESIS);
  assert.match(first?.hash ?? "", /^[0-9a-f]{64}$/);
});

test("a stored event is the event's members in their order, then seq, prev_hash and hash", () => {
  const event = auditEvent({ event: "tool_call", status: "ok", tool: "t", detail: { n: 1 } });
  const stored = chain(key, { seq: 4, hash: "a".repeat(64) }, event);
  const linked = { ...event, seq: 5, prev_hash: "a".repeat(64) };
  assert.equal(JSON.stringify(stored), JSON.stringify({ ...linked, hash: eventMac(key, linked) }));
  // A `__proto__` member (an event read back from a file) is a member like any other.
  const odd = JSON.parse('{"id":"x","ts":"t","event":"audit","__proto__":{"a":1}}') as typeof event;
  const s = chain(key, EMPTY_HEAD, odd);
  assert.deepEqual(Object.keys(s), ["id", "ts", "event", "__proto__", "seq", "prev_hash", "hash"]);
  assert.equal(Object.getPrototypeOf(s), Object.prototype);
});

test("an untouched chain verifies", async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: 40 }), async (n) => {
      const events = build(n);
      const r = await verifyEvents("s", iterate(events), key, n ? tip(events) : []);
      assert.equal(r.ok, true, JSON.stringify(r));
    }),
    { numRuns: 30 },
  );
});

test("a different key fails at the first event", async () => {
  const r = await verifyEvents("s", iterate(build(5)), randomBytes(32), []);
  assert.equal(r.problem?.kind, "edited");
  assert.equal(r.problem?.seq, 1);
});

type Tamper = { kind: "edit" | "delete" | "swap" | "cut"; at: number };

test("any single edit, deletion, swap or cut is found", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 3, max: 30 }),
      fc.constantFrom<Tamper["kind"]>("edit", "delete", "swap", "cut"),
      fc.nat(),
      fc.constantFrom("status", "tool", "ts", "seq", "prev_hash", "principal"),
      async (n, kind, pick, field) => {
        const events = build(n);
        const checkpoints = tip(events);
        const at = pick % (n - 1);
        const tampered = [...events];
        if (kind === "edit") {
          const value = field === "seq" ? at + 7 : field === "principal" ? { sub: "mallory" } : "changed";
          tampered[at] = { ...(tampered[at] as StoredEvent), [field]: value };
        } else if (kind === "delete") tampered.splice(at, 1);
        else if (kind === "swap")
          [tampered[at], tampered[at + 1]] = [tampered[at + 1] as StoredEvent, tampered[at] as StoredEvent];
        else tampered.splice(at + 1);
        const r = await verifyEvents("s", iterate(tampered), key, checkpoints);
        assert.equal(r.ok, false, `${kind} at ${at} (${field}) went unnoticed`);
      },
    ),
    { numRuns: 200 },
  );
});

test("without a checkpoint a cut tail cannot be seen; with one it is reported as truncated", async () => {
  const events = build(10);
  const cut = events.slice(0, 7);
  assert.equal((await verifyEvents("s", iterate(cut), key, [])).ok, true);
  const r = await verifyEvents("s", iterate(cut), key, tip(events));
  assert.equal(r.problem?.kind, "truncated");
});

test("a log may start after seq 1 only where a rotation record in it says retention kept from", async () => {
  const events = build(4);
  let head: StoredEvent = events[3] as StoredEvent;
  const record = chain(
    key,
    head,
    auditEvent({
      event: "audit",
      status: "ok",
      reason: "rotated",
      detail: { rotation: 2, rotated_files: 1, retained_from: 3 },
    }),
  );
  const rest: StoredEvent[] = [...events.slice(2), record];
  head = record;
  for (let i = 0; i < 5; i++) {
    head = chain(key, head, auditEvent({ event: "tool_call", status: "ok", tool: `after${i}` }));
    rest.push(head);
  }
  // Starting exactly at the record's retained_from: the earlier file was removed by rotation.
  assert.equal((await verifyEvents("s", iterate(rest), key, [])).ok, true);
  // One event more gone than the record accounts for.
  const short = await verifyEvents("s", iterate(rest.slice(1)), key, []);
  assert.equal(short.problem?.kind, "deleted");
  assert.match(short.problem?.detail ?? "", /keeps seq 3 onwards: seq 3 missing/);
  // No record at all: only seq 1 may start a log.
  const cut = await verifyEvents("s", iterate(build(10).slice(4)), key, []);
  assert.equal(cut.problem?.kind, "deleted");
  assert.match(cut.problem?.detail ?? "", /starts at seq 5: seq 1–4 missing/);
});
