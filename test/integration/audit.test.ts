// The audit log through the real gateway: every sink (SQLite, JSONL, stdout, Postgres) holds the
// calls made, with arguments redacted and results recorded by size and hash only; the CLI reads,
// exports and verifies them; a sink that cannot be written refuses calls before any upstream sees
// them, unless a spool takes the events until it recovers.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import pg from "pg";
import { mcpError, reasonOf, textOf } from "../helpers/client.js";
import { filesystemStdio, gatewayConfig, recorderStdio } from "../helpers/configs.js";
import {
  connectClient,
  makeTempDir,
  runCli,
  startGateway,
  writeConfig,
  type ConnectedClient,
  type Gateway,
} from "../helpers/gateway.js";
import { waitFor } from "../helpers/wait.js";

// Assembled at run time, so no secret scanner takes this file for a leak.
const GITHUB_TOKEN = "ghp_" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa";
const FILE_MARKER = "file-content-marker-" + "7f3a9c";
const PG_BASE = "postgres://postgres@127.0.0.1:5432/test";

interface Event {
  seq: number;
  event: string;
  status?: string;
  reason?: string;
  tool?: string;
  server?: string;
  args?: string;
  result_bytes?: number;
  result_sha256?: string;
  request_id?: string | number;
  principal?: { sub: string; auth?: string };
  detail?: Record<string, unknown>;
  hash: string;
  prev_hash: string;
}

const lines = (text: string) =>
  text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Event);

describe("audit sinks after real calls", () => {
  let gw: Gateway;
  let c: ConnectedClient;
  let dir: string;
  let records: string;
  let schema: string;
  let pgClient: pg.Client;
  let readResult: unknown;

  before(async () => {
    dir = makeTempDir("warden-audit-");
    records = join(dir, "calls.jsonl");
    mkdirSync(join(dir, "files"));
    writeFileSync(join(dir, "files", "notes.txt"), `${FILE_MARKER}\n`);
    schema = `audit_${process.pid}_${Date.now()}`;
    pgClient = new pg.Client({ connectionString: PG_BASE });
    await pgClient.connect();
    await pgClient.query(`CREATE SCHEMA ${schema}`);
    const pgUrl = `${PG_BASE}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    gw = await startGateway({
      ...gatewayConfig(
        [
          // Arguments pass to this upstream unredacted: the audit log must redact them itself.
          {
            ...recorderStdio("rec", records, { echo: ["demo:use"] }),
            protect: { redact_arguments: "off" },
          },
          filesystemStdio(join(dir, "files")),
        ],
        { anonymous: ["demo:use", "files:read"] },
      ),
      audit: {
        sinks: ["sqlite", { jsonl: join(dir, "audit.jsonl") }, "stdout", { postgres: pgUrl }],
        checkpoint_every: 2,
      },
    });
    c = await connectClient(gw.mcpUrl);
    await c.client.callTool({ name: "rec__echo", arguments: { message: `token ${GITHUB_TOKEN} here` } });
    readResult = await c.client.callTool({
      name: "files__read_text_file",
      arguments: { path: join(dir, "files", "notes.txt") },
    });
    await mcpError(() => c.client.callTool({ name: "rec__secret_tool", arguments: {} }));
  });

  after(async () => {
    await c?.close();
    await gw?.stop();
    await pgClient?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await pgClient?.end();
  });

  const sqliteEvents = () => {
    const db = new Database(join(gw.dir, ".warden", "state.db"), { readonly: true });
    try {
      return (db.prepare("SELECT body FROM audit_events ORDER BY seq").all() as { body: string }[]).map(
        (r) => JSON.parse(r.body) as Event,
      );
    } finally {
      db.close();
    }
  };
  const jsonlText = () => readFileSync(join(dir, "audit.jsonl"), "utf8");
  const pgEvents = async () =>
    (
      await pgClient.query<{ body: string }>(`SELECT body FROM ${schema}.warden_audit_events ORDER BY seq`)
    ).rows.map((r) => JSON.parse(r.body) as Event);

  test("the upstream did receive the secret (so its absence below is the audit log's doing)", () => {
    assert.ok(readFileSync(records, "utf8").includes(GITHUB_TOKEN));
    assert.ok(textOf(readResult).includes(FILE_MARKER));
  });

  test("every sink holds the three calls, each response released only after its event", async () => {
    const sinks: Record<string, Event[]> = {
      sqlite: sqliteEvents(),
      jsonl: lines(jsonlText()),
      stdout: gw.stdoutLines.map((l) => JSON.parse(l) as Event),
      postgres: await pgEvents(),
    };
    for (const [name, events] of Object.entries(sinks)) {
      const echo = events.find((e) => e.event === "tool_call" && e.tool === "echo");
      assert.ok(echo, `${name}: no tool_call event for echo`);
      assert.equal(echo.status, "ok");
      assert.equal(echo.server, "rec");
      assert.equal(echo.principal?.sub, "anonymous");
      assert.match(echo.args ?? "", /\[REDACTED:github_token\]/, `${name}: arguments not recorded redacted`);
      const read = events.find((e) => e.event === "tool_call" && e.tool === "read_text_file");
      assert.ok(read, `${name}: no tool_call event for the file read`);
      assert.ok((read.result_bytes ?? 0) > FILE_MARKER.length, `${name}: result size missing`);
      assert.match(read.result_sha256 ?? "", /^[0-9a-f]{64}$/);
      const denied = events.find((e) => e.event === "denied" && e.tool === "secret_tool");
      assert.ok(denied, `${name}: the refused call is not recorded`);
      assert.equal(denied.reason, "tool_not_mapped");
      // Each sink chains its own events from seq 1.
      events.forEach((e, i) => assert.equal(e.seq, i + 1, `${name}: seq`));
    }
  });

  test("neither the secret nor the file's content is anywhere in any sink", async () => {
    const stateDir = join(gw.dir, ".warden");
    const raw = [
      readFileSync(join(stateDir, "state.db")).toString("latin1"),
      existsSync(join(stateDir, "state.db-wal"))
        ? readFileSync(join(stateDir, "state.db-wal")).toString("latin1")
        : "",
      jsonlText(),
      gw.stdoutLines.join("\n"),
      JSON.stringify(await pgEvents()),
      (await pgClient.query(`SELECT * FROM ${schema}.warden_audit_events`)).rows
        .map((r) => JSON.stringify(r))
        .join(),
    ];
    raw.forEach((text, i) => {
      assert.ok(!text.includes(GITHUB_TOKEN), `sink ${i} holds the secret`);
      assert.ok(!text.includes(FILE_MARKER), `sink ${i} holds the file's content`);
    });
  });

  test("the recorded result hash is the SHA-256 of the result as the gateway sent it", () => {
    const read = sqliteEvents().find((e) => e.tool === "read_text_file") as Event;
    // The SDK client keeps the result's fields and their order, so re-serialising gives the same bytes.
    const body = Buffer.from(JSON.stringify(readResult));
    assert.equal(read.result_bytes, body.length);
    assert.equal(read.result_sha256, createHash("sha256").update(body).digest("hex"));
  });

  test("arguments that protection passed clean are recorded as the call wrote them", () => {
    const read = sqliteEvents().find((e) => e.tool === "read_text_file") as Event;
    assert.equal(read.args, JSON.stringify({ path: join(dir, "files", "notes.txt") }));
  });

  test("audit verify: every readable sink's chain and checkpoints hold", async () => {
    const r = await runCli(["audit", "verify", "-c", gw.configFile, "--json"], { cwd: gw.dir });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const reports = lines(r.stdout) as unknown as {
      sink: string;
      ok: boolean;
      events: number;
      checkpoints: number;
    }[];
    assert.deepEqual(
      reports.map((x) => x.sink.split(":")[0]),
      ["sqlite", "jsonl", "postgres"],
    );
    for (const report of reports) {
      assert.ok(report.ok);
      assert.ok(report.events >= 3);
      assert.ok(report.checkpoints >= 1, `${report.sink}: no checkpoint written`);
    }
  });

  test("audit query filters and prints a table or JSON lines; export gives JSONL and CSV", async () => {
    const q = await runCli(["audit", "query", "-c", gw.configFile, "--tool", "echo", "--json"], {
      cwd: gw.dir,
    });
    assert.equal(q.code, 0, q.stderr);
    const found = lines(q.stdout);
    assert.ok(found.length >= 1 && found.every((e) => e.tool === "echo"));
    const denied = await runCli(
      ["audit", "query", "-c", gw.configFile, "--status", "denied", "--sink", "postgres"],
      {
        cwd: gw.dir,
      },
    );
    assert.equal(denied.code, 0, denied.stderr);
    assert.match(denied.stdout, /^SEQ\s+TS\s+EVENT/);
    assert.match(denied.stdout, /tool_not_mapped/);
    assert.doesNotMatch(denied.stdout, /read_text_file/);
    const csv = await runCli(["audit", "export", "-c", gw.configFile, "--format", "csv", "--sink", "jsonl"], {
      cwd: gw.dir,
    });
    assert.equal(csv.code, 0, csv.stderr);
    const rows = csv.stdout.trim().split("\n");
    assert.match(rows[0] as string, /^seq,id,ts,event,status/);
    assert.ok(rows.length >= 4);
    const since = await runCli(["audit", "query", "-c", gw.configFile, "--since", "1h", "--json"], {
      cwd: gw.dir,
    });
    assert.ok(lines(since.stdout).length >= 3);
    const future = await runCli(["audit", "query", "-c", gw.configFile, "--since", "2999-01-01", "--json"], {
      cwd: gw.dir,
    });
    assert.equal(future.stdout.trim(), "");
  });
});

describe("a sink that cannot be written", () => {
  test("without a spool: calls are refused (-32603 audit_unavailable) and never reach the upstream", async () => {
    const dir = makeTempDir("warden-audit-fail-");
    const records = join(dir, "calls.jsonl");
    writeFileSync(join(dir, "blocker"), "a file where the log's directory should be");
    const gw = await startGateway(
      {
        ...gatewayConfig([recorderStdio("rec", records, { echo: ["demo:use"] })]),
        audit: { sinks: ["sqlite", { jsonl: join(dir, "blocker", "audit.jsonl") }] },
      },
      { waitReady: false },
    );
    let c: ConnectedClient | undefined;
    try {
      // Not ready while it cannot audit (its upstream is): a load balancer sends calls elsewhere.
      const ready = await waitFor(
        async () => {
          const r = await gw.readyz();
          return r.body.upstreams?.rec?.state === "ready" ? r : false;
        },
        { what: "the upstream to be up" },
      );
      assert.equal(ready.status, 503);
      assert.equal(ready.body.audit, "failing");
      c = await connectClient(gw.mcpUrl);
      const client = c.client;
      for (let i = 0; i < 2; i++) {
        const err = await mcpError(() =>
          client.callTool({ name: "rec__echo", arguments: { message: "hi" } }),
        );
        assert.equal(err.code, -32603);
        assert.equal(reasonOf(err), "audit_unavailable");
      }
      const seen = existsSync(records) ? readFileSync(records, "utf8") : "";
      assert.ok(!seen.includes('"tools/call"'), "the upstream saw a call that could not be audited");
      // The sink recovers: calls pass again, and are recorded.
      rmSync(join(dir, "blocker"));
      await waitFor(
        async () => {
          try {
            await client.callTool({ name: "rec__echo", arguments: { message: "after" } });
            return true;
          } catch {
            return false;
          }
        },
        { timeoutMs: 10_000, intervalMs: 300, what: "calls to pass once the sink is writable" },
      );
      assert.ok(
        lines(readFileSync(join(dir, "blocker", "audit.jsonl"), "utf8")).some((e) => e.tool === "echo"),
      );
      await waitFor(async () => (await gw.readyz()).status === 200, { what: "/readyz to recover" });
    } finally {
      await c?.close();
      await gw.stop();
    }
  });

  test("with a spool: calls go on, and the spooled events reach the sink once it recovers", async () => {
    const dir = makeTempDir("warden-audit-spool-");
    const records = join(dir, "calls.jsonl");
    writeFileSync(join(dir, "blocker"), "not a directory");
    const config = {
      ...gatewayConfig([recorderStdio("rec", records, { echo: ["demo:use"] })]),
      audit: { sinks: ["sqlite", { jsonl: join(dir, "blocker", "audit.jsonl") }], spool: join(dir, "spool") },
    };
    const gw = await startGateway(config);
    const c = await connectClient(gw.mcpUrl);
    try {
      for (let i = 0; i < 3; i++) {
        const r = await c.client.callTool({ name: "rec__echo", arguments: { message: `m${i}` } });
        assert.match(textOf(r), new RegExp(`m${i}`));
      }
      assert.ok(existsSync(join(dir, "spool")), "nothing was spooled");
      rmSync(join(dir, "blocker"));
      const log = join(dir, "blocker", "audit.jsonl");
      await waitFor(
        () =>
          existsSync(log) && lines(readFileSync(log, "utf8")).filter((e) => e.tool === "echo").length === 3,
        {
          timeoutMs: 15_000,
          what: "the spooled events in the recovered sink",
        },
      );
      const verify = await runCli(["audit", "verify", "-c", writeConfig(config, gw.dir, "verify.yaml")], {
        cwd: gw.dir,
      });
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    } finally {
      await c.close();
      await gw.stop();
    }
  });
});
