// Regular expressions loosened for property tests of the keyword gates (src/protect/patterns.ts):
// a pattern whose assertions are gone matches a larger language, so what is read off every match
// of the original must hold for it too.

/**
 * The pattern without its assertions (\b, ^, $, lookarounds) and with any three characters for a
 * backreference (which the prefixes never reach): a larger language, the same prefixes.
 */
export function withoutAssertions(src: string): string {
  let out = "";
  const classEnd = (k: number) => {
    while (src[k] !== "]") k += src[k] === "\\" ? 2 : 1;
    return k;
  };
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === "\\") {
      const e = src[i + 1]!;
      if (e >= "1" && e <= "9") out += "(?:.{0,3})";
      else if (e !== "b" && e !== "B") out += c + e;
      i++;
    } else if (c === "[") {
      const j = classEnd(i + 1);
      out += src.slice(i, j + 1);
      i = j;
    } else if (c === "(" && /^\(\?(?:=|!|<=|<!)/.test(src.slice(i))) {
      let depth = 0;
      let k = i;
      for (; k < src.length; k++) {
        if (src[k] === "\\") k++;
        else if (src[k] === "[") k = classEnd(k + 1);
        else if (src[k] === "(") depth++;
        else if (src[k] === ")" && --depth === 0) break;
      }
      i = k;
    } else if (c !== "^" && c !== "$") out += c;
  }
  return out;
}
