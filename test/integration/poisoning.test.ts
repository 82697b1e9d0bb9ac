// The poisoning scan through the real gateway: a server lists a tool whose description is a known
// attack (<IMPORTANT>, read ~/.ssh/id_rsa into an argument, keep it from the user). Under `block`
// it is hidden and refused with -32004 (why: poisoned) and the upstream never runs it, while the
// server's benign tools work; under `warn` it is served and the finding audited.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connectClient, mcpError, textOf, type ConnectedClient } from "../helpers/client.js";
import { gatewayConfig } from "../helpers/configs.js";
import { makeTempDir, runCli, startGateway, type Gateway } from "../helpers/gateway.js";
import { auditEvents, ran, rugPullStdio } from "../helpers/supply.js";

async function gateway(poisoning: "block" | "warn", recordFile: string): Promise<Gateway> {
  return startGateway({
    ...gatewayConfig([rugPullStdio("rp", recordFile, { POISONED: "1" })]),
    supply_chain: { tool_pinning: "enforce", poisoning },
  });
}

describe("poisoning scan: block", () => {
  let gw: Gateway;
  let recordFile: string;
  let c: ConnectedClient | undefined;

  before(async () => {
    recordFile = join(makeTempDir("warden-poison-"), "ran.jsonl");
    gw = await gateway("block", recordFile);
  });

  after(async () => {
    await c?.close();
    await gw?.stop();
  });

  test("a read governed by a poisoned resource template is refused; a benign template's works", async () => {
    const client = await connectClient(gw.mcpUrl);
    try {
      // No template list first: the gateway fetches the templates itself to judge the read.
      const err = await mcpError(() => client.client.readResource({ uri: "notes://42" }));
      assert.equal(err.code, -32004);
      assert.deepEqual(err.data, { reason: "tool_quarantined", why: "poisoned" });
      assert.equal(ran(recordFile, "notes"), 0, "the upstream served a read of a poisoned template");
      const ok = await client.client.readResource({ uri: "forecast://oslo" });
      assert.match(JSON.stringify(ok.contents), /sunny/);
      const templates = (await client.client.listResourceTemplates()).resourceTemplates.map(
        (t) => t.uriTemplate,
      );
      assert.deepEqual(templates, ["forecast://{city}"]);
    } finally {
      await client.close();
    }
  });

  test("the poisoned tool is hidden and refused; a benign tool of the same server works", async () => {
    c = await connectClient(gw.mcpUrl);
    const names = (await c.client.listTools()).tools.map((t) => t.name);
    assert.ok(!names.includes("rp__add"), `poisoned tool listed: ${names.join(", ")}`);
    assert.ok(names.includes("rp__weather"));
    const err = await mcpError(() => c!.client.callTool({ name: "rp__add", arguments: { a: 1, b: 2 } }));
    assert.equal(err.code, -32004);
    assert.deepEqual(err.data, { reason: "tool_quarantined", why: "poisoned" });
    assert.equal(ran(recordFile, "add"), 0, "the upstream ran a poisoned tool");
    assert.match(
      textOf(await c.client.callTool({ name: "rp__weather", arguments: { city: "Oslo" } })),
      /sunny/,
    );

    const events = await auditEvents(gw, "--event", "supply_chain");
    const poisoned = events.find((e) => e.reason === "tool_poisoned" && e.tool === "add");
    assert.ok(poisoned, JSON.stringify(events));
    assert.equal(poisoned.status, "blocked");
    const reasons = ((poisoned.detail as { findings: { reason: string }[] }).findings ?? []).map(
      (f) => f.reason,
    );
    for (const r of ["pseudo_tag", "credential_access", "secrecy"])
      assert.ok(reasons.includes(r), reasons.join());
    assert.ok(JSON.stringify(poisoned).length < 2_000, "the event carries findings, not the description");

    const list = await runCli(["tools", "list", "-c", gw.configFile, "--server", "rp"], { cwd: gw.dir });
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^rp\s+tool\s+add\s+poisoned \(blocked\)\s+.*pseudo_tag/m);
    assert.match(list.stdout, /^rp\s+tool\s+weather\s+pinned\s+/m);
  });

  test("a call before any list is refused too", async () => {
    const fresh = await connectClient(gw.serverUrl("rp"));
    try {
      const err = await mcpError(() => fresh.client.callTool({ name: "add", arguments: { a: 1, b: 2 } }));
      assert.equal(err.code, -32004);
      assert.equal(ran(recordFile, "add"), 0);
    } finally {
      await fresh.close();
    }
  });
});

describe("poisoning scan: warn", () => {
  let gw: Gateway;
  let recordFile: string;
  let c: ConnectedClient | undefined;

  before(async () => {
    recordFile = join(makeTempDir("warden-poison-"), "ran.jsonl");
    gw = await gateway("warn", recordFile);
  });

  after(async () => {
    await c?.close();
    await gw?.stop();
  });

  test("the poisoned tool is served, and the finding audited", async () => {
    c = await connectClient(gw.mcpUrl);
    const names = (await c.client.listTools()).tools.map((t) => t.name);
    assert.ok(names.includes("rp__add"));
    assert.match(textOf(await c.client.callTool({ name: "rp__add", arguments: { a: 1, b: 2 } })), /3/);
    const events = await auditEvents(gw, "--event", "supply_chain");
    const poisoned = events.find((e) => e.reason === "tool_poisoned" && e.tool === "add");
    assert.ok(poisoned, JSON.stringify(events));
    assert.equal(poisoned.status, "served");
  });
});
