/* eslint-disable @typescript-eslint/no-explicit-any -- wire messages are read loosely in assertions */
// Issue 20 attacks (Cedar policy), visible half: one gateway in front of two recorders with a
// policy set that forbids by argument, by tool and by principal. Classes: argument type confusion
// (strings for integers, arrays, objects, out-of-range numbers), duplicate JSON keys and escaped
// spellings, look-alike tool names, entity-id injection through subjects and tool names, aggregate
// (`server__tool`) names, legacy and 2026-07-28 callers getting the same decision, list filtering
// of a tool every call to which is denied, evaluation errors (absent or ill-typed arguments) and a
// broken reload failing closed. Every denial also checks that the recorder never saw the call.
// Until issue 20 lands the gateway refuses the `policy` key and `before` fails at start-up.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { runCli } from "../helpers/gateway.js";
import { answer, modern } from "../helpers/modern-raw.js";
import { waitFor } from "../helpers/wait.js";
import { signWith } from "./fixtures/attack-lib.js";
import {
  assertAllowed,
  assertDenied,
  callOn,
  listTools,
  rawCall,
  startPolicyBed,
  toolNames,
  type PolicyBed,
} from "./fixtures/policy-lib.js";

const POLICY_DENIED = -32001;

const POLICIES = `
@id("baseline")
permit(principal, action, resource);

@id("no-prod")
forbid(principal, action == Action::"tools/call", resource == Tool::"rec/query")
when { context.arguments has database && context.arguments.database == "prod" };

@id("small-limits")
forbid(principal, action == Action::"tools/call", resource == Tool::"rec/query")
when { context.arguments has limit && context.arguments.limit > 1000 };

@id("no-offshore")
forbid(principal, action == Action::"tools/call", resource == Tool::"rec/transfer")
when { !(context.arguments has to) || context.arguments.to like "*offshore*" };

@id("no-drop")
forbid(principal, action == Action::"tools/call", resource == Tool::"rec/echo")
when { context.arguments has message && context.arguments.message like "*DROP*" };

@id("vault-closed")
forbid(principal, action, resource == Tool::"rec/secret_tool");

@id("admin-is-root")
forbid(principal, action == Action::"tools/call", resource == Tool::"rec/admin_tool")
unless { principal == User::"root" };
`;

/** The one place this file spells issue 20's config (DESIGN.md: `policy: { cedar: [FILES] }`). */
function cedarPolicy(files: string[]): Record<string, unknown> {
  return { policy: { cedar: files } };
}

describe("issue 20 attacks: Cedar policy", () => {
  let bed: PolicyBed;
  let policyFile: string;
  let alice: string; // demo:use
  let eve: string; // demo:use admin:use, but not root
  let root: string; // demo:use admin:use

  const rec = () => bed.session(bed.gw.serverUrl("rec"), alice);
  const queries = (pred: (a: any) => boolean) => bed.calls("rec", "query").filter((c) => pred(c.args));

  before(async () => {
    bed = await startPolicyBed("warden-cedar-attack-", (dir) => {
      policyFile = join(dir, "policies.cedar");
      writeFileSync(policyFile, POLICIES);
      return cedarPolicy([policyFile]);
    });
    alice = await bed.token("alice");
    eve = await bed.token("eve", "demo:use admin:use");
    root = await bed.token("root", "demo:use admin:use");
  });

  after(async () => {
    await bed?.gw.stop();
  });

  test("controls: the policy set allows and denies what it says", async () => {
    assertAllowed(
      await callOn(await rec(), "query", { sql: "select 1", database: "public" }),
      "public query",
    );
    assertDenied(
      await callOn(await rec(), "query", { sql: "select 1", database: "prod" }),
      "prod query",
      POLICY_DENIED,
    );
    assertAllowed(
      await callOn(await bed.session(bed.gw.serverUrl("rec"), root), "admin_tool"),
      "root's admin_tool",
    );
    assert.equal(queries((a) => a.database === "prod").length, 0);
  });

  test("type confusion on an argument a policy reads is denied, never forwarded", async () => {
    const s = await rec();
    const payloads: unknown[] = [
      { sql: "x", database: ["prod"] },
      { sql: "x", database: { 0: "prod" } },
      { sql: "x", database: ["public", "prod"] },
      { sql: "x", database: "public", limit: "5000" },
      { sql: "x", database: "public", limit: [5000] },
      { sql: "x", database: "public", limit: { value: 5000 } },
      { sql: "x", database: "public", limit: 1e21 },
      { sql: "x", database: "public", limit: 1000.5 },
    ];
    for (const args of payloads)
      assertDenied(await callOn(s, "query", args), `query ${JSON.stringify(args)}`);
    const bad = queries(
      (a) =>
        typeof a.database !== "string" ||
        a.database === "prod" ||
        (a.limit !== undefined && !(Number.isInteger(a.limit) && a.limit <= 1000)),
    );
    assert.deepEqual(bad, [], "the recorder saw an argument the policy could not judge");
  });

  test("duplicate keys and escaped spellings are judged on what the upstream parses", async () => {
    const s = await rec();
    for (const params of [
      '{"name":"query","arguments":{"sql":"x","database":"public","database":"prod"}}',
      '{"name":"query","arguments":{"sql":"x","database":"\\u0070rod"}}',
      '{"name":"query","arguments":{"sql":"x","data\\u0062ase":"prod"}}',
      '{"name":"que\\u0072y","arguments":{"sql":"x","database":"prod"}}',
      '{"name":"query","arguments":{"sql":"x","database":"public"},"arguments":{"sql":"x","database":"prod"}}',
    ]) {
      await rawCall(s, params);
    }
    assert.deepEqual(
      queries((a) => a.database === "prod"),
      [],
      "a duplicate or escaped key smuggled database=prod",
    );
    await rawCall(s, '{"name":"echo","arguments":{"message":"hello","message":"DROP TABLE users"}}');
    assert.deepEqual(
      bed.calls("rec", "echo").filter((c) => /DROP/.test(c.args.message)),
      [],
    );
  });

  test("look-alike and escaped names of a forbidden tool never reach it", async () => {
    const s = await rec();
    for (const name of [
      "ѕecret_tool",
      "ｓｅｃｒｅｔ_ｔｏｏｌ",
      "secret_tool\u200b",
      "SECRET_TOOL",
      "secret_tool ",
      "rec/secret_tool",
      "rec__secret_tool",
      "secret\u0000tool",
    ]) {
      const res = await callOn(s, name);
      assert.ok(!/rec secret_tool:/.test(res.text), `${JSON.stringify(name)} ran secret_tool`);
    }
    assertDenied(await callOn(s, "secret_tool"), "secret_tool itself", POLICY_DENIED);
    assert.deepEqual(bed.calls("rec", "secret_tool"), [], "the recorder ran secret_tool");
  });

  test("entity-id injection through the subject never makes a caller root", async () => {
    const keyFile = join(bed.dir, "signing.jwk");
    const subs = [
      'root"',
      "root\u0000",
      "root\n",
      'User::"root"',
      '" || true || "',
      " root",
      "root ",
      "ROOT",
      "rооt",
    ];
    for (const sub of subs) {
      const t = await signWith(keyFile, eve, { sub });
      const s = await bed.session(bed.gw.serverUrl("rec"), t).catch(() => undefined);
      if (!s) continue;
      assertDenied(await callOn(s, "admin_tool"), `admin_tool as ${JSON.stringify(sub)}`);
    }
    const ran = bed.calls("rec", "admin_tool").length;
    assert.equal(ran, 1, "only root's control call ran admin_tool");
  });

  test("aggregate names on /mcp get the decision of the underlying tool", async () => {
    const agg = await bed.session(bed.gw.mcpUrl, eve);
    assertDenied(await callOn(agg, "rec__secret_tool"), "rec__secret_tool", POLICY_DENIED);
    assertDenied(await callOn(agg, "rec__admin_tool"), "rec__admin_tool as eve", POLICY_DENIED);
    assertDenied(
      await callOn(agg, "rec__query", { sql: "x", database: "prod" }),
      "rec__query prod",
      POLICY_DENIED,
    );
    // rec2's tools are not named by any forbid: the prefix must not leak rec's decision either way.
    assertAllowed(await callOn(agg, "rec2__secret_tool"), "rec2__secret_tool");
    assert.equal(bed.calls("rec", "secret_tool").length, 0);
  });

  test("a 2026-07-28 caller gets the same decisions as a legacy caller", async () => {
    const url = bed.gw.serverUrl("rec");
    const cases: [string, Record<string, unknown>, boolean][] = [
      ["query", { sql: "x", database: "prod" }, false],
      ["query", { sql: "x", database: ["prod"] }, false],
      ["secret_tool", {}, false],
      ["echo", { message: "please DROP it" }, false],
      ["query", { sql: "x", database: "public" }, true],
    ];
    let n = 900;
    for (const [name, args, allowed] of cases) {
      const r = answer(
        await modern(url, { id: n++, method: "tools/call", params: { name, arguments: args }, token: alice }),
      );
      if (allowed)
        assert.ok(r.result && !r.result.isError, `modern ${name}: ${JSON.stringify(r).slice(0, 300)}`);
      else
        assert.ok(
          r.error,
          `modern ${name} ${JSON.stringify(args)} was not refused: ${JSON.stringify(r).slice(0, 300)}`,
        );
    }
    assert.deepEqual(
      queries((a) => a.database !== "public"),
      [],
    );
  });

  test("a tool every call to which is denied is not listed; a conditionally denied one is", async () => {
    for (const [who, token] of [
      ["alice", alice],
      ["eve", eve],
    ] as const) {
      const names = toolNames(await listTools(await bed.session(bed.gw.serverUrl("rec"), token)));
      assert.ok(!names.includes("secret_tool"), `${who} sees secret_tool`);
      assert.ok(!names.includes("admin_tool"), `${who} sees admin_tool though only root may call it`);
      assert.ok(names.includes("query"), `${who} lost query, which some calls may use`);
      const agg = toolNames(await listTools(await bed.session(bed.gw.mcpUrl, token)));
      assert.ok(!agg.includes("rec__secret_tool"), `${who} sees rec__secret_tool on /mcp`);
    }
    const r = answer(await modern(bed.gw.serverUrl("rec"), { id: 950, method: "tools/list", token: eve }));
    assert.ok(!JSON.stringify(r).includes('"admin_tool"'), "a modern list shows admin_tool to eve");
  });

  test("evaluation errors (absent or ill-typed arguments) deny", async () => {
    const s = await rec();
    for (const args of [
      { amount: 5 },
      { amount: 5, to: 42 },
      { amount: 5, to: ["offshore"] },
      { amount: 5, to: null },
      { amount: 5, to: { like: "offshore" } },
    ]) {
      assertDenied(await callOn(s, "transfer", args), `transfer ${JSON.stringify(args)}`);
    }
    assertAllowed(await callOn(s, "transfer", { amount: 5, to: "savings" }), "an ordinary transfer");
    const bad = bed
      .calls("rec", "transfer")
      .filter((c) => typeof c.args.to !== "string" || /offshore/.test(c.args.to));
    assert.deepEqual(bad, []);
  });

  test("policy test fails a CI run on a wrong expectation or a malformed case, never passes it", async () => {
    const dir = bed.dir;
    writeFileSync(join(dir, "ci.cedar"), POLICIES);
    const cases = (body: string) => {
      const f = join(dir, `cases-${Math.random().toString(36).slice(2)}.yaml`);
      writeFileSync(f, `policies: [ci.cedar]\ncases:\n${body}`);
      return f;
    };
    const vault =
      "    principal: { sub: alice }\n    action: tools/call\n    resource: { server: rec, tool: secret_tool }\n";
    const ok = await runCli(["policy", "test", cases(`  - name: vault closed\n${vault}    expect: deny\n`)], {
      cwd: dir,
    });
    assert.equal(ok.code, 0, `a correct case failed: ${ok.stdout}${ok.stderr}`);
    for (const [what, body] of [
      ["a wrong expectation", `  - name: vault open\n${vault}    expect: allow\n`],
      ["an expectation in another case", `  - name: vault\n${vault}    expect: Allow\n`],
      ["no expectation", `  - name: vault\n${vault}`],
      ["an unknown action", `  - name: vault\n${vault.replace("tools/call", "tools/cal")}    expect: deny\n`],
    ] as const) {
      const r = await runCli(["policy", "test", cases(body)], { cwd: dir });
      assert.notEqual(r.code, 0, `policy test passed ${what}: ${r.stdout}`);
    }
  });

  test("a broken reload keeps the old policy set; a good one takes effect", async () => {
    const s = await rec();
    const prod = () => callOn(s, "query", { sql: "x", database: "prod" });
    for (const broken of [
      "permit(principal, action, resource",
      'forbid(principal, action, resource) when { context.arguments.nosuch.deep == 1 } unless { Foo::"x" };',
      "",
    ]) {
      writeFileSync(policyFile, broken);
      bed.gw.proc.kill("SIGHUP");
      for (let i = 0; i < 3; i++)
        assertDenied(await prod(), `after reloading ${JSON.stringify(broken.slice(0, 30))}`);
      assertDenied(await callOn(s, "secret_tool"), "secret_tool after a broken reload");
    }
    assert.equal(bed.gw.proc.exitCode, null, "a broken reload killed the gateway");
    writeFileSync(policyFile, POLICIES.replace(/@id\("no-prod"\)[\s\S]*?;\n/, ""));
    bed.gw.proc.kill("SIGHUP");
    await waitFor(async () => !(await prod()).text.includes('"error"'), {
      timeoutMs: 20_000,
      what: "the good reload to allow database=prod",
    });
    assertDenied(await callOn(s, "secret_tool"), "secret_tool after a good reload");
    assert.deepEqual(bed.calls("rec", "secret_tool"), []);
  });
});
