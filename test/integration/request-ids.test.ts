// A request whose JSON-RPC id is already in flight on the session is refused (-32600
// duplicate_request_id) before it is planned: it never reaches an upstream, and the first call
// stays tracked, so the kill switch still cancels it. Raw HTTP, so the test picks the ids.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { gatewayConfig, recorderStdio } from "../helpers/configs.js";
import { makeTempDir, runCli, startGateway, type Gateway } from "../helpers/gateway.js";
import { openRawSession, rpcError } from "../helpers/http.js";
import { readRecords, receivedToolCalls } from "../helpers/records.js";
import { waitFor } from "../helpers/wait.js";

describe("duplicate request ids on one session", () => {
  let gw: Gateway;
  let records: string;

  before(async () => {
    records = join(makeTempDir("warden-ids-"), "rec.jsonl");
    gw = await startGateway({
      ...gatewayConfig([recorderStdio("rec", records, { slow: ["demo:use"], echo: ["demo:use"] })]),
      audit: { sinks: ["sqlite", "stdout"] },
    });
  });

  after(async () => {
    await gw?.stop();
  });

  const call = (id: number | string, name: string, args: Record<string, unknown>) => ({
    jsonrpc: "2.0",
    id,
    method: "tools/call",
    params: { name, arguments: args },
  });
  const cli = (...args: string[]) => runCli([...args, "-c", gw.configFile], { cwd: gw.dir });

  for (const id of [7, "same-id"]) {
    test(`a second request with the id of one in flight (${JSON.stringify(id)}) is refused; the first still obeys the kill switch`, async () => {
      const label = `first-${String(id)}`;
      const s = await openRawSession(gw.mcpUrl);
      const first = s.post(call(id, "rec__slow", { label }), { "mcp-protocol-version": s.protocolVersion });
      await waitFor(() => readRecords(records).some((r) => r.event === "tool" && r.label === label), {
        what: "the first call to reach the upstream",
      });
      const echoes = receivedToolCalls(records, "echo").length;

      const dup = await s.post(call(id, "rec__echo", { message: "duplicate" }));
      const err = rpcError(dup, id);
      assert.equal(err?.code, -32600, dup.text);
      assert.equal(err?.data?.reason, "duplicate_request_id");
      assert.ok(!dup.messages.some((m) => "result" in m), "the duplicate got a result");
      assert.equal(receivedToolCalls(records, "echo").length, echoes, "the duplicate reached the upstream");

      assert.equal((await cli("kill", "--server", "rec", "--reason", "duplicate-id test")).code, 0);
      try {
        const answer = await first;
        const killed = rpcError(answer, id);
        assert.equal(killed?.code, -32003, `the first call escaped the kill switch: ${answer.text}`);
        await waitFor(() => readRecords(records).some((r) => r.event === "aborted" && r.label === label), {
          what: "the upstream to see the first call cancelled",
        });
      } finally {
        assert.equal((await cli("revive", "--server", "rec", "--reason", "done")).code, 0);
      }
      const audited = gw.stdoutLines.some((l) => {
        const e = JSON.parse(l) as { event?: string; reason?: string; request_id?: unknown };
        return e.event === "denied" && e.reason === "duplicate_request_id" && e.request_id === id;
      });
      assert.ok(audited, "the refusal was not audited");

      // Once the first is answered, its id is free again.
      const again = await waitFor(
        async () => {
          const r = await s.post(call(id, "rec__echo", { message: "reused" }));
          return r.messages.some((m) => "result" in m) ? r : undefined;
        },
        { what: "the id to be usable again after the revive" },
      );
      assert.match(JSON.stringify(again.messages), /recorder: reused/);
    });
  }
});
