import type { Json, JsonObject } from "../jsonrpc.js";
import { isObject } from "../jsonrpc.js";

/** Where a text sits in a result: what the LLM will read, and where it came from. */
export interface TextPlace {
  /** `content`, `structured`, `contents`, `messages`, `completion`, `description`, `error`. */
  readonly area: string;
}

export type TextFn = (text: string, place: TextPlace) => string;

export class ResultTooLarge extends Error {}

const MAX_DEPTH = 64;

/**
 * Visits every text of a result that reaches the client's model, by method, replacing each with
 * what `fn` returns; binary blobs are not decoded, their MIME types are collected instead.
 * Bounded: more than `maxChars` of text, or structure deeper than 64, throws ResultTooLarge.
 */
export function mapResultTexts(
  method: string,
  result: JsonObject,
  maxChars: number,
  fn: TextFn,
): { binary: string[] } {
  let budget = maxChars;
  const binary: string[] = [];
  const text = (value: string, area: string): string => {
    budget -= value.length;
    if (budget < 0) throw new ResultTooLarge(`result text exceeds ${maxChars} characters`);
    return fn(value, { area });
  };
  const item = (c: Json, area: string): Json => {
    if (!isObject(c)) return c;
    const out: JsonObject = { ...c };
    if (typeof c.text === "string") out.text = text(c.text, area);
    if (typeof c.blob === "string" || c.type === "image" || c.type === "audio")
      binary.push(String(c.mimeType ?? c.type));
    if (isObject(c.resource)) out.resource = item(c.resource, area);
    if (c.type === "resource_link" && typeof c.description === "string")
      out.description = text(c.description, area);
    return out;
  };
  const deep = (v: Json, depth: number): Json => {
    if (depth > MAX_DEPTH) throw new ResultTooLarge("result nested too deeply");
    if (typeof v === "string") return text(v, "structured");
    if (Array.isArray(v)) return v.map((x) => deep(x, depth + 1));
    if (isObject(v)) {
      const out: JsonObject = {};
      for (const [k, x] of Object.entries(v)) out[k] = deep(x, depth + 1);
      return out;
    }
    return v;
  };
  const list = (key: string, each: (c: Json) => Json) => {
    const v = result[key];
    if (Array.isArray(v)) result[key] = v.map(each);
  };

  switch (method) {
    case "tools/call":
      list("content", (c) => item(c, "content"));
      if (result.structuredContent !== undefined)
        result.structuredContent = deep(result.structuredContent, 0);
      break;
    case "resources/read":
      list("contents", (c) => item(c, "contents"));
      break;
    case "prompts/get":
      if (typeof result.description === "string")
        result.description = text(result.description, "description");
      list("messages", (m) => (isObject(m) ? { ...m, content: item(m.content ?? null, "messages") } : m));
      break;
    case "completion/complete":
      if (isObject(result.completion) && Array.isArray(result.completion.values)) {
        result.completion = {
          ...result.completion,
          values: result.completion.values.map((v) => (typeof v === "string" ? text(v, "completion") : v)),
        };
      }
      break;
  }
  return { binary };
}

/**
 * Fields of a server→client request that route it and are never shown: left as they are here, as
 * rewriting them would misroute it; the protector checks them instead (Protector.serverRequest).
 */
const ROUTING_KEYS: ReadonlySet<string> = new Set(["mode", "elicitationId"]);
/** Keys whose text a person or model reads as prose; the rest (schemas, enums, values) is structured. */
const PROSE_KEYS: ReadonlySet<string> = new Set(["text", "message", "systemPrompt", "description", "title"]);

/**
 * Every string of a server→client request's params (sampling, elicitation), at any depth, keys of
 * routing aside; `place.area` is `prose` for text read as such, `url` for a URL-mode elicitation's
 * URL, `structured` otherwise. Bounded like results.
 */
export function mapRequestTexts(params: JsonObject, maxChars: number, fn: TextFn): JsonObject {
  let budget = maxChars;
  const walk = (v: Json, key: string, depth: number): Json => {
    if (depth > MAX_DEPTH) throw new ResultTooLarge("request nested too deeply");
    if (typeof v === "string") {
      budget -= v.length;
      if (budget < 0) throw new ResultTooLarge(`request text exceeds ${maxChars} characters`);
      const area = depth === 1 && key === "url" ? "url" : PROSE_KEYS.has(key) ? "prose" : "structured";
      return fn(v, { area });
    }
    if (Array.isArray(v)) return v.map((x) => walk(x, key, depth + 1));
    if (isObject(v)) {
      const out: JsonObject = {};
      for (const [k, x] of Object.entries(v)) {
        // Only the request's own routing fields: a schema property named `mode` is inspected.
        const routing =
          (depth === 0 && ROUTING_KEYS.has(k)) || (depth === 1 && key === "_meta" && k === "progressToken");
        out[k] = routing ? x : walk(x, k, depth + 1);
      }
      return out;
    }
    return v;
  };
  return walk(params, "", 0) as JsonObject;
}

/** Every string in a value (arguments), at any depth, replaced by `fn`; bounded like results. */
export function mapStrings(value: Json, maxChars: number, fn: (text: string) => string): Json {
  let budget = maxChars;
  const walk = (v: Json, depth: number): Json => {
    if (depth > MAX_DEPTH) throw new ResultTooLarge("arguments nested too deeply");
    if (typeof v === "string") {
      budget -= v.length;
      if (budget < 0) throw new ResultTooLarge(`arguments exceed ${maxChars} characters`);
      return fn(v);
    }
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
    if (isObject(v)) {
      const out: JsonObject = {};
      for (const [k, x] of Object.entries(v)) out[k] = walk(x, depth + 1);
      return out;
    }
    return v;
  };
  return walk(value, 0);
}
