// Automatic kill rules over their counters: the local sliding window, and the Redis one shared by
// instances, which falls back to counting alone when Redis fails (a rule never stops biting). A
// server or tool rule needs events from several distinct users; anonymous events never count; a
// rate-limit refusal is not a denial.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import fc from "fast-check";
import type { AuditEvent } from "../../src/audit/event.js";
import { ConfigError } from "../../src/config/errors.js";
import { parseConfig } from "../../src/config/load.js";
import type { KillRule } from "../../src/config/types.js";
import { createLogger } from "../../src/log.js";
import { KillRules, LocalRuleCounter, type RuleCounter } from "../../src/ops/kill-rules.js";
import { RedisRuleCounter } from "../../src/ops/kill-rules-redis.js";
import { RedisState } from "../../src/state/redis.js";

const log = createLogger("silent");
const RULE: KillRule = { when: "denied", count: 3, withinMs: 60_000, kill: "user", distinctCallers: 1 };
const SERVER_RULE: KillRule = {
  when: "denied",
  count: 3,
  withinMs: 60_000,
  kill: "server",
  distinctCallers: 3,
};
const denied = (sub: string, extra: Record<string, unknown> = {}) =>
  ({
    event: "denied",
    reason: "insufficient_scope",
    server: "files",
    tool: "read_file",
    principal: { sub, auth: "bearer" },
    detail: { code: -32001 },
    ...extra,
  }) as unknown as AuditEvent;
const anonymousDenied = (source: string) =>
  denied("anonymous", { principal: { sub: "anonymous", auth: "anonymous", source } });
const rateLimited = (sub: string) =>
  denied(sub, { reason: "rate_limited", detail: { code: -32002, limit: "per_caller" } });
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

function recorder(rules: KillRule[], counter?: RuleCounter, now?: () => number) {
  const kills: string[] = [];
  const k = new KillRules(
    rules,
    async (scope, target) => kills.push(`${scope}:${target}`),
    log,
    counter,
    now,
  );
  return { kills, observe: (e: AuditEvent) => k.observe(e) };
}

test("the local window forgets events older than the window", async () => {
  let now = 0;
  const { kills, observe } = recorder([RULE], new LocalRuleCounter(), () => now);
  observe(denied("eve"));
  now = 30_000;
  observe(denied("eve"));
  now = 61_000; // the first fell out of the window
  observe(denied("eve"));
  await settle();
  assert.deepEqual(kills, []);
  observe(denied("eve"));
  await settle();
  assert.deepEqual(kills, ["user:eve"]);
});

test("the gateway's and the upstream's faults never count as the caller's denials", async () => {
  const upstream: KillRule = { ...SERVER_RULE, when: "upstream_error" };
  const { kills, observe } = recorder([RULE, upstream]);
  const refusal = (sub: string, code: number, reason: string) => denied(sub, { reason, detail: { code } });
  for (const sub of ["eve", "bob", "carol"]) {
    observe(refusal(sub, -32005, "upstream_unavailable")); // the server is down
    observe(refusal(sub, -32603, "rate_limit_unavailable")); // the gateway's store is down
    observe(refusal(sub, -32603, "cancelled")); // the client cancelled
    observe(refusal(sub, -32003, "killed"));
    observe(refusal(sub, -32005, "too_many_sessions")); // the gateway was full
  }
  await settle();
  assert.deepEqual(kills, ["server:files"], "no user is killed; the failing server is, by its own rule");
  for (let i = 0; i < 3; i++) observe(refusal("eve", -32001, "insufficient_scope"));
  await settle();
  assert.deepEqual(kills, ["server:files", "user:eve"]);
});

test("a server or tool rule: any number of events from one user, or two users, never kill", async () => {
  const toolRule: KillRule = { ...SERVER_RULE, kill: "tool" };
  const { kills, observe } = recorder([SERVER_RULE, toolRule]);
  for (let i = 0; i < 50; i++) observe(denied("mallory"));
  for (let i = 0; i < 50; i++) observe(denied("mallory2"));
  await settle();
  assert.deepEqual(kills, []);
  observe(denied("carol"));
  await settle();
  assert.deepEqual(kills.sort(), ["server:files", "tool:files/read_file"]);
});

test("distinct callers are counted in the window: a user whose events left it no longer counts", async () => {
  let now = 0;
  const { kills, observe } = recorder([SERVER_RULE], new LocalRuleCounter(), () => now);
  observe(denied("a"));
  now = 30_000;
  observe(denied("b"));
  now = 61_000; // a's event left the window
  observe(denied("c"));
  await settle();
  assert.deepEqual(kills, []);
  observe(denied("b"));
  await settle();
  assert.deepEqual(kills, [], "b and c: two callers");
  observe(denied("d"));
  await settle();
  assert.deepEqual(kills, ["server:files"]);
});

test("count and distinct callers both hold: three users, but fewer events than count, do not kill", async () => {
  const { kills, observe } = recorder([{ ...SERVER_RULE, count: 5 }]);
  for (const sub of ["a", "b", "c", "a"]) observe(denied(sub));
  await settle();
  assert.deepEqual(kills, []);
  observe(denied("b"));
  await settle();
  assert.deepEqual(kills, ["server:files"]);
});

test("anonymous and unauthenticated events never count, whatever the rule", async () => {
  const twoCallers: KillRule = { ...SERVER_RULE, count: 2, distinctCallers: 2 };
  const { kills, observe } = recorder([RULE, twoCallers, { ...twoCallers, kill: "tool" }]);
  // One real user: with anonymous callers counted as anyone, the two-caller rules would fire.
  observe(denied("bob"));
  for (let i = 0; i < 100; i++) {
    // Many anonymous sources (as from a botnet, or one host's IPv6 /64s): still nobody.
    observe(anonymousDenied(`203.0.113.${i}`));
    observe(denied("x", { principal: undefined, reason: "authentication" }));
    observe(denied("x", { principal: undefined }));
    observe({ event: "injection", server: "files", tool: "read_file" } as unknown as AuditEvent);
  }
  await settle();
  assert.deepEqual(kills, []);
});

test("a token whose subject is 'anonymous' never gets every anonymous caller killed", async () => {
  const { kills, observe } = recorder([RULE]);
  for (let i = 0; i < 5; i++) observe(denied("anonymous"));
  await settle();
  assert.deepEqual(kills, []);
});

test("rate-limit refusals are not denials; a rate_limited rule counts them", async () => {
  const limited: KillRule = { ...RULE, when: "rate_limited", count: 4 };
  const { kills, observe } = recorder([RULE, SERVER_RULE, limited]);
  for (const sub of ["a", "b", "c"]) for (let i = 0; i < 3; i++) observe(rateLimited(sub));
  await settle();
  assert.deepEqual(kills, [], "nine refusals from three users: no denied rule fires");
  observe(rateLimited("a"));
  await settle();
  assert.deepEqual(kills, ["user:a"]);
});

test("property: events from fewer users than distinct_callers never kill a server", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 2, max: 6 }),
      fc.array(fc.tuple(fc.nat({ max: 10 }), fc.nat({ max: 120_000 })), { minLength: 1, maxLength: 200 }),
      async (distinct, events) => {
        const rule: KillRule = { ...SERVER_RULE, count: 1, distinctCallers: distinct };
        let now = 0;
        const { kills, observe } = recorder([rule], new LocalRuleCounter(), () => now);
        const users = new Set<number>();
        for (const [user, dt] of events) {
          now += dt;
          // Only distinct - 1 users ever act.
          const sub = user % (distinct - 1);
          users.add(sub);
          observe(denied(`u${sub}`));
        }
        await new Promise((resolve) => setImmediate(resolve));
        assert.deepEqual(kills, []);
        assert.ok(users.size < distinct);
      },
    ),
    { numRuns: 200 },
  );
});

/** A finding in what a server sent on its own (a notification, instructions, a request to the client). */
const fromServer = (event: "injection" | "redacted", sub: string, extra: Record<string, unknown> = {}) =>
  ({
    event,
    server: "files",
    method: "notifications/message",
    status: "withheld",
    principal: { sub, auth: "bearer" },
    detail: { origin: "server", channel: "notification" },
    ...extra,
  }) as unknown as AuditEvent;

test("a server's own findings never kill the users who received them; server rules count them", async () => {
  const userRules: KillRule[] = [
    { ...RULE, when: "injection", count: 2 },
    { ...RULE, when: "redacted", count: 2 },
  ];
  const serverRule: KillRule = { ...SERVER_RULE, when: "injection", count: 2 };
  const toolRule: KillRule = { ...SERVER_RULE, when: "redacted", kill: "tool", count: 2 };
  const { kills, observe } = recorder([...userRules, serverRule, toolRule]);
  for (let i = 0; i < 10; i++) {
    observe(fromServer("injection", "alice"));
    observe(
      fromServer("redacted", "alice", {
        method: "initialize",
        detail: { origin: "server", channel: "instructions", types: { email: 1 } },
      }),
    );
  }
  observe(fromServer("injection", "bob"));
  await settle();
  assert.deepEqual(kills, [], "two users received them: no user is killed, the server not yet");
  observe(fromServer("injection", "carol"));
  await settle();
  assert.deepEqual(kills, ["server:files"]);
  // A server's request to the client during a call names the call's tool: tool rules count it.
  for (const sub of ["alice", "bob", "carol"])
    observe(fromServer("redacted", sub, { tool: "read_file", method: "sampling/createMessage" }));
  await settle();
  assert.deepEqual(kills, ["server:files", "tool:files/read_file"]);
});

test("a call's own findings still count toward the caller (results, arguments, the client's answers)", async () => {
  const { kills, observe } = recorder([{ ...RULE, when: "injection", count: 2 }]);
  const result = {
    event: "injection",
    server: "files",
    tool: "t",
    principal: { sub: "eve", auth: "bearer" },
  };
  observe(result as unknown as AuditEvent);
  observe(result as unknown as AuditEvent);
  await settle();
  assert.deepEqual(kills, ["user:eve"]);
});

test("a client that fails or declines a server's request is no upstream error; nor is a failed list", async () => {
  const rules: KillRule[] = [
    { ...RULE, when: "upstream_error", count: 2 },
    { ...SERVER_RULE, when: "upstream_error", count: 2 },
    { ...RULE, when: "denied", count: 2 },
  ];
  const { kills, observe } = recorder(rules);
  for (const sub of ["a", "b", "c", "d"]) {
    for (const reason of ["client_timeout", "client_error", "session_closed", "cancelled"]) {
      observe({
        event: "server_request",
        method: "elicitation/create",
        server: "files",
        tool: "read_file",
        status: "error",
        reason,
        principal: { sub, auth: "bearer" },
      } as unknown as AuditEvent);
    }
    // The gateway refused the server's request: not the user's denial either.
    observe({
      event: "server_request",
      server: "files",
      status: "denied",
      reason: "injection_detected",
      principal: { sub, auth: "bearer" },
      detail: { code: -32001 },
    } as unknown as AuditEvent);
    // A list the server failed: the user asked for nothing a server could fail on its behalf.
    observe({
      event: "call",
      method: "tools/list",
      status: "error",
      reason: "upstream_error",
      principal: { sub, auth: "bearer" },
    } as unknown as AuditEvent);
  }
  await settle();
  assert.deepEqual(kills, []);
  const failed = (sub: string) =>
    ({
      event: "tool_call",
      server: "files",
      tool: "read_file",
      status: "error",
      reason: "upstream_error",
      principal: { sub, auth: "bearer" },
    }) as unknown as AuditEvent;
  for (const sub of ["a", "b", "c"]) observe(failed(sub));
  await settle();
  assert.deepEqual(kills, ["server:files"], "a call the server failed still counts toward its rule");
});

test("property: no event marked as the server's ever kills a user, whatever its kind, status or count", async () => {
  const userRules: KillRule[] = (
    ["denied", "rate_limited", "redacted", "injection", "upstream_error"] as const
  ).map((when) => ({ ...RULE, when, count: 1 }));
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.record({
          event: fc.constantFrom("injection", "redacted", "denied", "tool_call", "call", "server_request"),
          status: fc.constantFrom("ok", "error", "withheld", "denied", "annotated"),
          reason: fc.constantFrom(undefined, "upstream_error", "client_error", "insufficient_scope"),
          server: fc.constantFrom(undefined, "files"),
          tool: fc.constantFrom(undefined, "t"),
          sub: fc.constantFrom("a", "b", "c"),
          channel: fc.constantFrom("notification", "instructions", "serverInfo", "request", "error"),
          code: fc.constantFrom(undefined, -32001, -32005),
        }),
        { minLength: 1, maxLength: 30 },
      ),
      async (events) => {
        const { kills, observe } = recorder(userRules);
        for (const e of events) {
          observe({
            event: e.event,
            status: e.status,
            reason: e.reason,
            server: e.server,
            tool: e.tool,
            principal: { sub: e.sub, auth: "bearer" },
            detail: { origin: "server", channel: e.channel, code: e.code },
          } as unknown as AuditEvent);
        }
        await new Promise((resolve) => setImmediate(resolve));
        assert.deepEqual(kills, []);
      },
    ),
    { numRuns: 200 },
  );
});

function rulesOf(rules: string): readonly KillRule[] {
  const text = `kill_switch: { rules: ${rules} }\nservers: [{ name: s, command: x, tools: { t: [a:b] } }]\n`;
  return parseConfig(text, "/x/t.yaml", {}).killSwitch.rules;
}

function ruleProblems(rules: string): string[] {
  try {
    rulesOf(rules);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return [...err.problems];
  }
  assert.fail("expected a config error");
}

test("config: server and tool rules need 3 distinct callers by default, at least 2; user rules 1", () => {
  const [server, tool, user, two] = rulesOf(
    "[{ when: denied, count: 5, within: 1m, kill: server }, { when: injection, count: 2, within: 1m, kill: tool }," +
      " { when: rate_limited, count: 9, within: 1m, kill: user }," +
      " { when: upstream_error, count: 20, within: 1m, kill: server, distinct_callers: 2 }]",
  );
  assert.equal(server?.distinctCallers, 3);
  assert.equal(tool?.distinctCallers, 3);
  assert.equal(user?.distinctCallers, 1);
  assert.equal(user?.when, "rate_limited");
  assert.equal(two?.distinctCallers, 2);
  const one = ruleProblems("[{ when: denied, count: 5, within: 1m, kill: server, distinct_callers: 1 }]");
  assert.ok(
    one.some((p) => p.startsWith("kill_switch.rules[0].distinct_callers: at least 2")),
    one.join("\n"),
  );
  const onUser = ruleProblems("[{ when: denied, count: 5, within: 1m, kill: user, distinct_callers: 3 }]");
  assert.ok(
    onUser.some((p) => p.startsWith("kill_switch.rules[0].distinct_callers: only for kill: server or tool")),
    onUser.join("\n"),
  );
  const fractional = ruleProblems(
    "[{ when: denied, count: 5, within: 1m, kill: tool, distinct_callers: 2.5 }]",
  );
  assert.ok(
    fractional.some((p) => p.startsWith("kill_switch.rules[0].distinct_callers")),
    fractional.join("\n"),
  );
});

const prefix = `rules${process.pid}_${Date.now()}:`;
const redis = new RedisState("redis://127.0.0.1:6379", prefix, log);
after(async () => {
  const keys = await redis.client.keys(`${prefix}*`);
  if (keys.length) await redis.client.del(...keys);
  await redis.close();
});

test("two counters on one Redis share a rule's count; a kill resets it", async () => {
  await redis.ready();
  const kills: string[] = [];
  const kill = async (_scope: string, target: string) => kills.push(target);
  const [a, b] = [
    new KillRules([RULE], kill, log, new RedisRuleCounter(redis, log)),
    new KillRules([RULE], kill, log, new RedisRuleCounter(redis, log)),
  ];
  a.observe(denied("mallory"));
  await settle();
  b.observe(denied("mallory"));
  await settle();
  b.observe(denied("bob"));
  await settle();
  assert.deepEqual(kills, []);
  a.observe(denied("mallory"));
  await settle();
  assert.deepEqual(kills, ["mallory"]);
  assert.equal((await redis.client.keys(`${prefix}rule:*`)).length, 1, "only bob's count is left");
});

test("two counters on one Redis count distinct users together; one user on both never kills", async () => {
  await redis.ready();
  const rule: KillRule = { ...SERVER_RULE, when: "injection", withinMs: 59_000 };
  const injection = (sub: string) =>
    ({
      event: "injection",
      server: "files",
      tool: "t",
      principal: { sub, auth: "bearer" },
    }) as unknown as AuditEvent;
  const kills: string[] = [];
  const kill = async (_scope: string, target: string) => kills.push(target);
  const [a, b] = [
    new KillRules([rule], kill, log, new RedisRuleCounter(redis, log)),
    new KillRules([rule], kill, log, new RedisRuleCounter(redis, log)),
  ];
  for (let i = 0; i < 10; i++) {
    a.observe(injection("mallory"));
    b.observe(injection("mallory"));
  }
  await settle();
  a.observe(injection("bob"));
  await settle();
  assert.deepEqual(kills, [], "two users over two instances");
  b.observe(injection("carol"));
  await settle();
  assert.deepEqual(kills, ["files"]);
  const left = await redis.client.keys(`${prefix}rule:*`);
  assert.deepEqual(
    left.filter((k) => k.includes(":callers")),
    [],
    "a kill resets the callers too",
  );
});

test("Redis keeps only what the decision needs: at most count events and distinct_callers callers", async () => {
  await redis.ready();
  const rule: KillRule = { ...SERVER_RULE, when: "redacted", count: 4, distinctCallers: 5, withinMs: 58_000 };
  const counter = new RedisRuleCounter(redis, log);
  let seen = { events: 0, callers: 0 };
  for (let i = 0; i < 20; i++) seen = await counter.add(rule, 0, "files", `u${i % 2}`, Date.now());
  assert.deepEqual(seen, { events: 4, callers: 2 });
  const keys = await redis.client.keys(`${prefix}rule:*`);
  for (const k of keys) assert.ok((await redis.client.zcard(k)) <= 5, k);
});

test("when Redis fails, the counter counts alone (callers too)", async () => {
  const down = new RedisState("redis://127.0.0.1:9", `${prefix}down:`, log);
  try {
    const { kills, observe } = recorder([RULE, SERVER_RULE], new RedisRuleCounter(down, log));
    for (let i = 0; i < 3; i++) {
      observe(denied("eve"));
      await settle();
    }
    assert.deepEqual(kills, ["user:eve"]);
    observe(denied("bob"));
    await settle();
    assert.deepEqual(kills, ["user:eve"]);
    observe(denied("carol"));
    await settle();
    assert.deepEqual(kills, ["user:eve", "server:files"]);
  } finally {
    await down.close();
  }
});

test("through Redis too: a server's own findings count toward its rule, never the users'", async () => {
  await redis.ready();
  const userRule: KillRule = { ...RULE, when: "injection", count: 2, withinMs: 57_000 };
  const serverRule: KillRule = { ...SERVER_RULE, when: "injection", count: 2, withinMs: 57_000 };
  const kills: string[] = [];
  const kill = async (scope: string, target: string) => kills.push(`${scope}:${target}`);
  const [a, b] = [
    new KillRules([userRule, serverRule], kill, log, new RedisRuleCounter(redis, log)),
    new KillRules([userRule, serverRule], kill, log, new RedisRuleCounter(redis, log)),
  ];
  for (let i = 0; i < 5; i++) {
    a.observe(fromServer("injection", "alice"));
    b.observe(fromServer("injection", "bob"));
  }
  await settle();
  assert.deepEqual(kills, []);
  b.observe(fromServer("injection", "carol"));
  await settle();
  assert.deepEqual(kills, ["server:files"]);
});

test("attributed crashes kill the user on that server (or everywhere); unattributed ones never count", async () => {
  const crash = (sub: string | undefined, server = "flaky") =>
    ({
      event: "upstream_crash",
      server,
      status: "error",
      reason: "upstream_crash",
      ...(sub === undefined ? {} : { principal: { sub, auth: "bearer" } }),
      detail: { isolation: "shared", in_flight: 1, attributed: sub !== undefined },
    }) as unknown as AuditEvent;
  const onServer: KillRule = {
    when: "upstream_crash",
    count: 3,
    withinMs: 60_000,
    kill: "user_on_server",
    distinctCallers: 1,
  };
  const everywhere: KillRule = { ...onServer, kill: "user" };
  const { kills, observe } = recorder([onServer, everywhere]);
  for (let i = 0; i < 5; i++) observe(crash(undefined));
  // A crash event that claims a caller but says unattributed is not counted either.
  for (let i = 0; i < 5; i++) observe({ ...crash("bob"), detail: { attributed: false } } as AuditEvent);
  observe(crash("alice"));
  observe(crash("alice", "other"));
  await settle();
  assert.deepEqual(kills, []);
  observe(crash("alice"));
  observe(crash("alice"));
  await settle();
  // (Two events in one tick may each see the full window: the same kill twice, which is idempotent.)
  assert.deepEqual([...new Set(kills)].sort(), ["user:alice", "user_on_server:flaky/alice"]);
  // A crash is no denial and no upstream error for the other rules.
  const other = recorder([RULE, { ...SERVER_RULE, when: "upstream_error" }]);
  for (let i = 0; i < 10; i++) other.observe(crash(`u${i % 4}`));
  await settle();
  assert.deepEqual(other.kills, []);
});

test("a user_on_server kill refuses that user on that server and nowhere else", async () => {
  const { killMatches } = await import("../../src/ops/kill-switch.js");
  const kill = { scope: "user_on_server" as const, target: "flaky/alice", reason: "r", by: "rule", at: "" };
  assert.equal(killMatches(kill, { server: "flaky", subject: "alice" }), true);
  assert.equal(killMatches(kill, { server: "other", subject: "alice" }), false);
  assert.equal(killMatches(kill, { server: "flaky", subject: "bob" }), false);
  assert.equal(killMatches(kill, { subject: "alice" }), false);
});
