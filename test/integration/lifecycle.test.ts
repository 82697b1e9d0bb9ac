// Upstream process lifecycle: explicit environment for stdio servers, crash → -32005 and restart
// with /readyz following along, and graceful shutdown on SIGTERM.
import assert from "node:assert/strict";
import { existsSync, realpathSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connectClient, mcpError, reasonOf, textOf, type ConnectedClient } from "../helpers/client.js";
import { everythingStdio, gatewayConfig, recorderStdio } from "../helpers/configs.js";
import { makeTempDir, startGateway, type Gateway } from "../helpers/gateway.js";
import { isAlive } from "../helpers/processes.js";
import { readRecords } from "../helpers/records.js";
import { waitFor, within } from "../helpers/wait.js";

/** What a stdio upstream may get besides its configured `env:` (the MCP SDK's default set). */
const BASE_ENV = new Set(["HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER"]);

describe("stdio upstream environment", () => {
  let gw: Gateway;
  let c: ConnectedClient;
  let recordFile: string;
  let workDir: string;

  before(async () => {
    const dir = makeTempDir("warden-env-");
    recordFile = join(dir, "recorder.jsonl");
    workDir = makeTempDir("warden-cwd-");
    gw = await startGateway(
      gatewayConfig([
        everythingStdio("everything", {
          env: { CONFIGURED_VAR: "configured-value", FROM_GATEWAY_ENV: "${WARDEN_TEST_INTERPOLATED}" },
        }),
        { ...recorderStdio("recorder", recordFile, { echo: ["demo:use"] }), cwd: workDir },
      ]),
      {
        env: {
          WARDEN_TEST_SECRET: "s3cr3t-must-not-leak",
          WARDEN_TEST_INTERPOLATED: "interpolated-value",
          AWS_SECRET_ACCESS_KEY: "also-must-not-leak",
        },
      },
    );
    c = await connectClient(gw.mcpUrl);
  });

  after(async () => {
    await c?.close();
    await gw?.stop();
  });

  test("the upstream gets its configured env and not the gateway's", async () => {
    const r = await c.client.callTool({ name: "everything__get-env", arguments: {} });
    const env = JSON.parse(textOf(r)) as Record<string, string>;
    assert.equal(env.CONFIGURED_VAR, "configured-value");
    assert.equal(env.FROM_GATEWAY_ENV, "interpolated-value", "${VAR} in env: is interpolated");
    assert.equal(env.WARDEN_TEST_SECRET, undefined, "the gateway's environment leaked into the upstream");
    assert.equal(env.AWS_SECRET_ACCESS_KEY, undefined, "the gateway's environment leaked into the upstream");
    assert.equal(env.WARDEN_TEST_INTERPOLATED, undefined, "only the configured name may carry the value");
    assert.ok(!JSON.stringify(env).includes("s3cr3t-must-not-leak"));
    const extra = Object.keys(env).filter(
      (k) => !BASE_ENV.has(k) && k !== "CONFIGURED_VAR" && k !== "FROM_GATEWAY_ENV",
    );
    assert.deepEqual(extra, [], `variables beyond the configured env and ${[...BASE_ENV].join(", ")}`);
  });

  test("the upstream runs in its configured cwd", async () => {
    await c.client.callTool({ name: "recorder__echo", arguments: { message: "where" } });
    const cwds = new Set(readRecords(recordFile).flatMap((r) => (r.event === "started" ? [r.cwd] : [])));
    assert.deepEqual([...cwds], [realpathSync(workDir)]);
  });
});

describe("a caller who comes while the gateway is still starting its server", () => {
  let gw: Gateway;
  let recordFile: string;

  before(async () => {
    recordFile = join(makeTempDir("warden-slow-start-"), "recorder.jsonl");
    gw = await startGateway(
      gatewayConfig([recorderStdio("slow", recordFile, { "*": ["demo:use"] }, { START_DELAY_MS: "2000" })]),
      { waitReady: false },
    );
  });

  after(async () => {
    await gw?.stop();
  });

  test("waits for that start within the upstream timeout instead of getting -32005", async () => {
    const early = await gw.readyz();
    assert.equal(early.status, 503, "the server should still be starting when the caller comes");
    assert.equal(early.body.upstreams?.slow?.state, "starting");
    const c = await connectClient(gw.serverUrl("slow"));
    try {
      const r = await c.client.callTool({ name: "echo", arguments: { message: "early" } });
      assert.equal(textOf(r), "recorder: early");
      assert.ok(readRecords(recordFile).some((e) => JSON.stringify(e).includes('"early"')));
    } finally {
      await c.close();
    }
  });
});

describe("stdio upstream crash and restart", () => {
  let gw: Gateway;
  let c: ConnectedClient;
  let recordFile: string;
  let holdFile: string;

  before(async () => {
    const dir = makeTempDir("warden-crash-");
    recordFile = join(dir, "recorder.jsonl");
    holdFile = join(dir, "hold");
    gw = await startGateway(
      gatewayConfig([
        recorderStdio("recorder", recordFile, { "*": ["demo:use"] }, { HOLD_FILE: holdFile }),
        everythingStdio(),
      ]),
    );
    c = await connectClient(gw.mcpUrl);
  });

  after(async () => {
    rmSync(holdFile, { force: true });
    await c?.close();
    await gw?.stop();
  });

  test("in-flight calls get -32005, /readyz goes 503 until the server is back, then calls work", async () => {
    const firstPid = Number(textOf(await c.client.callTool({ name: "recorder__pid", arguments: {} })));
    assert.ok(firstPid > 0);

    // One call already running in the upstream when it dies...
    const slow = mcpError(() =>
      c.client.callTool({ name: "recorder__slow", arguments: { label: "in-flight" } }),
    );
    await waitFor(() => readRecords(recordFile).find((r) => r.event === "tool" && r.label === "in-flight"), {
      what: "the slow call to reach the upstream",
    });
    // ...and the call that kills it, holding it down so that it cannot restart yet.
    const crash = await mcpError(() =>
      c.client.callTool({ name: "recorder__crash", arguments: { hold: true } }),
    );
    assert.equal(crash.code, -32005, crash.message);
    assert.equal(reasonOf(crash), "upstream_unavailable");
    const slowErr = await slow;
    assert.equal(slowErr.code, -32005, slowErr.message);
    assert.equal(reasonOf(slowErr), "upstream_unavailable");
    assert.ok(existsSync(holdFile));

    const down = await waitFor(
      async () => {
        const r = await gw.readyz();
        return r.status === 503 ? r : undefined;
      },
      { what: "/readyz → 503 while the upstream is down" },
    );
    assert.equal(down.body.status, "not_ready");
    assert.ok(
      ["starting", "restarting", "failed"].includes(String(down.body.upstreams?.recorder?.state)),
      `recorder state ${JSON.stringify(down.body.upstreams?.recorder)}`,
    );
    assert.equal(down.body.upstreams?.everything?.state, "ready", "the other upstream is unaffected");
    assert.equal(isAlive(firstPid), false, "the crashed process is gone");
    // The other upstream keeps serving meanwhile.
    assert.equal(
      textOf(await c.client.callTool({ name: "everything__echo", arguments: { message: "still here" } })),
      "Echo: still here",
    );

    // Release it: the gateway's backoff restarts it.
    rmSync(holdFile);
    await waitFor(async () => (await gw.readyz()).status === 200, {
      timeoutMs: 60_000,
      intervalMs: 200,
      what: "/readyz → 200 after the upstream may start again",
    });
    const ready = await gw.readyz();
    assert.equal(ready.body.upstreams?.recorder?.state, "ready");

    const secondPid = Number(textOf(await c.client.callTool({ name: "recorder__pid", arguments: {} })));
    assert.ok(secondPid > 0);
    assert.notEqual(secondPid, firstPid, "calls are served by a new process");
    assert.equal(
      textOf(await c.client.callTool({ name: "recorder__echo", arguments: { message: "back" } })),
      "recorder: back",
    );
    const starts = readRecords(recordFile).filter((r) => r.event === "started");
    assert.ok(starts.length >= 2, "the server was started again");
  });

  test("a restarted server's tools are listed again", async () => {
    const names = (await c.client.listTools()).tools.map((t) => t.name);
    assert.ok(names.includes("recorder__echo"), names.join(", "));
    assert.ok(names.includes("everything__echo"), names.join(", "));
  });
});

describe("a server that cannot start", () => {
  let gw: Gateway;
  let c: ConnectedClient;
  let recordFile: string;

  before(async () => {
    const dir = makeTempDir("warden-broken-");
    recordFile = join(dir, "recorder.jsonl");
    gw = await startGateway(
      gatewayConfig([
        // A program that exists (start refuses one that does not) and exits at once: its script is missing.
        {
          name: "broken",
          command: process.execPath,
          args: [join(dir, "no-such-server.mjs")],
          tools: { "*": ["demo:use"] },
        },
        recorderStdio("recorder", recordFile, { "*": ["demo:use"] }),
      ]),
      { waitReady: false },
    );
    await waitFor(async () => (await gw.readyz()).body.upstreams?.recorder?.state === "ready", {
      what: "the working upstream to be ready",
    });
    c = await connectClient(gw.mcpUrl);
  });

  after(async () => {
    await c?.close();
    await gw?.stop();
  });

  test("/readyz is 503 and names the server that is down", async () => {
    const r = await gw.readyz();
    assert.equal(r.status, 503);
    assert.equal(r.body.status, "not_ready");
    assert.ok(
      ["starting", "restarting", "failed"].includes(String(r.body.upstreams?.broken?.state)),
      JSON.stringify(r.body.upstreams?.broken),
    );
    assert.equal(r.body.upstreams?.recorder?.state, "ready");
  });

  test("the other server is served; a call to the one that is down gets -32005", async () => {
    assert.equal(
      textOf(await c.client.callTool({ name: "recorder__echo", arguments: { message: "up" } })),
      "recorder: up",
    );
    const err = await mcpError(() => c.client.callTool({ name: "broken__anything", arguments: {} }));
    assert.equal(err.code, -32005, err.message);
    assert.equal(reasonOf(err), "upstream_unavailable");
  });
});

describe("graceful shutdown", () => {
  test("SIGTERM drains the call in flight, stops the upstreams and exits 0", async () => {
    const recordFile = join(makeTempDir("warden-term-"), "recorder.jsonl");
    const gw = await startGateway(
      gatewayConfig([recorderStdio("recorder", recordFile, { "*": ["demo:use"] }), everythingStdio()]),
    );
    const c = await connectClient(gw.mcpUrl);
    try {
      const upstreamPid = Number(textOf(await c.client.callTool({ name: "recorder__pid", arguments: {} })));
      const inFlight = c.client.callTool({ name: "recorder__sleep", arguments: { ms: 1500 } });
      await waitFor(
        () =>
          readRecords(recordFile).find(
            (r) =>
              r.event === "message" &&
              r.message?.method === "tools/call" &&
              r.message.params?.name === "sleep",
          ),
        { what: "the call to reach the upstream" },
      );
      // Signal by hand: gw.stop() would also SIGKILL the process group and hide orphaned upstreams.
      gw.proc.kill("SIGTERM");
      const result = await inFlight;
      assert.equal(textOf(result), "slept 1500", "the call in flight was not drained");
      const { code, signal } = await within(gw.exited, 20_000, "the gateway to exit after SIGTERM");
      assert.equal(signal, null);
      assert.equal(code, 0);
      await waitFor(() => !isAlive(upstreamPid), {
        timeoutMs: 10_000,
        what: "the stdio upstream to be stopped",
      });
    } finally {
      await c.close();
      await gw.stop();
    }
  });
});
