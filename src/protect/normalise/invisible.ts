/**
 * Characters that show nothing, in one place. The zero-width characters, bidi controls and tag
 * characters are removed from every text a client receives (injection/hidden.ts); detection also
 * reads past the rest (marks of direction, joiners, the soft hyphen, variation selectors), which
 * stay in what is delivered because emoji and words need them.
 */

/** Zero-width space, non-joiner and joiner, word joiner, byte-order mark: U+200B–U+200D, U+2060, U+FEFF. */
export function isZeroWidth(cp: number): boolean {
  return (cp >= 0x200b && cp <= 0x200d) || cp === 0x2060 || cp === 0xfeff;
}

/** Bidi embeddings, overrides and isolates: U+202A–U+202E, U+2066–U+2069. */
export function isBidiControl(cp: number): boolean {
  return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/** Tag characters, which can spell ASCII nobody sees: U+E0000–E007F. */
export function isTag(cp: number): boolean {
  return cp >= 0xe0000 && cp <= 0xe007f;
}

/**
 * Invisible to a reader, so removed from what a detector reads: the above, the left-to-right and
 * right-to-left marks, invisible operators, the soft hyphen, the Mongolian vowel separator, the
 * Arabic letter mark and variation selectors.
 */
export function invisible(cp: number): boolean {
  return (
    isZeroWidth(cp) ||
    isBidiControl(cp) ||
    isTag(cp) ||
    cp === 0x200e ||
    cp === 0x200f ||
    (cp >= 0x2061 && cp <= 0x2064) ||
    cp === 0x00ad ||
    cp === 0x180e ||
    cp === 0x061c ||
    (cp >= 0xfe00 && cp <= 0xfe0f)
  );
}
