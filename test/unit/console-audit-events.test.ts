// The admin console's audit filter lists every event type the gateway writes, and no other: checked
// by the type checker (`npm run typecheck`) and, at run time, against the union's source text.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { AUDIT_EVENTS } from "../../console/src/audit-events.js";
import type { AuditEventType } from "../../src/audit/event.js";
import { ROOT } from "../helpers/paths.js";

type Listed = (typeof AUDIT_EVENTS)[number];
// Does not compile when src/audit/event.ts gains a type the console leaves out, or loses one it lists.
const exact: [Exclude<AuditEventType, Listed>, Exclude<Listed, AuditEventType>] extends [never, never]
  ? true
  : never = true;

test("the console's audit filter names every event type of src/audit/event.ts", () => {
  assert.equal(exact, true);
  const source = readFileSync(`${ROOT}/src/audit/event.ts`, "utf8");
  const union = /export type AuditEventType =([^;]+);/.exec(source)?.[1];
  assert.ok(union, "AuditEventType not found in src/audit/event.ts");
  const types = [...union.replace(/\/\*[\s\S]*?\*\//g, "").matchAll(/"([a-z_]+)"/g)].map((m) => m[1]);
  assert.deepEqual([...AUDIT_EVENTS].sort(), types.sort());
  assert.equal(new Set(AUDIT_EVENTS).size, AUDIT_EVENTS.length);
});
