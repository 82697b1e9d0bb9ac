import { realpathSync, statSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { percentDecodeRounds } from "./decode.js";
import { compileDenyList, DEFAULT_PATH_DENY, splitComponents } from "./path-deny.js";
import { PathLimitError, resolvePhysical } from "./path-resolve.js";
import {
  ALLOWED,
  CONTROL_CHARS,
  denied,
  GuardConfigError,
  MAX_VALUE_LENGTH,
  type GuardDecision,
} from "./types.js";

export { DEFAULT_PATH_DENY } from "./path-deny.js";

export interface PathGuardOptions {
  /** Allowed directories: absolute, existing; their own symlinks are resolved once, here. */
  readonly roots: readonly string[];
  /** Sensitive names refused even inside a root; these *extend* DEFAULT_PATH_DENY (syntax: path-deny.ts). */
  readonly deny?: readonly string[];
  /** `false` drops DEFAULT_PATH_DENY, leaving only `deny`: an explicit opt-out, never implied. */
  readonly defaultDeny?: boolean;
  /** What `~` expands to (default: the gateway's home directory, as the filesystem server expands it). */
  readonly home?: string;
}

export interface PathGuard {
  /** The roots as resolved at compile time (real paths), for `policy explain`. */
  readonly roots: readonly string[];
  /** Allowed only if every interpretation of `value` lands inside a root and on no denied name. */
  check(value: string): Promise<GuardDecision>;
}

interface Root {
  readonly given: string;
  readonly real: string;
}

const deny = (detail: string) => denied("path_not_allowed", detail);

/**
 * `allowed_paths`. Containment is decided by `path.relative` on fully resolved paths, never by
 * string prefix (`/srv/projects2` is not inside `/srv/projects`: CVE-2025-53110), and through
 * symlinks, including dangling ones and those under not-yet-existing paths (CVE-2025-53109).
 * An argument is judged under every reading an upstream might give it: as written, percent-decoded
 * (each round), NFKC-normalised, with `~` expanded, with `..` applied lexically and physically.
 * A path must be inside a root both as written (lexically, checked before any I/O) and as resolved.
 * Windows forms (backslashes, drive letters) are refused: their meaning differs between a Linux
 * gateway and the server behind it. `//host/share` is a POSIX path (`/host/share`).
 * Not covered: a symlink swapped in after the check (TOCTOU); the sandbox answers that.
 */
export function compilePathGuard(opts: PathGuardOptions): PathGuard {
  if (process.platform === "win32")
    throw new GuardConfigError("roots", "path guard supports POSIX hosts only");
  if (!Array.isArray(opts.roots) || opts.roots.length === 0) {
    throw new GuardConfigError("roots", "at least one root is required");
  }
  const roots: Root[] = opts.roots.map((root, i) => compileRoot(root, `roots[${i}]`));
  const entries = [...(opts.defaultDeny === false ? [] : DEFAULT_PATH_DENY), ...(opts.deny ?? [])];
  const denyList = compileDenyList(entries, "deny");
  const home = opts.home ?? homedir();
  if (!path.isAbsolute(home)) throw new GuardConfigError("home", "must be absolute");
  const first = (roots[0] as Root).real;

  /** Everything decidable without I/O; the absolute path to resolve when that passes. */
  function prepare(candidate: string): GuardDecision | string {
    if (CONTROL_CHARS.test(candidate)) return deny("control character in path");
    if (candidate.includes("\\")) return deny("backslash in path (Windows-style paths are refused)");
    if (/^[A-Za-z]:/.test(candidate)) return deny("drive letter in path (Windows-style paths are refused)");
    let p = candidate;
    if (/^file:/i.test(p)) {
      try {
        p = fileURLToPath(p);
      } catch {
        return deny("invalid file URI");
      }
      if (CONTROL_CHARS.test(p) || p.includes("\\")) return deny("control character in path");
    } else if (/^[A-Za-z][A-Za-z0-9+.-]+:/.test(p)) {
      return deny("not a file path (URI scheme)");
    }
    if (p.startsWith("~")) {
      if (p !== "~" && !p.startsWith("~/")) return deny("~user paths are refused");
      p = home + p.slice(1);
    }
    const absolute = p.startsWith("/") ? p : `${first}/${p}`;
    const lexical = path.resolve(absolute);
    // A path must be inside a root as written, not only once resolved: decided before any I/O.
    const rel = lexicallyBelow(roots, lexical);
    if (rel === undefined) return deny("path resolves outside the allowed roots");
    const named = denyList.match(lexical, rel);
    if (named !== undefined) return deny(`path matches the denied name ${named}`);
    return absolute;
  }

  async function resolveAndCheck(absolute: string): Promise<GuardDecision> {
    const readings = [resolvePhysical(absolute)];
    if (absolute.split("/").includes("..")) readings.push(resolvePhysical(path.resolve(absolute)));
    for (const resolved of await Promise.all(readings)) {
      const root = roots.find((r) => inside(r.real, resolved) !== undefined);
      if (!root) return deny("path resolves outside the allowed roots");
      const hit = denyList.match(resolved, splitComponents(inside(root.real, resolved) as string));
      if (hit !== undefined) return deny(`path matches the denied name ${hit}`);
    }
    return ALLOWED;
  }

  async function check(value: string): Promise<GuardDecision> {
    if (typeof value !== "string") return deny("path is not a string");
    if (value.length === 0) return deny("empty path");
    if (value.length > MAX_VALUE_LENGTH) return deny("path too long");
    const rounds = percentDecodeRounds(value);
    if (!rounds) return deny("invalid or excessive percent-encoding");
    const absolutes = new Set<string>();
    for (const r of rounds) {
      for (const candidate of new Set([r, r.normalize("NFKC")])) {
        const prepared = prepare(candidate);
        if (typeof prepared !== "string") return prepared;
        absolutes.add(prepared);
      }
    }
    for (const d of await Promise.all([...absolutes].map(resolveAndCheck))) if (!d.allowed) return d;
    return ALLOWED;
  }

  return Object.freeze({
    roots: Object.freeze(roots.map((r) => r.real)),
    async check(value: string): Promise<GuardDecision> {
      try {
        return await check(value);
      } catch (err) {
        return deny(err instanceof PathLimitError ? err.message : "path could not be resolved");
      }
    },
  });
}

function compileRoot(root: unknown, option: string): Root {
  if (typeof root !== "string" || root === "" || CONTROL_CHARS.test(root)) {
    throw new GuardConfigError(option, "must be a path");
  }
  if (!path.isAbsolute(root)) throw new GuardConfigError(option, "must be absolute");
  let real: string;
  try {
    real = realpathSync.native(root);
    if (!statSync(real).isDirectory()) throw new GuardConfigError(option, "must be a directory");
  } catch (e) {
    if (e instanceof GuardConfigError) throw e;
    throw new GuardConfigError(option, `does not exist or is not readable: ${root}`);
  }
  return { given: path.resolve(root), real };
}

/** `p` relative to `root` when inside it (`""` for the root itself), else undefined. */
function inside(root: string, p: string): string | undefined {
  const rel = path.relative(root, p);
  if (rel === "") return rel;
  if (rel === ".." || rel.startsWith("../") || path.isAbsolute(rel)) return undefined;
  return rel;
}

/** The components of `p` below the root that contains it as written (configured or resolved root). */
function lexicallyBelow(roots: readonly Root[], p: string): string[] | undefined {
  for (const r of roots) {
    const rel = inside(r.given, p) ?? inside(r.real, p);
    if (rel !== undefined) return splitComponents(rel);
  }
  return undefined;
}
