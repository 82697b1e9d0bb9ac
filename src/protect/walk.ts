import type { Json, JsonObject } from "../jsonrpc.js";
import { isObject } from "../jsonrpc.js";

/**
 * Where a text sits in a result: what the LLM will read, and where it came from. Prose areas
 * (`content`, `contents`, `messages`, `description`) are read as text; `completion` values and
 * `structured` text (structured content, `_meta`, annotations, URIs, names, unknown fields) are
 * machine-read; `key` is an object key.
 */
export interface TextPlace {
  readonly area: string;
}

export type TextFn = (text: string, place: TextPlace) => string;

/**
 * Texts of adjacent text items, redacted together: a secret split across two items is found in
 * their concatenation. Returns the parts with what crossed a boundary replaced.
 */
export type JoinedFn = (parts: readonly string[]) => string[];

export class ResultTooLarge extends Error {}

const MAX_DEPTH = 64;

/** Areas whose text is prose a model reads as such (annotate mode wraps only these). */
export const PROSE_AREAS: ReadonlySet<string> = new Set(["content", "contents", "messages", "description"]);

/** Keys too short to hold any secret or PII the redactor knows (the shortest finding is 6). */
const MIN_KEY = 6;
/** Integers with fewer digits are no card, phone or ID: left as numbers without a look. */
const MIN_NUMBER = 1e7;

/** One place per area, made once: a walk asks for one per text. */
const places = new Map<string, TextPlace>();
function placeOf(area: string): TextPlace {
  let place = places.get(area);
  if (place === undefined) {
    place = Object.freeze({ area });
    places.set(area, place);
  }
  return place;
}

/**
 * The one walker of what servers send: every string value and every object key at any depth,
 * and every integer long enough to be a card or phone number (a finding there replaces the number
 * with the redacted string). `fn` gives each its replacement. Object keys that change are kept
 * distinct. Bounded: more than `maxChars` of text, or structure deeper than 64, throws
 * ResultTooLarge.
 */
class Walker {
  private budget: number;
  /** Keys seen unchanged in this walk: arrays of records repeat them. */
  private readonly cleanKeys = new Set<string>();

  constructor(
    private readonly maxChars: number,
    private readonly fn: TextFn,
    private readonly what: string,
  ) {
    this.budget = maxChars;
  }

  text(value: string, area: string): string {
    this.budget -= value.length;
    if (this.budget < 0) throw new ResultTooLarge(`${this.what} text exceeds ${this.maxChars} characters`);
    return this.fn(value, placeOf(area));
  }

  key(k: string): string {
    if (k.length < MIN_KEY || this.cleanKeys.has(k)) return k;
    const out = this.text(k, "key");
    if (out === k) this.cleanKeys.add(k);
    return out;
  }

  number(v: number): Json {
    if (!Number.isInteger(v) || Math.abs(v) < MIN_NUMBER) return v;
    const s = String(v);
    const out = this.fn(s, placeOf("structured"));
    return out === s ? v : out;
  }

  /** Every key and value of `v` in `area`; `each` may take over a member (return undefined to decline). */
  value(v: Json, area: string, depth: number, each?: (k: string, x: Json) => Json | undefined): Json {
    if (depth > MAX_DEPTH) throw new ResultTooLarge(`${this.what} nested too deeply`);
    if (typeof v === "string") return this.text(v, area);
    if (typeof v === "number") return this.number(v);
    if (Array.isArray(v)) return v.map((x) => this.value(x, area, depth + 1));
    if (isObject(v)) {
      const out: JsonObject = {};
      for (const [k, x] of Object.entries(v)) {
        const taken = each?.(k, x);
        put(out, this.key(k), taken !== undefined ? taken : this.value(x, area, depth + 1));
      }
      return out;
    }
    return v;
  }
}

/** Sets a member, never the prototype (`__proto__`), and keeps a key that redaction made collide. */
function put(out: JsonObject, key: string, value: Json): void {
  let k = key;
  for (let n = 2; Object.hasOwn(out, k); n++) k = `${key}#${n}`;
  if (k === "__proto__")
    Object.defineProperty(out, k, { value, enumerable: true, writable: true, configurable: true });
  else out[k] = value;
}

/**
 * Visits every text of a result that reaches the client (whatever the method), replacing each
 * with what `fn` returns: content items of every type (known or not) with all their fields,
 * structured content, `_meta`, annotations, descriptions, messages, completion values, and every
 * object key. Binary payloads (`blob`, an image's or audio's `data`) are not decoded; their MIME
 * types are collected instead. With `joined`, adjacent text items are also redacted together.
 */
export function mapResultTexts(
  method: string,
  result: JsonObject,
  maxChars: number,
  fn: TextFn,
  joined?: JoinedFn,
): { binary: string[] } {
  const { out, binary } = resultTexts(method, result, maxChars, fn, joined);
  for (const k of Object.keys(result)) delete result[k];
  // Member by member: Object.assign would set a `__proto__` member as the result's prototype.
  for (const k of Object.keys(out)) put(result, k, out[k] as Json);
  return { binary };
}

/** mapResultTexts, the result left as it is: what it would become is returned. */
export function resultTexts(
  _method: string,
  result: JsonObject,
  maxChars: number,
  fn: TextFn,
  joined?: JoinedFn,
): { out: JsonObject; binary: string[] } {
  const w = new Walker(maxChars, fn, "result");
  const binary: string[] = [];
  const item = (c: Json, area: string, depth: number): Json => {
    if (!isObject(c)) return w.value(c, "structured", depth);
    const media = c.type === "image" || c.type === "audio";
    return w.value(c, "structured", depth, (k, x) => {
      if ((k === "text" || k === "description") && typeof x === "string") return w.text(x, area);
      if (k === "resource" && isObject(x)) return item(x, area, depth + 1);
      if (typeof x === "string" && (k === "blob" || (k === "data" && media))) {
        binary.push(String(c.mimeType ?? c.type));
        return x;
      }
      return undefined;
    });
  };
  const items = (v: Json, area: string): Json => {
    if (!Array.isArray(v)) return item(v, area, 1);
    const out = v.map((c) => item(c, area, 2));
    return joined ? joinAdjacent(out, joined) : out;
  };
  const out = w.value(result, "structured", 0, (k, x) => {
    switch (k) {
      case "content":
        return items(x, "content");
      case "contents":
        return items(x, "contents");
      case "messages":
        if (!Array.isArray(x)) return undefined;
        return x.map((m) =>
          isObject(m)
            ? w.value(m, "structured", 2, (mk, mx) => (mk === "content" ? items(mx, "messages") : undefined))
            : w.value(m, "structured", 2),
        );
      case "description":
        return typeof x === "string" ? w.text(x, "description") : undefined;
      case "completion":
        if (!isObject(x)) return undefined;
        return w.value(x, "structured", 1, (ck, cx) =>
          ck === "values" && Array.isArray(cx) ? cx.map((v) => w.value(v, "completion", 3)) : undefined,
        );
      default:
        return undefined;
    }
  }) as JsonObject;
  return { out, binary };
}

/** Runs of adjacent text items redacted together (JoinedFn); other items as they are. */
function joinAdjacent(items: Json[], joined: JoinedFn): Json[] {
  const out = [...items];
  let i = 0;
  while (i < out.length) {
    let j = i;
    while (j < out.length && isTextItem(out[j] as Json)) j++;
    if (j - i >= 2) {
      const run = out.slice(i, j) as JsonObject[];
      const parts = joined(run.map((c) => c.text as string));
      run.forEach((c, k) => {
        if (parts[k] !== c.text) out[i + k] = { ...c, text: parts[k] as string };
      });
    }
    i = Math.max(j, i + 1);
  }
  return out;
}

function isTextItem(c: Json): c is JsonObject {
  return isObject(c) && c.type === "text" && typeof c.text === "string";
}

/**
 * Every string, object key and long integer of a value sent by a server outside a result
 * (notification params, serverInfo, error data), at any depth; bounded like results.
 */
export function mapServerValue(value: Json, maxChars: number, fn: (text: string) => string): Json {
  return new Walker(maxChars, (t) => fn(t), "message").value(value, "structured", 0);
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
      return fn(v, placeOf(area));
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
