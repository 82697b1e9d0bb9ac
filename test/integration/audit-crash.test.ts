// Crash test: calls stream through the gateway and it is killed with SIGKILL in the middle of the
// burst. Every call whose response reached the client must be in both audit sinks afterwards
// (the response waits for its event to be written), and both chains must still verify.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { gatewayConfig, recorderStdio } from "../helpers/configs.js";
import { connectClient, makeTempDir, runCli, startGateway } from "../helpers/gateway.js";

const CALLS = 120;
const KILL_AFTER = 40;

test("kill -9 mid-burst: every answered call is in every sink after restart", async () => {
  const dir = makeTempDir("warden-audit-crash-");
  // Absolute state paths, so the restarted gateway (in a new config directory) finds the same log.
  const config = {
    ...gatewayConfig([recorderStdio("rec", join(dir, "calls.jsonl"), { echo: ["demo:use"] })]),
    state: { sqlite: join(dir, "state.db") },
    audit: { sinks: ["sqlite", { jsonl: join(dir, "audit.jsonl") }] },
  };
  const gw = await startGateway(config);
  const c = await connectClient(gw.mcpUrl);
  const answered: string[] = [];
  let killed = false;
  // Eight calls in flight at a time; the kill lands while some are still waiting for their events.
  let next = 0;
  const worker = async () => {
    while (next < CALLS) {
      const message = `burst-${next++}`;
      try {
        await c.client.callTool({ name: "rec__echo", arguments: { message } });
        answered.push(message);
        if (answered.length === KILL_AFTER && !killed) {
          killed = true;
          gw.proc.kill("SIGKILL");
        }
      } catch {
        // refused or cut off by the kill: not answered
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  await gw.exited;
  await c.close().catch(() => undefined);
  assert.ok(killed, "the gateway was not killed");
  assert.ok(answered.length >= KILL_AFTER);

  for (const sink of ["sqlite", "jsonl"]) {
    const q = await runCli(
      [
        "audit",
        "query",
        "-c",
        gw.configFile,
        "--sink",
        sink,
        "--tool",
        "echo",
        "--json",
        "--limit",
        "100000",
      ],
      { cwd: gw.dir },
    );
    assert.equal(q.code, 0, q.stderr);
    const recorded = new Set(
      q.stdout
        .trim()
        .split("\n")
        .map((l) => (JSON.parse(JSON.parse(l).args as string) as { message: string }).message),
    );
    const missing = answered.filter((m) => !recorded.has(m));
    assert.deepEqual(missing, [], `${sink}: answered calls missing from the audit log`);
  }
  const verify = await runCli(["audit", "verify", "-c", gw.configFile], { cwd: gw.dir });
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  assert.match(verify.stdout, /sqlite: ok/);

  // A restarted gateway carries on both chains from where they stopped.
  const again = await startGateway(config);
  try {
    const c2 = await connectClient(again.mcpUrl);
    await c2.client.callTool({ name: "rec__echo", arguments: { message: "after-restart" } });
    await c2.close();
  } finally {
    await again.stop();
  }
  const after = await runCli(["audit", "verify", "-c", gw.configFile], { cwd: gw.dir });
  assert.equal(after.code, 0, after.stdout + after.stderr);
});
