// `mcp-warden audit verify` on logs written by the audit log itself, then tampered with: an edit,
// a deletion, a reorder and a truncation are each reported (exit 1) with the first bad event, in
// the JSONL and the SQLite sinks; a forged checkpoint too; an untouched log passes (exit 0). The
// SQLite sink keeps its own high-water mark, so an emptied table shows without the checkpoints.
import assert from "node:assert/strict";
import { copyFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { loadAuditKey } from "../../src/audit/chain.js";
import { auditEvent } from "../../src/audit/event.js";
import { AuditLog } from "../../src/audit/log.js";
import { JsonlSink } from "../../src/audit/sinks/jsonl.js";
import { SqliteSink } from "../../src/audit/sinks/sqlite.js";
import { createLogger } from "../../src/log.js";
import { StateStore } from "../../src/state/store.js";
import { makeTempDir, runCli, writeConfig } from "../helpers/gateway.js";

const EVENTS = 12;

/** A config whose audit files live in `dir` (the server is never started by verify). */
function configIn(dir: string): string {
  return writeConfig(
    {
      servers: [{ name: "s", command: process.execPath, args: ["-e", ""] }],
      state: { sqlite: "state.db" },
      audit: {
        sinks: ["sqlite", { jsonl: "audit.jsonl" }],
        key_file: "audit.key",
        checkpoint_file: "checkpoints.jsonl",
      },
    },
    dir,
  );
}

async function writeLog(dir: string): Promise<void> {
  const key = loadAuditKey(join(dir, "audit.key"));
  const state = StateStore.open(join(dir, "state.db"));
  const log = new AuditLog([new SqliteSink(state.db, key), new JsonlSink(join(dir, "audit.jsonl"), key)], {
    key,
    checkpointFile: join(dir, "checkpoints.jsonl"),
    checkpointEvery: 4,
    checkpointIntervalMs: 60_000,
    spool: undefined,
    log: createLogger("silent"),
  });
  for (let i = 1; i <= EVENTS; i++) {
    await log.record(
      auditEvent({
        event: "tool_call",
        principal: { sub: "alice", auth: "bearer" },
        server: "files",
        tool: "read_text_file",
        status: "ok",
        duration_ms: i,
      }),
    );
  }
  await log.close();
  state.close();
}

/** A copy of the pristine log to tamper with. */
function copyOf(pristine: string): string {
  const dir = makeTempDir("warden-verify-case-");
  for (const f of ["audit.key", "state.db", "audit.jsonl", "checkpoints.jsonl"]) {
    copyFileSync(join(pristine, f), join(dir, f));
  }
  configIn(dir);
  return dir;
}

interface Report {
  sink: string;
  ok: boolean;
  events: number;
  problem?: { kind: string; seq?: number; position?: number; detail: string };
}

async function verify(
  dir: string,
  sink: "sqlite" | "jsonl",
): Promise<{ code: number | null; report: Report }> {
  const r = await runCli(["audit", "verify", "-c", join(dir, "warden.yaml"), "--sink", sink, "--json"], {
    cwd: dir,
  });
  assert.ok(r.stdout.trim() !== "", r.stderr);
  return { code: r.code, report: JSON.parse(r.stdout) as Report };
}

const jsonlLines = (dir: string) => readFileSync(join(dir, "audit.jsonl"), "utf8").trimEnd().split("\n");
const writeLines = (dir: string, lines: string[]) =>
  writeFileSync(join(dir, "audit.jsonl"), `${lines.join("\n")}\n`);

function sql(dir: string, fn: (db: Database.Database) => void): void {
  const db = new Database(join(dir, "state.db"));
  try {
    fn(db);
  } finally {
    db.close();
  }
}

describe("audit verify", () => {
  let pristine: string;

  before(async () => {
    pristine = makeTempDir("warden-verify-");
    await writeLog(pristine);
    configIn(pristine);
  });

  test("an untouched log passes in both sinks, checkpoints included", async () => {
    for (const sink of ["sqlite", "jsonl"] as const) {
      const { code, report } = await verify(pristine, sink);
      assert.equal(code, 0, JSON.stringify(report));
      assert.equal(report.ok, true);
      assert.equal(report.events, EVENTS);
    }
  });

  test("JSONL: an edited field is reported at its seq", async () => {
    const dir = copyOf(pristine);
    const lines = jsonlLines(dir);
    lines[4] = (lines[4] as string).replace('"status":"ok"', '"status":"denied"');
    writeLines(dir, lines);
    const { code, report } = await verify(dir, "jsonl");
    assert.equal(code, 1);
    assert.equal(report.problem?.kind, "edited");
    assert.equal(report.problem?.seq, 5);
  });

  test("JSONL: an edit with the hash recomputed without the key is still reported", async () => {
    const dir = copyOf(pristine);
    const lines = jsonlLines(dir);
    const e = JSON.parse(lines[6] as string) as Record<string, unknown>;
    e.status = "denied";
    // A forger without the key can only guess at the MAC; any other hash fails the same way.
    e.hash = "f".repeat(64);
    lines[6] = JSON.stringify(e);
    writeLines(dir, lines);
    const { code, report } = await verify(dir, "jsonl");
    assert.equal(code, 1);
    assert.equal(report.problem?.kind, "edited");
    assert.equal(report.problem?.seq, 7);
  });

  test("JSONL: a deleted event is reported", async () => {
    const dir = copyOf(pristine);
    const lines = jsonlLines(dir);
    lines.splice(5, 1);
    writeLines(dir, lines);
    const { code, report } = await verify(dir, "jsonl");
    assert.equal(code, 1);
    assert.equal(report.problem?.kind, "deleted");
    assert.match(report.problem?.detail ?? "", /seq 6 missing/);
  });

  test("JSONL: two events swapped are reported as reordered", async () => {
    const dir = copyOf(pristine);
    const lines = jsonlLines(dir);
    [lines[7], lines[8]] = [lines[8] as string, lines[7] as string];
    writeLines(dir, lines);
    const { code, report } = await verify(dir, "jsonl");
    assert.equal(code, 1);
    assert.equal(report.problem?.kind, "reordered");
    assert.equal(report.problem?.position, 8);
  });

  test("JSONL: a cut tail is reported through the checkpoints", async () => {
    const dir = copyOf(pristine);
    writeLines(dir, jsonlLines(dir).slice(0, EVENTS - 3));
    const { code, report } = await verify(dir, "jsonl");
    assert.equal(code, 1);
    assert.equal(report.problem?.kind, "truncated");
  });

  test("a forged checkpoint line fails verification", async () => {
    const dir = copyOf(pristine);
    const file = join(dir, "checkpoints.jsonl");
    writeFileSync(file, readFileSync(file, "utf8").replace(/"seq":4/, '"seq":3'));
    const { code, report } = await verify(dir, "jsonl");
    assert.equal(code, 1);
    assert.equal(report.problem?.kind, "forged_checkpoint");
  });

  test("a partial last line left by a crash mid-write is cut off, and the chain goes on", async () => {
    const dir = copyOf(pristine);
    const log = join(dir, "audit.jsonl");
    writeFileSync(log, `${readFileSync(log, "utf8")}{"id":"torn","ts":"2026-`);
    const key = loadAuditKey(join(dir, "audit.key"));
    const audit = new AuditLog([new JsonlSink(log, key)], {
      key,
      checkpointFile: join(dir, "checkpoints.jsonl"),
      checkpointEvery: 1000,
      checkpointIntervalMs: 60_000,
      spool: undefined,
      log: createLogger("silent"),
    });
    await audit.record(auditEvent({ event: "tool_call", status: "ok", tool: "after_crash" }));
    await audit.close();
    const text = readFileSync(log, "utf8");
    assert.ok(!text.includes('"torn"'));
    assert.match(jsonlLines(dir).at(-1) ?? "", /"seq":13,.*after_crash|after_crash.*"seq":13/);
    const { code, report } = await verify(dir, "jsonl");
    assert.equal(code, 0, JSON.stringify(report));
  });

  test("SQLite: the table emptied and the checkpoint file deleted: the sink's own high-water mark shows it", async () => {
    const dir = copyOf(pristine);
    sql(dir, (db) => db.prepare("DELETE FROM audit_events").run());
    rmSync(join(dir, "checkpoints.jsonl"));
    const { code, report } = await verify(dir, "sqlite");
    assert.equal(code, 1, JSON.stringify(report));
    assert.equal(report.problem?.kind, "truncated");
    assert.match(report.problem?.detail ?? "", new RegExp(`records seq ${EVENTS}; the log holds no events`));
  });

  test("SQLite: an edited body, an edited query column, a deletion, a swap and a truncation", async () => {
    const cases: Array<[string, (db: Database.Database) => void, string]> = [
      [
        "body",
        (db) =>
          db
            .prepare(
              'UPDATE audit_events SET body = replace(body, \'"status":"ok"\', \'"status":"x"\') WHERE seq = 3',
            )
            .run(),
        "edited",
      ],
      ["column", (db) => db.prepare("UPDATE audit_events SET sub = 'mallory' WHERE seq = 4").run(), "edited"],
      ["deletion", (db) => db.prepare("DELETE FROM audit_events WHERE seq = 6").run(), "deleted"],
      [
        "swap",
        (db) => {
          const rows = db
            .prepare("SELECT seq, body, hash FROM audit_events WHERE seq IN (7, 8) ORDER BY seq")
            .all() as {
            seq: number;
            body: string;
            hash: string;
          }[];
          const [a, b] = rows as [(typeof rows)[0], (typeof rows)[0]];
          const set = db.prepare("UPDATE audit_events SET body = ?, hash = ? WHERE seq = ?");
          set.run(b.body, b.hash, a.seq);
          set.run(a.body, a.hash, b.seq);
        },
        "edited",
      ],
      [
        "truncation",
        (db) => db.prepare("DELETE FROM audit_events WHERE seq > ?").run(EVENTS - 2),
        "truncated",
      ],
    ];
    for (const [name, tamper, kind] of cases) {
      const dir = copyOf(pristine);
      sql(dir, tamper);
      const { code, report } = await verify(dir, "sqlite");
      assert.equal(code, 1, `${name}: ${JSON.stringify(report)}`);
      assert.equal(report.problem?.kind, kind, `${name}: ${JSON.stringify(report)}`);
    }
  });
});
