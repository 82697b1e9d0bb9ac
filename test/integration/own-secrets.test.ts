// The gateway protects its own secrets (issue 14, 1). The issue's attack: the real filesystem
// server fronts the folder that holds the config and `.warden/state.db`, and an agent with only
// `files:read` reads the signing key out of the WAL, the audit key and the bootstrap token. Here the
// server takes its root from its environment (where `check` cannot look), and every spelling of
// every owned file — direct, relative, `..`, a symlink or hard link placed beside them, a case or
// Unicode variant — is refused -32001 `path_not_allowed`, audited, never reaches the server, and no
// secret appears in anything the client receives; a plain file beside them still reads.
// The same holds where the value is no path argument: a `file:` URI as a URL parser reads it
// (` file:///…`), every word of a command (globs, nested shells, `cd`), any string under a name no
// guard knows (relative, percent-encoded, padded), each against a careless server that would have
// read it; a path too deep to be a file is refused saying why, and a flood of them stalls nobody.
// Then: `check` and `start` refuse a config that gives a server those files; and a copied state
// database yields no usable key, and does not start under another key.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import type { McpError } from "@modelcontextprotocol/sdk/types.js";
import { connectClient, mcpError, reasonOf, textOf, type ConnectedClient } from "../helpers/client.js";
import { filesystemStdio, gatewayConfig, READ_ONLY_FILE_TOOLS, recorderStdio } from "../helpers/configs.js";
import { fixture, makeTempDir, runCli, startGateway, writeConfig, type Gateway } from "../helpers/gateway.js";
import { receivedMessages, receivedToolCalls } from "../helpers/records.js";
import { auditEvents } from "../helpers/supply.js";

const LOG = "logs/prüfung.jsonl"; // a non-ASCII name: the filesystem server resolves Unicode equivalents

describe("owned files are never served to a tool call", () => {
  let gw: Gateway;
  let c: ConnectedClient;
  let fsRecord: string;
  let recRecord: string;
  let resRecord: string;
  let looseRecord: string;
  let refusals = 0;
  const secrets: string[] = [];

  before(async () => {
    const records = makeTempDir("warden-own-records-");
    fsRecord = join(records, "fs.jsonl");
    recRecord = join(records, "rec.jsonl");
    resRecord = join(records, "res.jsonl");
    looseRecord = join(records, "loose.jsonl");
    gw = await startGateway({
      ...gatewayConfig(
        [
          {
            name: "files",
            command: process.execPath,
            args: [fixture("fs-from-env.mjs")],
            // "." is the gateway's working directory: the folder with warden.yaml and .warden/.
            env: { FS_ROOTS: JSON.stringify(["."]), RECORD_FILE: fsRecord },
            tools: Object.fromEntries(READ_ONLY_FILE_TOOLS.map((t) => [t, ["files:read"]])),
          },
          recorderStdio("rec", recRecord, { echo: ["files:read"] }),
          {
            name: "res",
            command: process.execPath,
            args: [fixture("file-resources-server.mjs")],
            env: { RECORD_FILE: resRecord },
            tools: { "*": ["files:read"] },
          },
          {
            // No cwd: it runs in the gateway's folder, beside warden.yaml and .warden/.
            name: "loose",
            command: process.execPath,
            args: [fixture("loose-server.mjs")],
            env: { RECORD_FILE: looseRecord },
            tools: { "*": ["files:read"] },
          },
        ],
        { anonymous: ["files:read"] },
      ),
      audit: { sinks: ["sqlite", { jsonl: LOG }] },
    });
    const dir = gw.dir;
    // What the gateway wrote for itself must be there for the attack to mean anything.
    for (const f of [".warden/state.db", ".warden/state.db-wal", ".warden/audit.key", ".warden/state.key"])
      assert.ok(existsSync(join(dir, f)), `${f} missing`);
    assert.ok(existsSync(join(dir, ".warden/admin-bootstrap-token")), "no bootstrap token file");
    secrets.push(
      readFileSync(join(dir, ".warden/audit.key"), "utf8").trim(),
      readFileSync(join(dir, ".warden/state.key"), "utf8").trim(),
      readFileSync(join(dir, ".warden/admin-bootstrap-token"), "utf8").trim(),
      "SQLite format 3",
    );
    // The attacker's preparations in the fronted folder (made after start: nothing check could see).
    mkdirSync(join(dir, "public", "sub"), { recursive: true });
    writeFileSync(join(dir, "public", "notes.txt"), "plain notes\n");
    symlinkSync("../.warden/state.db", join(dir, "public", "db-link"));
    symlinkSync("../.warden/audit.key", join(dir, "public", "key-link"));
    symlinkSync("../.warden", join(dir, "public", "wdir"));
    linkSync(join(dir, ".warden/state.db-wal"), join(dir, "public", "wal-hardlink"));
    linkSync(join(dir, ".warden/audit.key"), join(dir, "public", "key-hardlink"));
    linkSync(join(dir, ".warden/admin-bootstrap-token"), join(dir, "public", "token-hardlink"));
    c = await connectClient(gw.mcpUrl);
  });

  after(async () => {
    await c?.close();
    await gw?.stop();
  });

  async function refused(
    tool: string,
    args: Record<string, unknown>,
    record: string = fsRecord,
  ): Promise<McpError> {
    const label = `${tool} ${JSON.stringify(args).slice(0, 200)}`;
    const before = receivedToolCalls(record).length;
    const err = await mcpError(() => c.client.callTool({ name: tool, arguments: args }));
    assert.equal(err.code, -32001, `${label}: ${err.message}`);
    assert.equal(reasonOf(err), "path_not_allowed", label);
    assert.equal(receivedToolCalls(record).length, before, `${label} reached the server`);
    refusals++;
    return err;
  }

  async function served(tool: string, args: Record<string, unknown>): Promise<string> {
    return textOf(await c.client.callTool({ name: tool, arguments: args }));
  }

  const paths = (dir: string) => ({
    state: join(dir, ".warden/state.db"),
    wal: join(dir, ".warden/state.db-wal"),
    key: join(dir, ".warden/audit.key"),
    stateKey: join(dir, ".warden/state.key"),
    token: join(dir, ".warden/admin-bootstrap-token"),
    config: join(dir, "warden.yaml"),
    log: join(dir, LOG),
  });

  test("every read tool, on every owned file, by absolute and relative path", async () => {
    const p = paths(gw.dir);
    const absolute = Object.values(p);
    const relative = [".warden/state.db", ".warden/state.db-wal", ".warden/audit.key", "warden.yaml"];
    for (const target of [...absolute, ...relative]) {
      await refused("files__read_text_file", { path: target });
      await refused("files__get_file_info", { path: target });
    }
    await refused("files__read_multiple_files", { paths: ["public/notes.txt", p.wal] });
    await refused("files__read_text_file", { path: p.state, head: 5 });
    await refused("files__list_directory", { path: p.state });
    await refused("files__directory_tree", { path: p.key });
    await refused("files__search_files", { path: p.wal, pattern: "*" });
  });

  test("through a symlink or a symlinked folder, a hard link, `..`, case and Unicode variants", async () => {
    const d = gw.dir;
    for (const target of [
      "public/db-link",
      join(d, "public/key-link"),
      "public/wdir/state.db-wal",
      join(d, "public/wdir/admin-bootstrap-token"),
      `${d}/public/wdir/../warden.yaml`, // the kernel follows wdir before `..`
      "public/wal-hardlink",
      join(d, "public/key-hardlink"),
      "public/token-hardlink",
      `${d}/public/../.warden/state.db`,
      "public/sub/../../.warden/audit.key",
      join(d, ".warden/STATE.DB"),
      join(d, ".Warden/audit.KEY"),
      join(d, LOG.normalize("NFD")),
      LOG.normalize("NFD"),
      `${join(d, LOG)}.1`,
      ` ${join(d, ".warden/audit.key")}`,
    ]) {
      await refused("files__read_text_file", { path: target });
    }
    await refused("files__read_multiple_files", { paths: ["public/notes.txt", "public/key-hardlink"] });
  });

  test("a path-like string under a name no guard knows is refused too", async () => {
    const before = receivedToolCalls(recRecord, "echo").length;
    const err = await mcpError(() =>
      c.client.callTool({ name: "rec__echo", arguments: { message: join(gw.dir, "public/db-link") } }),
    );
    assert.equal(err.code, -32001);
    assert.equal(reasonOf(err), "path_not_allowed");
    assert.equal(receivedToolCalls(recRecord, "echo").length, before);
    refusals++;
    const ok = await c.client.callTool({ name: "rec__echo", arguments: { message: "/not/ours" } });
    assert.equal(textOf(ok), "recorder: /not/ours");
  });

  test("a file: resource URI naming an owned file is refused before the server is asked", async () => {
    const res = await connectClient(gw.serverUrl("res"));
    try {
      for (const uri of [
        `file://${gw.dir}/.warden/state.db`,
        `file://${gw.dir}/public/key-link`,
        `file://localhost${gw.dir}/public/token-hardlink`,
        `file://${gw.dir}/.warden/state%2Edb-wal`,
      ]) {
        const err = await mcpError(() => res.client.readResource({ uri }));
        assert.equal(err.code, -32001, uri);
        assert.equal(reasonOf(err), "path_not_allowed", uri);
        refusals++;
      }
      assert.ok(!existsSync(resRecord), "the resource server was asked");
      const ok = await res.client.readResource({ uri: "file:///srv/public/readme.txt" });
      assert.equal((ok.contents[0] as { text?: string }).text, "public readme");
    } finally {
      await res.close();
    }
  });

  test("a file: URI as a URL parser reads it: blanks or controls around it, tabs and newlines inside", async () => {
    const d = gw.dir;
    for (const uri of [
      ` file://${d}/.warden/state.db-wal`,
      `\u0001file://${d}/.warden/audit.key`,
      `\tfi\nle://${d}/.warden/admin-bootstrap-token`,
      `FILE://${d}/.warden/state.key\u001f `,
      ` file://${d}/public/key-link`,
    ]) {
      await refused("loose__open", { uri }, looseRecord);
    }
    // The server does read such a URI: shown on a plain file.
    assert.equal(await served("loose__open", { uri: ` file://${d}/public/notes.txt` }), "plain notes\n");
    // As a resource, refused before the resource server is asked (authorization may see it first).
    const asked = readFileSync(resRecord, "utf8");
    const res = await connectClient(gw.serverUrl("res"));
    try {
      for (const uri of [` file://${d}/.warden/state.db-wal`, `\u0000file://${d}/.warden/audit.key`]) {
        const err = await mcpError(() => res.client.readResource({ uri }));
        assert.equal(err.code, -32001, JSON.stringify(uri));
        assert.ok(["path_not_allowed", "uri_not_canonical"].includes(String(reasonOf(err))), err.message);
        if (reasonOf(err) === "path_not_allowed") refusals++;
      }
    } finally {
      await res.close();
    }
    assert.equal(readFileSync(resRecord, "utf8"), asked, "the resource server was asked");
  });

  test("every word of a command: paths, globs, nested shells, cd, symlinks and hard links", async () => {
    const d = gw.dir;
    for (const command of [
      `cat ${d}/.warden/state.db-wal`,
      ["cat", `${d}/.warden/audit.key`],
      ["base64", ".warden/state.key"],
      "cat .warden/admin-bootstrap-token",
      "cat warden.yaml",
      "cd .warden && cat audit.key",
      "cat .warden/state.d?-wal",
      "cat .warden/*.key",
      "cat .ward*/admin-bootstrap-*",
      ["sh", "-c", "cat '.warden/state'.key"],
      'sh -c "base64 < .warden/audit.key"',
      "echo $(cat .warden/audit.key)",
      "cat public/key-link public/notes.txt",
      "cat public/wdir/audit.key",
      "cat ./public/key-hardlink",
      `cat ${LOG}`,
    ]) {
      await refused("loose__run", { command }, looseRecord);
    }
    // The same server runs ordinary commands, in both forms.
    assert.equal(await served("loose__run", { command: "cat public/notes.txt" }), "plain notes\n");
    assert.equal(await served("loose__run", { command: ["cat", "public/notes.txt"] }), "plain notes\n");
    assert.match(await served("loose__run", { command: "ls .warden" }), /state\.db/);
  });

  test("a string under a name no guard knows: relative, percent-encoded, padded, folded", async () => {
    const d = gw.dir;
    for (const target of [
      ".warden/state.db-wal",
      ".warden/audit.key",
      `${d}/.warden/state.db-wal`.replaceAll("/", "%2F"),
      `${d}/.warden/admin-bootstrap-token\n`,
      ` ${d}/.warden/state.key\t`,
      "%2Ewarden%2Faudit%2Ekey",
      "%252Ewarden%252Fstate.key",
      ".warden/ａｕｄｉｔ.key",
      ".WARDEN/STATE.KEY",
      "warden.yaml",
    ]) {
      await refused("loose__inspect", { target }, looseRecord);
    }
    await refused("rec__echo", { message: ".warden/audit.key" }, recRecord);
    // The server would have read them: the same spellings of a plain file are served.
    for (const target of ["public/notes.txt", "public%2Fnotes.txt", "public/notes.txt\n"])
      assert.equal(await served("loose__inspect", { target }), "plain notes\n", target);
  });

  test("a path too deep to be a file is refused saying why; a flood of them stalls no one", async () => {
    const deep = `${gw.dir}/public/${"a/".repeat(300)}x`;
    const err = await refused("files__read_text_file", { path: deep });
    assert.match(err.message, /more than 256 components/);
    const before = receivedToolCalls(fsRecord).length;
    const flood = Array.from({ length: 10 }, (_, i) =>
      mcpError(() =>
        c.client.callTool({
          name: "files__read_text_file",
          arguments: { path: `${gw.dir}/public/${`f${i}/`.repeat(2000)}x` },
        }),
      ),
    );
    const [plain, ...refusedAll] = await Promise.all([
      served("files__read_text_file", { path: "public/notes.txt" }),
      ...flood,
    ]);
    assert.equal(plain, "plain notes\n");
    for (const e of refusedAll) {
      assert.equal(e.code, -32001);
      assert.equal(reasonOf(e), "path_not_allowed");
      refusals++;
    }
    assert.equal(receivedToolCalls(fsRecord).length, before + 1, "only the plain read reached the server");
  });

  test("a plain file beside them still reads; listings name files without their content", async () => {
    const r = await c.client.callTool({
      name: "files__read_text_file",
      arguments: { path: "public/notes.txt" },
    });
    assert.equal(textOf(r), "plain notes\n");
    const listing = await c.client.callTool({
      name: "files__list_directory",
      arguments: { path: ".warden" },
    });
    assert.match(textOf(listing), /state\.db/);
  });

  test("nothing secret reached the client, and every refusal is audited", async () => {
    const received = JSON.stringify(c.wire);
    for (const s of secrets)
      assert.ok(!received.includes(s), `a secret reached the client: ${s.slice(0, 8)}…`);
    // The audit log's own lines (each one's MAC is unique to it).
    const hashes = readFileSync(join(gw.dir, LOG), "utf8").match(/"hash":"[0-9a-f]{16}/g) ?? [];
    assert.ok(hashes.length > 0, "the JSONL sink holds no events");
    for (const h of hashes) assert.ok(!received.includes(h.slice(8)), "an audit line reached the client");
    // The server never saw any of the refused paths.
    const seen = JSON.stringify(receivedMessages(fsRecord));
    for (const name of ["state.db", "audit.key", "bootstrap", "hardlink", "db-link", "prüfung", "a/a/a/"])
      assert.ok(!seen.includes(name), `the server saw ${name}`);
    const looseSeen = JSON.stringify(receivedMessages(looseRecord));
    for (const name of [".warden/", "warden.yaml", "key-link", "wdir", "hardlink", ".key", "state."])
      assert.ok(!looseSeen.includes(name), `the careless server saw ${name}`);
    const denied = (await auditEvents(gw, "--status", "denied", "--limit", "1000")).filter(
      (e) => e.reason === "path_not_allowed",
    );
    assert.ok(denied.length >= refusals, `${denied.length} audited of ${refusals} refusals`);
  });
});

describe("check and start refuse a server given the gateway's own files", () => {
  async function expectRefused(config: object, dir: string, expected: RegExp[]): Promise<void> {
    const file = writeConfig(config, dir);
    const check = await runCli(["check", "-c", file]);
    assert.equal(check.code, 2, `${check.stdout}\n${check.stderr}`);
    for (const e of expected) assert.match(check.stderr, e);
    const start = await runCli(["start", "-c", file], { timeoutMs: 15_000 });
    assert.equal(start.code, 2, start.stderr);
    for (const e of expected) assert.match(start.stderr, e);
  }

  test("args, a --flag=value, a relative dot, cwd, sandbox folders, allowed_paths, a symlinked folder", async () => {
    const dir = makeTempDir("warden-front-");
    const link = join(makeTempDir("warden-front-link-"), "proj");
    symlinkSync(dir, link);
    const fs = (extra: Record<string, unknown>) => ({ ...filesystemStdio(join(dir, "public")), ...extra });
    const state = new RegExp(`${join(dir, ".warden", "state.db")}`.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ["servers\\[0\\]\\.args\\[0\\]", { args: [dir] }, state],
      ["servers\\[0\\]\\.args\\[0\\]", { args: [join(dir, ".warden")] }, state],
      ["servers\\[0\\]\\.args\\[1\\]", { args: ["--verbose", `--root=${dir}`] }, state],
      ["servers\\[0\\]\\.args\\[0\\]", { args: ["."], cwd: "." }, /warden\.yaml|state\.db/],
      ["servers\\[0\\]\\.args\\[0\\]", { args: [link] }, state],
      ["servers\\[0\\]\\.args\\[0\\]", { args: [`file://${dir}`] }, state],
      ["servers\\[0\\]\\.cwd", { cwd: ".warden" }, state],
      ["servers\\[0\\]\\.allowed_paths\\[0\\]", { allowed_paths: [dir] }, state],
      ["servers\\[0\\]\\.sandbox\\.readable\\[0\\]", { sandbox: { readable: ["/"] } }, state],
      ["servers\\[0\\]\\.sandbox\\.writable\\[0\\]", { sandbox: { writable: [".warden"] } }, state],
    ];
    mkdirSync(join(dir, "public"));
    for (const [option, extra, what] of cases) {
      await expectRefused(gatewayConfig([fs(extra)]), dir, [new RegExp(`^\\s*${option}: `, "m"), what]);
    }
  });

  test("every kind of owned file is named: keys, spool, sinks, checkpoints, kill-switch file", async () => {
    const dir = makeTempDir("warden-front-files-");
    const vault = join(dir, "vault");
    mkdirSync(join(dir, "public"));
    const config = {
      ...gatewayConfig([{ ...filesystemStdio(join(dir, "public")), args: [join(dir, "public"), vault] }]),
      state: { sqlite: join(dir, "state", "state.db"), key_file: join(vault, "state.key") },
    };
    await expectRefused(config, dir, [
      /servers\[0\]\.args\[1\]: .*the state key .*state\.key \(state\.key_file\)/,
    ]);
    const files: Array<[Record<string, unknown>, RegExp]> = [
      [{ audit: { key_file: join(vault, "audit.key") } }, /the audit key/],
      [{ audit: { checkpoint_file: join(vault, "cp.jsonl") } }, /the audit checkpoints/],
      [{ audit: { spool: join(vault, "spool") } }, /the audit spool/],
      [{ audit: { sinks: [{ jsonl: join(vault, "audit.jsonl") }] } }, /an audit log/],
      [
        { auth: { anonymous: ["demo:use"], signing_key_file: join(vault, "signing.jwk") } },
        /the signing keys/,
      ],
      [{ kill_switch: { file: join(vault, "stop") } }, /the kill-switch file/],
    ];
    for (const [extra, what] of files) {
      await expectRefused({ ...config, state: { sqlite: join(dir, "state", "state.db") }, ...extra }, dir, [
        /servers\[0\]\.args\[1\]: /,
        what,
      ]);
    }
  });

  test("check warns when a key sits beside what it protects, and not when it is kept elsewhere", async () => {
    const dir = makeTempDir("warden-warn-");
    mkdirSync(join(dir, "public"));
    const base = gatewayConfig([filesystemStdio(join(dir, "public"))]);
    const beside = await runCli(["check", "-c", writeConfig(base, dir)], { env: { WARDEN_STATE_KEY: "" } });
    assert.equal(beside.code, 0, beside.stderr);
    assert.match(beside.stderr, /^warning: audit\.key_file: .*audit\.key sits beside the audit log/m);
    assert.match(beside.stderr, /^warning: state\.key_file: .*state\.key sits beside the state database/m);
    const jsonl = await runCli([
      "check",
      "-c",
      writeConfig(
        {
          ...base,
          state: { key_file: join(makeTempDir("warden-secrets-"), "state.key") },
          audit: { sinks: [{ jsonl: "logs/audit.jsonl" }], key_file: "logs/keys/audit.key" },
        },
        dir,
      ),
    ]);
    assert.equal(jsonl.code, 0, jsonl.stderr);
    assert.match(jsonl.stderr, /warning: audit\.key_file: .*logs\/keys\/audit\.key sits beside .*logs\)/);
    assert.doesNotMatch(jsonl.stderr, /state\.key_file/);
    const secrets = makeTempDir("warden-secrets-");
    const apart = await runCli([
      "check",
      "-c",
      writeConfig(
        {
          ...base,
          state: { key_file: join(secrets, "state.key") },
          audit: { key_file: join(secrets, "audit.key") },
        },
        dir,
      ),
    ]);
    assert.equal(apart.code, 0, apart.stderr);
    assert.doesNotMatch(apart.stderr, /sits beside/);
  });

  test("a server given a sibling folder passes", async () => {
    const dir = makeTempDir("warden-front-ok-");
    mkdirSync(join(dir, "public"));
    const r = await runCli([
      "check",
      "-c",
      writeConfig(gatewayConfig([filesystemStdio(join(dir, "public"))]), dir),
    ]);
    assert.equal(r.code, 0, r.stderr);
  });
});

describe("a copied state database yields no usable key", () => {
  test("its key columns are sealed, and it does not start without its key or under another", async () => {
    const gw = await startGateway(gatewayConfig([recorderStdio("rec", join(makeTempDir(), "r.jsonl"), {})]));
    await gw.stop();
    const copy = makeTempDir("warden-copied-");
    mkdirSync(join(copy, ".warden"));
    copyFileSync(join(gw.dir, ".warden", "state.db"), join(copy, ".warden", "state.db"));

    const db = new Database(join(copy, ".warden", "state.db"), { readonly: true });
    const keys = db.prepare("SELECT kid, jwk FROM signing_keys").all() as Array<{ kid: string; jwk: string }>;
    const kv = db.prepare("SELECT key, value FROM kv").all() as Array<{ key: string; value: string }>;
    db.close();
    assert.ok(keys.length >= 1 && kv.length >= 1, "nothing stored to protect");
    for (const { jwk } of keys) {
      assert.throws(() => JSON.parse(jwk), `a stored signing key parses: ${jwk.slice(0, 20)}`);
      assert.ok(!/"d"\s*:/.test(jwk) && !jwk.includes("RSA"));
    }
    for (const { key, value } of kv) assert.match(value, /^sealed:v1:/, key);

    const config = writeConfig(gatewayConfig([recorderStdio("rec", join(copy, "r.jsonl"), {})]), copy);
    const missing = await runCli(["start", "-c", config], { timeoutMs: 15_000 });
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /state key file .*state\.key is missing/);
    const other = await runCli(["start", "-c", config], {
      timeoutMs: 15_000,
      env: { WARDEN_STATE_KEY: randomBytes(32).toString("base64url") },
    });
    assert.notEqual(other.code, 0);
    assert.match(other.stderr, /sealed with another state key/);
    const token = await runCli(["token", "-c", config, "--sub", "x", "--scope", "warden:admin"], {
      env: { WARDEN_STATE_KEY: randomBytes(32).toString("hex") },
    });
    assert.notEqual(token.code, 0);
    assert.equal(token.stdout, "");
  });
});
