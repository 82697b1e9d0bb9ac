// Sessions, rate limits and kill rules cannot be turned against other callers (issue 14, item 4),
// through the real gateway with real upstreams (server-everything, the recorder fixture). Anonymous
// callers are told apart by source address (127.0.0.2, .3, .4: all of 127/8 is loopback); a user
// is one caller whatever client it uses; at max_sessions a caller under its cap gets in by taking
// a session from the caller holding the most; a server or tool rule needs several distinct users,
// anonymous events never count, and rate-limit refusals are not denials.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { McpError } from "@modelcontextprotocol/sdk/types.js";
import { mcpError, reasonOf, textOf } from "../helpers/client.js";
import { everythingStdio, recorderStdio } from "../helpers/configs.js";
import {
  connectClient,
  makeTempDir,
  runCli,
  startGateway,
  writeConfig,
  type ConnectedClient,
} from "../helpers/gateway.js";
import { receivedMessages, receivedToolCalls } from "../helpers/records.js";
import { fetchFrom, postFrom } from "../helpers/sources.js";
import { freePort } from "../helpers/upstreams.js";
import { waitFor } from "../helpers/wait.js";

const A = "127.0.0.2";
const B = "127.0.0.3";
const C = "127.0.0.4";

const INITIALIZE = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
};

/** A gateway on a free port with its config file beside it, and tokens minted for it by the CLI. */
async function gatewayWith(prefix: string, extra: (dir: string) => Record<string, unknown>) {
  const dir = makeTempDir(prefix);
  const port = await freePort();
  const { gateway, ...rest } = extra(dir);
  const config = {
    gateway: { listen: `127.0.0.1:${port}`, ...(gateway as object) },
    state: { sqlite: join(dir, "state.db") },
    auth: { signing_key_file: join(dir, "signing.jwk"), anonymous: ["demo:use"] },
    ...rest,
  };
  const configFile = writeConfig(config, dir);
  const gw = await startGateway(config);
  const cli = (...args: string[]) => runCli([...args, "-c", configFile], { cwd: dir });
  const token = async (sub: string, clientId = "cli") => {
    const r = await cli("token", "--sub", sub, "--scope", "demo:use", "--client-id", clientId);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  };
  const auditEvents = async () => {
    const q = await cli("audit", "query", "--status", "denied", "--json", "--limit", "10000");
    assert.equal(q.code, 0, q.stderr);
    return q.stdout
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { reason?: string; method?: string; principal?: Record<string, string> });
  };
  return { gw, dir, cli, token, auditEvents, base: `http://127.0.0.1:${port}` };
}

/** Fails unless a call on `c` is refused because its session is gone (HTTP 404 from the gateway). */
async function assertSessionGone(c: ConnectedClient, what: string): Promise<void> {
  await assert.rejects(
    c.client.callTool({ name: "echo", arguments: { message: "still there?" } }),
    (err: Error) => /404|session not found/i.test(err.message),
    `${what}: its session should have been closed`,
  );
}

async function assertEchoes(c: ConnectedClient, message: string): Promise<void> {
  assert.match(
    textOf(await c.client.callTool({ name: "echo", arguments: { message } })),
    new RegExp(message),
  );
}

describe("sessions: caps per user and per anonymous source, and a fair share of max_sessions", () => {
  let g: Awaited<ReturnType<typeof gatewayWith>>;
  const open: ConnectedClient[] = [];
  let url: string;

  let records: string;

  before(async () => {
    g = await gatewayWith("warden-fair-sessions-", (dir) => {
      records = join(dir, "sessions.jsonl");
      return {
        gateway: { max_sessions: 4, max_sessions_per_user: 2 },
        // The recorder: each session's upstream process records its initialize, so a refused
        // session can be shown to have reached no upstream.
        servers: [recorderStdio("everything", records, { echo: ["demo:use"] })],
      };
    });
    url = g.gw.serverUrl("everything");
  });

  after(async () => {
    await Promise.all(open.map((c) => c.close()));
    await g?.gw.stop();
  });

  const anonymousFrom = async (source: string) => {
    const c = await connectClient(url, { fetch: fetchFrom(source) });
    open.push(c);
    return c;
  };
  const as = async (sub: string, clientId: string) => {
    const c = await connectClient(url, {
      headers: { authorization: `Bearer ${await g.token(sub, clientId)}` },
    });
    open.push(c);
    return c;
  };
  const closeAll = async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  };

  test("one anonymous source opening many sessions never evicts another source's session", async () => {
    const b = await anonymousFrom(B);
    await assertEchoes(b, "b-before");
    const fromA: ConnectedClient[] = [];
    for (let i = 0; i < 4; i++) fromA.push(await anonymousFrom(A));
    // A is capped at 2: its own oldest sessions went, B's did not.
    await assertEchoes(b, "b-after");
    await assertSessionGone(fromA[0] as ConnectedClient, "A's oldest session");
    await assertSessionGone(fromA[1] as ConnectedClient, "A's second session");
    await assertEchoes(fromA[3] as ConnectedClient, "a-newest");
    // A's address cannot use B's session id: an anonymous session is bound to its source.
    const hijack = await postFrom(
      A,
      url,
      { jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "echo", arguments: { message: "x" } } },
      { "mcp-session-id": b.sessionId, "mcp-protocol-version": "2025-06-18" },
    );
    assert.equal(hijack.status, 404);
    await assertEchoes(b, "b-still");
    await closeAll();
  });

  test("a user's clients share one cap; at max_sessions the biggest holder yields; even shares refuse", async () => {
    // Three clients of alice: one session each, but alice holds at most 2 (the per-user cap).
    const alice1 = await as("alice", "client-1");
    const alice2 = await as("alice", "client-2");
    const alice3 = await as("alice", "client-3");
    await assertSessionGone(alice1, "alice's least recently used session");
    await assertEchoes(alice2, "alice-2");
    await assertEchoes(alice3, "alice-3");
    const bob = await as("bob", "bob-app");
    const carol = await anonymousFrom(C);
    // Full (alice 2, bob 1, anonymous C 1). Dave holds none: alice holds two more, and yields one.
    const dave = await as("dave", "dave-app");
    await assertSessionGone(alice2, "alice's session taken for dave");
    for (const [c, m] of [
      [alice3, "alice-3b"],
      [bob, "bob"],
      [carol, "carol"],
      [dave, "dave"],
    ] as const)
      await assertEchoes(c, m);
    // Full, one session each: nobody holds more than a newcomer would, so erin is refused…
    const initializes = () => receivedMessages(records).filter((m) => m.method === "initialize").length;
    const opened = initializes();
    assert.ok(opened >= 4, `the recorder saw ${opened} initializes for the 4 open sessions and more`);
    const refused = await postFrom(A, url, INITIALIZE, {
      authorization: `Bearer ${await g.token("erin", "erin-app")}`,
    });
    assert.equal(refused.status, 503);
    const error = (refused.body as { error: { code: number; data: { reason: string } } }).error;
    assert.equal(error.code, -32005);
    assert.equal(error.data.reason, "too_many_sessions");
    // …and so is alice's second session (she would hold 2 while the others hold 1): no one is evicted.
    const again = await postFrom(A, url, INITIALIZE, {
      authorization: `Bearer ${await g.token("alice", "client-1")}`,
    });
    assert.equal(again.status, 503);
    assert.equal(initializes(), opened, "a refused session reached an upstream");
    for (const [c, m] of [
      [alice3, "alice-3c"],
      [bob, "bob-2"],
      [carol, "carol-2"],
      [dave, "dave-2"],
    ] as const)
      await assertEchoes(c, m);
    // The refusals are audited with the caller, like any other.
    const events = await g.auditEvents();
    const full = events.filter((e) => e.reason === "too_many_sessions");
    assert.ok(
      full.some((e) => e.principal?.sub === "erin"),
      JSON.stringify(full),
    );
    assert.ok(
      full.some((e) => e.principal?.sub === "alice"),
      JSON.stringify(full),
    );
    await closeAll();
  });
});

describe("rate limits and kill rules: per user, per anonymous source, never for everyone by one", () => {
  let g: Awaited<ReturnType<typeof gatewayWith>>;
  const open: ConnectedClient[] = [];
  let records: (server: string) => string;
  const tools = { echo: ["demo:use"] };

  before(async () => {
    g = await gatewayWith("warden-fair-limits-", (dir) => {
      records = (server) => join(dir, `${server}.jsonl`);
      return {
        gateway: { max_sessions: 200, max_sessions_per_caller: 50 },
        kill_switch: {
          rules: [
            { when: "denied", count: 3, within: "1m", kill: "user" },
            { when: "denied", count: 3, within: "1m", kill: "server" }, // distinct_callers: 3 by default
          ],
        },
        servers: [
          { ...recorderStdio("rl", records("rl"), tools), rate_limit: "3/min" },
          { ...recorderStdio("flood", records("flood"), tools), rate_limit: "2/min" },
          recorderStdio("victim", records("victim"), tools),
          everythingStdio("everything", { tools: { echo: ["demo:use"] } }),
        ],
      };
    });
  });

  after(async () => {
    await Promise.all(open.map((c) => c.close()));
    await g?.gw.stop();
  });

  const session = async (server: string, who: { sub: string; client?: string } | { source: string }) => {
    const c =
      "source" in who
        ? await connectClient(g.gw.serverUrl(server), { fetch: fetchFrom(who.source) })
        : await connectClient(g.gw.serverUrl(server), {
            headers: { authorization: `Bearer ${await g.token(who.sub, who.client)}` },
          });
    open.push(c);
    return c;
  };
  const echo = (c: ConnectedClient, message: string) =>
    c.client.callTool({ name: "echo", arguments: { message } });
  const received = (server: string) =>
    receivedToolCalls(records(server), "echo").map(
      (m) => (m.params?.arguments as { message: string }).message,
    );
  const assertRateLimited = (err: McpError) => {
    assert.equal(err.code, -32002, err.message);
    assert.equal(reasonOf(err), "rate_limited");
  };
  /** A call to a tool the server's map leaves out: refused -32001 and counted as a denial. */
  const deny = async (c: ConnectedClient) => {
    const err = await mcpError(() => c.client.callTool({ name: "secret_tool", arguments: {} }));
    assert.equal(err.code, -32001, err.message);
    assert.equal(reasonOf(err), "tool_not_mapped");
  };

  test("three clients of one user share one budget; other users and other sources have their own", async () => {
    const clients = [
      await session("rl", { sub: "alice", client: "c1" }),
      await session("rl", { sub: "alice", client: "c2" }),
      await session("rl", { sub: "alice", client: "c3" }),
    ];
    for (const [i, c] of clients.entries()) await echo(c, `alice-${i}`);
    for (const [i, c] of clients.entries())
      assertRateLimited(await mcpError(() => echo(c, `alice-over-${i}`)));
    await echo(await session("rl", { sub: "bob" }), "bob");
    const a = await session("rl", { source: A });
    for (const n of [1, 2, 3]) await echo(a, `anon-a-${n}`);
    assertRateLimited(await mcpError(() => echo(a, "anon-a-over")));
    // Another anonymous source is another caller: its budget is untouched by A's.
    await echo(await session("rl", { source: B }), "anon-b");
    assert.deepEqual(received("rl"), [
      "alice-0",
      "alice-1",
      "alice-2",
      "bob",
      "anon-a-1",
      "anon-a-2",
      "anon-a-3",
      "anon-b",
    ]);
    // Audit keeps the subject "anonymous" and names the source.
    const events = await g.auditEvents();
    const anon = events.filter((e) => e.reason === "rate_limited" && e.principal?.auth === "anonymous");
    assert.deepEqual(
      anon.map((e) => [e.principal?.sub, e.principal?.source]),
      [["anonymous", A]],
    );
  });

  test("rate-limit refusals never trip a denied rule, for the user or for the server", async () => {
    const flooders = [
      await session("flood", { sub: "f1" }),
      await session("flood", { sub: "f2" }),
      await session("flood", { sub: "f3" }),
    ];
    for (const [i, c] of flooders.entries()) {
      await echo(c, `f${i}-1`);
      await echo(c, `f${i}-2`);
      for (let n = 0; n < 4; n++) assertRateLimited(await mcpError(() => echo(c, `f${i}-over-${n}`)));
    }
    // Twelve refusals from three users: no user and not the server was killed.
    assertRateLimited(await mcpError(() => echo(flooders[0] as ConnectedClient, "f0-last")));
    await echo(await session("flood", { sub: "newcomer" }), "newcomer");
    await echo(await session("rl", { sub: "f1" }), "f1-elsewhere");
    const kills = await g.cli("kill", "--list", "--json");
    assert.equal(kills.stdout.trim(), "", kills.stdout);
    assert.ok(!received("flood").some((m) => m.includes("over") || m === "f0-last"));
  });

  test("a server rule: one user, or anonymous callers, never kill it; three distinct users do", async () => {
    const bob = await session("victim", { sub: "bob" });
    await echo(bob, "bob-1");
    // Mallory, through three clients: three denials kill mallory (one user), not the server.
    const mallory = [
      await session("victim", { sub: "mallory", client: "m1" }),
      await session("victim", { sub: "mallory", client: "m2" }),
      await session("victim", { sub: "mallory", client: "m3" }),
    ];
    for (const c of mallory) await deny(c);
    const killed = await waitFor(
      async () => {
        try {
          await echo(mallory[0] as ConnectedClient, "mallory-probe");
          return false;
        } catch (err) {
          return (err as McpError).code === -32003 ? (err as McpError) : false;
        }
      },
      { what: "mallory killed by the user rule" },
    );
    assert.equal((killed.data as { scope: string }).scope, "user");
    // Anonymous callers from three sources deny many times: they kill no one, and count as no one.
    const anonymous = [
      await session("victim", { source: A }),
      await session("victim", { source: B }),
      await session("victim", { source: C }),
    ];
    for (const c of anonymous) for (let i = 0; i < 3; i++) await deny(c);
    await deny(await session("victim", { sub: "u1" }));
    // Mallory and u1 are two users: with anonymous callers counted as anyone, this would be three.
    await echo(bob, "bob-2");
    for (const [i, c] of anonymous.entries()) await echo(c, `anon-${i}`);
    // A third distinct user: the server is killed for everyone.
    await deny(await session("victim", { sub: "u2" }));
    await waitFor(
      async () => {
        try {
          await echo(bob, "bob-probe");
          return false;
        } catch (err) {
          return (err as McpError).code === -32003;
        }
      },
      { what: "victim killed by the server rule" },
    );
    const err = await mcpError(() => echo(bob, "bob-unseen"));
    assert.equal(err.code, -32003);
    assert.equal(reasonOf(err), "killed");
    assert.deepEqual(err.data, { reason: "killed", scope: "server", target: "victim" });
    assert.ok(!received("victim").includes("bob-unseen"), "a call to the killed server reached it");
    assert.ok(received("victim").includes("bob-2"));
    // Other servers go on.
    await echo(await session("everything", { source: A }), "still-here");
  });
});
