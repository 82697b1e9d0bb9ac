/**
 * Encoded runs, and what they decode to: base64 (standard and URL-safe), hex and percent-escapes,
 * found in one pass over the code units and decoded once (never recursively) to readable text,
 * for a detector to read what they hide. Every count is bounded: runs of each kind are taken in
 * text order up to a limit the caller sets, and each is decoded from a bounded prefix.
 *
 * Two readers use it: the redactor (`decodedSpans`: a secret or PII value hidden in a base64 or hex
 * span, which is then replaced whole) and the injection detector (`decodedRuns`: instructions
 * hidden in any of the three). Escapes of single characters (`\u0041`, `&#65;`, `%41`) are the
 * views' and the reading's (view.ts, reading.ts).
 */

export type Encoding = "base64" | "hex" | "percent";

export interface EncodedRun {
  readonly encoding: Encoding;
  /** The run in the text, base64's "=" padding included. */
  readonly start: number;
  readonly end: number;
}

/** Which runs of a kind to take: at least `min` long (characters, escapes for percent), at most `max`, the first `limit`. */
export interface RunLimits {
  readonly min: number;
  readonly max?: number;
  readonly limit: number;
}

/** Base64 (standard and URL-safe), hex and percent-escape characters, by code unit. */
const BASE64_CHAR = 1;
const HEX_CHAR = 2;
const CLASS = new Uint8Array(128);
for (const ch of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-")
  CLASS[ch.charCodeAt(0)] = BASE64_CHAR;
for (const ch of "0123456789ABCDEFabcdef") (CLASS[ch.charCodeAt(0)] as number) |= HEX_CHAR;

/** Runs of percent-escapes: a literal "%" starts each, which the engine finds fast. */
const PERCENT_RUN = /(?:%[0-9A-Fa-f]{2})+/g;

/**
 * The encoded runs of `text`, each kind in text order: maximal runs of base64's alphabet (with up
 * to two "=" after them), maximal runs of hex digits of even length (a run of odd length is no
 * bytes), maximal runs of consecutive `%XX` escapes. Only the kinds asked for; each scan stops
 * once its kind has its `limit`.
 */
export function encodedRuns(
  text: string,
  want: { readonly base64?: RunLimits; readonly hex?: RunLimits; readonly percent?: RunLimits },
): EncodedRun[] {
  const out: EncodedRun[] = [];
  if (want.base64 !== undefined || want.hex !== undefined) alphabetRuns(text, want.base64, want.hex, out);
  if (want.percent !== undefined && text.includes("%")) {
    const { min, max = Infinity, limit } = want.percent;
    let n = 0;
    PERCENT_RUN.lastIndex = 0;
    for (let m = PERCENT_RUN.exec(text); m !== null && n < limit; m = PERCENT_RUN.exec(text)) {
      const escapes = m[0].length / 3;
      if (escapes < min || escapes > max) continue;
      out.push({ encoding: "percent", start: m.index, end: m.index + m[0].length });
      n++;
    }
  }
  return out;
}

const isBase64Unit = (c: number): boolean => c < 128 && ((CLASS[c] as number) & BASE64_CHAR) !== 0;

/**
 * Base64 and hex runs. Hex digits are base64 characters, so every hex run lies in a base64 run;
 * and a run long enough to take (`reach`: the shorter minimum asked for) holds one of every
 * `reach` code units, counted from the text's start and again from the end of each run read. Only
 * those are probed, and a run is read whole from one in it: prose, whose words are shorter, is
 * mostly skipped. The runs, their order and the limits are those of a scan of every code unit
 * (test/unit/injection/encoded-linear.test.ts compares the two).
 */
function alphabetRuns(
  text: string,
  b: RunLimits | undefined,
  h: RunLimits | undefined,
  out: EncodedRun[],
): void {
  const b64Min = b?.min ?? Infinity;
  const b64Max = b?.max ?? Infinity;
  const b64Limit = b?.limit ?? 0;
  const hexMin = h?.min ?? Infinity;
  const hexLimit = h?.limit ?? 0;
  const reach = Math.max(
    1,
    Math.floor(Math.min(b64Limit > 0 ? b64Min : Infinity, hexLimit > 0 ? hexMin : Infinity)),
  );
  if (reach === Infinity) return;
  const count = { b64: 0, hex: 0 };
  let i = reach - 1;
  while (i < text.length && (count.b64 < b64Limit || count.hex < hexLimit)) {
    if (!isBase64Unit(text.charCodeAt(i))) {
      i += reach;
      continue;
    }
    let start = i;
    while (start > 0 && isBase64Unit(text.charCodeAt(start - 1))) start--;
    let end = i + 1;
    while (end < text.length && isBase64Unit(text.charCodeAt(end))) end++;
    // As the scan of every unit emits them: hex runs by where they end, base64 first at a tie.
    const n = end - start;
    const last =
      count.hex < hexLimit && n >= hexMin ? hexRuns(text, start, end, h as RunLimits, count, out) : undefined;
    if (n >= b64Min && n <= b64Max && count.b64 < b64Limit) {
      let stop = end;
      while (stop < end + 2 && text.charCodeAt(stop) === 61) stop++;
      out.push({ encoding: "base64", start, end: stop });
      count.b64++;
    }
    if (last !== undefined) {
      out.push(last);
      count.hex++;
    }
    i = end + reach;
  }
}

/**
 * The hex runs of the base64 run `[start, end)` taken, in order, up to the limit; the one that
 * ends the base64 run is returned instead, for the caller to push after that run.
 */
function hexRuns(
  text: string,
  start: number,
  end: number,
  h: RunLimits,
  count: { hex: number },
  out: EncodedRun[],
): EncodedRun | undefined {
  const max = h.max ?? Infinity;
  let from = -1;
  for (let i = start; i <= end && count.hex < h.limit; i++) {
    const c = i < end ? text.charCodeAt(i) : 0;
    if (c < 128 && ((CLASS[c] as number) & HEX_CHAR) !== 0) {
      if (from < 0) from = i;
      continue;
    }
    if (from < 0) continue;
    const n = i - from;
    if (n % 2 === 0 && n >= h.min && n <= max) {
      const run: EncodedRun = { encoding: "hex", start: from, end: i };
      if (i === end) return run;
      out.push(run);
      count.hex++;
    }
    from = -1;
  }
  return undefined;
}

/** The bytes `run` encodes, as UTF-8 text, from at most its first `max` characters; undefined if none. */
export function decodeRun(text: string, run: EncodedRun, max = Infinity): string | undefined {
  const s = text.slice(run.start, Math.min(run.end, run.start + max));
  try {
    if (run.encoding === "percent") return decodeURIComponent(s.slice(0, s.length - (s.length % 3)));
    if (run.encoding === "hex") return Buffer.from(s.slice(0, s.length & ~1), "hex").toString("utf8");
    return Buffer.from(s, s.includes("-") || s.includes("_") ? "base64url" : "base64").toString("utf8");
  } catch {
    return undefined;
  }
}

/**
 * Readable text: at most a few control or replacement characters (tabs, line and page breaks are text),
 * and enough of it letters. As a value (a secret or PII): at least 6 characters, 3% bad, half
 * ASCII letters or digits. As prose (instructions): at least 8, 5% bad, 40% letters, CJK's too.
 */
export function readable(s: string, as: "value" | "prose" = "value"): boolean {
  const prose = as === "prose";
  if (s.length < (prose ? 8 : 6)) return false;
  let bad = 0;
  let good = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x09 || (c > 0x0d && c < 0x20) || c === 0x7f || c === 0xfffd) bad++;
    else if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122)) good++;
    else if (prose ? c > 0x2e80 : c >= 48 && c <= 57) good++;
  }
  return bad <= s.length * (prose ? 0.05 : 0.03) && good >= s.length * (prose ? 0.4 : 0.5);
}

// --- The redactor's spans: a value hidden in base64 or hex. ---

/** Base64 and hex spans of MIN_ENCODED to MAX_ENCODED characters (images and other blobs are longer), at most MAX_DECODED tried a text. */
export const MIN_ENCODED = 16;
export const MAX_ENCODED = 4096;
export const MAX_DECODED = 256;

export interface DecodedSpan {
  /** The encoded span in the text. */
  readonly start: number;
  readonly end: number;
  readonly encoding: "base64" | "hex";
  readonly text: string;
}

const B64_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) {
  B64_VALUE["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".charCodeAt(i)] = i;
}
B64_VALUE[45] = 62; // base64url "-"
B64_VALUE[95] = 63; // base64url "_"
const printableByte = (b: number) => b === 9 || b === 10 || b === 13 || (b >= 0x20 && b < 0x7f);
const hexDigit = (c: number) => (c <= 57 ? c - 48 : (c | 32) - 87);
const HEX_RUN = /^(?:[0-9A-Fa-f]{2})+$/;

/**
 * Whether the first six bytes a run decodes to are printable ASCII: a cheap test, without
 * allocating, before decoding the whole run (random data fails it at once).
 */
function startsReadable(run: string, hex: boolean): boolean {
  if (hex) {
    for (let i = 0; i < 12; i += 2) {
      if (!printableByte(hexDigit(run.charCodeAt(i)) * 16 + hexDigit(run.charCodeAt(i + 1)))) return false;
    }
    return true;
  }
  for (let i = 0; i < 8; i += 4) {
    const v =
      ((B64_VALUE[run.charCodeAt(i)] as number) << 18) |
      ((B64_VALUE[run.charCodeAt(i + 1)] as number) << 12) |
      ((B64_VALUE[run.charCodeAt(i + 2)] as number) << 6) |
      (B64_VALUE[run.charCodeAt(i + 3)] as number);
    if (!printableByte((v >> 16) & 255) || !printableByte((v >> 8) & 255) || !printableByte(v & 255))
      return false;
  }
  return true;
}

function mixed(run: string): boolean {
  // Paths and identifiers (many "/" or "_", or one case only) are not worth decoding as base64.
  let upper = 0;
  let lower = 0;
  let slash = 0;
  for (let i = 0; i < run.length; i++) {
    const c = run.charCodeAt(i);
    if (c >= 65 && c <= 90) upper++;
    else if (c >= 97 && c <= 122) lower++;
    else if (c === 47 || c === 95) slash++;
  }
  return upper > 0 && lower > 0 && slash * 12 <= run.length;
}

/** Every span of `text` that decodes (base64, or hex when the whole run is hex) to readable text. */
export function decodedSpans(text: string): DecodedSpan[] {
  const out: DecodedSpan[] = [];
  for (const r of encodedRuns(text, { base64: { min: MIN_ENCODED, max: MAX_ENCODED, limit: MAX_DECODED } })) {
    const run = text.slice(r.start, r.end);
    const hex = run.length % 2 === 0 && HEX_RUN.test(run);
    if (!startsReadable(run, hex) || (!hex && !mixed(run))) continue;
    const decoded = Buffer.from(run, hex ? "hex" : "base64").toString("utf8");
    if (readable(decoded))
      out.push({ start: r.start, end: r.end, encoding: hex ? "hex" : "base64", text: decoded });
  }
  return out;
}

// --- The injection detector's runs: instructions hidden in any of the three. ---

/** At most MAX_CANDIDATES runs of each kind looked at, each decoded from its first MAX_ENCODED_CHARS. */
export const MAX_CANDIDATES = 32;
export const MAX_ENCODED_CHARS = 16384;

export interface Decoded {
  readonly encoding: Encoding;
  readonly offset: number;
  readonly text: string;
}

/**
 * Runs that decode to readable prose: base64 of 24 characters or more, hex of 32 digits or more,
 * eight percent-escapes or more; the first MAX_CANDIDATES of each kind looked at, base64's first,
 * and at most MAX_CANDIDATES kept. The caller rescans what they hide once.
 */
export function decodedRuns(text: string): Decoded[] {
  const runs = encodedRuns(text, {
    base64: { min: 24, limit: MAX_CANDIDATES },
    hex: { min: 32, limit: MAX_CANDIDATES },
    percent: { min: 8, limit: MAX_CANDIDATES },
  });
  const out: Decoded[] = [];
  for (const encoding of ["base64", "hex", "percent"] as const) {
    for (const run of runs) {
      if (run.encoding !== encoding) continue;
      if (out.length >= MAX_CANDIDATES) return out;
      if (encoding === "base64" && !worthBase64(text, run)) continue;
      const s = decodeRun(text, run, MAX_ENCODED_CHARS);
      if (s !== undefined && readable(s, "prose")) out.push({ encoding, offset: run.start, text: s });
    }
  }
  return out;
}

/**
 * A lone run of letters (an identifier, a path) is not base64 worth decoding: it needs a digit or
 * a sign, or both cases. Two linear tests, not /[a-z].*[A-Z]|[A-Z].*[a-z]/, which backtracks
 * quadratically on a long run of one case.
 */
function worthBase64(text: string, run: EncodedRun): boolean {
  const s = text.slice(run.start, Math.min(run.end, run.start + MAX_ENCODED_CHARS));
  return /[0-9+/=_-]/.test(s) || (/[a-z]/.test(s) && /[A-Z]/.test(s));
}
