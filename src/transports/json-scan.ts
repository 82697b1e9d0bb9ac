/** What a JSON text may hold before the gateway lets `JSON.parse` build it. */
export interface JsonLimits {
  /** Nesting of arrays and objects; a top-level array or object is depth 1. */
  readonly depth: number;
  /** Elements of any one array, or members of any one object. */
  readonly width: number;
  /** Values in the whole text: every scalar, array and object (an object's keys are not values). */
  readonly values: number;
}

/** Which limit a text went past. */
export type JsonExcess = "depth" | "width" | "values";

/** What the scan measured: the same as `measureJson` of the parsed value, for valid JSON. */
export interface JsonShape {
  readonly depth: number;
  readonly width: number;
  readonly values: number;
}

/**
 * What a message from an upstream server may hold (each stdio line is scanned before the SDK parses
 * it): depth up to `max_json_depth`'s ceiling and a million values. Results may be large, so no
 * width limit; the SDK bounds a line to 10 MiB.
 */
export const UPSTREAM_JSON_LIMITS: JsonLimits = Object.freeze({
  depth: 1000,
  width: Infinity,
  values: 1_000_000,
});

const UNLIMITED: JsonLimits = Object.freeze({ depth: Infinity, width: Infinity, values: Infinity });
/** Open containers tracked one by one when nothing limits depth; deeper ones share the last slot. */
const UNBOUNDED_SLOTS = 1024;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const SPACE = 0x20;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;

/**
 * A byte-level pass over JSON text that stops at the first byte past a JsonLimits, before anything
 * is parsed: constant work per byte, memory bounded by the depth limit. `JSON.parse` of two million
 * nested `[` takes the event loop for a second; this refuses it after 65 bytes.
 *
 * Only structure is tracked (strings and their escapes are skipped, containers and commas
 * counted); a text that is not JSON is measured as far as it looks like JSON and left for
 * `JSON.parse` to refuse. Text may arrive in chunks (`write` each one); `reset` starts a new text
 * (one per line on stdio). An element is counted when its container gets its first byte and at
 * each comma, so values = 1 + Σ elements, the same as counting parsed values.
 */
export class JsonScanner {
  private depth = 0;
  private inString = false;
  private escaped = false;
  private started = false;
  /** Per open container (by depth): commas seen, and whether it holds an element yet. */
  private readonly commas: Uint32Array;
  private readonly filled: Uint8Array;
  private readonly slots: number;
  private maxDepth = 0;
  private maxWidth = 0;
  private values = 0;
  private over: JsonExcess | undefined;

  constructor(readonly limits: JsonLimits = UNLIMITED) {
    this.slots = Number.isFinite(limits.depth) ? limits.depth + 2 : UNBOUNDED_SLOTS;
    this.commas = new Uint32Array(this.slots);
    this.filled = new Uint8Array(this.slots);
  }

  /** The limit the text went past so far, if any; once set, further writes change nothing. */
  get excess(): JsonExcess | undefined {
    return this.over;
  }

  get shape(): JsonShape {
    return { depth: this.maxDepth, width: this.maxWidth, values: this.values };
  }

  reset(): void {
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
    this.started = false;
    this.maxDepth = 0;
    this.maxWidth = 0;
    this.values = 0;
    this.over = undefined;
  }

  /** Scans `bytes[from, to)`; returns the limit passed, if any (then stops at that byte). */
  write(bytes: Uint8Array, from = 0, to = bytes.length): JsonExcess | undefined {
    if (this.over) return this.over;
    const { limits, commas, filled } = this;
    const last = this.slots - 1;
    let depth = this.depth;
    let inString = this.inString;
    let escaped = this.escaped;
    const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    try {
      for (let i = from; i < to; i++) {
        if (inString) {
          // Strings are most of a message's bytes: jump to the next quote (memchr), not byte by byte.
          if (escaped) {
            escaped = false;
            continue;
          }
          const end = closingQuote(buf, i, to);
          if (end < 0) {
            escaped = endsInEscape(buf, i, to);
            break;
          }
          inString = false;
          i = end;
          continue;
        }
        const b = buf[i] as number;
        if (b === SPACE || b === LF || b === CR || b === TAB) continue;
        if (b === CLOSE_ARRAY || b === CLOSE_OBJECT) {
          if (depth > 0) depth--;
          continue;
        }
        const slot = depth < last ? depth : last;
        if (b === COMMA) {
          if (depth === 0) continue;
          const elements = ++commas[slot]! + 1;
          if (elements > this.maxWidth) this.maxWidth = elements;
          if (elements > limits.width) return (this.over = "width");
          if (++this.values > limits.values) return (this.over = "values");
          continue;
        }
        // Any other byte starts or continues an element of the innermost open container.
        if (depth === 0 ? !this.started : filled[slot] === 0) {
          if (depth === 0) this.started = true;
          else {
            filled[slot] = 1;
            if (this.maxWidth === 0) this.maxWidth = 1;
            if (limits.width < 1) return (this.over = "width");
          }
          if (++this.values > limits.values) return (this.over = "values");
        }
        if (b === QUOTE) inString = true;
        else if (b === OPEN_ARRAY || b === OPEN_OBJECT) {
          depth++;
          if (depth > this.maxDepth) this.maxDepth = depth;
          if (depth > limits.depth) return (this.over = "depth");
          const s = depth < last ? depth : last;
          commas[s] = 0;
          filled[s] = 0;
        }
      }
      return undefined;
    } finally {
      this.depth = depth;
      this.inString = inString;
      this.escaped = escaped;
    }
  }
}

/**
 * The index of the quote that ends a string whose bytes start at `from` (not escaped there), or -1
 * when it does not end before `to`. A quote preceded by an odd run of backslashes is escaped.
 */
function closingQuote(buf: Buffer, from: number, to: number): number {
  let at = from;
  for (;;) {
    const q = buf.indexOf(QUOTE, at);
    if (q < 0 || q >= to) return -1;
    let run = 0;
    while (q - run - 1 >= from && buf[q - run - 1] === BACKSLASH) run++;
    if (run % 2 === 0) return q;
    at = q + 1;
  }
}

/** Whether `buf[from, to)`, inside a string and not escaped at `from`, ends with a lone backslash. */
function endsInEscape(buf: Buffer, from: number, to: number): boolean {
  let run = 0;
  while (to - run - 1 >= from && buf[to - run - 1] === BACKSLASH) run++;
  return run % 2 === 1;
}

/** Scans one whole text. */
export function scanJson(text: Uint8Array | string, limits: JsonLimits): JsonExcess | undefined {
  const bytes = typeof text === "string" ? Buffer.from(text, "utf8") : text;
  return new JsonScanner(limits).write(bytes);
}

/** The same measures of a parsed value (the reference the scan is tested against). */
export function measureJson(value: unknown): JsonShape {
  let depth = 0;
  let width = 0;
  let values = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, d] = stack.pop() as [unknown, number];
    values++;
    if (typeof v !== "object" || v === null) continue;
    if (d > depth) depth = d;
    const children = Array.isArray(v) ? (v as unknown[]) : Object.values(v);
    if (children.length > width) width = children.length;
    for (const child of children) stack.push([child, d + 1]);
  }
  return { depth, width, values };
}

/** What a refusal says about each limit. */
export const EXCESS_MESSAGES: Readonly<Record<JsonExcess, string>> = Object.freeze({
  depth: "message nested too deeply",
  width: "message has an array or object with too many elements",
  values: "message has too many values",
});
