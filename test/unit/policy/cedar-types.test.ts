// Argument type confusion against Cedar (issue 20, red team 2): Cedar's `==` across types is simply
// false, so a forbid comparing an argument with "prod" is skipped for ["prod"]. Before Cedar runs,
// the arguments are judged against the tool's declared JSON types, and against the type each
// policy in scope compares them with (for tools that declare nothing).
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { tokenPrincipal, type Principal } from "../../../src/auth/principal.js";
import { CedarAuthorizer, type CedarQuery } from "../../../src/policy/cedar/authorizer.js";
import { declaredMismatch } from "../../../src/policy/cedar/declared-types.js";
import { loadCedar, type Cedar } from "../../../src/policy/cedar/engine.js";
import { loadPolicyFiles } from "../../../src/policy/cedar/files.js";
import { makeTempDir } from "../../helpers/paths.js";

let cedar: Cedar;
const dir = makeTempDir("warden-cedar-types-");

async function authorizer(text: string): Promise<CedarAuthorizer> {
  const file = join(dir, `p${Math.random().toString(36).slice(2)}.cedar`);
  writeFileSync(file, text);
  const loaded = await loadPolicyFiles(cedar, [file], join(dir, "warden.yaml"));
  assert.ok(loaded.ok, loaded.ok ? "" : loaded.problems.join("\n"));
  return new CedarAuthorizer(cedar, loaded.policies, { claims: ["team"], groupsClaim: "groups" });
}

const alice: Principal = tokenPrincipal(
  { subject: "alice", clientId: "cli", scopes: ["a"], method: "bearer" },
  undefined,
  { team: "red", groups: ["ops"] },
);
const call = (name: string, args: unknown, inputSchema?: unknown): CedarQuery => ({
  principal: alice,
  kind: "tool",
  server: "db",
  name,
  args,
  protocol: "2025-11-25",
  inputSchema,
});

before(async () => {
  cedar = await loadCedar();
});

describe("declared argument types", () => {
  const schema = {
    type: "object",
    properties: {
      database: { type: "string", enum: ["public", "prod"] },
      limit: { type: "integer" },
      ratio: { type: ["number", "null"] },
      tags: { type: "array", items: { type: "string" } },
      pair: { prefixItems: [{ type: "string" }, { type: "boolean" }] },
      opts: {
        type: "object",
        properties: { mode: { $ref: "#/$defs/mode" } },
        additionalProperties: { type: "boolean" },
      },
      either: { anyOf: [{ type: "string" }, { type: "array", items: { type: "integer" } }] },
      both: { allOf: [{ type: ["string", "integer"] }, { type: ["integer", "boolean"] }] },
      color: { enum: ["red", "green"] },
      anything: {},
      odd: { type: "uuid" },
    },
    $defs: { mode: { type: "string" } },
  };
  const miss = (args: unknown) => declaredMismatch(schema, args);

  test("arguments of the declared types pass, whatever else the schema says", () => {
    assert.equal(
      miss({
        database: "nope", // enum is a value check: the upstream's
        limit: 5,
        ratio: null,
        tags: ["a"],
        pair: ["a", true, 3],
        opts: { mode: "x", other: true },
        either: [1, 2],
        both: 3,
        color: "blue",
        anything: [{ a: null }],
        odd: 1,
        undeclared: ["x"],
      }),
      undefined,
    );
    assert.equal(miss({ ratio: 0.5, either: "x", limit: 5.0 }), undefined);
    assert.equal(declaredMismatch(undefined, { a: [1] }), undefined);
    assert.equal(declaredMismatch({}, { a: [1] }), undefined);
    assert.equal(declaredMismatch(true, { a: [1] }), undefined);
  });

  test("a value whose JSON type contradicts the declared one is named by pointer", () => {
    const cases: [unknown, string][] = [
      [{ database: ["prod"] }, "/database"],
      [{ database: { prod: true } }, "/database"],
      [{ database: 7 }, "/database"],
      [{ limit: "5000" }, "/limit"],
      [{ limit: 1000.5 }, "/limit"],
      [{ limit: [5000] }, "/limit"],
      [{ ratio: "0.5" }, "/ratio"],
      [{ tags: ["a", ["b"]] }, "/tags/1"],
      [{ tags: "a" }, "/tags"],
      [{ pair: ["a", "true"] }, "/pair/1"],
      [{ opts: { mode: ["x"] } }, "/opts/mode"],
      [{ opts: { other: "yes" } }, "/opts/other"],
      [{ either: [1, "2"] }, "/either"],
      [{ both: "x" }, "/both"],
      [{ color: ["red"] }, "/color"],
      [["database", "prod"], ""],
    ];
    for (const [args, pointer] of cases)
      assert.equal(miss(args)?.pointer, pointer, `${JSON.stringify(args)}: ${JSON.stringify(miss(args))}`);
    assert.match(miss({ database: ["prod"] })?.detail ?? "", /declared string, got array/);
  });

  test("a reference loop or absurd nesting is refused, not followed forever", () => {
    assert.match(declaredMismatch({ $ref: "#" }, {})?.detail ?? "", /too deep/);
    const loop = {
      $defs: { a: { $ref: "#/$defs/b" }, b: { $ref: "#/$defs/a" } },
      properties: { x: { $ref: "#/$defs/a" } },
    };
    assert.ok(declaredMismatch(loop, { x: 1 }));
    // A recursive schema that descends with the value is fine.
    const tree = {
      type: "object",
      properties: { kids: { type: "array", items: { $ref: "#" } }, n: { type: "integer" } },
    };
    assert.equal(declaredMismatch(tree, { kids: [{ kids: [{ n: 1 }] }] }), undefined);
    assert.equal(declaredMismatch(tree, { kids: [{ kids: [{ n: "1" }] }] })?.pointer, "/kids/0/kids/0/n");
    // Remote references make no claim.
    assert.equal(
      declaredMismatch({ properties: { x: { $ref: "https://example.com/s" } } }, { x: [1] }),
      undefined,
    );
  });

  test("the authorizer refuses before Cedar, with argument_type_mismatch", async () => {
    const a = await authorizer(`
      @id("all") permit (principal, action, resource);
      @id("no-prod") forbid (principal, action, resource == Tool::"db/query")
      when { context.arguments has database && context.arguments.database == "prod" };`);
    const s = { type: "object", properties: { database: { type: "string" }, n: { type: "integer" } } };
    const d = a.decide(call("query", { database: ["prod"] }, s));
    assert.equal(!d.allowed && d.reason, "argument_type_mismatch");
    assert.match(!d.allowed ? d.detail : "", /argument \/database: declared string, got array/);
    // Arguments no policy reads are checked too.
    assert.equal(!a.decide(call("query", { database: "public", n: "1" }, s)).allowed, true);
    assert.equal(a.decide(call("query", { database: "public", n: 1 }, s)).allowed, true);
    // A prompt's arguments are strings (MCP).
    const prompt = { ...call("p", { x: 1 }), kind: "prompt" as const };
    const p = a.decide(prompt);
    assert.equal(!p.allowed && p.reason, "argument_type_mismatch");
    assert.equal(a.decide({ ...prompt, args: { x: "1" } }).allowed, true);
  });
});

describe("types the policies compare arguments with", () => {
  test("==, != and contains on an argument of another type deny, naming the policy", async () => {
    const a = await authorizer(`
      @id("all") permit (principal, action, resource);
      @id("no-prod") forbid (principal, action, resource == Tool::"db/query")
      when { context.arguments has database && context.arguments.database == "prod" };
      @id("not-debug") forbid (principal, action, resource == Tool::"db/query")
      when { context.arguments has debug && context.arguments.debug != false };
      @id("safe-tags") forbid (principal, action, resource == Tool::"db/query")
      when { context.arguments has tags && context.arguments.tags.containsAny(["admin", "root"]) };
      @id("named-dbs") forbid (principal, action, resource == Tool::"db/query")
      when { context.arguments has db && ["billing", "hr"].contains(context.arguments.db) };
      @id("no-limit-0") forbid (principal, action, resource == Tool::"db/query")
      when { context.arguments has opts && context.arguments.opts == {"limit": 0, "mode": "x"} };`);
    const denied = (args: unknown) => {
      const d = a.decide(call("query", args));
      return d.allowed ? "allowed" : `${d.reason} ${d.policies.join(",")}`;
    };
    assert.equal(denied({ database: "public", debug: false, tags: ["x"], db: "sales" }), "allowed");
    assert.equal(denied({ database: "prod" }), "cedar_denied no-prod");
    for (const [args, policy] of [
      [{ database: ["prod"] }, "no-prod"],
      [{ database: { prod: true } }, "no-prod"],
      [{ database: null }, "no-prod"],
      [{ database: 1.5 }, "no-prod"],
      [{ debug: "false" }, "not-debug"],
      [{ debug: [false] }, "not-debug"],
      [{ tags: [["admin"]] }, "safe-tags"],
      [{ db: ["billing"] }, "named-dbs"],
      [{ opts: { limit: "0", mode: "x" } }, "no-limit-0"],
      [{ opts: [0] }, "no-limit-0"],
    ] as const)
      assert.equal(denied(args), `argument_type_mismatch ${policy}`, JSON.stringify(args));
    // Another tool: these policies are not in scope, nothing is compared.
    assert.equal(a.decide(call("other", { database: ["prod"] })).allowed, true);
  });

  test("a permit with != (true across types) cannot be satisfied by another type", async () => {
    const a = await authorizer(`
      @id("not-prod") permit (principal, action, resource == Tool::"db/query")
      when { context.arguments has database && context.arguments.database != "prod" };`);
    assert.equal(a.decide(call("query", { database: "public" })).allowed, true);
    const d = a.decide(call("query", { database: ["prod"] }));
    assert.equal(!d.allowed && d.reason, "argument_type_mismatch");
  });

  test("model attributes, claims and other arguments type a comparison too", async () => {
    const a = await authorizer(`
      @id("all") permit (principal, action, resource);
      @id("own-server") forbid (principal, action, resource == Tool::"db/query")
      when { context.arguments has server && context.arguments.server == resource.server };
      @id("own-team") forbid (principal, action, resource == Tool::"db/query")
      when { context.arguments has team && principal.claims has team && context.arguments.team == principal.claims.team };
      @id("same") forbid (principal, action, resource == Tool::"db/query")
      when { context.arguments has a && context.arguments has b && context.arguments.a == context.arguments.b };
      @id("in-group") forbid (principal, action, resource == Tool::"db/query")
      when { context.arguments has g && principal.groups.contains(context.arguments.g) };
      @id("branch") forbid (principal, action, resource == Tool::"db/query")
      when { context.arguments has c && (if context.arguments has d then context.arguments.d else context.arguments.c) == "x" };`);
    const reason = (args: unknown) => {
      const d = a.decide(call("query", args));
      return d.allowed ? "allowed" : `${d.reason} ${d.policies.join(",")}`;
    };
    assert.equal(reason({ server: "other", team: "blue", a: "1", b: "2", g: "dev", c: "y" }), "allowed");
    assert.equal(reason({ server: ["db"] }), "argument_type_mismatch own-server");
    assert.equal(reason({ team: ["red"] }), "argument_type_mismatch own-team");
    assert.equal(reason({ team: "red" }), "cedar_denied own-team");
    assert.equal(reason({ a: "1", b: ["1"] }), "argument_type_mismatch same");
    assert.equal(reason({ g: ["ops"] }), "argument_type_mismatch in-group");
    assert.equal(reason({ c: ["x"] }), "argument_type_mismatch branch");
    assert.equal(reason({ c: "y", d: ["x"] }), "argument_type_mismatch branch");
  });

  test("arguments inside record and set literals are typed by what they are compared with", async () => {
    const a = await authorizer(`
      @id("all") permit (principal, action, resource);
      @id("rec") forbid (principal, action, resource == Tool::"db/query")
      when { context.arguments has db && {"db": context.arguments.db} == {"db": "prod"} };
      @id("set") forbid (principal, action, resource == Tool::"db/query")
      when { context.arguments has t && [context.arguments.t].containsAny(["admin"]) };
      @id("elem") forbid (principal, action, resource == Tool::"db/query")
      when { context.arguments has u && context.arguments.u.contains(7) };`);
    const reason = (args: unknown) => {
      const d = a.decide(call("query", args));
      return d.allowed ? "allowed" : `${d.reason} ${d.policies.join(",")}`;
    };
    assert.equal(reason({ db: "public", t: "x", u: [1] }), "allowed");
    assert.equal(reason({ db: "prod" }), "cedar_denied rec");
    assert.equal(reason({ db: ["prod"] }), "argument_type_mismatch rec");
    assert.equal(reason({ t: "admin" }), "cedar_denied set");
    assert.equal(reason({ t: ["admin"] }), "argument_type_mismatch set");
    assert.equal(reason({ u: ["7"] }), "argument_type_mismatch elem");
    assert.equal(reason({ u: [[7]] }), "argument_type_mismatch elem");
  });

  test("compared with a value of unknown type: only a string, whole number or boolean", async () => {
    const a = await authorizer(`
      @id("all") permit (principal, action, resource);
      @id("unknown") forbid (principal, action, resource == Tool::"db/query")
      when { context.arguments has x && context.arguments.x == (if principal.claims has team then principal.claims.team else "y") };`);
    assert.equal(a.decide(call("query", { x: "a" })).allowed, true);
    const d = a.decide(call("query", { x: ["a"] }));
    assert.equal(!d.allowed && d.reason, "argument_type_mismatch");
  });
});
