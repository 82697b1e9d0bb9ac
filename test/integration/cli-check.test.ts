// `mcp-warden check -c FILE`: exit 0 for a valid config, exit 2 with one `<yaml path>: <message>`
// line per problem otherwise. And `start` refuses a bad config instead of serving it.
import assert from "node:assert/strict";
import { delimiter, dirname, join } from "node:path";
import { describe, test } from "node:test";
import { everythingStdio, gatewayConfig } from "../helpers/configs.js";
import { EVERYTHING_BIN, ROOT, makeTempDir, runCli, writeConfig } from "../helpers/gateway.js";

async function check(config: object | string, env: Record<string, string | undefined> = {}) {
  const file = writeConfig(config, makeTempDir("warden-check-"));
  const r = await runCli(["check", "-c", file], { env });
  return { ...r, output: `${r.stdout}\n${r.stderr}` };
}

/** The lines of `output` that name `path` as a problem. */
function problemLines(output: string, path: string): string[] {
  return output
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.startsWith(`${path}: `));
}

describe("mcp-warden check", () => {
  test("a valid config → exit 0", async () => {
    const r = await check(
      gatewayConfig([everythingStdio(), { name: "remote", url: "http://127.0.0.1:9/mcp" }]),
    );
    assert.equal(r.code, 0, r.output);
  });

  test("a valid config with ${VAR} set → exit 0", async () => {
    const r = await check(
      gatewayConfig([everythingStdio("everything", { env: { TOKEN: "${WARDEN_CHECK_VAR}" } })]),
      {
        WARDEN_CHECK_VAR: "set",
      },
    );
    assert.equal(r.code, 0, r.output);
  });

  test("the bundled demo config is valid", async () => {
    // Its commands are on PATH the way `npx mcp-warden` and `npm start` run it: node_modules/.bin first.
    const PATH = `${join(ROOT, "node_modules", ".bin")}${delimiter}${process.env.PATH ?? ""}`;
    const r = await runCli(["check", "-c", join(ROOT, "config", "demo.yaml")], { env: { PATH } });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  });

  test("a wrong type → exit 2 naming the YAML path", async () => {
    const r = await check(gatewayConfig([{ name: "bad", command: 42 }]));
    assert.equal(r.code, 2, r.output);
    assert.deepEqual(problemLines(r.output, "servers[0].command"), ["servers[0].command: expected string"]);
  });

  test("an unknown key → exit 2, `unknown key`", async () => {
    const r = await check(gatewayConfig([everythingStdio(), { ...everythingStdio("second"), foo: 1 }]));
    assert.equal(r.code, 2, r.output);
    assert.deepEqual(problemLines(r.output, "servers[1].foo"), ["servers[1].foo: unknown key"]);
  });

  test("a missing ${VAR} → exit 2, naming the variable", async () => {
    const r = await check(
      gatewayConfig([everythingStdio("everything", { env: { X: "${WARDEN_CHECK_MISSING}" } })]),
      {
        WARDEN_CHECK_MISSING: undefined,
      },
    );
    assert.equal(r.code, 2, r.output);
    assert.deepEqual(problemLines(r.output, "servers[0].env.X"), [
      "servers[0].env.X: environment variable WARDEN_CHECK_MISSING is not set",
    ]);
  });

  test("every problem is reported, not just the first", async () => {
    const r = await check({
      gateway: { listen: "127.0.0.1:0", bogus: true },
      auth: { anonymous: [] },
      servers: [
        { name: "a", command: 42 },
        { name: "b", command: EVERYTHING_BIN, extra: "x" },
        { name: "c", command: EVERYTHING_BIN, env: { K: "${WARDEN_CHECK_MISSING_2}" } },
      ],
    });
    assert.equal(r.code, 2, r.output);
    for (const path of ["gateway.bogus", "servers[0].command", "servers[1].extra", "servers[2].env.K"]) {
      assert.equal(problemLines(r.output, path).length, 1, `no problem line for ${path} in:\n${r.output}`);
    }
    assert.match(r.output, /WARDEN_CHECK_MISSING_2/);
  });

  test("other problems: bad server name, no servers, bad listen, duplicate names, unparsable YAML", async () => {
    const cases: [object | string, string][] = [
      [gatewayConfig([everythingStdio("Bad_Name")]), "servers[0].name"],
      [gatewayConfig([everythingStdio("a__b")]), "servers[0].name"],
      [gatewayConfig([]), "servers"],
      [gatewayConfig([everythingStdio()], { gateway: { listen: "nowhere" } }), "gateway.listen"],
      [gatewayConfig([everythingStdio("dup"), everythingStdio("dup")]), "servers[1].name"],
      [gatewayConfig([{ name: "r", url: "ftp://example.com/x" }]), "servers[0].url"],
    ];
    for (const [config, path] of cases) {
      const r = await check(config);
      assert.equal(r.code, 2, `${path}: ${r.output}`);
      assert.equal(
        problemLines(r.output, path).length >= 1,
        true,
        `no problem line for ${path} in:\n${r.output}`,
      );
    }
    const yaml = await check("servers: [\n  - name: x\n");
    assert.equal(yaml.code, 2, yaml.output);
  });

  test("a missing config file → exit 2, naming its path", async () => {
    const file = `${makeTempDir()}/does-not-exist.yaml`;
    const r = await runCli(["check", "-c", file]);
    assert.equal(r.code, 2, `${r.stdout}\n${r.stderr}`);
    assert.equal(r.stderr.trim(), `(file): cannot read ${file}: no such file`);
  });
});

/** Every problem line (`path: message`) of a failed check. */
function problemsOf(stderr: string): string[] {
  return stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("warning: ") && !l.startsWith("mcp-warden: "));
}

// The mistakes a newcomer makes that used to pass `check` and fail later (issue 17): each is one
// problem line at its YAML path, and `start` refuses the config with the same lines.
describe("mistakes caught early", () => {
  const EMPTY_DIR = makeTempDir("warden-check-cwd-");
  const user = (password_hash: string) => ({ name: "alice", password_hash, scopes: ["demo:use"] });
  const cases: Array<[string, object, Record<string, string | undefined>, string[]]> = [
    [
      "a plain password as password_hash",
      { ...gatewayConfig([everythingStdio()]), auth: { users: [user("correct horse")] } },
      {},
      [
        "auth.users[0].password_hash: not a password hash (scrypt$…); make one with `mcp-warden hash-password` (a plain password never signs in)",
      ],
    ],
    [
      "a missing variable: one problem, not also an empty value",
      { ...gatewayConfig([everythingStdio()]), auth: { users: [user("${WARDEN_CHECK_NO_HASH}")] } },
      { WARDEN_CHECK_NO_HASH: undefined },
      ["auth.users[0].password_hash: environment variable WARDEN_CHECK_NO_HASH is not set"],
    ],
    [
      "access_token_ttl at 60s",
      { ...gatewayConfig([everythingStdio()]), auth: { access_token_ttl: "60s" } },
      {},
      ["auth.access_token_ttl: more than 60s (clients refresh a shorter-lived token before every call)"],
    ],
    [
      "stdio commands that do not resolve: not on PATH, not a file, a relative path from cwd",
      gatewayConfig([
        everythingStdio(),
        { name: "nowhere", command: "warden-no-such-command", tools: { "*": ["demo:use"] } },
        { name: "gone", command: "/nonexistent/server", tools: { "*": ["demo:use"] } },
        { name: "rel", command: "./server.mjs", cwd: EMPTY_DIR, tools: { "*": ["demo:use"] } },
      ]),
      {},
      [
        "servers[1].command: warden-no-such-command is not found on the gateway's PATH",
        "servers[2].command: /nonexistent/server is not an executable file (/nonexistent/server)",
        `servers[3].command: ./server.mjs is not an executable file (${EMPTY_DIR}/server.mjs, relative to servers[3].cwd)`,
      ],
    ],
  ];
  for (const [name, config, env, expected] of cases) {
    test(`${name} → exit 2, one line per problem at its YAML path`, async () => {
      const r = await check(config, env);
      assert.equal(r.code, 2, r.output);
      assert.deepEqual(problemsOf(r.stderr), expected);
    });
  }

  test("a command found on the server's own env.PATH, or relative to its cwd, passes", async () => {
    const bin = dirname(EVERYTHING_BIN);
    const r = await check(
      gatewayConfig([
        everythingStdio("onpath", { command: "mcp-server-everything", env: { PATH: bin } }),
        everythingStdio("relative", { command: "./mcp-server-everything", cwd: bin }),
      ]),
    );
    assert.equal(r.code, 0, r.output);
  });

  test("a scope no grant holds (directly, by wildcard or through implies) is a warning at its YAML path", async () => {
    const r = await check({
      ...gatewayConfig([
        everythingStdio("everything", {
          tools: { "*": ["demo:use"], echo: ["demo:usr"], add: ["demo:read"] },
        }),
      ]),
      scopes: { implies: { "demo:use": ["demo:read"] } },
    });
    assert.equal(r.code, 0, r.output);
    const warnings = r.stderr.split("\n").filter((l) => l.includes("no user, client or anonymous grant"));
    assert.deepEqual(warnings, [
      "warning: servers[0].tools.echo[0]: no user, client or anonymous grant holds demo:usr, directly, by a wildcard or through scopes.implies: only an API key or a `mcp-warden token` naming it can call this",
    ]);
  });

  test("start refuses the config with the same lines, before listening", async () => {
    const file = writeConfig(
      gatewayConfig([everythingStdio(), { name: "nowhere", command: "warden-no-such-command" }]),
      makeTempDir("warden-check-"),
    );
    const r = await runCli(["start", "-c", file], { timeoutMs: 20_000 });
    assert.equal(r.code, 2, r.stderr);
    assert.deepEqual(problemsOf(r.stderr.replace(/^oidc-provider WARNING.*$/m, "")), [
      "servers[1].command: warden-no-such-command is not found on the gateway's PATH",
    ]);
    assert.doesNotMatch(r.stderr, /"msg":"listening"/);
  });
});

describe("mcp-warden start with a bad config", () => {
  test("exits non-zero with the problem, without listening", async () => {
    const file = writeConfig(gatewayConfig([{ name: "bad", command: 42 }]), makeTempDir("warden-check-"));
    const r = await runCli(["start", "-c", file], { timeoutMs: 20_000 });
    assert.notEqual(r.code, 0);
    assert.equal(r.signal, null, "it had to be killed: it kept running on a bad config");
    assert.match(r.stderr, /servers\[0\]\.command: expected string/);
    assert.doesNotMatch(r.stderr, /"msg":"listening"/);
  });
});
