/**
 * The gateway's own files, compiled once per config: their names (as configured and as resolved),
 * the one pattern free text is scanned for, and the inodes of what exists on disk.
 */
import { realpathSync, type Stats } from "node:fs";
import { readdir, realpath, stat } from "node:fs/promises";
import path from "node:path";

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
  /** The entries that are `absolute` or lie below it (giving a server that folder gives it them). */
  inside(absolute: string): OwnedEntry[];
  /** Whether `text` holds an owned file's (or folder's) name, compared as names are (NFKC, case-folded). */
  mentions(text: string): boolean;
  /** The entry with a name `pattern` matches: as configured, or found on disk (companions, a folder's files). */
  matching(pattern: RegExp): Promise<OwnedEntry | undefined>;
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

  // One pattern of every owned name, built here: free text is scanned for it on every call.
  const baseNames = [...new Set(names.map((n) => n.base))].filter((b) => b !== "");
  const mentioned = new RegExp(
    baseNames.map((b) => b.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&")).join("|"),
    "i",
  );
  function mentions(text: string): boolean {
    if (baseNames.length === 0) return false;
    // eslint-disable-next-line no-control-regex -- ASCII text needs no NFKC, and /i folds its case
    return mentioned.test(/^[\u0000-\u007f]*$/.test(text) ? text : nameKey(text));
  }

  function inside(absolute: string): OwnedEntry[] {
    const key = nameKey(path.resolve(absolute));
    const prefix = key.endsWith("/") ? key : `${key}/`;
    return [...new Set(names.filter((n) => n.key === key || n.key.startsWith(prefix)).map((n) => n.entry))];
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
  /** Names found on disk at the last read (nameKey, configured and resolved folder), for globs. */
  let found = new Map<string, OwnedEntry>();
  let readAt = 0;
  let reading: Promise<void> | undefined;

  /** Every owned file that exists now (companions and an owned folder's own files included). */
  async function readInodes(): Promise<void> {
    if (known.size > MAX_KNOWN_INODES) known.clear();
    const listed = new Map<string, OwnedEntry>();
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
        let children: string[];
        try {
          children = await readdir(dir);
        } catch {
          return;
        }
        const real = await realpath(dir).catch(() => dir);
        const base = path.basename(entry.path);
        for (const name of children) {
          const companion = name.startsWith(base) && entry.siblings?.test(name.slice(base.length));
          if (!entry.folder && !companion) continue;
          for (const d of [dir, real]) listed.set(nameKey(path.join(d, name)), entry);
          await note(path.join(dir, name), entry);
        }
      }),
    );
    found = listed;
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

  async function matching(pattern: RegExp): Promise<OwnedEntry | undefined> {
    for (const n of names) if (pattern.test(n.key)) return n.entry;
    if (readAt === 0 || Date.now() - readAt > INODE_REFRESH_MS) await refresh();
    for (const [key, entry] of found) if (pattern.test(key)) return entry;
    return undefined;
  }

  return Object.freeze({
    entries: Object.freeze([...entries]),
    byName,
    byInode,
    inside,
    mentions,
    matching,
  });
}
