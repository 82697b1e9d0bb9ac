/**
 * Event text shown on a terminal (`audit query`, `audit tail`). An event's fields come from
 * callers and upstreams; printed as they are, control characters (C0, DEL, C1: U+009B is an 8-bit
 * CSI) move the cursor, recolour or retitle the terminal, and bidi overrides or invisible format
 * characters make one name read as another. All of these are replaced or escaped.
 */

// Controls (Cc: C0, DEL, C1), format characters (Cf: bidi embeddings, overrides, isolates and
// marks, zero-width characters, tags), line and paragraph separators, lone surrogates, characters
// with no assignment yet, and everything Unicode says renders as nothing (Hangul fillers,
// variation selectors, U+115F …).
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Cn}\p{Default_Ignorable_Code_Point}]/gu;

/** `text` with every unsafe character replaced by `?`: for table cells, where width matters. */
export function terminalText(text: string): string {
  return text.replace(UNSAFE, "?");
}

/**
 * `value` as one line of JSON in which every unsafe character is a `\uXXXX` escape: what a JSON
 * reader gets back is unchanged, and nothing in it acts on the terminal.
 */
export function terminalJson(value: unknown): string {
  return JSON.stringify(value).replace(UNSAFE, (c) => {
    let out = "";
    for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, "0")}`;
    return out;
  });
}
