/**
 * Normalised views of a text with a map back to it. A view is what a detector should read:
 * look-alike characters folded (fold.ts), invisible ones removed, and escapes decoded once (JSON
 * `\uXXXX`/`\xXX`, HTML character references, URL percent-escapes of letters, digits and `@`).
 * Every view character knows the original span it came from, so a finding in the view replaces
 * exactly the characters that were sent.
 *
 * Only the neighbourhood of something to normalise is viewed: plain ASCII text (and CJK or other
 * prose without look-alikes) costs one pass over its code units and yields no view at all.
 */
import { escapeAt } from "./escapes.js";
import type { Matcher } from "../literal-scan.js";
import { fold, FOLDED_BLOCKS, significant } from "./fold.js";

export interface View {
  /** The normalised text. */
  readonly text: string;
  /** For each view code unit, the original index where its source starts. */
  readonly from: Int32Array;
  /** For each view code unit, the original index just after its source. */
  readonly to: Int32Array;
}

/** Context kept on either side of a character that changes, so that a whole token is viewed. */
export const WINDOW_MARGIN = 320;

/** What may need normalising: a character of the folded blocks, or the start of an escape. */
export const CHANGE_CANDIDATE = new RegExp(
  `${FOLDED_BLOCKS}|\\\\[ux]|%[0-9A-Fa-f]{2}|&#?[A-Za-z0-9]{1,8};`,
  "g",
);

/**
 * The code units a CHANGE_CANDIDATE match may start with: an escape's first character, the first
 * unit of a folded surrogate pair, a character of the folded blocks. Built by matching the blocks
 * over a string of every code unit (lone surrogates decode to U+FFFD, outside every block; the
 * pairs' lead units are read off the blocks' source).
 */
export function changeStartUnits(): Uint8Array {
  const all = new TextDecoder("utf-16le").decode(Uint16Array.from({ length: 0x10000 }, (_, i) => i));
  if (all.length !== 0x10000) throw new Error("changeStartUnits: code units lost in decoding");
  const table = new Uint8Array(0x10000);
  for (const m of all.matchAll(new RegExp(FOLDED_BLOCKS, "g"))) table[m.index] = 1;
  // An escape's first character, and each folded surrogate pair's lead unit as the blocks name it.
  for (const c of [0x5c, 0x25, 0x26]) table[c] = 1;
  for (const m of FOLDED_BLOCKS.matchAll(/\\u(d[89ab][0-9a-f]{2})\[/gi))
    table[parseInt(m[1] as string, 16)] = 1;
  return table;
}

/**
 * Whether a CHANGE_CANDIDATE match starting with code unit `c` (one changeStartUnits admits) may
 * change a window: an escape or a surrogate pair (judged when matched), or a character that folds
 * to something significant. Other matches (a character of the folded blocks that folds to
 * punctuation, such as a full-width comma in Chinese text) change nothing, so a scan may skip
 * them (redaction's gate).
 */
export function mayChange(c: number): boolean {
  return c < 0x80 || (c >= 0xd800 && c <= 0xdfff) || significant(c);
}

/**
 * Windows `[start, end)` of `text` worth viewing: around each character that folds to a letter,
 * a digit, `@` or nothing, and each escape; merged when they touch. Empty for most text.
 * `candidates`: CHANGE_CANDIDATE's matches as a gate finds them (every one `mayChange` admits).
 */
export function changedWindows(
  text: string,
  margin = WINDOW_MARGIN,
  candidates: Matcher = CHANGE_CANDIDATE,
): Array<[number, number]> {
  const windows: Array<[number, number]> = [];
  const add = (at: number, len: number) => {
    const s = snap(text, Math.max(0, at - margin), -1);
    const e = snap(text, Math.min(text.length, at + len + margin), 1);
    const last = windows[windows.length - 1];
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else windows.push([s, e]);
  };
  candidates.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = candidates.exec(text)) !== null) {
    const i = m.index;
    const c = text.charCodeAt(i);
    if (c < 0x80) {
      if (escapeAt(text, i) !== undefined) add(i, 1);
      candidates.lastIndex = i + 1;
    } else if (significant(text.codePointAt(i) as number)) {
      add(i, m[0].length);
    }
  }
  return windows;
}

/** Moves a window edge out to the nearest whitespace (at most SNAP more), so no token is cut. */
const SNAP = 256;
function snap(text: string, at: number, dir: -1 | 1): number {
  let i = at;
  const stop = dir < 0 ? Math.max(0, at - SNAP) : Math.min(text.length, at + SNAP);
  while (i !== stop && !/\s/.test(text.charAt(dir < 0 ? i - 1 : i))) i += dir;
  return i;
}

/** The normalised view of `text.slice(start, end)`; indexes in `from`/`to` are into `text`. */
export function viewOf(text: string, start = 0, end = text.length): View {
  const parts: string[] = [];
  const from: number[] = [];
  const to: number[] = [];
  const emit = (s: string, a: number, b: number) => {
    parts.push(s);
    for (let k = 0; k < s.length; k++) {
      from.push(a);
      to.push(b);
    }
  };
  for (let i = start; i < end;) {
    const c = text.charCodeAt(i);
    if (c < 0x80) {
      const esc = c === 92 || c === 37 || c === 38 ? escapeAt(text, i) : undefined;
      if (esc && i + esc.len <= end) {
        // Decoded once: what an escape stands for is folded but never decoded again.
        const cp = esc.out.codePointAt(0) as number;
        emit(fold(cp) ?? esc.out, i, i + esc.len);
        i += esc.len;
      } else {
        emit(text.charAt(i), i, i + 1);
        i++;
      }
      continue;
    }
    const cp = text.codePointAt(i) as number;
    const w = cp > 0xffff ? 2 : 1;
    const f = fold(cp);
    emit(f ?? text.slice(i, i + w), i, i + w);
    i += w;
  }
  return { text: parts.join(""), from: Int32Array.from(from), to: Int32Array.from(to) };
}

/** A span of a view mapped back to the original text: exactly the characters it came from. */
export function originalSpan(view: View, start: number, end: number): [number, number] {
  return [view.from[start] as number, view.to[end - 1] as number];
}
