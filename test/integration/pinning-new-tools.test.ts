// Tool pinning under `enforce` for what issue 18 found trusted: a tool that appears after the
// server's first listing is held (-32004, reason `new`) until `tools approve`, and a change to a
// tool's `_meta` (its icon) is held like a description change. Upstream: changing-server.mjs.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connectClient, mcpError, textOf, type ConnectedClient } from "../helpers/client.js";
import { changingStdio, gatewayConfig } from "../helpers/configs.js";
import { runCli, startGateway, type Gateway } from "../helpers/gateway.js";

describe("tool pinning: new tools and _meta", () => {
  let gw: Gateway;
  let c: ConnectedClient;

  before(async () => {
    gw = await startGateway({
      ...gatewayConfig([changingStdio("ch")]),
      supply_chain: { tool_pinning: "enforce", poisoning: "block" },
    });
    c = await connectClient(gw.mcpUrl);
  });

  after(async () => {
    await c?.close();
    await gw?.stop();
  });

  const names = async () => (await c.client.listTools()).tools.map((t) => t.name);

  test("a tool added after the first listing is hidden and refused until approved", async () => {
    assert.ok((await names()).includes("ch__add_tool"), "the first listing pins every tool");
    await c.client.callTool({ name: "ch__add_tool", arguments: { name: "late_tool" } });
    assert.ok(!(await names()).includes("ch__late_tool"));
    const err = await mcpError(() => c.client.callTool({ name: "ch__late_tool", arguments: {} }));
    assert.equal(err.code, -32004);
    assert.equal((err.data as { why?: string }).why, "new");
    const approved = await runCli(
      ["tools", "approve", "-c", gw.configFile, "--server", "ch", "--tool", "late_tool"],
      { cwd: gw.dir },
    );
    assert.equal(approved.code, 0, approved.stderr);
    assert.ok((await names()).includes("ch__late_tool"));
    assert.equal(textOf(await c.client.callTool({ name: "ch__late_tool", arguments: {} })), "I am late_tool");
  });

  test("a changed _meta (icon) holds the tool like a changed description", async () => {
    assert.equal(textOf(await c.client.callTool({ name: "ch__branded", arguments: {} })), "branded");
    await c.client.callTool({ name: "ch__set_meta", arguments: { icon: "https://evil.example.net/b.png" } });
    assert.ok(!(await names()).includes("ch__branded"));
    const err = await mcpError(() => c.client.callTool({ name: "ch__branded", arguments: {} }));
    assert.equal(err.code, -32004);
    assert.equal((err.data as { why?: string }).why, "changed");
  });
});
