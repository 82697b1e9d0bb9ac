// Helpers for generate.mjs: a seeded generator (so a re-run writes the same corpora, apart from
// the RSA key) and the encodings the evasions use.
import { Buffer } from "node:buffer";
import { createPrivateKey, generateKeyPairSync } from "node:crypto";

let state = 0x5eed18;
/** mulberry32: small, seeded, good enough for fake tokens. */
export function rand() {
  state = (state + 0x6d2b79f5) | 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
export const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
export const B64URL = ALNUM + "-_";
export const B64 = ALNUM + "+/";
export const HEX = "0123456789abcdef";
export const B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
export function pick(chars, n) {
  let s = "";
  for (let i = 0; i < n; i++) s += chars[Math.floor(rand() * chars.length)];
  return s;
}
export const digits = (n) => pick("0123456789", n);

export function luhnOk(num) {
  let sum = 0;
  const ds = num.replace(/\D/g, "");
  for (let i = 0; i < ds.length; i++) {
    let d = Number(ds[ds.length - 1 - i]);
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}
/** A Luhn-valid number of `len` digits starting with `prefix`. */
export function card(prefix, len) {
  const body = prefix + digits(len - prefix.length - 1);
  for (let c = 0; c < 10; c++) if (luhnOk(body + c)) return body + c;
  throw new Error("unreachable");
}
/** A number of `len` digits that fails Luhn (a benign look-alike). */
export function notCard(prefix, len) {
  for (;;) {
    const n = prefix + digits(len - prefix.length);
    if (!luhnOk(n)) return n;
  }
}
export function iban(country, bban) {
  const rearranged = bban + country + "00";
  const numeric = rearranged.replace(/[A-Z]/g, (c) => String(c.charCodeAt(0) - 55));
  let rem = 0;
  for (const ch of numeric) rem = (rem * 10 + Number(ch)) % 97;
  const check = String(98 - rem).padStart(2, "0");
  return country + check + bban;
}
/** GB 11643 resident id: region, birth date, sequence, check character. */
export function cnId(region, birth, seq) {
  const body = region + birth + seq;
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  let s = 0;
  for (let i = 0; i < 17; i++) s += Number(body[i]) * w[i];
  return body + "10X98765432"[s % 11];
}
export const b64 = (s) => Buffer.from(s).toString("base64");
export const b64url = (s) => Buffer.from(s).toString("base64url");
export const hex = (s) => Buffer.from(s).toString("hex");
export const rev = (s) => [...s].reverse().join("");
export const fullwidth = (s) =>
  [...s].map((c) => (c >= "!" && c <= "~" ? String.fromCodePoint(c.codePointAt(0) + 0xfee0) : c)).join("");
/** Mathematical monospace letters and digits (U+1D670…, U+1D7F6…). */
export function mathMono(s) {
  return [...s]
    .map((c) => {
      if (c >= "A" && c <= "Z") return String.fromCodePoint(0x1d670 + c.charCodeAt(0) - 65);
      if (c >= "a" && c <= "z") return String.fromCodePoint(0x1d68a + c.charCodeAt(0) - 97);
      if (c >= "0" && c <= "9") return String.fromCodePoint(0x1d7f6 + c.charCodeAt(0) - 48);
      return c;
    })
    .join("");
}
export function mathBold(s) {
  return [...s]
    .map((c) => {
      if (c >= "A" && c <= "Z") return String.fromCodePoint(0x1d400 + c.charCodeAt(0) - 65);
      if (c >= "a" && c <= "z") return String.fromCodePoint(0x1d41a + c.charCodeAt(0) - 97);
      if (c >= "0" && c <= "9") return String.fromCodePoint(0x1d7ce + c.charCodeAt(0) - 48);
      return c;
    })
    .join("");
}
const CYR = {
  a: "а",
  c: "с",
  e: "е",
  i: "і",
  o: "о",
  p: "р",
  s: "ѕ",
  x: "х",
  y: "у",
  A: "А",
  B: "В",
  C: "С",
  E: "Е",
  H: "Н",
  I: "І",
  K: "К",
  M: "М",
  O: "О",
  P: "Р",
  T: "Т",
  X: "Х",
};
/** Replaces every Latin letter that has a Cyrillic look-alike. */
export const cyrillic = (s) => [...s].map((c) => CYR[c] ?? c).join("");
export const rot13 = (s) =>
  s.replace(/[a-z]/gi, (c) => {
    const base = c <= "Z" ? 65 : 97;
    return String.fromCharCode(((c.charCodeAt(0) - base + 13) % 26) + base);
  });
export const htmlDec = (s) => [...s].map((c) => `&#${c.codePointAt(0)};`).join("");
export const htmlHex = (s) => [...s].map((c) => `&#x${c.codePointAt(0).toString(16)};`).join("");
export const pctAll = (s) =>
  [...Buffer.from(s)].map((b) => "%" + b.toString(16).toUpperCase().padStart(2, "0")).join("");
export const jsonU = (s) => [...s].map((c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0")).join("");
export const every = (s, n, sep) => s.match(new RegExp(`.{1,${n}}`, "gsu")).join(sep);
/** Unicode tag characters spelling `s` (invisible in most renderers). */
export const tags = (s) => [...s].map((c) => String.fromCodePoint(0xe0000 + c.charCodeAt(0))).join("");

/** An Ed25519 PKCS#8 key from a seeded 32-byte seed, as PEM. */
export function ed25519Pem() {
  const seed = Buffer.from(pick(HEX, 64), "hex");
  const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]);
  return createPrivateKey({ key: der, format: "der", type: "pkcs8" }).export({
    format: "pem",
    type: "pkcs8",
  });
}
export function rsaPem() {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return privateKey.export({ format: "pem", type: "pkcs8" });
}
export function ecPem() {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return privateKey.export({ format: "pem", type: "sec1" });
}
/** The longest base64 body line of a PEM block (what must not survive). */
export const pemLine = (pem, i = 1) => pem.split(/\r?\n/)[i];
