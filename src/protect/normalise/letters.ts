/**
 * Unicode properties of code points the reading (reading.ts) tests one by one, cached for the BMP:
 * a regex with `\p{…}` tried at every position of a long text costs tens of nanoseconds a
 * character, a table lookup about one.
 */

const LETTER = 1;
const NUMBER = 2;
const LATIN = 4;
/** Script Latin, Cyrillic or Greek: the scripts whose letters imitate each other. */
const LOOKALIKE_SCRIPT = 8;
const KNOWN = 128;

const IS_LETTER = /^\p{L}$/u;
const IS_NUMBER = /^\p{N}$/u;
const IS_LATIN = /^\p{Script=Latin}$/u;
const IS_LOOKALIKE_SCRIPT = /^[\p{Script=Latin}\p{Script=Cyrillic}\p{Script=Greek}]$/u;

const BMP = new Uint8Array(0x10000);
const ASTRAL = new Map<number, number>();

function compute(cp: number): number {
  const ch = String.fromCodePoint(cp);
  return (
    KNOWN |
    (IS_LETTER.test(ch) ? LETTER : 0) |
    (IS_NUMBER.test(ch) ? NUMBER : 0) |
    (IS_LATIN.test(ch) ? LATIN : 0) |
    (IS_LOOKALIKE_SCRIPT.test(ch) ? LOOKALIKE_SCRIPT : 0)
  );
}

function flags(cp: number): number {
  if (cp < 0x80) {
    const lower = (cp | 32) >= 97 && (cp | 32) <= 122;
    return lower ? LETTER | LATIN | LOOKALIKE_SCRIPT : cp >= 48 && cp <= 57 ? NUMBER : 0;
  }
  if (cp <= 0xffff) {
    let f = BMP[cp] as number;
    if (f === 0) BMP[cp] = f = compute(cp);
    return f;
  }
  let f = ASTRAL.get(cp);
  if (f === undefined) {
    f = compute(cp);
    // Bounded: only code points actually seen are cached, and there are about a million.
    ASTRAL.set(cp, f);
  }
  return f;
}

/** `\p{L}`. */
export const isLetter = (cp: number): boolean => (flags(cp) & LETTER) !== 0;
/** `\p{N}`. */
export const isNumber = (cp: number): boolean => (flags(cp) & NUMBER) !== 0;
/** `\p{L}` or `\p{N}`. */
export const isLetterOrNumber = (cp: number): boolean => (flags(cp) & (LETTER | NUMBER)) !== 0;
/** `\p{Script=Latin}`. */
export const isLatin = (cp: number): boolean => (flags(cp) & LATIN) !== 0;
/** `\p{Script=Latin}`, `\p{Script=Cyrillic}` or `\p{Script=Greek}`. */
export const inLookalikeScript = (cp: number): boolean => (flags(cp) & LOOKALIKE_SCRIPT) !== 0;

/** UTF-16 code units of the code point `cp`. */
export const width = (cp: number): number => (cp > 0xffff ? 2 : 1);
