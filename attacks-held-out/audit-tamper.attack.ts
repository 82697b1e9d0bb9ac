// Held-out attacks, issue 14 §6 (audit tamper evidence without the key): removals and rewrites
// not in test/attacks/audit-tamper.test.ts.
import assert from "node:assert/strict";
import { cpSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { everythingStdio, gatewayConfig } from "../test/helpers/configs.js";
import { makeTempDir, runCli, startGateway, type CliResult } from "../test/helpers/gateway.js";
import { openSession, toolCall } from "../test/attacks/fixtures/attack-lib.js";

const EVENTS = 60;

describe("held-out audit tamper", () => {
  let golden: string;

  before(async () => {
    const gw = await startGateway({
      ...gatewayConfig([everythingStdio()]),
      state: { sqlite: "data/warden.db" },
      audit: {
        sinks: [
          "sqlite",
          { jsonl: "var/rot.jsonl", max_bytes: 65536, keep: 50 },
          { jsonl: "var/flat.jsonl" },
        ],
        key_file: "secret/audit.key",
        checkpoint_file: "data/cp.jsonl",
        checkpoint_every: 4,
      },
    });
    try {
      const s = await openSession(gw.mcpUrl);
      const words = "the quick brown fox jumps over the lazy dog and keeps running "
        .repeat(70)
        .slice(0, 4000);
      for (let i = 0; i < EVENTS; i++) {
        const res = await s.post(toolCall(i + 10, "everything__echo", { message: `n${i} ${words}` }));
        assert.equal(res.status, 200, res.text.slice(0, 200));
      }
    } finally {
      await gw.stop();
    }
    golden = gw.dir;
    assert.ok(existsSync(join(golden, "var", "rot.jsonl.3")), "the rotating sink should have rotated");
    const ok = await verify(golden);
    assert.equal(ok.code, 0, `the untouched log must verify:\n${ok.stdout}\n${ok.stderr}`);
  });

  function copy(): string {
    const dir = makeTempDir("warden-ho-tamper-");
    cpSync(golden, dir, { recursive: true });
    return dir;
  }

  function verify(dir: string, ...extra: string[]): Promise<CliResult> {
    return runCli(["audit", "verify", "-c", join(dir, "warden.yaml"), ...extra], { cwd: dir });
  }

  const lines = (f: string) =>
    readFileSync(f, "utf8")
      .split("\n")
      .filter((l) => l.trim() !== "");

  function expectProblem(r: CliResult, what: string) {
    const out = `${r.stdout}\n${r.stderr}`;
    assert.doesNotMatch(r.stderr, /unknown option|unknown command/i, `${what}: ${out}`);
    assert.equal(r.code, 1, `${what}: verify must report a problem (exit 1), got ${r.code}:\n${out}`);
  }

  const rotated = (dir: string) =>
    [1, 2, 3, 4, 5].map((i) => join(dir, "var", `rot.jsonl.${i}`)).filter(existsSync);

  test("the oldest rotated file removed and empty files up to keep added (a faked rotation)", async () => {
    const dir = copy();
    const files = rotated(dir);
    rmSync(files[files.length - 1] as string);
    for (let i = files.length; i <= 50; i++) writeFileSync(join(dir, "var", `rot.jsonl.${i}`), "");
    expectProblem(await verify(dir), "faked rotation");
  });

  test("every rotated file removed, the current file kept", async () => {
    const dir = copy();
    for (const f of rotated(dir)) rmSync(f);
    expectProblem(await verify(dir), "all rotated files removed");
  });

  test("every rotated file emptied in place", async () => {
    const dir = copy();
    for (const f of rotated(dir)) writeFileSync(f, "");
    expectProblem(await verify(dir), "rotated files emptied");
  });

  test("two rotated files swapped", async () => {
    const dir = copy();
    const [a, b] = rotated(dir) as [string, string];
    renameSync(a, `${a}.tmp`);
    renameSync(b, a);
    renameSync(`${a}.tmp`, b);
    expectProblem(await verify(dir), "rotated files swapped");
  });

  test("the checkpoint file emptied", async () => {
    const dir = copy();
    writeFileSync(join(dir, "data", "cp.jsonl"), "");
    expectProblem(await verify(dir), "checkpoint file emptied");
  });

  test("the flat log's tail cut and the checkpoint file deleted", async () => {
    const dir = copy();
    const f = join(dir, "var", "flat.jsonl");
    writeFileSync(
      f,
      lines(f)
        .slice(0, EVENTS - 9)
        .join("\n") + "\n",
    );
    rmSync(join(dir, "data", "cp.jsonl"));
    expectProblem(await verify(dir), "flat tail cut, checkpoints deleted");
  });

  test("the flat log deleted outright, checkpoints kept", async () => {
    const dir = copy();
    rmSync(join(dir, "var", "flat.jsonl"));
    expectProblem(await verify(dir), "flat log deleted");
  });

  test("the flat log deleted and the checkpoint file deleted", async () => {
    const dir = copy();
    rmSync(join(dir, "var", "flat.jsonl"));
    rmSync(join(dir, "data", "cp.jsonl"));
    expectProblem(await verify(dir), "flat log and checkpoints deleted");
  });

  test("the current rotating file emptied and the checkpoint file emptied", async () => {
    const dir = copy();
    writeFileSync(join(dir, "var", "rot.jsonl"), "");
    writeFileSync(join(dir, "data", "cp.jsonl"), "");
    expectProblem(await verify(dir), "current file and checkpoints emptied");
  });

  test("the SQLite tail cut and only the checkpoint lines past the cut removed", async () => {
    const dir = copy();
    const db = new Database(join(dir, "data", "warden.db"));
    db.prepare("DELETE FROM audit_events WHERE seq > ?").run(EVENTS - 10);
    db.close();
    const cps = join(dir, "data", "cp.jsonl");
    const kept = lines(cps).filter((l) => {
      const c = JSON.parse(l) as { sink: string; seq: number };
      return !(c.sink === "sqlite" && c.seq > EVENTS - 10);
    });
    writeFileSync(cps, kept.join("\n") + "\n");
    expectProblem(await verify(dir), "sqlite tail cut, its checkpoints trimmed");
  });

  test("SQLite head rows deleted and the checkpoint file deleted", async () => {
    const dir = copy();
    const db = new Database(join(dir, "data", "warden.db"));
    db.prepare("DELETE FROM audit_events WHERE seq <= 10").run();
    db.close();
    rmSync(join(dir, "data", "cp.jsonl"));
    expectProblem(await verify(dir), "sqlite head deleted, checkpoints deleted");
  });

  test("the SQLite audit table dropped", async () => {
    const dir = copy();
    const db = new Database(join(dir, "data", "warden.db"));
    db.prepare("DROP TABLE audit_events").run();
    db.close();
    expectProblem(await verify(dir), "audit_events dropped");
  });

  test("--checkpoints FILE: an older checkpoint file restored locally after a cut does not fool the copy kept elsewhere", async () => {
    const offsite = join(makeTempDir("warden-ho-offsite-"), "cp.jsonl");
    cpSync(join(golden, "data", "cp.jsonl"), offsite);
    const clean = await verify(copy(), "--sink", "sqlite", "--checkpoints", offsite);
    assert.equal(
      clean.code,
      0,
      `verify --checkpoints on the untouched log must pass:\n${clean.stdout}\n${clean.stderr}`,
    );

    const dir = copy();
    const cps = join(dir, "data", "cp.jsonl");
    const all = lines(cps);
    const older = all.slice(0, Math.floor(all.length / 2));
    const lastSqlite = Math.max(
      ...older
        .map((l) => JSON.parse(l) as { sink: string; seq: number })
        .filter((c) => c.sink === "sqlite")
        .map((c) => c.seq),
    );
    writeFileSync(cps, older.join("\n") + "\n");
    const db = new Database(join(dir, "data", "warden.db"));
    db.prepare("DELETE FROM audit_events WHERE seq > ?").run(lastSqlite);
    db.close();
    // The SQLite sink alone is rolled back consistently: only the offsite copy knows more.
    expectProblem(
      await verify(dir, "--sink", "sqlite", "--checkpoints", offsite),
      "rolled back with an older checkpoint file",
    );
  });
});
