// Every audit event type the gateway writes (AuditEventType in src/audit/event.ts), for the audit
// view's filter. test/unit/console-audit-events.test.ts fails when the two lists differ.
export const AUDIT_EVENTS = [
  "tool_call",
  "prompt_get",
  "resource_read",
  "call",
  "denied",
  "redacted",
  "injection",
  "admin",
  "auth",
  "supply_chain",
  "server_request",
  "upstream_crash",
  "audit",
] as const;
