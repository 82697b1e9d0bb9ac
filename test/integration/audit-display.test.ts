// A caller names a tool with terminal controls and bidi overrides in it; the real gateway refuses
// the call and records the name as given. `audit query` and `audit tail` print it without any of
// those characters reaching the terminal (table: replaced; --json: escaped, and lossless).
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { mcpError, reasonOf } from "../helpers/client.js";
import { gatewayConfig, recorderStdio } from "../helpers/configs.js";
import { connectClient, makeTempDir, runCli, startGateway, type Gateway } from "../helpers/gateway.js";

// RLO, an 8-bit CSI (C1) with "clear screen", an isolate, a zero-width joiner, a tag character,
// NEL (C1), ESC (C0).
const HOSTILE_TOOL = "\u202egnp.exe\u009b2J\u2066x\u200dy\u{e0041}z\u0085w\u001b[31m";
// eslint-disable-next-line no-control-regex -- control characters are what must not get through
const SPOOFING = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\u061c]|\u{e0041}/u;

describe("audit query and tail on hostile event text", () => {
  let gw: Gateway;
  let records: string;

  before(async () => {
    const dir = makeTempDir("warden-audit-display-");
    records = join(dir, "calls.jsonl");
    gw = await startGateway({
      ...gatewayConfig([recorderStdio("rec", records, { echo: ["demo:use"] })]),
      audit: { sinks: ["sqlite", { jsonl: "audit.jsonl" }] },
    });
    const c = await connectClient(gw.mcpUrl);
    try {
      const err = await mcpError(() => c.client.callTool({ name: `rec__${HOSTILE_TOOL}`, arguments: {} }));
      assert.equal(err.code, -32001);
      assert.equal(reasonOf(err), "tool_not_mapped");
    } finally {
      await c.close();
    }
  });

  after(async () => {
    await gw?.stop();
  });

  test("the refused call never reached the upstream, and the log holds the name as given", () => {
    const seen = existsSync(records) ? readFileSync(records, "utf8") : "";
    assert.ok(!seen.includes('"tools/call"'));
    assert.ok(
      readFileSync(join(gw.dir, "audit.jsonl"), "utf8").includes(JSON.stringify(HOSTILE_TOOL).slice(1, -1)),
    );
  });

  for (const sink of ["sqlite", "jsonl"]) {
    test(`${sink}: query and tail tables show no control, bidi or invisible character`, async () => {
      for (const args of [
        ["audit", "query", "--status", "denied"],
        ["audit", "tail", "--limit", "5"],
      ]) {
        const r = await runCli([...args, "-c", gw.configFile, "--sink", sink], { cwd: gw.dir });
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /\?gnp\.exe\?2J\?x\?y\?z\?w\?\[31m/, r.stdout);
        assert.match(r.stdout, /^SEQ +TS +EVENT +STATUS +REASON +USER +SERVER +TOOL +MS\n/);
        const body = r.stdout.replace(/\n/g, "");
        assert.doesNotMatch(body, SPOOFING, JSON.stringify(r.stdout));
      }
    });

    test(`${sink}: --json lines escape them and read back unchanged`, async () => {
      for (const args of [
        ["audit", "query", "--status", "denied", "--json"],
        ["audit", "tail", "--json"],
      ]) {
        const r = await runCli([...args, "-c", gw.configFile, "--sink", sink], { cwd: gw.dir });
        assert.equal(r.code, 0, r.stderr);
        assert.doesNotMatch(r.stdout.replace(/\n/g, ""), SPOOFING, r.stdout);
        const events = r.stdout
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as { tool?: string });
        assert.ok(
          events.some((e) => e.tool === HOSTILE_TOOL),
          r.stdout,
        );
      }
    });
  }
});
