/**
 * PII detectors. Digit-shaped values (cards, SSNs, phones, Chinese resident IDs) share one scan
 * for runs of digits, classified by shape and then validated by checksum or range; e-mail
 * addresses are found from their "@" outwards, so a long run of word characters costs linear time.
 */
import { cardValid, cnIdValid, IBAN_LENGTHS, ibanValid, ssnValid } from "./checks.js";
import { matcher, type Gate } from "./gate.js";
import type { Detector, Finding } from "./types.js";

// A run of digits with single space, dash, dot or slash separators (or a line break and its
// indentation: a card wrapped across lines), optionally after "+" and before "X". Each repetition
// ends in exactly one digit, so the pattern stays linear.
const DIGIT_RUN = /(?<![0-9A-Za-z+_.])\+?[0-9](?:\r?[ ./\n-]?[ \t]{0,16}[0-9]){7,22}X?(?![0-9A-Za-z_])/g;
/** Separators between groups: one character, or a line break with its indentation. */
const GROUP_SEP = /[ \t./\r\n-]+/;

type DigitType = "card_number" | "us_ssn" | "phone" | "cn_resident_id";

/** Classifies one candidate (already bounded); separators must be consistent. */
export function classifyDigits(candidate: string): DigitType | undefined {
  const plus = candidate.startsWith("+");
  const body = plus ? candidate.slice(1) : candidate;
  const groups = body.split(GROUP_SEP);
  const wrapped = body.includes("\n");
  const seps = body.replace(/[0-9X]/g, "");
  // On one line: one separator between groups, the same each time.
  if (
    !wrapped &&
    (seps.length !== groups.length - 1 ||
      (seps.length > 0 && seps !== (seps[0] as string).repeat(seps.length)))
  )
    return undefined;
  // Across lines only a card: a column of short numbers is no SSN or phone.
  if (wrapped) {
    const d = groups.join("");
    return !plus && groups.every((g) => g.length >= 4) && cardValid(d) ? "card_number" : undefined;
  }
  const digits = groups.join("");
  const sizes = groups.map((g) => g.length).join(",");
  if (digits.endsWith("X"))
    return !plus && groups.length === 1 && cnIdValid(digits) ? "cn_resident_id" : undefined;
  if (plus) {
    // E.164: a country code never starts with 0; 8 to 15 digits in all.
    return digits.length >= 8 && digits.length <= 15 && digits[0] !== "0" ? "phone" : undefined;
  }
  if (sizes === "3,2,4") return ssnValid(digits) ? "us_ssn" : undefined;
  // North American NXX-NXX-XXXX (dashes or dots): area and exchange never start with 0 or 1, and
  // N11 codes are services.
  if (sizes === "3,3,4" && seps[0] !== " ") return nanpValid(digits) ? "phone" : undefined;
  if (digits.length === 11 && (groups.length === 1 || sizes === "3,4,4") && /^1[3-9]/.test(digits)) {
    return "phone";
  }
  if (digits.length === 18 && groups.length === 1) return cnIdValid(digits) ? "cn_resident_id" : undefined;
  if (digits.length >= 13 && digits.length <= 19 && groups.every((g) => g.length >= 3) && cardValid(digits)) {
    return "card_number";
  }
  return undefined;
}

function nanpValid(d: string): boolean {
  return (
    d[0] !== "0" &&
    d[0] !== "1" &&
    d[3] !== "0" &&
    d[3] !== "1" &&
    d.slice(1, 3) !== "11" &&
    d.slice(4, 6) !== "11"
  );
}

/** Cheap pre-check on group sizes: could the first `n` groups be any shape classifyDigits accepts? */
function plausible(sizes: readonly number[], n: number, plus: boolean): boolean {
  if (plus) return true;
  if (n === 3 && sizes[0] === 3 && (sizes[1] === 2 || sizes[1] === 3) && sizes[2] === 4) return true;
  if (n > 5) return false;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const g = sizes[i] as number;
    if (g < 3 && n > 1) return false;
    total += g;
  }
  return total === 11 || (total >= 13 && total <= 19);
}

/** Group sizes and ends of the current run (at most 23 groups; the first `groups` entries count). */
const SIZES: number[] = [];
const ENDS: number[] = [];

/** Classifies a run without separators, "+" or "X": the shapes classifyDigits accepts for it. */
function classifyBare(digits: string): DigitType | undefined {
  const n = digits.length;
  if (n === 11) {
    const c = digits.charCodeAt(1);
    if (digits.charCodeAt(0) === 49 && c >= 51 && c <= 57) return "phone";
  }
  if (n === 18) return cnIdValid(digits) ? "cn_resident_id" : undefined;
  if (n >= 13 && n <= 19 && cardValid(digits)) return "card_number";
  return undefined;
}

function scanDigits(text: string, out: Finding[]): void {
  DIGIT_RUN.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = DIGIT_RUN.exec(text)) !== null) {
    const run = m[0];
    const plus = run.charCodeAt(0) === 43;
    // Group ends (exclusive, relative to the run) and sizes, without allocating.
    let groups = 0;
    let from = plus ? 1 : 0;
    let x = false;
    let inSep = false;
    for (let i = 1; i < run.length; i++) {
      const c = text.charCodeAt(m.index + i); // the flat text: faster than the match's slice
      // A run of separator characters (a line break and its indentation) is one separator.
      if (c === 32 || c === 45 || c === 46 || c === 47 || c === 10 || c === 13 || c === 9) {
        if (!inSep) {
          ENDS[groups] = i;
          SIZES[groups++] = i - from;
        }
        inSep = true;
      } else if (inSep) {
        from = i;
        inSep = false;
      }
    }
    ENDS[groups] = run.length;
    SIZES[groups++] = run.length - from;
    if (!plus && groups === 1) {
      // The common case: one bare group (ids, timestamps); only 11, 13–19 or 18 digits can match.
      x = run.charCodeAt(run.length - 1) === 88;
      const n = run.length;
      if (!x && n !== 11 && (n < 13 || n > 19)) continue;
    }
    const type =
      !plus && groups === 1 && !x
        ? classifyBare(run)
        : plausible(SIZES, groups, plus)
          ? classifyDigits(run)
          : undefined;
    if (type !== undefined) {
      out.push({ start: m.index, end: m.index + run.length, type });
      continue;
    }
    if (groups === 1) continue;
    const sizes = SIZES;
    const ends = ENDS;
    // Numbers written next to each other ("138 1234 5678 2024"): try the leading groups, longest
    // first; otherwise resume at the next group, which the left boundary admits after a separator.
    let found = false;
    for (let k = Math.min(groups - 1, 5); k >= 1 && !found && !plus; k--) {
      if (!plausible(sizes, k, false)) continue;
      const sub = run.slice(0, ends[k - 1]);
      const t = classifyDigits(sub);
      if (t !== undefined) {
        out.push({ start: m.index, end: m.index + sub.length, type: t });
        DIGIT_RUN.lastIndex = m.index + sub.length;
        found = true;
      }
    }
    if (found) continue;
    // No shape starts with a group of fewer than three digits: skip those groups at once.
    let g = 1;
    while (g < groups - 1 && (sizes[g] as number) < 3) g++;
    DIGIT_RUN.lastIndex = m.index + (ends[g - 1] as number) + 1;
  }
}

export const digitPii: Detector = {
  types: ["card_number", "us_ssn", "phone", "cn_resident_id"],
  scan: scanDigits,
};

/** File extensions that are no top-level domain in use for mail (asset names such as "logo@2x.png"). */
const FILE_EXTENSIONS: ReadonlySet<string> = new Set(
  "png jpg jpeg gif webp svg ico bmp avif css js mjs ts map json html htm pdf txt md woff woff2 ttf".split(
    " ",
  ),
);
const LOCAL_CHAR = /[A-Za-z0-9._%+-]/;
const DOMAIN =
  /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}/;

function scanEmail(text: string, out: Finding[]): void {
  let from = 0;
  let lastEnd = 0;
  for (;;) {
    const at = text.indexOf("@", from);
    if (at === -1) return;
    from = at + 1;
    let s = at;
    while (s > lastEnd && at - s < 64 && LOCAL_CHAR.test(text.charAt(s - 1))) s--;
    while (s < at && /[.]/.test(text.charAt(s))) s++; // a local part never starts with "."
    if (s === at) continue;
    // `scheme://user:password@host`: the password is a url_password (context.ts), the host no address.
    if (text.charAt(s - 1) === ":" && /:\/\/[^\s/@]*$/.test(text.slice(Math.max(0, s - 300), s - 1)))
      continue;
    const d = DOMAIN.exec(text.slice(at + 1, at + 256));
    if (d === null) continue;
    const end = at + 1 + d[0].length;
    if (/[A-Za-z0-9-]/.test(text.charAt(end))) continue; // TLD runs on into something else
    // "hero@2x.webp", "icon@3x.png": an asset name, not an address.
    if (FILE_EXTENSIONS.has(d[0].slice(d[0].lastIndexOf(".") + 1).toLowerCase())) continue;
    out.push({ start: s, end, type: "email" });
    lastEnd = end;
    from = end;
  }
}

export const email: Detector = { types: ["email"], scan: scanEmail };

// Country code, check digits, then 11–30 more letters or digits, optionally in groups.
export const IBAN_RUN = /(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?:[ -]?[A-Z0-9]){11,30}/g;

function scanIban(text: string, out: Finding[], gate?: Gate): void {
  const runs = matcher(gate, IBAN_RUN);
  runs.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = runs.exec(text)) !== null) {
    const run = m[0];
    const len = IBAN_LENGTHS[run.slice(0, 2)];
    if (len === undefined) continue;
    // Keep exactly the country's length; what follows must end there (a space or a non-word).
    let n = 0;
    let i = 0;
    for (; i < run.length && n < len; i++) if (run[i] !== " " && run[i] !== "-") n++;
    if (n < len) continue;
    const next = text.charAt(m.index + i);
    if (/[A-Za-z0-9]/.test(next)) continue;
    const compact = run.slice(0, i).replace(/[ -]/g, "");
    if (ibanValid(compact)) {
      out.push({ start: m.index, end: m.index + i, type: "iban" });
      runs.lastIndex = m.index + i;
    }
  }
}

export const iban: Detector = { types: ["iban"], scan: scanIban };
