// Node's module compile cache for the CLI: V8 code for every module it loads, kept on disk so that
// the next run skips compiling them (docs/operations.md, "How quickly the CLI starts").
// Loaded by bin/mcp-warden.js before anything else: node: modules only.
import { lstatSync, mkdirSync, statSync } from "node:fs";
import module from "node:module";
import { homedir } from "node:os";
import { dirname, posix, win32 } from "node:path";

/**
 * Where the cache lives unless NODE_COMPILE_CACHE says otherwise: per user, never a shared
 * temporary directory, because whoever can write there chooses the code this process runs.
 */
export function compileCacheDir(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): string | undefined {
  const path = platform === "win32" ? win32 : posix;
  // The XDG spec: a relative XDG_CACHE_HOME is ignored (it would put the cache in the working dir).
  const absolute = (p: string | undefined) => (p && path.isAbsolute(p) ? p : undefined);
  const home = absolute(safeHomedir());
  const base =
    absolute(env.XDG_CACHE_HOME) ??
    (platform === "win32" ? absolute(env.LOCALAPPDATA) : undefined) ??
    (home && path.join(home, ".cache"));
  return base === undefined ? undefined : path.join(base, "mcp-warden", "compile-cache");
}

/**
 * Enables the cache in `dir`: undefined when it is on, else why not. Never throws: the cache only
 * saves time, so an old Node, a read-only home or a directory that others could write to means no
 * cache, not an error. NODE_COMPILE_CACHE=dir (Node enabled it at start-up, there) and
 * NODE_DISABLE_COMPILE_CACHE=1 are the operator's and win.
 */
export function enableCompileCache(
  dir = compileCacheDir(),
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  // Node < 22.1 has no compile cache.
  if (typeof module.enableCompileCache !== "function") return "unsupported by this Node";
  if (env.NODE_DISABLE_COMPILE_CACHE) return "NODE_DISABLE_COMPILE_CACHE is set";
  if (env.NODE_COMPILE_CACHE) return undefined;
  if (dir === undefined) return "no cache directory";
  const problem = cacheDirectoryProblem(dir);
  if (problem) return problem;
  try {
    const r = module.enableCompileCache(dir);
    return r.status === module.constants.compileCacheStatus.FAILED ? (r.message ?? "failed") : undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * Makes `dir` (0700) as needed and checks that it and its two parents (mcp-warden/, the cache base)
 * belong to this user or root and that no one else may write to them: what is wrong, else
 * undefined. Made one level at a time: a recursive mkdir under /proc loops for ever in Node 24.
 */
export function cacheDirectoryProblem(dir: string): string | undefined {
  try {
    const missing: string[] = [];
    for (let d = dir; lstatSync(d, { throwIfNoEntry: false }) === undefined; d = dirname(d)) {
      if (dirname(d) === d) return `${d}: no such directory`;
      missing.unshift(d);
    }
    for (const d of missing) mkdirSync(d, { mode: 0o700 });
    const uid = process.getuid?.();
    if (uid === undefined) return undefined; // Windows: the profile's own access control applies.
    for (let d = dir, i = 0; i < 3; d = dirname(d), i++) {
      const st = statSync(d);
      if (!st.isDirectory()) return `${d}: not a directory`;
      if (st.uid !== uid && st.uid !== 0) return `${d}: owned by uid ${st.uid}`;
      if ((st.mode & 0o022) !== 0) return `${d}: writable by others`;
    }
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

function safeHomedir(): string | undefined {
  try {
    return homedir();
  } catch {
    return undefined;
  }
}
