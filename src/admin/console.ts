import { readFile, readdir } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join, resolve, sep } from "node:path";
import { issuerEndpoints } from "./issuer-endpoints.js";
import { packageFile } from "../package/root.js";
import type { Config } from "../config/types.js";

/** Where `npm run build` puts the console (vite, console/vite.config.ts). */
export const CONSOLE_DIR = packageFile("dist", "console");
const PREFIX = "/admin/";
/** A sanity bound on what is held in memory; the console is well under 1 MiB. */
const MAX_BYTES = 8 * 1024 * 1024;
/** How long a failed discovery of the issuer's token endpoint stands before it is tried again. */
const RETRY_MS = 60_000;

const TYPES: ReadonlyMap<string, string> = new Map([
  [".html", "text/html; charset=utf-8"],
  [".js", "text/javascript; charset=utf-8"],
  [".css", "text/css; charset=utf-8"],
  [".svg", "image/svg+xml"],
  [".png", "image/png"],
  [".ico", "image/x-icon"],
  [".json", "application/json"],
  [".txt", "text/plain; charset=utf-8"],
  [".woff2", "font/woff2"],
]);

/** What a path under /admin names, before any file is looked at. */
export type ConsoleTarget =
  | { readonly kind: "redirect"; readonly location: string }
  | { readonly kind: "index" }
  /** A hashed build asset (assets/…): served with immutable caching, or 404. */
  | { readonly kind: "asset"; readonly rel: string }
  /** Any other path: a file of the build's top level if there is one, else the app (index.html). */
  | { readonly kind: "page"; readonly rel: string }
  | { readonly kind: "refuse"; readonly status: 400 | 404; readonly why: string };

/**
 * Maps a request path (without its query) to what it names. Refuses, before decoding, encoded
 * slashes, backslashes and NUL (which could name something other than what the prefix check saw),
 * and after decoding any `.` or `..` segment.
 */
export function resolveConsolePath(path: string): ConsoleTarget {
  if (path === "/admin") return { kind: "redirect", location: PREFIX };
  if (!path.startsWith(PREFIX)) return { kind: "refuse", status: 404, why: "not a console path" };
  const raw = path.slice(PREFIX.length);
  if (/%(2f|5c|00)/i.test(raw) || raw.includes("\\") || raw.includes("\0")) {
    return { kind: "refuse", status: 400, why: "bad path" };
  }
  let rel: string;
  try {
    rel = decodeURIComponent(raw);
  } catch {
    return { kind: "refuse", status: 400, why: "bad path" };
  }
  if (rel.includes("\0") || rel.includes("\\")) return { kind: "refuse", status: 400, why: "bad path" };
  if (rel.split("/").some((s) => s === ".." || s === ".")) {
    return { kind: "refuse", status: 400, why: "bad path" };
  }
  if (rel === "" || rel === "index.html") return { kind: "index" };
  if (rel.startsWith("assets/")) return { kind: "asset", rel };
  return { kind: "page", rel };
}

/** The Content-Security-Policy of every console response; `connect` adds origins fetch may reach. */
export function consoleCsp(connect: readonly string[] = []): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    ["connect-src 'self'", ...connect].join(" "),
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/**
 * The origins beside its own that the console fetches: with an external issuer and a console client
 * (`admin.client_id`), the token endpoint's, from the issuer's metadata; without a client the
 * console only takes a pasted token and fetches nothing elsewhere.
 */
export async function consoleConnectOrigins(config: Config): Promise<string[]> {
  const issuer = config.auth.issuer;
  if (issuer === "embedded" || config.admin.clientId === undefined) return [];
  const endpoints = await issuerEndpoints(issuer.url);
  if (!endpoints) throw new Error(`${issuer.url}: metadata cannot be read`);
  if (endpoints.token === null) throw new Error(`${issuer.url} names no token endpoint`);
  return [new URL(endpoints.token).origin];
}

interface ConsoleFile {
  readonly body: Buffer;
  readonly type: string;
}

export interface ConsoleOptions {
  /** The built console; CONSOLE_DIR unless told. */
  readonly root?: string;
  /** Origins for `connect-src` besides 'self', or how to find them (at first use; after a failure, again a minute later). */
  readonly connectOrigins?: readonly string[] | (() => Promise<readonly string[]>);
  /** The origins while `connectOrigins` cannot be found. */
  readonly fallbackOrigins?: readonly string[];
}

export type ConsoleHandler = (req: IncomingMessage, res: ServerResponse, path: string) => Promise<void>;

/**
 * Serves the admin console (console/, built to dist/console/) at /admin/: GET and HEAD only, with
 * a strict CSP and no framing on every answer. The files are read into memory at first use; until
 * the console is built the answer is 503 with what to run.
 */
export function adminConsole(options: ConsoleOptions = {}): ConsoleHandler {
  const root = resolve(options.root ?? CONSOLE_DIR);
  const find = options.connectOrigins;
  const fallback = consoleCsp(options.fallbackOrigins);
  let csp = typeof find === "function" ? undefined : consoleCsp(find);
  let finding: Promise<readonly string[]> | undefined;
  let retryAt = 0;
  const policy = async (): Promise<string> => {
    if (csp !== undefined) return csp;
    if (typeof find !== "function" || Date.now() < retryAt) return fallback;
    try {
      finding ??= find();
      csp = consoleCsp(await finding);
      return csp;
    } catch {
      retryAt = Date.now() + RETRY_MS;
      return fallback;
    } finally {
      finding = undefined;
    }
  };
  // Only a complete read is kept: a console built after start is found by the next request.
  let loading: Promise<Map<string, ConsoleFile>> | undefined;

  return async function serveConsole(req, res, path) {
    const security = {
      "content-security-policy": await policy(),
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "x-frame-options": "DENY",
    };
    const text = (status: number, body: string, extra: Record<string, string> = {}) => {
      res
        .writeHead(status, {
          ...security,
          "content-type": "text/plain; charset=utf-8",
          "cache-control": "no-store",
          ...extra,
        })
        .end(body);
    };

    const target = resolveConsolePath(path);
    if (target.kind === "refuse") return text(target.status, `${target.why}\n`);
    if (req.method !== "GET" && req.method !== "HEAD") {
      return text(405, "method not allowed\n", { allow: "GET, HEAD" });
    }
    if (target.kind === "redirect") {
      return text(301, `moved to ${target.location}\n`, { location: target.location });
    }
    loading ??= loadFiles(root).catch((err: unknown) => {
      loading = undefined;
      throw err;
    });
    let files: Map<string, ConsoleFile>;
    try {
      files = await loading;
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
      return text(
        503,
        missing
          ? "The admin console is not built: run `npm run build` (it writes dist/console/).\n"
          : "The admin console could not be read.\n",
      );
    }
    let rel = "index.html";
    let cache = "no-store";
    if (target.kind === "asset") {
      rel = target.rel;
      cache = "public, max-age=31536000, immutable";
    } else if (target.kind === "page" && files.has(target.rel) && !target.rel.includes("/")) {
      rel = target.rel;
      cache = "no-cache";
    }
    // The map holds only files found under root; the prefix check keeps that true whatever a
    // future change to resolveConsolePath lets through.
    if (!resolve(root, rel).startsWith(root + sep)) return text(400, "bad path\n");
    const file = files.get(rel);
    if (!file) {
      return rel === "index.html"
        ? text(503, "The admin console build has no index.html: run `npm run build`.\n")
        : text(404, "not found\n");
    }
    res.writeHead(200, {
      ...security,
      "content-type": file.type,
      "content-length": String(file.body.length),
      "cache-control": cache,
    });
    res.end(req.method === "HEAD" ? undefined : file.body);
  };
}

/** Every regular file under `root`, by its path relative to it with `/` separators. */
async function loadFiles(root: string): Promise<Map<string, ConsoleFile>> {
  const files = new Map<string, ConsoleFile>();
  let total = 0;
  const walk = async (dir: string, prefix: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const rel = prefix + entry.name;
      if (entry.isDirectory()) await walk(join(dir, entry.name), `${rel}/`);
      else if (entry.isFile()) {
        const body = await readFile(join(dir, entry.name));
        total += body.length;
        if (total > MAX_BYTES) throw new Error(`the console build exceeds ${MAX_BYTES} bytes`);
        files.set(rel, {
          body,
          type: TYPES.get(extname(entry.name).toLowerCase()) ?? "application/octet-stream",
        });
      }
    }
  };
  await walk(root, "");
  return files;
}

const byConfig = new WeakMap<Config, ConsoleHandler>();

/** The console of the gateway running `config`: one handler (and one in-memory copy) per config. */
export function serveAdminConsole(
  config: Config,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<void> {
  let handler = byConfig.get(config);
  if (!handler) {
    const issuer = config.auth.issuer;
    handler = adminConsole({
      connectOrigins: () => consoleConnectOrigins(config),
      // Most issuers serve their token endpoint on their own origin.
      fallbackOrigins:
        issuer === "embedded" || config.admin.clientId === undefined ? [] : [new URL(issuer.url).origin],
    });
    byConfig.set(config, handler);
  }
  return handler(req, res, path);
}
