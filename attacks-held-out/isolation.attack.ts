// Held-out attacks, issues 15 and 23 (isolation of callers on shared upstream connections, blast
// radius of a crash): variants not in test/attacks/isolation.test.ts. per_user connections (one
// user's two sessions on one connection), elicitation and roots instead of sampling, the SDK's own
// numeric progress tokens, cancellations by guessed ids, per-session log levels, subscriptions
// left by closed sessions and by prefixes, a second hostile server (stale progress tokens, answers
// sent twice, a request written with the answer, odd token types, cancellations the wrong way, a
// request during two calls of which one cannot sample), a bystander calling in a loop while the
// process is crashed under it, start-up failures after a crash that must not count toward the
// crasher, per_user kills, and floods of per_user and per_session connections.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { Progress } from "@modelcontextprotocol/sdk/types.js";
import type { ConnectedClient } from "../test/helpers/client.js";
import { makeTempDir, startGateway, type Gateway } from "../test/helpers/gateway.js";
import { isAlive } from "../test/helpers/processes.js";
import { freePort } from "../test/helpers/upstreams.js";
import { waitFor } from "../test/helpers/wait.js";
import {
  errorFor,
  openSession,
  readJsonl,
  resultFor,
  toolCall,
  type HttpResult,
} from "../test/attacks/fixtures/attack-lib.js";
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
  type Tried,
} from "../test/attacks/fixtures/isolation-lib.js";

const HOSTILE2 = fileURLToPath(new URL("./fixtures/hostile-mux2-server.mjs", import.meta.url));

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

async function pidOf(c: ConnectedClient): Promise<number> {
  return Number(textOf(await callTool(c, "pid", {})));
}

const answerSampling = (who: string) => () => ({
  role: "assistant" as const,
  content: { type: "text" as const, text: `answer-from-${who}` },
  model: "m",
});
const answerElicit = (who: string) => () => ({
  action: "accept" as const,
  content: { answer: `from-${who}` },
});

describe("held-out isolation: per_user connections", () => {
  let gw: Gateway;
  let rec: string;
  let alice1: ConnectedClient;
  let alice2: ConnectedClient;
  let bob: ConnectedClient;
  let anonX: ConnectedClient;
  let anonY: ConnectedClient;

  before(async () => {
    const dir = makeTempDir("warden-ho-iso-pu-");
    rec = join(dir, "pu.jsonl");
    gw = await startGateway(
      await config([fixtureServer("pu", "isolation-server.mjs", rec, { isolation: "per_user" })]),
    );
    const url = gw.serverUrl("pu");
    const aliceToken = await tokenFor(gw, "alice");
    alice1 = await caller(url, { token: aliceToken }, { elicitation: answerElicit("alice1") });
    alice2 = await caller(url, { token: aliceToken }, { elicitation: answerElicit("alice2") });
    bob = await caller(url, { token: await tokenFor(gw, "bob") }, { elicitation: answerElicit("bob") });
    anonX = await caller(url, { address: "127.0.3.10" });
    anonY = await caller(url, { address: "127.0.3.11" });
  });

  after(async () => {
    await closeAll([alice1, alice2, bob, anonX, anonY]);
    await gw?.stop();
  });

  test("one connection per user, one per anonymous address", async () => {
    const [a1, a2, b, x, y] = await Promise.all([alice1, alice2, bob, anonX, anonY].map(pidOf));
    assert.equal(a1, a2, "alice's two sessions should share alice's connection");
    assert.equal(
      new Set([a1, b, x, y]).size,
      4,
      `users and addresses must not share a connection: ${[a1, b, x, y]}`,
    );
  });

  test("an elicitation during two calls of one user's two sessions reaches neither; alone it reaches the asking session only", async () => {
    const marks = [alice1.wire.length, alice2.wire.length, bob.wire.length];
    const hold = callTool(alice1, "slow", { label: "pu-hold" });
    await waitFor(() => recordsOf(rec, "slow").some((r) => r.label === "pu-hold"), { what: "alice1's call" });
    const two = textOf(await callTool(alice2, "elicit", { label: "pu-two" }));
    assert.match(two, /^elicit-refused:pu-two:/, `elicitation with two calls in flight was relayed: ${two}`);
    for (const [i, c] of [alice1, alice2, bob].entries())
      assert.deepEqual(requestsOf(c, marks[i]), [], `session ${i} was asked during two calls`);
    await callTool(alice1, "release", { label: "pu-hold" });
    await hold;
    const one = textOf(await callTool(alice2, "elicit", { label: "pu-one" }));
    assert.equal(one, "elicit-answered:pu-one:accept:from-alice2");
    assert.deepEqual(requestsOf(alice1, marks[0]), [], "alice's other session was asked");
    assert.deepEqual(requestsOf(bob, marks[2]), [], "bob was asked alice's question");
  });

  test("the SDK's own progress tokens (its request ids) collide across alice's sessions: each gets its own progress", async () => {
    const got: Record<string, Progress[]> = { a1: [], a2: [] };
    const call = (c: ConnectedClient, key: string) =>
      c.client.callTool({ name: "meet", arguments: { group: "pu-g", n: 2, label: `pu-${key}` } }, undefined, {
        onprogress: (p) => got[key]!.push(p),
        timeout: 60_000,
      });
    const [r1, r2] = await Promise.all([call(alice1, "a1"), call(alice2, "a2")]);
    assert.equal(textOf(r1), "meet:pu-a1");
    assert.equal(textOf(r2), "meet:pu-a2");
    await waitFor(() => got.a1!.length > 0 && got.a2!.length > 0, { what: "both sessions' progress" });
    assert.deepEqual([...new Set(got.a1!.map((p) => p.message))], ["progress:pu-a1"]);
    assert.deepEqual([...new Set(got.a2!.map((p) => p.message))], ["progress:pu-a2"]);
  });

  test("a log line with one call in flight on alice's connection reaches that session, not her other one", async () => {
    const [m1, m2] = [alice1.wire.length, alice2.wire.length];
    await callTool(alice1, "log_alone", { label: "pu-log" });
    await waitFor(() => logsOf(alice1, m1).includes("log:pu-log"), { what: "alice1's log line" });
    await callTool(alice2, "log_alone", { label: "pu-fence" });
    await waitFor(() => logsOf(alice2, m2).includes("log:pu-fence"), { what: "alice2's fence" });
    assert.deepEqual(logsOf(alice2, m2), ["log:pu-fence"], "alice1's log line reached alice2");
  });

  test("a crash of alice's connection restarts hers only: bob's process lives on, alice's other session waits and is served", async () => {
    const bobPid = await pidOf(bob);
    const alicePid = await pidOf(alice2);
    const crash = await outcome(callTool(alice1, "crash", {}));
    assert.ok(typeof crash !== "string" && crash.code === -32005, String(crash));
    assert.equal(
      (await gw.readyz()).body.upstreams?.pu?.state,
      "ready",
      "one user's crash took pu out of /readyz",
    );
    assert.equal(await pidOf(bob), bobPid, "alice's crash restarted bob's connection");
    const again = await pidOf(alice2);
    assert.notEqual(again, alicePid);
    assert.ok(!isAlive(alicePid));
  });
});

describe("held-out isolation: shared, other channels and payloads", () => {
  let gw: Gateway;
  let rec: string;
  let recPs: string;
  let audit: string;
  const cs: ConnectedClient[] = [];

  before(async () => {
    const dir = makeTempDir("warden-ho-iso-sh-");
    rec = join(dir, "sh.jsonl");
    recPs = join(dir, "ps.jsonl");
    audit = join(dir, "audit.jsonl");
    gw = await startGateway(
      await config(
        [
          fixtureServer("sh", "isolation-server.mjs", rec, { isolation: "shared" }),
          fixtureServer("ps", "isolation-server.mjs", recPs, { isolation: "per_session" }),
        ],
        {},
        audit,
      ),
    );
    for (let i = 0; i < 6; i++)
      cs.push(
        await caller(
          gw.serverUrl("sh"),
          { address: `127.0.4.${10 + i}` },
          {
            elicitation: answerElicit(`c${i}`),
            sampling: answerSampling(`c${i}`),
            roots: [{ uri: `file:///tmp/roots-of-c${i}`, name: `c${i}` }],
          },
        ),
      );
  });

  after(async () => {
    await closeAll(cs);
    await gw?.stop();
  });

  test("an elicitation during calls of two users reaches neither and is audited; alone it reaches its caller", async () => {
    const [a, b] = cs as [ConnectedClient, ConnectedClient];
    const marks = cs.map((c) => c.wire.length);
    const hold = callTool(b, "slow", { label: "el-hold" });
    await waitFor(() => recordsOf(rec, "slow").some((r) => r.label === "el-hold"), { what: "b's call" });
    assert.match(textOf(await callTool(a, "elicit", { label: "el-two" })), /^elicit-refused:el-two:/);
    await callTool(b, "release", { label: "el-hold" });
    await hold;
    for (const [i, c] of cs.entries()) assert.deepEqual(requestsOf(c, marks[i]), [], `c${i} was asked`);
    assert.equal(
      textOf(await callTool(b, "elicit", { label: "el-one" })),
      "elicit-answered:el-one:accept:from-c1",
    );
    for (const [i, c] of cs.entries())
      if (i !== 1) assert.deepEqual(requestsOf(c, marks[i]), [], `c${i} was asked b's question`);
    await waitFor(
      () =>
        readJsonl(audit).find(
          (e) =>
            e.event === "server_request" &&
            e.status === "denied" &&
            e.reason === "unattributable" &&
            e.method === "elicitation/create",
        ),
      { what: "the refused elicitation in the audit log" },
    );
  });

  test("roots/list is never asked of a client through a shared connection, even with one call in flight; per_session asks", async () => {
    const a = cs[2]!;
    const mark = a.wire.length;
    const shared = textOf(await callTool(a, "roots", { label: "rt-sh" }));
    assert.match(
      shared,
      /^roots-refused:rt-sh:/,
      `one client's roots were given to a shared server: ${shared}`,
    );
    assert.ok(
      !wireText(a, mark).includes("roots/list"),
      "the client was asked roots/list for a shared server",
    );
    const own = await caller(
      gw.serverUrl("ps"),
      { address: "127.0.4.40" },
      { roots: [{ uri: "file:///tmp/roots-of-ps", name: "ps" }] },
    );
    try {
      assert.equal(
        textOf(await callTool(own, "roots", { label: "rt-ps" })),
        "roots-answered:rt-ps:file:///tmp/roots-of-ps",
      );
    } finally {
      await own.close();
    }
  });

  test("six callers with the SDK's default progress tokens (all the same number) each get their own progress", async () => {
    const got: Progress[][] = cs.map(() => []);
    const results = await Promise.all(
      cs.map((c, i) =>
        c.client.callTool(
          { name: "meet", arguments: { group: "sdk-g", n: cs.length, label: `sdk-${i}-x` } },
          undefined,
          {
            onprogress: (p) => got[i]!.push(p),
            timeout: 60_000,
          },
        ),
      ),
    );
    for (const [i, r] of results.entries()) assert.equal(textOf(r), `meet:sdk-${i}-x`);
    await waitFor(() => got.every((g) => g.length > 0), { what: "every caller's progress" });
    for (const [i, g] of got.entries())
      assert.deepEqual([...new Set(g.map((p) => p.message))], [`progress:sdk-${i}-x`], `caller ${i}`);
  });

  test("cancellations of every guessable id by a caller with nothing in flight cancel nothing of another's", async () => {
    const url = gw.serverUrl("sh");
    const victim = await openSession(url, { localAddress: "127.0.4.50" });
    const attacker = await openSession(url, { localAddress: "127.0.4.51" });
    const call = victim.post(toolCall("v-1", "slow", { label: "guess-victim" }), { timeoutMs: 30_000 });
    await waitFor(() => recordsOf(rec, "slow").some((r) => r.label === "guess-victim"), {
      what: "the victim's call",
    });
    const ids: (string | number)[] = ["v-1"];
    for (let i = 0; i <= 60; i++) ids.push(i, String(i));
    for (const requestId of ids)
      await attacker.post({
        jsonrpc: "2.0",
        method: "notifications/cancelled",
        params: { requestId, reason: "guess" },
      });
    assert.ok(resultFor(await attacker.post(toolCall(1, "echo", { message: "fence" })), 1));
    assert.ok(resultFor(await victim.post(toolCall("v-2", "release", { label: "guess-victim" })), "v-2"));
    const r: HttpResult = await call;
    assert.match(JSON.stringify(resultFor(r, "v-1")), /slow:guess-victim:released/, r.text.slice(0, 300));
    assert.ok(
      !recordsOf(rec, "aborted").some((e) => e.label === "guess-victim"),
      "a guessed id cancelled the victim",
    );
  });

  test("logging/setLevel is kept per session: never sent upstream, and one session's level is not another's", async () => {
    const [quiet, loud] = [cs[3]!, cs[4]!];
    const [mq, ml] = [quiet.wire.length, loud.wire.length];
    await quiet.client.setLoggingLevel("emergency");
    await callTool(quiet, "log_alone", { label: "lvl-quiet" });
    await callTool(loud, "log_alone", { label: "lvl-loud" });
    await waitFor(() => logsOf(loud, ml).includes("log:lvl-loud"), { what: "the loud session's log line" });
    assert.deepEqual(logsOf(quiet, mq), [], "a session at emergency got an info line");
    const forwarded = recordsOf(rec, "message").filter(
      (e) => (e.message as { method?: string }).method === "logging/setLevel",
    );
    assert.deepEqual(forwarded, [], "one session's logging/setLevel reached the shared server");
  });

  test("a subscription to a prefix of a URI, or one left by a closed session, delivers nothing", async () => {
    const uri = (n: string) => `isolation://r/${n}`;
    const [p, q] = [cs[5]!, cs[0]!];
    const [mp, mq] = [p.wire.length, q.wire.length];
    await p.client.subscribeResource({ uri: "isolation://r/gam" });
    await p.client.subscribeResource({ uri: uri("fence-c") });
    // A session subscribes to gamma, then is closed without unsubscribing.
    const gone = await caller(gw.serverUrl("sh"), { address: "127.0.4.60" });
    await gone.client.subscribeResource({ uri: uri("gamma") });
    await gone.close();
    // Another session from the same address, subscribed to its fence only.
    const again = await caller(gw.serverUrl("sh"), { address: "127.0.4.60" });
    try {
      await again.client.subscribeResource({ uri: uri("fence-d") });
      await callTool(q, "touch", { uris: [uri("gamma"), uri("fence-c"), uri("fence-d")] });
      await waitFor(() => notificationsOf(p, "notifications/resources/updated", mp).length > 0, {
        what: "p's fence",
      });
      await waitFor(() => notificationsOf(again, "notifications/resources/updated").length > 0, {
        what: "the new session's fence",
      });
      const uris = (c: ConnectedClient, m: number) =>
        notificationsOf(c, "notifications/resources/updated", m).map((n) => String(n.params?.uri));
      assert.deepEqual(uris(p, mp), [uri("fence-c")], "a subscription to a prefix got gamma");
      assert.deepEqual(
        uris(again, 0),
        [uri("fence-d")],
        "a closed session's subscription reached a new session",
      );
      assert.deepEqual(uris(q, mq), [], "the toucher got updates it never subscribed to");
    } finally {
      await again.close();
    }
  });

  test("the last subscriber's session closing unsubscribes upstream", async () => {
    const uri = "isolation://r/beta";
    const only = await caller(gw.serverUrl("sh"), { address: "127.0.4.61" });
    await only.client.subscribeResource({ uri });
    await waitFor(() => recordsOf(rec, "subscribe").some((r) => r.uri === uri), {
      what: "the subscription upstream",
    });
    await only.close();
    await waitFor(() => recordsOf(rec, "unsubscribe").some((r) => r.uri === uri), {
      what: "the upstream to be unsubscribed when its only subscriber's session closed",
    });
  });
});

describe("held-out isolation: a second hostile server", () => {
  let gw: Gateway;
  let rec: string;
  let a: ConnectedClient;
  let b: ConnectedClient;
  let nosample: ConnectedClient;

  before(async () => {
    rec = join(makeTempDir("warden-ho-iso-h2-"), "h2.jsonl");
    gw = await startGateway(await config([fixtureServer("h2", HOSTILE2, rec, { isolation: "shared" })]));
    const url = gw.serverUrl("h2");
    a = await caller(url, { token: await tokenFor(gw, "amy") }, { sampling: answerSampling("amy") });
    b = await caller(url, { token: await tokenFor(gw, "bea") }, { sampling: answerSampling("bea") });
    nosample = await caller(url, { address: "127.0.5.10" });
  });

  after(async () => {
    await closeAll([a, b, nosample]);
    await gw?.stop();
  });

  test("progress for a finished call's token does not reach a later call carrying the same client token", async () => {
    const mb = b.wire.length;
    assert.equal(textOf(await callTool(a, "tagged", { label: "sa" }, "t")), "tagged:sa");
    const held = outcome(callTool(b, "hold", { label: "sb" }, "t"));
    await waitFor(() => recordsOf(rec, "hold").some((r) => r.label === "sb"), { what: "b's hold" });
    assert.equal(textOf(await callTool(a, "stale", { of: "sa" })), "staled");
    assert.equal(textOf(await callTool(a, "release", { label: "sb" })), "released");
    assert.equal(await held, "ok: held:sb");
    const got = () => notificationsOf(b, "notifications/progress", mb).map((n) => String(n.params?.message));
    await waitFor(() => got().includes("owner:sb"), { what: "b's own progress" });
    assert.deepEqual(got(), ["owner:sb"], "b got progress meant for a's finished call");
    assert.ok(!wireText(a).includes("owner:stale-sa"), "a got progress after its call had ended");
  });

  test("an answer sent two and three times reaches its caller once and nobody else", async () => {
    const marks = [a.wire.length, b.wire.length];
    assert.equal(textOf(await callTool(a, "twice", { label: "tw" })), "twice:tw");
    for (let i = 0; i < 5; i++)
      assert.equal(textOf(await callTool(b, "echo", { message: `e${i}` })), `echo:e${i}`);
    assert.equal(textOf(await callTool(a, "echo", { message: "a" })), "echo:a");
    for (const [i, c] of [a, b].entries())
      assert.ok(!wireText(c, marks[i]).includes("dup:"), `caller ${i} got a duplicate`);
  });

  test("a sampling request written together with the only call's answer is refused: no call is in flight", async () => {
    const ma = a.wire.length;
    assert.equal(textOf(await callTool(a, "ask_after", { label: "aa" })), "asked-after:aa");
    const reply = await waitFor(() => recordsOf(rec, "reply").find((r) => r.id === "after-aa"), {
      what: "the gateway to answer the request upstream",
    });
    assert.ok("error" in (reply.reply as object), `answered: ${JSON.stringify(reply)}`);
    assert.deepEqual(requestsOf(a, ma), [], "the caller whose call had just ended was asked");
  });

  test("a sampling request during two calls, only one of whose callers can sample, is not guessed to that one", async () => {
    const [ma, mn] = [a.wire.length, nosample.wire.length];
    const held = outcome(callTool(nosample, "hold", { label: "ns" }));
    await waitFor(() => recordsOf(rec, "hold").some((r) => r.label === "ns"), { what: "the hold" });
    const r = textOf(await callTool(a, "ask_now", { label: "an" }));
    assert.match(r, /^asked:an:error:/, `the request was relayed: ${r}`);
    assert.deepEqual(requestsOf(a, ma), [], "the only caller able to sample was guessed");
    assert.deepEqual(requestsOf(nosample, mn), []);
    await callTool(a, "release", { label: "ns" });
    assert.equal(await held, "ok: held:ns");
    // Alone, the same request reaches a.
    assert.equal(textOf(await callTool(a, "ask_now", { label: "an2" })), "asked:an2:ok:answer-from-amy");
  });

  test("progress with tokens of odd types, and cancellations sent the wrong way, reach nobody and break nothing", async () => {
    const marks = [a.wire.length, b.wire.length, nosample.wire.length];
    const held = outcome(callTool(b, "hold", { label: "wr" }, "wr-token"));
    await waitFor(() => recordsOf(rec, "hold").some((r) => r.label === "wr"), { what: "the hold" });
    assert.equal(textOf(await callTool(a, "weird_progress", {})), "weird");
    assert.equal(textOf(await callTool(a, "cancel_held", {})), "cancelled-held");
    await callTool(a, "release", { label: "wr" });
    // The server may end b's call as it likes (it is b's server); it must not reach anyone else.
    await held;
    for (const [i, c] of [a, b, nosample].entries()) {
      const seen = wireText(c, marks[i]);
      assert.ok(!seen.includes("owner:weird"), `caller ${i} got odd progress`);
      assert.ok(!seen.includes("server-cancel"), `caller ${i} got the server's cancellation`);
    }
    assert.equal(textOf(await callTool(nosample, "echo", { message: "ok" })), "echo:ok");
  });
});

describe("held-out blast radius", () => {
  let gw: Gateway;
  let recBs: string;
  let recPs: string;
  let audit: string;
  let holdFile: string;
  let tokens: Record<string, string>;

  before(async () => {
    const dir = makeTempDir("warden-ho-iso-blast-");
    recBs = join(dir, "bs.jsonl");
    recPs = join(dir, "ps.jsonl");
    audit = join(dir, "audit.jsonl");
    holdFile = join(dir, "hold");
    gw = await startGateway(
      await config(
        [
          fixtureServer("bs", "isolation-server.mjs", recBs, {
            isolation: "shared",
            env: { HOLD_FILE: holdFile },
          }),
          fixtureServer("pu", "isolation-server.mjs", join(dir, "pu.jsonl"), { isolation: "per_user" }),
          fixtureServer("ps", "isolation-server.mjs", recPs, { isolation: "per_session" }),
          fixtureServer("other", "isolation-server.mjs", join(dir, "other.jsonl"), { isolation: "shared" }),
        ],
        {
          gateway: { upstream_timeout: "60s" },
          kill_switch: {
            rules: [
              { when: "upstream_crash", count: 3, within: "1m", kill: "user_on_server" },
              { when: "upstream_crash", count: 4, within: "1m", kill: "user" },
            ],
          },
        },
        audit,
      ),
    );
    tokens = {};
    for (const sub of ["mallory", "bob", "oscar", "peggy", "carol", "victor"])
      tokens[sub] = await tokenFor(gw, sub);
  });

  after(async () => {
    rmSync(holdFile, { force: true });
    await gw?.stop();
  });

  const as = (sub: string, server: string) => caller(gw.serverUrl(server), { token: tokens[sub] });

  test("bob calling in a loop while mallory crashes the shared process: bob is refused only for calls the dead process had", async () => {
    const mallory = await as("mallory", "bs");
    const bob = await as("bob", "bs");
    try {
      // A crash is "open" from mallory's crash call until its -32005 reached her: by then the
      // gateway knew the process was dead. Only a call of bob's that overlapped an open crash may
      // have been on the dead process (read by it, or still in its pipe); any later one must wait.
      let open = false;
      let crashes = 0;
      let stop = false;
      const loop = (async () => {
        const seen: { tag: string; mayFail: boolean; r: Awaited<ReturnType<typeof outcome>> }[] = [];
        for (let i = 0; !stop; i++) {
          const tag = `bob-loop-${i}`;
          const [openAtStart, crashesAtStart] = [open, crashes];
          const r = await outcome(callTool(bob, "echo", { message: tag }));
          seen.push({ tag, r, mayFail: openAtStart || open || crashes !== crashesAtStart });
        }
        return seen;
      })();
      for (let round = 0; round < 4; round++) {
        await pidOf(mallory).catch(() => undefined);
        open = true;
        await outcome(callTool(mallory, "crash", {}));
        crashes++;
        open = false;
      }
      await pidOf(bob);
      stop = true;
      const seen = await loop;
      assert.ok(seen.length > 4, `bob's loop made only ${seen.length} calls`);
      for (const { tag, r, mayFail } of seen) {
        if (r === `ok: echo:${tag}`) continue;
        assert.ok(typeof r !== "string", `bob's ${tag}: ${r}`);
        assert.equal(r.code, -32005, `bob's ${tag} refused: ${r.message}`);
        assert.ok(
          mayFail,
          `bob's ${tag}, made after the crash was known and before the next, got: ${r.message}`,
        );
      }
    } finally {
      await closeAll([mallory, bob]);
    }
  });

  test("start-up failures after oscar's one crash are not oscar's: held down, /readyz shows backoff; released, oscar is served", async () => {
    const oscar = await as("oscar", "bs");
    try {
      await pidOf(oscar);
      const crash = await outcome(callTool(oscar, "crash", { hold: true }));
      assert.ok(typeof crash !== "string" && crash.code === -32005, String(crash));
      const first = await waitFor(
        async () => {
          const u = (await gw.readyz()).body.upstreams?.bs;
          return u?.state === "restarting" ? u : undefined;
        },
        { what: "bs to show restarting while held down", intervalMs: 100 },
      );
      // Two more failed starts: enough for a rule of three to fire, were they counted as oscar's.
      const held = await waitFor(
        async () => {
          const u = (await gw.readyz()).body.upstreams?.bs;
          return u?.state === "restarting" && Number(u.restarts) >= Number(first.restarts) + 2
            ? u
            : undefined;
        },
        { what: "bs retried twice more in backoff", timeoutMs: 45_000, intervalMs: 200 },
      );
      assert.ok(typeof held.error === "string" && held.error !== "", JSON.stringify(held));
      rmSync(holdFile, { force: true });
      await waitFor(async () => (await gw.readyz()).body.upstreams?.bs?.state === "ready", {
        what: "bs back once released",
        timeoutMs: 60_000,
        intervalMs: 200,
      });
      const r = await outcome(callTool(oscar, "echo", { message: "oscar" }));
      assert.equal(
        r,
        "ok: echo:oscar",
        `oscar was killed for start-up failures after his one crash: ${String(r)}`,
      );
    } finally {
      rmSync(holdFile, { force: true });
      await oscar.close();
    }
  });

  test("peggy crashing her per_user connection three times is refused on pu only; bob's pu connection never restarts", async () => {
    const peggy = await as("peggy", "pu");
    const peggyElsewhere = await as("peggy", "other");
    const bob = await as("bob", "pu");
    try {
      const bobPid = await pidOf(bob);
      for (let round = 1; round <= 3; round++) {
        await pidOf(peggy).catch(() => undefined);
        const crash = await outcome(callTool(peggy, "crash", {}));
        assert.ok(typeof crash !== "string" && crash.code === -32005, `round ${round}: ${String(crash)}`);
        assert.equal(await pidOf(bob), bobPid, `round ${round}: peggy's crash restarted bob's connection`);
      }
      const killed = await waitFor(
        async () => {
          const r = await outcome(callTool(peggy, "echo", { message: "x" }));
          return typeof r !== "string" && r.code === -32003 ? r : undefined;
        },
        { what: "peggy to be stopped on pu" },
      );
      assert.equal(dataOf(killed).scope, "user_on_server", JSON.stringify(killed.data));
      assert.equal(dataOf(killed).target, "pu/peggy");
      assert.equal(
        await outcome(callTool(bob, "echo", { message: "bob" })),
        "ok: echo:bob",
        "bob was stopped on pu",
      );
      assert.equal(
        await outcome(callTool(peggyElsewhere, "echo", { message: "p" })),
        "ok: echo:p",
        "peggy was stopped on another server",
      );
    } finally {
      await closeAll([peggy, peggyElsewhere, bob]);
    }
  });

  test("per_session crashes with no call in flight are nobody's: carol is never stopped", async () => {
    const carol = await as("carol", "ps");
    try {
      for (let round = 1; round <= 3; round++) {
        const pid = await pidOf(carol);
        const before = readJsonl(audit).filter(
          (e) => e.event === "upstream_crash" && e.server === "ps",
        ).length;
        assert.equal(textOf(await callTool(carol, "crash_later", { ms: 100 })), "crashing later");
        await waitFor(() => !isAlive(pid), { what: "carol's process to exit" });
        // Nothing of carol's is sent until the gateway has seen (and audited) the crash.
        await waitFor(
          () =>
            readJsonl(audit).filter((e) => e.event === "upstream_crash" && e.server === "ps").length > before,
          { what: "the crash to be audited" },
        );
      }
      assert.equal(await outcome(callTool(carol, "echo", { message: "carol" })), "ok: echo:carol");
      for (const e of readJsonl(audit).filter((x) => x.event === "upstream_crash" && x.server === "ps"))
        assert.equal(
          (e.detail as { attributed?: boolean } | undefined)?.attributed,
          false,
          JSON.stringify(e),
        );
    } finally {
      await carol.close();
    }
  });

  test("victor, stopped by the user rule after crashes on two servers (two each, under the per-server rule), cannot come back through a new session", async () => {
    const victor = await as("victor", "ps");
    const victorPu = await as("victor", "pu");
    try {
      for (const c of [victor, victorPu, victor, victorPu]) {
        await pidOf(c);
        const r = await outcome(callTool(c, "crash", {}));
        assert.ok(typeof r !== "string" && r.code === -32005, String(r));
      }
      const killed = await waitFor(
        async () => {
          const r = await outcome(callTool(victor, "echo", { message: "v" }));
          return typeof r !== "string" && r.code === -32003 ? r : undefined;
        },
        { what: "victor to be stopped" },
      );
      assert.equal(dataOf(killed).scope, "user", JSON.stringify(killed.data));
      const fresh = await openSession(gw.serverUrl("other"), { token: tokens.victor }).catch((e: Error) => e);
      if (!(fresh instanceof Error)) {
        const r = await fresh.post(toolCall(1, "echo", { message: "new" }));
        assert.equal(
          errorFor(r, 1)?.code,
          -32003,
          `victor's new session was served: ${r.text.slice(0, 300)}`,
        );
      }
      const crashes = readJsonl(audit).filter(
        (e) =>
          e.event === "upstream_crash" && (e.principal as { sub?: string } | undefined)?.sub === "victor",
      );
      assert.ok(crashes.length >= 2, `victor's crashes must be audited against him: ${crashes.length}`);
    } finally {
      await closeAll([victor, victorPu]);
    }
  });
});

describe("held-out floods", () => {
  /** Refused at initialize or at the call, a refusal must be the documented one. */
  function assertCapacityRefusal(o: Tried) {
    assert.equal(o.error?.code, -32005, `refused (${o.refusedAt}) for another reason: ${o.detail}`);
    assert.equal(o.error?.data?.reason, "upstream_capacity", o.detail);
  }

  test("per_user connections of eight addresses under max_upstream_processes 3", async () => {
    const dir = makeTempDir("warden-ho-iso-fpu-");
    const gw = await startGateway(
      await config(
        [fixtureServer("fpu", "isolation-server.mjs", join(dir, "fpu.jsonl"), { isolation: "per_user" })],
        { gateway: { max_upstream_processes: 3 } },
      ),
    );
    try {
      let most = 0;
      const sample = () => (most = Math.max(most, serverProcesses(gw.proc.pid!, "fpu").length));
      const sampler = setInterval(sample, 25);
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => tryCall(gw.serverUrl("fpu"), `127.0.6.${10 + i}`, "pid")),
      );
      sample();
      clearInterval(sampler);
      assert.ok(most <= 3, `${most} per_user processes under max_upstream_processes 3`);
      let served = 0;
      for (const o of results) {
        if (o.text !== undefined) served++;
        else assertCapacityRefusal(o);
      }
      assert.ok(served >= 1 && served <= 3, `${served} of 8 per_user connections served with room for 3`);
    } finally {
      await gw.stop();
    }
  });

  test("per_session churn: forty sessions opened and closed, never past the cap, none left behind", async () => {
    const dir = makeTempDir("warden-ho-iso-fps-");
    const gw = await startGateway(
      await config(
        [fixtureServer("fps", "isolation-server.mjs", join(dir, "fps.jsonl"), { isolation: "per_session" })],
        { gateway: { max_upstream_processes: 3 } },
      ),
    );
    try {
      const url = gw.serverUrl("fps");
      let most = 0;
      const sample = () => (most = Math.max(most, serverProcesses(gw.proc.pid!, "fps").length));
      const sampler = setInterval(sample, 25);
      let served = 0;
      for (let batch = 0; batch < 8; batch++) {
        const done = await Promise.all(
          Array.from({ length: 5 }, async (_, i) => {
            const o = await tryCall(url, `127.0.7.${10 + i}`, "echo", { message: `b${batch}` });
            await o.close?.();
            return o;
          }),
        );
        for (const o of done) {
          if (o.text !== undefined) served++;
          else assertCapacityRefusal(o);
        }
        // The closed sessions' processes go (the spare may stay) before the next batch.
        await waitFor(() => serverProcesses(gw.proc.pid!, "fps").length <= 1, {
          what: `batch ${batch}'s processes to exit once their sessions closed`,
          timeoutMs: 20_000,
        });
      }
      sample();
      clearInterval(sampler);
      assert.ok(most <= 3, `${most} per_session processes under max_upstream_processes 3`);
      assert.ok(served >= 8, `only ${served} of 40 short sessions were served`);
    } finally {
      await gw.stop();
    }
  });
});
