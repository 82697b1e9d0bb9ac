// A real gateway writes a real log (SQLite and JSONL sinks, checkpoints, real rotations), then an
// intruder without the audit key attacks what is on disk. Each attack the issue names is reported
// by `mcp-warden audit verify` (exit 1, naming what is missing): the head of audit.jsonl deleted
// and empty audit.jsonl.1 … .N created in its place; the checkpoint file deleted or emptied (alone,
// or to hide a cut tail or an emptied SQLite table); the tail cut after the last checkpoint; the
// SQLite audit table emptied; a rotated file deleted or emptied; the tail cut with the checkpoint
// file and the state store's marks all deleted (SQLite and JSONL). The honest logs verify: a normal
// one, one across real rotations that removed old files, a store that never held events, a log
// killed before its first checkpoint, one continued after a crash, one upgraded from a release
// without marks.
import assert from "node:assert/strict";
import { cpSync, existsSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { gatewayConfig, recorderStdio } from "../helpers/configs.js";
import { connectClient, makeTempDir, runCli, startGateway, writeConfig } from "../helpers/gateway.js";

interface Problem {
  kind: string;
  seq?: number;
  position?: number;
  detail: string;
}
interface Report {
  sink: string;
  ok: boolean;
  events: number;
  firstSeq?: number;
  lastSeq?: number;
  checkpoints: number;
  problem?: Problem;
  problems: Problem[];
}

const JSONL = "jsonl:audit.jsonl";

/** Audit files beside the config, so a copy of the directory is a copy of the whole log. */
function config(dir: string, audit: Record<string, unknown> = {}) {
  return {
    ...gatewayConfig([recorderStdio("rec", join(dir, "calls.jsonl"), { echo: ["demo:use"] })]),
    state: { sqlite: "state.db" },
    audit: {
      sinks: ["sqlite", { jsonl: "audit.jsonl" }],
      key_file: "audit.key",
      checkpoint_file: "checkpoints.jsonl",
      checkpoint_every: 5,
      ...audit,
    },
  };
}

/** Runs a gateway on `config`, makes `calls` echo calls, stops it with `signal`: its directory. */
async function writeRealLog(
  cfg: (dir: string) => object,
  calls: number,
  signal: NodeJS.Signals,
  message = (i: number) => `call ${i}`,
): Promise<string> {
  const records = makeTempDir("warden-tamper-rec-");
  const gw = await startGateway(cfg(records));
  const c = await connectClient(gw.mcpUrl);
  try {
    for (let i = 0; i < calls; i++) {
      await c.client.callTool({ name: "rec__echo", arguments: { message: message(i) } });
    }
  } finally {
    await c.close().catch(() => undefined);
    await gw.stop(signal);
  }
  return gw.dir;
}

/** A copy of a stopped gateway's directory to attack. */
function copyOf(dir: string): string {
  const to = makeTempDir("warden-tamper-case-");
  cpSync(dir, to, { recursive: true });
  return to;
}

async function verify(
  dir: string,
  ...args: string[]
): Promise<{ code: number | null; reports: Map<string, Report>; text: string }> {
  const r = await runCli(["audit", "verify", "-c", join(dir, "warden.yaml"), "--json", ...args], {
    cwd: dir,
  });
  assert.ok(r.stdout.trim() !== "", r.stderr);
  const reports = new Map<string, Report>();
  for (const line of r.stdout.trim().split("\n")) {
    const report = JSON.parse(line) as Report;
    reports.set(report.sink, report);
  }
  return { code: r.code, reports, text: r.stdout };
}

/** Asserts exit 1 and that `sink` reports a problem of `kind` whose detail matches `detail`. */
async function assertCaught(dir: string, sink: string, kind: string, detail: RegExp): Promise<Report> {
  const { code, reports, text } = await verify(dir);
  const report = reports.get(sink);
  assert.ok(report, `no report for ${sink}: ${text}`);
  assert.equal(code, 1, text);
  assert.equal(report.ok, false, text);
  assert.ok(
    report.problems.some((p) => p.kind === kind && detail.test(p.detail)),
    `${sink}: expected ${kind} ~ ${detail}, got ${JSON.stringify(report.problems)}`,
  );
  return report;
}

const lines = (file: string) => readFileSync(file, "utf8").trimEnd().split("\n");
const writeLines = (file: string, l: readonly string[]) =>
  writeFileSync(file, l.length ? `${l.join("\n")}\n` : "");
const seqOf = (line: string) => (JSON.parse(line) as { seq: number }).seq;

function sql(dir: string, statement: string): void {
  const db = new Database(join(dir, "state.db"));
  try {
    db.prepare(statement).run();
  } finally {
    db.close();
  }
}

function lastCheckpointSeq(dir: string, sink: string): number {
  const seqs = lines(join(dir, "checkpoints.jsonl"))
    .map((l) => JSON.parse(l) as { sink: string; seq: number })
    .filter((c) => c.sink === sink)
    .map((c) => c.seq);
  return Math.max(...seqs);
}

describe("audit verify against an intruder without the key: no rotation", () => {
  let pristine: string;
  let last: number;
  let lastCheckpoint: number;

  before(async () => {
    // Killed, not stopped: no checkpoint at shutdown, so events follow the last checkpoint.
    pristine = await writeRealLog((d) => config(d), 18, "SIGKILL");
    last = seqOf(lines(join(pristine, "audit.jsonl")).at(-1) as string);
    lastCheckpoint = lastCheckpointSeq(pristine, JSONL);
    assert.ok(
      last >= 18 && lastCheckpoint < last,
      `events after the last checkpoint (${lastCheckpoint} < ${last})`,
    );
  });

  test("the untouched log verifies in both sinks", async () => {
    const { code, reports, text } = await verify(pristine);
    assert.equal(code, 0, text);
    for (const sink of ["sqlite", JSONL]) {
      assert.equal(reports.get(sink)?.ok, true, text);
      assert.equal(reports.get(sink)?.events, last);
    }
  });

  test("head of audit.jsonl deleted and empty audit.jsonl.1 … .10 created: the missing events are named", async () => {
    const dir = copyOf(pristine);
    const log = join(dir, "audit.jsonl");
    writeLines(log, lines(log).slice(-1));
    for (let i = 1; i <= 10; i++) writeFileSync(join(dir, `audit.jsonl.${i}`), "");
    const report = await assertCaught(
      dir,
      JSONL,
      "deleted",
      new RegExp(`starts at seq ${last}: seq 1–${last - 1} missing`),
    );
    assert.equal(report.problem?.kind, "deleted");
    assert.ok(
      report.problems.some(
        (p) => p.kind === "missing_file" && /audit\.jsonl\.1, .*audit\.jsonl\.10 empty/.test(p.detail),
      ),
    );
    // The human form names it too.
    const r = await runCli(["audit", "verify", "-c", join(dir, "warden.yaml"), "--sink", "jsonl"], {
      cwd: dir,
    });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /FAILED: deleted at position 1/);
    assert.match(r.stdout, /also missing_file: rotated files audit\.jsonl\.1/);
  });

  test("the checkpoint file deleted, or emptied: reported for every sink", async () => {
    for (const attack of ["deleted", "emptied"] as const) {
      const dir = copyOf(pristine);
      const file = join(dir, "checkpoints.jsonl");
      if (attack === "deleted") rmSync(file);
      else truncateSync(file, 0);
      for (const sink of ["sqlite", JSONL]) {
        await assertCaught(
          dir,
          sink,
          "missing_checkpoints",
          new RegExp(
            `checkpoints\\.jsonl ${attack === "deleted" ? "is missing" : "is empty"}, but the state store recorded a checkpoint of seq ${lastCheckpoint}`,
          ),
        );
      }
    }
  });

  test("the checkpoint file deleted to hide a cut tail", async () => {
    const dir = copyOf(pristine);
    rmSync(join(dir, "checkpoints.jsonl"));
    const log = join(dir, "audit.jsonl");
    writeLines(log, lines(log).slice(0, 3));
    await assertCaught(
      dir,
      JSONL,
      "truncated",
      new RegExp(`high-water mark .* records seq ${last}; the log ends at seq 3`),
    );
    await assertCaught(dir, JSONL, "missing_checkpoints", /is missing/);
  });

  test("JSONL: the tail cut after the last checkpoint", async () => {
    const dir = copyOf(pristine);
    const log = join(dir, "audit.jsonl");
    writeLines(
      log,
      lines(log).filter((l) => seqOf(l) <= lastCheckpoint),
    );
    await assertCaught(
      dir,
      JSONL,
      "truncated",
      new RegExp(`high-water mark .* records seq ${last}; the log ends at seq ${lastCheckpoint}`),
    );
  });

  test("SQLite: the tail cut after the last checkpoint", async () => {
    const dir = copyOf(pristine);
    sql(dir, `DELETE FROM audit_events WHERE seq > ${lastCheckpointSeq(pristine, "sqlite")}`);
    await assertCaught(dir, "sqlite", "truncated", new RegExp(`high-water mark .* records seq ${last}`));
  });

  test("SQLite: the audit table emptied, with and without the checkpoint file", async () => {
    for (const alsoCheckpoints of [false, true]) {
      const dir = copyOf(pristine);
      sql(dir, "DELETE FROM audit_events");
      if (alsoCheckpoints) rmSync(join(dir, "checkpoints.jsonl"));
      await assertCaught(
        dir,
        "sqlite",
        "truncated",
        new RegExp(`records seq ${last}; the log holds no events`),
      );
    }
  });

  test("SQLite: the tail cut, the checkpoint file deleted and every mark deleted", async () => {
    for (const keep of [3, 10]) {
      const dir = copyOf(pristine);
      sql(dir, `DELETE FROM audit_events WHERE seq > ${keep}`);
      rmSync(join(dir, "checkpoints.jsonl"));
      sql(dir, "DELETE FROM audit_marks");
      const report = await assertCaught(
        dir,
        "sqlite",
        "missing_marks",
        /kept a high-water mark for this sink since .*, and holds none now/,
      );
      assert.equal(report.events, keep);
      if (keep >= 5) {
        await assertCaught(
          dir,
          "sqlite",
          "missing_checkpoints",
          new RegExp(
            `checkpoints\\.jsonl is missing, but the log holds ${keep} events and a checkpoint is written every 5`,
          ),
        );
      }
    }
  });

  test("JSONL: the tail cut, the checkpoint file emptied and every mark deleted", async () => {
    for (const keep of [3, 10]) {
      const dir = copyOf(pristine);
      const log = join(dir, "audit.jsonl");
      writeLines(log, lines(log).slice(0, keep));
      truncateSync(join(dir, "checkpoints.jsonl"), 0);
      sql(dir, "DELETE FROM audit_marks");
      await assertCaught(
        dir,
        JSONL,
        "missing_marks",
        /kept a high-water mark for this sink since .*, and holds none now/,
      );
      if (keep >= 5) await assertCaught(dir, JSONL, "missing_checkpoints", /is empty, but the log holds/);
    }
  });

  test("every mark and the record of them deleted with the checkpoint file: the log's length still shows", async () => {
    const dir = copyOf(pristine);
    sql(dir, "DELETE FROM audit_events WHERE seq > 10");
    rmSync(join(dir, "checkpoints.jsonl"));
    sql(dir, "DELETE FROM audit_marks");
    sql(dir, "DELETE FROM audit_marks_begun");
    await assertCaught(dir, "sqlite", "missing_checkpoints", /is missing, but the log holds 10 events/);
  });

  test("only the checkpoint mark deleted", async () => {
    const dir = copyOf(pristine);
    sql(dir, "DELETE FROM audit_marks WHERE kind = 'checkpoint'");
    for (const sink of ["sqlite", JSONL]) {
      await assertCaught(dir, sink, "missing_marks", /kept a record of its checkpoints for this sink since/);
    }
  });

  test("the state store's marks deleted as well: the checkpoint file still shows a cut tail", async () => {
    const dir = copyOf(pristine);
    sql(dir, "DELETE FROM audit_marks");
    sql(dir, `DELETE FROM audit_events WHERE seq > ${lastCheckpointSeq(pristine, "sqlite") - 2}`);
    await assertCaught(dir, "sqlite", "truncated", /checkpoint of .* records seq/);
  });
});

describe("audit verify against an intruder without the key: real rotations", () => {
  const KEEP = 2;
  let pristine: string;

  before(async () => {
    // About 3.3 KiB per event against 64 KiB files: a rotation every ~19 calls, so 100 calls
    // rotate five times and `keep: 2` has removed the oldest files.
    const big = (i: number) => `${i} ${"lorem ipsum dolor sit amet ".repeat(120)}`;
    pristine = await writeRealLog(
      (d) => config(d, { sinks: ["sqlite", { jsonl: "audit.jsonl", max_bytes: 65536, keep: KEEP }] }),
      100,
      "SIGTERM",
      big,
    );
  });

  test("the honest log across rotations verifies, though its first files are gone", async () => {
    const { code, reports, text } = await verify(pristine);
    assert.equal(code, 0, text);
    const report = reports.get(JSONL) as Report;
    assert.ok((report.firstSeq ?? 0) > 1, `retention removed the oldest events: ${text}`);
    assert.ok(!existsSync(join(pristine, `audit.jsonl.${KEEP + 1}`)));
    for (const f of ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]) {
      const first = JSON.parse(lines(join(pristine, f))[0] as string) as { event: string; reason: string };
      assert.deepEqual(
        [first.event, first.reason],
        ["audit", "rotated"],
        `${f} starts with a rotation record`,
      );
    }
  });

  test("a rotated file deleted: named", async () => {
    for (const gone of [1, 2]) {
      const dir = copyOf(pristine);
      rmSync(join(dir, `audit.jsonl.${gone}`));
      await assertCaught(
        dir,
        JSONL,
        "missing_file",
        new RegExp(
          `rotated file audit\\.jsonl\\.${gone} missing: the last rotation recorded ${KEEP} rotated files`,
        ),
      );
      await assertCaught(dir, JSONL, "deleted", /missing/);
    }
  });

  test("a rotated file emptied, or replaced by an empty one", async () => {
    const dir = copyOf(pristine);
    truncateSync(join(dir, "audit.jsonl.2"), 0);
    await assertCaught(dir, JSONL, "missing_file", /audit\.jsonl\.2 empty/);
    await assertCaught(dir, JSONL, "deleted", /keeps seq \d+ onwards/);
  });

  test("head of audit.jsonl deleted and the rotated files emptied", async () => {
    const dir = copyOf(pristine);
    const log = join(dir, "audit.jsonl");
    writeLines(log, lines(log).slice(-2));
    for (let i = 1; i <= KEEP; i++) writeFileSync(join(dir, `audit.jsonl.${i}`), "");
    await assertCaught(dir, JSONL, "deleted", /no recorded rotation removed them/);
    await assertCaught(dir, JSONL, "missing_file", /audit\.jsonl\.1, audit\.jsonl\.2 empty/);
  });
});

describe("a store that never held events", () => {
  let dir: string;
  before(async () => {
    dir = await writeRealLog((d) => config(d), 0, "SIGTERM");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("verifies", async () => {
    const { code, reports, text } = await verify(dir);
    assert.equal(code, 0, text);
    for (const r of reports.values()) assert.equal(r.ok, true, text);
  });
});

/**
 * A config whose files are all in `dir`, by absolute path: a gateway started on it (from a folder
 * of its own) writes `dir`'s log; `dir/warden.yaml` is the same config, for verify.
 */
function configIn(dir: string, audit: Record<string, unknown> = {}) {
  const cfg = {
    ...gatewayConfig([recorderStdio("rec", join(dir, "calls.jsonl"), { echo: ["demo:use"] })]),
    state: { sqlite: join(dir, "state.db") },
    audit: {
      sinks: ["sqlite", { jsonl: join(dir, "audit.jsonl") }],
      key_file: join(dir, "audit.key"),
      checkpoint_file: join(dir, "checkpoints.jsonl"),
      checkpoint_every: 5,
      ...audit,
    },
  };
  writeConfig(cfg, dir);
  return cfg;
}

/** Runs a gateway on `dir`'s log: `calls` echo calls (`pauseMs` after the first), then `signal`. */
async function continueLog(
  dir: string,
  audit: Record<string, unknown>,
  calls: number,
  signal: NodeJS.Signals,
  pauseMs = 0,
): Promise<void> {
  const gw = await startGateway(configIn(dir, audit));
  const c = await connectClient(gw.mcpUrl);
  try {
    for (let i = 0; i < calls; i++) {
      await c.client.callTool({ name: "rec__echo", arguments: { message: `call ${i}` } });
      if (i === 0 && pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    }
  } finally {
    await c.close().catch(() => undefined);
    await gw.stop(signal);
  }
}

/** The store as a release without marks left it: no marks tables, schema 6. */
function beforeMarks(dir: string): void {
  const db = new Database(join(dir, "state.db"));
  try {
    // A store of release 6 holds none of the tables later steps add (marks, per-user connections).
    db.exec(
      `DROP TABLE audit_marks; DROP TABLE audit_marks_begun; DROP TABLE upstream_connections;
       DROP TABLE upstream_flows; DROP TABLE upstream_clients; DROP TABLE upstream_client_issuers;`,
    );
    db.pragma("user_version = 6");
  } finally {
    db.close();
  }
}

const checkpointsOf = (dir: string, sink: string) =>
  existsSync(join(dir, "checkpoints.jsonl"))
    ? lines(join(dir, "checkpoints.jsonl")).filter((l) => l !== "" && JSON.parse(l).sink === sink)
    : [];
const eventCount = (dir: string) => lines(join(dir, "audit.jsonl")).length;

describe("audit verify: the witnesses a writer always leaves", () => {
  test("a log killed before its first checkpoint verifies; with its marks deleted it does not", async () => {
    const dir = makeTempDir("warden-witness-");
    await continueLog(dir, { checkpoint_every: 1000 }, 3, "SIGKILL");
    assert.deepEqual(checkpointsOf(dir, JSONL), [], "killed before any checkpoint");
    const { code, text } = await verify(dir);
    assert.equal(code, 0, text);
    sql(dir, "DELETE FROM audit_marks");
    for (const sink of ["sqlite", JSONL])
      await assertCaught(
        dir,
        sink,
        "missing_marks",
        /kept a high-water mark for this sink since .*, and holds none now/,
      );
  });

  test("a log continued after a crash is checkpointed at once: it verifies while it is short", async () => {
    const dir = makeTempDir("warden-witness-");
    await continueLog(dir, { checkpoint_every: 1000 }, 4, "SIGKILL");
    const first = eventCount(dir);
    assert.deepEqual(checkpointsOf(dir, JSONL), [], "killed before any checkpoint");
    // The log now holds more than checkpoint_every events, this run's far fewer.
    await continueLog(dir, { checkpoint_every: first }, 1, "SIGKILL");
    assert.ok(eventCount(dir) - first < first, "the second run wrote fewer events than checkpoint_every");
    const { code, text } = await verify(dir);
    assert.equal(code, 0, text);
    assert.equal(checkpointsOf(dir, JSONL).length, 1, "the second run's first events");
    // The same log with the checkpoint file deleted (and the marks that remember it).
    rmSync(join(dir, "checkpoints.jsonl"));
    sql(dir, "DELETE FROM audit_marks WHERE kind = 'checkpoint'");
    await assertCaught(dir, JSONL, "missing_checkpoints", /is missing, but the log holds \d+ events/);
  });

  test("a log spanning more than the checkpoint interval has a checkpoint: deleted, it is missed", async () => {
    const dir = makeTempDir("warden-witness-");
    await continueLog(dir, { checkpoint_every: 1000, checkpoint_interval: "1s" }, 2, "SIGKILL", 7_000);
    assert.ok(checkpointsOf(dir, JSONL).length >= 1, "the interval's timer checkpointed");
    const { code, text } = await verify(dir);
    assert.equal(code, 0, text);
    rmSync(join(dir, "checkpoints.jsonl"));
    sql(dir, "DELETE FROM audit_marks");
    for (const sink of ["sqlite", JSONL]) {
      await assertCaught(dir, sink, "missing_checkpoints", /the log's events span .* at least every 1 s/);
    }
  });

  test("a store upgraded from a release without marks verifies; its marks begin with its next events", async () => {
    const dir = makeTempDir("warden-witness-");
    await continueLog(dir, {}, 8, "SIGTERM");
    beforeMarks(dir);
    let r = await verify(dir);
    assert.equal(r.code, 0, r.text);
    // Still, a deleted checkpoint file shows by the log's length alone.
    const noFile = copyOf(dir);
    configIn(noFile); // its config names its own files
    rmSync(join(noFile, "checkpoints.jsonl"));
    await assertCaught(noFile, "sqlite", "missing_checkpoints", /is missing, but the log holds \d+ events/);
    // The first run of this release: marks from its first events on.
    await continueLog(dir, {}, 1, "SIGTERM");
    r = await verify(dir);
    assert.equal(r.code, 0, r.text);
    sql(dir, "DELETE FROM audit_marks");
    for (const sink of ["sqlite", JSONL])
      await assertCaught(
        dir,
        sink,
        "missing_marks",
        /kept a high-water mark for this sink since .*, and holds none now/,
      );
  });
});
