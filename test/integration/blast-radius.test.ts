// One caller's failing upstream never shuts other callers out (issue 23). User A calls a tool that
// makes its process exit, again and again; user B, on old and new sessions, is never refused, for
// `per_session` and for `shared`. A's own next call waits for the restart instead of being refused,
// every crash is audited with A as its cause, and after three the kill rule refuses A on that server
// only. Real gateway, the recorder fixture (its `crash` tool exits the process mid-call).
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connectClient, mcpError, reasonOf, textOf, type ConnectedClient } from "../helpers/client.js";
import { everythingStdio, recorderStdio } from "../helpers/configs.js";
import { makeTempDir, runCli, startGateway, writeConfig, type Gateway } from "../helpers/gateway.js";
import { descendants } from "../helpers/processes.js";
import { readRecords } from "../helpers/records.js";
import { freePort } from "../helpers/upstreams.js";
import { waitFor } from "../helpers/wait.js";

interface AuditLine {
  event?: string;
  server?: string;
  reason?: string;
  principal?: { sub?: string };
  detail?: Record<string, unknown>;
}

for (const isolation of ["per_session", "shared"] as const) {
  describe(`blast radius: ${isolation}`, () => {
    let gw: Gateway;
    let records: string;
    let cli: (...args: string[]) => ReturnType<typeof runCli>;
    const tokens = new Map<string, string>();
    const open: ConnectedClient[] = [];

    before(async () => {
      const dir = makeTempDir(`warden-blast-${isolation}-`);
      records = join(dir, "recorder.jsonl");
      const port = await freePort();
      const config = {
        gateway: { listen: `127.0.0.1:${port}` },
        state: { sqlite: join(dir, "state.db") },
        auth: { signing_key_file: join(dir, "signing.jwk") },
        kill_switch: { rules: [{ when: "upstream_crash", count: 3, within: "1m", kill: "user_on_server" }] },
        servers: [
          { ...recorderStdio("flaky", records, { "*": ["demo:use"] }), isolation },
          everythingStdio("everything", { isolation: "shared" }),
        ],
      };
      const configFile = writeConfig(config, dir);
      gw = await startGateway(config);
      cli = (...args: string[]) => runCli([...args, "-c", configFile], { cwd: dir });
      for (const sub of ["alice", "bob"]) {
        const r = await cli("token", "--sub", sub, "--scope", "demo:use");
        assert.equal(r.code, 0, r.stderr);
        tokens.set(sub, r.stdout.trim());
      }
    });

    after(async () => {
      await Promise.all(open.map((c) => c.close()));
      await gw?.stop();
    });

    const session = async (sub: string) => {
      const c = await connectClient(gw.mcpUrl, { headers: { authorization: `Bearer ${tokens.get(sub)}` } });
      open.push(c);
      return c;
    };
    const echo = async (c: ConnectedClient, message: string) =>
      textOf(await c.client.callTool({ name: "flaky__echo", arguments: { message } }));
    const crashes = async (): Promise<AuditLine[]> => {
      const q = await cli("audit", "query", "--json", "--limit", "10000");
      assert.equal(q.code, 0, q.stderr);
      return q.stdout
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as AuditLine)
        .filter((e) => e.event === "upstream_crash" && e.server === "flaky");
    };

    test("B is never refused while A crashes the server; A waits for its own restart", async () => {
      const a = await session("alice");
      const b = await session("bob");
      assert.equal(await echo(b, "before"), "recorder: before");
      for (let round = 1; round <= 2; round++) {
        const crash = await mcpError(() => a.client.callTool({ name: "flaky__crash", arguments: {} }));
        assert.equal(crash.code, -32005, `round ${round}: ${crash.message}`);
        assert.equal(reasonOf(crash), "upstream_unavailable");
        // Right after the crash: B on its old session and on a new one, and A itself, all served.
        const fresh = await session("bob");
        const [old, neu, own] = await Promise.all([
          echo(b, `old ${round}`),
          echo(fresh, `new ${round}`),
          echo(a, `alice again ${round}`),
        ]);
        assert.equal(old, `recorder: old ${round}`);
        assert.equal(neu, `recorder: new ${round}`);
        assert.equal(own, `recorder: alice again ${round}`);
      }
      const seen = await crashes();
      assert.equal(seen.length, 2);
      for (const e of seen) {
        assert.equal(
          e.principal?.sub,
          "alice",
          "the crash is attributed to the caller whose call was in flight",
        );
        assert.equal(e.detail?.attributed, true);
        assert.equal(e.detail?.isolation, isolation);
      }
      const ready = await gw.readyz();
      assert.equal(ready.status, 200);
      assert.equal(ready.body.upstreams?.flaky?.state, "ready", "a crash under a caller is no server outage");
    });

    test("the third crash refuses A on that server only; B and A's other servers keep working", async () => {
      const a = await session("alice");
      const b = await session("bob");
      await mcpError(() => a.client.callTool({ name: "flaky__crash", arguments: {} }));
      const killed = await waitFor(
        async () => {
          const err = await a.client
            .callTool({ name: "flaky__echo", arguments: { message: "let me in" } })
            .then(() => undefined)
            .catch((e: Error) => e);
          return err;
        },
        { what: "the rule to refuse alice on flaky" },
      );
      assert.match(String(killed.message), /killed|-32003/);
      const refused = await mcpError(() =>
        a.client.callTool({ name: "flaky__echo", arguments: { message: "x" } }),
      );
      assert.equal(refused.code, -32003);
      const before = readRecords(records).filter((r) => r.event === "message").length;
      await mcpError(() => a.client.callTool({ name: "flaky__echo", arguments: { message: "never sent" } }));
      assert.equal(
        readRecords(records).filter((r) => JSON.stringify(r).includes("never sent")).length,
        0,
        "a refused call reached the server",
      );
      assert.ok(readRecords(records).filter((r) => r.event === "message").length >= before);
      assert.equal(
        textOf(await a.client.callTool({ name: "everything__echo", arguments: { message: "elsewhere" } })),
        "Echo: elsewhere",
      );
      assert.equal(await echo(b, "bob unaffected"), "recorder: bob unaffected");
      const kills = await cli("kill", "--list", "--json");
      assert.match(kills.stdout, /user_on_server/);
      assert.match(kills.stdout, /flaky\/alice/);
    });
  });
}

describe("unattributed crashes kill nobody", () => {
  let gw: Gateway;
  let records: string;
  let cli: (...args: string[]) => ReturnType<typeof runCli>;
  const open: ConnectedClient[] = [];

  before(async () => {
    const dir = makeTempDir("warden-blast-unattributed-");
    records = join(dir, "recorder.jsonl");
    const port = await freePort();
    const config = {
      gateway: { listen: `127.0.0.1:${port}` },
      state: { sqlite: join(dir, "state.db") },
      auth: { signing_key_file: join(dir, "signing.jwk") },
      kill_switch: { rules: [{ when: "upstream_crash", count: 1, within: "1m", kill: "user" }] },
      servers: [{ ...recorderStdio("flaky", records, { "*": ["demo:use"] }), isolation: "shared" }],
    };
    const configFile = writeConfig(config, dir);
    gw = await startGateway(config);
    cli = (...args: string[]) => runCli([...args, "-c", configFile], { cwd: dir });
  });

  after(async () => {
    await Promise.all(open.map((c) => c.close()));
    await gw?.stop();
  });

  test("a crash while two users' calls are in flight is audited unattributed and kills neither", async () => {
    const clients: ConnectedClient[] = [];
    for (const sub of ["carol", "dave"]) {
      const r = await cli("token", "--sub", sub, "--scope", "demo:use");
      assert.equal(r.code, 0, r.stderr);
      const c = await connectClient(gw.mcpUrl, { headers: { authorization: `Bearer ${r.stdout.trim()}` } });
      open.push(c);
      clients.push(c);
    }
    const [carol, dave] = clients as [ConnectedClient, ConnectedClient];
    const slow = mcpError(() =>
      carol.client.callTool({ name: "flaky__slow", arguments: { label: "carol" } }),
    );
    await waitFor(() => readRecords(records).find((r) => r.tool === "slow" && r.label === "carol"), {
      what: "carol's slow call to be in flight",
    });
    await mcpError(() => dave.client.callTool({ name: "flaky__crash", arguments: {} }));
    assert.equal((await slow).code, -32005);
    for (const c of clients)
      assert.equal(
        textOf(await c.client.callTool({ name: "flaky__echo", arguments: { message: "still in" } })),
        "recorder: still in",
      );
    const kills = await cli("kill", "--list", "--json");
    assert.doesNotMatch(kills.stdout, /carol|dave/);
  });
});

describe("max_upstream_processes: a per_session server cannot launch past the machine", () => {
  let gw: Gateway;

  before(async () => {
    const dir = makeTempDir("warden-processes-");
    gw = await startGateway({
      gateway: { listen: "127.0.0.1:0", max_upstream_processes: 3 },
      auth: { anonymous: ["demo:use"] },
      servers: [
        { ...recorderStdio("flaky", join(dir, "r.jsonl"), { "*": ["demo:use"] }), isolation: "per_session" },
      ],
    });
  });

  after(async () => {
    await gw?.stop();
  });

  test("past the budget a session is refused upstream_capacity; a closed session frees its place", async () => {
    // The control connection, then two sessions (the spare serves the first).
    const first = await connectClient(gw.serverUrl("flaky"));
    const second = await connectClient(gw.serverUrl("flaky"));
    assert.equal(
      await first.client.callTool({ name: "echo", arguments: { message: "1" } }).then(textOf),
      "recorder: 1",
    );
    assert.equal(descendants(gw.proc.pid as number).length, 3);
    const refused = await connectClient(gw.serverUrl("flaky")).then(
      async (c) => {
        await c.close();
        return undefined;
      },
      (err: Error) => err,
    );
    assert.ok(refused, "a third session was opened past max_upstream_processes");
    assert.match(refused.message, /upstream_capacity|maximum of upstream processes|503/);
    assert.equal(descendants(gw.proc.pid as number).length, 3, "no process was launched past the budget");
    await first.close();
    const third = await waitFor(() => connectClient(gw.serverUrl("flaky")).catch(() => undefined), {
      what: "a place to be freed by the closed session",
    });
    assert.equal(
      await third.client.callTool({ name: "echo", arguments: { message: "3" } }).then(textOf),
      "recorder: 3",
    );
    await Promise.all([second.close(), third.close()]);
  });
});
