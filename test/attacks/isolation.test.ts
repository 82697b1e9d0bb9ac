// Issues 15 and 23: callers sharing an upstream connection cannot reach each other, and one caller
// cannot take a server down for the others. Ordinary callers with valid tokens (or anonymous
// callers, told apart by source address), and a hostile upstream, on `shared` and `per_session`
// servers: results, errors, progress, log lines, cancellations, subscriptions and server→client
// requests stay with the caller they belong to; a crash costs only the calls in flight on the dead
// process; a kill rule counting crashes stops the crasher only; floods of sessions hold
// `max_upstream_processes`. Fixtures: fixtures/isolation-server.mjs, fixtures/hostile-mux-server.mjs.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { ConnectedClient } from "../helpers/client.js";
import { makeTempDir, startGateway, type Gateway } from "../helpers/gateway.js";
import { freePort } from "../helpers/upstreams.js";
import { waitFor } from "../helpers/wait.js";
import { errorFor, openSession, readJsonl, resultFor, toolCall } from "./fixtures/attack-lib.js";
import {
  caller,
  callTool,
  closeAll,
  dataOf,
  fixtureServer,
  logsOf,
  notificationsOf,
  outcome,
  recordsOf,
  requestsOf,
  serverProcesses,
  signingKeyFile,
  textOf,
  tokenFor,
  tryCall,
  wireText,
} from "./fixtures/isolation-lib.js";

/** Callers' tags: no tag is a substring of another. */
const NAMES = ["ada", "bob", "cyd", "dee", "eve", "fay", "gus", "hal"];

/** A gateway config on a fixed free port: `mcp-warden token` puts the gateway's URL in a token's audience. */
async function config(servers: object[], extra: Record<string, unknown> = {}, auditFile?: string) {
  const { gateway, ...rest } = extra as { gateway?: Record<string, unknown> };
  return {
    gateway: { listen: `127.0.0.1:${await freePort()}`, ...gateway },
    auth: { anonymous: ["demo:use"], signing_key_file: await signingKeyFile() },
    ...(auditFile ? { audit: { sinks: [{ jsonl: auditFile }] } } : {}),
    servers,
    ...rest,
  };
}

/** Waits until a process of `server` answers `pid` through `c`, and returns that pid. */
async function pidOf(c: ConnectedClient): Promise<number> {
  return Number(textOf(await callTool(c, "pid", {})));
}

describe("isolation: many callers on one shared process", () => {
  let gw: Gateway;
  let rec: string;
  let hostileRec: string;
  let audit: string;
  const callers: ConnectedClient[] = [];
  let sampA: ConnectedClient;
  let sampB: ConnectedClient;

  before(async () => {
    const dir = makeTempDir("warden-iso-");
    rec = join(dir, "iso.jsonl");
    audit = join(dir, "audit.jsonl");
    hostileRec = join(dir, "hostile.jsonl");
    gw = await startGateway(
      await config(
        [
          fixtureServer("iso", "isolation-server.mjs", rec, { isolation: "shared" }),
          fixtureServer("hostile", "hostile-mux-server.mjs", hostileRec, { isolation: "shared" }),
        ],
        {},
        audit,
      ),
    );
    const url = gw.serverUrl("iso");
    // Two users with tokens, the rest anonymous callers from their own addresses.
    for (const [i, name] of NAMES.entries()) {
      const who = i < 2 ? { token: await tokenFor(gw, name) } : { address: `127.0.0.${20 + i}` };
      callers.push(await caller(url, who));
    }
    const answer = (who: string) => () => ({
      role: "assistant" as const,
      content: { type: "text" as const, text: `answer-from-${who}` },
      model: "m",
    });
    sampA = await caller(url, { address: "127.0.0.50" }, { sampling: answer("A") });
    sampB = await caller(url, { address: "127.0.0.51" }, { sampling: answer("B") });
  });

  after(async () => {
    await closeAll([...callers, sampA, sampB]);
    await gw?.stop();
  });

  test("every caller is served by the one process", async () => {
    const pids = new Set(await Promise.all(callers.map(pidOf)));
    assert.equal(pids.size, 1, `a shared server must serve every caller from one process: ${[...pids]}`);
    assert.equal(serverProcesses(gw.proc.pid!, "iso").length, 1, "a shared stdio server runs one process");
  });

  test("eight calls in flight at once under one progress token: each caller gets its own result and progress, nobody the log lines", async () => {
    const marks = callers.map((c) => c.wire.length);
    const results = await Promise.all(
      callers.map((c, i) => callTool(c, "meet", { group: "g1", n: callers.length, label: NAMES[i] }, "same")),
    );
    for (const [i, r] of results.entries())
      assert.equal(
        textOf(r),
        `meet:${NAMES[i]}`,
        `${NAMES[i]} got another caller's result (meet-timeout: the calls were never in flight together)`,
      );
    for (const [i, c] of callers.entries()) {
      const mine = await waitFor(
        () => {
          const p = notificationsOf(c, "notifications/progress", marks[i]);
          return p.length > 0 ? p : undefined;
        },
        { what: `${NAMES[i]}'s own progress` },
      );
      for (const p of mine) {
        assert.equal(p.params?.message, `progress:${NAMES[i]}`, `${NAMES[i]} got another caller's progress`);
        assert.equal(p.params?.progressToken, "same", "progress must carry the caller's own token back");
      }
    }
    // One call at a time now: each caller's log line reaches that caller only. Before these
    // fences, eight calls were in flight: their log lines belong to nobody.
    for (const [i, c] of callers.entries()) {
      await callTool(c, "log_alone", { label: `fence-${NAMES[i]}` });
      await waitFor(() => logsOf(c, marks[i]).includes(`log:fence-${NAMES[i]}`), {
        what: `${NAMES[i]}'s log line with one call in flight`,
      });
    }
    for (const [i, c] of callers.entries()) {
      assert.deepEqual(
        logsOf(c, marks[i]),
        [`log:fence-${NAMES[i]}`],
        `${NAMES[i]} saw log lines of calls that were not its own alone`,
      );
      for (const other of NAMES.filter((n) => n !== NAMES[i]))
        assert.ok(!wireText(c, marks[i]).includes(`:${other}"`), `${NAMES[i]} saw ${other}'s traffic`);
    }
  });

  test("errors go to the caller whose call failed", async () => {
    const marks = callers.map((c) => c.wire.length);
    const results = await Promise.all(
      callers.map((c, i) =>
        outcome(callTool(c, "meet", { group: "g2", n: callers.length, label: NAMES[i], fail: true })),
      ),
    );
    for (const [i, r] of results.entries()) {
      const said = typeof r === "string" ? r : r.message;
      assert.ok(said.includes(`fail:${NAMES[i]}`), `${NAMES[i]} did not get its own failure: ${said}`);
      for (const other of NAMES.filter((n) => n !== NAMES[i]))
        assert.ok(
          !wireText(callers[i]!, marks[i]).includes(`fail:${other}`),
          `${NAMES[i]} got ${other}'s error`,
        );
    }
  });

  test("a caller cancelling its own request id cancels nothing of another caller using the same id", async () => {
    const url = gw.serverUrl("iso");
    const a = await openSession(url, { localAddress: "127.0.0.40" });
    const b = await openSession(url, { localAddress: "127.0.0.41" });
    const slowOf = (label: string) => () => recordsOf(rec, "slow").some((r) => r.label === label);
    const abortedOf = (label: string) => recordsOf(rec, "aborted").some((r) => r.label === label);

    // Both callers have a call with id 7 in flight; A cancels its 7.
    // A's own call is not awaited: a cancelled request gets no answer.
    void a.post(toolCall(7, "slow", { label: "cancel-a" }), { timeoutMs: 30_000 }).catch(() => undefined);
    const bCall = b.post(toolCall(7, "slow", { label: "cancel-b" }), { timeoutMs: 30_000 });
    await waitFor(slowOf("cancel-a"), { what: "A's slow call upstream" });
    await waitFor(slowOf("cancel-b"), { what: "B's slow call upstream" });
    await a.post({
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: 7, reason: "mine" },
    });
    await waitFor(() => abortedOf("cancel-a"), { what: "A's own call to be cancelled upstream" });

    // A, with nothing in flight, cancels id 9: B's call 9 must run on.
    const bCall9 = b.post(toolCall(9, "slow", { label: "cancel-b9" }), { timeoutMs: 30_000 });
    await waitFor(slowOf("cancel-b9"), { what: "B's second slow call upstream" });
    await a.post({
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: 9, reason: "not mine" },
    });
    // A call of A's own through the same process: a cancellation forwarded for it went first.
    assert.ok(resultFor(await a.post(toolCall(10, "echo", { message: "fence" })), 10));

    for (const label of ["cancel-b", "cancel-b9"])
      assert.ok(resultFor(await b.post(toolCall(20, "release", { label })), 20));
    const [b7, b9] = await Promise.all([bCall, bCall9]);
    assert.match(
      JSON.stringify(resultFor(b7, 7)),
      /slow:cancel-b:released/,
      `B's call 7: ${b7.text.slice(0, 300)}`,
    );
    assert.match(
      JSON.stringify(resultFor(b9, 9)),
      /slow:cancel-b9:released/,
      `B's call 9: ${b9.text.slice(0, 300)}`,
    );
    assert.ok(!abortedOf("cancel-b"), "A's cancellation of its id 7 cancelled B's call 7");
    assert.ok(!abortedOf("cancel-b9"), "A's cancellation of an id it never used cancelled B's call");
  });

  test("a sampling request during two calls in flight reaches neither caller; with one in flight it reaches that caller", async () => {
    const [ma, mb] = [sampA.wire.length, sampB.wire.length];
    const hold = callTool(sampB, "slow", { label: "samp-hold" });
    await waitFor(() => recordsOf(rec, "slow").some((r) => r.label === "samp-hold"), {
      what: "B's call in flight",
    });
    const two = textOf(await callTool(sampA, "sample", { label: "two-in-flight" }));
    assert.match(
      two,
      /^sample-refused:two-in-flight:/,
      `the ambiguous sampling request was not refused: ${two}`,
    );
    assert.deepEqual(requestsOf(sampA, ma), [], "A got a sampling request that could be B's");
    assert.deepEqual(requestsOf(sampB, mb), [], "B got a sampling request made during A's call");
    await callTool(sampB, "release", { label: "samp-hold" });
    await hold;

    const one = textOf(await callTool(sampA, "sample", { label: "alone" }));
    assert.equal(one, "sample-answered:alone:answer-from-A", "with one call in flight, its caller is asked");
    assert.equal(requestsOf(sampA, ma).length, 1);
    assert.match(JSON.stringify(requestsOf(sampA, ma)), /question-for:alone/);
    assert.deepEqual(requestsOf(sampB, mb), [], "B got A's sampling request");

    const denied = await waitFor(
      () =>
        readJsonl(audit).find(
          (e) => e.event === "server_request" && e.status === "denied" && e.reason === "unattributable",
        ),
      { what: "the refused sampling request in the audit log" },
    );
    assert.equal(denied.server, "iso");
  });

  test("resource updates reach the sessions that subscribed, and the upstream is subscribed once", async () => {
    const [a, b, c, d] = callers as [ConnectedClient, ConnectedClient, ConnectedClient, ConnectedClient];
    const marks = [a, b, c, d].map((x) => x.wire.length);
    const updates = (x: ConnectedClient, i: number) =>
      notificationsOf(x, "notifications/resources/updated", marks[i]).map((n) => String(n.params?.uri));
    const uri = (n: string) => `isolation://r/${n}`;
    await a.client.subscribeResource({ uri: uri("alpha") });
    await c.client.subscribeResource({ uri: uri("alpha") });
    await b.client.subscribeResource({ uri: uri("fence-b") });
    await c.client.subscribeResource({ uri: uri("fence-c") });
    await a.client.subscribeResource({ uri: uri("fence-a") });
    await d.client.subscribeResource({ uri: uri("fence-d") });
    // D touches: D's call is the only one in flight, but D did not subscribe to alpha.
    await callTool(d, "touch", { uris: ["alpha", "fence-a", "fence-b", "fence-c", "fence-d"].map(uri) });
    await waitFor(() => updates(a, 0).includes(uri("fence-a")), { what: "A's fence update" });
    await waitFor(() => updates(b, 1).includes(uri("fence-b")), { what: "B's fence update" });
    await waitFor(() => updates(c, 2).includes(uri("fence-c")), { what: "C's fence update" });
    await waitFor(() => updates(d, 3).includes(uri("fence-d")), { what: "D's fence update" });
    assert.deepEqual(updates(a, 0), [uri("alpha"), uri("fence-a")]);
    assert.deepEqual(updates(b, 1), [uri("fence-b")], "B did not subscribe to alpha");
    assert.deepEqual(updates(c, 2), [uri("alpha"), uri("fence-c")]);
    assert.deepEqual(updates(d, 3), [uri("fence-d")], "D touched alpha but did not subscribe to it");
    const subs = recordsOf(rec, "subscribe").filter((r) => r.uri === uri("alpha"));
    assert.equal(subs.length, 1, "two subscribers of one URI: the upstream is subscribed once");

    // C leaves: A still gets alpha, C does not, and the upstream stays subscribed for A.
    await c.client.unsubscribeResource({ uri: uri("alpha") });
    assert.equal(recordsOf(rec, "unsubscribe").filter((r) => r.uri === uri("alpha")).length, 0);
    await callTool(b, "touch", { uris: [uri("alpha"), uri("fence-a"), uri("fence-c")] });
    await waitFor(() => updates(a, 0).filter((u) => u === uri("fence-a")).length === 2, {
      what: "A's fence",
    });
    await waitFor(() => updates(c, 2).filter((u) => u === uri("fence-c")).length === 2, {
      what: "C's fence",
    });
    assert.equal(updates(a, 0).filter((u) => u === uri("alpha")).length, 2, "A must still get alpha");
    assert.equal(updates(c, 2).filter((u) => u === uri("alpha")).length, 1, "C unsubscribed, yet got alpha");
    await a.client.unsubscribeResource({ uri: uri("alpha") });
    await waitFor(() => recordsOf(rec, "unsubscribe").some((r) => r.uri === uri("alpha")), {
      what: "the last unsubscriber to unsubscribe upstream",
    });
  });

  test("tools/list_changed reaches every caller attached", async () => {
    const marks = callers.map((c) => c.wire.length);
    await callTool(callers[3]!, "change", { name: "added_by_dee" });
    for (const [i, c] of callers.entries())
      await waitFor(() => notificationsOf(c, "notifications/tools/list_changed", marks[i]).length > 0, {
        what: `${NAMES[i]} to hear tools/list_changed`,
      });
  });

  describe("isolation: a hostile server on a shared connection", () => {
    let rec: string;
    let a: ConnectedClient;
    let b: ConnectedClient;
    let c: ConnectedClient;
    const noop = () => ({
      role: "assistant" as const,
      content: { type: "text" as const, text: "x" },
      model: "m",
    });

    before(async () => {
      rec = hostileRec;
      const url = gw.serverUrl("hostile");
      const opts = { sampling: noop, elicitation: () => ({ action: "decline" as const }), roots: [] };
      a = await caller(url, { token: await tokenFor(gw, "ann") }, opts);
      b = await caller(url, { token: await tokenFor(gw, "ben") }, opts);
      c = await caller(url, { address: "127.0.0.60" }, opts);
    });

    after(async () => {
      await closeAll([a, b, c]);
    });

    test("guessed progress tokens, a log line, forged answers and cancellations during calls reach nobody", async () => {
      const marks = [a.wire.length, b.wire.length, c.wire.length];
      // Both callers use the same progress token; B's call will fail.
      const aCall = outcome(callTool(a, "hold", { label: "ha" }, "tok"));
      const bCall = outcome(callTool(b, "hold", { label: "err-hb" }, "tok"));
      await waitFor(() => recordsOf(rec, "hold").length >= 2, { what: "both holds upstream" });
      assert.equal(textOf(await callTool(c, "spray", {})), "sprayed");
      assert.equal(textOf(await callTool(c, "release_all", {})), "released:2");
      const [ra, rb] = await Promise.all([aCall, bCall]);
      assert.equal(ra, "ok: held:ha", `A's result: ${String(ra)}`);
      assert.ok(typeof rb !== "string" && rb.message.includes("err:err-hb"), `B's error: ${String(rb)}`);

      const progress = (x: ConnectedClient, i: number) =>
        notificationsOf(x, "notifications/progress", marks[i]).map((n) => String(n.params?.message));
      await waitFor(() => progress(a, 0).includes("owner:ha"), { what: "A's own progress" });
      await waitFor(() => progress(b, 1).includes("owner:err-hb"), { what: "B's own progress" });
      assert.deepEqual([...new Set(progress(a, 0))], ["owner:ha"], "A got progress for tokens not its own");
      assert.deepEqual(
        [...new Set(progress(b, 1))],
        ["owner:err-hb"],
        "B got progress for tokens not its own",
      );
      assert.deepEqual(progress(c, 2), [], "C (the sprayer, its call in flight) got guessed progress");
      for (const [i, x] of [a, b, c].entries()) {
        const seen = wireText(x, marks[i]);
        for (const leak of ["forged:", "log:spray", "forged-cancel", "owner:nobody"])
          assert.ok(!seen.includes(leak), `caller ${i} received ${leak}: ${seen.slice(0, 400)}`);
        assert.deepEqual(
          notificationsOf(x, "notifications/cancelled", marks[i]),
          [],
          `caller ${i} got a cancellation`,
        );
      }
      // The connection still serves everyone.
      assert.equal(textOf(await callTool(a, "echo", { message: "after" })), "echo:after");
      assert.equal(textOf(await callTool(b, "echo", { message: "after" })), "echo:after");
    });

    test("sampling, elicitation and roots requests with no call in flight are refused upstream and reach nobody", async () => {
      const marks = [a.wire.length, b.wire.length, c.wire.length];
      assert.equal(textOf(await callTool(c, "later", { ms: 50 })), "later");
      const replies = await waitFor(
        () => {
          const r = recordsOf(rec, "reply").filter((e) => String(e.id).startsWith("s-"));
          return r.length >= 3 ? r : undefined;
        },
        { what: "the gateway to answer the three requests upstream" },
      );
      for (const r of replies)
        assert.ok(
          "error" in (r.reply as object),
          `a request with no call in flight was answered: ${JSON.stringify(r)}`,
        );
      for (const [i, x] of [a, b, c].entries()) {
        assert.deepEqual(requestsOf(x, marks[i]), [], `caller ${i} got a server request outside any call`);
        assert.deepEqual(x.requests, [], `caller ${i} answered a server request`);
        assert.ok(
          !wireText(x, marks[i]).includes("log:later"),
          `caller ${i} got a log line outside any call`,
        );
      }
    });
  });
});

describe("blast radius: a caller crashing a shared server", () => {
  let gw: Gateway;
  let rec: string;
  let rec2: string;
  let audit: string;
  let alice: ConnectedClient;
  let bob: ConnectedClient;
  let dave: ConnectedClient;
  let erin: ConnectedClient;
  let frank: ConnectedClient;

  before(async () => {
    const dir = makeTempDir("warden-iso-crash-");
    rec = join(dir, "blast.jsonl");
    rec2 = join(dir, "blast2.jsonl");
    audit = join(dir, "audit.jsonl");
    gw = await startGateway(
      await config(
        [
          fixtureServer("blast", "isolation-server.mjs", rec, { isolation: "shared" }),
          fixtureServer("blast2", "isolation-server.mjs", rec2, { isolation: "shared" }),
        ],
        { kill_switch: { rules: [{ when: "upstream_crash", count: 3, within: "1m", kill: "user" }] } },
        audit,
      ),
    );
    const as = async (sub: string, server: string) =>
      caller(gw.serverUrl(server), { token: await tokenFor(gw, sub) });
    alice = await as("alice", "blast");
    bob = await as("bob", "blast");
    dave = await as("dave", "blast2");
    erin = await as("erin", "blast2");
    frank = await as("frank", "blast2");
  });

  after(async () => {
    await closeAll([alice, bob, dave, erin, frank]);
    await gw?.stop();
  });

  test("alice crashes it three times: bob is never refused, alice's own next calls wait for the restart, then the rule stops alice only", async () => {
    for (let round = 1; round <= 3; round++) {
      const crash = await outcome(callTool(alice, "crash", {}));
      assert.ok(typeof crash !== "string", `round ${round}: the crash call got a result: ${crash}`);
      assert.equal(crash.code, -32005, `round ${round}: ${crash.message}`);
      assert.equal(dataOf(crash).reason, "upstream_unavailable");
      // Right after the crash, while the one process restarts: bob waits and is served.
      const b = await outcome(callTool(bob, "echo", { message: `bob-${round}` }));
      assert.equal(b, `ok: echo:bob-${round}`, `round ${round}: bob was refused after alice's crash`);
      if (round < 3) {
        const a = await outcome(callTool(alice, "echo", { message: `alice-${round}` }));
        assert.equal(
          a,
          `ok: echo:alice-${round}`,
          `round ${round}: alice's next call must wait for the restart`,
        );
      }
    }
    const killed = await waitFor(
      async () => {
        const r = await outcome(callTool(alice, "echo", { message: "again" }));
        return typeof r !== "string" && r.code === -32003 ? r : undefined;
      },
      { what: "the upstream_crash rule to stop alice" },
    );
    assert.equal(dataOf(killed).scope, "user");
    assert.equal(dataOf(killed).target, "alice");
    assert.equal(
      await outcome(callTool(bob, "echo", { message: "still" })),
      "ok: echo:still",
      "bob was stopped too",
    );
    const crashes = readJsonl(audit).filter((e) => e.event === "upstream_crash" && e.server === "blast");
    assert.ok(
      crashes.filter((e) => (e.principal as { sub?: string } | undefined)?.sub === "alice").length >= 3,
      `each crash must be audited against alice: ${JSON.stringify(crashes)}`,
    );
  });

  test("a crash with two calls in flight fails both with -32005 and counts against nobody; so does a crash with none", async () => {
    for (let round = 1; round <= 3; round++) {
      const label = `hold-${round}`;
      const held = outcome(callTool(erin, "slow", { label }));
      await waitFor(() => recordsOf(rec2, "slow").some((r) => r.label === label), {
        what: "erin's call upstream",
      });
      const crash = await outcome(callTool(dave, "crash", {}));
      const lost = await held;
      for (const [who, r] of [
        ["dave", crash],
        ["erin", lost],
      ] as const) {
        assert.ok(typeof r !== "string", `round ${round}: ${who}'s call on the dead process got a result`);
        assert.equal(r.code, -32005, `round ${round}: ${who}: ${r.message}`);
        assert.equal(dataOf(r).reason, "upstream_unavailable");
      }
    }
    for (let round = 1; round <= 3; round++) {
      // pid waits for any restart under way, so the process that answers it is the one that exits.
      await pidOf(frank);
      const known = new Set(recordsOf(rec2, "started").map((r) => r.pid));
      assert.equal(textOf(await callTool(frank, "crash_later", { ms: 100 })), "crashing later");
      // No call of ours is sent until the gateway has started the next process.
      await waitFor(() => recordsOf(rec2, "started").some((r) => !known.has(r.pid)), {
        what: "the restart after a crash with no call in flight",
      });
    }
    for (const [who, c] of [
      ["dave", dave],
      ["erin", erin],
      ["frank", frank],
    ] as const)
      assert.equal(
        await outcome(callTool(c, "echo", { message: who })),
        `ok: echo:${who}`,
        `${who} was stopped for crashes nobody can be blamed for`,
      );
    const crashes = await waitFor(
      () => {
        const e = readJsonl(audit).filter((x) => x.event === "upstream_crash" && x.server === "blast2");
        return e.length >= 6 ? e : undefined;
      },
      { what: "six audited crashes of blast2" },
    );
    for (const e of crashes) {
      assert.equal(
        (e.principal as { sub?: string } | undefined)?.sub,
        undefined,
        `attributed: ${JSON.stringify(e)}`,
      );
      assert.equal((e.detail as { attributed?: boolean } | undefined)?.attributed, false);
    }
  });
});

describe("blast radius: per_session connections, a user_on_server rule, a server that cannot start", () => {
  let gw: Gateway;
  let recPs: string;
  let alice: ConnectedClient;
  let aliceShared: ConnectedClient;
  let bob: ConnectedClient;
  let aliceToken: string;

  before(async () => {
    const dir = makeTempDir("warden-iso-ps-");
    recPs = join(dir, "ps.jsonl");
    gw = await startGateway(
      await config(
        [
          fixtureServer("ps", "isolation-server.mjs", recPs, { isolation: "per_session" }),
          fixtureServer("sh", "isolation-server.mjs", join(dir, "sh.jsonl"), { isolation: "shared" }),
          fixtureServer("dead", "isolation-server.mjs", join(dir, "dead.jsonl"), {
            isolation: "shared",
            env: { EXIT_AT_START: "1" },
          }),
        ],
        {
          gateway: { upstream_timeout: "20s" },
          kill_switch: {
            rules: [{ when: "upstream_crash", count: 3, within: "1m", kill: "user_on_server" }],
          },
        },
      ),
      { waitReady: false },
    );
    await waitFor(
      async () => {
        const u = (await gw.readyz()).body.upstreams;
        return u?.ps?.state === "ready" && u?.sh?.state === "ready";
      },
      { what: "ps and sh ready", timeoutMs: 30_000 },
    );
    aliceToken = await tokenFor(gw, "alice");
    alice = await caller(gw.serverUrl("ps"), { token: aliceToken });
    aliceShared = await caller(gw.serverUrl("sh"), { token: aliceToken });
    bob = await caller(gw.serverUrl("ps"), { token: await tokenFor(gw, "bob") });
  });

  after(async () => {
    await closeAll([alice, aliceShared, bob]);
    await gw?.stop();
  });

  test("alice's per-session crashes restart alice's process only; then alice is refused on that server only", async () => {
    const bobPid = await pidOf(bob);
    for (let round = 1; round <= 3; round++) {
      const crash = await outcome(callTool(alice, "crash", {}));
      assert.ok(typeof crash !== "string" && crash.code === -32005, `round ${round}: ${String(crash)}`);
      const ready = await gw.readyz();
      assert.equal(
        ready.body.upstreams?.ps?.state,
        "ready",
        `round ${round}: one session's crash took ps out of /readyz`,
      );
      assert.equal(await pidOf(bob), bobPid, `round ${round}: alice's crash restarted bob's process`);
      assert.equal(await outcome(callTool(bob, "echo", { message: "b" })), "ok: echo:b");
      if (round < 3)
        assert.equal(
          await outcome(callTool(alice, "echo", { message: "a" })),
          "ok: echo:a",
          `round ${round}: alice's next call must wait for her own restart`,
        );
    }
    const killed = await waitFor(
      async () => {
        const r = await outcome(callTool(alice, "echo", { message: "again" }));
        return typeof r !== "string" && r.code === -32003 ? r : undefined;
      },
      { what: "the user_on_server rule to stop alice on ps" },
    );
    assert.equal(dataOf(killed).scope, "user_on_server");
    assert.equal(dataOf(killed).target, "ps/alice");
    assert.equal(
      await outcome(callTool(aliceShared, "echo", { message: "elsewhere" })),
      "ok: echo:elsewhere",
      "a user_on_server kill on ps stopped alice on sh",
    );
    assert.equal(
      await outcome(callTool(bob, "echo", { message: "b2" })),
      "ok: echo:b2",
      "bob was stopped on ps",
    );
    assert.equal(await pidOf(bob), bobPid);
    // A new session of alice's on ps is no way around it.
    const again = await openSession(gw.serverUrl("ps"), { token: aliceToken }).catch((e: Error) => e);
    if (!(again instanceof Error)) {
      const r = await again.post(toolCall(1, "echo", { message: "new session" }));
      assert.equal(
        errorFor(r, 1)?.code,
        -32003,
        `alice's new session on ps was served: ${r.text.slice(0, 300)}`,
      );
    }
  });

  test("a server that exits at start-up is held in backoff, visible in /readyz, while the others serve", async () => {
    const first = await waitFor(
      async () => {
        const r = await gw.readyz();
        return r.body.upstreams?.dead?.state === "restarting" ? r : undefined;
      },
      { what: "dead to show restarting" },
    );
    assert.equal(first.status, 503);
    const dead = first.body.upstreams!.dead!;
    assert.equal(typeof dead.restarts, "number", JSON.stringify(dead));
    assert.ok(
      typeof dead.error === "string" && dead.error !== "",
      `no error in /readyz: ${JSON.stringify(dead)}`,
    );
    await waitFor(
      async () => {
        const d = (await gw.readyz()).body.upstreams?.dead;
        return d?.state === "restarting" && Number(d.restarts) > Number(dead.restarts);
      },
      { what: "dead to be retried (restarts growing)", timeoutMs: 30_000 },
    );
    assert.equal(await outcome(callTool(aliceShared, "echo", { message: "up" })), "ok: echo:up");
  });
});

describe("floods of sessions", () => {
  let gw: Gateway;
  let recSh: string;
  const MAX = 4;

  before(async () => {
    const dir = makeTempDir("warden-iso-flood-");
    recSh = join(dir, "fsh.jsonl");
    gw = await startGateway(
      await config(
        [
          fixtureServer("fps", "isolation-server.mjs", join(dir, "fps.jsonl"), { isolation: "per_session" }),
          fixtureServer("fsh", "isolation-server.mjs", recSh, { isolation: "shared" }),
        ],
        { gateway: { max_upstream_processes: MAX } },
      ),
    );
  });

  after(async () => {
    await gw?.stop();
  });

  const count = () =>
    serverProcesses(gw.proc.pid!, "fps").length + serverProcesses(gw.proc.pid!, "fsh").length;

  /** A session on `url` from `address` that calls `tool`: its result text, or the refusal. */
  test("per_session sessions flooding past max_upstream_processes: never more processes, refusals say upstream_capacity", async () => {
    let most = count();
    const sampler = setInterval(() => (most = Math.max(most, count())), 25);
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, (_, i) => tryCall(gw.serverUrl("fps"), `127.0.1.${10 + i}`, "pid")),
    );
    most = Math.max(most, count());
    clearInterval(sampler);
    assert.ok(most <= MAX, `${most} upstream processes ran with max_upstream_processes ${MAX}`);
    let served = 0;
    for (const o of outcomes) {
      if (o.text !== undefined) {
        served++;
        continue;
      }
      if (o.refusedAt === "initialize")
        assert.match(
          o.detail ?? "",
          /upstream_capacity/,
          `initialize refused for another reason: ${o.detail}`,
        );
      else {
        assert.equal(o.error?.code, -32005, `call refused for another reason: ${o.detail}`);
        assert.equal(o.error?.data?.reason, "upstream_capacity", o.detail);
      }
    }
    assert.ok(served >= 1, "no session was served at all");
    assert.ok(served < 10, "ten per_session sessions were all served under max_upstream_processes 4");
    // The shared server's process keeps serving.
    const sh = await tryCall(gw.serverUrl("fsh"), "127.0.1.99", "echo", { message: "shared" });
    assert.ok(sh.text?.includes("echo:shared"), `the shared server was refused: ${JSON.stringify(sh)}`);

    // Closing the sessions frees their processes: a newcomer is served again.
    await Promise.all(outcomes.map((o) => o.close?.()));
    const late = await waitFor(
      async () => {
        const o = await tryCall(gw.serverUrl("fps"), "127.0.1.100", "pid");
        if (o.text === undefined) await o.close?.();
        return o.text;
      },
      { what: "a new per_session session to be served once the flood's sessions closed", timeoutMs: 20_000 },
    );
    assert.ok(late.length > 0);
    assert.ok(count() <= MAX);
  });

  test("sixty sessions opened and closed on a shared server: one process throughout, every call served", async () => {
    const startsBefore = recordsOf(recSh, "started").length;
    for (let batch = 0; batch < 6; batch++) {
      const done = await Promise.all(
        Array.from({ length: 10 }, async (_, i) => {
          const o = await tryCall(gw.serverUrl("fsh"), `127.0.2.${10 + i}`, "echo", {
            message: `m${batch}-${i}`,
          });
          await o.close?.();
          return o;
        }),
      );
      for (const [i, o] of done.entries())
        assert.ok(o.text?.includes(`echo:m${batch}-${i}`), `batch ${batch} #${i}: ${JSON.stringify(o)}`);
      assert.equal(
        serverProcesses(gw.proc.pid!, "fsh").length,
        1,
        "a shared server ran more than one process",
      );
    }
    assert.equal(recordsOf(recSh, "started").length, startsBefore, "sessions started shared processes");
  });
});
