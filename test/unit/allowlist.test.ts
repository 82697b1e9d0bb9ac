// supply_chain.allow: every server must match an entry (npm package and version, command path,
// URL), or the config is refused at the server's path; remote servers need https beyond loopback.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parseConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/config/errors.js";
import type { StdioServerConfig } from "../../src/config/types.js";
import { packageOf, resolveCommand, urlMatches } from "../../src/supply/allowlist.js";
import { EVERYTHING_BIN, ROOT } from "../helpers/paths.js";

const everythingVersion = (
  JSON.parse(
    readFileSync(join(ROOT, "node_modules/@modelcontextprotocol/server-everything/package.json"), "utf8"),
  ) as { version: string }
).version;

function problems(text: string): string[] {
  try {
    parseConfig(text, join(ROOT, "test.yaml"), {});
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return [...err.problems];
  }
}

const servers = `servers:
  - name: everything
    command: ${EVERYTHING_BIN}
    args: [stdio]
  - name: pinned
    command: npx
    args: [-y, "@modelcontextprotocol/server-filesystem@2026.8.31", /srv]
  - name: node
    command: node
    args: [server.js]
  - name: remote
    url: https://mcp.internal.example/mcp
`;

test("the package of a server: from npx's spec, or from the node_modules a command resolves into", () => {
  const config = parseConfig(servers, join(ROOT, "test.yaml"), {});
  const [bin, npx, node] = config.servers as StdioServerConfig[];
  assert.deepEqual(packageOf(bin as StdioServerConfig), {
    name: "@modelcontextprotocol/server-everything",
    version: everythingVersion,
  });
  assert.deepEqual(packageOf(npx as StdioServerConfig), {
    name: "@modelcontextprotocol/server-filesystem",
    version: "2026.8.31",
  });
  assert.equal(packageOf(node as StdioServerConfig), undefined);
  assert.equal(resolveCommand("node", undefined), resolveCommand(process.execPath, undefined));
});

test("every server matching an entry passes", () => {
  const node = resolveCommand("node", undefined) as string;
  const found = problems(`supply_chain:
  allow: ["npm:@modelcontextprotocol/*", "command:${node}", "url:https://*.internal.example/*"]
${servers}`);
  assert.deepEqual(found, []);
});

test("a server matching no entry is a config error at its path, naming what it runs", () => {
  const found = problems(`supply_chain:
  allow: ["npm:@modelcontextprotocol/server-everything@${everythingVersion}", "url:https://other.example/*"]
${servers}`);
  assert.deepEqual(
    found.map((p) => p.replace(/command \/\S+/, "command <node>")),
    [
      "servers[1]: npm package @modelcontextprotocol/server-filesystem@2026.8.31 matches no supply_chain.allow entry",
      "servers[2]: command <node> matches no supply_chain.allow entry",
      "servers[3]: url https://mcp.internal.example/mcp matches no supply_chain.allow entry",
    ],
  );
});

test("a version-pinned entry refuses another version and an unpinned npx", () => {
  const found = problems(`supply_chain:
  allow: ["npm:@modelcontextprotocol/server-filesystem@2026.1.*"]
servers:
  - name: a
    command: npx
    args: ["@modelcontextprotocol/server-filesystem@2026.8.31"]
  - name: b
    command: npx
    args: ["@modelcontextprotocol/server-filesystem"]
`);
  assert.equal(found.length, 2);
});

test("remote servers need https, except on loopback, list or no list", () => {
  const found = problems(`servers:
  - name: a
    url: http://mcp.example.com/mcp
  - name: b
    url: http://127.0.0.1:9000/mcp
  - name: c
    url: http://[::1]:9000/mcp
`);
  assert.deepEqual(found, ["servers[0].url: must be https (plain http only to a loopback address)"]);
});

test("a command entry matches the path that runs: `..` cannot walk out of it", () => {
  const node = resolveCommand("node", undefined) as string;
  const dir = node.slice(0, node.lastIndexOf("/"));
  // Written under the allowed directory, it runs a program outside it.
  const outside = join(mkdtempSync(join(tmpdir(), "warden-allow-")), "evil");
  writeFileSync(outside, "#!/bin/sh\n", { mode: 0o755 });
  const escape = `${dir}${"/..".repeat(dir.split("/").length)}${outside}`;
  const found = problems(`supply_chain:
  allow: ["command:${dir}/*"]
servers:
  - name: ok
    command: ${node}
  - name: escape
    command: ${escape}
`);
  assert.deepEqual(found, [
    `servers[1]: command ${realpathSync(outside)} matches no supply_chain.allow entry`,
  ]);
});

test("a command is resolved with the PATH the server is launched with", () => {
  const found = problems(`supply_chain:
  allow: ["command:${resolveCommand("node", undefined) as string}"]
servers:
  - name: node
    command: node
    env: { PATH: /nonexistent-dir }
`);
  // Launched with that PATH, `node` is not the allowed binary (it is none at all).
  assert.equal(found.length, 1, found.join("\n"));
});

test("a url entry matches the parsed origin: no suffix hosts, no userinfo tricks", () => {
  assert.ok(urlMatches("https://mcp.example.com*", "https://mcp.example.com/mcp"));
  assert.ok(urlMatches("https://*.internal.example/*", "https://mcp.internal.example/mcp"));
  assert.ok(!urlMatches("https://mcp.example.com*", "https://mcp.example.com.evil.net/mcp"));
  assert.ok(!urlMatches("https://mcp.example.com*", "https://mcp.example.com@evil.net/mcp"));
  assert.ok(!urlMatches("https://mcp.example.com*", "https://mcp.example.com:8443/mcp"));
  assert.ok(!urlMatches("https://*.internal.example/*", "https://a.b.internal.example/mcp"));
  assert.ok(!urlMatches("https://mcp.example.com/mcp", "https://mcp.example.com/other"));
});
