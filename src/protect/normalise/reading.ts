/**
 * The reading of a text for phrase and keyword detectors (the injection detector): what a model
 * reads in it once an author's disguises are undone. Escapes decoded once (escapes.ts: HTML
 * references, JSON `\u`, percent-escapes of letters), NFKC (full-width and
 * mathematical letters), lower case, look-alike letters in Latin words read as Latin (Cyrillic and
 * Greek), accents and Arabic harakat dropped, leetspeak read as letters, spaced letters joined and
 * hyphens inside words dropped (words.ts).
 *
 * Every step stays within a line, so the reading is made line by line, and only lines that could
 * change are looked at: a line of plain ASCII without an escape, a leet sign next to a letter, a
 * hyphen inside a word or spaced letters reads as its lower case, and is left as written (the
 * detectors match case-insensitively). Text without any such line is its own reading, at the cost
 * of one scan. Lines keep their places: a reading offset is the offset in the fully folded text,
 * which is the original offset up to the first line folding made longer or shorter.
 */
import { escapeAt } from "./escapes.js";
import { fold } from "./fold.js";
import { inLookalikeScript, isLatin } from "./letters.js";
import {
  innerHyphens,
  leetWords,
  MAYBE_LEET,
  MAYBE_SPACED,
  mayHaveSpacedLetters,
  spacedLetters,
} from "./words.js";

export interface Reading {
  /**
   * The text as a detector should read it, to be matched case-insensitively: each line whose
   * reading differs from its lower case is its reading (in lower case), every other line is as
   * written. The same string as the input when no line differs.
   */
  readonly text: string;
  /** `[start, end)` in `text` of each line whose reading differs from its lower case, in order. */
  readonly changed: ReadonlyArray<readonly [number, number]>;
}

/**
 * What can make a line read other than as its lower case: a character outside ASCII, an escape,
 * a letter next to a leet sign, a hyphen between letters, three letters spaced apart alike.
 */
const CANDIDATE =
  /[\u0080-\uffff]|[&%\\]|[A-Za-z][0-9@$!]|[0-9@$!][A-Za-z]|[A-Za-z]-[A-Za-z]|(?<![A-Za-z0-9])[A-Za-z]([ ._*-])[A-Za-z]\1[A-Za-z](?![A-Za-z0-9])/g;
const MAYBE_SPACED_ALL = new RegExp(MAYBE_SPACED.source, "g");

interface Line {
  readonly start: number;
  readonly end: number;
  /** The line folded up to the word steps (words.ts). */
  readonly folded: string;
  /** Whether `folded` is the line's lower case (ASCII, no escape). */
  readonly lower: boolean;
}

export function readingOf(text: string): Reading {
  const lines: Line[] = [];
  // Leet is read in every line or in none, as one gate over the whole text says; so are spaced
  // letters (the gate's value is needed only for a line that has some).
  let leet = false;
  CANDIDATE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = CANDIDATE.exec(text)) !== null) {
    const start = text.lastIndexOf("\n", m.index) + 1;
    const nl = text.indexOf("\n", m.index);
    const end = nl < 0 ? text.length : nl;
    const written = text.slice(start, end);
    const folded = foldLine(written);
    leet ||= MAYBE_LEET.test(folded);
    lines.push({
      start,
      end,
      folded,
      lower: folded.length === written.length && !NON_ASCII.test(written) && !ESCAPE_START.test(written),
    });
    if (nl < 0) break;
    CANDIDATE.lastIndex = nl + 1;
  }
  if (lines.length === 0) return { text, changed: [] };
  let spaced: boolean | undefined;

  const parts: string[] = [];
  const changed: Array<[number, number]> = [];
  let copied = 0;
  let length = 0;
  for (const line of lines) {
    let f = line.folded;
    if (leet) f = leetWords(f);
    if (mayHaveSpacedLetters(f) && (spaced ??= spacedAnywhere(text, lines))) f = spacedLetters(f);
    f = innerHyphens(f);
    const written = text.slice(line.start, line.end);
    const lower = line.lower ? line.folded : written.toLowerCase();
    // As written where the reading is only its lower case, and as long: offsets stay the reading's.
    if (f === lower && f.length === written.length) continue;
    const at = length + (line.start - copied);
    if (f !== lower) changed.push([at, at + f.length]);
    parts.push(text.slice(copied, line.start), f);
    length = at + f.length;
    copied = line.end;
  }
  if (parts.length === 0) return { text, changed: [] };
  parts.push(text.slice(copied));
  return { text: parts.join(""), changed };
}

/** JavaScript's `\s`, by code unit. */
export function isSpace(c: number): boolean {
  return c <= 0x20
    ? c === 0x20 || (c >= 0x09 && c <= 0x0d)
    : c === 0xa0 ||
        c === 0x1680 ||
        (c >= 0x2000 && c <= 0x200a) ||
        c === 0x2028 ||
        c === 0x2029 ||
        c === 0x202f ||
        c === 0x205f ||
        c === 0x3000 ||
        c === 0xfeff;
}

/**
 * Windows around `spans` (sorted, disjoint) of `text` that reach `words` whitespace-separated words
 * further on either side, merged where they meet: a pattern that matches at most that many words
 * and touches a span matches inside its window, however much white space or however long a word
 * an author put in it. Undefined when they would cover more than `most` characters.
 */
export function around(
  text: string,
  spans: ReadonlyArray<readonly [number, number]>,
  words: number,
  most = text.length,
): Array<[number, number]> | undefined {
  const out: Array<[number, number]> = [];
  let covered = 0;
  let floor = 0;
  let k = 0;
  while (k < spans.length) {
    let s = (spans[k] as readonly [number, number])[0];
    for (let n = 0; n < words && s > floor; n++) {
      while (s > floor && isSpace(text.charCodeAt(s - 1))) s--;
      while (s > floor && !isSpace(text.charCodeAt(s - 1))) s--;
    }
    // Each span reaches `words` words past its end; one met on the way starts the count again.
    let e = (spans[k] as readonly [number, number])[1];
    for (let n = 0; n < words && e < text.length; n++) {
      while (e < text.length && isSpace(text.charCodeAt(e))) e++;
      while (e < text.length && !isSpace(text.charCodeAt(e))) e++;
      while (k + 1 < spans.length && (spans[k + 1] as readonly [number, number])[0] <= e) {
        e = Math.max(e, (spans[++k] as readonly [number, number])[1]);
        n = -1;
      }
    }
    k++;
    const last = out[out.length - 1];
    if (last !== undefined && s <= last[1]) last[1] = e;
    else out.push([s, e]);
    covered += e - Math.max(s, floor);
    if (covered > most) return undefined;
    floor = e;
  }
  return out;
}

/**
 * Whether the text, as folded, has four characters spaced apart alike (MAYBE_SPACED): in a folded
 * line before its word steps (they keep which characters are spaces), or in a line left as written.
 */
function spacedAnywhere(text: string, lines: readonly Line[]): boolean {
  if (lines.some((l) => MAYBE_SPACED.test(l.folded))) return true;
  MAYBE_SPACED_ALL.lastIndex = 0;
  let k = 0;
  let m: RegExpExecArray | null;
  while ((m = MAYBE_SPACED_ALL.exec(text)) !== null) {
    while (k < lines.length && (lines[k] as Line).end < m.index) k++;
    const line = lines[k];
    if (line === undefined || m.index < line.start) return true;
    MAYBE_SPACED_ALL.lastIndex = line.end;
  }
  return false;
}

/**
 * Cyrillic and Greek letters a reader takes for Latin ones where TR39's prototype (fold.ts) is no
 * Latin letter, or another one: в reads as b, н as h, η as n.
 */
const READ_AS: Readonly<Record<string, string>> = {
  __proto__: null,
  в: "b",
  ё: "e",
  к: "k",
  м: "m",
  н: "h",
  т: "t",
  ї: "i",
  ӏ: "l",
  β: "b",
  ε: "e",
  η: "n",
  κ: "k",
  τ: "t",
  χ: "x",
  ω: "w",
  ς: "c",
  μ: "u",
} as unknown as Record<string, string>;

/** The Latin letter a look-alike reads as (lower case), or undefined. */
function latinLetter(ch: string): string | undefined {
  const read = READ_AS[ch];
  if (read !== undefined) return read;
  const f = fold(ch.codePointAt(0) as number);
  return f !== undefined && f.length === 1 && /[A-Za-z]/.test(f) ? f.toLowerCase() : undefined;
}

/** Look-alikes read as Latin, only in a word that also has Latin letters: Russian or Greek prose stays. */
function foldConfusables(t: string): string {
  let out = "";
  let copied = 0;
  let i = 0;
  while (i < t.length) {
    const cp = t.codePointAt(i) as number;
    if (!inLookalikeScript(cp)) {
      i += cp > 0xffff ? 2 : 1;
      continue;
    }
    const start = i;
    let latin = false;
    let other = false;
    let count = 0;
    for (let c = cp; i < t.length && inLookalikeScript((c = t.codePointAt(i) as number)); count++) {
      if (isLatin(c)) latin = true;
      if (c > 0x7f) other = true;
      i += c > 0xffff ? 2 : 1;
    }
    if (!latin || !other || count < 2) continue;
    let word = "";
    for (const ch of t.slice(start, i)) word += ch.charCodeAt(0) < 0x80 ? ch : (latinLetter(ch) ?? ch);
    out += t.slice(copied, start) + word;
    copied = i;
  }
  return copied === 0 ? t : out + t.slice(copied);
}

const ESCAPE_START = /[&%\\]/;

/** Escapes (escapes.ts) decoded, once: what one stands for is not read again. */
function decodeEscapes(text: string): string {
  if (!ESCAPE_START.test(text)) return text;
  let out = "";
  let copied = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 38 && c !== 37 && c !== 92) continue;
    const esc = escapeAt(text, i);
    if (esc === undefined) continue;
    out += text.slice(copied, i) + esc.out;
    i += esc.len - 1;
    copied = i + 1;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/** Latin letters NFD does not split into a base and a mark. */
const STROKED = /[đłøħ]/g;
const UNSTROKED: Readonly<Record<string, string>> = {
  __proto__: null,
  đ: "d",
  ł: "l",
  ø: "o",
  ħ: "h",
} as unknown as Record<string, string>;
/** Marks on Latin letters (accents) and Arabic harakat, tatweel and hamza marks; other scripts' marks are letters' vowels. */
const MARKS = /(?<=\p{Script=Latin})\p{Mn}+|[\u064b-\u065f\u0670\u0640]/gu;
const NON_ASCII = /[\u0080-\uffff]/;
/**
 * Characters outside those with nothing to fold once NFKC and lower case are done, and no mark to
 * drop: ASCII, CJK punctuation, kana, CJK ideographs and Hangul syllables (most non-ASCII text
 * there is), without the marks among them (U+302A–302F, U+3099–309A), which a Latin letter may
 * carry. The marks are matched alone, on purpose.
 */
const UNSETTLED =
  // eslint-disable-next-line no-misleading-character-class
  /[\u0080-\u2fff\u302a-\u302f\u3099-\u309a\u3100-\u33ff\u4dc0-\u4dff\ua000-\uabff\ud7a4-\uffff]/;

/** One line, escapes decoded, NFKC, lower case, look-alikes folded, marks dropped. */
function foldLine(line: string): string {
  const t = decodeEscapes(line);
  if (!NON_ASCII.test(t)) return t.toLowerCase();
  const lower = t.normalize("NFKC").toLowerCase();
  if (!UNSETTLED.test(lower)) return lower;
  return dropMarks(foldConfusables(lower.replace(STROKED, (c) => UNSTROKED[c] ?? c)));
}

/** NFD then drop marks: "ïgnörë" and "bỏ qua" read as their base letters, "أرسل" as "ارسل". */
function dropMarks(t: string): string {
  return NON_ASCII.test(t) ? t.normalize("NFD").replace(MARKS, "").normalize("NFC") : t;
}

/** A pattern's source as the reading spells it (rules are written with their accents). */
export function foldSource(source: string): string {
  return dropMarks(source.replace(STROKED, (c) => UNSTROKED[c] ?? c));
}

/** ROT13 of ASCII letters. */
export function rot13(text: string): string {
  return text.replace(/[a-z]/gi, (c) => {
    const b = c <= "Z" ? 65 : 97;
    return String.fromCharCode(((c.charCodeAt(0) - b + 13) % 26) + b);
  });
}

/**
 * Words an attack in ROT13 cannot do without, turned: "ignore", "disregard", "previous",
 * "instruction", "system", "prompt", "password", "secret", "token", "credential", "assistant",
 * "reveal", "send". A text with none is not read in ROT13.
 */
export const ROT13_WORDS =
  /vtaber|qvfertneq|sbetrg|cerivbhf|vafgehpgvba|flfgrz|cebzcg|cnffjbeq|frperg|gbxra|perqragvny|nffvfgnag|erirny|fraq\b/i;

export function rot13Worth(reading: string): boolean {
  return ROT13_WORDS.test(reading);
}
