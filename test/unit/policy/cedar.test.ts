// The Cedar model without a gateway: entity ids built as JSON (no quote, slash or unicode breaks
// out), arguments as typed values that fail closed, policy files reported by file and line, and the
// list approximation (partial evaluation) never showing an item every call to which is denied.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { anonymousPrincipal, tokenPrincipal, type Principal } from "../../../src/auth/principal.js";
import { CedarAuthorizer, type CedarQuery } from "../../../src/policy/cedar/authorizer.js";
import { loadCedar, type Cedar } from "../../../src/policy/cedar/engine.js";
import { loadPolicyFiles } from "../../../src/policy/cedar/files.js";
import { CedarValueError, toCedarValue } from "../../../src/policy/cedar/values.js";
import { makeTempDir } from "../../helpers/paths.js";

let cedar: Cedar;
const dir = makeTempDir("warden-cedar-unit-");
const configFile = join(dir, "warden.yaml");
const mapping = { claims: ["department"], groupsClaim: "groups" };

async function authorizer(text: string): Promise<CedarAuthorizer> {
  const file = join(dir, `p${Math.random().toString(36).slice(2)}.cedar`);
  writeFileSync(file, text);
  const loaded = await loadPolicyFiles(cedar, [file], configFile);
  assert.ok(loaded.ok, loaded.ok ? "" : loaded.problems.join("\n"));
  return new CedarAuthorizer(cedar, loaded.policies, mapping);
}

async function problems(text: string): Promise<string[]> {
  const file = join(dir, "bad.cedar");
  writeFileSync(file, text);
  const loaded = await loadPolicyFiles(cedar, [file], configFile);
  assert.equal(loaded.ok, false);
  return loaded.ok ? [] : [...loaded.problems];
}

const user = (sub: string, claims: Record<string, unknown> = {}): Principal =>
  tokenPrincipal({ subject: sub, clientId: "cli", scopes: ["a"], method: "bearer" }, undefined, claims);
const tool = (p: Principal, server: string, name: string, args?: unknown): CedarQuery => ({
  principal: p,
  kind: "tool",
  server,
  name,
  args,
  protocol: "2025-11-25",
});

before(async () => {
  cedar = await loadCedar();
});

describe("Cedar values", () => {
  test("JSON becomes typed Cedar values; what Cedar cannot carry keeps a type that errs", () => {
    assert.deepEqual(toCedarValue({ a: 1, b: "x", c: [true], d: null, e: 1.5, f: 2 ** 60 }), {
      a: 1,
      b: "x",
      c: [true],
      d: {},
      e: "1.5",
      f: String(2 ** 60),
    });
  });

  test("escape keys and deep nesting are refused; __proto__ stays an own key", () => {
    assert.throws(() => toCedarValue({ x: { __entity: { type: "User", id: "root" } } }), CedarValueError);
    assert.throws(() => toCedarValue({ __extn: { fn: "ip", arg: "10.0.0.1" } }), CedarValueError);
    let v: unknown = 1;
    for (let i = 0; i < 40; i++) v = [v];
    assert.throws(() => toCedarValue(v), /nested deeper/);
    const out = toCedarValue(JSON.parse('{"__proto__": {"admin": true}}')) as Record<string, unknown>;
    assert.ok(Object.hasOwn(out, "__proto__"));
    assert.equal(({} as Record<string, unknown>).admin, undefined);
  });
});

describe("Cedar entity ids", () => {
  test("quotes, slashes and unicode in names are data, never policy text", async () => {
    const a = await authorizer(`
      @id("quote") permit (principal, action, resource == Tool::"srv/a\\"b");
      @id("slash") permit (principal, action, resource == Tool::"srv/x/y") when { resource.server == "srv" && resource.name == "x/y" };
      @id("nfc") forbid (principal, action, resource == Tool::"srv/caf\u00e9");
      @id("all-srv") permit (principal, action, resource is Tool) when { resource.server == "srv" && resource.name like "caf*" };
    `);
    const bob = user("bob");
    assert.deepEqual(a.decide(tool(bob, "srv", 'a"b')), { allowed: true, policies: ["quote"] });
    assert.equal(a.decide(tool(bob, "srv", 'a" || true || "')).allowed, false);
    assert.equal(a.decide(tool(bob, "srv", 'a\\"b')).allowed, false);
    assert.deepEqual(a.decide(tool(bob, "srv", "x/y")), { allowed: true, policies: ["slash"] });
    // Same uid from another split is still told apart by the `server` attribute.
    assert.equal(a.decide(tool(bob, "srv/x", "y")).allowed, false);
    // The exact name is judged: the NFC name is forbidden; the NFD spelling is another tool.
    assert.equal(a.decide(tool(bob, "srv", "caf\u00e9")).allowed, false);
    assert.deepEqual(a.decide(tool(bob, "srv", "cafe\u0301")), { allowed: true, policies: ["all-srv"] });
    // A subject with quotes is an id, not policy text.
    assert.equal(a.decide(tool(user('bob" || principal == User::"x'), "srv", "x/y")).allowed, true);
  });

  test("anonymous callers are their own type, by source address", async () => {
    const a = await authorizer(`
      @id("anon") permit (principal == Anonymous::"203.0.113.7", action, resource);
      @id("users") permit (principal is User, action, resource) when { principal.client == "cli" };
    `);
    assert.equal(a.decide(tool(anonymousPrincipal([], "203.0.113.7"), "s", "t")).allowed, true);
    assert.equal(a.decide(tool(anonymousPrincipal([], "203.0.113.8"), "s", "t")).allowed, false);
    assert.equal(a.decide(tool(user("x"), "s", "t")).allowed, true);
  });

  test("claims and groups are read from the token, only the configured ones", async () => {
    const a = await authorizer(`
      @id("eng") permit (principal is User, action, resource)
      when { principal.groups.contains("eng") && principal.claims has department && principal.claims.department == "r&d" };
      @id("secret") permit (principal is User, action, resource) when { principal.claims has secret };
    `);
    assert.equal(a.decide(tool(user("u", { groups: ["eng"], department: "r&d" }), "s", "t")).allowed, true);
    assert.equal(a.decide(tool(user("u", { groups: "eng ops", department: "r&d" }), "s", "t")).allowed, true);
    assert.equal(a.decide(tool(user("u", { groups: ["ops"], department: "r&d" }), "s", "t")).allowed, false);
    // `secret` is not in policy.claims: never on the principal.
    assert.equal(a.decide(tool(user("u", { secret: "x" }), "s", "t")).allowed, false);
  });
});

describe("Cedar decisions fail closed", () => {
  test("a forbid that errs denies instead of being skipped", async () => {
    const a = await authorizer(`
      @id("all") permit (principal, action, resource);
      @id("big") forbid (principal, action, resource) when { context.arguments.size > 100 };
    `);
    assert.equal(a.decide(tool(user("u"), "s", "t", { size: 5 })).allowed, true);
    const missing = a.decide(tool(user("u"), "s", "t", {}));
    assert.equal(missing.allowed, false);
    assert.equal(!missing.allowed && missing.reason, "cedar_error");
    assert.deepEqual(missing.policies, ["big"]);
    assert.equal(a.decide(tool(user("u"), "s", "t", { size: "500" })).allowed, false);
    assert.equal(a.decide(tool(user("u"), "s", "t", { size: [500] })).allowed, false);
    assert.equal(a.decide(tool(user("u"), "s", "t", { size: null })).allowed, false);
  });

  test("only policies whose scope matches are evaluated; none permitting denies", async () => {
    const a = await authorizer(`
      @id("t1") permit (principal, action == Action::"tools/call", resource == Tool::"s/t1");
      @id("p") permit (principal, action == Action::"prompts/get", resource is Prompt);
    `);
    assert.equal(a.decide(tool(user("u"), "s", "t1")).allowed, true);
    assert.equal(a.decide(tool(user("u"), "s", "t2")).allowed, false);
    assert.equal(a.decide({ ...tool(user("u"), "s", "x"), kind: "prompt" }).allowed, true);
    assert.equal(a.decide({ ...tool(user("u"), "s", "file:///x"), kind: "resource" }).allowed, false);
  });
});

describe("Cedar remembered decisions", () => {
  test("a decision that reads no arguments is remembered per principal, never shared", async () => {
    const a = await authorizer(
      `@id("bob-only") permit (principal == User::"bob", action, resource == Tool::"s/t");`,
    );
    assert.equal(a.decide(tool(user("bob"), "s", "t")).allowed, true);
    assert.equal(a.decide(tool(user("alice"), "s", "t")).allowed, false);
    assert.equal(a.mayAllow(tool(user("bob"), "s", "t")), true);
    assert.equal(a.mayAllow(tool(user("alice"), "s", "t")), false);
    assert.equal(a.mayAllow(tool(anonymousPrincipal([], "bob"), "s", "t")), false);
  });
});

describe("Cedar reads only what policies read", () => {
  test("arguments no policy names are not converted nor sent", async () => {
    const named = await authorizer(
      `@id("p") permit (principal, action, resource == Tool::"s/t") when { context.arguments.path like "/srv/*" };`,
    );
    // An unread argument cannot change the decision, so its shape is not judged here.
    assert.equal(
      named.decide(tool(user("u"), "s", "t", { path: "/srv/a", blob: { __entity: {} } })).allowed,
      true,
    );
    assert.equal(
      named.decide(tool(user("u"), "s", "t", { path: { __entity: { type: "User", id: "x" } } })).allowed,
      false,
    );
    const nested = await authorizer(
      `@id("n") permit (principal, action, resource == Tool::"s/t") when { context has arguments.path && context.arguments.path == "/x" };`,
    );
    assert.equal(nested.decide(tool(user("u"), "s", "t", { path: "/x", other: 1 })).allowed, true);
  });
});

describe("Cedar residuals", () => {
  test("a caller and item asked again are decided by the residual set, exactly as by the whole set", async () => {
    const text = `
      @id("read") permit (principal is User, action, resource == Tool::"fs/read")
      when { principal.claims has department && principal.claims.department == "eng" &&
             context.arguments has path && context.arguments.path like "/srv/*" };
      @id("wide") permit (principal, action, resource is Tool) when { resource.server == "fs" && context.arguments has ok };
      @id("other") permit (principal, action, resource == Tool::"fs/write") when { context.arguments has path };
      @id("dots") forbid (principal, action, resource) when { context.arguments has path && context.arguments.path like "*..*" };
      @id("errs-late") forbid (principal, action, resource == Tool::"fs/read")
      when { context.arguments has boom && principal.claims.nosuch == 1 };
      @id("branch") forbid (principal, action, resource == Tool::"fs/read")
      when { if context.arguments has n then context.arguments.n > 5 else principal.scopes.contains("zz") };
      @id("proto") forbid (principal, action, resource) when { context.arguments has p && context.arguments.p == context.protocol };`;
    // The warm authorizer's engine calls are watched: the residual sets must really be used.
    const file = join(dir, "residuals.cedar");
    writeFileSync(file, text);
    const loaded = await loadPolicyFiles(cedar, [file], configFile);
    assert.ok(loaded.ok);
    const sets: { id: string; entities: number }[] = [];
    const spy: Cedar = {
      ...cedar,
      statefulIsAuthorized: (c) => {
        sets.push({ id: c.preparsedPolicySetId, entities: (c.entities as unknown[]).length });
        return cedar.statefulIsAuthorized(c);
      },
    };
    const warm = new CedarAuthorizer(spy, loaded.policies, mapping);
    const eng = user("alice", { department: "eng" });
    const ops = user("bob", { department: "ops" });
    const argsList: Record<string, unknown>[] = [
      { path: "/srv/a" },
      { path: "/srv/../etc" },
      { path: "/etc/x" },
      { path: "/srv/a", boom: 1 },
      { path: "/srv/a", n: 3 },
      { path: "/srv/a", n: 9 },
      { path: "/srv/a", n: "9" },
      { ok: true },
      { ok: true, path: "a..b" },
      { path: "/srv/a", p: "2025-11-25" },
      { path: 7 },
      {},
    ];
    for (const p of [eng, ops])
      for (const name of ["read", "write", "list"]) {
        // Twice with throwaway arguments: the residual set is prepared on the second.
        warm.decide(tool(p, "fs", name, { path: "/warm/1" }));
        warm.decide(tool(p, "fs", name, { path: "/warm/2" }));
        for (const args of argsList) {
          const cold = (await authorizer(text)).decide(tool(p, "fs", name, args));
          const hot = warm.decide(tool(p, "fs", name, args));
          const view = (d: typeof hot) =>
            d.allowed
              ? `allow ${[...d.policies].sort().join(",")}`
              : `${d.reason} ${[...d.policies].sort().join(",")}`;
          assert.equal(view(hot), view(cold), `${p.subject} ${name} ${JSON.stringify(args)}`);
        }
      }
    const residual = sets.filter((s) => /r\d+$/.test(s.id));
    assert.ok(residual.length >= argsList.length * 4, `residual sets decided ${residual.length} calls`);
    assert.ok(
      residual.some((s) => s.entities === 0),
      "some residual set needs only the arguments",
    );
  });
});

describe("Cedar list filtering", () => {
  test("shown when some call could be allowed; hidden when every call is denied", async () => {
    const a = await authorizer(`
      @id("args") permit (principal, action, resource == Tool::"s/args") when { context.arguments.n == 1 };
      @id("bob") permit (principal == User::"bob", action, resource == Tool::"s/bob") when { context.arguments has n };
      @id("open") permit (principal, action, resource == Tool::"s/closed");
      @id("closed") forbid (principal, action, resource == Tool::"s/closed");
      @id("ro") permit (principal, action, resource is Tool) when { resource.annotations has readOnlyHint && resource.annotations.readOnlyHint };
    `);
    const alice = user("alice");
    const may = (p: Principal, name: string, annotations?: unknown) =>
      a.mayAllow({ ...tool(p, "s", name), annotations });
    assert.equal(may(alice, "args"), true);
    assert.equal(may(alice, "bob"), false);
    assert.equal(may(user("bob"), "bob"), true);
    assert.equal(may(alice, "closed"), false);
    assert.equal(may(alice, "other"), false);
    assert.equal(may(alice, "other", { readOnlyHint: true }), true);
    assert.equal(a.readsAnnotations, true);
  });
});

describe("Cedar policy files", () => {
  test("a parse error names file, line and column", async () => {
    const p = await problems(
      `permit (principal, action, resource);\n\nforbid (principal, actoin, resource);\n`,
    );
    assert.match(p[0] ?? "", /^policy\.cedar\[0\]: bad\.cedar:3:\d+: .*actoin/);
  });

  test("a duplicate @id names both places", async () => {
    const p = await problems(
      `@id("x") permit (principal, action, resource);\n@id("x") forbid (principal, action, resource);\n`,
    );
    assert.match(p[0] ?? "", /bad\.cedar:2: policy id "x" is also used at bad\.cedar:1/);
  });

  test("the schema catches unknown attributes, actions and entity types, not argument paths", async () => {
    const p = await problems(
      [
        `@id("ok") permit (principal, action == Action::"tools/call", resource) when { context.arguments.anything like "x" };`,
        `@id("attr") permit (principal is User, action, resource) when { principal.departmnet == "x" };`,
        `@id("action") permit (principal, action == Action::"tools/list", resource);`,
        `@id("type") permit (principal in Group::"ops", action, resource);`,
      ].join("\n"),
    );
    assert.equal(p.length, 3, p.join("\n"));
    assert.match(p.join("\n"), /bad\.cedar:2: policy attr: .*departmnet/);
    assert.match(p.join("\n"), /bad\.cedar:3: policy action/);
    assert.match(p.join("\n"), /bad\.cedar:4: policy type/);
  });

  test("a glob that matches nothing, and templates, are problems", async () => {
    const none = await loadPolicyFiles(cedar, [join(dir, "none", "*.cedar")], configFile);
    assert.equal(none.ok, false);
    const t = await problems(`permit (principal == ?principal, action, resource);`);
    assert.match(t[0] ?? "", /template/);
  });
});

describe("Cedar lists on a virtual route: the fixed arguments", () => {
  const listed = (a: CedarAuthorizer, fixed?: Record<string, unknown>) =>
    a.mayAllow({ ...tool(user("u"), "db", "query"), fixed });

  test("a forbid that reads only fixed arguments hides the tool; one reading another keeps it", async () => {
    const a = await authorizer(`
      @id("all") permit (principal, action, resource);
      @id("no-prod") forbid (principal, action, resource) when { context.arguments has database && context.arguments.database == "prod" };
      @id("no-drop") forbid (principal, action, resource) when { context.arguments has sql && context.arguments.sql like "*DROP*" };
    `);
    assert.equal(listed(a), true);
    assert.equal(listed(a, { database: "prod" }), false);
    assert.equal(listed(a, { database: "staging" }), true);
    // Fixed SQL that matches a forbid on sql: hidden; a forbid on an argument the caller sets: shown.
    assert.equal(listed(a, { sql: "DROP TABLE x" }), false);
    assert.equal(listed(a, { limit: 10 }), true);
    // The call itself agrees: every call with the fixed value is refused.
    assert.equal(
      a.decide(tool(user("u"), "db", "query", { database: "prod", sql: "SELECT 1" })).allowed,
      false,
    );
  });

  test("permits that read only fixed arguments and none matches: hidden; a permit on a free one: shown", async () => {
    const onlyFixed = await authorizer(
      `@id("staging") permit (principal, action, resource) when { context.arguments has database && context.arguments.database == "staging" };`,
    );
    assert.equal(listed(onlyFixed, { database: "prod" }), false);
    assert.equal(listed(onlyFixed, { database: "staging" }), true);
    const free = await authorizer(`
      @id("staging") permit (principal, action, resource) when { context.arguments has database && context.arguments.database == "staging" };
      @id("ticket") permit (principal, action, resource) when { context.arguments has ticket };
    `);
    // A caller who sends a ticket is allowed whatever the fixed database: the tool stays listed.
    assert.equal(listed(free, { database: "prod" }), true);
  });

  test("a fixed value of the wrong type for a policy's comparison hides; a forbid erring keeps it shown", async () => {
    const typed = await authorizer(`
      @id("all") permit (principal, action, resource);
      @id("no-prod") forbid (principal, action, resource) when { context.arguments has database && context.arguments.database == "prod" };
    `);
    assert.equal(listed(typed, { database: ["prod"] }), false);
    const erring = await authorizer(`
      @id("all") permit (principal, action, resource);
      @id("small") forbid (principal, action, resource) when { context.arguments.limit > 100 };
    `);
    // Without `limit` the forbid errs on the fixed arguments alone: not proof, the calls decide.
    assert.equal(listed(erring, { database: "prod" }), true);
  });
});

describe("Cedar policies against a tool's listed input schema", () => {
  const schema = {
    type: "object",
    properties: {
      limit: { type: "integer" },
      path: { type: "string" },
      tags: { type: "array", items: { type: "string" } },
      value: {},
    },
    required: ["path"],
  };

  test("a comparison of the wrong type, `like` on a number, `<` on a string: each named once", async () => {
    const a = await authorizer(`
      @id("ok") permit (principal, action, resource == Tool::"s/t") when { context.arguments.path like "/srv/*" && context.arguments has limit && context.arguments.limit <= 10 };
      @id("limit-as-text") forbid (principal, action, resource == Tool::"s/t") when { context.arguments has limit && context.arguments.limit == "10" };
      @id("like-number") forbid (principal, action, resource == Tool::"s/t") when { context.arguments has limit && context.arguments.limit like "9*" };
      @id("less-text") forbid (principal, action, resource == Tool::"s/t") when { context.arguments.path < 3 };
      @id("untyped") forbid (principal, action, resource == Tool::"s/t") when { context.arguments has value && context.arguments.value == "x" };
      @id("other-tool") forbid (principal, action, resource == Tool::"s/u") when { context.arguments has limit && context.arguments.limit == "10" };
    `);
    const problems = a.toolProblems("s", "t", schema) ?? [];
    const named = (id: string) => problems.some((p) => p.includes(`policy ${id}:`));
    assert.ok(named("limit-as-text"), problems.join("\n"));
    assert.ok(named("like-number"), problems.join("\n"));
    assert.ok(named("less-text"), problems.join("\n"));
    assert.equal(named("ok"), false, problems.join("\n"));
    assert.equal(named("untyped"), false, "an argument without a type is judged at call time only");
    assert.equal(named("other-tool"), false);
    assert.match(problems[0] ?? "", /\.cedar:\d+: policy /);
    // Reported once per schema: the same object, or the same schema listed again.
    assert.equal(a.toolProblems("s", "t", schema), undefined);
    assert.equal(a.toolProblems("s", "t", structuredClone(schema)), undefined);
    // Another tool with no policy of its own: nothing to report.
    assert.equal(a.toolProblems("s", "v", schema), undefined);
  });

  test("on a closed schema an argument the tool does not take is named; on an open one it is not", async () => {
    const text = `@id("typo") forbid (principal, action, resource == Tool::"s/t") when { context.arguments has pth && context.arguments.pth like "/etc/*" };`;
    const closed = await authorizer(text);
    const problems = closed.toolProblems("s", "t", { ...schema, additionalProperties: false }) ?? [];
    assert.ok(
      problems.some((p) => p.includes("policy typo:")),
      problems.join("\n"),
    );
    const open = await authorizer(text);
    assert.deepEqual(open.toolProblems("s", "t", schema), []);
  });
});
