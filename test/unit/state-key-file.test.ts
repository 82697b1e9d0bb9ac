// The one way the gateway keeps a key in a file of its own (the state key, the audit key): made
// owner-only in an owner-only folder on first use, read as it is afterwards, never replaced (not
// by a second caller, not by a racing process), and a missing file that may not be made is an
// error, never a new key.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { loadAuditKey } from "../../src/audit/chain.js";
import { loadKeyFile } from "../../src/state/key-file.js";
import { StateKey, StateKeyError } from "../../src/state/sealed.js";
import { makeTempDir } from "../helpers/gateway.js";

const asText = (text: string) => text.trim();

describe("key files", () => {
  test("made on first use: 32 random bytes, base64url, 0600 in a 0700 folder; read back as they are", () => {
    const file = join(makeTempDir("warden-keyfile-"), "keys", "nested", "k.key");
    const made = loadKeyFile(file, asText, { create: true, bytes: 32 });
    assert.equal(Buffer.from(made, "base64url").length, 32);
    assert.equal(readFileSync(file, "utf8"), `${made}\n`);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(file, "..")).mode & 0o777, 0o700);
    assert.equal(loadKeyFile(file, asText, { create: true, bytes: 32 }), made, "never replaced");
  });

  test("a missing file that may not be made is an error, the caller's own when it gives one", () => {
    const file = join(makeTempDir("warden-keyfile-"), "absent.key");
    assert.throws(() => loadKeyFile(file, asText, { create: false, bytes: 32 }), { code: "ENOENT" });
    assert.throws(
      () => loadKeyFile(file, asText, { create: false, bytes: 32, missing: () => new Error("restore it") }),
      /restore it/,
    );
    assert.throws(() => loadAuditKey(file, false), { code: "ENOENT" });
    assert.throws(() => StateKey.load(file, { create: false, env: {} }), StateKeyError);
  });

  test("a file that is not a key is refused, never overwritten", () => {
    const dir = makeTempDir("warden-keyfile-");
    for (const [name, load] of [
      ["audit.key", (f: string) => loadAuditKey(f)],
      ["state.key", (f: string) => StateKey.load(f, { create: true, env: {} })],
    ] as const) {
      const file = join(dir, name);
      writeFileSync(file, "short\n");
      assert.throws(() => load(file));
      assert.equal(readFileSync(file, "utf8"), "short\n");
    }
  });

  test("the audit key and the state key are made by it and read back the same", () => {
    const dir = makeTempDir("warden-keyfile-");
    const audit = loadAuditKey(join(dir, "audit.key"));
    assert.deepEqual(loadAuditKey(join(dir, "audit.key"), false), audit);
    assert.equal(statSync(join(dir, "audit.key")).mode & 0o777, 0o600);
    const state = StateKey.load(join(dir, "state.key"), { create: true, env: {} });
    assert.equal(StateKey.load(join(dir, "state.key"), { create: false, env: {} }).id, state.id);
  });

  test("processes racing to make one file all end up with the same key, never a half-written one", async () => {
    for (let round = 0; round < 3; round++) {
      const file = join(makeTempDir("warden-keyfile-"), "raced.key");
      const script = `
        const { loadKeyFile } = await import(${JSON.stringify(new URL("../../src/state/key-file.ts", import.meta.url).href)});
        process.stdout.write(loadKeyFile(process.argv[1], (t) => t, { create: true, bytes: 32 }));
      `;
      const keys = await Promise.all(
        Array.from({ length: 6 }, async () => {
          const child = spawn(process.execPath, [
            "--import",
            "tsx",
            "--input-type=module",
            "--eval",
            script,
            file,
          ]);
          let out = "";
          child.stdout.on("data", (c: Buffer) => (out += c.toString()));
          const [code] = (await once(child, "exit")) as [number];
          assert.equal(code, 0);
          return out;
        }),
      );
      assert.equal(new Set(keys).size, 1, keys.join(" | "));
      assert.equal(readFileSync(file, "utf8"), keys[0]);
      assert.match(keys[0] as string, /^[A-Za-z0-9_-]{43}\n$/);
      assert.deepEqual(readdirSync(join(file, "..")), ["raced.key"], "no temporary file left");
    }
  });
});
