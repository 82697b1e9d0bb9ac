import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { parseConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/config/errors.js";
import { AccessPolicy } from "../../src/policy/access.js";
import { anonymousPrincipal, tokenPrincipal } from "../../src/auth/principal.js";
import { globMatch } from "../../src/policy/glob.js";

const CONFIG = `
scopes:
  implies: { "files:delete": ["files:write"], "files:write": ["files:read"], "files:admin": ["files:delete"] }
  dangerous: [files:delete, system:execute]
servers:
  - name: files
    command: x
    tools: { read: [files:read], write: [files:write], delete: [files:delete], run: [system:execute] }
    prompts: { summarise: [files:read] }
    resources: { "file:///public/*": [], "file:///*": [files:read] }
  - name: web
    url: http://127.0.0.1:1/mcp
    scopes: [web:search]
    tools: { search: [web:search], "*": [files:read] }
`;

const policy = () => new AccessPolicy(parseConfig(CONFIG, "t.yaml", {}));
const can = (p: AccessPolicy, scopes: string[], server: string, tool: string) =>
  p.decide("tool", server, tool, anonymousPrincipal(scopes)).allowed;

test("implies is transitive", () => {
  const p = policy();
  assert.equal(can(p, ["files:write"], "files", "read"), true);
  assert.equal(can(p, ["files:read"], "files", "write"), false);
});

test("dangerous scopes come only by name: not implied, not by wildcard", () => {
  const p = policy();
  assert.equal(
    can(p, ["files:admin"], "files", "delete"),
    false,
    "files:admin implies dangerous files:delete",
  );
  assert.equal(can(p, ["files:admin"], "files", "write"), false, "an implication through a dangerous scope");
  assert.equal(can(p, ["files:*"], "files", "delete"), false);
  assert.equal(can(p, ["files:*"], "files", "write"), true);
  assert.equal(can(p, ["system:*"], "files", "run"), false);
  assert.equal(can(p, ["files:delete"], "files", "delete"), true);
  assert.equal(
    can(p, ["files:delete"], "files", "read"),
    true,
    "a dangerous scope held by name still implies",
  );
});

test("a server's scopes are a ceiling", () => {
  const p = policy();
  assert.equal(can(p, ["web:search", "files:read"], "web", "search"), true);
  assert.equal(
    can(p, ["web:search", "files:read"], "web", "other"),
    false,
    "files:read is outside web's ceiling",
  );
  assert.equal(can(p, ["files:read"], "files", "read"), true);
});

test("prompts and resources have their own maps; without them the tools '*' entry applies", () => {
  const p = policy();
  const reader = anonymousPrincipal(["files:read"]);
  const nobody = anonymousPrincipal([]);
  assert.equal(p.decide("prompt", "files", "summarise", reader).allowed, true);
  assert.equal(p.decide("prompt", "files", "other", reader).allowed, false);
  assert.equal(p.decide("resource", "files", "file:///public/a.txt", nobody).allowed, true);
  assert.equal(p.decide("resource", "files", "file:///etc/passwd", nobody).allowed, false);
  assert.equal(p.decide("resource", "files", "file:///etc/passwd", reader).allowed, true);
  assert.equal(p.decide("resource", "files", "http://x/", reader).allowed, false, "no pattern: hidden");
  assert.equal(
    p.decide("prompt", "web", "anything", anonymousPrincipal(["web:search", "files:read"])).allowed,
    false,
  );
});

function problems(text: string): string[] {
  try {
    parseConfig(text, "t.yaml", {});
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return [...err.problems];
  }
  assert.fail("expected a config error");
}

test("cycles and unknown references are config errors with their paths", () => {
  const found = problems(`
scopes:
  implies: { "a:x": ["a:y"], "a:y": ["a:x"], "a:z": ["a:typo"] }
  dangerous: [nope:gone]
servers:
  - name: s
    command: x
    tools: { t: [a:x, a:z] }
`);
  assert.ok(
    found.some((p) => p.startsWith("scopes.implies.a:x: cycle a:x → a:y → a:x")),
    found.join("\n"),
  );
  assert.ok(
    found.includes("scopes.implies.a:z[0]: unknown scope a:typo (no tool, grant or rule uses it)"),
    found.join("\n"),
  );
  assert.ok(
    found.some((p) => p.startsWith("scopes.dangerous[0]: unknown scope nope:gone")),
    found.join("\n"),
  );
});

test("property: an implication never grants a dangerous scope", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.constantFrom<string>(
          "files:read",
          "files:write",
          "files:admin",
          "files:*",
          "files:delete",
          "system:*",
          "x:y",
        ),
      ),
      (granted) => {
        const p = policy();
        const held = p.scopes.effective(new Set(granted), undefined);
        for (const d of ["files:delete", "system:execute"]) assert.equal(held.has(d), granted.includes(d));
      },
    ),
  );
});

test("glob: * matches any run, the rest is literal, and matching stays linear", () => {
  assert.equal(globMatch("file:///*", "file:///a/b"), true);
  assert.equal(globMatch("file:///*.md", "file:///a/b.md"), true);
  assert.equal(globMatch("file:///*.md", "file:///a/b.mdx"), false);
  assert.equal(globMatch("a.c", "abc"), false);
  assert.equal(globMatch("*", ""), true);
  assert.equal(globMatch("*a*a*a*a*a*a*a*b", "a".repeat(5000)), false);
});

// A token's `scp` claim is a JSON array: an external issuer can put a space (or "|", a quote, a
// bracket) inside one scope string. The memo of effective scopes must not read it as another set.
test("a scope string with a space never inherits another caller's set from the memo", () => {
  const p = policy();
  const writer = tokenPrincipal({
    subject: "alice",
    clientId: undefined,
    scopes: ["files:read", "files:write"],
    method: "bearer",
  });
  const forger = tokenPrincipal({
    subject: "mallory",
    clientId: undefined,
    scopes: ["files:read files:write"],
    method: "bearer",
  });
  assert.equal(p.decide("tool", "files", "write", writer).allowed, true);
  assert.equal(p.decide("tool", "files", "write", forger).allowed, false);
  assert.equal(p.decide("tool", "files", "read", forger).allowed, false);
  // In the other order too (the memo filled by the forger first).
  const q = policy();
  assert.equal(q.decide("tool", "files", "write", forger).allowed, false);
  assert.equal(q.decide("tool", "files", "write", writer).allowed, true);
  // With a ceiling: the "|" between granted and ceiling cannot be forged either.
  const r = policy();
  const both = tokenPrincipal({
    subject: "bob",
    clientId: undefined,
    scopes: ["web:search", "files:read"],
    method: "bearer",
  });
  const piped = tokenPrincipal({
    subject: "eve",
    clientId: undefined,
    scopes: ["files:read web:search", "web:search|web:search"],
    method: "bearer",
  });
  assert.equal(r.decide("tool", "web", "search", both).allowed, true);
  assert.equal(r.decide("tool", "web", "search", piped).allowed, false);
});

test("property: the memo never changes a result (its key is injective)", () => {
  // Grants made of the same scopes grouped differently: ["a", "b"] against ["a b"], ["a|b"], …,
  // which a key that joins the list with a separator cannot tell apart.
  const atom = fc.constantFrom<string>("files:read", "files:write", "web:search", "files:*", "*", "|");
  const regroup = (atoms: readonly string[], joins: readonly boolean[], sep: string) => {
    const out: string[] = [];
    atoms.forEach((a, i) => {
      if (i > 0 && joins[i - 1]) out[out.length - 1] += sep + a;
      else out.push(a);
    });
    return out;
  };
  const grouping = fc.tuple(
    fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
    fc.constantFrom(" ", "|", ","),
  );
  fc.assert(
    fc.property(
      fc.array(atom, { minLength: 1, maxLength: 5 }),
      fc.array(atom, { maxLength: 3 }),
      fc.array(fc.tuple(grouping, fc.option(grouping, { nil: undefined })), { minLength: 2, maxLength: 6 }),
      (atoms, ceilingAtoms, calls) => {
        // One algebra for every call (its memo shared), each answer checked against a fresh one.
        const shared = policy().scopes;
        for (const [[joins, sep], ceilingGrouping] of calls) {
          const granted = new Set(regroup(atoms, joins, sep));
          const limit = ceilingGrouping && regroup(ceilingAtoms, ...ceilingGrouping);
          const got = [...shared.effective(granted, limit)].sort();
          const fresh = [...policy().scopes.effective(granted, limit)].sort();
          assert.deepEqual(got, fresh, JSON.stringify({ granted: [...granted], limit }));
        }
      },
    ),
    { numRuns: 300 },
  );
});
