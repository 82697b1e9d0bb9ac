/**
 * The request headers MCP 2026-07-28 mirrors from the body (streamable-http, "Request Metadata"):
 * `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name` and `Mcp-Param-{Name}` for tool parameters
 * marked `x-mcp-header`. Whoever reads the body must reject a request whose headers say something
 * else than its body (400, -32020): a load balancer or policy that trusts the header would
 * otherwise be steered by one thing while the server runs another.
 *
 * Written here because the SDK keeps its own validator internal (`@modelcontextprotocol/server`
 * exports none of it); the rules are short and the spec's.
 */
import type { IncomingHttpHeaders } from "node:http";
import { ErrorCode, GatewayError } from "../errors.js";
import type { Json, JsonObject, Request } from "../jsonrpc.js";
import { isObject } from "../jsonrpc.js";

const SENTINEL = /^=\?base64\?([A-Za-z0-9+/]*={0,2})\?=$/;
/** Visible ASCII, space and tab: what a header value may carry plainly (RFC 9110). */
const PLAIN = /^[\x20-\x7e\t]*$/;
/**
 * Methods whose `Mcp-Name` is required, and which body field it mirrors: SEP-2243's, and the tasks
 * extension's (SEP-2663: `taskId`, so that intermediaries route a task's requests to its instance).
 */
const NAMED: Readonly<Record<string, "name" | "uri" | "taskId">> = {
  "tools/call": "name",
  "prompts/get": "name",
  "resources/read": "uri",
  "tasks/get": "taskId",
  "tasks/update": "taskId",
  "tasks/cancel": "taskId",
};
const PARAM_PREFIX = "mcp-param-";
const DECIMAL = /^-?\d+(\.0+)?$/;
/** Schema depth searched for `x-mcp-header` (the spec allows `properties` chains only). */
const MAX_HEADER_DEPTH = 8;

export function headerMismatch(message: string): GatewayError {
  return new GatewayError(
    ErrorCode.HeaderMismatch,
    "header_mismatch",
    `Header mismatch: ${message}`,
    {},
    400,
  );
}

/** A header value as sent: plain, or the base64 sentinel decoded; undefined when malformed. */
export function decodeHeaderValue(raw: string): string | undefined {
  const m = SENTINEL.exec(raw);
  if (m) {
    const bytes = Buffer.from(m[1] as string, "base64");
    // Round-trip check: Node decodes invalid base64 leniently; the spec's encoding is canonical.
    if (bytes.toString("base64") !== m[1]) return undefined;
    const text = bytes.toString("utf8");
    return Buffer.from(text, "utf8").equals(bytes) ? text : undefined;
  }
  return PLAIN.test(raw) ? raw.trim() : undefined;
}

/** A value for a header: plain when it is safe as it is, else the base64 sentinel. */
export function encodeHeaderValue(value: string): string {
  const plain = PLAIN.test(value) && value.trim() === value && !value.includes("\t") && !SENTINEL.test(value);
  return plain ? value : `=?base64?${Buffer.from(value, "utf8").toString("base64")}?=`;
}

function single(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? (v.length === 1 ? v[0] : undefined) : v;
}

/**
 * The standard headers against the body: the version against `_meta`, `Mcp-Method` against the
 * method, `Mcp-Name` against `params.name` or `params.uri`. Throws -32020 (HTTP 400) on a missing,
 * malformed or different value.
 */
export function checkStandardHeaders(headers: IncomingHttpHeaders, request: Request, version: string): void {
  const sentVersion = single(headers, "mcp-protocol-version");
  if (sentVersion === undefined) throw headerMismatch("MCP-Protocol-Version header is required");
  if (sentVersion.trim() !== version)
    throw headerMismatch("MCP-Protocol-Version header does not match the body's protocol version");
  const method = single(headers, "mcp-method");
  if (method === undefined) throw headerMismatch("Mcp-Method header is required");
  if (method.trim() !== request.method)
    throw headerMismatch("Mcp-Method header does not match the body's method");
  // Own keys only: a method named like an Object.prototype member names no field.
  const field = Object.hasOwn(NAMED, request.method) ? NAMED[request.method] : undefined;
  if (!field) return;
  const raw = single(headers, "mcp-name");
  if (raw === undefined) throw headerMismatch("Mcp-Name header is required");
  const name = decodeHeaderValue(raw);
  if (name === undefined) throw headerMismatch("Mcp-Name header is malformed");
  if (name !== request.params?.[field])
    throw headerMismatch(`Mcp-Name header does not match the body's ${field}`);
}

/** The `x-mcp-header` annotations of a tool's input schema: header name (lower case) → property path. */
export function paramHeaders(inputSchema: unknown): Map<string, readonly string[]> {
  const out = new Map<string, readonly string[]>();
  const walk = (schema: unknown, path: string[]) => {
    if (!isObject(schema) || path.length > MAX_HEADER_DEPTH) return;
    const props = schema.properties;
    if (!isObject(props)) return;
    for (const [key, sub] of Object.entries(props)) {
      if (!isObject(sub)) continue;
      const name = sub["x-mcp-header"];
      if (typeof name === "string" && name.length > 0) out.set(name.toLowerCase(), [...path, key]);
      walk(sub, [...path, key]);
    }
  };
  walk(inputSchema, []);
  return out;
}

function valueAt(args: Json | undefined, path: readonly string[]): Json | undefined {
  let v: Json | undefined = args;
  for (const key of path) {
    if (!isObject(v)) return undefined;
    v = (v as JsonObject)[key];
  }
  return v;
}

/**
 * `Mcp-Param-*` headers against the arguments, for the parameters the tool marks `x-mcp-header`:
 * a value present in the body needs its header, and the header must carry that value (integers
 * compared as numbers). Headers the tool does not declare are not the gateway's to judge.
 */
export function checkParamHeaders(
  headers: IncomingHttpHeaders,
  inputSchema: unknown,
  args: Json | undefined,
): void {
  for (const [name, path] of paramHeaders(inputSchema)) {
    const value = valueAt(args, path);
    const raw = single(headers, PARAM_PREFIX + name);
    if (value === undefined || value === null) {
      if (raw !== undefined) throw headerMismatch(`Mcp-Param-${name} header has no value in the body`);
      continue;
    }
    if (raw === undefined) throw headerMismatch(`Mcp-Param-${name} header is required`);
    const sent = decodeHeaderValue(raw);
    if (sent === undefined) throw headerMismatch(`Mcp-Param-${name} header is malformed`);
    // Integers compare as numbers ("42.0" is 42), written in decimal only: "0x2A" is not 42 to a
    // proxy that reads the header as text.
    const same =
      typeof value === "number" ? DECIMAL.test(sent) && Number(sent) === value : sent === String(value);
    if (!same) throw headerMismatch(`Mcp-Param-${name} header does not match the body`);
  }
}

/**
 * The `Mcp-Param-*` headers a request to a 2026-07-28 server carries for a tool's annotated
 * parameters (`paramHeaders` of its schema): each value present in the arguments, as the spec
 * encodes it. Built from the arguments as the gateway forwards them, never copied from the caller.
 */
export function paramHeaderValues(
  annotated: ReadonlyMap<string, readonly string[]> | undefined,
  args: Json | undefined,
): Record<string, string> | undefined {
  if (!annotated) return undefined;
  let out: Record<string, string> | undefined;
  for (const [name, path] of annotated) {
    const value = valueAt(args, path);
    if (typeof value === "string") (out ??= {})[PARAM_PREFIX + name] = encodeHeaderValue(value);
    else if (typeof value === "boolean" || (typeof value === "number" && Number.isSafeInteger(value)))
      (out ??= {})[PARAM_PREFIX + name] = String(value);
  }
  return out;
}
