import { lstat, readlink, realpath } from "node:fs/promises";
import path from "node:path";

/** Linux's own limit on symlinks followed while resolving one path (SYMLOOP_MAX). */
const MAX_SYMLINK_HOPS = 40;
/** Linux's PATH_MAX: no file has a longer name, so a longer value is refused rather than walked. */
export const MAX_PATH_BYTES = 4096;
/** More components than any real path has; each one may cost a filesystem call. */
export const MAX_PATH_COMPONENTS = 256;
/** Filesystem calls one resolution may make: every component, plus what symlinks add on the way. */
export const MAX_RESOLVE_CALLS = 2 * MAX_PATH_COMPONENTS + 2 * MAX_SYMLINK_HOPS;

/** A path too long, too deep or too costly to resolve: the guards refuse it, saying which. */
export class PathLimitError extends Error {
  override readonly name = "PathLimitError";
}

/** Why `p` is too big to resolve (bytes, components), or undefined. Linear, no I/O. */
export function pathLimit(p: string): string | undefined {
  if (Buffer.byteLength(p) > MAX_PATH_BYTES) return `path longer than ${MAX_PATH_BYTES} bytes`;
  let components = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] !== "/" && (i === 0 || p[i - 1] === "/") && ++components > MAX_PATH_COMPONENTS)
      return `path has more than ${MAX_PATH_COMPONENTS} components`;
  }
  return undefined;
}

/** Filesystem calls made, for a caller that wants to see the bound hold. */
export interface ResolveCalls {
  made: number;
}

/** An error that means "this path (or a parent) does not exist yet": the rest is appended lexically. */
function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}

/**
 * Where the kernel would land for `absolute`, symlinks followed *before* `..` (as open(2) does:
 * `link/..` is the link target's parent, not the link's). A path that does not exist yet resolves
 * through its longest existing prefix, with the missing rest appended, so a dangling symlink or a
 * file about to be created under a symlinked directory is judged by where it would really be
 * written. Work is linear in the path: one realpath, one for the parent (a new file in an existing
 * folder), else one forward lstat walk, at most MAX_RESOLVE_CALLS calls in all. Throws
 * PathLimitError past the limits and on any error but ENOENT/ENOTDIR (EACCES, ELOOP): the caller
 * denies.
 */
export async function resolvePhysical(absolute: string, calls: ResolveCalls = { made: 0 }): Promise<string> {
  const limit = pathLimit(absolute);
  if (limit !== undefined) throw new PathLimitError(limit);
  const spend = () => {
    if (++calls.made > MAX_RESOLVE_CALLS) throw new PathLimitError("path too costly to resolve");
  };
  spend();
  try {
    return await realpath(absolute);
  } catch (error) {
    if (!isMissing(error)) throw error;
  }
  const last = path.basename(absolute);
  const parent = path.dirname(absolute);
  if (last !== "" && last !== "." && last !== ".." && parent !== absolute) {
    spend();
    let start: string | undefined;
    try {
      start = await realpath(parent);
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
    // The last component may still be a dangling symlink: walked, not appended.
    if (start !== undefined) return walk(start, [last], 0, spend);
  }
  return walk("/", absolute.split("/"), 0, spend);
}

/** Component by component from `from`, lstat on each, following symlinks; the missing rest appended. */
async function walk(
  from: string,
  components: readonly string[],
  depth: number,
  spend: () => void,
): Promise<string> {
  const queue = components.filter((c) => c !== "" && c !== ".");
  let current = from;
  let hops = 0;
  while (queue.length > 0) {
    const component = queue.shift() as string;
    if (component === "..") {
      current = path.dirname(current);
      continue;
    }
    const next = current === "/" ? `/${component}` : `${current}/${component}`;
    let isLink: boolean;
    spend();
    try {
      isLink = (await lstat(next)).isSymbolicLink();
    } catch (error) {
      if (!isMissing(error)) throw error;
      // Missing from here on: a consumer that creates it (mkdir -p, path.resolve first) collapses the
      // rest lexically; if that climbs back into existing directories, resolve those physically too.
      if (!queue.includes("..")) return path.join(next, ...queue);
      if (depth > 0) throw new Error("unresolvable path");
      return walk("/", path.resolve(next, ...queue).split("/"), depth + 1, spend);
    }
    if (!isLink) {
      current = next;
      continue;
    }
    if (++hops > MAX_SYMLINK_HOPS) throw new Error("too many symbolic links");
    spend();
    const target = await readlink(next);
    if (target.startsWith("/")) current = "/";
    queue.unshift(...target.split("/").filter((c) => c !== "" && c !== "."));
  }
  return current;
}
