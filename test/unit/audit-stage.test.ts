// The audit stage with a real audit log (a JSONL sink in a temporary folder): what one call's
// events hold, member by member and in order, and that the result's hash is of the text the
// transport sends.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { test } from "node:test";
import { parseConfig } from "../../src/config/load.js";
import type { AuditEvent } from "../../src/audit/event.js";
import { AuditLog } from "../../src/audit/log.js";
import { JsonlSink } from "../../src/audit/sinks/jsonl.js";
import { messageJson, type JsonObject } from "../../src/jsonrpc.js";
import { createLogger } from "../../src/log.js";
import type { CallContext, Outcome } from "../../src/pipeline/context.js";
import { audit } from "../../src/pipeline/stages/audit.js";
import { protect } from "../../src/pipeline/stages/protect.js";
import { Protector, sharedInjectionDetector } from "../../src/protect/protector.js";
import { makeTempDir } from "../helpers/paths.js";

const config = parseConfig("servers:\n  - name: s\n    command: x\n", "t.yaml", {});
const protector = new Protector(config.servers[0]!.protect, new Uint8Array(32), sharedInjectionDetector());
const protectors = new Map([["s", protector]]);
const log = createLogger("silent");

function context(args: JsonObject): CallContext {
  const params = { name: "echo", arguments: args };
  return {
    session: {} as CallContext["session"],
    catalog: { toolNames: () => ["echo"] } as unknown as CallContext["catalog"],
    principal: { subject: "alice", clientId: "agent-7", method: "bearer", scopes: new Set() },
    sessionId: "sess-1",
    request: { jsonrpc: "2.0", id: 4, method: "tools/call", params },
    method: "tools/call",
    plan: { kind: "call", server: "s", item: "tool", name: "echo", params },
    signal: new AbortController().signal,
    log,
    startedAt: Date.now(),
    traceparent: undefined,
    protocolVersion: "2025-11-25",
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
  };
}

async function run(args: JsonObject, result: JsonObject): Promise<{ events: AuditEvent[]; sent: string }> {
  const dir = makeTempDir("warden-audit-stage-");
  const auditLog = new AuditLog([new JsonlSink(join(dir, "audit.jsonl"), new Uint8Array(32))], {
    key: new Uint8Array(32),
    checkpointFile: join(dir, "checkpoints.jsonl"),
    checkpointEvery: 100,
    checkpointIntervalMs: 60_000,
    spool: undefined,
    log,
  });
  const events: AuditEvent[] = [];
  auditLog.onRecord((e) => events.push(e));
  const ctx = context(args);
  const stages = audit(auditLog, protectors, 4096);
  const outcome = (await stages(ctx, () =>
    protect(protectors)(ctx, () => Promise.resolve({ kind: "result", result } as Outcome)),
  )) as Extract<Outcome, { kind: "result" }>;
  await auditLog.close();
  return { events, sent: messageJson({ jsonrpc: "2.0", id: 4, result: outcome.result }) };
}

test("a call's event: its members in order, arguments as written, the hash of the text sent", async () => {
  const { events, sent } = await run(
    { message: "hello" },
    { content: [{ type: "text", text: "Echo: hello" }] },
  );
  assert.equal(events.length, 1);
  const e = events[0] as AuditEvent;
  assert.deepEqual(Object.keys(e), [
    "id",
    "ts",
    "principal",
    "session",
    "request_id",
    "method",
    "server",
    "tool",
    "trace_id",
    "started_at",
    "duration_ms",
    "event",
    "args",
    "status",
    "detail",
    "result_bytes",
    "result_sha256",
  ]);
  assert.deepEqual(e.principal, { sub: "alice", client_id: "agent-7", auth: "bearer" });
  assert.deepEqual(e.detail, { protocol_version: "2025-11-25" });
  assert.equal(e.args, '{"message":"hello"}');
  const result = (JSON.parse(sent) as { result: unknown }).result;
  const text = JSON.stringify(result);
  assert.equal(e.result_bytes, Buffer.byteLength(text));
  assert.equal(e.result_sha256, createHash("sha256").update(text).digest("hex"));
});

test("a result that protection redacted: a redacted event after the call's, without its timing", async () => {
  const email = "bob" + "@mail.example.org";
  const { events } = await run({ message: "hi" }, { content: [{ type: "text", text: `write to ${email}` }] });
  assert.deepEqual(
    events.map((e) => e.event),
    ["tool_call", "redacted"],
  );
  const redacted = events[1] as AuditEvent;
  assert.deepEqual(Object.keys(redacted), [
    "id",
    "ts",
    "principal",
    "session",
    "request_id",
    "method",
    "server",
    "tool",
    "trace_id",
    "event",
    "status",
    "detail",
  ]);
  assert.deepEqual(redacted.detail, { types: { email: 1 } });
});
