// RateLimits in-process, memory store and Redis: keys, burst, refunds and an unreachable Redis.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import pino from "pino";
import { anonymousPrincipal, tokenPrincipal, type Principal } from "../../../src/auth/principal.js";
import { parseConfig } from "../../../src/config/load.js";
import { callerKey, RateLimits, reserveRate, toolKey } from "../../../src/ops/rate-limit.js";
import { RedisState } from "../../../src/state/redis.js";

const log = pino({ level: "silent" });
const REDIS_URL = "redis://127.0.0.1:6379";

function servers(rateLimit: unknown, name = "s") {
  const text = JSON.stringify({ servers: [{ name, command: "node", rate_limit: rateLimit }] });
  return parseConfig(text, "/x/test.yaml", {}).servers;
}

const user = (subject: string, clientId?: string, method: "bearer" | "api_key" = "bearer") =>
  tokenPrincipal({ subject, clientId, scopes: [], method });

async function takeN(limits: RateLimits, n: number, p: Principal, tool?: string, server = "s") {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await limits.consume(server, p, tool));
  return out;
}

describe("keys", () => {
  test("a caller is its user (one budget whatever the client) or an anonymous source; bounded, no subject in clear", () => {
    // Three clients of one user, and its API-key-shaped credential with the same subject: one budget.
    assert.equal(callerKey(user("alice")), callerKey(user("alice", "app")));
    assert.equal(callerKey(user("alice", "app")), callerKey(user("alice", "other", "api_key")));
    const keys = [
      callerKey(user("alice")),
      callerKey(user("bob")),
      callerKey(anonymousPrincipal([], "127.0.0.2")),
      callerKey(anonymousPrincipal([], "127.0.0.3")),
      callerKey(anonymousPrincipal([], "2001:db8::/64")),
      // A token's subject that spells an anonymous caller's id is still that user.
      callerKey(user("anonymous")),
      callerKey(user("anonymous@127.0.0.2")),
      callerKey(user("user:anonymous@127.0.0.2")),
    ];
    assert.equal(new Set(keys).size, keys.length);
    assert.equal(callerKey(user("alice")), callerKey(user("alice")));
    // Anonymous callers from one source share a budget, whatever scopes they hold.
    assert.equal(
      callerKey(anonymousPrincipal(["x"], "127.0.0.2")),
      callerKey(anonymousPrincipal([], "127.0.0.2")),
    );
    const long = callerKey(user("x".repeat(100_000) + "@example.com"));
    assert.equal(long.length, 22);
    assert.ok(!long.includes("example"));
  });

  test("tool names: readable when safe, hashed otherwise, never colliding", () => {
    assert.equal(toolKey("read_file"), "tool=read_file");
    const odd = ["a:b", "a b", "x".repeat(65), "tool=a", "é", "__proto__x:"];
    const keys = odd.map(toolKey);
    for (const k of keys) assert.match(k, /^tool[=#][A-Za-z0-9_.=-]{1,64}$/);
    assert.equal(new Set([...keys, toolKey("a_b")]).size, odd.length + 1);
    assert.equal(toolKey("x".repeat(65)).length, "tool#".length + 22);
  });

  test("the reserve of burst n is n calls per ten windows of the rate", () => {
    assert.deepEqual(
      { ...reserveRate({ points: 60, durationS: 60, text: "60/min" }, 20) },
      {
        points: 20,
        durationS: 600,
        text: "20/600s",
      },
    );
  });
});

describe("memory store", () => {
  test("per caller: the rate per window, then refusals with the window's remaining time", async () => {
    const limits = new RateLimits(servers("3/min"), undefined, log);
    const results = await takeN(limits, 4, user("alice"));
    assert.deepEqual(results.slice(0, 3), [undefined, undefined, undefined]);
    const refusal = results[3];
    assert.equal(refusal?.limit, "per_caller");
    assert.ok(refusal.retryAfterMs > 55_000 && refusal.retryAfterMs <= 60_000, String(refusal.retryAfterMs));
    // Another caller, and another server, have their own budgets.
    assert.equal(await limits.consume("s", user("bob"), undefined), undefined);
    assert.equal(await limits.consume("other", user("alice"), undefined), undefined);
  });

  test("no limits configured: nothing to enable", () => {
    assert.equal(new RateLimits(servers(undefined), undefined, log).enabled, false);
    assert.equal(new RateLimits(servers({}), undefined, log).enabled, false);
    assert.equal(new RateLimits(servers({ burst: 5 }), undefined, log).enabled, false);
  });

  test("per tool: only the named tool, per caller, on top of the per-caller rate", async () => {
    const limits = new RateLimits(servers({ per_caller: "5/min", tools: { echo: "2/min" } }), undefined, log);
    const alice = user("alice");
    assert.deepEqual(await takeN(limits, 2, alice, "echo"), [undefined, undefined]);
    assert.equal((await limits.consume("s", alice, "echo"))?.limit, "tool");
    assert.equal(await limits.consume("s", user("bob"), "echo"), undefined);
    // The refused echo was given back to the per-caller limit: 2 used of 5.
    assert.deepEqual(await takeN(limits, 3, alice, "pid"), [undefined, undefined, undefined]);
    assert.equal((await limits.consume("s", alice, "pid"))?.limit, "per_caller");
  });

  test("total: every caller together; a caller's own refusals do not spend it", async () => {
    const limits = new RateLimits(servers({ per_caller: "2/min", total: "4/min" }), undefined, log);
    const [alice, bob, carol] = [user("alice"), user("bob"), user("carol")];
    // Alice floods: two calls count against total, her refused ones do not.
    const flood = await takeN(limits, 10, alice);
    assert.equal(flood.filter((r) => r === undefined).length, 2);
    assert.ok(flood.slice(2).every((r) => r?.limit === "per_caller"));
    assert.deepEqual(await takeN(limits, 2, bob), [undefined, undefined]);
    const refused = await limits.consume("s", carol, undefined);
    assert.equal(refused?.limit, "total");
    assert.ok(refused.retryAfterMs > 0);
  });

  test("burst n: n calls past the rate, from a reserve that does not refill with the window", async () => {
    const limits = new RateLimits(servers({ per_caller: "2/sec", burst: 2 }), undefined, log);
    const alice = user("alice");
    const first = await takeN(limits, 5, alice);
    assert.deepEqual(first.slice(0, 4), [undefined, undefined, undefined, undefined]);
    assert.equal(first[4]?.limit, "per_caller");
    // Told to wait for the window (not the reserve's ten), it gets the rate back, but no burst.
    assert.ok((first[4]?.retryAfterMs ?? 0) <= 1000);
    await sleep((first[4]?.retryAfterMs ?? 0) + 50);
    const second = await takeN(limits, 3, alice);
    assert.deepEqual(second.slice(0, 2), [undefined, undefined]);
    assert.equal(second[2]?.limit, "per_caller");
  });

  test("burst applies to per-tool limits too, not to total", async () => {
    const limits = new RateLimits(
      servers({ total: "3/min", tools: { echo: "1/min" }, burst: 1 }),
      undefined,
      log,
    );
    const alice = user("alice");
    assert.deepEqual(await takeN(limits, 2, alice, "echo"), [undefined, undefined]);
    assert.equal((await limits.consume("s", alice, "echo"))?.limit, "tool");
    assert.equal(await limits.consume("s", alice, "pid"), undefined);
    assert.equal((await limits.consume("s", alice, "pid"))?.limit, "total");
  });

  test("a refusal gives back the burst reserve it drew on", async () => {
    const limits = new RateLimits(servers({ per_caller: "1/min", burst: 1, total: "2/sec" }), undefined, log);
    const [alice, bob] = [user("alice"), user("bob")];
    assert.equal(await limits.consume("s", alice, undefined), undefined);
    assert.equal(await limits.consume("s", bob, undefined), undefined);
    // Total is spent: Alice's draw on her reserve is undone with the rest of the call.
    const refused = await limits.consume("s", alice, undefined);
    assert.equal(refused?.limit, "total");
    await sleep((refused?.retryAfterMs ?? 0) + 50);
    // Her window is still spent for the minute; the reserve is still there, once.
    assert.equal(await limits.consume("s", alice, undefined), undefined);
    assert.equal((await limits.consume("s", alice, undefined))?.limit, "per_caller");
  });
});

describe("redis store", () => {
  const prefix = `t${process.pid}_${Date.now()}_unit:`;
  const admin = new Redis(REDIS_URL);
  const states: RedisState[] = [];
  const open = async (url = REDIS_URL, wait = true) => {
    const state = new RedisState(url, prefix, log);
    states.push(state);
    if (wait) await state.ready();
    return state;
  };

  after(async () => {
    await Promise.all(states.map((s) => s.close()));
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
    admin.disconnect();
  });

  test("two instances count against one budget, under the deployment's prefix", async () => {
    const config = servers({ per_caller: "3/min", tools: { "odd name": "5/min" } }, "shared");
    const a = new RateLimits(config, await open(), log);
    const b = new RateLimits(config, await open(), log);
    const alice = user("alice");
    assert.equal(await a.consume("shared", alice, "odd name"), undefined);
    assert.equal(await b.consume("shared", alice, "odd name"), undefined);
    assert.equal(await a.consume("shared", alice, undefined), undefined);
    const refusal = await b.consume("shared", alice, undefined);
    assert.equal(refusal?.limit, "per_caller");
    assert.ok(refusal.retryAfterMs > 55_000);
    const keys = (await admin.keys(`${prefix}*`)).sort();
    assert.deepEqual(keys, [
      `${prefix}rl:shared:caller:${callerKey(alice)}`,
      `${prefix}rl:shared:${toolKey("odd name")}:${callerKey(alice)}`,
    ]);
    // The refused call's tool count was given back; the window count keeps the attempt.
    assert.equal(await admin.get(keys[1] as string), "2");
    assert.equal(await admin.get(keys[0] as string), "4");
    assert.ok((await admin.pttl(keys[0] as string)) > 55_000);
  });

  test("Redis unreachable: each instance enforces the limits on its own memory", async () => {
    const down = await open("redis://127.0.0.1:1", false);
    const limits = new RateLimits(servers("2/min", "down"), down, log);
    const results = await takeN(limits, 3, user("alice"), undefined, "down");
    assert.deepEqual(results.slice(0, 2), [undefined, undefined]);
    assert.equal(results[2]?.limit, "per_caller");
  });
});
