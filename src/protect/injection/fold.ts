/**
 * Readings of a text an attacker cannot make differ from what a model reads: NFKC (full-width
 * letters), confusable letters folded to Latin (Cyrillic and Greek look-alikes), combining marks
 * and Arabic harakat dropped, leetspeak digits read as letters, letters spaced or hyphenated out
 * ("i g n o r e", "ig-nore") joined, and ROT13. The phrase rules run on each reading that
 * differs from the text. Offsets in a reading are not the text's: cues from it point at the
 * reading's start (the detector reports where, not what to cut).
 *
 * Kept small and local to the detector; the shared normaliser (src/protect/normalise/) is the
 * redaction's, and the two can merge once it lands.
 */

/** Cyrillic and Greek letters that render like Latin ones (TR39 confusables, the common subset). */
const CONFUSABLES: Readonly<Record<string, string>> = {
  а: "a",
  в: "b",
  е: "e",
  ё: "e",
  к: "k",
  м: "m",
  н: "h",
  о: "o",
  р: "p",
  с: "c",
  т: "t",
  у: "y",
  х: "x",
  ѕ: "s",
  і: "i",
  ї: "i",
  ј: "j",
  һ: "h",
  ԁ: "d",
  ԛ: "q",
  ԝ: "w",
  ɡ: "g",
  ӏ: "l",
  ᴠ: "v",
  α: "a",
  β: "b",
  ε: "e",
  η: "n",
  ι: "i",
  κ: "k",
  ν: "v",
  ο: "o",
  ρ: "p",
  τ: "t",
  υ: "u",
  χ: "x",
  γ: "y",
  ω: "w",
  ς: "c",
  µ: "u",
  ı: "i",
  ℓ: "l",
};
const CONFUSABLE_RE = new RegExp(`[${Object.keys(CONFUSABLES).join("")}]`, "g");
/** Only in a word that also has Latin letters: Russian or Greek prose is left as it is. */
const MIXED_WORD = /[\p{Script=Latin}\p{Script=Cyrillic}\p{Script=Greek}]{2,}/gu;
const HAS_LATIN = /\p{Script=Latin}/u;

const LEET: Readonly<Record<string, string>> = {
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
  "|": "l",
};
/** A leet digit or sign between letters, or at a word's edge next to letters ("1gn0re", "ign0r3"). */
const LEET_WORD =
  /(?<![\p{L}\p{N}])(?=[\p{L}0-9@$!]*\p{L})(?=[\p{L}0-9@$!]*[0-9@$!])[\p{L}0-9@$!]{3,24}(?![\p{L}\p{N}])/gu;

/** Three or more single letters each followed by one separator: "i g n o r e", "i.g.n.o.r.e", "i-g-n". */
const SPACED = /(?<![\p{L}\p{N}])\p{L}([ ._\-*·])(?:\p{L}\1){1,}\p{L}(?![\p{L}\p{N}])/gu;
/** A hyphen or soft hyphen inside a word: "ig-nore", "in\u00adstructions". */
const INNER_HYPHEN = /(?<=\p{L})[-\u00ad](?=\p{L})/gu;
/** Marks on Latin letters (accents) and Arabic harakat, tatweel and hamza marks; other scripts' marks are letters' vowels. */
const MARKS = /(?<=\p{Script=Latin})\p{Mn}+|[\u064b-\u065f\u0670\u0640]/gu;

function foldConfusables(text: string): string {
  if (!CONFUSABLE_RE.test(text)) return text;
  return text.replace(MIXED_WORD, (w) =>
    HAS_LATIN.test(w) ? w.replace(CONFUSABLE_RE, (c) => CONFUSABLES[c] ?? c) : w,
  );
}

const ENTITY = /&(?:#(\d{1,7})|#x([0-9a-f]{1,6})|(lt|gt|amp|quot|apos|nbsp));/gi;
const NAMED: Readonly<Record<string, string>> = {
  lt: "<",
  gt: ">",
  amp: "&",
  quot: '"',
  apos: "'",
  nbsp: " ",
};

function decodeEntities(text: string): string {
  if (!text.includes("&")) return text;
  return text.replace(
    ENTITY,
    (all, dec: string | undefined, hex: string | undefined, name: string | undefined) => {
      if (name) return NAMED[name.toLowerCase()] ?? all;
      const cp = dec !== undefined ? Number(dec) : parseInt(hex!, 16);
      return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : all;
    },
  );
}

/** Latin letters NFD does not split into a base and a mark. */
const STROKED = /[đłøħ]/g;
const UNSTROKED: Readonly<Record<string, string>> = { đ: "d", ł: "l", ø: "o", ħ: "h" };

/**
 * HTML entities decoded, NFKC, lower case, look-alikes folded, marks dropped, leetspeak read,
 * spaced letters joined.
 */
export function foldText(text: string): string {
  let t = decodeEntities(text).normalize("NFKC").toLowerCase();
  t = t.replace(STROKED, (c) => UNSTROKED[c] ?? c);
  t = foldConfusables(t);
  t = dropMarks(t);
  // Each step behind a cheap test: most texts need none of them, and the steps' patterns are slow.
  if (MAYBE_LEET.test(t))
    t = t.replace(LEET_WORD, (w) => (HEX_LIKE.test(w) ? w : w.replace(/[0-9@$!]/g, (c) => LEET[c] ?? c)));
  if (MAYBE_SPACED.test(t)) t = t.replace(SPACED, (w) => w.replace(/[ ._\-*·]/g, ""));
  if (t.includes("-") || t.includes("\u00ad")) t = t.replace(INNER_HYPHEN, "");
  return t;
}

/** NFD then drop marks: "ïgnörë" and "bỏ qua" read as their base letters, "أرسل" as "ارسل". */
function dropMarks(t: string): string {
  return /[\u0080-\uffff]/.test(t) ? t.normalize("NFD").replace(MARKS, "").normalize("NFC") : t;
}

/** A pattern's source as the folded reading spells it (rules are written with their accents). */
export function foldSource(source: string): string {
  return dropMarks(source.replace(STROKED, (c) => UNSTROKED[c] ?? c));
}

const MAYBE_LEET = /[a-z][0-9@$!]|[0-9@$!][a-z]/;
const MAYBE_SPACED = /[^\s.\-*·_]([ ._\-*·])[^\s.\-*·_]\1[^\s.\-*·_]\1/;

/** A hash, an id, a colour: digits there are digits. */
const HEX_LIKE = /^[0-9a-f]+$/;

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
const ROT13_WORDS =
  /vtaber|qvfertneq|sbetrg|cerivbhf|vafgehpgvba|flfgrz|cebzcg|cnffjbeq|frperg|gbxra|perqragvny|nffvfgnag|erirny|fraq\b/;

export function rot13Worth(folded: string): boolean {
  return ROT13_WORDS.test(folded);
}
