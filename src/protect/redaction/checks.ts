/** Validators shared by the detectors: checksums, ranges, entropy, placeholders. All pure. */

/** Luhn (mod 10) over a string of ASCII digits. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

interface CardBrand {
  readonly name: string;
  readonly lengths: readonly number[];
  readonly matches: (d: string) => boolean;
}
const between = (d: string, width: number, lo: number, hi: number): boolean => {
  const p = Number(d.slice(0, width));
  return p >= lo && p <= hi;
};
const range = (lo: number, hi: number): number[] => Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);

/** Issuer prefixes and lengths (ISO/IEC 7812 IIN ranges as the networks publish them). */
const CARD_BRANDS: readonly CardBrand[] = [
  { name: "visa", lengths: [13, 16, 19], matches: (d) => d.startsWith("4") },
  { name: "mastercard", lengths: [16], matches: (d) => between(d, 2, 51, 55) || between(d, 4, 2221, 2720) },
  { name: "amex", lengths: [15], matches: (d) => d.startsWith("34") || d.startsWith("37") },
  {
    name: "discover",
    lengths: range(16, 19),
    matches: (d) => d.startsWith("6011") || d.startsWith("65") || between(d, 3, 644, 649),
  },
  { name: "jcb", lengths: range(16, 19), matches: (d) => between(d, 4, 3528, 3589) },
  { name: "unionpay", lengths: range(16, 19), matches: (d) => d.startsWith("62") },
  {
    name: "diners",
    lengths: range(14, 19),
    matches: (d) => between(d, 3, 300, 305) || d.startsWith("3095") || /^3[689]/.test(d),
  },
  { name: "mir", lengths: [16, 17, 18, 19], matches: (d) => between(d, 4, 2200, 2204) },
];

/** A payment card number: 13–19 digits, a known issuer prefix and length, and Luhn. */
export function cardValid(digits: string): boolean {
  if (digits.length < 13 || digits.length > 19) return false;
  if (!CARD_BRANDS.some((b) => b.lengths.includes(digits.length) && b.matches(digits))) return false;
  return luhnValid(digits);
}

/** Specimen SSNs printed on sample cards and in advertising; never issued to a person. */
const SSN_SPECIMENS = new Set(["078051120", "219099999", "123456789"]);

/** US SSN ranges: area 000, 666 and 900–999, group 00 and serial 0000 were never issued. */
export function ssnValid(digits: string): boolean {
  if (!/^\d{9}$/.test(digits) || SSN_SPECIMENS.has(digits)) return false;
  const area = Number(digits.slice(0, 3));
  const group = Number(digits.slice(3, 5));
  const serial = Number(digits.slice(5));
  return area !== 0 && area !== 666 && area < 900 && group !== 0 && serial !== 0;
}

/** First two digits of a Chinese resident ID: the province-level division (GB/T 2260). */
const CN_PROVINCES = new Set([
  11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61,
  62, 63, 64, 65, 71, 81, 82, 83, 91,
]);
const CN_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CN_CHECK = "10X98765432";

/** The GB 11643 check character (ISO 7064 MOD 11-2) of the first 17 digits. */
export function cnIdCheckChar(first17: string): string {
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += (first17.charCodeAt(i) - 48) * (CN_WEIGHTS[i] as number);
  return CN_CHECK[sum % 11] as string;
}

/** Chinese resident ID (GB 11643-1999): province, a real birth date not in the future, check character. */
export function cnIdValid(id: string, now = new Date()): boolean {
  if (!/^\d{17}[\dX]$/i.test(id)) return false;
  if (!CN_PROVINCES.has(Number(id.slice(0, 2)))) return false;
  const y = Number(id.slice(6, 10));
  const m = Number(id.slice(10, 12));
  const d = Number(id.slice(12, 14));
  if (y < 1900 || m < 1 || m > 12 || d < 1) return false;
  const birth = new Date(Date.UTC(y, m - 1, d));
  if (birth.getUTCMonth() !== m - 1 || birth.getTime() > now.getTime()) return false;
  return cnIdCheckChar(id.slice(0, 17)) === id.charAt(17).toUpperCase();
}

/** IBAN length per country (ISO 13616 registry). */
export const IBAN_LENGTHS: Readonly<Record<string, number>> = Object.freeze({
  __proto__: null,
  AD: 24,
  AE: 23,
  AL: 28,
  AT: 20,
  AZ: 28,
  BA: 20,
  BE: 16,
  BG: 22,
  BH: 22,
  BR: 29,
  BY: 28,
  CH: 21,
  CR: 22,
  CY: 28,
  CZ: 24,
  DE: 22,
  DK: 18,
  DO: 28,
  EE: 20,
  EG: 29,
  ES: 24,
  FI: 18,
  FO: 18,
  FR: 27,
  GB: 22,
  GE: 22,
  GI: 23,
  GL: 18,
  GR: 27,
  GT: 28,
  HR: 21,
  HU: 28,
  IE: 22,
  IL: 23,
  IQ: 23,
  IS: 26,
  IT: 27,
  JO: 30,
  KW: 30,
  KZ: 20,
  LB: 28,
  LC: 32,
  LI: 21,
  LT: 20,
  LU: 20,
  LV: 21,
  MC: 27,
  MD: 24,
  ME: 22,
  MK: 19,
  MR: 27,
  MT: 31,
  MU: 30,
  NL: 18,
  NO: 15,
  PK: 24,
  PL: 28,
  PS: 29,
  PT: 25,
  QA: 29,
  RO: 24,
  RS: 22,
  SA: 24,
  SC: 31,
  SE: 24,
  SI: 19,
  SK: 24,
  SM: 27,
  ST: 25,
  SV: 28,
  TL: 23,
  TN: 24,
  TR: 26,
  UA: 29,
  VA: 22,
  VG: 24,
  XK: 20,
} as unknown as Record<string, number>);

/** ISO 7064 MOD 97-10 over the rearranged IBAN (letters as 10–35): a valid IBAN leaves 1. */
export function ibanMod97(compact: string): number {
  const s = compact.slice(4) + compact.slice(0, 4);
  let rem = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) rem = (rem * 10 + (c - 48)) % 97;
    else if (c >= 65 && c <= 90) rem = (rem * 100 + (c - 55)) % 97;
    else return -1;
  }
  return rem;
}

export function ibanValid(compact: string): boolean {
  const len = IBAN_LENGTHS[compact.slice(0, 2)];
  return len !== undefined && compact.length === len && ibanMod97(compact) === 1;
}

/** Per-character counts for shannonEntropy, reset after each call; distinct characters in order. */
const ENTROPY_COUNTS = new Uint32Array(65536);
let entropySeen = new Uint16Array(256);

/** Shannon entropy in bits per character. */
export function shannonEntropy(s: string): number {
  if (s.length === 0) return 0;
  if (entropySeen.length < s.length) entropySeen = new Uint16Array(s.length);
  let distinct = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const n = ENTROPY_COUNTS[c] as number;
    if (n === 0) entropySeen[distinct++] = c;
    ENTROPY_COUNTS[c] = n + 1;
  }
  // Summed in order of first occurrence, as before (the same floating-point result).
  let h = 0;
  for (let k = 0; k < distinct; k++) {
    const c = entropySeen[k] as number;
    const p = (ENTROPY_COUNTS[c] as number) / s.length;
    ENTROPY_COUNTS[c] = 0;
    h -= p * Math.log2(p);
  }
  return h;
}

/**
 * A class of one character (`re`) as a test on code units: a table for ASCII, built from `re` at
 * load (128 tests), and `re` itself for the rest, which these loops rarely meet. The same answers
 * as `re.test(text.charAt(i))`, without a string per character.
 */
export function charClass(re: RegExp): (c: number) => boolean {
  const ascii = new Uint8Array(128);
  for (let c = 0; c < 128; c++) ascii[c] = re.test(String.fromCharCode(c)) ? 1 : 0;
  return (c) => (c < 128 ? ascii[c] === 1 : re.test(String.fromCharCode(c)));
}

/** Whether `s` repeats one character six times in a row, as /(.)\1{5,}/ finds (not line ends). */
function repeatsSix(s: string): boolean {
  let run = 1;
  for (let i = 1; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === s.charCodeAt(i - 1) && c !== 10 && c !== 13 && c !== 0x2028 && c !== 0x2029) {
      if (++run === 6) return true;
    } else run = 1;
  }
  return false;
}

/** Whether `s` has at most three distinct code points (stops at the fourth). */
function atMostThreeDistinct(s: string): boolean {
  let a = -1;
  let b = -1;
  let c = -1;
  for (let i = 0; i < s.length; i++) {
    const cp = s.codePointAt(i) as number;
    if (cp > 0xffff) i++;
    if (cp === a || cp === b || cp === c) continue;
    if (a === -1) a = cp;
    else if (b === -1) b = cp;
    else if (c === -1) c = cp;
    else return false;
  }
  return true;
}

const PLACEHOLDER_WORDS =
  /example|sample|dummy|placeholder|changeme|change_me|your[_-]|redacted|xxxx|\*\*\*|\.\.\.|lorem|test[_-](?:key|token|secret)|undefined/i;

const TEMPLATE_REFERENCE = /^(?:\$\{?[A-Za-z_][\w.]*\}?|\{\{.*\}\}|<[^>]*>|%[\w]+%|\[[^\]]*\])$/;
const ENV_NAME = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$/;

/**
 * Values that only stand for a secret: template and environment references (`${VAR}`, `{{x}}`,
 * `<token>`, `%VAR%`, `$VAR`), documentation words, masked values and repeated characters.
 */
export function isPlaceholder(value: string): boolean {
  if (TEMPLATE_REFERENCE.test(value)) return true;
  if (value.includes("${") || value.includes("{{")) return true;
  if (PLACEHOLDER_WORDS.test(value)) return true;
  if (ENV_NAME.test(value)) return true; // an environment variable's name
  if (repeatsSix(value)) return true; // aaaaaa, 000000
  return atMostThreeDistinct(value);
}

/**
 * `items` in order, indexed by the first code unit of each of their literals: at a position, only
 * the items listed under its character can start there (a scan's lookup instead of trying all).
 */
export function byFirstChar<T>(
  items: readonly T[],
  literals: (item: T) => readonly string[],
): Map<number, T[]> {
  const index = new Map<number, T[]>();
  for (const item of items)
    for (const c of new Set(literals(item).map((l) => l.charCodeAt(0)))) {
      const list = index.get(c);
      if (list) list.push(item);
      else index.set(c, [item]);
    }
  return index;
}
