/**
 * JSON-RPC 2.0 shapes as they cross the gateway; validated once at the transport edge.
 *
 * Why not the wire types and zod schemas of `@modelcontextprotocol/core` (v2): the gateway relays
 * messages of both protocol eras, and of methods and extensions it does not know, as JSON; it
 * checks the envelope here and the parts it acts on where it acts on them. Parsing every message
 * with the SDK's schemas cost more CPU per call than the rest of the gateway (bench/README.md), and
 * would refuse what a newer peer may legitimately send.
 */
export type Id = string | number;
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface Request {
  jsonrpc: "2.0";
  id: Id;
  method: string;
  params?: JsonObject;
}
export interface Notification {
  jsonrpc: "2.0";
  method: string;
  params?: JsonObject;
}
export interface Response {
  jsonrpc: "2.0";
  id: Id;
  result: JsonObject;
}
export interface ErrorResponse {
  jsonrpc: "2.0";
  id: Id | null;
  error: { code: number; message: string; data?: unknown };
}
export type Message = Request | Notification | Response | ErrorResponse;

export const isRequest = (m: Message): m is Request => "method" in m && "id" in m;
export const isNotification = (m: Message): m is Notification => "method" in m && !("id" in m);
export const isResponse = (m: Message): m is Response | ErrorResponse => !("method" in m);
export const isErrorResponse = (m: Message): m is ErrorResponse => "error" in m;

const MAX_METHOD = 256;

/** Shape check of one decoded message; returns a reason it is not JSON-RPC, or undefined. */
/** A JSON object: not null, not an array. */
export function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function invalidMessage(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "not an object";
  const m = value as Record<string, unknown>;
  if (m.jsonrpc !== "2.0") return 'jsonrpc must be "2.0"';
  const hasId = Object.hasOwn(m, "id");
  if (hasId && !validId(m.id)) return "id must be a string or an integer";
  if (Object.hasOwn(m, "method")) {
    if (typeof m.method !== "string" || m.method.length === 0 || m.method.length > MAX_METHOD) {
      return "method must be a non-empty string";
    }
    if (
      m.params !== undefined &&
      (typeof m.params !== "object" || m.params === null || Array.isArray(m.params))
    ) {
      return "params must be an object";
    }
    return undefined;
  }
  if (!hasId) return "a message needs a method or an id";
  const hasResult = Object.hasOwn(m, "result");
  const hasError = Object.hasOwn(m, "error");
  if (hasResult === hasError) return "a response has exactly one of result and error";
  if (hasError) {
    const e = m.error as Record<string, unknown> | null;
    if (typeof e !== "object" || e === null || !Number.isInteger(e.code) || typeof e.message !== "string") {
      return "error needs an integer code and a message";
    }
  } else if (typeof m.result !== "object" || m.result === null || Array.isArray(m.result)) {
    return "result must be an object";
  }
  return undefined;
}

function validId(id: unknown): boolean {
  return (typeof id === "string" && id.length <= 256) || Number.isSafeInteger(id);
}

/** Depth of nested arrays/objects, stopping early once `limit` is exceeded. */
export function depthExceeds(value: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, d] = stack.pop() as [unknown, number];
    if (typeof v !== "object" || v === null) continue;
    if (d > limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === "object" && child !== null) stack.push([child, d + 1]);
    }
  }
  return false;
}

/**
 * Results already serialised on their way out (the audit stage hashes their JSON), so that the
 * transport writes those very bytes rather than serialising the result a second time. A result
 * must not change once serialised: the client gets what the audit log recorded.
 */
const serialisedResults = new WeakMap<object, string>();

/** `JSON.stringify(result)`, remembered for `messageJson`. */
export function serialiseResult(result: JsonObject): string {
  let text = serialisedResults.get(result);
  if (text === undefined) {
    text = JSON.stringify(result);
    serialisedResults.set(result, text);
  }
  return text;
}

const RESPONSE_KEYS = ["jsonrpc", "id", "result"];

/** `JSON.stringify(message)`, reusing the text of a result serialised before (serialiseResult). */
export function messageJson(message: Message): string {
  const m = message as { jsonrpc?: unknown; id?: unknown; result?: unknown };
  const text =
    typeof m.result === "object" && m.result !== null ? serialisedResults.get(m.result) : undefined;
  if (
    text === undefined ||
    typeof m.jsonrpc !== "string" ||
    !(typeof m.id === "string" || typeof m.id === "number")
  ) {
    return JSON.stringify(message);
  }
  // Only a response of exactly these members, in this order, is written as JSON.stringify would.
  let n = 0;
  for (const key in m) if (key !== RESPONSE_KEYS[n++]) return JSON.stringify(message);
  if (n !== RESPONSE_KEYS.length) return JSON.stringify(message);
  return `{"jsonrpc":${JSON.stringify(m.jsonrpc)},"id":${JSON.stringify(m.id)},"result":${text}}`;
}

export function errorResponse(id: Id | null, code: number, message: string, data?: unknown): ErrorResponse {
  return data === undefined
    ? { jsonrpc: "2.0", id, error: { code, message } }
    : { jsonrpc: "2.0", id, error: { code, message, data } };
}
