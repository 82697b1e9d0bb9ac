// The JSONL sink's lock file: a writer killed between creating the lock and writing its pid leaves
// it empty. That lock must be taken over, not hold every writer off until it is ten seconds old
// (the restarted gateway refused its first calls with audit_unavailable).
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { randomBytes } from "node:crypto";
import { auditEvent } from "../../src/audit/event.js";
import { JsonlSink } from "../../src/audit/sinks/jsonl.js";

const event = (n: number) =>
  auditEvent({ event: "tool_call", method: "tools/call", tool: `t${n}`, status: "ok" });

test("an empty lock left by a writer killed before it wrote its pid is taken over", async () => {
  const dir = mkdtempSync(join(tmpdir(), "warden-jsonl-lock-"));
  try {
    const path = join(dir, "audit.jsonl");
    const sink = new JsonlSink(path, randomBytes(32));
    await sink.append([event(1)]);
    writeFileSync(`${path}.lock`, "", { mode: 0o600 });
    const stored = await sink.append([event(2)]);
    assert.equal(stored.length, 1);
    assert.equal(readFileSync(path, "utf8").trim().split("\n").length, 2);
    assert.ok(!existsSync(`${path}.lock`), "the lock was released");
    await sink.close?.();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a lock held by a live process (this one) is still waited for, not taken", async () => {
  const dir = mkdtempSync(join(tmpdir(), "warden-jsonl-lock-"));
  try {
    const path = join(dir, "audit.jsonl");
    const sink = new JsonlSink(path, randomBytes(32));
    await sink.append([event(1)]);
    writeFileSync(`${path}.lock`, String(process.pid), { mode: 0o600 });
    await assert.rejects(sink.append([event(2)]), /locked by another process/);
    assert.equal(readFileSync(path, "utf8").trim().split("\n").length, 1);
    await sink.close?.();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
