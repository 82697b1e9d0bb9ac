// The JSONL sink reads back exactly the events it wrote, whatever their strings hold: a line ends
// at "\n" only, never at U+2028 or U+2029 (which JSON.stringify leaves unescaped), so an event
// carrying one is one event and its log verifies.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { auditEvent, type StoredEvent } from "../../src/audit/event.js";
import { JsonlSink } from "../../src/audit/sinks/jsonl.js";
import { verifyEvents } from "../../src/audit/verify.js";

test("JSONL: events carrying line and paragraph separators, CR or NUL read back whole and verify", async () => {
  const dir = mkdtempSync(join(tmpdir(), "warden-jsonl-"));
  try {
    const key = randomBytes(32);
    const sink = new JsonlSink(join(dir, "audit.jsonl"), key);
    const texts = ["a\u2028b", "c\u2029d", "e\rf", "g\r\nh", "i\u0000j", "\u2028", "plain"];
    const events = texts.map((t, i) =>
      auditEvent({
        event: "tool_call",
        principal: { sub: "alice", auth: "bearer" },
        status: "ok",
        args: JSON.stringify({ q: t }),
        duration_ms: i,
      }),
    );
    await sink.append(events.slice(0, 3));
    await sink.append(events.slice(3));
    const read: StoredEvent[] = [];
    for await (const e of sink.read()) read.push(e);
    assert.deepEqual(
      read.map((e) => e.args),
      events.map((e) => e.args),
    );
    async function* again() {
      yield* sink.read();
    }
    const verdict = await verifyEvents(sink.id, again(), key, []);
    assert.equal(verdict.ok, true, JSON.stringify(verdict));
    await sink.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
