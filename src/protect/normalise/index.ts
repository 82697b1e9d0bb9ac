/**
 * Normalisation before detection, shared by the detectors: views of a text that fold look-alikes,
 * drop invisible characters and decode escapes once (view.ts), base64 and hex spans decoded once
 * (decode.ts), and a words view for disguised keywords (words.ts). Each view maps back to the
 * original text, so a finding replaces exactly what was sent.
 */
export { fold, invisible, significant } from "./fold.js";
export { changedWindows, originalSpan, viewOf, WINDOW_MARGIN, type View } from "./view.js";
export { decodedSpans, readable, MAX_DECODED, MAX_ENCODED, MIN_ENCODED, type DecodedSpan } from "./decode.js";
export { wordsView } from "./words.js";

import { changedWindows, viewOf, type View } from "./view.js";

/** Views of every part of `text` that normalisation changes; none for text it leaves alone. */
export function normalisedViews(text: string): View[] {
  return changedWindows(text).map(([s, e]) => viewOf(text, s, e));
}
