/**
 * Escapes decoded once, for the views (view.ts) and the reading (reading.ts): JSON and JavaScript
 * `\uXXXX` and `\xXX`, HTML character references (numeric, and the named ones that spell what
 * secrets, addresses and markup use, in any case), URL percent-escapes of letters, digits, "@" and
 * the unreserved "-", ".", "_", "~". What an escape stands for is never decoded again.
 */

/** HTML named references worth decoding: those that spell characters secrets and addresses use. */
const NAMED: Readonly<Record<string, string>> = {
  __proto__: null,
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  commat: "@",
  period: ".",
  colon: ":",
  equals: "=",
  sol: "/",
  lowbar: "_",
  hyphen: "-",
  dash: "-",
  plus: "+",
  num: "#",
  nbsp: " ",
} as unknown as Record<string, string>;

const hexValue = (c: number): number =>
  c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : c >= 97 && c <= 102 ? c - 87 : -1;

/** A decoded escape at `i`: the text it stands for and its length, or undefined. */
export function escapeAt(text: string, i: number): { out: string; len: number } | undefined {
  const c = text.charCodeAt(i);
  if (c === 92) {
    // \uXXXX (JSON, JavaScript) and \xXX.
    const k = text.charCodeAt(i + 1);
    const n = k === 117 ? 4 : k === 120 ? 2 : 0;
    if (n === 0) return undefined;
    let v = 0;
    for (let j = 0; j < n; j++) {
      const h = hexValue(text.charCodeAt(i + 2 + j));
      if (h < 0) return undefined;
      v = v * 16 + h;
    }
    return { out: String.fromCharCode(v), len: 2 + n };
  }
  if (c === 37) {
    const a = hexValue(text.charCodeAt(i + 1));
    const b = hexValue(text.charCodeAt(i + 2));
    if (a < 0 || b < 0) return undefined;
    const v = a * 16 + b;
    // Letters, digits, "@" and the unreserved "-", ".", "_", "~" (which nobody needs to escape):
    // %2F and %3D in ordinary URLs stay as they are.
    const word =
      (v >= 48 && v <= 57) ||
      (v >= 64 && v <= 90) ||
      (v >= 97 && v <= 122) ||
      v === 45 ||
      v === 46 ||
      v === 95 ||
      v === 126;
    return word ? { out: String.fromCharCode(v), len: 3 } : undefined;
  }
  if (c === 38) {
    const semi = text.indexOf(";", i + 2);
    if (semi === -1 || semi - i > 10) return undefined;
    const body = text.slice(i + 1, semi);
    let cp = -1;
    if (/^#[0-9]{1,7}$/.test(body)) cp = Number(body.slice(1));
    else if (/^#[xX][0-9A-Fa-f]{1,6}$/.test(body)) cp = parseInt(body.slice(2), 16);
    else if (Object.hasOwn(NAMED, body.toLowerCase()))
      return { out: NAMED[body.toLowerCase()] as string, len: semi - i + 1 };
    if (cp <= 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return undefined;
    return { out: String.fromCodePoint(cp), len: semi - i + 1 };
  }
  return undefined;
}
