// Issue 14 §6: audit tamper evidence that survives an intruder without the key. After a real
// gateway wrote a log (SQLite, a rotating JSONL file, a flat JSONL file, checkpoints), an intruder
// deletes or empties what it can reach; `mcp-warden audit verify` must report a problem (exit 1),
// never `ok`. Checkpoints kept elsewhere (`--checkpoints FILE`) catch an intruder who also rewrote
// the local checkpoint file.
import assert from "node:assert/strict";
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { everythingStdio, gatewayConfig } from "../helpers/configs.js";
import { makeTempDir, runCli, startGateway, type CliResult } from "../helpers/gateway.js";
import { openSession, toolCall } from "./fixtures/attack-lib.js";

const EVENTS = 60;

describe("audit tamper: verify reports what an intruder without the key removed", () => {
  let golden: string;

  before(async () => {
    const gw = await startGateway({
      ...gatewayConfig([everythingStdio()]),
      state: { sqlite: "state/state.db" },
      audit: {
        sinks: [
          "sqlite",
          { jsonl: "logs/rot.jsonl", max_bytes: 65536, keep: 50 },
          { jsonl: "logs/flat.jsonl" },
        ],
        key_file: "keys/audit.key",
        checkpoint_file: "cp/checkpoints.jsonl",
        checkpoint_every: 3,
      },
    });
    try {
      const s = await openSession(gw.mcpUrl);
      // Large arguments (kept up to audit.max_args_bytes) make the rotating sink rotate a few times.
      const words = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do "
        .repeat(70)
        .slice(0, 4000);
      for (let i = 0; i < EVENTS; i++) {
        const res = await s.post(toolCall(i + 10, "everything__echo", { message: `m${i} ${words}` }));
        assert.equal(res.status, 200, res.text.slice(0, 200));
      }
    } finally {
      await gw.stop();
    }
    golden = gw.dir;
    assert.ok(existsSync(join(golden, "logs", "rot.jsonl.3")), "the rotating sink should have rotated");
  });

  function copy(): string {
    const dir = makeTempDir("warden-tamper-");
    cpSync(golden, dir, { recursive: true });
    return dir;
  }

  async function verify(dir: string, ...extra: string[]): Promise<CliResult> {
    return runCli(["audit", "verify", "-c", join(dir, "warden.yaml"), ...extra], { cwd: dir });
  }

  function lines(file: string): string[] {
    return readFileSync(file, "utf8")
      .split("\n")
      .filter((l) => l.trim() !== "");
  }

  function expectProblem(r: CliResult, what: string) {
    const out = `${r.stdout}\n${r.stderr}`;
    assert.doesNotMatch(
      r.stderr,
      /unknown option|unknown command/i,
      `${what}: the CLI did not understand: ${out}`,
    );
    assert.equal(r.code, 1, `${what}: verify must report a problem (exit 1), got ${r.code}:\n${out}`);
  }

  test("control: the untouched log verifies", async () => {
    const r = await verify(copy());
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  });

  test("head of the flat JSONL deleted, empty flat.jsonl.1 … .10 created (the issue's attack)", async () => {
    const dir = copy();
    const file = join(dir, "logs", "flat.jsonl");
    writeFileSync(file, lines(file).slice(18).join("\n") + "\n");
    // Empty files up to `keep` (default 10) make it look as if rotation had dropped the prefix.
    for (let i = 1; i <= 10; i++) writeFileSync(`${file}.${i}`, "");
    expectProblem(await verify(dir), "head deleted behind empty rotated files");
  });

  test("a rotated file in the middle removed", async () => {
    const dir = copy();
    rmSync(join(dir, "logs", "rot.jsonl.2"));
    expectProblem(await verify(dir), "rot.jsonl.2 deleted");
  });

  test("the checkpoint file deleted (nothing else touched)", async () => {
    const dir = copy();
    rmSync(join(dir, "cp", "checkpoints.jsonl"));
    expectProblem(await verify(dir), "checkpoint file deleted");
  });

  test("the SQLite table emptied", async () => {
    const dir = copy();
    const db = new Database(join(dir, "state", "state.db"));
    db.prepare("DELETE FROM audit_events").run();
    db.close();
    expectProblem(await verify(dir), "audit_events emptied");
  });

  test("the SQLite table emptied and the checkpoint file deleted", async () => {
    const dir = copy();
    const db = new Database(join(dir, "state", "state.db"));
    db.prepare("DELETE FROM audit_events").run();
    db.close();
    rmSync(join(dir, "cp", "checkpoints.jsonl"));
    expectProblem(await verify(dir), "audit_events emptied, checkpoints deleted");
  });

  test("the SQLite tail cut and the checkpoint file deleted", async () => {
    const dir = copy();
    const db = new Database(join(dir, "state", "state.db"));
    db.prepare("DELETE FROM audit_events WHERE seq > ?").run(EVENTS - 12);
    db.close();
    rmSync(join(dir, "cp", "checkpoints.jsonl"));
    expectProblem(await verify(dir), "tail cut, checkpoints deleted");
  });

  test("--checkpoints FILE: checkpoints kept elsewhere catch a cut tail the local file no longer shows", async () => {
    const offsite = join(makeTempDir("warden-offsite-"), "checkpoints.jsonl");
    cpSync(join(golden, "cp", "checkpoints.jsonl"), offsite);
    const clean = await verify(copy(), "--checkpoints", offsite);
    assert.equal(
      clean.code,
      0,
      `verify --checkpoints on the untouched log must pass:\n${clean.stdout}\n${clean.stderr}`,
    );

    // The intruder cuts the flat log's last 12 events and drops the local checkpoints past the cut.
    const dir = copy();
    const file = join(dir, "logs", "flat.jsonl");
    const kept = lines(file).slice(0, EVENTS - 12);
    writeFileSync(file, kept.join("\n") + "\n");
    const lastSeq = (JSON.parse(kept[kept.length - 1] as string) as { seq: number }).seq;
    const cps = join(dir, "cp", "checkpoints.jsonl");
    writeFileSync(
      cps,
      lines(cps)
        .filter((l) => {
          const c = JSON.parse(l) as { sink: string; seq: number };
          return !(c.sink.includes("flat") && c.seq > lastSeq);
        })
        .join("\n") + "\n",
    );
    expectProblem(await verify(dir, "--checkpoints", offsite), "tail cut, local checkpoints trimmed");
  });
});
