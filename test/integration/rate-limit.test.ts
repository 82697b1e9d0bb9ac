// Rate limits through the real gateway with the memory store: per caller, per tool, total and
// burst; a call over a limit is refused with -32002 before the upstream sees it, other callers keep
// their budgets, lists and pings do not count, and the refusal is in the audit log.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { McpError } from "@modelcontextprotocol/sdk/types.js";
import { mcpError, reasonOf } from "../helpers/client.js";
import { recorderStdio } from "../helpers/configs.js";
import {
  connectClient,
  makeTempDir,
  runCli,
  startGateway,
  writeConfig,
  type ConnectedClient,
  type Gateway,
} from "../helpers/gateway.js";
import { receivedToolCalls } from "../helpers/records.js";
import { freePort } from "../helpers/upstreams.js";

const TOOLS = { echo: ["demo:use"], pid: ["demo:use"] };
const LIMITS: Record<string, unknown> = {
  basic: "3/min",
  tooled: { tools: { echo: "2/min" } },
  shared: { per_caller: "100/min", total: "3/min" },
  bursty: { per_caller: "2/min", burst: 2 },
  anon: "2/min",
};

/** The refusal's data, checked against the contract: -32002, rate_limited, retry_after_ms. */
function assertRateLimited(err: McpError, limit: string): { retry_after_ms: number; limit: string } {
  assert.equal(err.code, -32002, err.message);
  assert.equal(reasonOf(err), "rate_limited");
  const data = err.data as { retry_after_ms: number; limit: string };
  assert.equal(data.limit, limit);
  assert.ok(Number.isInteger(data.retry_after_ms), String(data.retry_after_ms));
  assert.ok(data.retry_after_ms > 0 && data.retry_after_ms <= 60_000, String(data.retry_after_ms));
  return data;
}

describe("rate limits (memory store)", () => {
  let gw: Gateway;
  let dir: string;
  let configFile: string;
  const clients: ConnectedClient[] = [];
  const records = (server: string) => join(dir, `${server}.jsonl`);
  /** The echo messages `server`'s upstream received. */
  const received = (server: string) =>
    receivedToolCalls(records(server), "echo").map(
      (m) => (m.params?.arguments as { message: string }).message,
    );

  before(async () => {
    dir = makeTempDir("warden-rl-");
    const port = await freePort();
    const config = {
      gateway: { listen: `127.0.0.1:${port}` },
      state: { sqlite: join(dir, "state.db") },
      auth: { signing_key_file: join(dir, "signing.jwk"), anonymous: ["demo:use"] },
      servers: Object.entries(LIMITS).map(([name, rateLimit]) => ({
        ...recorderStdio(name, records(name), TOOLS),
        rate_limit: rateLimit,
      })),
    };
    configFile = writeConfig(config, dir);
    gw = await startGateway(config);
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await gw?.stop();
  });

  /** A session for `sub` (a token from the embedded issuer), or an anonymous one. */
  async function session(sub?: string): Promise<ConnectedClient> {
    let headers: Record<string, string> | undefined;
    if (sub !== undefined) {
      const r = await runCli(["token", "-c", configFile, "--sub", sub, "--scope", "demo:use"]);
      assert.equal(r.code, 0, r.stderr);
      headers = { authorization: `Bearer ${r.stdout.trim()}` };
    }
    const c = await connectClient(gw.mcpUrl, { headers });
    clients.push(c);
    return c;
  }

  const echo = (c: ConnectedClient, server: string, message: string) =>
    c.client.callTool({ name: `${server}__echo`, arguments: { message } });
  const pid = (c: ConnectedClient, server: string) => c.client.callTool({ name: `${server}__pid` });

  test("per caller: the fourth call of 3/min is refused and never reaches the upstream", async () => {
    const alice = await session("alice");
    for (const n of [1, 2, 3]) await echo(alice, "basic", `alice-${n}`);
    const err = await mcpError(() => echo(alice, "basic", "alice-4"));
    assertRateLimited(err, "per_caller");
    // Another tool on the same server shares the caller's budget.
    assertRateLimited(await mcpError(() => pid(alice, "basic")), "per_caller");
    assert.deepEqual(received("basic"), ["alice-1", "alice-2", "alice-3"]);
  });

  test("another caller has its own budget, and a new session does not reset one's own", async () => {
    const bob = await session("bob");
    await echo(bob, "basic", "bob-1");
    const alice = await session("alice");
    assertRateLimited(await mcpError(() => echo(alice, "basic", "alice-5")), "per_caller");
    assert.deepEqual(received("basic"), ["alice-1", "alice-2", "alice-3", "bob-1"]);
  });

  test("lists and pings do not count; only calls do", async () => {
    const carol = await session("carol");
    for (let i = 0; i < 5; i++) {
      await carol.client.listTools();
      await carol.client.ping();
    }
    for (const n of [1, 2, 3]) await echo(carol, "basic", `carol-${n}`);
    assertRateLimited(await mcpError(() => echo(carol, "basic", "carol-4")), "per_caller");
  });

  test("per tool: the named tool is limited, the server's other tools are not", async () => {
    const alice = await session("alice");
    await echo(alice, "tooled", "t-1");
    await echo(alice, "tooled", "t-2");
    assertRateLimited(await mcpError(() => echo(alice, "tooled", "t-3")), "tool");
    for (let i = 0; i < 4; i++) await pid(alice, "tooled");
    // Per caller: Bob's echo budget is his own.
    await echo(await session("bob"), "tooled", "t-bob");
    assert.deepEqual(received("tooled"), ["t-1", "t-2", "t-bob"]);
  });

  test("total: every caller together; when spent, each caller is refused", async () => {
    const [alice, bob] = [await session("alice"), await session("bob")];
    await echo(alice, "shared", "s-alice-1");
    await echo(bob, "shared", "s-bob-1");
    await echo(alice, "shared", "s-alice-2");
    assertRateLimited(await mcpError(() => echo(bob, "shared", "s-bob-2")), "total");
    assertRateLimited(await mcpError(() => echo(alice, "shared", "s-alice-3")), "total");
    const anonymous = await session();
    assertRateLimited(await mcpError(() => echo(anonymous, "shared", "s-anon")), "total");
    assert.deepEqual(received("shared"), ["s-alice-1", "s-bob-1", "s-alice-2"]);
  });

  test("burst 2 on 2/min: four calls at once pass, the fifth is refused", async () => {
    const alice = await session("alice");
    const results = await Promise.allSettled([1, 2, 3, 4, 5].map((n) => echo(alice, "bursty", `b-${n}`)));
    const refused = results.filter((r) => r.status === "rejected");
    assert.equal(refused.length, 1, JSON.stringify(results));
    assertRateLimited((refused[0] as PromiseRejectedResult).reason as McpError, "per_caller");
    assert.equal(received("bursty").length, 4);
    // Bob's burst is his own.
    const bob = await session("bob");
    for (const n of [1, 2, 3, 4]) await echo(bob, "bursty", `bob-${n}`);
    assertRateLimited(await mcpError(() => echo(bob, "bursty", "bob-5")), "per_caller");
  });

  test("anonymous callers from one source address share one budget per server, whatever their session", async () => {
    const [one, two] = [await session(), await session()];
    await echo(one, "anon", "anon-1");
    await echo(two, "anon", "anon-2");
    assertRateLimited(await mcpError(() => echo(one, "anon", "anon-3")), "per_caller");
    assert.deepEqual(received("anon"), ["anon-1", "anon-2"]);
  });

  test("each refusal is audited as denied with reason rate_limited", async () => {
    const r = await runCli(["audit", "query", "-c", gw.configFile, "--status", "denied", "--json"], {
      cwd: gw.dir,
    });
    assert.equal(r.code, 0, r.stderr);
    const events = r.stdout
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const limited = events.filter((e) => e.reason === "rate_limited");
    const first = limited.find((e) => e.server === "basic" && e.tool === "echo");
    assert.ok(first, JSON.stringify(events));
    assert.equal(first.event, "denied");
    assert.equal((first.principal as { sub: string }).sub, "alice");
    assert.deepEqual(first.detail, { code: -32002, protocol_version: "2025-11-25" });
    // One event per refusal made above.
    assert.equal(limited.length, 11, JSON.stringify(limited.map((e) => [e.server, e.tool])));
  });
});
