import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { delimiter, isAbsolute, join, resolve } from "node:path";
import type { Config, StdioServerConfig } from "../config/types.js";

/**
 * A stdio server's program as exec will find it: a command with a `/` is a path (relative to the
 * server's `cwd`, else the gateway's working directory), any other is looked up on PATH like
 * execvp. `relativePathDirs`: whether PATH entries that are not absolute count (they do for a
 * plain spawn, relative to that same directory; the sandbox ignores them).
 */
export async function resolveCommand(
  command: string,
  path: string,
  cwd: string,
  relativePathDirs = false,
): Promise<string | undefined> {
  if (command.includes("/")) {
    const abs = isAbsolute(command) ? command : resolve(cwd, command);
    return (await executable(abs)) ? abs : undefined;
  }
  for (const dir of path.split(delimiter)) {
    if (dir === "" || (!isAbsolute(dir) && !relativePathDirs)) continue;
    const candidate = resolve(cwd, join(dir, command));
    if (await executable(candidate)) return candidate;
  }
  return undefined;
}

/** The PATH a server is launched with: the gateway's own, unless its `env` sets one. */
export function launchPath(server: StdioServerConfig): string {
  return server.env.PATH ?? process.env.PATH ?? "";
}

/**
 * One problem per stdio server whose program cannot be found where the launcher will look: such a
 * server could never start, so `check` reports it and `start` refuses the config.
 */
export async function commandProblems(config: Pick<Config, "servers">): Promise<string[]> {
  const problems: string[] = [];
  for (const [i, server] of config.servers.entries()) {
    // A pinned package runs on the gateway's own Node.js; `install` checks its cache entry.
    if (server.kind !== "stdio" || server.package !== undefined) continue;
    const cwd = server.cwd ?? process.cwd();
    const found = await resolveCommand(server.command, launchPath(server), cwd, !server.sandbox);
    if (found) continue;
    const where = server.env.PATH === undefined ? "the gateway's PATH" : `servers[${i}].env.PATH`;
    const from = server.cwd === undefined ? "the gateway's working directory" : `servers[${i}].cwd`;
    problems.push(
      server.command.includes("/")
        ? `servers[${i}].command: ${server.command} is not an executable file ` +
            `(${resolve(cwd, server.command)}${isAbsolute(server.command) ? "" : `, relative to ${from}`})`
        : `servers[${i}].command: ${server.command} is not found on ${where}`,
    );
  }
  return problems;
}

export async function executable(path: string): Promise<boolean> {
  try {
    const s = await stat(path);
    if (!s.isFile()) return false;
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
