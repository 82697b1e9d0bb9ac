/**
 * The files of an installed package tree (`<entry>/node_modules`: the package and every
 * dependency), recorded at install and checked before each launch: every recorded file must still
 * hash to its digest, every symbolic link point where it pointed, and nothing may be added. An
 * added file matters as much as a changed one: a `node_modules/` nested inside a package shadows
 * the dependency it names.
 */
import { readdir, readlink } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { fileDigest, verifyIntegrity } from "./integrity.js";
import { LaunchRefused } from "./launch-refused.js";

/** Relative path → `sha256:<hex>` for a file, `link:<target>` for a symbolic link. */
export type TreeDigests = Readonly<Record<string, string>>;

/** A tree verified this recently is not walked again: launches come in bursts (sessions, spares). */
const REUSE_MS = 10_000;
const recent = new Map<string, { at: number; check: Promise<void> }>();

/** What the tree holds: every regular file and symbolic link under `root`, by relative path. */
async function entries(root: string): Promise<Map<string, "file" | string>> {
  const out = new Map<string, "file" | string>();
  for (const e of await readdir(root, { recursive: true, withFileTypes: true })) {
    const path = join(e.parentPath, e.name);
    const rel = relative(root, path).split(sep).join("/");
    if (e.isFile()) out.set(rel, "file");
    else if (e.isSymbolicLink()) out.set(rel, `link:${await readlink(path)}`);
    else if (!e.isDirectory()) out.set(rel, "other");
  }
  return out;
}

/** The digests `install` records. */
export async function treeDigests(root: string): Promise<TreeDigests> {
  const found = await entries(root);
  const digests: Record<string, string> = {};
  for (const [rel, kind] of [...found].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (kind === "other") throw new Error(`${rel}: neither a file, a directory nor a link`);
    digests[rel] = kind === "file" ? `sha256:${await fileDigest(join(root, rel))}` : kind;
  }
  return digests;
}

/**
 * Refuses the launch (`integrity_mismatch`) when the tree under `root` is not exactly `expected`.
 * Checks of one tree in flight are shared, and one that passed is reused for 10 s.
 */
export function verifyTree(root: string, expected: TreeDigests): Promise<void> {
  const now = Date.now();
  const last = recent.get(root);
  if (last && now - last.at < REUSE_MS) return last.check;
  const check = compare(root, expected);
  recent.set(root, { at: now, check });
  check.catch(() => {
    if (recent.get(root)?.check === check) recent.delete(root);
  });
  return check;
}

async function compare(root: string, expected: TreeDigests): Promise<void> {
  let found: Map<string, string>;
  try {
    found = await entries(root);
  } catch (err) {
    throw mismatch(root, `unreadable: ${(err as NodeJS.ErrnoException).code ?? "EIO"}`);
  }
  for (const [rel, kind] of found) {
    const want = expected[rel];
    if (want === undefined) throw mismatch(join(root, rel), "not in the installed package");
    if (kind !== "file" && kind !== want) throw mismatch(join(root, rel), "link changed");
  }
  const files = new Map<string, string>();
  for (const [rel, want] of Object.entries(expected)) {
    const kind = found.get(rel);
    if (kind === undefined) throw mismatch(join(root, rel), "missing");
    if (want.startsWith("sha256:")) {
      if (kind !== "file") throw mismatch(join(root, rel), "no longer a file");
      files.set(join(root, rel), want.slice("sha256:".length));
    }
  }
  await verifyIntegrity(files);
}

function mismatch(file: string, why: string): LaunchRefused {
  return new LaunchRefused("integrity_mismatch", `integrity mismatch: ${file} (${why})`, { file, why });
}
