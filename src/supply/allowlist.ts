/**
 * The server allowlist (`supply_chain.allow`): every configured server must match an entry, or
 * the config is refused. Entries:
 * - `npm:<package glob>[@<version glob>]`: a stdio server run from an npm package: a `package:` pin,
 *   `npx <pkg>` /
 *   `npm exec <pkg>` (the package spec in the arguments), or a command that resolves into
 *   `node_modules/<pkg>/` (a package's bin), whose package.json gives the version;
 * - `command:<absolute path glob>`: a stdio server's command, resolved through PATH and symlinks;
 * - `url:<glob>`: a remote server's URL.
 * Remote servers must use https, loopback addresses excepted, whether or not there is a list.
 */
import { accessSync, constants, readFileSync, realpathSync } from "node:fs";
import { basename, delimiter, isAbsolute, join, resolve, sep } from "node:path";
import type { Config, ServerConfig, StdioServerConfig } from "../config/types.js";
import { globMatch } from "../policy/glob.js";

export interface PackageRef {
  readonly name: string;
  /** Undefined when unknown (an unpinned `npx pkg`). */
  readonly version: string | undefined;
}

/** The npm package a stdio server runs, when one can be told from its command and arguments. */
export function packageOf(s: StdioServerConfig): PackageRef | undefined {
  if (s.package) return { name: s.package.name, version: s.package.version };
  const cmd = basename(s.command);
  if (cmd === "npx" || (cmd === "npm" && (s.args[0] === "exec" || s.args[0] === "x"))) {
    const args = cmd === "npm" ? s.args.slice(1) : s.args;
    const spec = args.find((a) => !a.startsWith("-"));
    return spec === undefined ? undefined : parseSpec(spec);
  }
  const path = resolveCommand(s.command, s.cwd);
  if (path === undefined) return undefined;
  const parts = path.split(sep);
  const at = parts.lastIndexOf("node_modules");
  if (at < 0 || at + 1 >= parts.length) return undefined;
  const scoped = (parts[at + 1] as string).startsWith("@");
  const name = scoped ? `${parts[at + 1]}/${parts[at + 2]}` : (parts[at + 1] as string);
  const root = parts.slice(0, at + (scoped ? 3 : 2)).join(sep);
  try {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version?: unknown };
    return { name, version: typeof pkg.version === "string" ? pkg.version : undefined };
  } catch {
    return { name, version: undefined };
  }
}

function parseSpec(spec: string): PackageRef {
  const at = spec.indexOf("@", 1);
  return at < 0
    ? { name: spec, version: undefined }
    : { name: spec.slice(0, at), version: spec.slice(at + 1) };
}

/**
 * The absolute, symlink-free path a command runs, through PATH like a shell; undefined if none.
 * `path` is the PATH the server is launched with (its own `env.PATH`, else the gateway's).
 */
export function resolveCommand(
  command: string,
  cwd: string | undefined,
  path = process.env.PATH ?? "",
): string | undefined {
  const candidates = isAbsolute(command)
    ? [command]
    : command.includes("/")
      ? [join(cwd ?? process.cwd(), command)]
      : path.split(delimiter).map((d) => join(d, command));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return realpathSync(c);
    } catch {
      // not here
    }
  }
  return undefined;
}

function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** The command a stdio server runs, resolved with the PATH it is launched with. */
function commandOf(s: StdioServerConfig): string | undefined {
  return resolveCommand(s.command, s.cwd, s.env.PATH);
}

/**
 * A `url:` pattern against a URL, parsed: the pattern's origin (scheme, host, port) against the
 * URL's origin, where `*` stands for part of one host label (`https://*.example.com`), never for
 * a dot, a colon or userinfo; then the rest of the pattern, if any, against the path. So
 * `https://mcp.example.com*` admits neither `https://mcp.example.com.evil.net/` nor
 * `https://mcp.example.com@evil.net/` (whose host is evil.net).
 */
export function urlMatches(pattern: string, url: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  const scheme = pattern.indexOf("://");
  if (scheme < 0) return false;
  const slash = pattern.indexOf("/", scheme + 3);
  const originPattern = slash < 0 ? pattern : pattern.slice(0, slash);
  const pathPattern = slash < 0 ? undefined : pattern.slice(slash);
  const host = new RegExp(
    `^${originPattern
      .split("*")
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
      .join("[^./:@]*")}$`,
  );
  if (!host.test(u.origin)) return false;
  return pathPattern === undefined || globMatch(pathPattern, `${u.pathname}${u.search}`);
}

function matchesEntry(entry: string, s: ServerConfig): boolean {
  const colon = entry.indexOf(":");
  const kind = entry.slice(0, colon);
  const pattern = entry.slice(colon + 1);
  if (s.kind !== "stdio") return kind === "url" && urlMatches(pattern, s.url);
  if (kind === "command") {
    // The path that runs (symlinks followed), or the path written with `..` resolved away, never
    // the command as written: `/usr/bin/../../tmp/x` is /tmp/x.
    const path = commandOf(s);
    if (path === undefined) return false;
    const written = s.command.includes("/") ? resolve(s.cwd ?? process.cwd(), s.command) : undefined;
    return globMatch(pattern, path) || (written !== undefined && globMatch(pattern, written));
  }
  if (kind !== "npm") return false;
  const pkg = packageOf(s);
  if (pkg === undefined) return false;
  const vAt = pattern.indexOf("@", 1);
  const namePattern = vAt < 0 ? pattern : pattern.slice(0, vAt);
  const versionPattern = vAt < 0 ? undefined : pattern.slice(vAt + 1);
  if (!globMatch(namePattern, pkg.name)) return false;
  // A pinned entry admits only that version; an unpinned `npx pkg` (any version) never matches it.
  return (
    versionPattern === undefined || (pkg.version !== undefined && globMatch(versionPattern, pkg.version))
  );
}

/** `path: message` problems, for `check` and start-up. */
export function allowlistProblems(config: Config): string[] {
  const problems: string[] = [];
  config.servers.forEach((s, i) => {
    if (s.kind !== "stdio") {
      const u = new URL(s.url);
      if (u.protocol !== "https:" && !isLoopback(u.hostname)) {
        problems.push(`servers[${i}].url: must be https (plain http only to a loopback address)`);
      }
    }
    const allow = config.supplyChain.allow;
    if (allow === undefined) return;
    if (!allow.some((entry) => matchesEntry(entry, s))) {
      const what =
        s.kind === "stdio"
          ? (() => {
              const pkg = packageOf(s);
              const path = commandOf(s);
              return pkg
                ? `npm package ${pkg.name}${pkg.version ? `@${pkg.version}` : ""}`
                : `command ${path ?? s.command}`;
            })()
          : `url ${s.url}`;
      problems.push(`servers[${i}]: ${what} matches no supply_chain.allow entry`);
    }
  });
  return problems;
}
