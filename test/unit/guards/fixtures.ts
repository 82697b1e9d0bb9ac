import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const corpora = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../corpora");

/** Lines of a corpus file, without blank lines and `#` comment lines, placeholders substituted. */
export function corpusLines(file: string, vars: Record<string, string> = {}): string[] {
  return readFileSync(path.join(corpora, file), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "" && !l.startsWith("#"))
    .map((l) => l.replace(/\{([A-Z0-9]+)\}/g, (m, k: string) => vars[k] ?? m));
}

export function corpusJson<T>(file: string): T {
  return JSON.parse(readFileSync(path.join(corpora, file), "utf8")) as T;
}

export interface FsLayout {
  readonly base: string;
  readonly root: string;
  readonly root2: string;
  readonly outside: string;
  readonly home: string;
  readonly vars: Record<string, string>;
  cleanup(): void;
}

/** The layout path-deny.txt and path-allow.txt describe, in a fresh temp dir. */
export function makeLayout(): FsLayout {
  const base = realpathSync(mkdtempSync(path.join(tmpdir(), "warden-guards-")));
  const root = path.join(base, "projects");
  const root2 = path.join(base, "data");
  const outside = path.join(base, "outside");
  const home = path.join(base, "home");
  for (const d of [root, root2, outside, home, `${root}2`, `${root}-evil`, `${root}_backup`]) {
    mkdirSync(d, { recursive: true });
  }
  for (const d of ["src", "docs", "notes", "repo/.git", ".ssh"])
    mkdirSync(path.join(root, d), { recursive: true });
  const files: Record<string, string> = {
    "README.md": "# readme",
    "src/index.ts": "export {};",
    "docs/guide.md": "guide",
    "notes/100%.txt": "percent",
    ".env": "SECRET=1",
    ".ssh/id_rsa": "key",
    "repo/.git/config": "[core]",
  };
  for (const [f, body] of Object.entries(files)) writeFileSync(path.join(root, f), body);
  writeFileSync(path.join(outside, "secret.txt"), "secret");
  writeFileSync(path.join(`${root}2`, "secret.txt"), "secret");
  writeFileSync(path.join(root2, "data.csv"), "a,b");
  symlinkSync("/etc", path.join(root, "escape-link"));
  symlinkSync(outside, path.join(root, "escape-dir"));
  symlinkSync("../outside", path.join(root, "rel-escape"));
  symlinkSync(path.join(root, "escape-dir"), path.join(root, "chain"));
  symlinkSync(path.join(outside, "not-yet.txt"), path.join(root, "dangling"));
  symlinkSync(path.join(root, "docs"), path.join(root, "link-inside"));
  symlinkSync("../../outside", path.join(root, "docs", "up"));
  return {
    base,
    root,
    root2,
    outside,
    home,
    vars: { ROOT: root, ROOT2: root2, OUTSIDE: outside },
    cleanup: () => rmSync(base, { recursive: true, force: true }),
  };
}
