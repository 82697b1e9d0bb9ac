import { lstat, readlink, realpath } from "node:fs/promises";
import path from "node:path";

/** Linux's own limit on symlinks followed while resolving one path (SYMLOOP_MAX). */
const MAX_SYMLINK_HOPS = 40;

/** An error that means "this path (or a parent) does not exist yet": the rest is appended lexically. */
function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}

/**
 * Where the kernel would land for `absolute`, symlinks followed *before* `..` (as open(2) does:
 * `link/..` is the link target's parent, not the link's). A path that does not exist yet resolves
 * through its nearest existing ancestor, with the missing rest appended, so a dangling symlink or a
 * file about to be created under a symlinked directory is judged by where it would really be written.
 * Throws on any other error (EACCES, ELOOP, too many hops): the caller denies.
 */
export async function resolvePhysical(absolute: string): Promise<string> {
  try {
    return await realpath(absolute);
  } catch (error) {
    if (!isMissing(error)) throw error;
  }
  // Start from the deepest ancestor that resolves (usually the parent): fewer round trips than
  // walking from `/`.
  const components = absolute.split("/").filter((c) => c !== "");
  for (let k = components.length - 1; k > 0; k--) {
    if (components[k - 1] === ".." || components[k - 1] === ".") continue;
    try {
      const start = await realpath(`/${components.slice(0, k).join("/")}`);
      return await walk(start, components.slice(k), 0);
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
  }
  return walk("/", components, 0);
}

async function walk(from: string, components: readonly string[], depth: number): Promise<string> {
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
    try {
      isLink = (await lstat(next)).isSymbolicLink();
    } catch (error) {
      if (!isMissing(error)) throw error;
      // Missing from here on: a consumer that creates it (mkdir -p, path.resolve first) collapses the
      // rest lexically; if that climbs back into existing directories, resolve those physically too.
      if (!queue.includes("..")) return path.join(next, ...queue);
      if (depth > 0) throw new Error("unresolvable path");
      return walk("/", path.resolve(next, ...queue).split("/"), depth + 1);
    }
    if (!isLink) {
      current = next;
      continue;
    }
    if (++hops > MAX_SYMLINK_HOPS) throw new Error("too many symbolic links");
    const target = await readlink(next);
    if (target.startsWith("/")) current = "/";
    queue.unshift(...target.split("/").filter((c) => c !== "" && c !== "."));
  }
  return current;
}
