// The tool_call event the audit benchmarks record: the members and sizes of a real call's event.
import { auditEvent, type AuditEvent } from "../../src/audit/event.js";

export function benchEvent(requestId: number): AuditEvent {
  return auditEvent({
    event: "tool_call",
    principal: { sub: "alice", client_id: "agent-7", auth: "bearer" },
    session: "Jd8xk2m3n4b5v6c7x8z9a0s1d2f3g4h5",
    request_id: requestId,
    method: "tools/call",
    server: "files",
    tool: "read_text_file",
    args: '{"path":"/srv/projects/readme.md"}',
    status: "ok",
    started_at: new Date().toISOString(),
    duration_ms: 3,
    result_bytes: 1834,
    result_sha256: "9f2c5d7e1a3b4c6d8e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d",
    trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
  });
}
