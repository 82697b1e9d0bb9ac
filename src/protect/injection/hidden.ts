import { isBidiControl as isBidi, isZeroWidth } from "../normalise/invisible.js";
import type { Cue } from "./types.js";

/**
 * Hidden Unicode: tag characters (U+E0000–E007F, which can spell invisible ASCII), zero-width
 * characters (U+200B–U+200D, U+2060, U+FEFF) and bidi controls (U+202A–U+202E, U+2066–U+2069).
 * All are always removed; everything else is left byte-identical.
 */
export interface HiddenScan {
  readonly text: string;
  /** ASCII spelled by tag characters, rescanned by the caller for instructions. */
  readonly smuggled: string;
  readonly smuggledOffset: number;
  readonly cues: readonly Cue[];
}

const ZWJ = 0x200d;
const ZERO_WIDTH_RUN = 4;

/** A ZWJ between two non-ASCII characters joins an emoji sequence; alone it is no cue. */
function joinsEmoji(text: string, i: number): boolean {
  return i > 0 && i + 1 < text.length && text.charCodeAt(i - 1) > 0x7f && text.charCodeAt(i + 1) > 0x7f;
}

/**
 * Every code unit the scan below acts on (a tag character's high surrogate, zero-width, bidi):
 * text without any is returned as it is, after one native pass instead of the loop's.
 */
const MAYBE_HIDDEN = /[\udb40\u200b-\u200d\u2060\ufeff\u202a-\u202e\u2066-\u2069]/;
/** The same, to jump from one to the next: the characters in between are left as they are. */
const HIDDEN_AT = new RegExp(MAYBE_HIDDEN.source, "g");

export function stripHidden(text: string): HiddenScan {
  if (!MAYBE_HIDDEN.test(text)) return { text, smuggled: "", smuggledOffset: 0, cues: [] };
  const parts: string[] = [];
  let smuggled = "";
  let smuggledOffset = -1;
  let tagCount = 0;
  let flagTags = 0;
  let zeroWidth = 0;
  let zeroWidthRun = 0;
  let longestRun = 0;
  let bidi = 0;
  let bidiLatin = 0;
  let firstZw = -1;
  let firstBidi = -1;
  let firstTag = -1;
  let from = 0;
  let outLen = 0;
  /** Where the character after the last one looked at is: one further on had nothing to strip. */
  let next = 0;
  HIDDEN_AT.lastIndex = 0;
  for (let m = HIDDEN_AT.exec(text); m !== null; m = HIDDEN_AT.exec(text)) {
    const i = m.index;
    if (i > next) {
      zeroWidthRun = 0;
      flagTags = 0;
    }
    const c = text.charCodeAt(i);
    let width = 0;
    if (c === 0xdb40 && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdc7f) {
        width = 2;
        const ascii = low - 0xdc00;
        // Subdivision flags (England, Scotland, Wales) are U+1F3F4 + a few tags: benign, still stripped.
        if (i >= 2 && text.codePointAt(i - 2) === 0x1f3f4) flagTags = 1;
        else if (flagTags > 0 && flagTags < 8) flagTags++;
        else flagTags = 0;
        if (flagTags === 0) {
          tagCount++;
          if (firstTag < 0) firstTag = outLen + (i - from);
          if (ascii >= 0x20 && ascii <= 0x7e && smuggled.length < 65536) {
            if (smuggledOffset < 0) smuggledOffset = outLen + (i - from);
            smuggled += String.fromCharCode(ascii);
          }
        }
        if (ascii === 0x7f) flagTags = 0;
      }
    } else if (isZeroWidth(c)) {
      width = 1;
      const benign = (c === 0xfeff && i === 0) || (c === ZWJ && joinsEmoji(text, i));
      if (!benign) {
        zeroWidth++;
        zeroWidthRun++;
        if (zeroWidthRun > longestRun) longestRun = zeroWidthRun;
        if (firstZw < 0) firstZw = outLen + (i - from);
      }
    } else if (isBidi(c)) {
      width = 1;
      bidi++;
      // Latin text has a strong direction of its own: an opening control before it only reorders.
      if (c !== 0x202c && c !== 0x2069 && /[A-Za-z0-9]/.test(text[i + 1] ?? "")) bidiLatin++;
      if (firstBidi < 0) firstBidi = outLen + (i - from);
    }
    if (width === 0) {
      zeroWidthRun = 0;
      flagTags = 0;
      next = i + 1;
      continue;
    }
    parts.push(text.slice(from, i));
    outLen += i - from;
    next = from = HIDDEN_AT.lastIndex = i + width;
  }
  if (from === 0) return { text, smuggled: "", smuggledOffset: 0, cues: [] };
  parts.push(text.slice(from));

  const cues: Cue[] = [];
  if (tagCount > 0) {
    cues.push({
      kind: "hidden_unicode",
      rule: "hidden.tags",
      weight: 1,
      detail: `${tagCount} Unicode tag characters (invisible text)`,
      offset: firstTag,
    });
  }
  if (zeroWidth > 0) {
    const run = longestRun >= ZERO_WIDTH_RUN;
    cues.push({
      kind: "hidden_unicode",
      rule: run ? "hidden.zero_width_run" : "hidden.zero_width",
      weight: run ? 1 : 0.4,
      detail: `${zeroWidth} zero-width characters${run ? `, a run of ${longestRun}` : ""}`,
      offset: firstZw,
    });
  }
  if (bidi > 0) {
    cues.push({
      kind: "hidden_unicode",
      rule: bidiLatin > 0 ? "hidden.bidi_latin" : "hidden.bidi",
      weight: bidiLatin > 0 ? 1 : 0.6,
      detail: `${bidi} bidi control characters`,
      offset: firstBidi,
    });
  }
  return { text: parts.join(""), smuggled, smuggledOffset: Math.max(smuggledOffset, 0), cues };
}
