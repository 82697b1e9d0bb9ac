import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, scryptSync } from "node:crypto";
import type { IncomingMessage } from "node:http";
import {
  MAX_CONCURRENT_DERIVATIONS,
  MAX_WAITING_DERIVATIONS,
  PasswordCheckBusy,
  verifyPassword,
} from "../../../src/auth/passwords.js";
import type { AuditEvent } from "../../../src/audit/event.js";
import { ConfigError } from "../../../src/config/errors.js";
import { parseConfig } from "../../../src/config/load.js";
import type { AuditLog } from "../../../src/audit/log.js";
import { Refusals } from "../../../src/gateway/refusals.js";
import { createLogger } from "../../../src/log.js";
import { FailedAuthGuard } from "../../../src/ops/failed-auth.js";
import {
  FloodRecorder,
  SourceGuard,
  SourceLimits,
  type SourceLimitName,
} from "../../../src/ops/source-limits.js";

const log = createLogger("silent");
const rate = (points: number, durationS: number) => ({ points, durationS, text: `${points}/${durationS}s` });

/** A cheap scrypt hash in the stored format (N=1024), so the test is about queueing, not CPU. */
function cheapHash(password: string): string {
  const salt = randomBytes(16);
  const key = scryptSync(password, salt, 32, { N: 1024, r: 8, p: 1 });
  return `scrypt$1024$8$1$${salt.toString("base64url")}$${key.toString("base64url")}`;
}

test("password checks beyond the running and waiting slots are refused at once, the rest verify", async () => {
  const hash = cheapHash("right");
  const extra = 5;
  const total = MAX_CONCURRENT_DERIVATIONS + MAX_WAITING_DERIVATIONS + extra;
  const outcomes = await Promise.allSettled(
    Array.from({ length: total }, () => verifyPassword("right", hash)),
  );
  const busy = outcomes.filter((o) => o.status === "rejected" && o.reason instanceof PasswordCheckBusy);
  const verified = outcomes.filter((o) => o.status === "fulfilled" && o.value === true);
  assert.equal(busy.length, extra);
  assert.equal(verified.length, total - extra);
  // Every slot came back: a later check runs.
  assert.equal(await verifyPassword("right", hash), true);
  assert.equal(await verifyPassword("wrong", hash), false);
});

/** A request from `address`, as the guard sees it. */
const from = (address: string) => ({ socket: { remoteAddress: address } }) as unknown as IncomingMessage;

/** Refusals recorded into `audit`, counted nowhere. */
const refusals = (audit: AuditLog) => new Refusals(audit, { denied: () => {} }, log);

function recordingAudit(): { audit: AuditLog; events: AuditEvent[] } {
  const events: AuditEvent[] = [];
  const audit = { record: async (e: AuditEvent) => void events.push(e) } as unknown as AuditLog;
  return { audit, events };
}

test("a source past its budget is refused; other sources, and an IPv6 host's neighbours outside its /64, are not", async () => {
  const limits = new SourceLimits(
    {
      failedAuth: rate(3, 60),
      authorize: undefined,
      signIn: undefined,
      register: undefined,
      refusedBodies: undefined,
    },
    undefined,
    log,
  );
  for (let i = 0; i < 3; i++) assert.equal(await limits.take("failed_auth", "192.0.2.1"), undefined);
  const refused = await limits.take("failed_auth", "192.0.2.1");
  assert.equal(refused?.limit, "failed_auth");
  assert.ok(refused && refused.retryAfterS >= 1 && refused.retryAfterS <= 60);
  assert.equal(refused?.first, true);
  assert.equal((await limits.take("failed_auth", "192.0.2.1"))?.first, false);
  assert.equal(await limits.take("failed_auth", "192.0.2.2"), undefined);
  assert.equal(await limits.take("authorize", "192.0.2.1"), undefined, "a limit set to off never refuses");

  const { audit } = recordingAudit();
  const guard = new SourceGuard(limits, refusals(audit));
  // Addresses of one /64 are one source; the next /64 is another.
  for (let i = 0; i < 3; i++)
    assert.equal(await guard.check("failed_auth", from(`2001:db8:0:1::${i + 1}`)), undefined);
  assert.ok(await guard.check("failed_auth", from("2001:db8:0:1:ffff::9")));
  assert.equal(await guard.check("failed_auth", from("2001:db8:0:2::1")), undefined);
  // An IPv4-mapped address is its IPv4 address.
  assert.ok(await guard.check("failed_auth", from("::ffff:192.0.2.1")));
  guard.close();
});

test("a flood is recorded once in full and then as one summary per source", async () => {
  const limits = new SourceLimits(
    {
      failedAuth: rate(1, 60),
      authorize: undefined,
      signIn: undefined,
      register: undefined,
      refusedBodies: undefined,
    },
    undefined,
    log,
  );
  const { audit, events } = recordingAudit();
  const guard = new SourceGuard(limits, refusals(audit));
  for (let i = 0; i < 50; i++) await guard.check("failed_auth", from("198.51.100.7"));
  for (let i = 0; i < 10; i++) await guard.check("failed_auth", from("198.51.100.8"));
  assert.equal(events.length, 2, "one full event per source so far");
  guard.close(); // flushes the summaries
  await new Promise((r) => setImmediate(r));
  const summaries = events.filter((e) => e.detail?.summary === true);
  assert.deepEqual(summaries.map((e) => [e.detail?.source, e.detail?.refused]).sort(), [
    ["198.51.100.7", 48],
    ["198.51.100.8", 8],
  ]);
  assert.ok(events.every((e) => e.event === "denied" && e.reason === "source_rate_limited"));
});

test("the flood recorder's summaries stay bounded however many sources flood", () => {
  const seen: Array<[string, number]> = [];
  const recorder = new FloodRecorder((_limit, source, refused) => seen.push([source, refused]), 3_600_000);
  for (let i = 0; i < 10_050; i++) recorder.count("register", `10.0.${i >> 8}.${i & 255}`);
  recorder.close();
  assert.equal(seen.length, 10_001);
  assert.deepEqual(
    seen.find(([s]) => s === "other"),
    ["other", 50],
  );
});

test("config: the flood and body keys have their documented defaults, take `off`, and are bounded", () => {
  const minimal = "servers:\n  - name: a\n    command: node\n";
  const g = parseConfig(minimal, "/x/test.yaml", {}).gateway;
  assert.equal(g.maxJsonWidth, 10_000);
  assert.equal(g.maxJsonValues, 100_000);
  assert.equal(g.requestTimeoutMs, 30_000);
  assert.deepEqual(
    Object.fromEntries(Object.entries(g.sourceLimits).map(([k, r]) => [k, (r as { text?: string })?.text])),
    {
      failedAuth: "120/min",
      authorize: "120/min",
      signIn: "60/min",
      register: "30/hour",
      refusedBodies: "30/min",
    },
  );
  const off = parseConfig(
    `gateway:\n  request_timeout: 2s\n  source_limits: { register: "off", sign_in: 5/min }\n${minimal}`,
    "/x/test.yaml",
    {},
  ).gateway;
  assert.equal(off.sourceLimits.register, undefined);
  assert.equal(off.sourceLimits.signIn?.points, 5);
  assert.equal(off.requestTimeoutMs, 2000);
  for (const bad of [
    "gateway:\n  request_timeout: 500ms\n",
    "gateway:\n  max_json_width: 2\n",
    "gateway:\n  source_limits: { sign_in: lots }\n",
    "gateway:\n  source_limits: { logins: 5/min }\n",
  ]) {
    assert.throws(() => parseConfig(`${bad}${minimal}`, "/x/test.yaml", {}), ConfigError, bad);
  }
});

/** Limits that count how often their counters are read. */
class CountingLimits extends SourceLimits {
  takes = 0;
  override take(limit: SourceLimitName, source: string) {
    this.takes++;
    return super.take(limit, source);
  }
}

function failedAuthOnly(points: number): CountingLimits {
  return new CountingLimits(
    {
      failedAuth: rate(points, 60),
      authorize: rate(points, 60),
      signIn: undefined,
      register: undefined,
      refusedBodies: undefined,
    },
    undefined,
    log,
  );
}

test("a source this instance refused is cut until its window ends: answered from memory, per limit and source", async (t) => {
  t.mock.timers.enable({ apis: ["Date"], now: Date.now() });
  const limits = failedAuthOnly(2);
  const { audit, events } = recordingAudit();
  let counted = 0;
  const guard = new SourceGuard(limits, new Refusals(audit, { denied: () => counted++ }, log));
  const flooder = from("192.0.2.50");
  assert.equal(guard.cut("failed_auth", flooder), undefined, "nobody is cut yet");
  for (let i = 0; i < 2; i++) assert.equal(await guard.check("failed_auth", flooder), undefined);
  assert.equal((await guard.check("failed_auth", flooder))?.first, true);
  const reads = limits.takes;
  // Cut: `cut` and `check` answer without reading the counters; other sources and limits are not.
  const cut = guard.cut("failed_auth", flooder);
  assert.equal(cut?.limit, "failed_auth");
  assert.ok(cut && cut.retryAfterS >= 1 && cut.retryAfterS <= 60);
  assert.equal((await guard.check("failed_auth", flooder))?.first, false);
  assert.equal(limits.takes, reads, "a cut source's refusal read the counters");
  assert.equal(guard.cut("failed_auth", from("192.0.2.51")), undefined);
  assert.equal(guard.cut("authorize", flooder), undefined);
  assert.equal(
    guard.cut("failed_auth", flooder, () => true),
    undefined,
    "exempt",
  );
  assert.equal(counted, 3, "every refusal counted in the metrics, exempt ones not");
  // Past the window the source is the counters' again.
  t.mock.timers.tick(61_000);
  assert.equal(guard.cut("failed_auth", flooder), undefined);
  guard.close();
  await new Promise((r) => setImmediate(r));
  const summary = events.find((e) => e.detail?.summary === true);
  assert.equal(summary?.detail?.refused, 2, "the refusals from memory are in the flood's summary");
});

test("failed_auth: past the budget a credential is refused before verification unless it passed in the last minute", async (t) => {
  t.mock.timers.enable({ apis: ["Date"], now: Date.now() });
  const { audit } = recordingAudit();
  const sources = new SourceGuard(failedAuthOnly(3), refusals(audit));
  const gate = new FailedAuthGuard(sources);
  const flooder = from("198.51.100.20");
  gate.passed("Bearer agent");
  for (let i = 0; i < 3; i++) {
    assert.equal(gate.before(flooder, `Bearer made-up-${i}`), undefined, "under the budget: verified");
    assert.equal(await gate.refused(flooder, {}), undefined);
  }
  assert.ok(await gate.refused(flooder, {}), "past the budget");
  assert.equal(gate.before(flooder, "Bearer made-up-9")?.limit, "failed_auth");
  assert.equal(gate.before(flooder, "Bearer newcomer")?.limit, "failed_auth", "never verified: waits");
  assert.equal(gate.before(flooder, "Bearer agent"), undefined, "verified in the last minute: passes");
  assert.equal(gate.before(flooder, undefined), undefined, "no credential: nothing to verify");
  assert.equal(gate.before(from("198.51.100.21"), "Bearer newcomer"), undefined, "another source");
  // Near the end of the window the agent still passes; past it nobody is held.
  t.mock.timers.tick(59_000);
  assert.equal(gate.before(flooder, "Bearer agent"), undefined);
  t.mock.timers.tick(2_000);
  assert.equal(gate.before(flooder, "Bearer newcomer"), undefined, "the window is over");
  sources.close();
});

test("failed_auth: a credential's pass lapses a minute after it was last verified", async (t) => {
  t.mock.timers.enable({ apis: ["Date"], now: Date.now() });
  const { audit } = recordingAudit();
  const limits = new SourceLimits(
    {
      failedAuth: rate(1, 3600),
      authorize: undefined,
      signIn: undefined,
      register: undefined,
      refusedBodies: undefined,
    },
    undefined,
    log,
  );
  const sources = new SourceGuard(limits, refusals(audit));
  const gate = new FailedAuthGuard(sources);
  const flooder = from("203.0.113.40");
  gate.passed("Bearer agent");
  await gate.refused(flooder, {});
  assert.ok(await gate.refused(flooder, {}), "cut for the hour");
  assert.equal(gate.before(flooder, "Bearer agent"), undefined);
  t.mock.timers.tick(40_000);
  gate.passed("Bearer agent"); // still in session: its pass is renewed
  t.mock.timers.tick(40_000);
  assert.equal(gate.before(flooder, "Bearer agent"), undefined, "renewed 40 s ago");
  t.mock.timers.tick(61_000);
  assert.equal(gate.before(flooder, "Bearer agent")?.limit, "failed_auth", "idle for a minute");
  sources.close();
});
