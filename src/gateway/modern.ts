/**
 * MCP 2026-07-28 (the "modern" era, docs/protocol-eras.md): no `initialize` and no session; every
 * request carries its protocol version, client capabilities and client info in `_meta`, and every
 * result says what it is (`resultType`). The names and rules here are the spec's; what the gateway
 * does with them is in transports/modern-http.ts (downstream) and upstreams/era.ts (upstream).
 */
import { ErrorCode, GatewayError, PeerRpcError } from "../errors.js";
import type { JsonObject } from "../jsonrpc.js";
import { isObject } from "../jsonrpc.js";
import { SUPPORTED_VERSIONS } from "./capabilities.js";

export const MODERN_VERSION = "2026-07-28";
export const MODERN_VERSIONS: readonly string[] = [MODERN_VERSION];
/** Every version the gateway serves, newest first: `server/discover`'s `supportedVersions`. */
export const ALL_VERSIONS: readonly string[] = [...MODERN_VERSIONS, ...SUPPORTED_VERSIONS];

export const META = {
  protocolVersion: "io.modelcontextprotocol/protocolVersion",
  clientCapabilities: "io.modelcontextprotocol/clientCapabilities",
  clientInfo: "io.modelcontextprotocol/clientInfo",
  serverInfo: "io.modelcontextprotocol/serverInfo",
  logLevel: "io.modelcontextprotocol/logLevel",
  subscriptionId: "io.modelcontextprotocol/subscriptionId",
} as const;

/** Legacy "resource not found" and "URL elicitation required": not to be sent to modern callers. */
const LEGACY_RESOURCE_NOT_FOUND = -32002;

/** Methods a modern caller may send; the rest of the legacy set (ping, logging/setLevel, subscribe) is gone. */
export const MODERN_METHODS: ReadonlySet<string> = new Set([
  "server/discover",
  "tools/list",
  "tools/call",
  "prompts/list",
  "prompts/get",
  "resources/list",
  "resources/templates/list",
  "resources/read",
  "completion/complete",
  "subscriptions/listen",
  // The tasks extension (io.modelcontextprotocol/tasks): routed to the server that made the task.
  "tasks/get",
  "tasks/update",
  "tasks/cancel",
]);

export const TASKS_EXTENSION = "io.modelcontextprotocol/tasks";

/** Lists and reads carry cache hints (`CacheableResult`). */
export const CACHEABLE: ReadonlySet<string> = new Set([
  "tools/list",
  "prompts/list",
  "resources/list",
  "resources/templates/list",
  "resources/read",
  "server/discover",
]);

/** The per-request metadata of a modern request, read from its `_meta`. */
export interface ModernMeta {
  readonly protocolVersion: string;
  readonly clientCapabilities: JsonObject;
  readonly clientInfo: JsonObject | undefined;
  readonly logLevel: string | undefined;
}

/** The protocol version a request's `_meta` claims, if any: what tells a modern request apart. */
export function claimedVersion(params: JsonObject | undefined): unknown {
  const meta = params?._meta;
  return isObject(meta) ? meta[META.protocolVersion] : undefined;
}

export function modernMeta(params: JsonObject | undefined): ModernMeta {
  const meta = isObject(params?._meta) ? params._meta : {};
  const caps = meta[META.clientCapabilities];
  const info = meta[META.clientInfo];
  const level = meta[META.logLevel];
  return {
    protocolVersion: String(meta[META.protocolVersion]),
    clientCapabilities: isObject(caps) ? caps : {},
    clientInfo: isObject(info) ? info : undefined,
    logLevel: typeof level === "string" ? level : undefined,
  };
}

export function unsupportedVersion(requested: unknown): GatewayError {
  return new GatewayError(
    ErrorCode.UnsupportedProtocolVersion,
    "unsupported_protocol_version",
    "Unsupported protocol version",
    {
      supported: [...ALL_VERSIONS],
      requested: typeof requested === "string" ? requested.slice(0, 40) : null,
    },
    400,
  );
}

/** A completed result as a modern caller gets it: `resultType`, and cache hints where they belong. */
export function completeResult(method: string, result: JsonObject): JsonObject {
  // `input_required`, and the tasks extension's `task`, are the server's to say.
  if (result.resultType !== undefined && result.resultType !== "complete") return result;
  const out: JsonObject = { ...result, resultType: "complete" };
  if (CACHEABLE.has(method)) {
    // Every list and read passes the caller's own policy: never shareable across callers, and
    // stale at once (list_changed on the caller's listen stream says when to fetch again).
    out.ttlMs = 0;
    out.cacheScope = "private";
  }
  return out;
}

/** The error object a modern caller gets: codes the modern era forbids are mapped to theirs. */
export function modernError(error: { code: number; message: string; data?: unknown }): {
  code: number;
  message: string;
  data?: unknown;
} {
  const data = error.data as { reason?: unknown } | undefined;
  // The gateway's own refusals carry a `reason`; an upstream's -32002 is its "resource not found".
  if (error.code === ErrorCode.RateLimited && typeof data?.reason === "string")
    // -32002 is the legacy era's "resource not found", which 2026-07-28 forbids emitting; -32008
    // stays in the implementation-defined range like the gateway's other codes (DESIGN.md).
    return { ...error, code: ErrorCode.RateLimitedModern };
  if (error.code === LEGACY_RESOURCE_NOT_FOUND) return { ...error, code: ErrorCode.InvalidParams };
  return error;
}

/** An upstream's own error, as a modern caller would read it (legacy -32002 → -32602). */
export function modernPeerError(err: unknown): unknown {
  if (err instanceof PeerRpcError && err.code === LEGACY_RESOURCE_NOT_FOUND)
    return new PeerRpcError(ErrorCode.InvalidParams, err.message, err.data);
  return err;
}

/** What a caller's `_meta` says to the gateway about itself: never forwarded upstream as it is. */
const OWN_META: readonly string[] = [
  META.protocolVersion,
  META.clientCapabilities,
  META.clientInfo,
  META.logLevel,
];

/**
 * A caller's params as they may go upstream: without its 2026-07-28 claims (a dual-era server
 * would take a legacy session's call for a modern one, and the gateway speaks for itself
 * upstream), without `requestState`, and, unless `keepInput` (tasks/update's answers), without
 * `inputResponses`: only the gateway may answer with those (a retry's are handed over by its
 * parked call, never forwarded bare).
 */
export function upstreamParams(params: JsonObject | undefined, keepInput = false): JsonObject | undefined {
  if (!params) return params;
  const meta = params._meta;
  const claims = isObject(meta) && OWN_META.some((k) => k in meta);
  // A requestState is never the caller's to hand a server (tasks/update has none either).
  const input = "requestState" in params || (!keepInput && "inputResponses" in params);
  if (!claims && !input) return params;
  const out: JsonObject = { ...params };
  delete out.requestState;
  if (!keepInput) delete out.inputResponses;
  if (claims) {
    const rest: JsonObject = { ...(meta as JsonObject) };
    for (const k of OWN_META) delete rest[k];
    if (Object.keys(rest).length > 0) out._meta = rest;
    else delete out._meta;
  }
  return out;
}
