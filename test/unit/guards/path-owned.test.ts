// The owned-file guard on its own: every reading of a path that lands on a file the gateway owns is
// refused (as written, encoded, NFKC/case variants, `..`, relative, `~`, file: URIs, through
// symlinks, hard links, a renamed file), ordinary files beside them pass, and resolution errors
// other than "does not exist" refuse.
import assert from "node:assert/strict";
import { linkSync, mkdirSync, realpathSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import fc from "fast-check";
import {
  compileOwnedFiles,
  compileOwnedPathGuard,
  type OwnedPathGuard,
} from "../../../src/policy/guards/path-owned.js";
import { makeTempDir } from "../../helpers/gateway.js";

let proj: string;
let guard: OwnedPathGuard;
const STATE = ".warden/state.db";

before(() => {
  proj = realpathSync(makeTempDir("warden-owned-"));
  mkdirSync(join(proj, ".warden", "spool"), { recursive: true });
  mkdirSync(join(proj, "public", "sub"), { recursive: true });
  for (const f of [
    "warden.yaml",
    STATE,
    `${STATE}-wal`,
    ".warden/audit.key",
    ".warden/admin-bootstrap-token",
    ".warden/spool/sqlite.jsonl",
    "audit.jsonl",
    "audit.jsonl.3",
    "public/notes.txt",
    "public/state.db.txt",
  ]) {
    writeFileSync(join(proj, f), `content of ${f}\n`);
  }
  symlinkSync(join(proj, STATE), join(proj, "public", "db-link"));
  symlinkSync("../.warden", join(proj, "public", "dir-link"));
  symlinkSync("loop", join(proj, "public", "loop"));
  linkSync(join(proj, ".warden/audit.key"), join(proj, "public", "key-hardlink"));
  const owned = compileOwnedFiles([
    { path: join(proj, "warden.yaml"), what: "the config file" },
    { path: join(proj, STATE), what: "the state database", siblings: /^-(?:wal|shm|journal)$/ },
    { path: join(proj, ".warden/audit.key"), what: "the audit key" },
    { path: join(proj, ".warden/admin-bootstrap-token"), what: "the bootstrap token" },
    { path: join(proj, ".warden/spool"), what: "the audit spool", folder: true },
    { path: join(proj, "audit.jsonl"), what: "an audit log", siblings: /^\.(?:\d+|lock)$/ },
  ]);
  guard = compileOwnedPathGuard({ owned, bases: [join(proj, "public")], home: proj });
});

async function refused(p: string): Promise<void> {
  const d = await guard.check(p);
  assert.equal(d.allowed, false, `${p} was allowed`);
  if (!d.allowed) assert.equal(d.reason, "path_not_allowed");
}

async function allowed(p: string): Promise<void> {
  const d = await guard.check(p);
  assert.deepEqual(d, { allowed: true }, p);
}

describe("owned-file guard", () => {
  test("owned files by name, companions and folders", async () => {
    for (const f of [
      "warden.yaml",
      STATE,
      `${STATE}-wal`,
      `${STATE}-shm`,
      `${STATE}-journal`,
      ".warden/audit.key",
      ".warden/admin-bootstrap-token",
      ".warden/spool",
      ".warden/spool/sqlite.jsonl",
      ".warden/spool/not-yet.jsonl",
      "audit.jsonl",
      "audit.jsonl.3",
      "audit.jsonl.17",
      "audit.jsonl.lock",
    ]) {
      await refused(join(proj, f));
    }
  });

  test("traversal, encodings, Unicode and case variants, URIs, ~ and relative forms", async () => {
    for (const p of [
      `${proj}/public/../${STATE}`,
      `${proj}/public/sub/../../.warden/./audit.key`,
      `${proj}//.warden///state.db-wal`,
      `${proj}/.warden/STATE.DB`,
      `${proj}/.WARDEN/Audit.Key`,
      `${proj}/.warden/ｓｔａｔｅ.db`,
      `${proj}/.warden/state%2edb`,
      `${proj}%2f.warden%2fstate.db`,
      `${proj}/.warden/state%252edb`,
      `file://${proj}/.warden/audit.key`,
      `file://localhost${proj}/.warden/state.db-wal`,
      `file://${proj}/.warden/state%2Edb`,
      `~/${STATE}`,
      `~/public/../.warden/audit.key`,
      `../${STATE}`,
      `sub/../../.warden/admin-bootstrap-token`,
      ` ${proj}/${STATE} `,
      `"${proj}/${STATE}"`,
      `${proj}\\.warden\\audit.key`,
      `${proj}/.warden/audit.key\u0000.txt`,
      `${proj}/.warden/state.db%00.png`,
    ]) {
      await refused(p);
    }
  });

  test("symlinks to them, paths through a symlinked folder, hard links, a renamed file", async () => {
    await refused(`${proj}/public/db-link`);
    await refused("db-link");
    await refused(`${proj}/public/dir-link/audit.key`);
    await refused(`${proj}/public/dir-link/state.db-wal`);
    await refused(`${proj}/public/dir-link/../warden.yaml`);
    await refused(`${proj}/public/key-hardlink`);
    // A hard link made after the guard has read the inodes, and a file moved after.
    linkSync(join(proj, STATE), join(proj, "public", "late-link"));
    await refused(`${proj}/public/late-link`);
    renameSync(join(proj, "audit.jsonl.3"), join(proj, "public", "moved.txt"));
    await refused(`${proj}/public/moved.txt`);
  });

  test("ordinary files beside them pass; a path that cannot be resolved is refused", async () => {
    for (const p of [
      `${proj}/public/notes.txt`,
      "notes.txt",
      `${proj}/public/state.db.txt`,
      `${proj}/.warden/state.dbx`,
      `${proj}/.warden/other.txt`,
      `${proj}/audit.jsonl.x`,
      `${proj}/public/does-not-exist/deeper`,
      "https://example.com/.warden/state.db",
      `file://${proj}/public/notes.txt`,
    ]) {
      await allowed(p);
    }
    await refused(`${proj}/public/loop`);
    await refused(`${proj}/public/loop/x`);
    await refused("%c0%ae%c0%ae/x");
  });

  test("property: any spelling of an owned path is refused", async () => {
    const targets = [STATE, `${STATE}-wal`, ".warden/audit.key", ".warden/admin-bootstrap-token"];
    const spelling = fc.record({
      target: fc.constantFrom(...targets),
      upper: fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
      encode: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 40, maxLength: 40 }),
      detour: fc.constantFrom("", "/public/..", "/public/sub/../..", "/./", "/public/dir-link/.."),
      prefix: fc.constantFrom("", "file://"),
    });
    await fc.assert(
      fc.asyncProperty(spelling, async ({ target, upper, encode, detour, prefix }) => {
        const chars = [...target].map((c, i) => {
          const cased = upper[i] ? c.toUpperCase() : c;
          const hex = `%${cased.charCodeAt(0).toString(16).padStart(2, "0")}`;
          if (prefix === "file://" && encode[i] === 2) return cased; // file: URIs decode once
          return encode[i] === 1 ? hex : encode[i] === 2 ? hex.replace("%", "%25") : cased;
        });
        const value = `${prefix}${proj}${detour}/${chars.join("")}`;
        const d = await guard.check(value);
        assert.equal(d.allowed, false, value);
      }),
      { numRuns: 300 },
    );
  });
});
