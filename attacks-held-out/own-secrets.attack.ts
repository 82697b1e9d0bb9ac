// Held-out attacks, issue 14 §1 (the gateway protects its own secrets): variants not in
// test/attacks/own-secrets.test.ts.
import assert from "node:assert/strict";
import {
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { basename, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { importJWK, SignJWT, type JWK } from "jose";
import { everythingStdio, READ_ONLY_FILE_TOOLS } from "../test/helpers/configs.js";
import {
  FILESYSTEM_BIN,
  makeTempDir,
  runCli,
  startGateway,
  writeConfig,
  type Gateway,
} from "../test/helpers/gateway.js";
import {
  attackFixture,
  errorFor,
  http,
  openSession,
  recordedCalls,
  resultFor,
  toolCall,
  type AttackSession,
  type HttpResult,
} from "../test/attacks/fixtures/attack-lib.js";

function contentNeedles(file: string): string[] {
  if (!existsSync(file)) return [];
  const bytes = readFileSync(file);
  if (bytes.length === 0) return [];
  const head = bytes.subarray(0, Math.min(24, bytes.length));
  const out = [head.toString("hex"), head.toString("base64").slice(0, 24)];
  const text = bytes.toString("utf8");
  if (/^[\x20-\x7e\n\r\t]{8,}/.test(text.slice(0, 24))) out.push(text.slice(0, 24).trim());
  const d = /"d"\s*:\s*"([^"]{16})/.exec(text);
  if (d?.[1]) out.push(d[1]);
  if (bytes.subarray(0, 15).toString("latin1") === "SQLite format 3") out.push("SQLite format 3");
  return out.filter((n) => n.length >= 8);
}

describe("held-out own secrets: path forms, links and tools not in the visible set", () => {
  let gw: Gateway;
  let root: string;
  let state: string;
  let keys: string;
  let logs: string;
  let project: string;
  let recordFile: string;
  let reader: AttackSession;
  let files: AttackSession;
  let owned: string[];
  let id = 1000;

  before(async () => {
    root = makeTempDir("warden-ho-own-");
    state = join(root, "var");
    keys = join(root, "secrets");
    logs = join(root, "log");
    for (const d of [state, keys, logs]) mkdirSync(d);
    project = makeTempDir("warden-ho-proj-");
    mkdirSync(join(project, "src", "deep"), { recursive: true });
    writeFileSync(join(project, "src", "main.txt"), "hello\n");
    recordFile = join(makeTempDir("warden-ho-rec-"), "reader.jsonl");
    gw = await startGateway({
      gateway: { listen: "127.0.0.1:0" },
      state: { sqlite: join(state, "warden.sqlite") },
      auth: { anonymous: ["files:read"], signing_key_file: join(keys, "jwks.json") },
      audit: {
        sinks: ["sqlite", { jsonl: join(logs, "events.jsonl") }],
        key_file: join(keys, "chain.key"),
        checkpoint_file: join(state, "cp.jsonl"),
        checkpoint_every: 1,
      },
      servers: [
        {
          name: "reader",
          command: process.execPath,
          args: [attackFixture("reader-server.mjs")],
          env: { RECORD_FILE: recordFile },
          cwd: project,
          tools: { "*": ["files:read"] },
          arguments: { read_many: { paths: "path" } },
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
    const ok = await reader.post(toolCall(1, "read_file", { path: join(project, "src", "main.txt") }));
    assert.match(ok.text, /hello/, `a plain read must work: ${ok.text.slice(0, 300)}`);
    owned = [
      join(state, "warden.sqlite"),
      join(state, "warden.sqlite-wal"),
      join(state, "warden.sqlite-shm"),
      join(state, "cp.jsonl"),
      join(state, "admin-bootstrap-token"),
      join(keys, "jwks.json"),
      join(keys, "chain.key"),
      join(logs, "events.jsonl"),
    ];
    for (const f of owned) assert.ok(existsSync(f), `the gateway should have created ${f}`);
  });

  after(async () => {
    await gw?.stop();
  });

  function assertNoLeak(res: HttpResult, what: string) {
    for (const f of owned)
      for (const n of contentNeedles(f))
        assert.ok(!res.text.includes(n), `${what}: the answer carries the content of ${basename(f)}`);
  }

  async function attack(session: AttackSession, tool: string, args: Record<string, unknown>, what: string) {
    const before = recordedCalls(recordFile).length;
    const callId = ++id;
    const res = await session.post(toolCall(callId, tool, args));
    assertNoLeak(res, what);
    const err = errorFor(res, callId);
    assert.ok(err, `${what}: expected a refusal, got ${res.status} ${res.text.slice(0, 300)}`);
    assert.equal(err.code, -32001, `${what}: expected -32001, got ${JSON.stringify(err)}`);
    if (session === reader)
      assert.equal(recordedCalls(recordFile).length, before, `${what}: upstream saw it`);
  }

  test("double slashes, ./ and x/.. inside absolute paths", async () => {
    const variants = [
      `/${join(state, "warden.sqlite").replace(/\//g, "//")}`,
      join(state, ".") + "/./warden.sqlite-shm",
      `${state}/nothing/../warden.sqlite`,
      `${keys}/../${basename(keys)}/chain.key`,
      `${logs}/./././events.jsonl`,
    ];
    for (const v of variants) await attack(reader, "read_file", { path: v }, `path ${v}`);
  });

  test("mixed-case and partial percent-encoding, and encoded file: URIs", async () => {
    const variants = [
      join(keys, "chain.key").replace(/\./g, "%2e"),
      join(keys, "jwks.json").replace("/jwks", "%2Fjwks"),
      `file://${join(state, "warden.sqlite").replace(".sqlite", "%2Esqlite")}`,
      `file://${join(state, "cp.jsonl").replace(/\//g, "%2F").replace(/^%2F/, "/")}`,
      join(state, "admin-bootstrap-token").replace("admin", "%61dmin"),
    ];
    for (const v of variants) await attack(reader, "read_file", { path: v }, `encoded ${v}`);
  });

  test("a symlink to the secrets folder, and a chain of symlinks to the checkpoint file", async () => {
    symlinkSync(keys, join(project, "config"));
    symlinkSync(join(state, "cp.jsonl"), join(project, "src", "b.txt"));
    symlinkSync(join(project, "src", "b.txt"), join(project, "src", "deep", "a.txt"));
    await attack(
      reader,
      "read_file",
      { path: join(project, "config", "jwks.json") },
      "dir symlink → jwks.json",
    );
    await attack(
      reader,
      "read_file",
      { path: join(project, "src", "deep", "a.txt") },
      "symlink chain → cp.jsonl",
    );
    await attack(files, "read_text_file", { path: join(project, "config", "chain.key") }, "fs: dir symlink");
  });

  test("hard links to the checkpoint file, the JSONL sink and the database, read by both servers", async () => {
    const links: [string, string][] = [
      [join(state, "cp.jsonl"), join(project, "src", "deep", "history.log")],
      [join(logs, "events.jsonl"), join(project, "src", "events.txt")],
      [join(state, "warden.sqlite"), join(project, "backup.bin")],
      [join(keys, "jwks.json"), join(project, "src", "deep", "package.json")],
    ];
    for (const [target, link] of links) linkSync(target, link);
    for (const [target, link] of links) {
      await attack(files, "read_text_file", { path: link }, `fs: hard link → ${basename(target)}`);
      await attack(reader, "read_file", { path: link }, `hard link → ${basename(target)}`);
    }
    await attack(files, "get_file_info", { path: join(project, "backup.bin") }, "fs: info on a hard link");
  });

  test("a hard link to every file in the state and secrets folders, whatever the gateway put there", async () => {
    const linkDir = join(project, "mirror");
    mkdirSync(linkDir);
    for (const folder of [state, keys]) {
      for (const name of readdirSync(folder)) {
        const target = join(folder, name);
        const link = join(linkDir, `${basename(folder)}-${name}`);
        try {
          linkSync(target, link);
        } catch {
          continue; // a folder (the spool), or gone meanwhile
        }
        await attack(reader, "read_file", { path: link }, `hard link → ${basename(folder)}/${name}`);
      }
    }
  });

  test("other argument shapes: an array, a `source` argument, a stat", async () => {
    await attack(
      reader,
      "read_many",
      { paths: [join(project, "src", "main.txt"), join(keys, "chain.key")] },
      "array with the audit key",
    );
    await attack(
      reader,
      "copy_file",
      { source: join(state, "warden.sqlite-wal"), destination: join(project, "out.bin") },
      "source argument",
    );
    await attack(reader, "file_info", { path: join(state, "warden.sqlite") }, "stat of the database");
  });

  test("through the gateway's own /proc entries", async () => {
    const pid = gw.proc.pid;
    for (const p of [`/proc/${pid}/root${join(keys, "chain.key")}`, `/proc/${pid}/cwd/warden.yaml`]) {
      await attack(reader, "read_file", { path: p }, `proc ${p}`);
    }
  });

  test("a private key read through any route cannot mint an admin token", async () => {
    const answers: string[] = [];
    for (const p of [join(keys, "jwks.json"), join(project, "src", "deep", "package.json")]) {
      for (const res of [
        await reader.post(toolCall(++id, "read_file", { path: p })),
        await files.post(toolCall(++id, "read_text_file", { path: p })),
      ]) {
        const content = (resultFor(res)?.content ?? []) as { text?: string }[];
        answers.push(...content.map((c) => c.text ?? ""));
      }
    }
    const found: JWK[] = [];
    for (const a of answers) {
      for (const m of a.matchAll(/\{[^{}]*"kty"\s*:\s*"RSA"[^{}]*\}/g)) {
        try {
          const jwk = JSON.parse(m[0]) as JWK;
          if (jwk.d) found.push(jwk);
        } catch {
          // not JSON
        }
      }
    }
    for (const jwk of found) {
      for (const aud of [gw.url, "http://127.0.0.1:0"]) {
        const now = Math.floor(Date.now() / 1000);
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
          .sign(await importJWK(jwk, "RS256"));
        const me = await http(`${gw.url}/admin/api/me`, {
          method: "GET",
          headers: { authorization: `Bearer ${forged}` },
        });
        assert.notEqual(me.status, 200, "a signing key read through a tool minted an admin token");
      }
    }
    assert.equal(found.length, 0, "a private signing key came back through a tool");
  });
});

describe("held-out own secrets: check refuses other ways a fronted server reaches the files", () => {
  async function expectRefused(config: Record<string, unknown>, dir: string, owned: RegExp, what: string) {
    const file = writeConfig(config, dir);
    const check = await runCli(["check", "-c", file], { cwd: dir });
    const out = check.stdout + check.stderr;
    assert.equal(check.code, 2, `${what}: check must exit 2, got ${check.code}: ${out}`);
    assert.match(out, owned, `${what}: check must name the gateway's file: ${out}`);
  }

  test("cwd inside the state folder", async () => {
    const dir = makeTempDir("warden-ho-chk-");
    const state = join(dir, "var");
    mkdirSync(state);
    await expectRefused(
      {
        gateway: { listen: "127.0.0.1:0" },
        state: { sqlite: join(state, "state.db") },
        auth: { anonymous: ["files:read"] },
        servers: [
          {
            name: "reader",
            command: process.execPath,
            args: [attackFixture("reader-server.mjs")],
            cwd: state,
            tools: { "*": ["files:read"] },
          },
        ],
      },
      dir,
      /state\.db/,
      "cwd in the state folder",
    );
  });

  test("allowed_paths containing the audit key's folder", async () => {
    const dir = makeTempDir("warden-ho-chk-");
    const secrets = join(dir, "secrets");
    mkdirSync(secrets);
    await expectRefused(
      {
        gateway: { listen: "127.0.0.1:0" },
        state: { sqlite: join(makeTempDir("warden-ho-st-"), "state.db") },
        auth: { anonymous: ["files:read"] },
        audit: { key_file: join(secrets, "audit.key") },
        servers: [
          {
            name: "reader",
            command: process.execPath,
            args: [attackFixture("reader-server.mjs")],
            allowed_paths: [dir],
            tools: { "*": ["files:read"] },
          },
        ],
      },
      dir,
      /audit\.key/,
      "allowed_paths over the audit key",
    );
  });

  test("a sandbox folder holding the JSONL sink", async () => {
    const dir = makeTempDir("warden-ho-chk-");
    const logs = join(dir, "logs");
    mkdirSync(logs);
    await expectRefused(
      {
        gateway: { listen: "127.0.0.1:0" },
        state: { sqlite: join(makeTempDir("warden-ho-st-"), "state.db") },
        auth: { anonymous: ["files:read"] },
        audit: { sinks: ["sqlite", { jsonl: join(logs, "audit.jsonl") }] },
        servers: [
          {
            name: "files",
            command: FILESYSTEM_BIN,
            args: [join(dir, "public")],
            sandbox: { readable: [dir], writable: [] },
            tools: { read_text_file: ["files:read"] },
          },
        ],
      },
      dir,
      /audit\.jsonl/,
      "sandbox readable over the JSONL sink",
    );
  });
});

describe("held-out own secrets: the audit key does not sit unflagged beside the data it protects", () => {
  test("default key location: outside the state folder, or check warns about it", async () => {
    const gw = await startGateway({
      gateway: { listen: "127.0.0.1:0" },
      state: { sqlite: ".warden/state.db" },
      auth: { anonymous: ["demo:use"] },
      servers: [everythingStdio()],
    });
    try {
      const beside = readdirSync(join(gw.dir, ".warden")).filter((n) => /audit.*key|\.key$/.test(n));
      if (beside.length === 0) return;
      const check = await runCli(["check", "-c", gw.configFile], { cwd: gw.dir });
      const out = check.stdout + check.stderr;
      assert.match(
        out,
        /audit[ ._-]?key|key_file/i,
        `the audit key (${beside.join(", ")}) sits in the state folder and check says nothing: ${out}`,
      );
    } finally {
      await gw.stop();
    }
  });
});
