// Many callers on one `shared` upstream (issue 15): one process serves them all, and nothing of one
// caller's reaches another: results, progress (the callers use the same progress tokens), cancellations,
// resource updates, server→client requests (relayed during a caller's only call, refused when two are
// in flight), kills. A crash of the shared process recovers for everyone. Real gateway, real
// server-everything and the recorder fixture, callers with distinct tokens.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  callWithProgress,
  connectClient,
  mcpError,
  reasonOf,
  textOf,
  type ConnectedClient,
} from "../helpers/client.js";
import { everythingStdio, recorderStdio } from "../helpers/configs.js";
import { makeTempDir, runCli, startGateway, writeConfig, type Gateway } from "../helpers/gateway.js";
import { descendants } from "../helpers/processes.js";
import { readRecords } from "../helpers/records.js";
import { freePort } from "../helpers/upstreams.js";
import { waitFor } from "../helpers/wait.js";

const FEATURES_DOC = "demo://resource/static/document/features.md";
const USERS = ["ada", "ben", "cy", "dee", "eve", "fay", "gus", "hal"];

interface AuditLine {
  event?: string;
  reason?: string;
  server?: string;
  principal?: { sub?: string };
  detail?: Record<string, unknown>;
}

describe("one shared upstream, many callers", () => {
  let gw: Gateway;
  let dir: string;
  let records: string;
  let cli: (...args: string[]) => ReturnType<typeof runCli>;
  const callers = new Map<string, ConnectedClient>();
  const asked = new Map<string, string[]>();

  before(async () => {
    dir = makeTempDir("warden-shared-");
    records = join(dir, "recorder.jsonl");
    const port = await freePort();
    const config = {
      gateway: { listen: `127.0.0.1:${port}` },
      state: { sqlite: join(dir, "state.db") },
      auth: { signing_key_file: join(dir, "signing.jwk") },
      servers: [
        everythingStdio("everything", { isolation: "shared" }),
        { ...recorderStdio("recorder", records, { "*": ["demo:use"] }), isolation: "shared" },
      ],
    };
    const configFile = writeConfig(config, dir);
    gw = await startGateway(config);
    cli = (...args: string[]) => runCli([...args, "-c", configFile], { cwd: dir });
    await Promise.all(
      USERS.map(async (sub) => {
        const r = await cli("token", "--sub", sub, "--scope", "demo:use");
        assert.equal(r.code, 0, r.stderr);
        asked.set(sub, []);
        const c = await connectClient(gw.mcpUrl, {
          headers: { authorization: `Bearer ${r.stdout.trim()}` },
          sampling: (req) => {
            asked.get(sub)?.push(JSON.stringify(req.params));
            return {
              role: "assistant" as const,
              content: { type: "text" as const, text: `sampled for ${sub}` },
              model: "warden-test-model",
            };
          },
        });
        callers.set(sub, c);
      }),
    );
  });

  after(async () => {
    await Promise.all([...callers.values()].map((c) => c.close()));
    await gw?.stop();
  });

  const caller = (sub: string) => callers.get(sub) as ConnectedClient;

  const audit = async (): Promise<AuditLine[]> => {
    const q = await cli("audit", "query", "--json", "--limit", "10000");
    assert.equal(q.code, 0, q.stderr);
    return q.stdout
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as AuditLine);
  };

  test("every caller gets its own results from one process per server", async () => {
    const results = await Promise.all(
      USERS.flatMap((sub) =>
        [1, 2, 3].map(async (n) => {
          const r = await caller(sub).client.callTool({
            name: "recorder__echo",
            arguments: { message: `${sub}-${n}` },
          });
          return [`${sub}-${n}`, textOf(r)] as const;
        }),
      ),
    );
    for (const [message, text] of results) assert.equal(text, `recorder: ${message}`);
    const pids = await Promise.all(
      USERS.map(async (sub) =>
        textOf(await caller(sub).client.callTool({ name: "recorder__pid", arguments: {} })),
      ),
    );
    assert.equal(new Set(pids).size, 1, `one recorder process for every caller: ${pids.join(", ")}`);
    assert.equal(readRecords(records).filter((r) => r.event === "started").length, 1);
    // One everything, one recorder: eight sessions launched no process of their own.
    assert.equal(descendants(gw.proc.pid as number).length, 2);
  });

  test("progress goes to the caller whose call it is, though both use the same token", async () => {
    const [a, b] = [caller("ada"), caller("ben")];
    const call = (c: ConnectedClient) =>
      callWithProgress(c.client, c.wire, {
        name: "everything__trigger-long-running-operation",
        arguments: { duration: 1, steps: 4 },
      });
    // Both clients have sent the same requests so far: their ids, which the SDK uses as progress
    // tokens, are the same.
    const [ra, rb] = await Promise.all([call(a), call(b)]);
    assert.equal(ra.progress.length, 4, JSON.stringify(ra.progress));
    assert.equal(rb.progress.length, 4, JSON.stringify(rb.progress));
    assert.deepEqual(ra.late, []);
    assert.deepEqual(rb.late, []);
  });

  test("a caller's cancellation ends its own call and not another's with the same id", async () => {
    const [a, b] = [caller("cy"), caller("dee")];
    const cancel = new AbortController();
    const aCall = a.client
      .callTool({ name: "recorder__slow", arguments: { label: "cy" } }, undefined, { signal: cancel.signal })
      .catch((err: Error) => err);
    const bCall = b.client.callTool({ name: "recorder__slow", arguments: { label: "dee" } });
    await waitFor(() => readRecords(records).filter((r) => r.tool === "slow").length >= 2, {
      what: "both slow calls to reach the one process",
    });
    cancel.abort("cy changed their mind");
    await waitFor(() => readRecords(records).find((r) => r.event === "aborted" && r.label === "cy"), {
      what: "cy's call to be cancelled upstream",
    });
    assert.ok((await aCall) instanceof Error);
    assert.equal(
      readRecords(records).find((r) => r.event === "aborted" && r.label === "dee"),
      undefined,
      "dee's call was cancelled by cy",
    );
    const stop = new AbortController();
    const pending = b.client
      .callTool({ name: "recorder__echo", arguments: { message: "dee still served" } })
      .then(textOf);
    assert.equal(await pending, "recorder: dee still served");
    stop.abort();
    // dee's slow call is still running upstream: end the process-wide wait by cancelling it too.
    void bCall.catch(() => undefined);
  });

  test("a resource update reaches only the sessions subscribed to it", async () => {
    const [sub, other] = [caller("eve"), caller("fay")];
    await Promise.all([sub.standaloneStream, other.standaloneStream]);
    await sub.client.subscribeResource({ uri: FEATURES_DOC });
    const seenByOther = other.notifications.length;
    await sub.client.callTool({ name: "everything__toggle-subscriber-updates", arguments: {} });
    try {
      const n = await sub.waitForNotification("notifications/resources/updated");
      assert.equal((n.params as { uri?: string }).uri, FEATURES_DOC);
      // A second update for the subscriber proves time passed for the other to have one too.
      const first = sub.notifications.indexOf(n);
      await waitFor(
        () => sub.notifications.slice(first + 1).find((m) => m.method === "notifications/resources/updated"),
        { what: "a second update", timeoutMs: 20_000 },
      );
      assert.deepEqual(
        other.notifications.slice(seenByOther).filter((m) => m.method === "notifications/resources/updated"),
        [],
        "a session that never subscribed got a resource update",
      );
    } finally {
      await sub.client.callTool({ name: "everything__toggle-subscriber-updates", arguments: {} });
      await sub.client.unsubscribeResource({ uri: FEATURES_DOC });
    }
  });

  test("a sampling request during a caller's only call reaches that caller; with two calls in flight it is refused", async () => {
    const [a, b] = [caller("gus"), caller("hal")];
    const r = await a.client.callTool({
      name: "everything__trigger-sampling-request",
      arguments: { prompt: "prompt-of-gus", maxTokens: 10 },
    });
    assert.match(textOf(r), /sampled for gus/);
    assert.equal(asked.get("gus")?.length, 1);
    assert.match(asked.get("gus")?.[0] ?? "", /prompt-of-gus/);
    for (const sub of USERS) if (sub !== "gus") assert.deepEqual(asked.get(sub), [], `${sub} was asked`);

    // hal's long call is in flight on the same connection: the server's request has two candidates.
    const long = callWithProgress(b.client, b.wire, {
      name: "everything__trigger-long-running-operation",
      arguments: { duration: 4, steps: 4 },
    });
    await waitFor(() => b.wire.find((m) => "method" in m && m.method === "notifications/progress"), {
      what: "hal's long call to be running",
    });
    const refused = await a.client
      .callTool({ name: "everything__trigger-sampling-request", arguments: { prompt: "ambiguous" } })
      .then((res) => JSON.stringify(res))
      .catch((err: Error) => err.message);
    assert.match(refused, /unattributable|no single caller|error/i);
    await long;
    for (const sub of USERS) assert.ok(!(asked.get(sub) ?? []).some((p) => p.includes("ambiguous")), sub);
    const events = await audit();
    assert.ok(
      events.some((e) => e.event === "server_request" && e.reason === "unattributable"),
      "the refused server request is audited",
    );
  });

  test("a kill of one caller leaves the others on the same process untouched", async () => {
    const k = await cli("kill", "--user", "ada", "--reason", "test: one caller only");
    assert.equal(k.code, 0, k.stderr);
    try {
      await waitFor(
        async () =>
          (await caller("ada")
            .client.callTool({ name: "recorder__echo", arguments: { message: "x" } })
            .then(() => false)
            .catch(() => true)) || undefined,
        { what: "ada to be refused" },
      );
      const err = await mcpError(() =>
        caller("ada").client.callTool({ name: "recorder__echo", arguments: { message: "x" } }),
      );
      assert.equal(err.code, -32003);
      for (const sub of USERS.filter((s) => s !== "ada"))
        assert.equal(
          textOf(await caller(sub).client.callTool({ name: "recorder__echo", arguments: { message: sub } })),
          `recorder: ${sub}`,
        );
    } finally {
      await cli("revive", "--user", "ada", "--reason", "test over");
    }
  });

  test("a crash of the shared process: calls in flight get -32005, every caller is served again", async () => {
    const before = Number(
      textOf(await caller("ben").client.callTool({ name: "recorder__pid", arguments: {} })),
    );
    const inFlight = mcpError(() =>
      caller("cy").client.callTool({ name: "recorder__slow", arguments: { label: "in-flight" } }),
    );
    await waitFor(() => readRecords(records).find((r) => r.tool === "slow" && r.label === "in-flight"), {
      what: "the slow call to reach the process",
    });
    const crash = await mcpError(() =>
      caller("ben").client.callTool({ name: "recorder__crash", arguments: {} }),
    );
    assert.equal(crash.code, -32005);
    const lost = await inFlight;
    assert.equal(lost.code, -32005);
    assert.equal(reasonOf(lost), "upstream_unavailable");
    // Every caller's next call waits for the one restart and runs.
    const pids = await Promise.all(
      USERS.filter((s) => s !== "ada").map(async (sub) =>
        Number(textOf(await caller(sub).client.callTool({ name: "recorder__pid", arguments: {} }))),
      ),
    );
    assert.equal(new Set(pids).size, 1, "one new process for everyone");
    assert.notEqual(pids[0], before);
    const crashes = (await audit()).filter((e) => e.event === "upstream_crash" && e.server === "recorder");
    assert.equal(crashes.length, 1);
    // Two callers had calls in flight: nobody is blamed.
    assert.equal(crashes[0]?.detail?.attributed, false);
    assert.equal(crashes[0]?.principal, undefined);
    const ready = await gw.readyz();
    assert.equal(ready.body.upstreams?.recorder?.state, "ready");
  });
});
