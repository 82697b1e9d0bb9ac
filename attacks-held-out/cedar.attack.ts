// Held-out attacks, issue 20 (Cedar policy): variants not in test/attacks/cedar.test.ts. Other
// policies (an `unless` guard whose evaluation error would skip a forbid, a rule on
// `resource.server`, a rule on principal and scopes), other payloads: ill-typed values inside an
// `unless`, integers past 2^53, hex strings, raw JSON the encoder would not write, aggregate names
// with odd separators, subjects with quotes/backslashes/line separators, tool names with `"` and
// `::`, a 2026-07-28 request whose Mcp-Name header disagrees with its body, list filtering on the
// second server and for a modern caller, reloads by rename, symlink swap, unreadable file and an
// unknown action.
import assert from "node:assert/strict";
import { chmodSync, renameSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { runCli } from "../test/helpers/gateway.js";
import { answer, modern } from "../test/helpers/modern-raw.js";
import { raw } from "../test/helpers/http.js";
import { modernRequest } from "../test/helpers/modern-raw.js";
import { waitFor } from "../test/helpers/wait.js";
import { signWith } from "../test/attacks/fixtures/attack-lib.js";
import {
  assertAllowed,
  assertDenied,
  callOn,
  listTools,
  rawCall,
  startPolicyBed,
  toolNames,
  type PolicyBed,
} from "../test/attacks/fixtures/policy-lib.js";

const POLICIES = `
@id("base")
permit(principal, action, resource);

@id("accounts-only")
forbid(principal, action == Action::"tools/call", resource == Tool::"rec/transfer")
unless { context.arguments has to && context.arguments.to like "acct-*" };

@id("no-billing-on-rec2")
forbid(principal, action == Action::"tools/call", resource)
when { resource.server == "rec2" && context.arguments has database && context.arguments.database == "billing" };

@id("ops-admin")
forbid(principal, action == Action::"tools/call", resource == Tool::"rec/admin_tool")
unless { principal == User::"ops" };

@id("rec2-vault")
forbid(principal, action, resource == Tool::"rec2/secret_tool");

@id("limits")
forbid(principal, action == Action::"tools/call", resource == Tool::"rec2/query")
when { context.arguments has limit && context.arguments.limit > 50 };
`;

/** The one place this file spells issue 20's config; adjust when the docs land. */
function cedarPolicy(files: string[]): Record<string, unknown> {
  return { policy: { cedar: files } };
}

describe("held-out issue 20: Cedar policy", () => {
  let bed: PolicyBed;
  let dir: string;
  let policyFile: string;
  let alice: string;
  let mallory: string; // holds admin:use, is not ops
  let ops: string;

  const on = (server: string, token = alice) => bed.session(bed.gw.serverUrl(server), token);

  before(async () => {
    bed = await startPolicyBed("warden-cedar-held-", (d) => {
      dir = d;
      policyFile = join(d, "rules.cedar");
      writeFileSync(policyFile, POLICIES);
      return cedarPolicy([policyFile]);
    });
    alice = await bed.token("alice");
    mallory = await bed.token("mallory", "demo:use admin:use");
    ops = await bed.token("ops", "demo:use admin:use");
  });

  after(async () => {
    await bed?.gw.stop();
  });

  test("an ill-typed value inside an `unless` guard must not skip the forbid", async () => {
    const s = await on("rec");
    assertAllowed(await callOn(s, "transfer", { amount: 1, to: "acct-7" }), "control");
    for (const to of [123, true, ["acct-1"], { to: "acct-1" }, null, ""]) {
      assertDenied(await callOn(s, "transfer", { amount: 1, to }), `transfer to ${JSON.stringify(to)}`);
    }
    assertDenied(await callOn(s, "transfer", { amount: 1 }), "transfer without to");
    const bad = bed
      .calls("rec", "transfer")
      .filter((c) => typeof c.args.to !== "string" || !c.args.to.startsWith("acct-"));
    assert.deepEqual(bad, []);
  });

  test("integers past 2^53, hex strings and raw spellings of a limited integer", async () => {
    const s = await on("rec2");
    for (const body of [
      '{"name":"query","arguments":{"sql":"x","database":"public","limit":9007199254740993}}',
      '{"name":"query","arguments":{"sql":"x","database":"public","limit":1e400}}',
      '{"name":"query","arguments":{"sql":"x","database":"public","limit":"0x3E9"}}',
      '{"name":"query","arguments":{"sql":"x","database":"public","limit":51.0}}',
      '{"name":"query","arguments":{"sql":"x","database":"public","limit":-0,"limit":99}}',
      '{"name":"query","arguments":{"sql":"x","database":"public","li\\u006dit":99}}',
    ]) {
      assert.ok((await rawCall(s, body)).status > 0);
    }
    const over = bed
      .calls("rec2", "query")
      .filter(
        (c) => !(Number.isSafeInteger(c.args.limit) && c.args.limit <= 50) && c.args.limit !== undefined,
      );
    assert.deepEqual(over, [], "a limit the policy forbids or cannot judge reached rec2");
  });

  test("a rule on resource.server holds for every name of the server's tool", async () => {
    const agg = await bed.session(bed.gw.mcpUrl, alice);
    for (const name of [
      "rec2__query",
      "REC2__query",
      "rec2___query",
      "rec2__query\u0000",
      "rec2__QUERY",
      " rec2__query",
    ]) {
      await callOn(agg, name, { sql: "x", database: "billing" });
    }
    await rawCall(
      agg,
      '{"name":"rec2__query","arguments":{"sql":"x","database":"billing","database":"billing"}}',
    );
    await rawCall(
      agg,
      '{"name":"rec2\\u005f\\u005fquery","arguments":{"sql":"x","database":"bil\\u006cing"}}',
    );
    assertDenied(
      await callOn(await on("rec2"), "query", { sql: "x", database: "billing" }),
      "rec2 query billing",
      -32001,
    );
    // `==` across types is false in Cedar, not an error: a value of the wrong type slips past a
    // forbid unless the gateway checks it against the tool's schema first.
    for (const database of [["billing"], { billing: true }, ["public", "billing"], [["billing"]]]) {
      await callOn(await on("rec2"), "query", { sql: "x", database });
    }
    assert.deepEqual(
      bed.calls("rec2", "query").filter((c) => JSON.stringify(c.args.database ?? "").includes("billing")),
      [],
      "billing reached rec2 in some spelling",
    );
    // The same tool on rec is not under that rule (control: the server attribute is rec's).
    assertAllowed(
      await callOn(await on("rec"), "query", { sql: "x", database: "billing" }),
      "rec query billing",
    );
  });

  test("subjects and tool names with quotes, backslashes, separators and `::`", async () => {
    const keyFile = join(bed.dir, "signing.jwk");
    for (const sub of [
      'ops"',
      "ops\\",
      "ops\u2028",
      'Group::"ops"',
      "ops::x",
      "ops\r\n",
      "\u202eops",
      "ops\ufeff",
    ]) {
      const t = await signWith(keyFile, mallory, { sub });
      const s = await bed.session(bed.gw.serverUrl("rec"), t).catch(() => undefined);
      if (s) assertDenied(await callOn(s, "admin_tool"), `admin_tool as ${JSON.stringify(sub)}`);
    }
    const agg = await bed.session(bed.gw.mcpUrl, mallory);
    for (const name of [
      'rec__admin_tool"',
      "rec::admin_tool",
      'rec__admin_tool" || true',
      "rec__admin_tool\n",
      "rec/admin_tool",
    ]) {
      await callOn(agg, name);
    }
    assertDenied(await callOn(agg, "rec__admin_tool"), "mallory rec__admin_tool", -32001);
    assertAllowed(await callOn(await on("rec", ops), "admin_tool"), "ops control");
    assert.equal(bed.calls("rec", "admin_tool").length, 1, "admin_tool ran for someone other than ops");
  });

  test("a 2026-07-28 request whose Mcp-Name disagrees with its body, and modern aggregate names", async () => {
    const url = bed.gw.serverUrl("rec2");
    const req = modernRequest({
      id: 1,
      method: "tools/call",
      params: { name: "query", arguments: { sql: "x", database: "billing" } },
      token: alice,
    });
    req.headers["mcp-name"] = "echo";
    await raw(url, req);
    const agg = answer(
      await modern(bed.gw.mcpUrl, {
        id: 2,
        method: "tools/call",
        params: { name: "rec2__query", arguments: { sql: "x", database: "billing" } },
        token: alice,
      }),
    );
    assert.ok(agg.error, `modern rec2__query billing: ${JSON.stringify(agg).slice(0, 200)}`);
    const lim = answer(
      await modern(url, {
        id: 3,
        method: "tools/call",
        params: { name: "query", arguments: { sql: "x", database: "public", limit: "99" } },
        token: alice,
      }),
    );
    assert.ok(lim.error, `modern limit "99": ${JSON.stringify(lim).slice(0, 200)}`);
    assert.deepEqual(
      bed
        .calls("rec2", "query")
        .filter((c) => c.args.database === "billing" || (c.args.limit !== undefined && c.args.limit > 50)),
      [],
    );
  });

  test("list filtering on the second server, on /mcp and for a modern caller", async () => {
    assert.ok(!toolNames(await listTools(await on("rec2"))).includes("secret_tool"));
    const agg = toolNames(await listTools(await bed.session(bed.gw.mcpUrl, mallory)));
    assert.ok(!agg.includes("rec2__secret_tool"), "rec2__secret_tool listed");
    assert.ok(!agg.includes("rec__admin_tool"), "rec__admin_tool listed for mallory (not ops)");
    assert.ok(agg.includes("rec__secret_tool"), "rec's secret_tool is not forbidden here (control)");
    const m = answer(await modern(bed.gw.mcpUrl, { id: 9, method: "tools/list", token: mallory }));
    const names = JSON.stringify(m);
    assert.ok(
      !names.includes("rec2__secret_tool") && !names.includes("rec__admin_tool"),
      "modern list leaks",
    );
    const opsList = toolNames(await listTools(await bed.session(bed.gw.mcpUrl, ops)));
    assert.ok(opsList.includes("rec__admin_tool"), "ops sees admin_tool (control)");
  });

  test("policy test: a wrong expectation, an empty or mistyped case list and an unknown policy file fail", async () => {
    writeFileSync(join(dir, "ci.cedar"), POLICIES);
    const run = async (yaml: string) => {
      const f = join(dir, `c-${Math.random().toString(36).slice(2)}.yaml`);
      writeFileSync(f, yaml);
      return runCli(["policy", "test", f], { cwd: dir });
    };
    const billing =
      "  - name: billing on rec2\n    principal: { sub: alice }\n    action: tools/call\n" +
      "    resource: { server: rec2, tool: query }\n    args: { sql: x, database: billing }\n";
    assert.equal(
      (await run(`policies: [ci.cedar]\ncases:\n${billing}    expect: deny\n`)).code,
      0,
      "control",
    );
    for (const [what, yaml] of [
      ["a wrong expectation", `policies: [ci.cedar]\ncases:\n${billing}    expect: allow\n`],
      ["a missing policy file", `policies: [nosuch.cedar]\ncases:\n${billing}    expect: deny\n`],
      ["cases as a map", `policies: [ci.cedar]\ncases: { a: 1 }\n`],
      ["expect: yes", `policies: [ci.cedar]\ncases:\n${billing}    expect: yes\n`],
    ] as const) {
      assert.notEqual((await run(yaml)).code, 0, `policy test passed ${what}`);
    }
  });

  test("reloads by rename, symlink swap, unreadable file and unknown action keep the old set", async () => {
    const s = await on("rec2");
    const billing = () => callOn(s, "query", { sql: "x", database: "billing" });
    const check = async (what: string) => {
      bed.gw.proc.kill("SIGHUP");
      for (let i = 0; i < 3; i++) assertDenied(await billing(), `${what}: billing`);
      assertDenied(await callOn(s, "secret_tool"), `${what}: secret_tool`);
    };
    const tmp = join(dir, "next.cedar");
    writeFileSync(tmp, "permit(principal, action, resource) when { ");
    renameSync(tmp, policyFile);
    await check("renamed-in garbage");
    writeFileSync(policyFile, 'permit(principal, action == Action::"tools/delete", resource);');
    await check("unknown action");
    writeFileSync(tmp, '@id("x") permit(principal, action, resource);');
    unlinkSync(policyFile);
    symlinkSync("/nonexistent/rules.cedar", policyFile);
    await check("dangling symlink");
    unlinkSync(policyFile);
    writeFileSync(policyFile, POLICIES);
    chmodSync(policyFile, 0o000);
    await check("unreadable file");
    chmodSync(policyFile, 0o644);
    writeFileSync(policyFile, POLICIES.replace(/@id\("no-billing-on-rec2"\)[\s\S]*?;\n/, ""));
    bed.gw.proc.kill("SIGHUP");
    await waitFor(async () => !(await billing()).text.includes('"error"'), {
      timeoutMs: 20_000,
      what: "a good reload",
    });
    assertDenied(await callOn(s, "secret_tool"), "secret_tool after the good reload");
    assert.deepEqual(bed.calls("rec2", "secret_tool"), []);
  });
});
