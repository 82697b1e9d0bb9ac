// The SQLite sink's query columns hold what UTF-8 can: a caller's name with a lone surrogate or a
// NUL is kept exactly in the stored event, the column holds U+FFFD, and the untouched event reads
// back as itself (not as an edit), verifies, and is found by a filter spelled as the caller sent it.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { auditEvent, type StoredEvent } from "../../src/audit/event.js";
import { SqliteSink } from "../../src/audit/sinks/sqlite.js";
import { verifyEvents } from "../../src/audit/verify.js";
import { StateStore } from "../../src/state/store.js";

test("SQLite: lone surrogates and NUL in query columns read back whole and verify", async () => {
  const dir = mkdtempSync(join(tmpdir(), "warden-sqlite-cols-"));
  const state = StateStore.open(join(dir, "state.db"));
  try {
    const key = randomBytes(32);
    const sink = new SqliteSink(state.db, key);
    const names = ["a\ud800b", "\udc00", "x\u0000y", "ok\ud83d\ude00", "\u2028"];
    const events = names.map((n) =>
      auditEvent({
        event: "denied",
        principal: { sub: `u${n}`, auth: "anonymous" },
        server: "s",
        tool: n,
        status: "denied",
      }),
    );
    await sink.append(events);
    const read: StoredEvent[] = [];
    for await (const e of sink.read()) read.push(e);
    assert.deepEqual(
      read.map((e) => e.tool),
      names,
    );
    for (const e of read)
      assert.equal((e as unknown as Record<string, unknown>)._column_mismatch, undefined, e.tool);
    async function* again() {
      yield* sink.read();
    }
    const verdict = await verifyEvents(sink.id, again(), key, []);
    assert.equal(verdict.ok, true, JSON.stringify(verdict));
    const found = await sink.newest({ tool: "a\ud800b", user: "ua\ud800b" }, 5);
    assert.equal(found.length, 1);
    assert.equal(found[0]!.tool, "a\ud800b");
  } finally {
    state.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
