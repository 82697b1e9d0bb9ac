// Rate limits with state.redis: two gateway processes on one Redis count against one budget, and a
// gateway started after both have stopped still sees the spent budget. When Redis stops answering
// or goes away, each instance keeps enforcing the limits on its own.
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import type { McpError } from "@modelcontextprotocol/sdk/types.js";
import { mcpError, reasonOf } from "../helpers/client.js";
import { gatewayConfig, recorderStdio } from "../helpers/configs.js";
import {
  connectClient,
  makeTempDir,
  startGateway,
  type ConnectedClient,
  type Gateway,
} from "../helpers/gateway.js";
import { killGroup, spawnTracked } from "../helpers/processes.js";
import { readRecords, receivedToolCalls } from "../helpers/records.js";
import { freePort } from "../helpers/upstreams.js";
import { waitFor, within } from "../helpers/wait.js";

const SHARED_REDIS = "redis://127.0.0.1:6379";
const TOOLS = { echo: ["demo:use"] };

function assertRateLimited(err: McpError): void {
  assert.equal(err.code, -32002, err.message);
  assert.equal(reasonOf(err), "rate_limited");
  const after = (err.data as { retry_after_ms: number }).retry_after_ms;
  assert.ok(after > 0 && after <= 60_000, String(after));
}

const echo = (c: ConnectedClient, server: string, message: string) =>
  c.client.callTool({ name: `${server}__echo`, arguments: { message } });

describe("rate limits shared by two gateway processes through Redis", () => {
  const prefix = `t${process.pid}_${Date.now()}:`;
  const dir = makeTempDir("warden-rl-redis-");
  const records = join(dir, "rec.jsonl");
  const config = {
    ...gatewayConfig([{ ...recorderStdio("rec", records, TOOLS), rate_limit: "4/min" }]),
    // Each gateway keeps its own SQLite state (in its own directory); Redis is what they share.
    state: { redis: SHARED_REDIS, redis_prefix: prefix },
  };
  const admin = new Redis(SHARED_REDIS);
  const gateways: Gateway[] = [];
  const clients: ConnectedClient[] = [];
  let a: ConnectedClient;
  let b: ConnectedClient;

  const start = async () => {
    const gw = await startGateway(config);
    gateways.push(gw);
    const c = await connectClient(gw.mcpUrl);
    clients.push(c);
    return { gw, c };
  };

  before(async () => {
    const [first, second] = await Promise.all([start(), start()]);
    a = first.c;
    b = second.c;
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(gateways.map((g) => g.stop()));
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
    admin.disconnect();
  });

  test("calls spread over both instances spend one budget of 4/min", async () => {
    await echo(a, "rec", "1-a");
    await echo(b, "rec", "2-b");
    await echo(a, "rec", "3-a");
    await echo(b, "rec", "4-b");
    assertRateLimited(await mcpError(() => echo(a, "rec", "5-a")));
    assertRateLimited(await mcpError(() => echo(b, "rec", "6-b")));
    const calls = receivedToolCalls(records, "echo");
    assert.deepEqual(
      calls.map((m) => (m.params?.arguments as { message: string }).message),
      ["1-a", "2-b", "3-a", "4-b"],
    );
    // Each gateway forwarded to its own upstream process: the calls really went through both.
    const pids = new Set(
      readRecords(records).flatMap((r) => (r.message?.method === "tools/call" ? [r.pid] : [])),
    );
    assert.equal(pids.size, 2);
  });

  test("the count lives in Redis under the deployment's prefix, with the window's expiry", async () => {
    // The rate-limit keys only (the prefix also holds other shared state, such as pins).
    const keys = await admin.keys(`${prefix}rl:*`);
    assert.equal(keys.length, 1, keys.join());
    const key = keys[0] as string;
    assert.match(key, new RegExp(`^${prefix}rl:rec:caller:[A-Za-z0-9_-]{22}$`));
    assert.equal(await admin.get(key), "6");
    const ttl = await admin.pttl(key);
    assert.ok(ttl > 0 && ttl <= 60_000, String(ttl));
  });

  test("with both instances stopped, a new one still refuses: the budget is spent", async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(gateways.splice(0).map((g) => g.stop()));
    const { c } = await start();
    assertRateLimited(await mcpError(() => echo(c, "rec", "7-new")));
    assert.equal(receivedToolCalls(records, "echo").length, 4);
  });
});

describe("rate limits when Redis fails", () => {
  const dir = makeTempDir("warden-rl-outage-");
  let redis: ChildProcess;
  let gw: Gateway;
  let c: ConnectedClient;

  before(async () => {
    const port = await freePort();
    redis = spawnTracked(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      { stdio: "ignore" },
    );
    const probe = new Redis(port, "127.0.0.1", { lazyConnect: true, maxRetriesPerRequest: 0 });
    probe.on("error", () => {}); // refused until the server listens
    await waitFor(() => probe.ping().then((r) => r === "PONG"), { what: "the test's redis-server" });
    probe.disconnect();
    gw = await startGateway({
      ...gatewayConfig(
        ["hang", "down"].map((name) => ({
          ...recorderStdio(name, join(dir, `${name}.jsonl`), TOOLS),
          rate_limit: "3/min",
        })),
      ),
      state: { redis: `redis://127.0.0.1:${port}` },
    });
    c = await connectClient(gw.mcpUrl);
  });

  after(async () => {
    if (redis) killGroup(redis);
    await c?.close();
    await gw?.stop();
  });

  test("Redis stops answering: after the timeout, the instance counts on its own", async () => {
    for (const n of [1, 2, 3]) await echo(c, "hang", `h-${n}`);
    assertRateLimited(await mcpError(() => echo(c, "hang", "h-4")));
    redis.kill("SIGSTOP");
    try {
      // Redis holds the spent budget and cannot say so: this instance's own count starts afresh,
      // and still stops the caller at the rate.
      for (const n of [5, 6, 7]) await within(echo(c, "hang", `h-${n}`), 10_000, `call h-${n}`);
      assertRateLimited(
        await within(
          mcpError(() => echo(c, "hang", "h-8")),
          10_000,
          "call h-8",
        ),
      );
    } finally {
      redis.kill("SIGCONT");
    }
  });

  test("Redis gone: every call is still counted, by the instance, without waiting", async () => {
    killGroup(redis);
    await waitFor(() => gw.logs().some((l) => l.msg === "redis connection failed"), {
      what: "the gateway to notice Redis is gone",
    });
    for (const n of [1, 2, 3]) await within(echo(c, "down", `d-${n}`), 10_000, `call d-${n}`);
    assertRateLimited(
      await within(
        mcpError(() => echo(c, "down", "d-4")),
        10_000,
        "call d-4",
      ),
    );
    // The other server's count from the hang above is still this instance's.
    assertRateLimited(await mcpError(() => echo(c, "hang", "h-9")));
  });
});
