// An intruder who holds the audit key rewrites history on the gateway's machine consistently: the
// JSONL log's chain recomputed from the first changed event, the local checkpoint file re-signed,
// the state store's marks re-signed. Everything local then verifies (that is what a key holder
// can do); the checkpoints kept elsewhere still catch it: `audit verify --checkpoints` with a copy
// the operator shipped off the machine, and the gateway's own `checkpoint_copies` (a file and a
// Postgres table). The Postgres sink emptied is caught by the local marks.
import assert from "node:assert/strict";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import pg from "pg";
import { chain, EMPTY_HEAD, loadAuditKey, type ChainHead } from "../../src/audit/chain.js";
import { makeCheckpoint, type Checkpoint } from "../../src/audit/checkpoints.js";
import type { AuditEvent, StoredEvent } from "../../src/audit/event.js";
import { AuditMarks } from "../../src/audit/marks.js";
import { gatewayConfig, recorderStdio } from "../helpers/configs.js";
import { connectClient, makeTempDir, runCli, startGateway, writeConfig } from "../helpers/gateway.js";

const PG_BASE = "postgres://postgres@127.0.0.1:5432/test";
const JSONL = "jsonl:audit.jsonl";
const CALLS = 12;

interface Report {
  sink: string;
  ok: boolean;
  external: number;
  problems: Array<{ kind: string; seq?: number; detail: string }>;
}

const lines = (file: string) => readFileSync(file, "utf8").trimEnd().split("\n");

/**
 * The intruder's rewrite, with the real key: the second call's message becomes innocuous, and
 * every hash from there on, the checkpoints of this sink and the marks are recomputed to match.
 */
function rewriteWithKey(dir: string): void {
  const key = loadAuditKey(join(dir, "audit.key"), false);
  const file = join(dir, "audit.jsonl");
  const out: StoredEvent[] = [];
  let head: ChainHead = EMPTY_HEAD;
  for (const line of lines(file)) {
    const { seq: _s, prev_hash: _p, hash: _h, ...event } = JSON.parse(line) as StoredEvent;
    const changed = event.args?.includes('"call 1"')
      ? { ...event, args: '{"message":"nothing to see"}' }
      : event;
    const stored = chain(key, head, changed as AuditEvent);
    out.push(stored);
    head = stored;
  }
  assert.ok(
    out.some((e) => e.args?.includes("nothing to see")),
    "the rewrite found its target",
  );
  writeFileSync(file, out.map((e) => `${JSON.stringify(e)}\n`).join(""));

  const hashAt = new Map(out.map((e) => [e.seq, e.hash]));
  const checkpointFile = join(dir, "checkpoints.jsonl");
  const resigned = lines(checkpointFile).map((l) => {
    const c = JSON.parse(l) as Checkpoint;
    if (c.sink !== JSONL) return l;
    return JSON.stringify(
      makeCheckpoint(key, { sink: c.sink, seq: c.seq, hash: hashAt.get(c.seq) as string }),
    );
  });
  writeFileSync(checkpointFile, `${resigned.join("\n")}\n`);

  const db = new Database(join(dir, "state.db"));
  try {
    db.prepare("DELETE FROM audit_marks WHERE sink = ?").run(JSONL);
    const marks = new AuditMarks(db, key);
    marks.note("head", [{ sink: JSONL, seq: head.seq, hash: head.hash }]);
    marks.note("checkpoint", [{ sink: JSONL, seq: head.seq, hash: head.hash }]);
  } finally {
    db.close();
  }
}

async function verify(configFile: string, dir: string, ...args: string[]) {
  const r = await runCli(["audit", "verify", "-c", configFile, "--json", ...args], { cwd: dir });
  assert.ok(r.stdout.trim() !== "", r.stderr);
  const reports = new Map(
    r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Report)
      .map((x) => [x.sink.split(":")[0] === "postgres" ? "postgres" : x.sink, x]),
  );
  return { code: r.code, reports, text: r.stdout + r.stderr };
}

describe("an intruder holding the audit key", () => {
  let pgClient: pg.Client;
  let sinkSchema: string;
  let copySchema: string;
  let pristine: string;
  let config: Record<string, unknown>;

  before(async () => {
    const tag = `${process.pid}_${Date.now()}`;
    sinkSchema = `audit_sink_${tag}`;
    copySchema = `audit_copy_${tag}`;
    pgClient = new pg.Client({ connectionString: PG_BASE });
    await pgClient.connect();
    await pgClient.query(`CREATE SCHEMA ${sinkSchema}`);
    await pgClient.query(`CREATE SCHEMA ${copySchema}`);
    const inSchema = (s: string) => `${PG_BASE}?options=${encodeURIComponent(`-c search_path=${s}`)}`;
    const records = makeTempDir("warden-keyholder-rec-");
    config = {
      ...gatewayConfig([recorderStdio("rec", join(records, "calls.jsonl"), { echo: ["demo:use"] })]),
      state: { sqlite: "state.db" },
      audit: {
        sinks: ["sqlite", { jsonl: "audit.jsonl" }, { postgres: inSchema(sinkSchema) }],
        key_file: "audit.key",
        checkpoint_file: "checkpoints.jsonl",
        checkpoint_every: 4,
        // Stand-ins for stores off the machine: a file the intruder cannot reach, and a table.
        checkpoint_copies: ["offbox/checkpoints.jsonl", { postgres: inSchema(copySchema) }],
      },
    };
    const gw = await startGateway(config);
    const c = await connectClient(gw.mcpUrl);
    try {
      for (let i = 0; i < CALLS; i++) {
        await c.client.callTool({ name: "rec__echo", arguments: { message: `call ${i}` } });
      }
    } finally {
      await c.close().catch(() => undefined);
      await gw.stop();
    }
    pristine = gw.dir;
    // The operator's own off-box copy of the checkpoint file, shipped before the intrusion.
    mkdirSync(join(pristine, "shipped"));
    cpSync(join(pristine, "checkpoints.jsonl"), join(pristine, "shipped", "checkpoints.jsonl"));
  });

  after(async () => {
    for (const s of [sinkSchema, copySchema]) {
      await pgClient?.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`).catch(() => undefined);
    }
    await pgClient?.end();
  });

  /** A copy of the gateway's directory, with a config that leaves the copies out. */
  function copyOf(): { dir: string; withCopies: string; localOnly: string } {
    const dir = makeTempDir("warden-keyholder-case-");
    cpSync(pristine, dir, { recursive: true });
    const audit = { ...(config.audit as Record<string, unknown>) };
    delete audit.checkpoint_copies;
    return {
      dir,
      withCopies: join(dir, "warden.yaml"),
      localOnly: writeConfig({ ...config, audit }, dir, "local-only.yaml"),
    };
  }

  test("the honest log verifies against every copy", async () => {
    const { code, reports, text } = await verify(
      join(pristine, "warden.yaml"),
      pristine,
      "--checkpoints",
      "shipped/checkpoints.jsonl",
    );
    assert.equal(code, 0, text);
    for (const sink of ["sqlite", JSONL, "postgres"]) {
      const r = reports.get(sink);
      assert.equal(r?.ok, true, text);
      // Two copies in the config, one shipped file: each holds this sink's checkpoints.
      assert.ok((r?.external ?? 0) >= 3, `${sink}: checkpoints in copies: ${text}`);
    }
    const rows = await pgClient.query(
      `SELECT count(*)::int AS n FROM ${copySchema}.warden_audit_checkpoints`,
    );
    assert.ok((rows.rows[0] as { n: number }).n >= 3);
  });

  test("the JSONL log rewritten with the key: local checks pass, every copy catches it", async () => {
    const { dir, withCopies, localOnly } = copyOf();
    rewriteWithKey(dir);

    // What a key holder achieves against the machine alone.
    const local = await verify(localOnly, dir, "--sink", "jsonl");
    assert.equal(local.code, 0, local.text);

    const shipped = await verify(
      localOnly,
      dir,
      "--sink",
      "jsonl",
      "--checkpoints",
      "shipped/checkpoints.jsonl",
    );
    assert.equal(shipped.code, 1, shipped.text);
    const viaShipped = shipped.reports.get(JSONL);
    assert.ok(
      viaShipped?.problems.some(
        (p) =>
          p.kind === "edited" &&
          /checkpoint copy .*shipped\/checkpoints\.jsonl/.test(p.detail) &&
          /rewritten/.test(p.detail),
      ),
      shipped.text,
    );

    const configured = await verify(withCopies, dir, "--sink", "jsonl");
    assert.equal(configured.code, 1, configured.text);
    const problems = configured.reports.get(JSONL)?.problems ?? [];
    assert.ok(
      problems.some((p) => p.kind === "edited" && /offbox\/checkpoints\.jsonl/.test(p.detail)),
      configured.text,
    );
    assert.ok(
      problems.some(
        (p) => p.kind === "edited" && /checkpoint copy postgres:127\.0\.0\.1:5432\/test/.test(p.detail),
      ),
      configured.text,
    );
  });

  test("the JSONL tail cut and every local witness re-signed: a copy reports the missing tail", async () => {
    const { dir, withCopies } = copyOf();
    const key = loadAuditKey(join(dir, "audit.key"), false);
    const file = join(dir, "audit.jsonl");
    const kept = lines(file).slice(0, 3);
    writeFileSync(file, `${kept.join("\n")}\n`);
    const tip = JSON.parse(kept.at(-1) as string) as StoredEvent;
    writeFileSync(
      join(dir, "checkpoints.jsonl"),
      `${JSON.stringify(makeCheckpoint(key, { sink: JSONL, seq: tip.seq, hash: tip.hash }))}\n`,
    );
    const db = new Database(join(dir, "state.db"));
    try {
      db.prepare("DELETE FROM audit_marks").run();
      new AuditMarks(db, key).note("head", [{ sink: JSONL, seq: tip.seq, hash: tip.hash }]);
    } finally {
      db.close();
    }
    const { code, reports, text } = await verify(withCopies, dir, "--sink", "jsonl");
    assert.equal(code, 1, text);
    assert.ok(
      reports
        .get(JSONL)
        ?.problems.some(
          (p) =>
            p.kind === "truncated" &&
            /checkpoint copy/.test(p.detail) &&
            /the log ends at seq 3/.test(p.detail),
        ),
      text,
    );
  });

  test("a copy that cannot be reached fails verify instead of passing it", async () => {
    const { dir } = copyOf();
    const audit = {
      ...(config.audit as Record<string, unknown>),
      checkpoint_copies: [{ postgres: "postgres://postgres@127.0.0.1:1/none" }],
    };
    const unreachable = writeConfig({ ...config, audit }, dir, "unreachable.yaml");
    const { code, reports, text } = await verify(unreachable, dir, "--sink", "sqlite");
    assert.equal(code, 1, text);
    assert.ok(
      reports
        .get("sqlite")
        ?.problems.some((p) => p.kind === "missing_checkpoints" && /could not be read/.test(p.detail)),
      text,
    );
  });

  test("the Postgres sink emptied (no key needed): the state store's marks report it", async () => {
    const { dir, localOnly } = copyOf();
    const saved = await pgClient.query(`SELECT * FROM ${sinkSchema}.warden_audit_events ORDER BY seq`);
    assert.ok(saved.rows.length >= CALLS);
    await pgClient.query(`DELETE FROM ${sinkSchema}.warden_audit_events`);
    try {
      // The local checkpoint file deleted too: the marks alone still show it.
      writeFileSync(join(dir, "checkpoints.jsonl"), "");
      const { code, reports, text } = await verify(localOnly, dir, "--sink", "postgres");
      assert.equal(code, 1, text);
      assert.ok(
        reports
          .get("postgres")
          ?.problems.some(
            (p) =>
              p.kind === "truncated" && /high-water mark/.test(p.detail) && /holds no events/.test(p.detail),
          ),
        text,
      );
    } finally {
      for (const r of saved.rows as Array<Record<string, unknown>>) {
        await pgClient.query(
          `INSERT INTO ${sinkSchema}.warden_audit_events (seq, id, ts, event, sub, server, tool, status, hash, body)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
          [r.seq, r.id, r.ts, r.event, r.sub, r.server, r.tool, r.status, r.hash, r.body],
        );
      }
    }
  });
});
