/**
 * PII written in forms the shape detectors (pii.ts) leave alone on purpose, accepted only where
 * the text says what they are: a nine-digit SSN after "SSN" or "social security"; a phone in a
 * country's national format after a word for phone (or in the North American `(415) 555-0132`
 * form, distinctive on its own; its dashed and dotted forms are digit runs, in pii.ts); an e-mail address with its "@" or "." spelled out (`[at]`,
 * `(dot)`). Bounded, linear patterns; each value is validated as pii.ts would.
 */
import { ssnValid } from "./checks.js";
import type { Detector, Finding } from "./types.js";

// The keyword, up to 24 characters that are neither digits nor a line break, then the number.
const SSN_RE =
  /\b(?:ssn|social[ \t]security(?:[ \t]n(?:o|umber))?|soc\.?[ \t]sec\.?)\b[^0-9\n]{0,24}?(\d{3}([ .-]?)\d{2}\2\d{4})(?![0-9])/gi;

function scanSsn(text: string, out: Finding[]): void {
  SSN_RE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = SSN_RE.exec(text)) !== null) {
    const value = m[1] as string;
    if (!ssnValid(value.replace(/[ .-]/g, ""))) continue;
    const start = m.index + m[0].length - value.length;
    out.push({ start, end: start + value.length, type: "us_ssn" });
  }
}

// (NXX) NXX-XXXX: area and exchange codes never start with 0 or 1 (the dashed and dotted forms
// are digit runs, classified in pii.ts). Starts with a literal "(", so the engine skips ahead.
const NANP_PAREN = /\(([2-9]\d{2})\)[ ]?([2-9]\d{2})[.-](\d{4})(?![\w-]|\.\d)/g;

function scanNanp(text: string, out: Finding[]): void {
  NANP_PAREN.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = NANP_PAREN.exec(text)) !== null) {
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
// code in parentheses or not. Found from the digits (a keyword alternation tried at every position
// costs far more); only a number with a phone word just before it counts.
// Groups need a separator between them (optional ones would let a long digit run be split in
// exponentially many ways).
const NATIONAL_RE = /(?<![0-9])(?:\d{9,12}|\d{2,5}\)?(?:[ .\-/]\d{2,8}){1,5})(?![0-9])/g;
const PHONE_WORD_BEFORE =
  /(?:\b(?:phone|ph|tel|t[ée]l|telephone|mobile|mob|cell|cel|fax|call|ring|text|sms|whatsapp|signal|contact|contato|contacto|t[ée]l[ée]phone|portable|telefon|handy|tel[ée]fono|telefone|celular|m[oó]vil|cellulare|telefono|телефон|тел)\b\.?|电话|電話|手机|携帯|전화|फ़ोन|फोन|هاتف)[^0-9\n]{0,32}$/iu;

function scanNational(text: string, out: Finding[]): void {
  NATIONAL_RE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = NATIONAL_RE.exec(text)) !== null) {
    let start = m.index;
    const prev = text.charAt(start - 1);
    if ((prev >= "0" && prev <= "9") || /[A-Za-z_.:/-]/.test(prev)) continue; // inside a longer token
    if (prev === "(") start--;
    else if (m[0].includes(")")) continue; // "0…)" without its "("
    const value = text.slice(start, m.index + m[0].length);
    const digits = value.replace(/\D/g, "").length;
    if (digits < 9 || digits > 12) continue;
    if (!PHONE_WORD_BEFORE.test(text.slice(Math.max(0, start - 56), start))) continue;
    out.push({ start, end: start + value.length, type: "phone" });
  }
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
const LOCAL_CHAR = /[A-Za-z0-9._%+-]/;
const SPELLED_DOT = /[[({<][ \t]?dot|[ \t]dot[ \t]/i;

function scanObfuscatedEmail(text: string, out: Finding[]): void {
  AT_WORD.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = AT_WORD.exec(text)) !== null) {
    let s = m.index;
    while (s > 0 && m.index - s < 64 && LOCAL_CHAR.test(text.charAt(s - 1))) s--;
    while (s < m.index && !/[A-Za-z0-9]/.test(text.charAt(s))) s++;
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
    AT_WORD.lastIndex = end;
  }
}

export const contextPii: Detector = {
  types: ["us_ssn", "phone", "email"],
  scan(text, out) {
    scanSsn(text, out);
    scanNanp(text, out);
    scanNational(text, out);
    scanObfuscatedEmail(text, out);
  },
};
