import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { parseConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/config/errors.js";
import { AccessPolicy } from "../../src/policy/access.js";
import { anonymousPrincipal } from "../../src/auth/principal.js";
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
