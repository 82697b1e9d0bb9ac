/**
 * PII written in forms the shape detectors (pii.ts) leave alone on purpose, accepted only where
 * the text says what they are: a nine-digit SSN after "SSN" or "social security"; a phone in a
 * country's national format after a word for phone (or in the North American `(415) 555-0132`
 * form, distinctive on its own; its dashed and dotted forms are digit runs, in pii.ts); an e-mail address with its "@" or "." spelled out (`[at]`,
 * `(dot)`). Bounded, linear patterns; each value is validated as pii.ts would.
 */
import { charClass, ssnValid } from "./checks.js";
import { matcher, type Gate } from "./gate.js";
import type { Detector, Finding } from "./types.js";

// The keyword, up to 24 characters that are neither digits nor a line break, then the number.
const SSN_RE =
  /\b(?:ssn|social[ \t]security(?:[ \t]n(?:o|umber))?|soc\.?[ \t]sec\.?)\b[^0-9\n]{0,24}?(\d{3}([ .-]?)\d{2}\2\d{4})(?![0-9])/gi;

function scanSsn(text: string, out: Finding[], gate: Gate | undefined): void {
  const ssn = matcher(gate, SSN_RE);
  ssn.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = ssn.exec(text)) !== null) {
    const value = m[1] as string;
    if (!ssnValid(value.replace(/[ .-]/g, ""))) continue;
    const start = m.index + m[0].length - value.length;
    out.push({ start, end: start + value.length, type: "us_ssn" });
  }
}

// (NXX) NXX-XXXX: area and exchange codes never start with 0 or 1 (the dashed and dotted forms
// are digit runs, classified in pii.ts). Starts with a literal "(", so the engine skips ahead.
const NANP_PAREN = /\(([2-9]\d{2})\)[ ]?([2-9]\d{2})[.-](\d{4})(?![\w-]|\.\d)/g;

function scanNanp(text: string, out: Finding[], gate: Gate | undefined): void {
  const paren = matcher(gate, NANP_PAREN);
  paren.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = paren.exec(text)) !== null) {
    // N11 codes are services (411, 911), not subscriber numbers.
    if ((m[1] as string).slice(1) === "11" || (m[2] as string).slice(1) === "11") continue;
    let start = m.index;
    const before = text.slice(Math.max(0, start - 3), start);
    if (/\+1 ?$/.test(before)) start -= before.length - before.lastIndexOf("+");
    else if (/[\w+.-]$/.test(before)) continue;
    out.push({ start, end: m.index + m[0].length, type: "phone" });
  }
}

// A national number after a word for phone: 9 to 12 digits in groups, a trunk 0 or not, area
// code in parentheses or not, with at most 32 characters that are neither digits nor a line break
// between the word (or the dot after it) and the number, the word starting at most 56 characters
// before the number. Found from the word (digits are everywhere in tool output, words for phone
// rarely): the number after it is the first digit the gap allows. Groups need a separator between
// them (optional ones would let a long digit run be split in exponentially many ways).
const NATIONAL_AT = /(?:\d{9,12}|\d{2,5}\)?(?:[ .\-/]\d{2,8}){1,5})(?![0-9])/y;
// Latin and Cyrillic words between ASCII word boundaries, as `\b` has them (so a Cyrillic word counts
// only next to ASCII letters or digits). The `u` flag makes the scan three times slower and only
// changes what "ſ" and the Kelvin sign are (letters s and k): it is used only for a text with one,
// where a word may also end right at the number ("ſmſ0612…", whose "ſ" no check below refuses).
const PHONE_WORDS =
  "(?:phone|ph|tel|t[ée]l|telephone|mobile|mob|cell|cel|fax|call|ring|text|sms|whatsapp|signal|contact|contato|contacto|t[ée]l[ée]phone|portable|telefon|handy|tel[ée]fono|telefone|celular|m[oó]vil|cellulare|telefono|телефон|тел)";
const PHONE_WORD = new RegExp(`\\b${PHONE_WORDS}\\b`, "gi");
const PHONE_WORD_U = new RegExp(`\\b${PHONE_WORDS}(?:\\b|(?=[0-9]))`, "giu");
const PHONE_SIGN = /电话|電話|手机|携帯|전화|फ़ोन|फोन|هاتف/g;
const PHONE_GAP = 32;
const PHONE_REACH = 56;

/** Whether `text` has a long s or a Kelvin sign, which fold to letters with the `u` flag only. */
const longS = (text: string) => text.includes("\u017f") || text.includes("\u212a");

/** Exported for its test. */
export function scanNational(text: string, out: Finding[], gate?: Gate): void {
  const done = new Set<number>();
  const words = longS(text) ? PHONE_WORD_U : PHONE_WORD;
  for (const isWord of [true, false]) {
    const re = matcher(gate, isWord ? words : PHONE_SIGN);
    re.lastIndex = 0;
    let w: RegExpExecArray | null;
    while ((w = re.exec(text)) !== null) {
      const word = w.index;
      const after = word + w[0].length;
      let from = after;
      if (isWord && text.charCodeAt(from) === 46) from++; // "tel.", "ph."
      let d = from;
      while (d < text.length && d - from <= PHONE_GAP + 1 && !/[0-9\n]/.test(text.charAt(d))) d++;
      if (done.has(d) || !/[0-9]/.test(text.charAt(d))) continue;
      const found = nationalAt(text, d);
      if (found === undefined) continue;
      const [start, end] = found;
      if (start - from > PHONE_GAP || start < from || word < start - PHONE_REACH) continue;
      // Right before the number, a word must end in an ASCII letter to end as `\b` sees it.
      if (isWord && start === after && !/\w/iu.test(text.charAt(after - 1))) continue;
      out.push({ start, end, type: "phone" });
      done.add(d);
    }
  }
}

/** The national number whose digits start at `d`: its span, or undefined if it is none. */
function nationalAt(text: string, d: number): [number, number] | undefined {
  NATIONAL_AT.lastIndex = d;
  const m = NATIONAL_AT.exec(text);
  if (m === null) return undefined;
  let start = d;
  const prev = text.charAt(start - 1);
  if (/[A-Za-z_.:/-]/.test(prev)) return undefined; // inside a longer token
  if (prev === "(") start--;
  else if (m[0].includes(")")) return undefined; // "0…)" without its "("
  const end = d + m[0].length;
  const digits = text.slice(start, end).replace(/\D/g, "").length;
  return digits < 9 || digits > 12 ? undefined : [start, end];
}

// local [at] domain [dot] tld, in brackets of any kind or spelled " at " ... " dot ". Found from
// each "at" outwards (a scan from every letter would retry the local part at each position).
const AT_WORD = /[ \t]?[[({<][ \t]?at[ \t]?[\])}>][ \t]?|[ \t]at[ \t]/gi;
const DOT = "(?:[ \\t]?[\\[({<][ \\t]?dot[ \\t]?[\\])}>][ \\t]?|[ \\t]dot[ \\t]|\\.)";
const DOMAIN_AFTER_AT = new RegExp(
  `[A-Za-z0-9][A-Za-z0-9-]{0,62}(?:${DOT}[A-Za-z0-9][A-Za-z0-9-]{0,62}){0,4}?${DOT}[A-Za-z]{2,24}(?![A-Za-z0-9])`,
  "iy",
);
/** Top-level domains common enough that "name at host dot tld" is an address, not a sentence. */
const COMMON_TLDS: ReadonlySet<string> = new Set(
  (
    "com org net edu gov mil int io co ai app dev me info biz us uk ca au de fr es it nl be ch at se no dk fi " +
    "pl cz ru ua cn jp kr in br mx ar cl za nz ie pt gr tr il sg hk tw vn id my ph th eu"
  ).split(" "),
);
const localChar = charClass(/[A-Za-z0-9._%+-]/);
const alnum = charClass(/[A-Za-z0-9]/);
const SPELLED_DOT = /[[({<][ \t]?dot|[ \t]dot[ \t]/i;

function scanObfuscatedEmail(text: string, out: Finding[], gate: Gate | undefined): void {
  const at = matcher(gate, AT_WORD);
  at.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = at.exec(text)) !== null) {
    let s = m.index;
    while (s > 0 && m.index - s < 64 && localChar(text.charCodeAt(s - 1))) s--;
    while (s < m.index && !alnum(text.charCodeAt(s))) s++;
    if (s === m.index) continue;
    DOMAIN_AFTER_AT.lastIndex = m.index + m[0].length;
    const d = DOMAIN_AFTER_AT.exec(text);
    if (d === null) continue;
    // Spelled-out " at " is English ("look at example.com"): an address only with a spelled dot.
    const bracketed = /[[({<]/.test(m[0]);
    if (!bracketed && !SPELLED_DOT.test(d[0])) continue;
    // Spelled out entirely ("home dot late"), only a common top-level domain makes it an address.
    if (!bracketed && !COMMON_TLDS.has((/[A-Za-z]+$/.exec(d[0])?.[0] ?? "").toLowerCase())) continue;
    const end = d.index + d[0].length;
    out.push({ start: s, end, type: "email" });
    at.lastIndex = end;
  }
}

export const contextPii: Detector = {
  types: ["us_ssn", "phone", "email"],
  patterns: [SSN_RE, NANP_PAREN, PHONE_WORD, PHONE_WORD_U, PHONE_SIGN, AT_WORD],
  scan(text, out, gate) {
    scanSsn(text, out, gate);
    scanNanp(text, out, gate);
    scanNational(text, out, gate);
    scanObfuscatedEmail(text, out, gate);
  },
};
