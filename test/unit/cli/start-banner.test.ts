// What `npm start` prints on a terminal: every MCP URL, the console, and how to get in.
import assert from "node:assert/strict";
import { test } from "node:test";
import { startBanner } from "../../../src/cli/banner.js";
import { parseConfig } from "../../../src/config/load.js";

const config = (anonymous: string) =>
  parseConfig(
    `auth: { anonymous: ${anonymous} }\nservers:\n  - { name: files, command: node, tools: { "*": [files:read] } }\n`,
    "/srv/warden.yaml",
  );

test("names the aggregate and per-server URLs, the console and the bootstrap token", () => {
  const text = startBanner({
    config: config("[files:read]"),
    base: "http://127.0.0.1:8808",
    routes: ["/mcp", "/servers/files/mcp"],
    bootstrap: true,
  });
  assert.match(text, /is serving \/srv\/warden\.yaml/);
  assert.match(text, /MCP, every server +http:\/\/127\.0\.0\.1:8808\/mcp\n/);
  assert.match(text, /MCP, files +http:\/\/127\.0\.0\.1:8808\/servers\/files\/mcp\n/);
  assert.match(text, /admin console +http:\/\/127\.0\.0\.1:8808\/admin\/\n/);
  assert.match(text, /sign in with +the admin bootstrap token printed above/);
  assert.match(text, /without a token +allowed, with files:read/);
  assert.match(text, /inspector --cli http:\/\/127\.0\.0\.1:8808\/mcp --method tools\/list/);
});

test("without a bootstrap token or anonymous scopes it says what is needed instead", () => {
  const text = startBanner({
    config: config("[]"),
    base: "https://mcp.example.com",
    routes: ["/mcp"],
    bootstrap: false,
  });
  assert.match(text, /sign in with +a user, client or API key holding warden:admin/);
  assert.match(text, /without a token +refused/);
});
