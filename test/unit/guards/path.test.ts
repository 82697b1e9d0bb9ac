import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, lstatSync, readlinkSync, realpathSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import {
  compilePathGuard,
  DEFAULT_PATH_DENY,
  GuardConfigError,
  type PathGuard,
} from "../../../src/policy/guards/index.js";
import { corpusLines, makeLayout, type FsLayout } from "./fixtures.js";

let layout: FsLayout;
let guard: PathGuard;

before(() => {
  layout = makeLayout();
  guard = compilePathGuard({ roots: [layout.root, layout.root2], home: layout.home });
});
after(() => layout.cleanup());

describe("path guard corpora", () => {
  test("every payload of path-deny.txt is refused", async () => {
    const payloads = corpusLines("path-deny.txt", layout.vars);
    assert.ok(payloads.length >= 130, `corpus has ${payloads.length} payloads`);
    const allowed: string[] = [];
    for (const p of payloads) {
      const d = await guard.check(p);
      if (d.allowed) allowed.push(p);
      else assert.equal(d.reason, "path_not_allowed");
    }
    assert.deepEqual(allowed, [], "payloads allowed");
  });

  test("every plain path of path-allow.txt is allowed", async () => {
    const paths = corpusLines("path-allow.txt", layout.vars);
    const refused: string[] = [];
    for (const p of paths) {
      const d = await guard.check(p);
      if (!d.allowed) refused.push(`${p} (${d.detail})`);
    }
    assert.deepEqual(refused, [], "plain paths refused");
  });
});

describe("path guard semantics", () => {
  test("containment is by path, not by string prefix (CVE-2025-53110)", async () => {
    assert.equal((await guard.check(`${layout.root}2/secret.txt`)).allowed, false);
    assert.equal((await guard.check(`${layout.root}/README.md`)).allowed, true);
  });

  test("symlinks are judged by where they lead, dangling ones included (CVE-2025-53109)", async () => {
    const d = await guard.check("dangling");
    assert.ok(!d.allowed && /outside the allowed roots/.test(d.detail));
    assert.equal((await guard.check("escape-dir/new/file.txt")).allowed, false);
    assert.equal((await guard.check("link-inside/guide.md")).allowed, true);
  });

  test("`link/..` is judged both as the kernel reads it and lexically", async () => {
    // kernel: /etc/.. is /; lexically: the root itself
    assert.equal((await guard.check("escape-link/..")).allowed, false);
  });

  test("the deny list applies inside a root, extends the defaults, and can be opted out of explicitly", async () => {
    assert.equal((await guard.check(".env")).allowed, false);
    assert.equal((await guard.check("repo/.git/config")).allowed, false);
    const extended = compilePathGuard({ roots: [layout.root], deny: ["notes", "/etc/hosts"] });
    assert.equal((await extended.check("notes/100%.txt")).allowed, false);
    assert.equal((await extended.check(".ssh/id_rsa")).allowed, false, "defaults still apply");
    const bare = compilePathGuard({ roots: [layout.root], defaultDeny: false, deny: ["notes"] });
    assert.equal((await bare.check(".env")).allowed, true);
    assert.equal((await bare.check("notes")).allowed, false);
    assert.ok(DEFAULT_PATH_DENY.includes(".ssh") && DEFAULT_PATH_DENY.includes("/proc"));
  });

  test("a root that is itself a symlink is resolved once, at compile time", async () => {
    const g = compilePathGuard({ roots: [path.join(layout.root, "link-inside")] });
    assert.deepEqual(g.roots, [path.join(layout.root, "docs")]);
    assert.equal((await g.check(path.join(layout.root, "link-inside", "guide.md"))).allowed, true);
    assert.equal((await g.check(path.join(layout.root, "README.md"))).allowed, false);
  });

  test("hostile values fail closed instead of throwing", async () => {
    for (const v of [undefined, null, 42, {}, ["a"], "", "x".repeat(10_000)]) {
      const d = await guard.check(v as unknown as string);
      assert.equal(d.allowed, false);
    }
  });

  test("options are validated at compile time", () => {
    const bad: unknown[] = [
      { roots: [] },
      { roots: ["relative/dir"] },
      { roots: [path.join(layout.base, "missing")] },
      { roots: [path.join(layout.root, "README.md")] },
      { roots: [layout.root], deny: [""] },
      { roots: [layout.root], deny: ["../x"] },
      { roots: [layout.root], deny: ["/"] },
    ];
    for (const opts of bad) {
      assert.throws(() => compilePathGuard(opts as never), GuardConfigError, JSON.stringify(opts));
    }
  });
});

/** An oracle independent of the guard: where a path would land, symlinks followed, missing tail appended. */
function land(p: string, hops = 0): string {
  if (hops > 40) return "/";
  try {
    return realpathSync.native(p);
  } catch {
    try {
      if (lstatSync(p).isSymbolicLink())
        return land(path.resolve(path.dirname(p), readlinkSync(p)), hops + 1);
    } catch {
      // missing: fall through to the parent
    }
    const parent = path.dirname(p);
    return parent === p ? p : path.join(land(parent, hops), path.basename(p));
  }
}

function readings(raw: string, root: string, home: string): string[] {
  const texts = new Set<string>([raw]);
  let t = raw;
  for (let i = 0; i < 6; i++) {
    try {
      t = decodeURIComponent(t);
    } catch {
      break;
    }
    texts.add(t);
  }
  for (const x of [...texts]) texts.add(x.normalize("NFKC"));
  const out: string[] = [];
  for (let x of texts) {
    if (/^file:/i.test(x)) {
      try {
        x = fileURLToPath(x);
      } catch {
        continue;
      }
    }
    if (x.startsWith("~/")) x = home + x.slice(1);
    const abs = x.startsWith("/") ? x : `${root}/${x}`;
    out.push(land(path.resolve(abs)));
    if (existsSync(abs)) out.push(realpathSync.native(abs));
  }
  return out;
}

describe("path guard properties", () => {
  test("no generated path that lands outside the roots is ever allowed", async () => {
    const segment = fc.constantFrom(
      ...[
        "..",
        ".",
        "",
        "docs",
        "src",
        "up",
        "outside",
        "projects",
        "projects2",
        "secret.txt",
        "new",
        "etc",
        "tmp",
      ],
      ...["escape-link", "escape-dir", "rel-escape", "chain", "dangling", "link-inside", "%2e%2e", "%2E%2e"],
      ...["%252e%252e", "%25252e%25252e", "．．", "‥", "..%2f..", "%2f", "%2F..%2F", "ｅｔｃ", "%c0%ae"],
    );
    const prefix = fc.constantFrom(
      "",
      "/",
      "./",
      "~/",
      `${layout.root}/`,
      layout.root,
      `${layout.root}2/`,
      `file://${layout.root}/`,
      "file:///",
    );
    const separator = fc.constantFrom("/", "//", "/./");
    let outside = 0;
    await fc.assert(
      fc.asyncProperty(
        prefix,
        fc.array(segment, { minLength: 1, maxLength: 8 }),
        separator,
        async (pre, segs, sep) => {
          const raw = pre + segs.join(sep);
          const lands = readings(raw, layout.root, layout.home);
          const escapes = lands.some(
            (l) =>
              l !== layout.root &&
              l !== layout.root2 &&
              !l.startsWith(`${layout.root}/`) &&
              !l.startsWith(`${layout.root2}/`),
          );
          if (!escapes) return;
          outside++;
          const d = await guard.check(raw);
          assert.equal(d.allowed, false, `allowed ${raw}, which lands at ${lands.join(", ")}`);
        },
      ),
      { numRuns: 1500 },
    );
    assert.ok(outside > 300, `only ${outside} escaping paths generated`);
  });
});
