// Integrity pins: a stdio server's pinned files are hashed before every launch. A mismatch (or a
// missing file) leaves the server `blocked` in /readyz, audited, calls refused with -32005; fixing
// the file brings it back on the restart backoff.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, test } from "node:test";
import { connectClient, mcpError, reasonOf, textOf, type ConnectedClient } from "../helpers/client.js";
import { gatewayConfig } from "../helpers/configs.js";
import { fixture, makeTempDir, runCli, startGateway, type Gateway } from "../helpers/gateway.js";
import { waitFor } from "../helpers/wait.js";

const sha256 = (file: string) => `sha256:${createHash("sha256").update(readFileSync(file)).digest("hex")}`;

/** A tiny script of the test's own that runs the recorder fixture: the file the pin covers. */
function pinnedServer(dir: string, recordFile: string, extraPins: Record<string, string> = {}) {
  const script = join(dir, "server.mjs");
  writeFileSync(script, `import ${JSON.stringify(pathToFileURL(fixture("recorder-server.mjs")).href)};\n`);
  const config = {
    name: "pinned",
    command: process.execPath,
    args: [script],
    env: { RECORD_FILE: recordFile },
    // The interpreter too: ~100 MB, hashed as a stream and then cached by (inode, size, mtime, ctime).
    integrity: { [script]: sha256(script), [process.execPath]: sha256(process.execPath), ...extraPins },
    tools: { "*": ["demo:use"] },
  };
  return { script, config, original: readFileSync(script, "utf8") };
}

async function blocked(gw: Gateway, server: string) {
  return waitFor(
    async () => {
      const r = await gw.readyz();
      return r.body.upstreams?.[server]?.state === "blocked" ? r : undefined;
    },
    { what: `/readyz to show ${server} blocked`, timeoutMs: 20_000 },
  );
}

describe("integrity pins", () => {
  let gw: Gateway;
  let c: ConnectedClient;
  let server: ReturnType<typeof pinnedServer>;

  before(async () => {
    const dir = makeTempDir("warden-integrity-");
    server = pinnedServer(dir, join(dir, "records.jsonl"));
    gw = await startGateway(gatewayConfig([server.config]));
    c = await connectClient(gw.mcpUrl);
  });

  after(async () => {
    await c?.close();
    await gw?.stop();
  });

  test("a matching pin: the server is ready and serves calls", async () => {
    const r = await gw.readyz();
    assert.equal(r.status, 200);
    assert.equal(r.body.upstreams?.pinned?.state, "ready");
    const echo = await c.client.callTool({ name: "pinned__echo", arguments: { message: "hi" } });
    assert.equal(textOf(echo), "recorder: hi");
  });

  test("a changed file is not launched again: blocked, audited, -32005; restored, it comes back", async () => {
    appendFileSync(server.script, "// tampered\n");
    // The upstream dies; the restart finds the file changed.
    await mcpError(() => c.client.callTool({ name: "pinned__crash", arguments: {} }));
    const down = await blocked(gw, "pinned");
    assert.equal(down.status, 503);
    assert.equal(down.body.upstreams?.pinned?.error, `integrity mismatch: ${server.script}`);

    // A new session is refused at initialize (its only server is down) or at the call.
    const err = await mcpError(async () => {
      const fresh = await connectClient(gw.mcpUrl);
      try {
        return await fresh.client.callTool({ name: "pinned__echo", arguments: { message: "x" } });
      } finally {
        await fresh.close();
      }
    });
    assert.equal(err.code, -32005, err.message);
    assert.equal(reasonOf(err), "integrity_mismatch");
    assert.ok(!err.message.includes(server.script), "the file name goes to the audit log, not to clients");

    const q = await runCli(["audit", "query", "-c", gw.configFile, "--json"]);
    assert.equal(q.code, 0, q.stderr);
    const events = q.stdout
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((e) => e.event === "supply_chain");
    assert.equal(events.length, 1, "one event per refusal, not one per re-check");
    const [event] = events as [Record<string, unknown>];
    assert.equal(event.server, "pinned");
    assert.equal(event.reason, "integrity_mismatch");
    assert.equal(event.status, "blocked");
    assert.deepEqual(event.detail, {
      file: server.script,
      expected: server.config.integrity[server.script],
      actual: sha256(server.script),
    });

    writeFileSync(server.script, server.original);
    await waitFor(async () => (await gw.readyz()).body.upstreams?.pinned?.state === "ready", {
      what: "the restored server to come back on the backoff",
      timeoutMs: 40_000,
    });
    const back = await connectClient(gw.mcpUrl);
    try {
      const echo = await back.client.callTool({ name: "pinned__echo", arguments: { message: "back" } });
      assert.equal(textOf(echo), "recorder: back");
    } finally {
      await back.close();
    }
  });
});

describe("integrity pins at start-up", () => {
  let gw: Gateway;
  let recordFile: string;
  let missing: string;

  before(async () => {
    const dir = makeTempDir("warden-integrity-start-");
    recordFile = join(dir, "records.jsonl");
    const tampered = pinnedServer(dir, recordFile);
    appendFileSync(tampered.script, "// tampered before the gateway started\n");
    missing = join(dir, "missing.js");
    const other = pinnedServer(makeTempDir("warden-integrity-missing-"), join(dir, "other.jsonl"), {
      [missing]: `sha256:${"0".repeat(64)}`,
    });
    gw = await startGateway(gatewayConfig([tampered.config, { ...other.config, name: "missing" }]), {
      waitReady: false,
    });
  });

  after(async () => {
    await gw?.stop();
  });

  test("a tampered file: the server is never launched", async () => {
    const r = await blocked(gw, "pinned");
    assert.match(String(r.body.upstreams?.pinned?.error), /^integrity mismatch: .*server\.mjs$/);
    assert.equal(existsSync(recordFile), false, "the server process never ran");
  });

  test("a missing pinned file blocks the server too", async () => {
    const r = await blocked(gw, "missing");
    assert.equal(r.body.upstreams?.missing?.error, `integrity mismatch: ${missing} (unreadable: ENOENT)`);
  });
});
