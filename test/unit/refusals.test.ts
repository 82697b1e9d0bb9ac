// The recorder of refusals made before the pipeline: one `denied` event, one count and one log
// line per refusal; a flood's later refusals counted only, then audited in one summary.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { AuditEvent } from "../../src/audit/event.js";
import type { AuditLog } from "../../src/audit/log.js";
import { anonymousPrincipal, tokenPrincipal } from "../../src/auth/principal.js";
import { ErrorCode, GatewayError } from "../../src/errors.js";
import { Refusals } from "../../src/gateway/refusals.js";
import { createLogger } from "../../src/log.js";

const log = createLogger("silent");
const alice = tokenPrincipal({ subject: "alice", clientId: "c1", scopes: [], method: "bearer" });

function setup(failing = false) {
  const events: AuditEvent[] = [];
  const counted: string[] = [];
  const audit = {
    record: async (e: AuditEvent) => {
      if (failing) throw new Error("sink down");
      events.push(e);
    },
  } as unknown as AuditLog;
  return { events, counted, refusals: new Refusals(audit, { denied: (r) => counted.push(r) }, log) };
}

test("a refusal is counted and audited as `denied`, its code in the detail", async () => {
  const { events, counted, refusals } = setup();
  const refusal = new GatewayError(ErrorCode.Killed, "killed", "killed", {}, 403);
  await refusals.record(refusal, {
    principal: alice,
    session: "s1",
    request_id: 7,
    method: "initialize",
    detail: { scope: "user" },
    log: { context: { never: "audited" } },
  });
  assert.deepEqual(counted, ["killed"]);
  assert.equal(events.length, 1);
  const { id, ts, ...rest } = events[0] as AuditEvent;
  assert.ok(id && ts);
  assert.deepEqual(rest, {
    event: "denied",
    principal: { sub: "alice", client_id: "c1", auth: "bearer" },
    session: "s1",
    request_id: 7,
    method: "initialize",
    status: "denied",
    reason: "killed",
    detail: { scope: "user", code: ErrorCode.Killed },
  });
});

test("a refusal without a code has none in its detail; one without a caller names none", async () => {
  const { events, refusals } = setup();
  await refusals.record({ reason: "authentication" }, { detail: { error: "no_token", path: "/mcp" } });
  const e = events[0] as AuditEvent;
  assert.equal(e.principal, undefined);
  assert.deepEqual(e.detail, { error: "no_token", path: "/mcp" });
  await refusals.record(
    { reason: "json_limit_exceeded", code: -32600 },
    { principal: anonymousPrincipal([]) },
  );
  assert.deepEqual(events[1]?.principal, { sub: "anonymous", auth: "anonymous", source: "local" });
  assert.deepEqual(events[1]?.detail, { code: -32600 });
});

test("an audit write that fails rejects with audit_unavailable, after the refusal was counted", async () => {
  const { counted, refusals } = setup(true);
  await assert.rejects(refusals.record({ reason: "too_many_sessions", code: -32005 }), (err) => {
    assert.ok(err instanceof GatewayError);
    assert.equal(err.reason, "audit_unavailable");
    return true;
  });
  assert.deepEqual(counted, ["too_many_sessions"]);
});

test("a flood: later refusals counted only, then one summary audited and not counted again", async () => {
  const { events, counted, refusals } = setup();
  for (let i = 0; i < 3; i++) refusals.count("rate_limited");
  await refusals.summarise({ reason: "rate_limited", code: -32002 }, 3, {
    principal: { sub: "alice" },
    detail: { limit: "refused_bodies" },
  });
  assert.deepEqual(counted, ["rate_limited", "rate_limited", "rate_limited"]);
  assert.equal(events.length, 1);
  assert.deepEqual(events[0]?.detail, { limit: "refused_bodies", refused: 3, summary: true, code: -32002 });
  // A summary never rejects: nothing waits on it.
  await setup(true).refusals.summarise({ reason: "source_rate_limited" }, 1, {});
});
