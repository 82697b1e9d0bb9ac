// Held-out attacks on the Cedar step's remembered decisions and residual sets, fixed-argument list
// filtering and the schema-fit warning (the classes of test/attacks/cedar-decisions.test.ts, other
// attacks): residuals keyed without the server, groups that join into one string, a principal
// attribute compared with an argument, anonymous callers by source address, set and record
// arguments, duplicate JSON keys, SIGHUP reloads; fixed values that err, escapes in fixed values,
// list caches per group; hostile tool names and keys. Every denial checks -32001, data.reason and
// that the upstream never saw the call.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { MODERN, answer, modern } from "../test/helpers/modern-raw.js";
import { waitFor } from "../test/helpers/wait.js";
import { errorFor, openSession } from "../test/attacks/fixtures/attack-lib.js";
import {
  denied,
  passes,
  startDecisionBed,
  tokenWith,
  upstreamCalls,
} from "../test/attacks/fixtures/cedar-decisions-lib.js";
import {
  callOn,
  listTools,
  rawCall,
  toolNames,
  type PolicyBed,
} from "../test/attacks/fixtures/policy-lib.js";

const QUOTE_TOOL = 'q"uote\\';
const LONG_TOOL = "l".repeat(4000);

const POLICIES = `
@id("echo-hi")
permit (principal, action == Action::"tools/call", resource == Tool::"rec/echo")
when { context.arguments has message && context.arguments.message like "hi*" };

@id("echo-star")
permit (principal, action == Action::"tools/call", resource == Tool::"rec/echo")
when { context.arguments has message && context.arguments.message like "lit\\*" };

@id("echo-bad")
forbid (principal, action == Action::"tools/call", resource == Tool::"rec/echo")
when { context.arguments has message && context.arguments.message like "*bad*" }
unless { principal is User && principal.groups.contains("ops") && principal.groups.contains("root") };

@id("echo-old-era")
forbid (principal, action == Action::"tools/call", resource == Tool::"rec/echo")
when { context.protocol == "2025-03-26" && context.arguments has message && context.arguments.message like "*era*" };

@id("deep-set")
permit (principal, action == Action::"tools/call", resource == Tool::"rec/deep")
when { context.arguments has value && context.arguments.value.containsAll(["a", "b"]) };

@id("deep-group")
permit (principal is User, action == Action::"tools/call", resource == Tool::"rec2/deep")
when { context.arguments has value && principal.groups.contains(context.arguments.value) };

@id("deep-anon-local")
permit (principal is Anonymous, action == Action::"tools/call", resource == Tool::"rec2/deep")
when { context.arguments has value && context.arguments.value == "ok" };

@id("deep-not-127-0-0-2")
forbid (principal, action == Action::"tools/call", resource == Tool::"rec2/deep")
when { principal == Anonymous::"127.0.0.2" };

@id("transfer-record")
permit (principal, action == Action::"tools/call", resource == Tool::"rec2/transfer")
when { context.arguments.amount < 50 };

@id("query-dba")
permit (principal, action == Action::"tools/call", resource == Tool::"rec/query");

@id("query-no-prod")
forbid (principal, action == Action::"tools/call", resource == Tool::"rec/query")
when { context.arguments.database == "prod" }
unless { principal is User && principal.groups.contains("dba") };

@id("query-no-debug-flag")
forbid (principal, action == Action::"tools/call", resource == Tool::"rec/query")
when { context.arguments has debug };

@id("query-limit")
forbid (principal, action == Action::"tools/call", resource == Tool::"rec/query")
when { context.arguments has limit && context.arguments.limit > 100 };

@id("query-branch")
forbid (principal, action == Action::"tools/call", resource == Tool::"rec/query")
when { if context.arguments.database == "billing" then true else context.arguments.sql like "*DROP*" };

@id("rec2-query")
permit (principal, action == Action::"tools/call", resource == Tool::"rec2/query")
when { context.arguments.database == "public" && (context.arguments has limit && context.arguments.limit < 10) };

@id("rec2-echo-entity")
permit (principal is User, action == Action::"tools/call", resource == Tool::"rec2/echo")
when { context.arguments has message && context.arguments.message == "alice" };

@id("echo-level")
forbid (principal is User, action == Action::"tools/call", resource == Tool::"rec2/echo")
when { principal.claims has level && principal.claims.level < 3 && context.arguments has message };

@id("probe")
permit (principal, action == Action::"tools/call", resource == Tool::"rec2/secret_tool");

@id("hs-all")
permit (principal, action == Action::"tools/call", resource is Tool)
when { resource.server == "hs" };

@id("hs-weird")
forbid (principal, action == Action::"tools/call", resource == Tool::"hs/weird")
when { context.arguments has n && context.arguments.n == "x" };

@id("hs-null-props")
forbid (principal, action == Action::"tools/call", resource == Tool::"hs/null_props")
when { context.arguments has n && context.arguments.n == "x" };

@id("hs-not-object")
forbid (principal, action == Action::"tools/call", resource == Tool::"hs/not_object")
when { context.arguments has n && context.arguments.n == "x" };

@id("hs-quote")
forbid (principal, action == Action::"tools/call", resource == Tool::"hs/q\\"uote\\\\")
when { context.arguments has n && context.arguments.n == "x" };

@id("hs-long")
forbid (principal, action == Action::"tools/call", resource == Tool::"hs/${LONG_TOOL}")
when { context.arguments has n && context.arguments.n == "x" };

@id("hs-long-keys")
forbid (principal, action == Action::"tools/call", resource == Tool::"hs/long_keys")
when { context.arguments has n && context.arguments.n == "x" };
`;

const VIRTUAL = [
  {
    name: "vh",
    tools: [
      // Hidden for non-dba, shown for dba (unless on a group).
      { tool: "rec/query", name: "h_prod", arguments: { fixed: { database: "prod" } } },
      // `has` on a fixed argument: matches whatever its value.
      {
        tool: "rec/query",
        name: "h_debug_false",
        arguments: { fixed: { database: "public", debug: false } },
      },
      // A fixed integer past 2^53 reaches Cedar as text: `>` errs on every call.
      { tool: "rec/query", name: "h_huge", arguments: { fixed: { database: "public", limit: 2 ** 60 } } },
      // if-then-else reading only the fixed database: billing always forbidden.
      { tool: "rec/query", name: "h_billing", arguments: { fixed: { database: "billing" } } },
      // The same if-then-else with public: the else branch reads sql, so some call is allowed.
      { tool: "rec/query", name: "s_public", arguments: { fixed: { database: "public" } } },
      // A permit reading fixed and caller arguments: some limit below 10 is allowed.
      { tool: "rec2/query", name: "s_r2_public", arguments: { fixed: { database: "public" } } },
      // A fixed value that is one of Cedar's JSON escapes: every call is refused.
      {
        tool: "rec2/transfer",
        name: "h_escape",
        arguments: { fixed: { amount: { __extn: { fn: "decimal", arg: "1.0" } } } },
      },
    ],
  },
];

describe("held-out: Cedar decisions, residual sets, lists and schema fit", () => {
  let bed: PolicyBed;
  let policyFile: string;
  let alice: string;
  let aliceOpsRoot: string; // groups [ops, root]
  let aliceJoined: string; // groups ["ops,root"]: one group with a comma
  let aliceG1: string;
  let aliceG2: string;
  let aliceDba: string;
  const rec = (t: string, server = "rec") => bed.session(bed.gw.serverUrl(server), t);
  const vh = (t: string) => bed.session(`${bed.gw.url}/v/vh/mcp`, t);
  const ECHO = { server: "rec", tool: "echo" };

  before(async () => {
    bed = await startDecisionBed(
      "warden-cedar-decisions-ho-",
      (dir) => {
        policyFile = join(dir, "policies.cedar");
        writeFileSync(policyFile, POLICIES);
        return policyFile;
      },
      VIRTUAL,
      { HOSTILE_EXTRA: "1" },
    );
    alice = await tokenWith(bed, "alice", []);
    aliceOpsRoot = await tokenWith(bed, "alice", ["ops", "root"]);
    aliceJoined = await tokenWith(bed, "alice", ["ops,root"]);
    aliceG1 = await tokenWith(bed, "alice", ["g1"]);
    aliceG2 = await tokenWith(bed, "alice", ["g2"]);
    aliceDba = await tokenWith(bed, "alice", ["dba"]);
  });

  after(async () => {
    await bed?.gw.stop();
  });

  test("class 1: a residual for rec/echo is not rec2/echo's, nor the aggregate name's for another server", async () => {
    const s = await rec(alice);
    for (let i = 0; i < 4; i++) await passes(bed, s, ECHO, { message: `hi ${i}` });
    const r2 = await rec(alice, "rec2");
    await denied(bed, r2, { server: "rec2", tool: "echo" }, { message: "hi 0" }, ["cedar_denied"], []);
    const agg = await bed.session(bed.gw.mcpUrl, alice);
    for (let i = 0; i < 3; i++)
      await passes(bed, agg, { server: "rec", tool: "echo", name: "rec__echo" }, { message: `hi ${i}` });
    await denied(bed, agg, { server: "rec2", tool: "echo", name: "rec2__echo" }, { message: "hi 0" }, [
      "cedar_denied",
    ]);
  });

  test("class 1: residuals built on 2025-11-25 and 2026-07-28 are not 2025-03-26's", async () => {
    const url = bed.gw.serverUrl("rec");
    for (let i = 0; i < 4; i++) {
      const r = answer(
        await modern(url, {
          id: 300 + i,
          method: "tools/call",
          params: { name: "echo", arguments: { message: "hi era" } },
          token: alice,
        }),
      );
      assert.ok(r.result && !r.result.isError, `${MODERN}: ${JSON.stringify(r).slice(0, 300)}`);
    }
    const newer = await openSession(url, { token: alice, protocolVersion: "2025-11-25" });
    for (let i = 0; i < 4; i++) await passes(bed, newer, ECHO, { message: "hi era" });
    const older = await openSession(url, { token: alice, protocolVersion: "2025-03-26" });
    assert.equal(older.protocolVersion, "2025-03-26");
    await denied(bed, older, ECHO, { message: "hi era" }, ["cedar_denied"], ["echo-old-era"]);
  });

  test("class 1: a numeric claim in a forbid, per token, and a claim of the wrong type errs", async () => {
    const E = { server: "rec2", tool: "echo" };
    const high = await rec(await tokenWith(bed, "alice", [], "demo:use", { level: 5 }), "rec2");
    for (let i = 0; i < 4; i++) await passes(bed, high, E, { message: "alice" });
    const low = await rec(await tokenWith(bed, "alice", [], "demo:use", { level: 1 }), "rec2");
    await denied(bed, low, E, { message: "alice" }, ["cedar_denied"], ["echo-level"]);
    const text = await rec(await tokenWith(bed, "alice", [], "demo:use", { level: "5" }), "rec2");
    await denied(bed, text, E, { message: "alice" }, ["cedar_error"], ["echo-level"]);
    const big = await rec(await tokenWith(bed, "alice", [], "demo:use", { level: 2 ** 60 }), "rec2");
    await denied(bed, big, E, { message: "alice" }, ["cedar_error"], ["echo-level"]);
  });

  test("class 1: groups that join into the same text are other principals", async () => {
    const both = await rec(aliceOpsRoot);
    for (let i = 0; i < 4; i++) await passes(bed, both, ECHO, { message: `hi bad ${i}` });
    const joined = await rec(aliceJoined);
    await denied(bed, joined, ECHO, { message: "hi bad 0" }, ["cedar_denied"], ["echo-bad"]);
    await denied(bed, joined, ECHO, { message: "hi bad 9" }, ["cedar_denied"], ["echo-bad"]);
  });

  test("class 1: an argument compared with the principal's groups is decided per token", async () => {
    const D = { server: "rec2", tool: "deep" };
    const g1 = await rec(aliceG1, "rec2");
    for (let i = 0; i < 4; i++) await passes(bed, g1, D, { value: "g1" });
    const g2 = await rec(aliceG2, "rec2");
    await denied(bed, g2, D, { value: "g1" }, ["cedar_denied"], []);
    await passes(bed, g2, D, { value: "g2" });
    await denied(bed, g1, D, { value: "g2" }, ["cedar_denied"], []);
    await denied(bed, g1, D, { value: ["g1"] }, ["argument_type_mismatch", "cedar_error"]);
  });

  test("class 1: anonymous callers from two addresses are two principals", async () => {
    const D = { server: "rec2", tool: "deep" };
    const one = await openSession(bed.gw.serverUrl("rec2"), { localAddress: "127.0.0.1" });
    for (let i = 0; i < 4; i++) await passes(bed, one, D, { value: "ok" });
    const two = await openSession(bed.gw.serverUrl("rec2"), { localAddress: "127.0.0.2" });
    await denied(bed, two, D, { value: "ok" }, ["cedar_denied"], ["deep-not-127-0-0-2"]);
    // And the user with the same value: no permit for users unless in a group named "ok".
    await denied(bed, await rec(alice, "rec2"), D, { value: "ok" }, ["cedar_denied"], []);
  });

  test("class 1: set arguments after a residual: containsAll, order and duplicates", async () => {
    const D = { server: "rec", tool: "deep" };
    const s = await rec(alice);
    for (const value of [
      ["a", "b"],
      ["b", "a"],
      ["a", "b", "a"],
      ["a", "b", "c"],
    ])
      await passes(bed, s, D, { value });
    await denied(bed, s, D, { value: ["a"] }, ["cedar_denied"], []);
    await denied(bed, s, D, { value: [] }, ["cedar_denied"], []);
    for (const value of ["ab", [["a", "b"]], ["a", "b", 1], { a: "b" }, { 0: "a", 1: "b" }, null, 12])
      await denied(bed, s, D, { value }, ["argument_type_mismatch", "cedar_error"]);
  });

  test("class 1: a literal star in `like`, and duplicate JSON keys, after a residual", async () => {
    const s = await rec(alice);
    for (let i = 0; i < 3; i++) await passes(bed, s, ECHO, { message: "lit*" });
    await denied(bed, s, ECHO, { message: "litX" }, ["cedar_denied"], []);
    await denied(bed, s, ECHO, { message: "lit**" }, ["cedar_denied"], []);
    // A duplicate key: whatever the gateway does, no "bad" message may reach the upstream.
    const res = await rawCall(s, '{"name":"echo","arguments":{"message":"hi ok","message":"hi bad dup"}}');
    const err = errorFor(res);
    if (err) assert.equal(err.code === -32001 || err.code === -32600 || err.code === -32602, true, res.text);
    assert.ok(
      !upstreamCalls(bed, "rec", "echo").some((c) => c.args?.message === "hi bad dup"),
      "a forbidden message reached the upstream through a duplicate key",
    );
  });

  test("class 1: numbers at and past the Long edge, and fractions, in `<`", async () => {
    const T = { server: "rec2", tool: "transfer" };
    const s = await rec(alice, "rec2");
    for (let i = 0; i < 3; i++) await passes(bed, s, T, { amount: 49, to: "x" });
    for (const amount of [-(2 ** 53) - 2, 49.5, -1e308, Number.MAX_VALUE])
      await denied(bed, s, T, { amount, to: "x" }, ["cedar_error"], ["transfer-record"]);
    await denied(bed, s, T, { amount: 50, to: "x" }, ["cedar_denied"], []);
    await denied(bed, s, T, { amount: { __extn: { fn: "decimal", arg: "1.0" } }, to: "x" }, [
      "argument_type_mismatch",
      "cedar_error",
    ]);
    await denied(bed, s, T, { amount: { __entity: { type: "User", id: "alice" } }, to: "x" }, [
      "argument_type_mismatch",
      "cedar_error",
    ]);
    const before = upstreamCalls(bed, "rec2", "transfer").length;
    const raw = await rawCall(s, '{"name":"transfer","arguments":{"amount":-1e400,"to":"x"}}');
    assert.equal(errorFor(raw)?.code, -32001, raw.text.slice(0, 300));
    assert.equal(upstreamCalls(bed, "rec2", "transfer").length, before);
  });

  test("class 2: lists per group and fixed values that decide alone", async () => {
    const shown = async (t: string) => toolNames(await listTools(await vh(t)));
    const a = await shown(alice);
    const wrong = [
      ...["h_prod", "h_debug_false", "h_huge", "h_billing", "h_escape"]
        .filter((n) => a.includes(n))
        .map((n) => `${n} listed`),
      ...["s_public", "s_r2_public"].filter((n) => !a.includes(n)).map((n) => `${n} hidden`),
    ];
    assert.deepEqual(wrong, [], `alice's list: ${a.join(",")}`);
    // Same sub, other groups: the list cache must not answer with alice's list.
    const dba = await shown(aliceDba);
    assert.ok(dba.includes("h_prod"), "h_prod hidden for dba");
    assert.ok(!(await shown(alice)).includes("h_prod"), "h_prod listed for alice after dba's list");
    // Anonymous: the same visibility rules (no group, so no prod).
    assert.ok(!(await shown("")).includes("h_prod"), "h_prod listed for anonymous");
  });

  test("class 2: calls to hidden virtual tools are denied, to shown ones decided", async () => {
    const s = await vh(alice);
    const q = (name: string, server = "rec", tool = "query") => ({ server, tool, name });
    await denied(bed, s, q("h_prod"), { sql: "s" }, ["cedar_denied"], ["query-no-prod"]);
    await denied(bed, s, q("h_debug_false"), { sql: "s" }, ["cedar_denied"], ["query-no-debug-flag"]);
    await denied(bed, s, q("h_huge"), { sql: "s" }, ["cedar_error"], ["query-limit"]);
    await denied(bed, s, q("h_billing"), { sql: "s" }, ["cedar_denied"], ["query-branch"]);
    await denied(bed, s, q("h_escape", "rec2", "transfer"), { to: "x" }, [
      "cedar_error",
      "argument_type_mismatch",
    ]);
    await passes(bed, s, q("s_public"), { sql: "select" });
    await denied(bed, s, q("s_public"), { sql: "DROP x" }, ["cedar_denied"], ["query-branch"]);
    await passes(bed, s, q("s_r2_public", "rec2"), { sql: "s", limit: 5 });
    await denied(bed, s, q("s_r2_public", "rec2"), { sql: "s" }, ["cedar_error", "cedar_denied"]);
    await passes(bed, await vh(aliceDba), q("h_prod"), { sql: "s" });
  });

  test("class 3: weird keys, non-object and null property schemas, quoted and long tool names", async () => {
    const hs = await rec(alice, "hs");
    const names = toolNames(await listTools(hs));
    for (const n of [QUOTE_TOOL, LONG_TOOL, "long_keys", "weird"])
      assert.ok(names.includes(n), `${n.slice(0, 20)} not listed`);
    const H = (tool: string) => ({ server: "hs", tool });
    // Declared integers under keys JavaScript and Cedar treat specially: a string is refused.
    for (const key of ["__proto__", "constructor", "__entity", "__extn", "", 'a"b', "a b"]) {
      const before = upstreamCalls(bed, "hs", "weird").length;
      const res = await rawCall(hs, `{"name":"weird","arguments":{${JSON.stringify(key)}:"x"}}`);
      const err = errorFor(res);
      assert.equal(err?.code, -32001, `${key}: ${res.text.slice(0, 300)}`);
      assert.equal(err?.data?.reason, "argument_type_mismatch", `${key}: ${res.text.slice(0, 300)}`);
      assert.equal(upstreamCalls(bed, "hs", "weird").length, before, `${key}: forwarded`);
    }
    for (const tool of [QUOTE_TOOL, LONG_TOOL, "long_keys"]) {
      await denied(bed, hs, H(tool), { n: "x" }, ["argument_type_mismatch"]);
      await denied(bed, hs, H(tool), { n: 1 }, ["argument_type_mismatch"]);
      await passes(bed, hs, H(tool), {});
    }
    // No declared n: the policy's comparison types it (string): "x" is forbidden, 1 is a mismatch.
    await denied(bed, hs, H("null_props"), { n: "x" }, ["cedar_denied"], ["hs-null-props"]);
    await denied(bed, hs, H("null_props"), { n: 1 }, ["argument_type_mismatch"], ["hs-null-props"]);
    await passes(bed, hs, H("null_props"), { n: "y" });
    await denied(bed, hs, H("not_object"), { n: "x" }, ["cedar_denied", "argument_type_mismatch"]);
  });

  test("class 3: the schema-fit warning is logged once per tool, even under concurrent lists", async () => {
    const fit = () =>
      bed.gw.logs().filter((l) => String(l.msg ?? "").startsWith("cedar policies do not fit"));
    await Promise.all(
      [alice, aliceDba, aliceG1, aliceG2, aliceOpsRoot, aliceJoined, ""].flatMap((t) => [
        rec(t, "hs").then(listTools),
        bed.session(bed.gw.mcpUrl, t).then(listTools),
      ]),
    );
    const perTool = new Map<string, number>();
    for (const l of fit())
      perTool.set(`${l.server}/${l.tool}`, (perTool.get(`${l.server}/${l.tool}`) ?? 0) + 1);
    for (const t of ["weird", "long_keys", QUOTE_TOOL, LONG_TOOL])
      assert.ok(perTool.has(`hs/${t}`), `no warning for hs/${t.slice(0, 20)}`);
    for (const [tool, n] of perTool) assert.ok(n <= 1, `${tool.slice(0, 40)} warned ${n} times`);
    const line = fit().map((l) => JSON.stringify(l).length);
    assert.ok(Math.max(...line) < 64_000, `a warning line of ${Math.max(...line)} bytes`);
    assert.equal((await bed.gw.readyz()).status, 200);
  });

  test("class 1: SIGHUP reload changes an unless, and the residual follows", async () => {
    const both = await rec(aliceOpsRoot);
    for (let i = 0; i < 4; i++) await passes(bed, both, ECHO, { message: `hi bad ${i}` });
    const original = readFileSync(policyFile, "utf8");
    writeFileSync(
      policyFile,
      original
        .replace(
          'principal.groups.contains("ops") && principal.groups.contains("root")',
          'principal.groups.contains("nobody")',
        )
        .replace(/@id\("probe"\)[^;]*;/, ""),
    );
    bed.gw.proc.kill("SIGHUP");
    const probe = await rec(alice, "rec2");
    await waitFor(async () => errorFor(await callOn(probe, "secret_tool")) !== undefined, {
      timeoutMs: 20_000,
      what: "the reload",
    });
    await denied(bed, both, ECHO, { message: "hi bad 0" }, ["cedar_denied"], ["echo-bad"]);
    await denied(bed, both, ECHO, { message: "hi bad 7" }, ["cedar_denied"], ["echo-bad"]);
    writeFileSync(policyFile, original);
    bed.gw.proc.kill("SIGHUP");
    await waitFor(async () => errorFor(await callOn(probe, "secret_tool")) === undefined, {
      timeoutMs: 20_000,
      what: "the second reload",
    });
    await passes(bed, both, ECHO, { message: "hi bad 0" });
  });
});
