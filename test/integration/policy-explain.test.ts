// `mcp-warden policy explain`: the decision, the rule and the scopes, offline; exit 0 allow, 1 deny.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { makeTempDir, runCli, writeConfig } from "../helpers/gateway.js";

describe("mcp-warden policy explain", () => {
  let file: string;
  let root: string;

  before(() => {
    const dir = makeTempDir("warden-explain-");
    root = join(dir, "projects");
    mkdirSync(root);
    file = writeConfig(
      {
        scopes: { implies: { "files:write": ["files:read"] }, dangerous: ["files:delete"] },
        servers: [
          {
            name: "files",
            command: "node",
            allowed_paths: [root],
            tools: { read_file: ["files:read"], delete_file: ["files:delete"], "*": ["files:admin"] },
          },
        ],
      },
      dir,
    );
  });

  const explain = (scope: string, tool: string, args: object) =>
    runCli([
      "policy",
      "explain",
      "-c",
      file,
      "--sub",
      "alice",
      "--scope",
      scope,
      "--tool",
      tool,
      "--args",
      JSON.stringify(args),
      "--json",
    ]);

  test("allowed through an implication, with the rule and held scopes", async () => {
    const r = await explain("files:write", "files__read_file", { path: join(root, "a.txt") });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(out.decision, "allow");
    assert.equal(out.rule, "servers[0].tools.read_file");
    assert.deepEqual(out.needs, ["files:read"]);
    assert.deepEqual(out.holds, ["files:read", "files:write"]);
  });

  test("denied by a guard, naming the argument", async () => {
    const r = await explain("files:read", "files__read_file", { path: "/etc/passwd" });
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout) as { decision: string; reason: string; arguments: { pointer: string } };
    assert.equal(out.decision, "deny");
    assert.equal(out.reason, "path_not_allowed");
    assert.equal(out.arguments.pointer, "/path");
  });

  test("denied for a dangerous scope a wildcard cannot give; an unknown prefix is not mapped", async () => {
    const r = await explain("files:*", "files__delete_file", {});
    assert.equal(r.code, 1);
    assert.equal((JSON.parse(r.stdout) as { reason: string }).reason, "insufficient_scope");
    const fallback = await explain("files:admin", "files__anything", {});
    assert.equal(JSON.parse(fallback.stdout).rule, 'servers[0].tools."*"');
    const unknown = await explain("files:admin", "nope__read_file", {});
    assert.equal(unknown.code, 1);
    assert.equal((JSON.parse(unknown.stdout) as { reason: string }).reason, "tool_not_mapped");
  });

  test("the human form says decision, rule and what is missing", async () => {
    const r = await runCli([
      "policy",
      "explain",
      "-c",
      file,
      "--sub",
      "bob",
      "--scope",
      "",
      "--tool",
      "files__read_file",
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^decision: deny \(insufficient_scope\)$/m);
    assert.match(r.stdout, /^rule: servers\[0\]\.tools\.read_file needs \[files:read\]$/m);
    assert.match(r.stdout, /^missing: files:read$/m);
  });
});
