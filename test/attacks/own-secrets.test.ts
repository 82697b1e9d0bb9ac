// Issue 14 §1: the gateway protects its own secrets. An agent with only `files:read` must never read
// a file the gateway owns (state database and its -wal/-shm, signing key set, audit key, checkpoint
// file, JSONL sink, spool, bootstrap token) through a path argument, whatever form the path takes,
// through symlinks or hard links; `check`/`start` refuse a config whose fronted server can reach
// them; a copied state database yields no usable signing key.
import assert from "node:assert/strict";
import { copyFileSync, linkSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from "node:fs";
import { basename, join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { importJWK, SignJWT, type JWK } from "jose";
import {
  FILESYSTEM_BIN,
  makeTempDir,
  runCli,
  startGateway,
  writeConfig,
  type Gateway,
} from "../helpers/gateway.js";
import { READ_ONLY_FILE_TOOLS } from "../helpers/configs.js";
import {
  attackFixture,
  errorFor,
  http,
  openSession,
  recordedCalls,
  toolCall,
  type AttackSession,
  type HttpResult,
} from "./fixtures/attack-lib.js";

/** Substrings of a file's content that would show it leaked (hex, utf-8 and base64 forms). */
function needles(file: string): string[] {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch {
    return [];
  }
  if (bytes.length === 0) return [];
  const head = bytes.subarray(0, Math.min(24, bytes.length));
  const out = [head.toString("hex"), head.toString("base64").slice(0, 24)];
  const text = bytes.toString("utf8");
  if (/^[\x20-\x7e\n\r\t]{8,}/.test(text.slice(0, 24))) out.push(text.slice(0, 24).trim());
  // A JWK set: its private exponent, wherever it sits in the answer.
  const d = /"d"\s*:\s*"([^"]{16})/.exec(text);
  if (d?.[1]) out.push(d[1]);
  if (bytes.subarray(0, 15).toString("latin1") === "SQLite format 3") out.push("SQLite format 3");
  return out.filter((n) => n.length >= 8);
}

function assertNoLeak(res: HttpResult, files: string[], what: string) {
  for (const f of files) {
    for (const n of needles(f)) {
      assert.ok(
        !res.text.includes(n),
        `${what}: the answer carries the content of ${f} (${n.slice(0, 12)}…)`,
      );
    }
  }
}

describe("own secrets: the gateway's files are never readable through a fronted server", () => {
  let gw: Gateway;
  let state: string; // the state folder: state.db, -wal, -shm, checkpoints, spool, bootstrap token
  let keys: string; // signing key set and audit key
  let logs: string; // JSONL sink
  let project: string; // the folder the fronted servers serve
  let recordFile: string;
  let reader: AttackSession;
  let files: AttackSession;
  let owned: string[];
  let id = 100;

  before(async () => {
    const root = makeTempDir("warden-own-");
    state = join(root, "state");
    keys = join(root, "keys");
    logs = join(root, "logs");
    for (const d of [state, keys, logs]) mkdirSync(d);
    project = makeTempDir("warden-project-");
    recordFile = join(makeTempDir("warden-rec-"), "reader.jsonl");
    mkdirSync(join(project, "docs"));
    copyFileSync(attackFixture("reader-server.mjs"), join(project, "docs", "readme.txt"));
    gw = await startGateway({
      gateway: { listen: "127.0.0.1:0" },
      state: { sqlite: join(state, "state.db") },
      auth: { anonymous: ["files:read"], signing_key_file: join(keys, "signing.jwk") },
      audit: {
        sinks: ["sqlite", { jsonl: join(logs, "audit.jsonl") }],
        key_file: join(keys, "audit.key"),
        checkpoint_file: join(state, "checkpoints.jsonl"),
        checkpoint_every: 1,
        spool: join(state, "spool"),
      },
      servers: [
        {
          name: "reader",
          command: process.execPath,
          args: [attackFixture("reader-server.mjs")],
          env: { RECORD_FILE: recordFile },
          cwd: project,
          tools: { "*": ["files:read"] },
        },
        {
          name: "files",
          command: FILESYSTEM_BIN,
          args: [project],
          allowed_paths: [project],
          tools: Object.fromEntries(READ_ONLY_FILE_TOOLS.map((t) => [t, ["files:read"]])),
        },
      ],
    });
    reader = await openSession(gw.serverUrl("reader"));
    files = await openSession(gw.serverUrl("files"));
    // A legitimate read first: the route works, and the audit log and checkpoints get written.
    const ok = await reader.post(toolCall(1, "read_file", { path: join(project, "docs", "readme.txt") }));
    assert.equal(errorFor(ok), undefined, `a plain read must work: ${ok.text.slice(0, 300)}`);
    const ok2 = await files.post(
      toolCall(2, "read_text_file", { path: join(project, "docs", "readme.txt") }),
    );
    assert.equal(errorFor(ok2), undefined, `a plain read must work: ${ok2.text.slice(0, 300)}`);
    owned = [
      join(state, "state.db"),
      join(state, "state.db-wal"),
      join(state, "state.db-shm"),
      join(state, "checkpoints.jsonl"),
      join(state, "admin-bootstrap-token"),
      join(keys, "signing.jwk"),
      join(keys, "audit.key"),
      join(logs, "audit.jsonl"),
    ];
    const present = new Set([...readdirSync(state), ...readdirSync(keys), ...readdirSync(logs)]);
    for (const f of owned) assert.ok(present.has(basename(f)), `the gateway should have created ${f}`);
  });

  after(async () => {
    await gw?.stop();
  });

  async function attack(session: AttackSession, tool: string, args: Record<string, unknown>, what: string) {
    const before = recordedCalls(recordFile).length;
    const callId = ++id;
    const res = await session.post(toolCall(callId, tool, args));
    assertNoLeak(res, owned, what);
    const err = errorFor(res, callId);
    assert.ok(err, `${what}: expected a refusal, got ${res.status} ${res.text.slice(0, 300)}`);
    assert.equal(err.code, -32001, `${what}: expected -32001 policy_denied, got ${JSON.stringify(err)}`);
    if (session === reader) {
      assert.equal(recordedCalls(recordFile).length, before, `${what}: the upstream received the call`);
    }
  }

  test("absolute paths to every owned file are refused (no allowed_paths on the server)", async () => {
    for (const f of owned) await attack(reader, "read_file", { path: f }, `read ${f}`);
  });

  test("the spool folder is owned too, even for a file not written yet", async () => {
    await attack(reader, "read_file", { path: join(state, "spool", "sqlite.jsonl") }, "spool file");
  });

  test("relative paths with dot segments from the server's folder", async () => {
    const rel = (f: string) =>
      `../${basename(join(f, "..", ".."))}/${basename(join(f, ".."))}/${basename(f)}`;
    for (const f of [join(state, "state.db-wal"), join(keys, "audit.key"), join(keys, "signing.jwk")]) {
      await attack(reader, "read_file", { path: rel(f) }, `relative ${rel(f)}`);
      await attack(reader, "read_file", { path: `./${rel(f)}` }, `relative ./${rel(f)}`);
    }
  });

  test("percent-encoded paths (the upstream decodes them)", async () => {
    const wal = join(state, "state.db-wal");
    const variants = [
      wal.replace(/\//g, "%2F"),
      wal.replace(/state\.db-wal$/, "%73tate.db-wal"),
      join(keys, "audit.key").replace(/\.key$/, "%2Ekey"),
      join(keys, "signing.jwk").replace(/signing/, "%2573igning"), // double-encoded
    ];
    for (const v of variants) await attack(reader, "read_file", { path: v }, `encoded ${v}`);
  });

  test("file: URIs", async () => {
    for (const f of [
      join(state, "state.db"),
      join(keys, "audit.key"),
      join(state, "admin-bootstrap-token"),
    ]) {
      await attack(reader, "read_file", { path: `file://${f}` }, `file URI ${f}`);
      await attack(reader, "read_file", { path: `file://localhost${f}` }, `file://localhost ${f}`);
    }
  });

  test("a symlink inside the served folder to the audit key and to the WAL", async () => {
    symlinkSync(join(keys, "audit.key"), join(project, "docs", "notes.txt"));
    symlinkSync(join(state, "state.db-wal"), join(project, "wal-link"));
    await attack(reader, "read_file", { path: join(project, "docs", "notes.txt") }, "symlink → audit.key");
    await attack(reader, "read_file", { path: join(project, "wal-link") }, "symlink → state.db-wal");
    await attack(
      files,
      "read_text_file",
      { path: join(project, "docs", "notes.txt") },
      "fs: symlink → audit.key",
    );
  });

  test("a hard link inside the served folder to the audit key, the signing key and the bootstrap token", async () => {
    const links: [string, string][] = [
      [join(keys, "audit.key"), join(project, "docs", "changelog.md")],
      [join(keys, "signing.jwk"), join(project, "docs", "keys.json")],
      [join(state, "admin-bootstrap-token"), join(project, "docs", "token.txt")],
    ];
    for (const [target, link] of links) linkSync(target, link);
    for (const [target, link] of links) {
      await attack(files, "read_text_file", { path: link }, `fs: hard link → ${basename(target)}`);
      await attack(reader, "read_file", { path: link }, `hard link → ${basename(target)}`);
    }
    // Through the array argument of read_multiple_files, beside a harmless file.
    await attack(
      files,
      "read_multiple_files",
      { paths: [join(project, "docs", "readme.txt"), join(project, "docs", "keys.json")] },
      "fs: read_multiple_files with a hard link",
    );
  });

  test("the whole chain: whatever a read returned cannot open the admin API", async () => {
    // Try every route an attacker has to the bootstrap token and keep anything token-shaped.
    const token = readFileSync(join(state, "admin-bootstrap-token"), "utf8").trim();
    const seen: string[] = [];
    for (const p of [join(state, "admin-bootstrap-token"), join(project, "docs", "token.txt")]) {
      const res = await reader.post(toolCall(++id, "read_file", { path: p }));
      seen.push(res.text);
    }
    const got: string[] = seen.join("\n").match(/wbt_[A-Za-z0-9_-]{20,}/g) ?? [];
    assert.ok(!got.includes(token), "the bootstrap token came back through a tool");
    for (const t of got) {
      const me = await http(`${gw.url}/admin/api/me`, {
        method: "GET",
        headers: { authorization: `Bearer ${t}` },
      });
      assert.notEqual(me.status, 200, "a token read through a tool opened the admin API");
    }
  });
});

describe("own secrets: check and start refuse a fronted server that reaches the gateway's files", () => {
  test("the README layout (state beside the config, the folder fronted) is refused naming both paths", async () => {
    const dir = makeTempDir("warden-layout-");
    const file = writeConfig(
      {
        gateway: { listen: "127.0.0.1:0" },
        state: { sqlite: ".warden/state.db" },
        auth: { anonymous: ["files:read"] },
        servers: [
          {
            name: "files",
            command: FILESYSTEM_BIN,
            args: [dir],
            allowed_paths: [dir],
            tools: { read_text_file: ["files:read"] },
          },
        ],
      },
      dir,
    );
    const check = await runCli(["check", "-c", file], { cwd: dir });
    const out = check.stdout + check.stderr;
    assert.equal(check.code, 2, `check must refuse the layout (exit 2), got ${check.code}: ${out}`);
    assert.match(out, /state\.db/, `check must name the state database: ${out}`);
    assert.ok(out.includes(dir), `check must name the fronted folder ${dir}: ${out}`);

    const start = await runCli(["start", "-c", file], { cwd: dir, timeoutMs: 15_000 });
    assert.notEqual(start.code, 0, "start must refuse the layout");
    assert.equal(start.signal, null, "start must exit by itself, not keep serving until killed");
  });

  test("a fronted server whose argument is the signing key's folder is refused", async () => {
    const dir = makeTempDir("warden-layout-");
    const keyDir = join(dir, "keys");
    mkdirSync(keyDir);
    const file = writeConfig(
      {
        gateway: { listen: "127.0.0.1:0" },
        state: { sqlite: join(makeTempDir("warden-state-"), "state.db") },
        auth: { anonymous: ["files:read"], signing_key_file: join(keyDir, "signing.jwk") },
        servers: [
          {
            name: "files",
            command: FILESYSTEM_BIN,
            args: [keyDir],
            tools: { read_text_file: ["files:read"] },
          },
        ],
      },
      dir,
    );
    const check = await runCli(["check", "-c", file], { cwd: dir });
    const out = check.stdout + check.stderr;
    assert.equal(check.code, 2, `check must refuse (exit 2), got ${check.code}: ${out}`);
    assert.match(out, /signing\.jwk/, `check must name the signing key file: ${out}`);
  });
});

describe("own secrets: a copied state database yields no usable signing key", () => {
  test("no private JWK in the database, its WAL or any column, and nothing minted from it opens the admin API", async () => {
    const gw = await startGateway({
      gateway: { listen: "127.0.0.1:0" },
      state: { sqlite: ".warden/state.db" },
      auth: { anonymous: ["files:read"] },
      servers: [
        {
          name: "files",
          command: FILESYSTEM_BIN,
          args: [makeTempDir("warden-srv-")],
          tools: { read_text_file: ["files:read"] },
        },
      ],
    });
    try {
      // Make the issuer use its key once, so it is surely in the store.
      const t = await runCli(["token", "-c", gw.configFile, "--sub", "probe", "--scope", "files:read"], {
        cwd: gw.dir,
      });
      assert.equal(t.code, 0, t.stderr);
      const copy = makeTempDir("warden-stolen-");
      for (const f of readdirSync(join(gw.dir, ".warden")).filter((n) => n.startsWith("state.db"))) {
        copyFileSync(join(gw.dir, ".warden", f), join(copy, f));
      }
      const candidates: JWK[] = [];
      const scan = (text: string) => {
        for (const m of text.matchAll(/\{[^{}]*"kty"\s*:\s*"RSA"[^{}]*\}/g)) {
          try {
            const jwk = JSON.parse(m[0]) as JWK;
            if (jwk.d) candidates.push(jwk);
          } catch {
            // not JSON
          }
        }
      };
      for (const f of readdirSync(copy)) {
        const raw = readFileSync(join(copy, f)).toString("latin1");
        assert.doesNotMatch(
          raw,
          /-----BEGIN (RSA )?PRIVATE KEY-----/,
          `${f} holds a PEM private key in clear`,
        );
        scan(raw);
      }
      const db = new Database(join(copy, "state.db"), { readonly: true });
      try {
        const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as {
          name: string;
        }[];
        for (const { name } of tables) {
          for (const row of db.prepare(`SELECT * FROM "${name}"`).all() as Record<string, unknown>[]) {
            for (const v of Object.values(row)) {
              if (typeof v === "string") scan(v);
              else if (Buffer.isBuffer(v)) scan(v.toString("utf8"));
            }
          }
        }
      } finally {
        db.close();
      }
      // Whatever was found, try it: a token it signs must not open the admin API.
      for (const jwk of candidates) {
        const key = await importJWK(jwk, "RS256");
        const now = Math.floor(Date.now() / 1000);
        const base = new URL(gw.url);
        for (const aud of [gw.url, `http://127.0.0.1:0`, `${base.protocol}//${base.host}`]) {
          const forged = await new SignJWT({
            scope: "warden:admin",
            client_id: "mcp-warden-cli",
            sub: "intruder",
            iss: aud,
            aud,
            iat: now,
            exp: now + 300,
            jti: crypto.randomUUID(),
          })
            .setProtectedHeader({ alg: "RS256", typ: "at+jwt", ...(jwk.kid ? { kid: jwk.kid } : {}) })
            .sign(key);
          const me = await http(`${gw.url}/admin/api/me`, {
            method: "GET",
            headers: { authorization: `Bearer ${forged}` },
          });
          assert.notEqual(
            me.status,
            200,
            "a key read from a copy of the database minted a working admin token",
          );
        }
      }
      assert.equal(
        candidates.length,
        0,
        `the copied database holds ${candidates.length} private JWK(s) in clear`,
      );
    } finally {
      await gw.stop();
    }
  });
});
