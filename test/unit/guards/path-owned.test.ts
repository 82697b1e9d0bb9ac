// The owned-file guard on its own: every reading of a path that lands on a file the gateway owns is
// refused (as written, encoded, NFKC/case variants, `..`, relative, `~`, file: URIs, through
// symlinks, hard links, a renamed file), ordinary files beside them pass, and resolution errors
// other than "does not exist" refuse. Then what reaches it from outside path arguments: a `file:`
// URI as a URL parser reads it, every word of a command (globs expanded against the owned names),
// any string under a name no guard knows; and the bounds on resolving a path.
import assert from "node:assert/strict";
import { linkSync, mkdirSync, realpathSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import fsp from "node:fs/promises";
import { syncBuiltinESMExports } from "node:module";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import fc from "fast-check";
import { parseConfig } from "../../../src/config/load.js";
import { ownedFilesOf, ownedPaths } from "../../../src/config/owned-files.js";
import { RootsFilter } from "../../../src/gateway/client-roots.js";
import { ArgumentPolicy } from "../../../src/policy/argument-policy.js";
import { argumentPlan, checkArguments, fileUriReadings } from "../../../src/policy/arguments.js";
import { compilePathGuard } from "../../../src/policy/guards/index.js";
import { MAX_VALUE_LENGTH } from "../../../src/policy/guards/types.js";
import {
  compileOwnedFiles,
  compileOwnedPathGuard,
  MAX_OWNED_CHECKS,
  type OwnedFiles,
  type OwnedPathGuard,
} from "../../../src/policy/guards/path-owned.js";
import {
  MAX_RESOLVE_CALLS,
  PathLimitError,
  resolvePhysical,
} from "../../../src/policy/guards/path-resolve.js";
import { makeTempDir } from "../../helpers/gateway.js";

let proj: string;
let owned: OwnedFiles;
let guard: OwnedPathGuard;
/** A server whose working directory is the project (the README's layout): relative names start there. */
let rooted: OwnedPathGuard;
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
  owned = compileOwnedFiles([
    { path: join(proj, "warden.yaml"), what: "the config file" },
    { path: join(proj, STATE), what: "the state database", siblings: /^-(?:wal|shm|journal)$/ },
    { path: join(proj, ".warden/audit.key"), what: "the audit key" },
    { path: join(proj, ".warden/admin-bootstrap-token"), what: "the bootstrap token" },
    { path: join(proj, ".warden/spool"), what: "the audit spool", folder: true },
    { path: join(proj, "audit.jsonl"), what: "an audit log", siblings: /^\.(?:\d+|lock)$/ },
  ]);
  guard = compileOwnedPathGuard({ owned, bases: [join(proj, "public")], home: proj });
  rooted = compileOwnedPathGuard({ owned, bases: [proj], home: proj });
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

const budget = () => ({ left: MAX_OWNED_CHECKS });

async function refusedWith(d: Promise<{ allowed: boolean; reason?: string }>, label: string): Promise<void> {
  const decision = await d;
  assert.equal(decision.allowed, false, `${label} was allowed`);
  assert.equal(decision.reason, "path_not_allowed", label);
}

describe("a file: URI is decided as a URL parser reads it", () => {
  test("surrounding C0 controls and spaces, tabs and newlines inside, any case: still a file: URI", () => {
    for (const v of [
      " file:///x",
      "\u0000file:///x",
      "file:///x\u001f ",
      "\tFI\nLE:///x",
      "fi\rle:/x",
      "FILE:///x",
    ]) {
      const readings = fileUriReadings(v);
      assert.ok(readings, JSON.stringify(v));
      assert.ok(readings.includes(new URL(v).href), JSON.stringify(v));
    }
    for (const v of ["/x", "https://x/y", "files:///x", "x file:///y", "\u00a0file:///x", "file"])
      assert.equal(fileUriReadings(v), undefined, JSON.stringify(v));
  });

  test("only values with a file scheme are parsed: the answers are those of parsing every value", () => {
    // The readings as they were computed before the scheme pre-check: every value of a guard's
    // size through the URL parser.
    const parsingEvery = (value: string): string[] | undefined => {
      let start = 0;
      let end = value.length;
      while (start < end && value.charCodeAt(start) <= 0x20) start++;
      while (end > start && value.charCodeAt(end - 1) <= 0x20) end--;
      const trimmed = value.slice(start, end);
      const scheme = trimmed.slice(0, 64).replace(/[\t\n\r]/g, "");
      let href: string | undefined;
      if (value.length <= MAX_VALUE_LENGTH || /^file:/i.test(scheme)) {
        try {
          const url = new URL(value);
          if (url.protocol === "file:") href = url.href;
        } catch {
          // not a URL
        }
      }
      if (href === undefined && !/^file:/i.test(scheme)) return undefined;
      const cleaned = trimmed.replace(/[\t\n\r]/g, "");
      return [...new Set([value, cleaned, ...(href !== undefined ? [href] : [])])];
    };
    const parts = ["f", "F", "i", "I", "l", "L", "e", "E", ":", "/", "\t", "\n", "\r", " ", "\u0000"];
    parts.push("\u0130", "\u212a", "\u017f", "s", "+", ".", "x", "%2F", "file", "FILE:", "//h/p", "\u00a0");
    const long = "x".repeat(MAX_VALUE_LENGTH);
    const values = [`f${"\t".repeat(70)}ile:///x`, `${"\t".repeat(70)}file:///x`, "file:", "file:\t"];
    values.push(`f${"\t".repeat(70)}ile:///${long}`, `file:///${long}`, `https://${long}`);
    for (const v of values) assert.deepEqual(fileUriReadings(v), parsingEvery(v), JSON.stringify(v));
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...parts), { maxLength: 10 }), (chosen) => {
        const v = chosen.join("");
        assert.deepEqual(fileUriReadings(v), parsingEvery(v), JSON.stringify(v));
      }),
      { numRuns: 20_000 },
    );
  });

  test("resource URIs and URI arguments: neither the owned files nor allowed_paths can be stepped round", async () => {
    const yaml = [
      `state: { sqlite: ${proj}/.warden/state.db }`,
      `audit: { key_file: ${proj}/.warden/audit.key }`,
      "servers:",
      `  - { name: files, command: node, allowed_paths: [${proj}/public], tools: { "*": [] } }`,
      `  - { name: open, command: node, tools: { "*": [] } }`,
    ].join("\n");
    const policy = new ArgumentPolicy(parseConfig(yaml, join(proj, "warden.yaml"), {}));
    for (const server of ["files", "open"]) {
      for (const uri of [
        ` file://${proj}/.warden/state.db-wal`,
        `\u0000file://${proj}/.warden/audit.key`,
        `\tfi\nle://${proj}/.warden/state.db`,
        `FILE://${proj}/.warden/state.db-wal\u0001 `,
        ` file://${proj}/public/dir-link/audit.key`,
      ]) {
        await refusedWith(policy.checkUri(server, uri), `${server} ${JSON.stringify(uri)}`);
        await refusedWith(
          policy.check(server, "t", undefined, { uri, nested: { href: uri } }),
          `${server} argument ${JSON.stringify(uri)}`,
        );
      }
    }
    // allowed_paths holds for the same spellings.
    await refusedWith(policy.checkUri("files", " file:///etc/hostname"), "outside allowed_paths");
    await refusedWith(policy.check("files", "t", undefined, { path: "\u0001file:///etc/hostname" }), "path");
    assert.deepEqual(await policy.checkUri("files", ` file://${proj}/public/notes.txt`), { allowed: true });
    assert.deepEqual(await policy.checkUri("open", "https://example.com/state.db"), { allowed: true });
  });
});

describe("command words", () => {
  const wal = () => `${proj}/.warden/state.db-wal`;

  test("every word a program gets, in a shell string or an argv, nested shells and substitutions included", async () => {
    for (const command of [
      `cat ${wal()}`,
      ["cat", wal()],
      `cat '${proj}/.warden/state'.db-wal`,
      `sh -c "cat ${wal()} | base64"`,
      ["sh", "-c", `cat ${wal()}`],
      ["bash", "-lc", `x=1; cat "${proj}/.warden/audit.key"`],
      `dd if=${wal()} of=/dev/stdout`,
      `sqlite3 --readonly --file=${proj}/.warden/state.db .dump`,
      `base64 < ${proj}/.warden/audit.key`,
      `echo "$(cat ${proj}/.warden/audit.key)"`,
      `sh <<EOF\ncat ${wal()}\nEOF`,
      "cat $HOME/.warden/audit.key",
      'cat "${HOME}/.warden/audit.key"',
      "cat ~/.warden/admin-bootstrap-token",
      "cat ../.warden/audit.key",
      "cat ./db-link ./dir-link/audit.key",
      "cd ../.warden && cat audit.key",
      "pushd .. >/dev/null; cat warden.yaml",
      ["tar", "-C", "../.warden", "-cf", "-", "state.db-wal"],
      "cat ../.WARDEN/Audit.Key",
      "cat ../.warden/ｓｔａｔｅ.db",
      "cat ..%2F.warden%2Faudit.key",
    ]) {
      await refusedWith(guard.checkCommand(command, budget()), JSON.stringify(command));
    }
  });

  test("globs that would expand to an owned file, as configured or found on disk (companions)", async () => {
    for (const command of [
      `cat ${proj}/.warden/state.d?`,
      `cat ${proj}/.warden/state.db-*`,
      "cat ../.warden/*",
      "cat ../.warden/audit.k[e]y",
      "cat ../.warden/audit.k[!x]y",
      "cat ../.ward*/state.db",
      "cat ../*.yaml",
      "cd ../.warden; cat *",
      ["sh", "-c", "cat ../.warden/state.db-w?l"],
      "cat ../.warden/spool/*",
    ]) {
      await refusedWith(guard.checkCommand(command, budget()), JSON.stringify(command));
    }
  });

  test("ordinary commands pass, their own files included", async () => {
    for (const command of [
      "ls -la",
      "cat notes.txt",
      `cat ${proj}/public/notes.txt`,
      ["cat", `${proj}/public/state.db.txt`],
      "cat *.txt sub/*",
      "grep -rn state.db .",
      'echo "state.db is our database" > out.txt',
      "git log --format=%h/%s -- src/",
      "curl -s https://example.com/.warden/state.db",
      "cat [z-a]",
    ]) {
      assert.deepEqual(
        await guard.checkCommand(command, budget()),
        { allowed: true },
        JSON.stringify(command),
      );
    }
  });

  test("through the argument walk: a command named by its key, alone or with its argv", async () => {
    const plan = argumentPlan({});
    for (const args of [
      { command: `cat ${wal()}` },
      { command: ["cat", wal()] },
      { command: "cat", args: [wal()] },
      { options: { script: `cat ../.warden/state.d?-wal` } },
    ]) {
      const d = await checkArguments(plan, { owned: guard }, args);
      assert.equal(d.allowed, false, JSON.stringify(args));
      if (!d.allowed) assert.equal(d.reason, "path_not_allowed");
    }
  });
});

describe("strings under names no guard knows", () => {
  const abs = () => `${proj}/.warden/state.db-wal`;

  test("relative, encoded, padded, folded and embedded spellings are refused", async () => {
    for (const value of [
      ".warden/state.db-wal",
      abs().replaceAll("/", "%2F"),
      `${abs()}\n`,
      `\n${abs()}`,
      `\u0001${abs()}`,
      `\t${abs()}\r\n`,
      `"${abs()}"`,
      "'.warden/audit.key'",
      ".WARDEN/STATE.DB-WAL",
      ".warden/ｓｔａｔｅ.db-wal",
      "%2Ewarden%2Fstate%2Edb-wal",
      "%252Ewarden%252Faudit%252Ekey",
      "public/../.warden/audit.key",
      "warden.yaml",
      `please read ${abs()} and send it back`,
      `first line\n.warden/admin-bootstrap-token\nlast line`,
      `x`.repeat(5000) + ` ${abs()}`,
    ]) {
      await refusedWith(rooted.checkText(value, budget()), JSON.stringify(value.slice(0, 80)));
    }
  });

  test("text that only mentions a name, or names something else, passes", async () => {
    for (const value of [
      "hello",
      "the state.db file is small",
      "public/notes.txt",
      ".warden/other.txt",
      "state.dbx",
      "100% of state.db",
      "https://example.com/.warden/state.db",
    ]) {
      assert.deepEqual(await rooted.checkText(value, budget()), { allowed: true }, value);
    }
  });

  test("long runs of blanks or controls are read in one pass (answered, whatever the verdict)", async () => {
    const plan = argumentPlan({});
    const blanks = " ".repeat(1_000_000);
    const controls = "\u0001".repeat(1_000_000);
    for (const args of [
      { note: `${blanks}x` },
      { note: `x${blanks}x`, uri: `${controls}x${controls}y` },
      { path: `${" ".repeat(8000)}x` },
      { command: `cat ${"\t".repeat(100_000)}x` },
    ]) {
      const d = await checkArguments(plan, { owned: rooted }, args);
      assert.equal(typeof d.allowed, "boolean");
    }
    const long = await rooted.checkCommand(`cat ${"x".repeat(70_000)} ${abs()}`, budget());
    assert.equal(long.allowed, false);
  });

  test("a call has a bounded number of strings judged: past it, refused", async () => {
    const many = Array.from({ length: MAX_OWNED_CHECKS + 10 }, (_, i) => `notes-${i}/state.db`).join(" ");
    const d = await rooted.checkText(many, budget());
    assert.equal(d.allowed, false);
    if (!d.allowed) assert.match(d.detail, /more than 256 strings/);
  });

  test("property: any owned path, spelt any way, under any key at any depth, is refused", async () => {
    const targets = [
      `${STATE}-wal`,
      STATE,
      ".warden/audit.key",
      ".warden/admin-bootstrap-token",
      "warden.yaml",
    ];
    const pads = ["", " ", "\n", "\t", "\r\n", "\u0000", "\u001f", '"', "'"];
    const spelling = fc.record({
      target: fc.constantFrom(...targets),
      form: fc.constantFrom("absolute", "relative", "dot", "home", "upward", "uri", "backslash"),
      upper: fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
      wide: fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
      encode: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 40, maxLength: 40 }),
      slashes: fc.boolean(),
      before: fc.constantFrom(...pads),
      after: fc.constantFrom(...pads),
      key: fc.oneof(
        fc.string({ minLength: 1, maxLength: 12 }),
        fc.constantFrom("target", "query", "command", "script", "cmd", "path", "url", "uri", "args"),
      ),
      depth: fc.constantFrom("top", "object", "array"),
    });
    const percent = (c: string) =>
      [...Buffer.from(c)].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("");
    const plan = argumentPlan({});
    await fc.assert(
      fc.asyncProperty(spelling, async (s) => {
        const chars = [...s.target].map((c, i) => {
          let out = s.upper[i] ? c.toUpperCase() : c;
          if (s.wide[i] && out > " " && out <= "~") out = String.fromCharCode(out.charCodeAt(0) + 0xfee0);
          return s.encode[i] === 1
            ? percent(out)
            : s.encode[i] === 2
              ? percent(out).replaceAll("%", "%25")
              : out;
        });
        const prefix = {
          absolute: `${proj}/`,
          relative: "",
          dot: "./",
          home: "~/",
          upward: "public/../",
          uri: `file://${proj}/`,
          backslash: "public\\..\\",
        }[s.form];
        let value = prefix + chars.join("");
        // A file: URI decodes once: a double encoding there names another file.
        if (s.form === "uri") value = value.replaceAll("%25", "%");
        if (s.slashes && s.form !== "uri") value = value.replaceAll("/", "%2F");
        value = s.before + value + s.after;
        const args =
          s.depth === "top"
            ? { [s.key]: value }
            : s.depth === "object"
              ? { a: { [s.key]: value } }
              : { [s.key]: [1, value] };
        const d = await checkArguments(plan, { owned: rooted }, args);
        assert.equal(d.allowed, false, JSON.stringify(args));
        if (!d.allowed) assert.equal(d.reason, "path_not_allowed", JSON.stringify(args));
      }),
      { numRuns: 400 },
    );
  });
});

describe("resolving a path costs work linear in it, within fixed bounds", () => {
  /** Counts the thread-pool filesystem calls the resolver makes while `fn` runs. */
  async function counted<T>(fn: () => Promise<T>): Promise<{ result: T; calls: number }> {
    const original = { realpath: fsp.realpath, lstat: fsp.lstat, readlink: fsp.readlink, stat: fsp.stat };
    let calls = 0;
    const wrap =
      <F extends (...a: never[]) => unknown>(f: F) =>
      (...a: Parameters<F>) => {
        calls++;
        return f(...a);
      };
    Object.assign(fsp, {
      realpath: wrap(original.realpath),
      lstat: wrap(original.lstat),
      readlink: wrap(original.readlink),
      stat: wrap(original.stat),
    });
    syncBuiltinESMExports();
    try {
      return { result: await fn(), calls };
    } finally {
      Object.assign(fsp, original);
      syncBuiltinESMExports();
    }
  }

  test("a missing deep path: a few calls, not one per ancestor", async () => {
    const missing = `${proj}/public/${Array.from({ length: 250 }, (_, i) => `c${i}`).join("/")}`;
    const { result, calls } = await counted(() => resolvePhysical(missing));
    assert.equal(result, missing);
    assert.ok(calls <= 8, `${calls} filesystem calls for one missing path`);
    // An existing prefix 120 deep: one lstat per existing component at most.
    const deep = `${proj}/deep/${Array.from({ length: 120 }, (_, i) => `d${i}`).join("/")}`;
    mkdirSync(deep, { recursive: true });
    const under = `${deep}/${Array.from({ length: 100 }, (_, i) => `m${i}`).join("/")}`;
    const second = await counted(() => resolvePhysical(under));
    assert.equal(second.result, under);
    assert.ok(second.calls <= under.split("/").length - 100 + 4, `${second.calls} calls`);
  });

  test("kernel order is kept: dangling links, links to folders with a missing rest, link/..", async () => {
    symlinkSync(join(proj, ".warden", "not-yet"), join(proj, "public", "dangling"));
    assert.equal(await resolvePhysical(`${proj}/public/dangling`), join(proj, ".warden", "not-yet"));
    assert.equal(await resolvePhysical(`${proj}/public/dir-link/new/f`), join(proj, ".warden", "new", "f"));
    assert.equal(await resolvePhysical(`${proj}/public/dir-link/../x/y`), join(proj, "x", "y"));
    assert.equal(
      await resolvePhysical(`${proj}/public/nope/../notes.txt`),
      join(proj, "public", "notes.txt"),
    );
  });

  test("past 256 components or 4096 bytes, or past its call budget: refused, saying why", async () => {
    const deep = `${proj}/public/${"a/".repeat(300)}x`;
    await assert.rejects(resolvePhysical(deep), PathLimitError);
    const d = await guard.check(deep);
    assert.equal(d.allowed, false);
    if (!d.allowed) assert.match(d.detail, /more than 256 components/);
    const long = await guard.check(`${proj}/public/${"a".repeat(4100)}`);
    assert.equal(long.allowed, false);
    if (!long.allowed) assert.match(long.detail, /longer than 4096 bytes/);
    const text = await rooted.checkText(`${"./".repeat(300)}notes`, budget());
    assert.equal(text.allowed, false);
    // A value that decodes to many components counts them once decoded.
    const encoded = await guard.check(`${proj}/public/${"b%2Fb/".repeat(150)}x`);
    assert.equal(encoded.allowed, false);
    if (!encoded.allowed) assert.match(encoded.detail, /more than 256 components/);
    // allowed_paths says why too.
    const inside = await compilePathGuard({ roots: [join(proj, "public")] }).check(deep);
    assert.equal(inside.allowed, false);
    if (!inside.allowed) assert.match(inside.detail, /more than 256 components/);
    const calls = { made: 0 };
    await resolvePhysical(`${proj}/public/${"e/".repeat(200)}x`, calls);
    assert.ok(calls.made <= MAX_RESOLVE_CALLS);
  });
});

describe("the owned files are compiled once per config", () => {
  test("one compilation shared by the argument guards, the roots filter and check", async () => {
    const yaml = [
      `state: { sqlite: ${proj}/.warden/state.db }`,
      "servers:",
      "  - { name: s, command: node }",
    ].join("\n");
    const config = parseConfig(yaml, join(proj, "warden.yaml"), {});
    const files = ownedFilesOf(config);
    assert.equal(ownedFilesOf(config), files);
    assert.equal(files.entries.length, ownedPaths(config).length);
    // What each consumer sees is that one compilation: a root above the state folder is dropped.
    const roots = await new RootsFilter(config, files).filter("s", { roots: [{ uri: `file://${proj}` }] });
    assert.equal(roots.kept, 0);
    assert.match(roots.dropped[0]?.why ?? "", /gateway owns/);
    assert.deepEqual(
      files.inside(proj).map((e) => e.what),
      files.entries.filter((e) => e.path.startsWith(`${proj}/`)).map((e) => e.what),
    );
  });
});
