// supply_chain.allow: every server must match an entry (npm package and version, command path,
// URL), or the config is refused at the server's path; remote servers need https beyond loopback.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parseConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/config/errors.js";
import type { StdioServerConfig } from "../../src/config/types.js";
import { packageOf, resolveCommand } from "../../src/supply/allowlist.js";
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
