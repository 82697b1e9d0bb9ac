// The Cedar commands without a gateway: `policy test` (exit 0 when every case matches, 1 on a
// mismatch, 2 when the cases or policies cannot be loaded), `check` naming a bad policy's file and
// line, and `policy explain` naming the policies that decided.
import assert from "node:assert/strict";
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { ROOT, makeTempDir, runCli, writeConfig } from "../helpers/gateway.js";

describe("Cedar on the command line", () => {
  let dir: string;
  let config: string;

  before(() => {
    dir = makeTempDir("warden-cedar-cli-");
    copyFileSync(join(ROOT, "examples", "cedar", "policies.cedar"), join(dir, "policies.cedar"));
    config = writeConfig(
      {
        policy: { cedar: ["policies.cedar"], claims: ["department"] },
        servers: [{ name: "files", command: process.execPath, tools: { "*": [] } }],
      },
      dir,
    );
  });

  test("policy test: the sample cases pass (exit 0)", async () => {
    const r = await runCli(["policy", "test", join(ROOT, "examples", "cedar", "cases.yaml")]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /13 passed, 0 failed/);
  });

  test("policy test: a mismatch exits 1 and says which case, with the config's policies", async () => {
    const cases = join(dir, "cases.yaml");
    writeFileSync(
      cases,
      [
        "cases:",
        "  - name: editors write anywhere",
        "    principal: { sub: bob, groups: [editors] }",
        "    action: tools/call",
        "    resource: { server: files, tool: write_file }",
        "    args: { path: /etc/passwd }",
        "    expect: allow",
        "  - name: the forbid decides",
        "    principal: { sub: bob, groups: [editors] }",
        "    action: tools/call",
        "    resource: { server: files, tool: write_file }",
        "    args: { path: /srv/shared/../x }",
        "    expect: deny",
        "    policies: [no-dot-dot]",
      ].join("\n"),
    );
    const r = await runCli(["policy", "test", cases, "-c", config]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /FAIL editors write anywhere: expected allow, got deny/);
    assert.match(r.stdout, /ok {3}the forbid decides/);
    assert.match(r.stdout, /1 passed, 1 failed/);
  });

  test("policy test: a bad case file or policy exits 2", async () => {
    const bad = join(dir, "bad-cases.yaml");
    writeFileSync(
      bad,
      "cases:\n  - principal: { sub: x }\n    action: tools/delete\n    resource: { server: s, tool: t }\n    expect: allow\n",
    );
    const r = await runCli(["policy", "test", bad, "-c", config]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /cases\.0\.action/);
    writeFileSync(
      join(dir, "broken.cedar"),
      "permit (principal, action, resource)\nwhen { context.arguments.x == };\n",
    );
    const cases = join(dir, "with-broken.yaml");
    writeFileSync(
      cases,
      "policies: [broken.cedar]\ncases:\n  - principal: { sub: x }\n    action: tools/call\n    resource: { server: s, tool: t }\n    expect: deny\n",
    );
    const b = await runCli(["policy", "test", cases]);
    assert.equal(b.code, 2, b.stdout + b.stderr);
    assert.match(b.stderr, /broken\.cedar:2:\d+/);
  });

  test("check: a policy the schema rejects is a config error with file and line", async () => {
    const ok = await runCli(["check", "-c", config]);
    assert.equal(ok.code, 0, ok.stderr);
    writeFileSync(
      join(dir, "typo.cedar"),
      '@id("t")\npermit (principal, action, resource)\nwhen { principal.grups.contains("x") };\n',
    );
    const typo = writeConfig(
      {
        policy: { cedar: ["policies.cedar", "typo.cedar"] },
        servers: [{ name: "files", command: process.execPath, tools: { "*": [] } }],
      },
      dir,
      "typo.yaml",
    );
    const r = await runCli(["check", "-c", typo]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /policy\.cedar: typo\.cedar:3: policy t: .*grups/);
    const unknown = writeConfig(
      {
        policy: { cedar: ["policies.cedar"], extra: 1 },
        servers: [{ name: "files", command: process.execPath, tools: { "*": [] } }],
      },
      dir,
      "unknown.yaml",
    );
    // The gateway refuses to start on it, the same way.
    const start = await runCli(["start", "-c", typo]);
    assert.equal(start.code, 2, start.stdout + start.stderr);
    assert.match(start.stderr, /typo\.cedar:3/);
    const u = await runCli(["check", "-c", unknown]);
    assert.equal(u.code, 2, "unknown keys are refused");
    assert.match(u.stderr, /policy.*extra/);
  });

  test("policy explain names the Cedar policies that decided", async () => {
    const explain = (args: object, groups: string) =>
      runCli([
        "policy",
        "explain",
        "-c",
        config,
        "--sub",
        "bob",
        "--tool",
        "files__write_file",
        "--args",
        JSON.stringify(args),
        "--groups",
        groups,
        "--json",
      ]);
    const allow = await explain({ path: "/srv/shared/a" }, "editors");
    assert.equal(allow.code, 0, allow.stdout + allow.stderr);
    assert.deepEqual(JSON.parse(allow.stdout).cedar, { decision: "allow", policies: ["files-write-shared"] });
    const deny = await explain({ path: "/srv/shared/../a" }, "editors");
    assert.equal(deny.code, 1);
    const out = JSON.parse(deny.stdout);
    assert.equal(out.reason, "cedar_denied");
    assert.deepEqual(out.cedar.policies, ["no-dot-dot"]);
  });
});
