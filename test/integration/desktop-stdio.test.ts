// `mcp-warden stdio` launched the way a desktop client launches an MCP server: from a folder of
// its own, with a bare PATH (not even node on it), the demo config given by path. The demo's
// servers resolve from the package; with no anonymous scopes the caller is its WARDEN_TOKEN.
import assert from "node:assert/strict";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { ErrorCode } from "../../src/errors.js";
import { mcpError, reasonOf, textOf } from "../helpers/client.js";
import { CLI, ROOT, makeTempDir, runCli } from "../helpers/gateway.js";

describe("stdio launched by a desktop client", () => {
  let configFile: string;
  let keyId: string;
  let client: Client;
  let transport: StdioClientTransport;
  const stderr: string[] = [];
  // What a desktop client passes: its own folder and a PATH that holds none of the gateway's tools.
  const elsewhere = makeTempDir("warden-desktop-");
  const bareEnv = { HOME: elsewhere, PATH: join(elsewhere, "bin") };

  before(async () => {
    // A copy of the repository's demo layout (config/ beside demo/), so its state is this test's.
    const home = makeTempDir("warden-demo-");
    cpSync(join(ROOT, "config"), join(home, "config"), { recursive: true });
    cpSync(join(ROOT, "demo"), join(home, "demo"), { recursive: true });
    configFile = join(home, "config", "demo.yaml");
    const demo = readFileSync(configFile, "utf8");
    assert.match(demo, /anonymous: \[[^\]]+\]/);
    writeFileSync(configFile, demo.replace(/anonymous: \[[^\]]+\]/, "anonymous: []"));

    const created = await runCli([
      "apikey",
      "create",
      "-c",
      configFile,
      "--name",
      "desktop",
      "--scope",
      "demo:use files:read",
    ]);
    assert.equal(created.code, 0, created.stderr);
    const key = created.stdout.trim();
    keyId = /created API key (\S+)/.exec(created.stderr)?.[1] ?? "";

    transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, "stdio", "-c", configFile],
      cwd: elsewhere,
      env: { ...bareEnv, WARDEN_TOKEN: key },
      stderr: "pipe",
    });
    transport.stderr?.on("data", (d: Buffer) => stderr.push(d.toString()));
    client = new Client({ name: "desktop-like", version: "1.0.0" });
    try {
      await client.connect(transport);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- stderr ---\n${stderr.join("")}`);
    }
  });

  after(async () => {
    await client?.close();
  });

  test("says at start who the caller is", () => {
    assert.match(
      stderr.join(""),
      /mcp-warden stdio: calling as \S+ \(WARDEN_TOKEN, api_key\), with demo:use files:read/,
    );
  });

  test("lists the demo's tools and calls one: its servers resolved without the caller's PATH", async () => {
    const names = (await client.listTools()).tools.map((t) => t.name);
    assert.ok(names.includes("everything__echo"), `${names.join(" ")}\n${stderr.join("")}`);
    assert.ok(names.includes("files__read_text_file"), names.join(" "));
    const echo = await client.callTool({
      name: "everything__echo",
      arguments: { message: "from a desktop" },
    });
    assert.match(textOf(echo), /from a desktop/);
  });

  test("a revoked key is refused from the next request on", async () => {
    const revoked = await runCli(["apikey", "revoke", keyId, "-c", configFile]);
    assert.equal(revoked.code, 0, revoked.stderr);
    const err = await mcpError(() =>
      client.callTool({ name: "everything__echo", arguments: { message: "x" } }),
    );
    assert.equal(err.code, ErrorCode.PolicyDenied);
    assert.equal(reasonOf(err), "invalid_token");
  });

  test("without WARDEN_TOKEN or anonymous scopes it says what to set, and exits 2", async () => {
    const r = await runCli(["stdio", "-c", configFile], { cwd: elsewhere, env: { WARDEN_TOKEN: "" } });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /auth\.anonymous is empty and WARDEN_TOKEN is not set/);
  });
});
