// The session caps' rules on their own (CallerSessions): per caller, and the fair share of a full
// gateway, checked against every sequence of opens, uses and closes fast-check finds.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { CallerSessions } from "../../../src/gateway/caller-sessions.js";

interface FakeSession {
  readonly name: string;
  lastSeen: number;
}

/** What Gateway.createSession does with the registry (without the idle sweep), and what it closed. */
function openWith(reg: CallerSessions<FakeSession>, caller: string, s: FakeSession) {
  const closed: FakeSession[] = [];
  const own = reg.overCap(caller);
  if (own) closed.push(own);
  if (own) reg.delete(own);
  if (reg.full) {
    const other = reg.yieldingTo(caller);
    if (other) closed.push(other);
    if (other) reg.delete(other);
  }
  if (reg.full) return { outcome: "refused" as const, closed };
  reg.add(caller, s);
  return { outcome: "opened" as const, closed };
}

const open = (reg: CallerSessions<FakeSession>, caller: string, s: FakeSession) =>
  openWith(reg, caller, s).outcome;

test("a user's sessions past its cap go, oldest first; a full gateway takes from the biggest holder", () => {
  const reg = new CallerSessions<FakeSession>(4, 2);
  let clock = 0;
  const s = (name: string) => ({ name, lastSeen: ++clock });
  const [a1, a2, a3] = [s("alice-1"), s("alice-2"), s("alice-3")];
  assert.equal(open(reg, "user:alice", a1), "opened");
  assert.equal(open(reg, "user:alice", a2), "opened");
  assert.equal(open(reg, "user:alice", a3), "opened");
  assert.equal(reg.count("user:alice"), 2, "alice's oldest went");
  assert.equal(reg.overCap("user:alice"), a2);
  assert.equal(open(reg, "user:bob", s("bob")), "opened");
  assert.equal(open(reg, "anonymous@127.0.0.3", s("anon")), "opened");
  assert.equal(reg.full, true);
  assert.equal(reg.yieldingTo("user:dave"), a2, "alice holds two more than dave");
  assert.equal(open(reg, "user:dave", s("dave")), "opened");
  assert.deepEqual(
    ["user:alice", "user:bob", "anonymous@127.0.0.3", "user:dave"].map((c) => reg.count(c)),
    [1, 1, 1, 1],
  );
  assert.equal(reg.yieldingTo("user:erin"), undefined, "one each: nobody yields to a newcomer");
  assert.equal(open(reg, "user:erin", s("erin")), "refused");
  assert.equal(open(reg, "user:alice", s("alice-4")), "refused", "alice would hold two to the others' one");
});

test("property: no caller over its cap; a refusal only when no one holds two more; a yield never inverts", () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant("open" as const), caller: fc.nat({ max: 6 }) }),
    fc.record({ kind: fc.constant("use" as const), pick: fc.nat() }),
    fc.record({ kind: fc.constant("close" as const), pick: fc.nat() }),
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 1, max: 6 }),
      fc.array(op, { maxLength: 120 }),
      (maxTotal, maxPerCaller, ops) => {
        const reg = new CallerSessions<FakeSession>(maxTotal, maxPerCaller);
        const live: Array<{ s: FakeSession; caller: string }> = [];
        let clock = 0;
        const counts = () => {
          const m = new Map<string, number>();
          for (const { caller } of live) m.set(caller, (m.get(caller) ?? 0) + 1);
          return m;
        };
        for (const o of ops) {
          if (o.kind === "use" && live.length > 0) {
            (live[o.pick % live.length] as { s: FakeSession }).s.lastSeen = ++clock;
            continue;
          }
          if (o.kind === "close" && live.length > 0) {
            const [gone] = live.splice(o.pick % live.length, 1);
            reg.delete((gone as { s: FakeSession }).s);
            continue;
          }
          if (o.kind !== "open") continue;
          const caller = `c${o.caller}`;
          const before = counts();
          const s = { name: `s${clock}`, lastSeen: ++clock };
          const { outcome, closed } = openWith(reg, caller, s);
          for (const c of closed)
            live.splice(
              live.findIndex((l) => l.s === c),
              1,
            );
          if (outcome === "opened") live.push({ s, caller });
          const after = counts();
          assert.equal(reg.size, live.length);
          assert.ok(reg.size <= maxTotal);
          for (const [c, n] of after) assert.ok(n <= maxPerCaller, `${c} holds ${n} > ${maxPerCaller}`);
          const mineBefore = Math.min(before.get(caller) ?? 0, maxPerCaller - 1);
          if (outcome === "refused") {
            // Nobody could have yielded: every other caller held at most one more than this one.
            for (const [c, n] of before) if (c !== caller) assert.ok(n <= mineBefore + 1, `${c} held ${n}`);
          }
          // Whoever gave a session up for this caller still holds at least as many as it now does.
          for (const [c, n] of before) {
            if (c === caller) continue;
            const now = after.get(c) ?? 0;
            if (now < n) assert.ok(now >= (after.get(caller) ?? 0), `${c} went from ${n} to ${now}`);
          }
        }
      },
    ),
    { numRuns: 500 },
  );
});
