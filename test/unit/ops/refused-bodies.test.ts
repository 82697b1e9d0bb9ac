// Bodies refused before parsing, per caller: audited like a flood (the first of a minute in full,
// then one summary per caller), and past `refused_bodies` the caller is cut with 429 (-32002) until
// the window ends, its later requests refused before their bodies are read.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { AuditEvent } from "../../../src/audit/event.js";
import type { AuditLog } from "../../../src/audit/log.js";
import { anonymousPrincipal, tokenPrincipal } from "../../../src/auth/principal.js";
import { Refusals } from "../../../src/gateway/refusals.js";
import { createLogger } from "../../../src/log.js";
import { RefusedBodies } from "../../../src/ops/refused-bodies.js";
import { SourceLimits } from "../../../src/ops/source-limits.js";

const log = createLogger("silent");
const alice = tokenPrincipal({ subject: "alice", clientId: "c1", scopes: [], method: "bearer" });
const aliceOtherClient = tokenPrincipal({ subject: "alice", clientId: "c2", scopes: [], method: "bearer" });
const bob = tokenPrincipal({ subject: "bob", clientId: "c1", scopes: [], method: "bearer" });

function setup(points: number) {
  const events: AuditEvent[] = [];
  const counted: string[] = [];
  const audit = { record: async (e: AuditEvent) => void events.push(e) } as unknown as AuditLog;
  const limits = new SourceLimits(
    {
      failedAuth: undefined,
      authorize: undefined,
      signIn: undefined,
      register: undefined,
      refusedBodies: { points, durationS: 60, text: `${points}/min` },
    },
    undefined,
    log,
  );
  const bodies = new RefusedBodies(limits, new Refusals(audit, { denied: (r) => counted.push(r) }, log));
  return { events, counted, bodies };
}

const flushed = async (bodies: RefusedBodies) => {
  bodies.close();
  await new Promise((r) => setImmediate(r));
};

test("a caller's refused bodies: the first in full, the rest summarised; past the budget a cut, once in full", async () => {
  const { events, counted, bodies } = setup(5);
  const detail = { limit: "depth", path: "/mcp" };
  const answers = [];
  // Two clients of one user are one caller: one budget.
  for (let i = 0; i < 5; i++)
    answers.push(await bodies.refused(i % 2 ? alice : aliceOtherClient, "json_limit_exceeded", detail));
  assert.deepEqual(answers, [undefined, undefined, undefined, undefined, undefined]);
  assert.equal(events.length, 1, "one full event for the first refusal");
  assert.equal(events[0]?.reason, "json_limit_exceeded");
  assert.equal(events[0]?.principal?.sub, "alice");
  assert.deepEqual(events[0]?.detail, { limit: "depth", path: "/mcp", code: -32600 });

  const cut = await bodies.refused(alice, "json_limit_exceeded", detail);
  assert.equal(cut?.limit, "refused_bodies");
  assert.ok(cut && cut.retryAfterS >= 1 && cut.retryAfterS <= 60);
  assert.equal(events.length, 2, "the cut in full");
  assert.equal(events[1]?.reason, "rate_limited");
  assert.equal(events[1]?.detail?.code, -32002);
  assert.equal(events[1]?.detail?.limit, "refused_bodies");

  // Cut: later requests are refused unread, whatever client; another user is not.
  for (let i = 0; i < 100; i++) assert.ok(bodies.cut(i % 2 ? alice : aliceOtherClient));
  assert.ok(await bodies.refused(alice, "body_too_large", { path: "/mcp" }));
  assert.equal(bodies.cut(bob), undefined);
  assert.equal(await bodies.refused(bob, "json_limit_exceeded", detail), undefined);
  assert.equal(events.length, 3, "bob's first refusal in full; nothing more for alice");

  await flushed(bodies);
  const summaries = events.filter((e) => e.detail?.summary === true);
  assert.deepEqual(
    summaries.map((e) => [e.principal?.sub, e.reason, e.detail?.refused, e.detail?.code]).sort(),
    [
      ["alice", "json_limit_exceeded", 4, -32600],
      ["alice", "rate_limited", 101, -32002],
    ],
  );
  assert.equal(counted.filter((r) => r === "json_limit_exceeded").length, 6);
  assert.equal(counted.filter((r) => r === "rate_limited").length, 102);
});

test("anonymous callers are counted per source address", async () => {
  const { bodies } = setup(1);
  const a = anonymousPrincipal(["x"], "192.0.2.1");
  const b = anonymousPrincipal(["x"], "192.0.2.2");
  assert.equal(await bodies.refused(a, "json_limit_exceeded", {}), undefined);
  assert.ok(await bodies.refused(a, "json_limit_exceeded", {}));
  assert.ok(bodies.cut(a));
  assert.equal(bodies.cut(b), undefined);
  assert.equal(await bodies.refused(b, "json_limit_exceeded", {}), undefined);
  await flushed(bodies);
});
