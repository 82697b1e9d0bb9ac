// Attacks on the Cedar step's remembered decisions and residual sets (docs/authorization.md,
// "Cost"), on list filtering under fixed arguments (docs/authorization.md "Lists",
// docs/virtual-servers.md), and on the schema-fit warning under hostile upstream schemas. Classes:
//   1. decisions: a caller and tool decided three times (so a residual set is in use) must still
//      get exactly the whole set's answer, for new arguments, for another principal with the same
//      sub but other groups or scopes, for anonymous callers, for ill-typed and huge values, and
//      after a reload;
//   2. lists: a virtual tool whose fixed arguments alone make every call denied is hidden, one
//      some call could be allowed for is shown, per caller;
//   3. hostile schemas: deep, wide, weird-keyed and non-object input schemas neither crash nor
//      flood the gateway, and their calls are still decided.
// Every denial checks -32001, data.reason and that the upstream never saw the call.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { answer, modern } from "../helpers/modern-raw.js";
import { waitFor } from "../helpers/wait.js";
import { errorFor } from "./fixtures/attack-lib.js";
import {
  allowed,
  denied,
  passes,
  startDecisionBed,
  tokenWith,
  upstreamCalls,
} from "./fixtures/cedar-decisions-lib.js";
import { callOn, listTools, rawCall, toolNames, type PolicyBed } from "./fixtures/policy-lib.js";

const POLICIES = `
@id("echo-ops")
permit (principal is User, action == Action::"tools/call", resource == Tool::"rec/echo")
when { principal.groups.contains("ops") };

@id("echo-hi")
permit (principal, action == Action::"tools/call", resource == Tool::"rec/echo")
when { context.arguments has message && context.arguments.message like "hi*" };

@id("echo-bad")
forbid (principal, action == Action::"tools/call", resource == Tool::"rec/echo")
when { context.arguments has message && context.arguments.message like "*bad*" }
unless { principal is User && principal.groups.contains("root") };

@id("echo-modern")
forbid (principal, action == Action::"tools/call", resource == Tool::"rec/echo")
when { context.protocol == "2026-07-28" && context.arguments has message && context.arguments.message like "*modern*" };

@id("query-public")
permit (principal, action == Action::"tools/call", resource == Tool::"rec/query")
when { context.arguments.database == "public" };

@id("query-billing")
permit (principal is User, action == Action::"tools/call", resource == Tool::"rec/query")
when { context.arguments.database == "billing" && principal.groups.contains("finance") };

@id("query-limit")
forbid (principal, action == Action::"tools/call", resource == Tool::"rec/query")
when { if context.arguments has limit then context.arguments.limit > 100 else false };

@id("query-debug")
forbid (principal, action == Action::"tools/call", resource == Tool::"rec/query")
when { context.arguments has debug && context.arguments.debug }
unless { principal.scopes.contains("debug:use") };

@id("deep-anon")
permit (principal is Anonymous, action == Action::"tools/call", resource == Tool::"rec/deep")
when { context.arguments has value && context.arguments.value == "anon" };

@id("deep-user")
permit (principal is User, action == Action::"tools/call", resource == Tool::"rec/deep")
when { context.arguments has value && context.arguments.value == "user" };

@id("transfer-small")
permit (principal, action == Action::"tools/call", resource == Tool::"rec/transfer")
when { context.arguments.amount <= 1000 && !(context.arguments.to like "*offshore*") };

@id("rec2-query")
permit (principal, action == Action::"tools/call", resource == Tool::"rec2/query");

@id("rec2-prod-needs-limit")
forbid (principal, action == Action::"tools/call", resource == Tool::"rec2/query")
when { context.arguments.database == "prod" && !(context.arguments has limit) };

@id("rec2-billing-no-drop")
forbid (principal, action == Action::"tools/call", resource == Tool::"rec2/query")
when { context.arguments.database == "billing" && (context.arguments.sql like "*DROP*" || context.arguments has debug) };

@id("rec2-no-staging")
forbid (principal, action == Action::"tools/call", resource == Tool::"rec2/query")
when { context.arguments.database == "staging" };

// No has-guard: errs when sql is absent, so it cannot be judged on fixed arguments alone.
@id("rec2-one-statement")
forbid (principal, action == Action::"tools/call", resource == Tool::"rec2/query")
when { context.arguments.sql like "*;*" };

@id("transfer-infra")
permit (principal is User, action == Action::"tools/call", resource == Tool::"rec2/transfer")
when { principal.claims has department && principal.claims.department == "infra" && context.arguments.amount < 100 };

@id("probe")
permit (principal, action == Action::"tools/call", resource == Tool::"rec2/echo");

@id("hs-all")
permit (principal, action == Action::"tools/call", resource is Tool)
when { resource.server == "hs" };
${[
  "deep",
  "wide",
  "weird",
  "loop",
  "deep_array",
  "not_object",
  "null_props",
  "array_props",
  "type_junk",
  "plain",
]
  .map(
    (t) => `
@id("hs-${t}")
forbid (principal, action == Action::"tools/call", resource == Tool::"hs/${t}")
when { context.arguments has n && context.arguments.n == "x" };`,
  )
  .join("\n")}
`;

const VIRTUAL = [
  {
    name: "vs",
    tools: [
      { tool: "rec/query", name: "q_prod", arguments: { fixed: { database: "prod" } } },
      { tool: "rec/query", name: "q_public", arguments: { fixed: { database: "public" } } },
      { tool: "rec/query", name: "q_billing", arguments: { fixed: { database: "billing" } } },
      { tool: "rec/query", name: "q_billing_big", arguments: { fixed: { database: "billing", limit: 500 } } },
      {
        tool: "rec/query",
        name: "q_public_debug",
        arguments: { fixed: { database: "public", debug: true } },
      },
      { tool: "rec/echo", name: "e_bad", arguments: { fixed: { message: "hi bad" } } },
      { tool: "rec2/query", name: "r2_prod", arguments: { fixed: { database: "prod" } } },
      { tool: "rec2/query", name: "r2_billing", arguments: { fixed: { database: "billing" } } },
      { tool: "rec2/query", name: "r2_staging", arguments: { fixed: { database: "staging" } } },
      // amount past 2^53 reaches Cedar as text: transfer-small's `<=` errs on every call.
      { tool: "rec/transfer", name: "t_huge", arguments: { fixed: { amount: 2 ** 60 } } },
    ],
  },
];

describe("Cedar decisions, residual sets, lists and schema fit (attacks)", () => {
  let bed: PolicyBed;
  let policyFile: string;
  let alice: string; // groups: none
  let aliceOps: string; // same sub, groups [ops]
  let aliceRoot: string; // same sub, groups [root]
  let aliceFinance: string; // same sub, groups [finance]
  let aliceDebug: string; // same sub, scope debug:use too
  const rec = (t: string, server = "rec") => bed.session(bed.gw.serverUrl(server), t);
  const vs = (t: string) => bed.session(`${bed.gw.url}/v/vs/mcp`, t);
  const ECHO = { server: "rec", tool: "echo" };
  const QUERY = { server: "rec", tool: "query" };

  before(async () => {
    bed = await startDecisionBed(
      "warden-cedar-decisions-",
      (dir) => {
        policyFile = join(dir, "policies.cedar");
        writeFileSync(policyFile, POLICIES);
        return policyFile;
      },
      VIRTUAL,
    );
    alice = await tokenWith(bed, "alice", []);
    aliceOps = await tokenWith(bed, "alice", ["ops"]);
    aliceRoot = await tokenWith(bed, "alice", ["root"]);
    aliceFinance = await tokenWith(bed, "alice", ["finance"]);
    aliceDebug = await tokenWith(bed, "alice", [], "demo:use debug:use");
  });

  after(async () => {
    await bed?.gw.stop();
  });

  test("class 1: a residual built from allowed calls still denies a forbidden and an unpermitted message", async () => {
    const s = await rec(alice);
    for (const m of ["hi 1", "hi 2", "hi 3", "hi 4"]) await passes(bed, s, ECHO, { message: m });
    await denied(bed, s, ECHO, { message: "hi bad" }, ["cedar_denied"], ["echo-bad"]);
    await denied(bed, s, ECHO, { message: "bye" }, ["cedar_denied"], []);
    await denied(bed, s, ECHO, {}, ["cedar_denied"], []);
    await passes(bed, s, ECHO, { message: "hi 5" });
    await denied(bed, s, ECHO, { message: "hi bad" }, ["cedar_denied"], ["echo-bad"]);
  });

  test("class 1: a residual built on the legacy era is not the 2026-07-28 era's", async () => {
    const s = await rec(alice);
    for (let i = 0; i < 4; i++) await passes(bed, s, ECHO, { message: "hi modern" });
    const before = upstreamCalls(bed, "rec", "echo").length;
    const r = answer(
      await modern(bed.gw.serverUrl("rec"), {
        id: 91,
        method: "tools/call",
        params: { name: "echo", arguments: { message: "hi modern" } },
        token: alice,
      }),
    );
    assert.equal(r.error?.code, -32001, JSON.stringify(r).slice(0, 300));
    assert.equal(r.error?.data?.reason, "cedar_denied");
    assert.deepEqual(r.error?.data?.policies, ["echo-modern"]);
    assert.equal(upstreamCalls(bed, "rec", "echo").length, before, "the upstream saw the modern call");
  });

  test("class 1: a token claim in a permit is the caller's own, residual or not", async () => {
    const T = { server: "rec2", tool: "transfer" };
    const infra = await rec(await tokenWith(bed, "alice", [], "demo:use", { department: "infra" }), "rec2");
    for (let i = 0; i < 4; i++) await passes(bed, infra, T, { amount: 5, to: "acct" });
    const sales = await rec(await tokenWith(bed, "alice", [], "demo:use", { department: "sales" }), "rec2");
    await denied(bed, sales, T, { amount: 5, to: "acct" }, ["cedar_denied"], []);
    await denied(bed, await rec(alice, "rec2"), T, { amount: 5, to: "acct" }, ["cedar_denied"], []);
    await denied(bed, infra, T, { amount: 100, to: "acct" }, ["cedar_denied"], []);
  });

  test("class 1: the same sub with other groups never inherits another token's decisions", async () => {
    const ops = await rec(aliceOps);
    for (let i = 0; i < 4; i++) await passes(bed, ops, ECHO, { message: "bye" });
    const root = await rec(aliceRoot);
    for (let i = 0; i < 4; i++) await passes(bed, root, ECHO, { message: "hi bad" });
    const plain = await rec(alice);
    await denied(bed, plain, ECHO, { message: "bye" }, ["cedar_denied"], []);
    await denied(bed, plain, ECHO, { message: "hi bad" }, ["cedar_denied"], ["echo-bad"]);
    // And the other way round: ops (not root) is still forbidden "bad", root without ops has no "bye".
    await denied(bed, ops, ECHO, { message: "bad bye" }, ["cedar_denied"], ["echo-bad"]);
    await denied(bed, root, ECHO, { message: "bye" }, ["cedar_denied"], []);
  });

  test("class 1: scopes in an unless are the caller's own, residual or not", async () => {
    const dbg = await rec(aliceDebug);
    for (let i = 0; i < 4; i++)
      await passes(bed, dbg, QUERY, { sql: "select 1", database: "public", debug: true });
    const plain = await rec(alice);
    for (let i = 0; i < 3; i++)
      await passes(bed, plain, QUERY, { sql: "select 1", database: "public", debug: false });
    await denied(
      bed,
      plain,
      QUERY,
      { sql: "select 1", database: "public", debug: true },
      ["cedar_denied"],
      ["query-debug"],
    );
  });

  test("class 1: if-then-else on an optional argument, after the residual is in use", async () => {
    const s = await rec(alice);
    for (let i = 0; i < 3; i++) await passes(bed, s, QUERY, { sql: `select ${i}`, database: "public" });
    await passes(bed, s, QUERY, { sql: "select", database: "public", limit: 100 });
    await denied(
      bed,
      s,
      QUERY,
      { sql: "select", database: "public", limit: 101 },
      ["cedar_denied"],
      ["query-limit"],
    );
    await denied(bed, s, QUERY, { sql: "select", database: "billing" }, ["cedar_denied"], []);
    await denied(bed, s, QUERY, { sql: "select", database: "prod" }, ["cedar_denied"], []);
    // Huge and negative-huge integers fit "integer" but reach Cedar as text: `>` errs, denied.
    for (const limit of [2 ** 53 + 2, -(2 ** 60), 1e300])
      await denied(
        bed,
        s,
        QUERY,
        { sql: "select", database: "public", limit },
        ["cedar_error"],
        ["query-limit"],
      );
    // A raw literal past 2^64: the JSON parser must not wrap it into a small number.
    const before = upstreamCalls(bed, "rec", "query").length;
    const res = await rawCall(
      s,
      '{"name":"query","arguments":{"sql":"s","database":"public","limit":18446744073709551617}}',
    );
    assert.equal(errorFor(res)?.code, -32001, res.text.slice(0, 300));
    assert.equal(errorFor(res)?.data?.reason, "cedar_error");
    assert.equal(upstreamCalls(bed, "rec", "query").length, before);
  });

  test("class 1: the finance group's billing permit stays the finance token's", async () => {
    const fin = await rec(aliceFinance);
    for (let i = 0; i < 4; i++) await passes(bed, fin, QUERY, { sql: "s", database: "billing" });
    const plain = await rec(alice);
    await denied(bed, plain, QUERY, { sql: "s", database: "billing" }, ["cedar_denied"], []);
  });

  test("class 1: anonymous and user callers never share decisions", async () => {
    const anon = await rec("");
    const user = await rec(alice);
    const DEEP = { server: "rec", tool: "deep" };
    for (let i = 0; i < 4; i++) await passes(bed, anon, DEEP, { value: "anon" });
    for (let i = 0; i < 4; i++) await passes(bed, user, DEEP, { value: "user" });
    await denied(bed, user, DEEP, { value: "anon" }, ["cedar_denied"], []);
    await denied(bed, anon, DEEP, { value: "user" }, ["cedar_denied"], []);
  });

  test("class 1: sets, records and Cedar escapes after a residual compares the argument with a string", async () => {
    const user = await rec(alice);
    const DEEP = { server: "rec", tool: "deep" };
    for (let i = 0; i < 3; i++) await passes(bed, user, DEEP, { value: "user" });
    const hostile: unknown[] = [
      ["user"],
      { user: true },
      { __entity: { type: "User", id: "user" } },
      { __extn: { fn: "ip", arg: "127.0.0.1" } },
      { __expr: "true" },
      1,
      true,
      null,
    ];
    for (const value of hostile)
      await denied(bed, user, DEEP, { value }, ["argument_type_mismatch", "cedar_error", "cedar_denied"]);
  });

  test("class 1: fractions and huge numbers are text to Cedar, so `<=` errs and denies", async () => {
    const s = await rec(alice);
    const T = { server: "rec", tool: "transfer" };
    for (let i = 1; i <= 3; i++) await passes(bed, s, T, { amount: i, to: "acct" });
    for (const amount of [0.5, 999.99, 2 ** 53 + 2, -1e300])
      await denied(bed, s, T, { amount, to: "acct" }, ["cedar_error"], ["transfer-small"]);
    await denied(bed, s, T, { amount: 1001, to: "acct" }, ["cedar_denied"], []);
    await denied(bed, s, T, { amount: 5, to: "my offshore" }, ["cedar_denied"], []);
    await denied(bed, s, T, { amount: "5", to: "acct" }, ["argument_type_mismatch"]);
    await denied(bed, s, T, { amount: 5, to: ["acct"] }, ["argument_type_mismatch"]);
    await denied(bed, s, T, { amount: 5 }, ["cedar_error"], ["transfer-small"]);
  });

  test("class 2: a virtual tool is hidden exactly when its fixed arguments alone deny, per caller", async () => {
    const shown = async (t: string) => toolNames(await listTools(await vs(t)));
    const a = await shown(alice);
    // Hidden: no permit can match prod; billing needs finance; debug needs debug:use; "bad" needs root.
    for (const n of ["q_prod", "q_billing", "q_billing_big", "q_public_debug", "e_bad"])
      assert.ok(!a.includes(n), `${n} listed for alice: ${a.join(",")}`);
    // Shown: some call could be allowed (a limit for prod; billing without DROP or debug).
    for (const n of ["q_public", "r2_prod", "r2_billing"]) assert.ok(a.includes(n), `${n} hidden for alice`);
    const fin = await shown(aliceFinance);
    assert.ok(fin.includes("q_billing"), "q_billing hidden for finance");
    assert.ok(!fin.includes("q_billing_big"), "q_billing_big (fixed limit 500) listed for finance");
    assert.ok((await shown(aliceDebug)).includes("q_public_debug"), "q_public_debug hidden for debug:use");
    assert.ok((await shown(aliceRoot)).includes("e_bad"), "e_bad hidden for root");
    // Lists are cached per caller: alice's list after the others' must not have changed.
    assert.deepEqual((await shown(alice)).sort(), [...a].sort());
  });

  test("class 2: a fixed-only forbid hides the tool even when another policy reads a caller argument", async () => {
    // rec2-no-staging reads only the fixed database and matches: every call is denied. That
    // rec2-one-statement cannot be judged without sql does not make some call allowed.
    const s = await vs(alice);
    await denied(
      bed,
      s,
      { server: "rec2", tool: "query", name: "r2_staging" },
      { sql: "s" },
      ["cedar_denied"],
      ["rec2-no-staging"],
    );
    const names = toolNames(await listTools(s));
    assert.ok(!names.includes("r2_staging"), `r2_staging listed: ${names.join(",")}`);
  });

  // A known gap (docs/authorization.md, Lists): transfer-small also reads `to`, which callers set,
  // so the fixed amount alone is not judged; every call is still refused (cedar_error), below.
  test(
    "class 2: a fixed value that makes a policy err on every call hides the tool",
    {
      todo: "a policy reading a caller's argument too is not judged on the fixed values alone",
    },
    async () => {
      const s = await vs(alice);
      const T = { server: "rec", tool: "transfer", name: "t_huge" };
      await denied(bed, s, T, { to: "acct" }, ["cedar_error"], ["transfer-small"]);
      await denied(bed, s, T, { to: "other" }, ["cedar_error"], ["transfer-small"]);
      const names = toolNames(await listTools(s));
      assert.ok(!names.includes("t_huge"), `t_huge listed though every call errs: ${names.join(",")}`);
    },
  );

  test("class 2: the calls agree with the lists", async () => {
    const s = await vs(alice);
    const where = (name: string, tool = "query", server = "rec") => ({ server, tool, name });
    await denied(bed, s, where("q_prod"), { sql: "s" }, ["cedar_denied"], []);
    await denied(bed, s, where("q_billing"), { sql: "s" }, ["cedar_denied"], []);
    await denied(bed, s, where("e_bad", "echo"), {}, ["cedar_denied"], ["echo-bad"]);
    await denied(bed, s, where("q_public_debug"), { sql: "s" }, ["cedar_denied"], ["query-debug"]);
    await passes(bed, s, where("q_public"), { sql: "s" });
    await passes(bed, s, where("r2_prod", "query", "rec2"), { sql: "s", limit: 5 });
    await denied(
      bed,
      s,
      where("r2_prod", "query", "rec2"),
      { sql: "s" },
      ["cedar_denied"],
      ["rec2-prod-needs-limit"],
    );
    await passes(bed, s, where("r2_billing", "query", "rec2"), { sql: "select" });
    await denied(
      bed,
      s,
      where("r2_billing", "query", "rec2"),
      { sql: "DROP t" },
      ["cedar_denied"],
      ["rec2-billing-no-drop"],
    );
    const fin = await vs(aliceFinance);
    await passes(bed, fin, where("q_billing"), { sql: "s" });
    await denied(bed, fin, where("q_billing_big"), { sql: "s" }, ["cedar_denied"], ["query-limit"]);
  });

  test("class 3: hostile input schemas neither crash nor flood, and their calls are still decided", async () => {
    const warnings = () =>
      bed.gw.logs().filter((l) => String(l.msg ?? "").startsWith("cedar policies do not fit")).length;
    const hsUrl = bed.gw.serverUrl("hs");
    const started = Date.now();
    const first = toolNames(await listTools(await bed.session(hsUrl, alice)));
    assert.ok(Date.now() - started < 20_000, `listing took ${Date.now() - started} ms`);
    assert.ok(first.includes("plain"), `plain not listed: ${first.join(",")}`);
    await waitFor(() => warnings() >= 1, { timeoutMs: 10_000, what: "a schema-fit warning for hs/plain" });
    const once = warnings();
    assert.ok(once <= 10, `${once} warnings for 10 tools`);
    for (const t of [alice, aliceOps, aliceRoot, aliceFinance, ""]) {
      toolNames(await listTools(await bed.session(hsUrl, t)));
      toolNames(await listTools(await bed.session(bed.gw.mcpUrl, t)));
    }
    assert.equal(warnings(), once, "the warning is logged once per tool, not per list");
    const s = await bed.session(hsUrl, alice);
    // The forbid compares the declared integer n with a string: documented to fail closed.
    await passes(bed, s, { server: "hs", tool: "plain" }, {});
    await denied(bed, s, { server: "hs", tool: "plain" }, { n: 5 }, ["argument_type_mismatch"], ["hs-plain"]);
    await denied(bed, s, { server: "hs", tool: "plain" }, { n: "x" }, ["argument_type_mismatch"]);
    await denied(bed, s, { server: "hs", tool: "wide" }, { n: "x" }, ["argument_type_mismatch"]);
    await denied(bed, s, { server: "hs", tool: "weird" }, { n: "x" }, ["argument_type_mismatch"]);
    await denied(bed, s, { server: "hs", tool: "deep_array" }, { n: "x" }, [
      "argument_type_mismatch",
      "cedar_error",
    ]);
    // A schema that loops refuses the call.
    await denied(bed, s, { server: "hs", tool: "loop" }, { n: 1 }, ["argument_type_mismatch", "cedar_error"]);
    // Arguments nested far past 32 levels, a hundred thousand keys: refused, gateway alive.
    const res = await rawCall(s, `{"name":"deep","arguments":${'{"a":'.repeat(5000)}1${"}".repeat(5000)}}`);
    assert.ok(res.status < 500, `HTTP ${res.status}`);
    const many: Record<string, unknown> = { n: "x" };
    for (let i = 0; i < 5_000; i++) many[`p${i}`] = i % 2 ? i : `s${i}`;
    await denied(bed, s, { server: "hs", tool: "wide" }, many, ["argument_type_mismatch"]);
    // A hundred thousand keys: refused before Cedar by the JSON limit, never forwarded.
    const huge: Record<string, unknown> = { n: "x" };
    for (let i = 0; i < 100_000; i++) huge[`k${i}`] = i;
    const seen = upstreamCalls(bed, "hs", "wide").length;
    const hugeRes = await callOn(s, "wide", huge);
    assert.ok([-32001, -32600].includes(errorFor(hugeRes)?.code ?? 0), hugeRes.text.slice(0, 300));
    assert.equal(upstreamCalls(bed, "hs", "wide").length, seen);
    // Schemas thousands deep: the upstream's list is refused, the gateway and other servers live on.
    const deepList = await listTools(await bed.session(bed.gw.serverUrl("hsdeep"), alice));
    assert.ok(deepList.status < 500, `hsdeep list: HTTP ${deepList.status}`);
    const ready = await bed.gw.readyz();
    assert.equal(ready.status, 200);
    allowed(await callOn(s, "plain", {}), "plain after the hostile calls");
  });

  test("class 1: after a reload, a caller's residual follows the new set", async () => {
    const s = await rec(alice);
    for (let i = 0; i < 4; i++) await passes(bed, s, ECHO, { message: `hi again ${i}` });
    const original = readFileSync(policyFile, "utf8");
    // The new set: echo-hi accepts "ho*" only, and the probe's permit is gone.
    writeFileSync(
      policyFile,
      original.replace('like "hi*"', 'like "ho*"').replace(/@id\("probe"\)[^;]*;/, ""),
    );
    const probe = await bed.session(bed.gw.serverUrl("rec2"), alice);
    await waitFor(async () => errorFor(await callOn(probe, "echo", { message: "p" })) !== undefined, {
      timeoutMs: 20_000,
      what: "the reload to take effect",
    });
    await denied(bed, s, ECHO, { message: "hi again 0" }, ["cedar_denied"], []);
    await denied(bed, s, ECHO, { message: "hi again 9" }, ["cedar_denied"], []);
    await passes(bed, s, ECHO, { message: "ho" });
    writeFileSync(policyFile, original);
    await waitFor(async () => errorFor(await callOn(probe, "echo", { message: "p" })) === undefined, {
      timeoutMs: 20_000,
      what: "the second reload",
    });
    await passes(bed, s, ECHO, { message: "hi again 0" });
    await denied(bed, s, ECHO, { message: "ho" }, ["cedar_denied"], []);
  });
});
