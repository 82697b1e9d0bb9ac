// The kill switch through the real gateway (one process, SQLite state): the CLI kills everything,
// a server, a tool, a user; refused calls get -32003 and never reach the upstream; a call in
// flight is cancelled upstream and answered -32003; lists leave out what is killed; the sentinel
// file; kills survive a restart; only a revive with a reason lifts them; an automatic rule kills a
// user after repeated denials while others go on; every kill and revive is audited.
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { mcpError, reasonOf, textOf } from "../helpers/client.js";
import { everythingStdio, recorderStdio } from "../helpers/configs.js";
import {
  connectClient,
  makeTempDir,
  runCli,
  startGateway,
  writeConfig,
  type ConnectedClient,
  type Gateway,
} from "../helpers/gateway.js";
import { readRecords, receivedMessages, receivedToolCalls } from "../helpers/records.js";
import { freePort } from "../helpers/upstreams.js";
import { waitFor } from "../helpers/wait.js";

describe("kill switch", () => {
  let gw: Gateway;
  let dir: string;
  let configFile: string;
  let records: string;
  let config: Record<string, unknown>;
  let base: string;
  const sentinel = () => join(dir, "KILL");

  before(async () => {
    dir = makeTempDir("warden-kill-");
    records = join(dir, "rec.jsonl");
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    config = {
      gateway: { listen: `127.0.0.1:${port}` },
      state: { sqlite: join(dir, "state.db") },
      auth: { signing_key_file: join(dir, "signing.jwk"), anonymous: ["demo:use"] },
      kill_switch: {
        file: join(dir, "KILL"),
        rules: [{ when: "denied", count: 3, within: "1m", kill: "user" }],
      },
      servers: [
        recorderStdio("rec", records, { echo: ["demo:use"], slow: ["demo:use"], pid: ["demo:use"] }),
        everythingStdio("everything"),
      ],
    };
    configFile = writeConfig(config, dir);
    gw = await startGateway(config);
  });

  after(async () => {
    await gw?.stop();
  });

  const cli = (...args: string[]) => runCli([...args, "-c", configFile], { cwd: dir });
  const echo = (c: ConnectedClient, message: string) =>
    c.client.callTool({ name: "rec__echo", arguments: { message } });
  let attempt = 0;
  /** Waits (bounded) until an echo is refused as killed; returns the error and that call's message. */
  const refusedSoon = (c: ConnectedClient, prefix: string) =>
    waitFor(
      async () => {
        const message = `${prefix}-${attempt++}`;
        try {
          await echo(c, message);
          return false;
        } catch (err) {
          const e = err as { code?: number; message: string; data?: Record<string, unknown> };
          return e.code === -32003 ? Object.assign(e, { attempted: message }) : false;
        }
      },
      { timeoutMs: 10_000, intervalMs: 50, what: "calls to be refused as killed" },
    );
  /**
   * Once a kill is known (refusedSoon), the next call is refused -32003 `killed` with `scope`, and
   * the upstream never sees it. (The call that first met the kill may have been in flight already:
   * that one is cancelled upstream instead, tested on its own below.)
   */
  const refusedBeforeUpstream = async (c: ConnectedClient, prefix: string, scope: string) => {
    await refusedSoon(c, prefix);
    const message = `${prefix}-unseen-${attempt++}`;
    const err = await mcpError(() => echo(c, message));
    assert.equal(err.code, -32003);
    assert.equal(reasonOf(err), "killed");
    assert.equal((err.data as { scope?: string }).scope, scope);
    const seen = receivedToolCalls(records, "echo").map(
      (m) => (m.params?.arguments as { message: string }).message,
    );
    assert.ok(!seen.includes(message), "a killed call reached the upstream");
    return err;
  };
  /** Lifts a kill whatever the test's outcome, so one failure does not fail the tests after it. */
  const cleanup = (...scope: string[]) => cli("revive", ...scope, "--reason", "test cleanup");
  const token = async (sub: string) => {
    const r = await runCli(["token", "-c", configFile, "--sub", sub, "--scope", "demo:use"]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  };
  const as = async (sub: string) =>
    connectClient(`${base}/mcp`, { headers: { authorization: `Bearer ${await token(sub)}` } });

  test("kill needs a reason", async () => {
    const r = await cli("kill");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--reason is required/);
  });

  test("kill everything: every call refused (-32003, scope all), upstream untouched; revive restores", async () => {
    const c = await connectClient(`${base}/mcp`);
    try {
      assert.match(textOf(await echo(c, "before")), /before/);
      const k = await cli("kill", "--reason", "incident 42");
      assert.equal(k.code, 0, k.stderr);
      await refusedSoon(c, "during");
      // Once the kill is known, a new call is refused before it reaches the upstream. (The call that
      // first saw the kill may have been in flight already: that one is cancelled upstream instead.)
      const err = await mcpError(() => echo(c, "after-kill"));
      assert.equal(err.code, -32003);
      assert.equal(reasonOf(err), "killed");
      assert.equal((err.data as { scope?: string }).scope, "all");
      const seen = receivedToolCalls(records, "echo").map(
        (m) => (m.params?.arguments as { message: string }).message,
      );
      assert.ok(!seen.includes("after-kill"), "a killed call reached the upstream");
      // Lists are refused too while everything is killed.
      await assert.rejects(c.client.listTools(), (e: { code?: number }) => e.code === -32003);
      const r = await cli("revive", "--reason", "incident 42 resolved");
      assert.equal(r.code, 0, r.stderr);
      await waitFor(async () => textOf(await echo(c, "after")).includes("after"), {
        what: "calls after revive",
      });
    } finally {
      await cleanup();
      await c.close();
    }
  });

  test("kill one server: its tools vanish from lists and refuse; the other server works", async () => {
    const c = await connectClient(`${base}/mcp`);
    try {
      assert.equal((await cli("kill", "--server", "rec", "--reason", "suspicious")).code, 0);
      await refusedBeforeUpstream(c, "srv", "server");
      const names = (await c.client.listTools()).tools.map((t) => t.name);
      assert.ok(!names.some((n) => n.startsWith("rec__")), "a killed server's tools are listed");
      assert.ok(names.includes("everything__echo"));
      const ok = await c.client.callTool({ name: "everything__echo", arguments: { message: "fine" } });
      assert.match(textOf(ok), /fine/);
      assert.equal((await cli("revive", "--server", "rec", "--reason", "checked")).code, 0);
      await waitFor(async () => textOf(await echo(c, "back")).includes("back"), { what: "the server back" });
    } finally {
      await cleanup("--server", "rec");
      await c.close();
    }
  });

  test("kill one tool (server__tool): only that tool refuses", async () => {
    const c = await connectClient(`${base}/mcp`);
    try {
      assert.equal((await cli("kill", "--tool", "rec__echo", "--reason", "bad tool")).code, 0);
      await refusedBeforeUpstream(c, "tool", "tool");
      const pid = await c.client.callTool({ name: "rec__pid", arguments: {} });
      assert.match(textOf(pid), /^\d+$/);
      assert.equal((await cli("revive", "--server", "rec", "--tool", "echo", "--reason", "fixed")).code, 0);
      await waitFor(async () => textOf(await echo(c, "ok")).includes("ok"), { what: "the tool back" });
    } finally {
      await cleanup("--tool", "rec__echo");
      await c.close();
    }
  });

  test("kill returns once the gateway enforces it: the next call is refused without waiting", async () => {
    const c = await connectClient(`${base}/mcp`);
    let revived = false;
    try {
      const k = await cli("kill", "--tool", "rec__echo", "--reason", "seen at once");
      assert.equal(k.code, 0, k.stderr);
      assert.match(
        k.stdout,
        /^killed tool rec\/echo\nin force on the gateway at http:\/\/127\.0\.0\.1:\d+ \(after \d+ ms\)\n$/,
      );
      const err = await mcpError(() => echo(c, "right-after-kill"));
      assert.equal(err.code, -32003);
      const seen = receivedToolCalls(records, "echo").map(
        (m) => (m.params?.arguments as { message: string }).message,
      );
      assert.ok(!seen.includes("right-after-kill"), "a killed call reached the upstream");
      const r = await cli("revive", "--tool", "rec__echo", "--reason", "back at once");
      revived = r.code === 0;
      assert.match(r.stdout, /^revived tool rec\/echo\nlifted on the gateway at /);
      assert.match(textOf(await echo(c, "right-after-revive")), /right-after-revive/);
    } finally {
      if (!revived) await cleanup("--tool", "rec__echo");
      await c.close();
    }
  });

  test("kill with no gateway running says so and stores the kill; kill --list is a table", async () => {
    const other = makeTempDir("warden-kill-idle-");
    const port = await freePort();
    const file = writeConfig(
      { ...config, gateway: { listen: `127.0.0.1:${port}` }, state: { sqlite: join(other, "state.db") } },
      other,
    );
    const k = await runCli(["kill", "--server", "rec", "--reason", "offline", "-c", file], { cwd: other });
    assert.equal(k.code, 0, k.stderr);
    assert.match(
      k.stdout,
      new RegExp(
        `^no gateway answers at http://127\\.0\\.0\\.1:${port}: one started on this config applies it as it starts$`,
        "m",
      ),
    );
    const list = await runCli(["kill", "--list", "-c", file], { cwd: other });
    assert.match(list.stdout, /^SCOPE +TARGET +SINCE +BY +REASON\nserver +rec +\S+Z +\S+ +offline\n$/);
  });

  test("a call in flight on a killed scope is cancelled upstream and answered -32003", async () => {
    const c = await connectClient(`${base}/mcp`);
    try {
      const call = c.client.callTool({ name: "rec__slow", arguments: { label: "inflight" } });
      const settled = call.then(
        () => undefined,
        (e: unknown) => e,
      );
      await waitFor(() => readRecords(records).some((r) => r.event === "tool" && r.label === "inflight"), {
        what: "the slow call to reach the upstream",
      });
      assert.equal((await cli("kill", "--server", "rec", "--reason", "stop it now")).code, 0);
      const err = (await settled) as { code?: number; data?: { reason?: string } };
      assert.equal(err?.code, -32003);
      assert.equal(err.data?.reason, "killed");
      await waitFor(() => readRecords(records).some((r) => r.event === "aborted" && r.label === "inflight"), {
        what: "the upstream to see the cancellation",
      });
      assert.equal((await cli("revive", "--server", "rec", "--reason", "done")).code, 0);
    } finally {
      await cleanup("--server", "rec");
      await c.close();
    }
  });

  test("kill one user: that user is refused, another is not", async () => {
    const mallory = await as("mallory");
    const alice = await as("alice");
    try {
      assert.equal((await cli("kill", "--user", "mallory", "--reason", "leaked token")).code, 0);
      await refusedBeforeUpstream(mallory, "m", "user");
      // A new session for mallory is refused at initialize: no upstream session is even opened.
      const headers = { authorization: `Bearer ${await token("mallory")}` };
      await assert.rejects(
        connectClient(`${base}/mcp`, { name: "killed-probe", headers }),
        (e: { code?: number }) => e.code === -32003,
      );
      const opened = receivedMessages(records).filter(
        (m) =>
          m.method === "initialize" &&
          (m.params?.clientInfo as { name?: string } | undefined)?.name === "killed-probe",
      );
      assert.equal(opened.length, 0, "a killed caller's session reached the upstream");
      assert.match(textOf(await echo(alice, "a")), /a/);
      assert.equal((await cli("revive", "--user", "mallory", "--reason", "token rotated")).code, 0);
    } finally {
      await cleanup("--user", "mallory");
      await mallory.close();
      await alice.close();
    }
  });

  test("kill one client: its callers are refused, callers through another client are not", async () => {
    // `mcp-warden token` mints as the client mcp-warden-cli; anonymous callers have no client.
    const carol = await as("carol");
    const anonymous = await connectClient(`${base}/mcp`);
    try {
      assert.equal((await cli("kill", "--client", "mcp-warden-cli", "--reason", "client leak")).code, 0);
      await refusedBeforeUpstream(carol, "cl", "client");
      assert.match(textOf(await echo(anonymous, "anon")), /anon/);
      assert.equal((await cli("revive", "--client", "mcp-warden-cli", "--reason", "rotated")).code, 0);
      await waitFor(async () => textOf(await echo(carol, "carol")).includes("carol"), { what: "carol back" });
    } finally {
      await cleanup("--client", "mcp-warden-cli");
      await carol.close();
      await anonymous.close();
    }
  });

  test("the sentinel file refuses everything while it exists", async () => {
    const c = await connectClient(`${base}/mcp`);
    try {
      writeFileSync(sentinel(), "");
      const err = await refusedBeforeUpstream(c, "f", "all");
      assert.match(err.message, /kill switch file/);
      rmSync(sentinel());
      await waitFor(async () => textOf(await echo(c, "nofile")).includes("nofile"), {
        what: "calls after rm",
      });
    } finally {
      rmSync(sentinel(), { force: true });
      await c.close();
    }
  });

  test("an automatic rule kills a user after repeated denials; others keep working", async () => {
    const eve = await as("eve");
    const bob = await as("bob");
    try {
      for (let i = 0; i < 3; i++) {
        const e = await mcpError(() => eve.client.callTool({ name: "rec__secret_tool", arguments: {} }));
        assert.equal(reasonOf(e), "tool_not_mapped");
      }
      const err = await refusedBeforeUpstream(eve, "eve", "user");
      assert.equal((err.data as { target?: string }).target, "eve");
      assert.match(textOf(await echo(bob, "bob")), /bob/);
      const list = await cli("kill", "--list", "--json");
      const kills = list.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { scope: string; target: string; by: string });
      assert.ok(kills.some((k) => k.scope === "user" && k.target === "eve" && k.by === "rule"));
    } finally {
      await eve.close();
      await bob.close();
    }
  });

  test("kills persist across a restart until revived", async () => {
    await gw.stop();
    gw = await startGateway(config);
    // Still killed after the restart: eve cannot even open a session.
    await assert.rejects(as("eve"), (e: { code?: number }) => e.code === -32003);
    assert.equal((await cli("revive", "--user", "eve", "--reason", "reviewed")).code, 0);
    const eve = await waitFor(
      async () => {
        try {
          return await as("eve");
        } catch {
          return undefined;
        }
      },
      { what: "eve revived" },
    );
    try {
      assert.match(textOf(await echo(eve, "free")), /free/);
      const again = await cli("revive", "--user", "eve", "--reason", "twice");
      assert.equal(again.code, 1, "reviving what is not killed is an error");
    } finally {
      await eve.close();
    }
  });

  test("every kill and revive is in the audit log with who and why", async () => {
    const q = await cli("audit", "query", "--event", "admin", "--json", "--limit", "1000");
    assert.equal(q.code, 0, q.stderr);
    const events = q.stdout
      .trim()
      .split("\n")
      .map(
        (l) =>
          JSON.parse(l) as { reason: string; principal: { sub: string }; detail: Record<string, string> },
      );
    const kills = events.filter((e) => e.reason === "kill");
    assert.ok(kills.some((e) => e.detail.why === "incident 42" && e.detail.scope === "all"));
    assert.ok(kills.some((e) => e.principal.sub === "rule" && e.detail.target === "eve"));
    assert.ok(events.some((e) => e.reason === "revive" && e.detail.why === "incident 42 resolved"));
    assert.ok(events.some((e) => e.reason === "kill_file"));
    const denied = await cli("audit", "query", "--status", "denied", "--json", "--limit", "1000");
    assert.match(denied.stdout, /"reason":"killed"/);
  });
});
