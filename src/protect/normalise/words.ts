/**
 * Words an author disguised, read back (the last steps of the reading, reading.ts): leetspeak
 * signs inside words read as letters ("p4ssw0rd", "1gn0re"), letters spaced or dotted apart
 * joined ("i g n o r e", "p.a.s.s"), hyphens inside words dropped ("ig-nore"). Each step is one
 * linear pass over a line already folded to lower case; each does exactly what the regex in its
 * comment does with `replace`, which a loop over the characters does many times faster.
 */
import { isLetter, isLetterOrNumber, isNumber } from "./letters.js";

/** Leetspeak read as letters. Digits without a letter's shape (2, 6, 9) stay digits. */
export const LEET: Readonly<Record<string, string>> = {
  __proto__: null,
  "0": "o",
  "1": "i",
  "3": "e",
  "4": "a",
  "5": "s",
  "7": "t",
  "8": "b",
  "@": "a",
  $: "s",
  "!": "i",
} as unknown as Record<string, string>;

/** A letter next to a leet sign: without one, no word holds both and `leetWords` changes nothing. */
export const MAYBE_LEET = /[a-z][0-9@$!]|[0-9@$!][a-z]/;
/** Four characters spaced apart by one repeated separator: what makes `spacedLetters` worth it. */
export const MAYBE_SPACED = /[^\s.\-*·_]([ ._\-*·])[^\s.\-*·_]\1[^\s.\-*·_]\1/;

const isSign = (c: number): boolean => (c >= 48 && c <= 57) || c === 64 || c === 36 || c === 33;
const SIGN = 1;
const LETTER = 2;
/** What an ASCII code unit is to a leet word: a sign, a letter or neither. */
const ASCII_KIND = new Uint8Array(128);
for (let c = 0; c < 128; c++) ASCII_KIND[c] = isSign(c) ? SIGN : isLetter(c) ? LETTER : 0;
const kindOf = (c: number): number => (c < 128 ? (ASCII_KIND[c] as number) : isLetter(c) ? LETTER : 0);
/** A sign that is neither a letter nor a number: a word may start right after it. */
const isSymbolSign = (c: number): boolean => c === 64 || c === 36 || c === 33;
/** A hash, an id, a colour: digits there are digits. */
const HEX_LIKE = /^[0-9a-f]+$/;
const SURROGATE = /[\ud800-\udfff]/;
/** The signs: where a leet word's run is found from. */
const SIGN_AT = /[0-9@$!]/g;

/** Per code unit of the run being read: a letter or a sign from here to the run's end. */
let letterFrom = new Uint8Array(256);
let signFrom = new Uint8Array(256);

/**
 * Leet words read as letters, as
 * `s.replace(/(?<![\p{L}\p{N}])(?=[\p{L}0-9@$!]*\p{L})(?=[\p{L}0-9@$!]*[0-9@$!])[\p{L}0-9@$!]{3,24}(?![\p{L}\p{N}])/gu, …)`
 * replacing the signs of each match that is not HEX_LIKE. Only a run of word characters with a
 * letter and a sign in it can hold a match, so the rest of the line costs one test a character.
 */
export function leetWords(s: string): string {
  // Code units are code points without surrogates; with them, the same steps over code points.
  if (SURROGATE.test(s)) return leetWordsByCodePoint(s);
  const parts: string[] = [];
  let copied = 0;
  const n = s.length;
  // Only a run that holds a sign can be a leet word: from one sign to the next by native search,
  // each read back to its run's start; the rest of the line is not looked at.
  SIGN_AT.lastIndex = 0;
  for (let m = SIGN_AT.exec(s); m !== null; m = SIGN_AT.exec(s)) {
    let kinds = 0;
    let start = m.index;
    for (let k: number; start > 0 && (k = kindOf(s.charCodeAt(start - 1))) !== 0; start--) kinds |= k;
    let i = m.index;
    for (let k: number; i < n && (k = kindOf(s.charCodeAt(i))) !== 0; i++) kinds |= k;
    SIGN_AT.lastIndex = i;
    if (kinds === (SIGN | LETTER)) copied = readRun(s, start, i, parts, copied);
  }
  if (copied === 0) return s;
  parts.push(s.slice(copied));
  return parts.join("");
}

/** The leet words of the run `[start, end)` of letters and signs read, pushed to `parts`; where the copy is then. */
function readRun(s: string, start: number, end: number, parts: string[], from: number): number {
  let copied = from;
  const len = end - start;
  if (letterFrom.length < len) {
    letterFrom = new Uint8Array(len * 2);
    signFrom = new Uint8Array(len * 2);
  }
  let l = 0;
  let g = 0;
  for (let k = len - 1; k >= 0; k--) {
    if (isSign(s.charCodeAt(start + k))) g = 1;
    else l = 1;
    letterFrom[k] = l;
    signFrom[k] = g;
  }
  const startsAfter = start === 0 || !isLetterOrNumber(s.charCodeAt(start - 1));
  const numberAfter = end < s.length && isNumber(s.charCodeAt(end));
  let j = 0;
  while (j <= len - 3) {
    const open = j === 0 ? startsAfter : isSymbolSign(s.charCodeAt(start + j - 1));
    if (open && letterFrom[j] === 1 && signFrom[j] === 1) {
      let k = Math.min(len - j, 24);
      // The longest match that ends before neither a letter nor a number.
      for (; k >= 3; k--) {
        if (j + k === len ? !numberAfter : isSymbolSign(s.charCodeAt(start + j + k))) break;
      }
      if (k >= 3) {
        const word = s.slice(start + j, start + j + k);
        if (!HEX_LIKE.test(word)) {
          parts.push(s.slice(copied, start + j), readLeet(word));
          copied = start + j + k;
        }
        j += k;
        continue;
      }
    }
    j++;
  }
  return copied;
}

/** leetWords over code points: a line with characters outside the BMP or lone surrogates (rare). */
function leetWordsByCodePoint(s: string): string {
  const chars = [...s];
  // Each code point as one code unit that reads alike (no sign is one of them, so words start and
  // end where they did): a BMP letter for a letter, a number for a number, a space for the rest.
  const stand = chars.map((ch) => {
    const u = ch.codePointAt(0) as number;
    if (u < 0xd800 || (u > 0xdfff && u <= 0xffff)) return ch;
    return isLetter(u) ? "\u4e00" : isNumber(u) ? "\u0660" : " ";
  });
  const bmp = stand.join("");
  const read = leetWords(bmp);
  if (read === bmp) return s;
  // Reading leetspeak keeps a word's length and only turns ASCII signs into ASCII letters.
  let out = "";
  for (let k = 0; k < chars.length; k++) out += stand[k] === chars[k] ? read.charAt(k) : chars[k];
  return out;
}

/** Whether `s[i]` is the low half of a surrogate pair. */
function isLow(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  const h = s.charCodeAt(i - 1);
  return c >= 0xdc00 && c <= 0xdfff && h >= 0xd800 && h <= 0xdbff;
}

function readLeet(word: string): string {
  let out = "";
  for (const c of word) out += LEET[c] ?? c;
  return out;
}

/** Three or more single letters each followed by one separator: "i g n o r e", "i.g.n.o.r.e", "i-g-n". */
const SPACED = /(?<![\p{L}\p{N}])\p{L}([ ._\-*·])(?:\p{L}\1){1,}\p{L}(?![\p{L}\p{N}])/gu;
/**
 * What every match of SPACED holds, without `\p` (cheap on a line that has none): three single
 * characters apart, not inside a word of ASCII letters and digits.
 */
const SPACED_QUICK = /(?<![A-Za-z0-9])[^\s.\-*·_]([ ._\-*·])[^\s.\-*·_]\1[^\s.\-*·_](?![A-Za-z0-9])/;

/** Whether `s` may have letters spaced apart (a line without any is left alone by spacedLetters). */
export function mayHaveSpacedLetters(s: string): boolean {
  return SPACED_QUICK.test(s);
}

/** Letters spaced apart joined: the separators inside each match of SPACED removed. */
export function spacedLetters(s: string): string {
  return s.replace(SPACED, (w) => w.replace(/[ ._\-*·]/g, ""));
}

/**
 * Hyphens and soft hyphens inside words dropped ("ig-nore", "in\u00adstructions"), as
 * `s.replace(/(?<=\p{L})[-\u00ad](?=\p{L})/gu, "")`.
 */
export function innerHyphens(s: string): string {
  // From one hyphen to the next by native search: most of a line has none.
  let hyphen = s.indexOf("-");
  let soft = s.indexOf("\u00ad");
  const parts: string[] = [];
  let copied = 0;
  while (hyphen >= 0 || soft >= 0) {
    const i = soft < 0 || (hyphen >= 0 && hyphen < soft) ? hyphen : soft;
    if (i === hyphen) hyphen = s.indexOf("-", i + 1);
    else soft = s.indexOf("\u00ad", i + 1);
    if (i === 0 || i + 1 >= s.length) continue;
    const prev = s.codePointAt(i - 1 - (isLow(s, i - 1) ? 1 : 0)) as number;
    if (!isLetter(prev) || !isLetter(s.codePointAt(i + 1) as number)) continue;
    parts.push(s.slice(copied, i));
    copied = i + 1;
  }
  if (copied === 0) return s;
  parts.push(s.slice(copied));
  return parts.join("");
}
