import { test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/config/errors.js";

const minimal = "servers:\n  - name: a\n    command: node\n";

function problems(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(text, "test.yaml", env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return [...err.problems];
  }
  assert.fail("expected a config error");
}

test("a minimal config compiles with defaults and is frozen", () => {
  const config = parseConfig(minimal, "/x/test.yaml", {});
  assert.equal(config.gateway.host, "127.0.0.1");
  assert.equal(config.gateway.port, 8808);
  assert.equal(config.gateway.sessionIdleMs, 15 * 60_000);
  assert.equal(config.gateway.maxSessions, 10_000);
  assert.equal(config.gateway.maxSessionsPerCaller, 64);
  assert.equal(config.gateway.maxUpstreamProcesses, 256);
  assert.equal(config.servers[0]?.isolation, "per_session", "isolation by default");
  assert.deepEqual(config.auth.anonymous, []);
  assert.equal(config.servers[0]?.kind, "stdio");
  assert.ok(Object.isFrozen(config) && Object.isFrozen(config.gateway) && Object.isFrozen(config.servers[0]));
});

test("isolation: any mode for a server, but never shared for a token-exchange server", () => {
  const shared = parseConfig(`${minimal}    isolation: shared\n`, "/x/test.yaml", {});
  assert.equal(shared.servers[0]?.isolation, "shared");
  const found = problems(
    [
      "servers:",
      "  - name: remote",
      "    url: https://mcp.example/mcp",
      "    isolation: shared",
      "    auth: { type: token_exchange, token_url: https://idp.example/token, client_id: gw, client_secret: s }",
      "  - name: odd",
      "    command: x",
      "    isolation: per_tool",
      "",
    ].join("\n"),
  );
  assert.ok(
    found.some((p) => p.startsWith("servers[0].isolation: a token-exchange server acts for each caller")),
    found.join("\n"),
  );
  assert.ok(
    found.some((p) => p.startsWith("servers[1].isolation: ")),
    found.join("\n"),
  );
});

test("every problem is reported with its YAML path", () => {
  const found = problems(
    "gateway:\n  listen: nope\n  bogus: 1\nservers:\n  - name: a\n    command: 5\n  - name: b\n    url: http://x/mcp\n    extra: 1\n",
  );
  assert.ok(found.includes("servers[0].command: expected string"), found.join("\n"));
  assert.ok(found.includes("gateway.bogus: unknown key"), found.join("\n"));
  assert.ok(found.includes("servers[1].extra: unknown key"), found.join("\n"));
  assert.ok(
    found.some((p) => p.startsWith("gateway.listen: ")),
    found.join("\n"),
  );
});

test("a missing environment variable is an error naming it and its path", () => {
  const text = 'servers:\n  - name: a\n    command: node\n    env: { TOKEN: "${SECRET_TOKEN}" }\n';
  assert.deepEqual(problems(text), ["servers[0].env.TOKEN: environment variable SECRET_TOKEN is not set"]);
  const config = parseConfig(text, "t.yaml", { SECRET_TOKEN: "s3cret" });
  assert.equal(config.servers[0]?.kind === "stdio" && config.servers[0].env.TOKEN, "s3cret");
});

test("environment values cannot change the document's structure; $${X} is literal", () => {
  const text = 'servers:\n  - name: a\n    command: "${CMD}"\n    args: ["$${HOME}"]\n';
  const config = parseConfig(text, "t.yaml", { CMD: "node\n    evil: true" });
  const server = config.servers[0];
  assert.ok(server?.kind === "stdio");
  assert.equal(server.command, "node\n    evil: true");
  assert.deepEqual(server.args, ["${HOME}"]);
});

test("server names are checked: charset, no '__', unique", () => {
  const found = problems(
    "servers:\n  - name: a__b\n    command: x\n  - name: Up\n    command: x\n  - name: c\n    command: x\n  - name: c\n    command: x\n",
  );
  assert.ok(
    found.some((p) => p.startsWith("servers[0].name:")),
    found.join("\n"),
  );
  assert.ok(
    found.some((p) => p.startsWith("servers[1].name:")),
    found.join("\n"),
  );
  assert.ok(found.includes("servers[3].name: duplicate server name c"), found.join("\n"));
});

test("a __proto__ key is rejected, not merged into the prototype", () => {
  const found = problems('servers:\n  - name: a\n    command: x\n    "__proto__": { polluted: true }\n');
  assert.ok(
    found.some((p) => p.includes("__proto__")),
    found.join("\n"),
  );
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test("YAML syntax errors and duplicate keys are reported", () => {
  assert.ok(problems("servers: [\n").length > 0);
  assert.ok(problems("servers: []\nservers: []\n").some((p) => p.startsWith("(yaml)")));
});

test("remote servers: url must be http(s); sse transport is accepted", () => {
  const config = parseConfig(
    "servers:\n  - name: r\n    url: http://127.0.0.1:1/sse\n    transport: sse\n",
    "t.yaml",
    {},
  );
  assert.equal(config.servers[0]?.kind, "sse");
  assert.ok(
    problems("servers:\n  - name: r\n    url: file:///etc/passwd\n").some((p) =>
      p.startsWith("servers[0].url"),
    ),
  );
});

test("credentials never travel in clear beyond loopback; credential headers are checked", () => {
  const found = problems(`servers:
  - name: a
    url: http://192.0.2.1/mcp
    auth: { type: api_key, key: k }
  - name: b
    url: https://mcp.example.com/mcp
    auth: { type: oauth2_client_credentials, token_url: http://idp.example.com/token, client_id: c, client_secret: s }
  - name: c
    url: https://mcp.example.com/mcp
    auth: { type: api_key, header: Mcp-Session-Id, key: k }
  - name: d
    url: http://127.0.0.1:9/mcp
    auth: { type: bearer, token: t }
`);
  assert.deepEqual(found, [
    "servers[0].url: credentials need https (or http to a loopback address)",
    "servers[1].auth.token_url: needs https (or http to a loopback address)",
    "servers[2].auth.header: a header the gateway sets itself",
  ]);
});

test("a custom redaction pattern that RE2 cannot compile is a config error at its path", () => {
  const found = problems(`protect:
  custom_patterns: [{ name: ticket, pattern: "(a" }]
servers:
  - name: a
    command: x
`);
  assert.equal(found.length, 1);
  assert.match(found[0]!, /^servers\[0\]\.protect\.custom_patterns\[0\]\.pattern: not a valid RE2 pattern/);
});

const SERVERS = "servers:\n  - { name: a, command: node }\n";

test("--listen or WARDEN_LISTEN moves the listening address, checked like gateway.listen", () => {
  const text = "gateway:\n  listen: 127.0.0.1:8808\n" + SERVERS;
  const moved = parseConfig(text, "t.yaml", {}, { listen: { value: "0.0.0.0:9100", from: "--listen" } });
  assert.equal(moved.gateway.host, "0.0.0.0");
  assert.equal(moved.gateway.port, 9100);
  const bare = parseConfig(SERVERS, "t.yaml", {}, { listen: { value: "[::1]:0", from: "WARDEN_LISTEN" } });
  assert.equal(bare.gateway.host, "::1");
  assert.throws(
    () => parseConfig(text, "t.yaml", {}, { listen: { value: "nope", from: "WARDEN_LISTEN" } }),
    (err: unknown) => err instanceof ConfigError && err.problems.join() === "WARDEN_LISTEN: host:port",
  );
});
