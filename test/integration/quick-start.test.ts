// The README's quick start as a newcomer runs it: `npm start` in the repository (the bundled demo),
// moved to a free port with --listen, then the official SDK client through /mcp. The demo's
// allowed_paths makes the gateway itself refuse /etc/passwd, and `policy explain` agrees.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ErrorCode } from "../../src/errors.js";
import { connectClient, mcpError, reasonOf, textOf, type ConnectedClient } from "../helpers/client.js";
import { launchGateway, ROOT, runCli, type Gateway } from "../helpers/gateway.js";

const DEMO = join(ROOT, "config", "demo.yaml");
const HELLO = join(ROOT, "demo", "files", "hello.txt");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

describe("the README's quick start", () => {
  let gw: Gateway;
  let client: ConnectedClient;
  const startedAt = new Date();

  before(async () => {
    gw = await launchGateway([npm, "start", "--silent", "--", "--listen", "127.0.0.1:0"], {
      dir: ROOT,
      configFile: DEMO,
      // npm, then the gateway: two Node start-ups before the "listening" line.
      listenTimeoutMs: 60_000,
    });
    client = await connectClient(gw.mcpUrl);
  });

  after(async () => {
    await client?.close();
    await gw?.stop();
  });

  test("serves the demo config, logging JSON lines when stderr is not a terminal", () => {
    const listening = gw.logs().find((l) => l.msg === "listening");
    assert.equal(listening?.config, DEMO);
    assert.doesNotMatch(gw.stderrLines.join("\n"), /is serving/, "no banner off a terminal");
  });

  test("GET / says where the MCP endpoint, the console and the metadata are", async () => {
    const res = await fetch(`${gw.url}/`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as Record<string, string>;
    assert.equal(body.mcp, gw.mcpUrl);
    assert.equal(body.admin, `${gw.url}/admin/`);
    assert.equal(body.resource_metadata, `${gw.url}/.well-known/oauth-protected-resource/mcp`);
  });

  test("a client lists both servers' tools and calls them, anonymously", async () => {
    const names = (await client.client.listTools()).tools.map((t) => t.name);
    assert.ok(names.includes("everything__echo"), names.join(" "));
    assert.ok(names.includes("files__read_text_file"), names.join(" "));
    assert.ok(!names.includes("files__write_file"), "write tools map to no scope: hidden");
    const echo = await client.client.callTool({ name: "everything__echo", arguments: { message: "hi" } });
    assert.match(textOf(echo), /hi/);
    const hello = await client.client.callTool({ name: "files__read_text_file", arguments: { path: HELLO } });
    assert.equal(hello.isError, undefined, textOf(hello));
  });

  test("/etc/passwd is refused by the gateway (audited as denied), as policy explain says", async () => {
    const args = { path: "/etc/passwd" };
    const err = await mcpError(() =>
      client.client.callTool({ name: "files__read_text_file", arguments: args }),
    );
    // The server's own refusal would be a tool result with isError; this is the gateway's, before forwarding.
    assert.equal(err.code, ErrorCode.PolicyDenied);
    assert.equal(reasonOf(err), "path_not_allowed");

    const audit = await runCli([
      "audit",
      "query",
      "-c",
      DEMO,
      "--status",
      "denied",
      "--since",
      "1h",
      "--json",
    ]);
    assert.equal(audit.code, 0, audit.stderr);
    const events = audit.stdout
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((e) => String(e.time ?? e.ts) >= startedAt.toISOString() && e.tool === "read_text_file");
    assert.equal(events.length, 1, audit.stdout);

    const tool = "files__read_text_file";
    const explain = ["policy", "explain", "-c", DEMO, "--sub", "anonymous", "--scope", "files:read"];
    const r = await runCli([...explain, "--tool", tool, "--args", JSON.stringify(args), "--json"]);
    assert.equal(r.code, 1, r.stderr);
    const out = JSON.parse(r.stdout) as { decision?: string; reason?: string };
    assert.equal(out.decision, "deny");
    assert.equal(out.reason, "path_not_allowed");
  });
});
