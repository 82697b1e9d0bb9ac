// A short, bounded run of bench/load.ts (loopback only): sessions with tokens call through the full
// pipeline (kill switch rule, rate limit, guards, redaction, injection defence, SQLite audit) for a
// few seconds. Nothing fails except what the rate limit explains, and no audit event is lost.
import assert from "node:assert/strict";
import { test } from "node:test";
import { runLoad } from "../../bench/load.js";

test("load: no errors beyond the limits set, one audit event per answer and per refusal", async () => {
  // The limit sits well under what a busy two-core machine still does in 4 s (about 80 calls/s
  // seen, so 100+ calls per caller): refusals come whatever the machine's speed.
  const r = await runLoad({ sessions: 3, seconds: 4, rate: "30/min" });
  assert.deepEqual(r.errors, {}, "calls failed for reasons other than the rate limit");
  assert.ok(r.ok > 0 && r.rateLimited > 0, `expected both answers and refusals: ${JSON.stringify(r)}`);
  assert.equal(r.auditedOk, r.ok, "answered calls missing from the audit log");
  assert.equal(r.auditedRateLimited, r.rateLimited, "refusals missing from the audit log");
  assert.ok(r.verified, "the audit chain does not verify after the run");
});
