// Automatic kill rules over their counters: the local sliding window, and the Redis one shared by
// instances, which falls back to counting alone when Redis fails (a rule never stops biting).
import assert from "node:assert/strict";
import { after, test } from "node:test";
import type { AuditEvent } from "../../src/audit/event.js";
import { createLogger } from "../../src/log.js";
import { KillRules, LocalRuleCounter } from "../../src/ops/kill-rules.js";
import { RedisRuleCounter } from "../../src/ops/kill-rules-redis.js";
import { RedisState } from "../../src/state/redis.js";

const log = createLogger("silent");
const RULE = { when: "denied", count: 3, withinMs: 60_000, kill: "user" } as const;
const denied = (sub: string) =>
  ({
    event: "denied",
    reason: "insufficient_scope",
    principal: { sub, auth: "bearer" },
  }) as unknown as AuditEvent;
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

test("the local window forgets events older than the window", async () => {
  let now = 0;
  const kills: string[] = [];
  const rules = new KillRules(
    [RULE],
    async (_scope, target) => kills.push(target),
    log,
    new LocalRuleCounter(),
    () => now,
  );
  rules.observe(denied("eve"));
  now = 30_000;
  rules.observe(denied("eve"));
  now = 61_000; // the first fell out of the window
  rules.observe(denied("eve"));
  await settle();
  assert.deepEqual(kills, []);
  rules.observe(denied("eve"));
  await settle();
  assert.deepEqual(kills, ["eve"]);
});

test("the gateway's and the upstream's faults never count as the caller's denials", async () => {
  const kills: string[] = [];
  const upstream = { when: "upstream_error", count: 3, withinMs: 60_000, kill: "server" } as const;
  const rules = new KillRules([RULE, upstream], async (_s, target) => kills.push(target), log);
  const refusal = (code: number, reason: string) =>
    ({
      event: "denied",
      reason,
      server: "files",
      principal: { sub: "eve", auth: "bearer" },
      detail: { code },
    }) as unknown as AuditEvent;
  for (let i = 0; i < 3; i++) {
    rules.observe(refusal(-32005, "upstream_unavailable")); // the server is down
    rules.observe(refusal(-32603, "rate_limit_unavailable")); // the gateway's store is down
    rules.observe(refusal(-32603, "cancelled")); // the client cancelled
    rules.observe(refusal(-32003, "killed"));
  }
  await settle();
  assert.deepEqual(kills, ["files"], "eve is not killed; the failing server is, by its own rule");
  for (let i = 0; i < 3; i++) rules.observe(refusal(-32001, "insufficient_scope"));
  await settle();
  assert.deepEqual(kills, ["files", "eve"]);
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

test("when Redis fails, the counter counts alone", async () => {
  const down = new RedisState("redis://127.0.0.1:9", `${prefix}down:`, log);
  try {
    const kills: string[] = [];
    const rules = new KillRules([RULE], async (_s, t) => kills.push(t), log, new RedisRuleCounter(down, log));
    for (let i = 0; i < 3; i++) {
      rules.observe(denied("eve"));
      await settle();
    }
    assert.deepEqual(kills, ["eve"]);
  } finally {
    await down.close();
  }
});
