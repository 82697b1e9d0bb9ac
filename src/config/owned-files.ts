import { statSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bootstrapFile } from "../admin/bootstrap.js";
import {
  compileOwnedFiles,
  physicalSync,
  type OwnedEntry,
  type OwnedFiles,
} from "../policy/guards/path-owned.js";
import { unheldScopeWarnings } from "../policy/unheld-scopes.js";
import { STATE_KEY_ENV } from "../state/sealed.js";
import type { Config, ServerConfig } from "./types.js";

/**
 * A file (or folder) the gateway owns: its state, keys, audit log, config. Never served to a tool
 * call (src/policy/guards/path-owned.ts) and never inside what a server is given (`check`).
 */
export interface OwnedPath extends OwnedEntry {
  /** Where it is configured: a YAML path, or `-c` for the config file itself. */
  readonly option: string;
}

/** SQLite's companions of a database file (`-wal`, `-shm`, `-journal`, a super-journal). */
const SQLITE_SIBLINGS = /^-(?:wal|shm|journal|mj[0-9A-Fa-f]*)$/;
/** A JSONL sink's rotated files (`.1` … `.N`) and its lock. */
const JSONL_SIBLINGS = /^\.(?:\d+|lock|new)$/;

/** Every path the gateway reads or writes for itself under this config. */
export function ownedPaths(config: Config): OwnedPath[] {
  const stateDir = dirname(config.state.sqlite);
  const owned: OwnedPath[] = [
    { path: config.file, what: "the gateway's config file", option: "-c" },
    {
      path: config.state.sqlite,
      what: "the state database",
      option: "state.sqlite",
      siblings: SQLITE_SIBLINGS,
    },
    { path: config.state.keyFile, what: "the state key", option: "state.key_file" },
    { path: bootstrapFile(config), what: "the admin bootstrap token", option: "state.sqlite" },
    { path: join(stateDir, "packages"), what: "the package cache", option: "state.sqlite", folder: true },
    { path: config.audit.keyFile, what: "the audit key", option: "audit.key_file" },
    { path: config.audit.checkpointFile, what: "the audit checkpoints", option: "audit.checkpoint_file" },
  ];
  config.audit.checkpointCopies.forEach((c, i) => {
    if (c.kind === "file")
      owned.push({ path: c.path, what: "a checkpoint copy", option: `audit.checkpoint_copies[${i}]` });
  });
  if (config.audit.spool !== undefined)
    owned.push({ path: config.audit.spool, what: "the audit spool", option: "audit.spool", folder: true });
  config.audit.sinks.forEach((s, i) => {
    if (s.kind === "jsonl")
      owned.push({
        path: s.path,
        what: "an audit log",
        option: `audit.sinks[${i}].jsonl`,
        siblings: JSONL_SIBLINGS,
      });
  });
  if (config.auth.signingKeyFile !== undefined)
    owned.push({
      path: config.auth.signingKeyFile,
      what: "the signing keys",
      option: "auth.signing_key_file",
    });
  if (config.killSwitch.file !== undefined)
    owned.push({ path: config.killSwitch.file, what: "the kill-switch file", option: "kill_switch.file" });
  return owned;
}

const compiled = new WeakMap<Config, OwnedFiles>();

/**
 * The owned files of a config, compiled once per config object (names resolved, one inode cache)
 * and shared by `check`, the argument guards and the roots filter.
 */
export function ownedFilesOf(config: Config): OwnedFiles {
  let files = compiled.get(config);
  if (!files) {
    files = compileOwnedFiles(ownedPaths(config));
    compiled.set(config, files);
  }
  return files;
}

/** A path a server is given in its config, with its YAML path. */
export interface GivenPath {
  readonly option: string;
  readonly path: string;
}

/** A URI scheme other than `file:` (`https://x`, `npm:y`): not a local path. */
const OTHER_SCHEME = /^(?!file:)[A-Za-z][A-Za-z0-9+.-]+:/i;

/**
 * The paths an argv word names: the word itself, or the value of `--name=value` / `-n=value`. A
 * `file:` URI is its path; `~` and `~/x` are the home directory; another scheme (`https:`, `npm:`)
 * is not a path. A relative word is a path relative to each folder in `bases` (the server's cwd);
 * it contains something only if it really resolves to an ancestor of it, so bare words such as
 * `stdio` or `-y` never match.
 */
export function argumentPaths(word: string, bases: readonly string[]): string[] {
  const values = [word];
  const eq = /^--?[A-Za-z0-9][\w.-]*=(.*)$/s.exec(word);
  if (eq) values.push(eq[1] as string);
  const out: string[] = [];
  for (const v of values) {
    if (v === "" || OTHER_SCHEME.test(v)) continue;
    let p = v;
    if (/^file:/i.test(p)) {
      try {
        p = fileURLToPath(p);
      } catch {
        continue;
      }
    } else if (p === "~" || p.startsWith("~/")) p = homedir() + p.slice(1);
    if (isAbsolute(p)) out.push(resolve(p));
    else for (const b of bases) out.push(resolve(b, p));
  }
  return out;
}

/**
 * What a server is given: a stdio server's args, cwd and sandbox folders, and any server's
 * `allowed_paths`. A stdio server without `cwd` runs in the gateway's working directory, which
 * `check` cannot know: relative args are read against the config file's folder and the current one.
 */
export function givenPaths(server: ServerConfig, configFile: string, i: number): GivenPath[] {
  const at = `servers[${i}]`;
  const out: GivenPath[] = (server.allowedPaths ?? []).map((path, j) => ({
    option: `${at}.allowed_paths[${j}]`,
    path,
  }));
  if (server.kind !== "stdio") return out;
  const bases = server.cwd !== undefined ? [server.cwd] : [...new Set([dirname(configFile), process.cwd()])];
  server.args.forEach((arg, j) => {
    for (const path of argumentPaths(arg, bases)) out.push({ option: `${at}.args[${j}]`, path });
  });
  if (server.cwd !== undefined) out.push({ option: `${at}.cwd`, path: server.cwd });
  if (server.sandbox) {
    // A package's cache entry is mounted read-only by the gateway itself (config/load.ts).
    const own = server.package?.dir;
    server.sandbox.readable.forEach((path, j) => {
      if (path !== own) out.push({ option: `${at}.sandbox.readable[${j}]`, path });
    });
    server.sandbox.writable.forEach((path, j) => out.push({ option: `${at}.sandbox.writable[${j}]`, path }));
  }
  return out;
}

/**
 * The folders a relative path argument of this server may be read against: its working directory
 * (the gateway's when not configured), its `allowed_paths`, and the folders its args name (a
 * filesystem server resolves relative paths against the roots it was started with).
 */
export function relativeBases(server: ServerConfig, configFile: string): string[] {
  const bases = new Set<string>(server.allowedPaths ?? []);
  if (server.kind === "stdio") {
    bases.add(server.cwd ?? process.cwd());
    for (const { path, option } of givenPaths(server, configFile, 0)) {
      if (!option.includes(".args[")) continue;
      try {
        if (statSync(path).isDirectory()) bases.add(path);
      } catch {
        // not a folder here: not a root
      }
    }
  } else bases.add(process.cwd());
  return [...bases];
}

/**
 * `check` (and `start`) problems: a server given a path that is, or is a folder above, or is inside
 * one of the gateway's own files. Compared as written and with symlinks resolved, case-insensitively.
 */
export function ownedPathProblems(config: Config): string[] {
  const files = ownedFilesOf(config);
  const problems: string[] = [];
  config.servers.forEach((server, i) => {
    for (const given of givenPaths(server, config.file, i)) {
      const hits = new Set<OwnedPath>();
      for (const form of new Set([resolve(given.path), physicalSync(given.path)])) {
        const named = files.byName(form) as OwnedPath | undefined;
        if (named) hits.add(named);
        for (const o of files.inside(form)) hits.add(o as OwnedPath);
      }
      if (hits.size > 0) {
        const what = [...hits].map((o) => `${o.what} ${o.path} (${o.option})`).join(", ");
        problems.push(
          `${given.option}: ${given.path} is or contains ${what}: a server must not be given the ` +
            "gateway's own files; move them out of what it is given",
        );
      }
    }
  });
  return problems;
}

/** Folder `dir` holds `file`, at any depth. */
function below(dir: string, file: string): boolean {
  return file.startsWith(dir.endsWith("/") ? dir : `${dir}/`);
}

/**
 * `check` warnings: key files kept beside the data they protect. Not errors (the defaults do it,
 * and a separate file already keeps a copied database or log from carrying its key), but a copy of
 * the folder, or anyone who can write there, gets both.
 */
export function configWarnings(config: Config, env: NodeJS.ProcessEnv = process.env): string[] {
  const warnings: string[] = [];
  const stateDir = dirname(config.state.sqlite);
  const logs = [
    ...(config.audit.sinks.some((s) => s.kind === "sqlite") ? [stateDir] : []),
    ...config.audit.sinks.flatMap((s) => (s.kind === "jsonl" ? [dirname(s.path)] : [])),
  ];
  const beside = logs.find(
    (dir) => dirname(config.audit.keyFile) === dir || below(dir, config.audit.keyFile),
  );
  if (beside !== undefined) {
    warnings.push(
      `audit.key_file: ${config.audit.keyFile} sits beside the audit log it protects (${beside}): ` +
        "whoever can rewrite the log there can read the key and re-sign it; keep the key where the " +
        "log's writers cannot read it (docs/audit.md, Threat model: the audit key)",
    );
  }
  const stateKeyFromEnv = (env[STATE_KEY_ENV] ?? "") !== "";
  if (
    !stateKeyFromEnv &&
    (dirname(config.state.keyFile) === stateDir || below(stateDir, config.state.keyFile))
  ) {
    warnings.push(
      `state.key_file: ${config.state.keyFile} sits beside the state database (${stateDir}): a copy of ` +
        `that folder carries both; keep the key elsewhere or set ${STATE_KEY_ENV} (docs/deployment.md)`,
    );
  }
  warnings.push(...unheldScopeWarnings(config));
  return warnings;
}
