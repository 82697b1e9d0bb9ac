/**
 * Normalisation before detection, shared by the detectors: views of a text that fold look-alikes,
 * drop invisible characters and decode escapes once (view.ts), for the redactor; the reading of a
 * text for phrase detectors, which also reads leetspeak and joins spaced letters (reading.ts,
 * words.ts), for the injection detector; base64 and hex spans decoded once (decode.ts). Each maps
 * back to the original text, so a finding replaces exactly what was sent.
 */
export { fold, significant } from "./fold.js";
export { invisible, isBidiControl, isTag, isZeroWidth } from "./invisible.js";
export {
  CHANGE_CANDIDATE,
  changedWindows,
  changeStartUnits,
  mayChange,
  originalSpan,
  viewOf,
  WINDOW_MARGIN,
  type View,
} from "./view.js";
export {
  decodedRuns,
  decodedSpans,
  decodeRun,
  encodedRuns,
  readable,
  MAX_CANDIDATES,
  MAX_DECODED,
  MAX_ENCODED,
  MAX_ENCODED_CHARS,
  MIN_ENCODED,
  type Decoded,
  type DecodedSpan,
  type EncodedRun,
} from "./decode.js";
export { around, readingOf, rot13, rot13Worth, type Reading } from "./reading.js";

import type { Matcher } from "../literal-scan.js";
import { changedWindows, viewOf, WINDOW_MARGIN, type View } from "./view.js";

/**
 * Views of every part of `text` that normalisation changes; none for text it leaves alone.
 * `candidates`: as changedWindows takes them.
 */
export function normalisedViews(text: string, candidates?: Matcher): View[] {
  return changedWindows(text, WINDOW_MARGIN, candidates).map(([s, e]) => viewOf(text, s, e));
}
