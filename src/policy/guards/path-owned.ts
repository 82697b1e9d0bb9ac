import { realpathSync, type Stats } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { homedir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { percentDecodeRounds } from "./decode.js";
import { resolvePhysical } from "./path-resolve.js";
import { ALLOWED, denied, MAX_VALUE_LENGTH, type GuardDecision } from "./types.js";

/** A file or folder the gateway owns (src/config/owned-files.ts lists them). */
export interface OwnedEntry {
  /** Absolute. */
  readonly path: string;
  /** What it is, for the refusal's detail: "the state database". */
  readonly what: string;
  /** The path and everything below it. */
  readonly folder?: boolean;
  /** Companion files: the name followed by a suffix this matches (`-wal`, `.3`). */
  readonly siblings?: RegExp;
}

/**
 * The owned files, compiled once: each under its configured and its resolved name (a state folder
 * reached through a symlink), compared case-insensitively after NFKC, so `STATE.DB`, `ｓｔａｔｅ.db`
 * and a decomposed `é` name the same file (the filesystem server resolves Unicode equivalents, and
 * other filesystems fold case). Hard links and moved files are caught by device and inode.
 */
export interface OwnedFiles {
  readonly entries: readonly OwnedEntry[];
  /** The entry `absolute` names (itself, a companion, or something inside an owned folder). */
  byName(absolute: string): OwnedEntry | undefined;
  /** The entry whose file (or folder) `st` is: a hard link or a moved file has the same dev:ino. */
  byInode(st: Stats): Promise<OwnedEntry | undefined>;
}

/** Compares names as the most lenient filesystem an upstream might sit on would. */
export function nameKey(p: string): string {
  return p.normalize("NFKC").toLowerCase();
}

/** Where `p` really is: the real path of its longest existing prefix, with the missing rest appended. */
export function physicalSync(p: string): string {
  const missing: string[] = [];
  let at = path.resolve(p);
  for (;;) {
    try {
      return path.join(realpathSync.native(at), ...missing.reverse());
    } catch {
      const parent = path.dirname(at);
      if (parent === at) return path.resolve(p);
      missing.push(path.basename(at));
      at = parent;
    }
  }
}

interface CompiledName {
  readonly entry: OwnedEntry;
  /** nameKey of the absolute path. */
  readonly key: string;
  readonly dir: string;
  readonly base: string;
}

/** Inodes are re-read at most this often when no hard link prompts it (files made since the last read). */
const INODE_REFRESH_MS = 2_000;
/** Inodes of files that have since gone (rotated, moved) stay known, up to this many. */
const MAX_KNOWN_INODES = 4_096;

export function compileOwnedFiles(entries: readonly OwnedEntry[]): OwnedFiles {
  const names: CompiledName[] = [];
  for (const entry of entries) {
    for (const form of new Set([path.resolve(entry.path), physicalSync(entry.path)])) {
      const key = nameKey(form);
      names.push({ entry, key, dir: path.dirname(key), base: path.basename(key) });
    }
  }

  function byName(absolute: string): OwnedEntry | undefined {
    const key = nameKey(path.resolve(absolute));
    const dir = path.dirname(key);
    const base = path.basename(key);
    for (const n of names) {
      if (key === n.key) return n.entry;
      if (n.entry.folder && key.startsWith(`${n.key}/`)) return n.entry;
      if (n.entry.siblings && dir === n.dir && base.startsWith(n.base)) {
        if (n.entry.siblings.test(base.slice(n.base.length))) return n.entry;
      }
    }
    return undefined;
  }

  const known = new Map<string, OwnedEntry>();
  let readAt = 0;
  let reading: Promise<void> | undefined;

  /** Every owned file that exists now (companions and an owned folder's own files included). */
  async function readInodes(): Promise<void> {
    if (known.size > MAX_KNOWN_INODES) known.clear();
    const note = async (p: string, entry: OwnedEntry) => {
      try {
        const st = await stat(p);
        known.set(`${st.dev}:${st.ino}`, entry);
      } catch {
        // not there (yet): known by name
      }
    };
    await Promise.all(
      entries.map(async (entry) => {
        await note(entry.path, entry);
        if (!entry.siblings && !entry.folder) return;
        const dir = entry.folder ? entry.path : path.dirname(entry.path);
        let listed: string[];
        try {
          listed = await readdir(dir);
        } catch {
          return;
        }
        const base = path.basename(entry.path);
        for (const name of listed) {
          const companion = name.startsWith(base) && entry.siblings?.test(name.slice(base.length));
          if (entry.folder || companion) await note(path.join(dir, name), entry);
        }
      }),
    );
    readAt = Date.now();
  }

  function refresh(): Promise<void> {
    reading ??= readInodes().finally(() => {
      reading = undefined;
    });
    return reading;
  }

  async function byInode(st: Stats): Promise<OwnedEntry | undefined> {
    const id = `${st.dev}:${st.ino}`;
    if (readAt === 0 || Date.now() - readAt > INODE_REFRESH_MS) await refresh();
    let hit = known.get(id);
    // A file with several names may be a hard link made since the last read: read again now.
    if (!hit && !st.isDirectory() && st.nlink > 1) {
      await refresh();
      hit = known.get(id);
    }
    return hit;
  }

  return Object.freeze({ entries: Object.freeze([...entries]), byName, byInode });
}

export interface OwnedPathGuardOptions {
  readonly owned: OwnedFiles;
  /** Absolute folders a relative path may be read against (the server's cwd, its roots). */
  readonly bases: readonly string[];
  /** What `~` expands to (default: the gateway's home directory). */
  readonly home?: string;
}

export interface OwnedPathGuard {
  check(value: string): Promise<GuardDecision>;
}

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]+:/;
/** More distinct absolute readings than this and the value is refused: bounded work per argument. */
const MAX_READINGS = 64;

const refuse = (entry: OwnedEntry) =>
  denied("path_not_allowed", `path names a file the gateway owns (${entry.what})`);

/**
 * Refuses any path argument that names a file the gateway owns, on every server, whatever
 * `allowed_paths` says. The value is read every way an upstream might read it: as written and
 * percent-decoded (each round), NFKC-normalised, trimmed of whitespace and quotes (the filesystem
 * server strips them), cut at a NUL (C strings end there), with backslashes as slashes, `file:`
 * URIs as paths, `~` expanded, a relative path against every base; each reading is judged by name
 * as written, by name once symlinks are resolved (kernel order, `link/..` included), and by device
 * and inode when it exists (hard links, moved files). An error other than "does not exist" is a
 * refusal.
 */
export function compileOwnedPathGuard(opts: OwnedPathGuardOptions): OwnedPathGuard {
  const { owned } = opts;
  const bases = opts.bases.map((b) => path.resolve(b));
  const home = opts.home ?? homedir();

  /** The absolute paths `value` may mean; undefined when it cannot be read safely. */
  function readings(value: string): Set<string> | undefined {
    const rounds = percentDecodeRounds(value);
    if (!rounds) return undefined;
    const out = new Set<string>();
    for (const r of rounds) {
      const forms = new Set([r, r.normalize("NFKC")]);
      for (const f of [...forms]) {
        forms.add(f.trim().replace(/^["']|["']$/g, ""));
        forms.add(f.replace(/\\/g, "/"));
        // A server in C (or one that hands the string to one) stops at the first NUL.
        if (f.includes("\0")) forms.add(f.slice(0, f.indexOf("\0")));
      }
      for (const f of [...forms]) {
        // A server that strips `file://` instead of parsing keeps `link/..` for the kernel to follow.
        const naive = /^file:\/\/(?:localhost)?(\/.*)$/is.exec(f)?.[1];
        if (naive !== undefined) forms.add(naive);
      }
      for (let p of forms) {
        if (p === "" || p.includes("\0")) continue;
        if (/^file:/i.test(p)) {
          try {
            p = fileURLToPath(p);
          } catch {
            return undefined;
          }
        } else if (SCHEME.test(p)) continue; // another scheme (https:, C:) is not a local POSIX path
        if (p === "~" || p.startsWith("~/")) p = home + p.slice(1);
        if (p.startsWith("/")) out.add(p);
        else for (const b of bases) out.add(`${b}/${p}`);
      }
    }
    return out;
  }

  /** The file a path reaches (symlinks followed as the kernel does), or undefined when there is none. */
  async function statOrNone(p: string): Promise<Stats | undefined> {
    try {
      return await stat(p);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return undefined;
      throw err;
    }
  }

  async function judge(absolute: string): Promise<GuardDecision> {
    const lexical = owned.byName(absolute);
    if (lexical) return refuse(lexical);
    const targets = [absolute];
    if (absolute.split("/").includes("..")) targets.push(path.resolve(absolute));
    // Names and inodes looked up together: one round trip to the thread pool, not two.
    const found = await Promise.all(targets.map((t) => Promise.all([resolvePhysical(t), statOrNone(t)])));
    for (const [real, st] of found) {
      const named = owned.byName(real);
      if (named) return refuse(named);
      const same = st && (await owned.byInode(st));
      if (same) return refuse(same);
    }
    return ALLOWED;
  }

  async function check(value: string): Promise<GuardDecision> {
    if (typeof value !== "string") return ALLOWED; // not a path: the plan reports it
    if (value.length > MAX_VALUE_LENGTH) return denied("path_not_allowed", "path too long");
    const all = readings(value);
    if (!all) return denied("path_not_allowed", "invalid percent-encoding or file URI");
    if (all.size > MAX_READINGS) return denied("path_not_allowed", "path has too many readings to check");
    for (const d of await Promise.all([...all].map(judge))) if (!d.allowed) return d;
    return ALLOWED;
  }

  return Object.freeze({
    async check(value: string): Promise<GuardDecision> {
      try {
        return await check(value);
      } catch {
        return denied("path_not_allowed", "path could not be resolved");
      }
    },
  });
}
