/**
 * The client's answer to an upstream's `roots/list`, judged before the server sees it. A server such
 * as server-filesystem replaces the folders it serves with the client's roots, so relaying them
 * unchanged would let a client widen what the server may touch past what the gateway allows. A root
 * is kept only if it is a `file:///` URI that, read every way a server might read it, lies inside
 * the server's `allowed_paths` (when it has them) and neither is, sits inside nor contains a file
 * the gateway owns. The others are dropped; the server gets what is left (possibly nothing).
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ownedFilesOf, relativeBases } from "../config/owned-files.js";
import type { Config, ServerConfig } from "../config/types.js";
import type { JsonObject } from "../jsonrpc.js";
import { percentDecodeRounds } from "../policy/guards/decode.js";
import { compilePathGuard, MAX_VALUE_LENGTH, type PathGuard } from "../policy/guards/index.js";
import { compileOwnedPathGuard, type OwnedFiles, type OwnedPathGuard } from "../policy/guards/path-owned.js";
import { resolvePhysical } from "../policy/guards/path-resolve.js";
import { CONTROL_CHARS } from "../policy/guards/types.js";

/** A root left out, by its place in the client's list; `why` never carries the URI itself. */
export interface DroppedRoot {
  readonly index: number;
  readonly why: string;
}

export interface FilteredRoots {
  /** The answer as the server gets it: the client's, with only the kept roots. */
  readonly answer: JsonObject;
  readonly received: number;
  readonly kept: number;
  readonly dropped: readonly DroppedRoot[];
}

/** Roots judged per answer; the rest are dropped (each check costs a few filesystem lookups). */
export const MAX_ROOTS = 256;

/** server-filesystem (like the SDK's schema) takes `file://` literally: an upper-case scheme would be a relative path there. */
const FILE_URI = /^file:\/\/\//;

interface ServerRoots {
  readonly owned: OwnedPathGuard;
  readonly allowed: PathGuard | undefined;
}

export class RootsFilter {
  private readonly servers: ReadonlyMap<string, ServerRoots>;
  private readonly files: OwnedFiles;

  /** `files`: the gateway's owned files, compiled once for the config (ownedFilesOf). */
  constructor(config: Config, files: OwnedFiles = ownedFilesOf(config)) {
    this.files = files;
    this.servers = new Map(
      config.servers.map((s) => [
        s.name,
        {
          owned: compileOwnedPathGuard({ owned: files, bases: relativeBases(s, config.file) }),
          allowed: allowedGuard(s),
        },
      ]),
    );
  }

  /** The client's answer with only the roots `server` may be given. Never throws: on doubt, a root is dropped. */
  async filter(server: string, answer: JsonObject): Promise<FilteredRoots> {
    const list = answer.roots;
    const guards = this.servers.get(server);
    if (!Array.isArray(list) || !guards) {
      const why = guards ? "the answer has no list of roots" : "unknown server";
      return { answer: { ...answer, roots: [] }, received: 0, kept: 0, dropped: [{ index: -1, why }] };
    }
    const verdicts = await Promise.all(
      list.map((root, index) =>
        index >= MAX_ROOTS
          ? Promise.resolve(`more than ${MAX_ROOTS} roots`)
          : this.judge(guards, root).catch(() => "the root could not be resolved"),
      ),
    );
    const kept: unknown[] = [];
    const dropped: DroppedRoot[] = [];
    verdicts.forEach((why, index) => {
      if (why === undefined) kept.push(list[index]);
      else dropped.push({ index, why });
    });
    return {
      answer: { ...answer, roots: kept as JsonObject[] },
      received: list.length,
      kept: kept.length,
      dropped,
    };
  }

  /** Why `root` is dropped, or undefined when the server may have it. */
  private async judge(guards: ServerRoots, root: unknown): Promise<string | undefined> {
    if (typeof root !== "object" || root === null || Array.isArray(root)) return "not a root object";
    const uri = (root as { uri?: unknown }).uri;
    if (typeof uri !== "string") return "the root has no URI";
    if (uri.length > MAX_VALUE_LENGTH) return "the root's URI is too long";
    if (!FILE_URI.test(uri)) return "not a file:/// URI";
    // What a server that parses the URI reads, and what one that strips `file://` reads.
    const stripped = uri.slice("file://".length);
    const rounds = percentDecodeRounds(stripped);
    if (!rounds) return "invalid percent-encoding";
    const readings = new Set<string>();
    try {
      readings.add(fileURLToPath(uri));
    } catch {
      return "invalid file URI";
    }
    for (const r of rounds) readings.add(r).add(r.normalize("NFKC"));
    for (const r of readings) if (CONTROL_CHARS.test(r)) return "control character in the root";

    for (const value of [uri, stripped]) {
      const own = await guards.owned.check(value);
      if (!own.allowed) return own.detail;
      const inside = await guards.allowed?.check(value);
      if (inside && !inside.allowed) return `${inside.detail} (allowed_paths)`;
    }
    return this.containsOwned(readings);
  }

  /** A root above a file the gateway owns gives the server that file: judged as written and resolved. */
  private async containsOwned(readings: ReadonlySet<string>): Promise<string | undefined> {
    const forms = new Set<string>();
    for (const r of readings) {
      if (!r.startsWith("/")) return "not an absolute path";
      forms.add(path.resolve(r));
      forms.add(await resolvePhysical(r));
      forms.add(await resolvePhysical(path.resolve(r)));
    }
    for (const form of forms) {
      const hit = this.files.inside(form)[0];
      if (hit) return `the root contains a file the gateway owns (${hit.what})`;
    }
    return undefined;
  }
}

function allowedGuard(s: ServerConfig): PathGuard | undefined {
  if (!s.allowedPaths) return undefined;
  return compilePathGuard({ roots: s.allowedPaths, ...(s.deniedPaths ? { deny: s.deniedPaths } : {}) });
}
