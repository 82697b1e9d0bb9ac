import { matches } from "./types.js";

/**
 * Encoded runs (base64, hex, percent-encoding) that decode to readable text. The caller rescans
 * the decoded text once for phrases and tags; an encoded run is a signal only when what it hides
 * is. Bounded: at most MAX_CANDIDATES runs, each decoded up to MAX_ENCODED_CHARS.
 */
export const MAX_CANDIDATES = 32;
export const MAX_ENCODED_CHARS = 16384;

const BASE64 = /(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{24,}={0,2}/g;
const HEX = /(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}){16,}(?![0-9A-Fa-f])/g;
const PERCENT = /(?:%[0-9A-Fa-f]{2}){8,}/g;

export interface Decoded {
  readonly encoding: "base64" | "hex" | "percent";
  readonly offset: number;
  readonly text: string;
}

/** Readable: almost no control characters or replacement characters, and some letters. */
function readable(s: string): boolean {
  if (s.length < 8) return false;
  let bad = 0;
  let letters = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) || c === 0xfffd || c === 0x7f) bad++;
    else if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c > 0x2e80) letters++;
  }
  return bad <= s.length * 0.05 && letters >= s.length * 0.4;
}

function decode(encoding: Decoded["encoding"], run: string): string | undefined {
  const cut = run.slice(0, MAX_ENCODED_CHARS);
  try {
    if (encoding === "percent") return decodeURIComponent(cut.slice(0, cut.length - (cut.length % 3)));
    if (encoding === "hex") return Buffer.from(cut.slice(0, cut.length & ~1), "hex").toString("utf8");
    // A lone run of letters (an identifier, a path) is not base64 worth decoding.
    // Two linear tests, not /[a-z].*[A-Z]|[A-Z].*[a-z]/, which backtracks quadratically on a long
    // run of one case (a 256-character echo message cost 1.5% of the gateway's CPU).
    if (!/[0-9+/=_-]/.test(cut) && !(/[a-z]/.test(cut) && /[A-Z]/.test(cut))) return undefined;
    return Buffer.from(cut, cut.includes("-") || cut.includes("_") ? "base64url" : "base64").toString("utf8");
  } catch {
    return undefined;
  }
}

/** The shortest run of its alphabet each of BASE64 and HEX can match. */
const BASE64_MIN = 24;
const HEX_MIN = 32;

/**
 * Whether `text` holds a run of BASE64's alphabet, and of hex digits, as long as either pattern
 * needs: without one the pattern cannot match and is not run. Their lookbehinds make them slow on
 * prose (a tenth of the detector's time on a short answer), where this loop costs little. Exported
 * for its test.
 */
export function longRuns(text: string): { base64: boolean; hex: boolean } {
  let base64 = 0;
  let hex = 0;
  let longBase64 = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const digit = c >= 0x30 && c <= 0x39;
    const lower = c >= 0x61 && c <= 0x7a;
    const upper = c >= 0x41 && c <= 0x5a;
    if (digit || lower || upper || c === 0x2b || c === 0x2f || c === 0x5f || c === 0x2d) {
      if (++base64 >= BASE64_MIN) longBase64 = true;
    } else base64 = 0;
    if (digit || (lower && c <= 0x66) || (upper && c <= 0x46)) {
      // Hex digits are in BASE64's alphabet too: nothing more to learn.
      if (++hex >= HEX_MIN) return { base64: true, hex: true };
    } else hex = 0;
  }
  return { base64: longBase64, hex: false };
}

export function decodedRuns(text: string): Decoded[] {
  const out: Decoded[] = [];
  const long = longRuns(text);
  const table: ReadonlyArray<readonly [Decoded["encoding"], RegExp]> = [
    ["base64", BASE64],
    ["hex", HEX],
    ["percent", PERCENT],
  ];
  for (const [encoding, re] of table) {
    if ((encoding === "base64" && !long.base64) || (encoding === "hex" && !long.hex)) continue;
    for (const m of matches(re, text, MAX_CANDIDATES)) {
      if (out.length >= MAX_CANDIDATES) return out;
      const s = decode(encoding, m[0]);
      if (s !== undefined && readable(s)) out.push({ encoding, offset: m.index, text: s });
    }
  }
  return out;
}
