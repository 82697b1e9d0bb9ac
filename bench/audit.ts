// node --import tsx bench/audit.ts
// What the audit log costs a call: one tool_call event recorded (chained, HMAC'd, written, waited
// for) in the SQLite sink (WAL, as the gateway runs it) and in the JSONL sink, one call at a time
// and with 16 calls in flight (which the batching turns into one transaction per batch). The log
// keeps its high-water marks in the state store as the gateway's does (src/audit/index.ts): the
// SQLite sink moves its mark inside its own transaction, the log marks the JSONL sink's head after
// each batch and every checkpoint. Prints µs of CPU and wall time per event and events/s sustained.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadAuditKey } from "../src/audit/chain.js";
import { AuditLog } from "../src/audit/log.js";
import { AuditMarks } from "../src/audit/marks.js";
import { JsonlSink } from "../src/audit/sinks/jsonl.js";
import type { AuditSink } from "../src/audit/sinks/sink.js";
import { SqliteSink } from "../src/audit/sinks/sqlite.js";
import { createLogger } from "../src/log.js";
import { StateStore } from "../src/state/store.js";
import { benchEvent } from "./lib/audit-event.js";

const EVENTS = Number(process.env.EVENTS ?? 20_000);

const event = benchEvent;

type SinkFactory = (key: Uint8Array, marks: AuditMarks) => AuditSink;

async function measure(
  name: string,
  sink: SinkFactory,
  dir: string,
  state: StateStore,
  inflight: number,
): Promise<void> {
  const key = loadAuditKey(join(dir, "audit.key"));
  const marks = new AuditMarks(state.db, key);
  const log = new AuditLog([sink(key, marks)], {
    key,
    checkpointFile: join(dir, "checkpoints.jsonl"),
    checkpointEvery: 1000,
    checkpointIntervalMs: 60_000,
    spool: undefined,
    log: createLogger("silent"),
    marks,
  });
  for (let i = 0; i < 2000; i++) await log.record(event(i)); // warm-up
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let next = 0;
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (next < EVENTS) await log.record(event(next++));
    }),
  );
  const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await log.close();
  console.log(
    `${name.padEnd(30)} ${`${inflight} in flight`.padEnd(13)} ` +
      `CPU ${((cpu.user + cpu.system) / EVENTS).toFixed(1).padStart(5)} µs/event   ` +
      `wall ${(wallUs / EVENTS).toFixed(1).padStart(5)} µs/event   ` +
      `${Math.round(EVENTS / (wallUs / 1e6))
        .toString()
        .padStart(7)} events/s`,
  );
}

console.log(`node ${process.version}; ${EVENTS} events per cell`);
for (const inflight of [1, 16]) {
  const dir = mkdtempSync(join(tmpdir(), "warden-bench-audit-"));
  const state = StateStore.open(join(dir, "state.db"));
  try {
    await measure(
      "SQLite sink (WAL)",
      (key, marks) => new SqliteSink(state.db, key, marks),
      dir,
      state,
      inflight,
    );
    await measure("JSONL sink", (key) => new JsonlSink(join(dir, "audit.jsonl"), key), dir, state, inflight);
  } finally {
    state.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
