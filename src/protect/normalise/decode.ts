/**
 * Candidate base64 and hex spans decoded once (never recursively) to readable text, for a
 * detector to read what they hide. Bounded: spans of MIN_ENCODED to MAX_ENCODED characters
 * (images and other blobs are longer and skipped), at most MAX_DECODED spans per text.
 */
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

// Maximal runs only (a blob is one run, skipped by length, never cut into 4 KiB pieces).
const BASE64_RUN = /(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{16,}={0,2}(?![A-Za-z0-9+/_=-])/g;
const HEX_RUN = /^(?:[0-9A-Fa-f]{2})+$/;

/** Readable text: printable ASCII or whitespace, at most 3% other, and some letters or digits. */
export function readable(s: string): boolean {
  if (s.length < 6) return false;
  let bad = 0;
  let word = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0xfffd || c < 0x09 || (c > 0x0d && c < 0x20) || c === 0x7f) bad++;
    else if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)) word++;
  }
  return bad <= s.length * 0.03 && word >= s.length * 0.5;
}

/** The first bytes decode to something readable: a cheap test before decoding a whole span. */
function startsReadable(bytes: Buffer): boolean {
  const n = Math.min(bytes.length, 6);
  for (let i = 0; i < n; i++) {
    const b = bytes[i] as number;
    if (b < 0x09 || (b > 0x0d && b < 0x20) || b >= 0x7f) return false;
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

/** Every candidate span of `text` that decodes (base64 or hex) to readable text. */
export function decodedSpans(text: string): DecodedSpan[] {
  const out: DecodedSpan[] = [];
  let tried = 0;
  BASE64_RUN.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = BASE64_RUN.exec(text)) !== null && tried < MAX_DECODED) {
    const run = m[0];
    if (run.length > MAX_ENCODED) continue;
    const start = m.index;
    const hex = run.length % 2 === 0 && HEX_RUN.test(run);
    if (!hex && !mixed(run)) continue;
    tried++;
    const head = Buffer.from(run.slice(0, 8), hex ? "hex" : "base64");
    if (!startsReadable(head)) continue;
    const decoded = Buffer.from(run, hex ? "hex" : "base64").toString("utf8");
    if (readable(decoded))
      out.push({ start, end: start + run.length, encoding: hex ? "hex" : "base64", text: decoded });
  }
  return out;
}
