import type { Stats } from "node:fs";
import { stat } from "node:fs/promises";
import { homedir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { MAX_COMMAND_LENGTH } from "./command.js";
import { percentDecodeRounds } from "./decode.js";
import { nameKey, type OwnedEntry, type OwnedFiles } from "./path-owned-files.js";
import {
  commandWords,
  globRegExp,
  isSurrounding,
  looseForms,
  textCandidates,
  trimEnds,
  wordPaths,
} from "./path-owned-words.js";
import { pathLimit, PathLimitError, resolvePhysical } from "./path-resolve.js";
import { ALLOWED, denied, MAX_VALUE_LENGTH, type GuardDecision } from "./types.js";

export {
  compileOwnedFiles,
  nameKey,
  physicalSync,
  type OwnedEntry,
  type OwnedFiles,
} from "./path-owned-files.js";

export interface OwnedPathGuardOptions {
  readonly owned: OwnedFiles;
  /** Absolute folders a relative path may be read against (the server's cwd, its roots). */
  readonly bases: readonly string[];
  /** What `~` expands to (default: the gateway's home directory). */
  readonly home?: string;
}

/** Strings one call may have judged (each costs a few filesystem calls): `checkText` and `checkCommand` spend it. */
export interface OwnedCheckBudget {
  left: number;
}

/** A call's budget of judged strings: past it, the call is refused rather than partly checked. */
export const MAX_OWNED_CHECKS = 256;

export interface OwnedPathGuard {
  /** A path argument, or a `file:` URI. */
  check(value: string): Promise<GuardDecision>;
  /** A string no guard classifies: judged where a reading starts like a path or names an owned file. */
  checkText(value: string, budget: OwnedCheckBudget): Promise<GuardDecision>;
  /** A command line or argv: every word that may be a path, and every glob, judged. */
  checkCommand(value: string | readonly string[], budget: OwnedCheckBudget): Promise<GuardDecision>;
}

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]+:/;
/** More distinct absolute readings than this and the value is refused: bounded work per argument. */
const MAX_READINGS = 64;
/** `$HOME/x`, `${HOME}/x`: what a shell makes of them without running anything. */
const HOME_VARIABLE = /^(?:\$HOME|\$\{HOME\})(?=\/|$)/;

const refuse = (entry: OwnedEntry) =>
  denied("path_not_allowed", `path names a file the gateway owns (${entry.what})`);
const overBudget = denied(
  "path_not_allowed",
  `more than ${MAX_OWNED_CHECKS} strings to check for the gateway's own files`,
);

/**
 * Refuses any path argument that names a file the gateway owns, on every server, whatever
 * `allowed_paths` says. The value is read every way an upstream might read it: as written and
 * percent-decoded (each round), NFKC-normalised, trimmed of whitespace and quotes (the filesystem
 * server strips them) and of C0 controls (a URL parser strips them), cut at a NUL (C strings end
 * there), with backslashes as slashes, `file:` URIs as paths, `~` expanded, a relative path against
 * every base; each reading is judged by name as written, by name once symlinks are resolved (kernel
 * order, `link/..` included), and by device and inode when it exists (hard links, moved files). An
 * error other than "does not exist", and a reading past 4096 bytes or 256 components, is a refusal.
 */
export function compileOwnedPathGuard(opts: OwnedPathGuardOptions): OwnedPathGuard {
  const { owned } = opts;
  const bases = opts.bases.map((b) => path.resolve(b));
  const home = opts.home ?? homedir();

  /** The absolute paths `value` may mean; undefined when it cannot be read safely. */
  function readings(value: string, against: readonly string[]): Set<string> | undefined {
    const rounds = percentDecodeRounds(value);
    if (!rounds) return undefined;
    const out = new Set<string>();
    for (const r of rounds) {
      // Each way of reading applies on top of the others (a quoted, padded, backslashed value).
      const forms = new Set([r, r.normalize("NFKC")]);
      const also = (variant: (f: string) => string | undefined) => {
        for (const f of [...forms]) {
          const v = variant(f);
          if (v !== undefined) forms.add(v);
        }
      };
      also((f) => f.trim().replace(/^["']|["']$/g, ""));
      also((f) => trimEnds(f, isSurrounding));
      also((f) => f.replace(/\\/g, "/"));
      // A server in C (or one that hands the string to one) stops at the first NUL.
      also((f) => (f.includes("\0") ? trimEnds(f.slice(0, f.indexOf("\0")), isSurrounding) : undefined));
      // A URL parser also drops tabs and newlines anywhere: `fi\tle:` is a file: URI to it.
      also((f) => {
        const parsed = f.replace(/[\t\n\r]/g, "");
        return /^file:/i.test(parsed) ? parsed : undefined;
      });
      // A server that strips `file://` instead of parsing keeps `link/..` for the kernel to follow.
      also((f) => /^file:\/\/(?:localhost)?(\/.*)$/is.exec(f)?.[1]);
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
        else for (const b of against) out.add(`${b}/${p}`);
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
    const limit = pathLimit(absolute);
    if (limit !== undefined) return denied("path_not_allowed", limit);
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

  async function checkAgainst(value: string, against: readonly string[]): Promise<GuardDecision> {
    if (typeof value !== "string") return ALLOWED; // not a path: the plan reports it
    if (value.length > MAX_VALUE_LENGTH) return denied("path_not_allowed", "path too long");
    const all = readings(value, against);
    if (!all) return denied("path_not_allowed", "invalid percent-encoding or file URI");
    if (all.size > MAX_READINGS) return denied("path_not_allowed", "path has too many readings to check");
    for (const d of await Promise.all([...all].map(judge))) if (!d.allowed) return d;
    return ALLOWED;
  }

  /** A glob the shell expands before the program runs: refused when it would expand to an owned file. */
  async function checkGlob(word: string, against: readonly string[]): Promise<GuardDecision> {
    const w = word === "~" || word.startsWith("~/") ? home + word.slice(1) : word;
    for (const pattern of w.startsWith("/") ? [w] : against.map((b) => `${b}/${w}`)) {
      let re: RegExp;
      try {
        re = globRegExp(nameKey(path.posix.normalize(pattern)));
      } catch {
        continue; // a class such as `[z-a]`: the shell matches nothing with it
      }
      const hit = await owned.matching(re);
      if (hit) return refuse(hit);
    }
    return ALLOWED;
  }

  async function checkText(value: string, budget: OwnedCheckBudget): Promise<GuardDecision> {
    for (const candidate of textCandidates(value, owned.mentions)) {
      if (--budget.left < 0) return overBudget;
      const d = await checkAgainst(candidate, bases);
      if (!d.allowed) return d;
    }
    return ALLOWED;
  }

  async function checkCommand(
    value: string | readonly string[],
    budget: OwnedCheckBudget,
  ): Promise<GuardDecision> {
    const size = typeof value === "string" ? value.length : value.reduce((n, w) => n + w.length, 0);
    if (size > MAX_COMMAND_LENGTH) return denied("path_not_allowed", "command too long to check");
    const { words, dirs } = commandWords(value);
    // Relative words may be read where the command moves to (`cd .warden && cat state.db-wal`).
    const moved = new Set(bases);
    for (const d of dirs) {
      const dir = d.replace(HOME_VARIABLE, "~");
      const expanded = dir === "~" || dir.startsWith("~/") ? home + dir.slice(1) : dir;
      if (expanded.startsWith("/")) moved.add(path.resolve(expanded));
      else for (const b of bases) moved.add(path.resolve(b, expanded));
    }
    const against = [...moved];
    const seen = new Set<string>();
    for (const word of words) {
      for (const text of wordPaths(word.text.replace(HOME_VARIABLE, "~"))) {
        const key = `${word.glob ? "g" : "p"}${text}`;
        if (seen.has(key) || (SCHEME.test(text) && !/^file:/i.test(text))) continue;
        seen.add(key);
        if (word.glob) {
          if (--budget.left < 0) return overBudget;
          const g = await checkGlob(text, against);
          if (!g.allowed) return g;
        }
        const pathy = (f: string) => owned.mentions(f) || f.includes("/") || f.startsWith("~");
        if (!looseForms(text).some(pathy)) continue;
        if (--budget.left < 0) return overBudget;
        const d = await checkAgainst(text, against);
        if (!d.allowed) return d;
      }
    }
    return ALLOWED;
  }

  /** Never throws: an error is a refusal, saying why when a limit was hit. */
  const failClosed =
    <A extends unknown[]>(fn: (...args: A) => Promise<GuardDecision>) =>
    async (...args: A): Promise<GuardDecision> => {
      try {
        return await fn(...args);
      } catch (err) {
        const why = err instanceof PathLimitError ? err.message : "path could not be resolved";
        return denied("path_not_allowed", why);
      }
    };

  return Object.freeze({
    check: failClosed((value: string) => checkAgainst(value, bases)),
    checkText: failClosed(checkText),
    checkCommand: failClosed(checkCommand),
  });
}
