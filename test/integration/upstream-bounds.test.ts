// Remote upstreams that answer past the gateway's limits (test/fixtures/hostile-remote-server.mjs):
// over streamable HTTP and legacy SSE, a body or event of two million `[`, an event that never
// ends, an object too wide to parse cheaply, a body past max_upstream_message_bytes. Each call is
// refused with -32005 naming the limit, the connection is dropped and the server restarted, and a
// caller of another server is answered meanwhile.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connectClient, mcpError, textOf, type ConnectedClient } from "../helpers/client.js";
import { everythingStdio, gatewayConfig } from "../helpers/configs.js";
import { startFixture, type NetworkFixture } from "../helpers/fixtures.js";
import { startGateway, type Gateway } from "../helpers/gateway.js";
import { auditEvents } from "../helpers/supply.js";
import { waitFor } from "../helpers/wait.js";

/** Server name → [fixture path, transport, the limit its `flood` answer goes past]. */
const HOSTILE = {
  "deep-json": ["/mcp/deep-json", "streamable_http", "depth"],
  "deep-sse": ["/mcp/deep-sse", "streamable_http", "depth"],
  "endless-sse": ["/mcp/endless-sse", "streamable_http", "bytes"],
  "wide-json": ["/mcp/wide-json", "streamable_http", "values"],
  "big-json": ["/mcp/big-json", "streamable_http", "bytes"],
  "legacy-deep": ["/sse/deep-sse", "sse", "depth"],
  "legacy-endless": ["/sse/endless-sse", "sse", "bytes"],
} as const;
type Hostile = keyof typeof HOSTILE;
const NAMES = Object.keys(HOSTILE) as Hostile[];
/** The fixture's mode: the last segment of its path (both transports share the SSE modes). */
const modeOf = (name: Hostile) => HOSTILE[name][0].split("/")[2]!;

describe("remote upstreams past the message limits", () => {
  let fixture: NetworkFixture;
  let gw: Gateway;
  const clients: ConnectedClient[] = [];
  /** The session that sent the hostile calls: it is served again once the servers are back. */
  let attacker: ConnectedClient;

  before(async () => {
    fixture = await startFixture("hostile-remote-server.mjs");
    gw = await startGateway(
      gatewayConfig(
        [
          everythingStdio("everything"),
          ...NAMES.map((name) => {
            const [path, transport] = HOSTILE[name];
            return { name, url: `${fixture.base}${path}`, transport, tools: { "*": ["demo:use"] } };
          }),
        ],
        // A refusal that waited for the call's timeout would hang the test instead of passing it.
        { gateway: { upstream_timeout: "10m" } },
      ),
    );
  });

  after(async () => {
    for (const c of clients) await c.close();
    await gw?.stop();
    await fixture?.stop();
  });

  async function connect() {
    const c = await connectClient(gw.mcpUrl);
    clients.push(c);
    return c;
  }

  async function fixtureState(): Promise<{ flood: Record<string, number>; hungUp: Record<string, number> }> {
    const res = await fetch(`${fixture.base}/_control/state`);
    return (await res.json()) as { flood: Record<string, number>; hungUp: Record<string, number> };
  }

  test("each hostile answer is refused with -32005 naming its limit while another caller is served", async () => {
    attacker = await connect();
    const caller = await connect();
    let attacking = true;
    const refusals = Promise.all(
      NAMES.map((name) =>
        mcpError(() => attacker.client.callTool({ name: `${name}__flood`, arguments: {} })).then((err) => [
          name,
          err,
        ]),
      ),
    ).finally(() => (attacking = false));
    const served: string[] = [];
    // The legitimate caller keeps calling while the attacks are in flight, and once after.
    do {
      const text = textOf(
        await caller.client.callTool({
          name: "everything__echo",
          arguments: { message: `call ${served.length}` },
        }),
      );
      served.push(text);
    } while (attacking);
    for (const [name, err] of (await refusals) as [Hostile, Awaited<ReturnType<typeof mcpError>>][]) {
      assert.equal(err.code, -32005, `${name}: ${err.message}`);
      assert.deepEqual(err.data, {
        reason: "upstream_limit_exceeded",
        server: name,
        limit: HOSTILE[name][2],
      });
      // Nothing of the hostile answer reached the caller: not in the error, nor anywhere on its wire.
      assert.ok(!/\[\[\[|aaaa|bbbb|"k1000"/.test(err.message), `${name}: ${err.message.slice(0, 200)}`);
    }
    assert.ok(
      !attacker.wire.some((m) => /\[\[\[|aaaa|bbbb|"k1000"/.test(JSON.stringify(m).slice(0, 100_000))),
      "a hostile answer reached the client",
    );
    assert.deepEqual(
      served,
      served.map((_, i) => `Echo: call ${i}`),
    );
    // Each call did reach its server, which answered past the limits.
    const { flood } = await fixtureState();
    for (const name of NAMES) assert.ok(flood[modeOf(name)]! >= 1, `${name} was never called`);
    assert.equal(gw.proc.exitCode, null, "the gateway exited");
    assert.equal((await fetch(`${gw.url}/healthz`)).status, 200);
  });

  test("each refusal is logged and audited with its server and limit, and the server restarted", async () => {
    for (const name of NAMES) {
      const limit = HOSTILE[name][2];
      type Line = ReturnType<Gateway["logs"]>[number];
      const refused = (l: Line) =>
        l.server === name && l.limit === limit && /past its limit/.test(String(l.msg));
      const crashed = (l: Line) => l.server === name && l.msg === "upstream crashed";
      // The log comes through the gateway's stderr pipe, which may trail the caller's answer.
      await waitFor(() => gw.logs().some(refused) && gw.logs().some(crashed), { timeoutMs: 5000 }).catch(
        () => undefined,
      );
      const logs = gw.logs();
      assert.ok(logs.some(refused), `no log line for ${name}`);
      assert.ok(logs.some(crashed), `${name} was not treated as failed`);
    }
    const denied = (await auditEvents(gw)).filter((e) => e.reason === "upstream_limit_exceeded");
    for (const name of NAMES)
      assert.ok(
        denied.some((e) => e.server === name && e.tool === "flood"),
        `no audit event for ${name}: ${JSON.stringify(denied.map((e) => [e.server, e.tool, e.reason]))}`,
      );
  });

  test("the gateway hangs up on an event that never ends, over both transports", async () => {
    await waitFor(
      async () => {
        const { hungUp } = await fixtureState();
        return (hungUp["endless-sse"] ?? 0) >= 2;
      },
      { what: "the fixture to see both endless streams closed" },
    );
  });

  test("a server that was cut off serves good calls again once it has restarted, to the same session", async () => {
    for (const name of ["deep-json", "legacy-deep"] as const) {
      await waitFor(async () => (await gw.readyz()).body.upstreams?.[name]?.state === "ready", {
        timeoutMs: 60_000,
        what: `${name} ready again`,
      });
      const hello = await attacker.client.callTool({ name: `${name}__hello`, arguments: {} });
      assert.equal(textOf(hello), "hello");
    }
  });
});
