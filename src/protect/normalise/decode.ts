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

/** Base64 (standard and URL-safe) characters, by code unit. */
const B64_CHAR = new Uint8Array(128);
for (const ch of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-")
  B64_CHAR[ch.charCodeAt(0)] = 1;
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

const B64_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) {
  B64_VALUE["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".charCodeAt(i)] = i;
}
B64_VALUE[45] = 62; // base64url "-"
B64_VALUE[95] = 63; // base64url "_"
const printableByte = (b: number) => b === 9 || b === 10 || b === 13 || (b >= 0x20 && b < 0x7f);
const hexDigit = (c: number) => (c <= 57 ? c - 48 : (c | 32) - 87);

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

/** Every candidate span of `text` that decodes (base64 or hex) to readable text. */
export function decodedSpans(text: string): DecodedSpan[] {
  const out: DecodedSpan[] = [];
  let tried = 0;
  // One pass over the code units (a regex tried at every letter costs three times more): each
  // maximal run of base64 characters, whatever its length, is judged once.
  let from = -1;
  for (let i = 0; i <= text.length && tried < MAX_DECODED; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 0;
    if (c < 128 && B64_CHAR[c] === 1) {
      if (from < 0) from = i;
      continue;
    }
    const runStart = from;
    from = -1;
    if (runStart < 0 || i - runStart < MIN_ENCODED || i - runStart > MAX_ENCODED) continue;
    let pad = i;
    while (pad < i + 2 && text.charCodeAt(pad) === 61) pad++;
    const run = text.slice(runStart, pad);
    const start = runStart;
    const hex = run.length % 2 === 0 && HEX_RUN.test(run);
    tried++;
    if (!startsReadable(run, hex) || (!hex && !mixed(run))) continue;
    const decoded = Buffer.from(run, hex ? "hex" : "base64").toString("utf8");
    if (readable(decoded))
      out.push({ start, end: start + run.length, encoding: hex ? "hex" : "base64", text: decoded });
  }
  return out;
}
