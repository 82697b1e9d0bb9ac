/**
 * Prompt-injection detector for tool results: a scored heuristic, compiled once. Hidden Unicode
 * is always stripped; each rule found in the text is a cue with a weight, and the result is
 * flagged (signals returned) when the cues inside one window of WINDOW characters sum to
 * THRESHOLD or more, each rule counted once per window. One weak cue ("system prompt", a badge
 * image, "you are now …") never flags; one unambiguous phrase ("ignore all previous
 * instructions", a chat-template token, tag-character text) or two weaker cues together do.
 * Design notes and weights: README.md beside this file.
 */
import { decodedRuns } from "../normalise/decode.js";
import { around, readingOf, rot13, ROT13_WORDS, rot13Worth } from "../normalise/reading.js";
import { CleanTexts } from "../clean-texts.js";
import { stripHidden } from "./hidden.js";
import { linkCues } from "./links.js";
import { codeBlocks, cuesNear, literalsIn, mayHold, phraseCues } from "./phrase-cues.js";
import { FOLDED_RULES, READING_BASE_RULES, STRONG_RULES, WRITTEN_RULES } from "./phrases.js";
import { toolCues, toolNameSet } from "./tools.js";
import { excerpt, type Cue, type Signal } from "./types.js";

export type { Cue } from "./types.js";

export type { Signal, SignalKind } from "./types.js";
export { MAX_CANDIDATES, MAX_ENCODED_CHARS } from "../normalise/decode.js";

export interface InjectionContext {
  /** Names of the tools this session can see (e.g. "files__write_file", "write_file"): calls to action naming them are a signal. */
  readonly toolNames: readonly string[];
  /** Hosts a link/image may point to without being exfiltration (e.g. the gateway's own); everything else is outside. */
  readonly allowedHosts?: readonly string[];
}

export interface InjectionResult {
  /** The input with hidden Unicode removed, otherwise identical. */
  readonly text: string;
  /** Empty unless the text is judged an injection; then every cue found, in text order. */
  readonly signals: readonly Signal[];
}

export interface InjectionDetector {
  /** Strips hidden Unicode (tag characters U+E0000–E007F, zero-width U+200B–U+200D/U+2060/U+FEFF, bidi controls U+202A–U+202E/U+2066–U+2069) always, and reports signals. Never throws for any string input: stripping is one linear pass over the whole text; signals come from the first MAX_INSPECT_CHARS only. */
  inspect(text: string, ctx: InjectionContext): InjectionResult;
}

/** Signals are computed on the first 2 Mi UTF-16 code units (4 MiB); the rest is only stripped. */
export const MAX_INSPECT_CHARS = 2 * 1024 * 1024;
export const THRESHOLD = 1;
export const WINDOW = 1500;
export const MAX_SIGNALS = 32;

/** The highest per-window score, each rule counted once (at its highest weight) per window. */
export function windowScore(cues: readonly Cue[]): number {
  const sorted = [...cues].sort((a, b) => a.offset - b.offset);
  let best = 0;
  for (let i = 0; i < sorted.length; i++) {
    const byRule = new Map<string, number>();
    for (let j = i; j < sorted.length && sorted[j]!.offset - sorted[i]!.offset <= WINDOW; j++) {
      const c = sorted[j]!;
      byRule.set(c.rule, Math.max(byRule.get(c.rule) ?? 0, c.weight));
    }
    let sum = 0;
    for (const w of byRule.values()) sum += w;
    if (sum > best) best = sum;
  }
  return best;
}

/** The cues of a decoded or smuggled text, folded into one cue at the place it was hidden. */
function hiddenPayloadCue(
  kind: "encoded" | "hidden_unicode",
  label: string,
  found: Cue[],
  at: number,
): Cue[] {
  const score = windowScore(found);
  if (score <= 0) return [];
  const top = found.reduce((a, b) => (b.weight > a.weight ? b : a));
  return [
    {
      kind,
      rule: `${kind}.payload`,
      weight: Math.max(score, 0.5),
      detail: `${label} hides ${top.detail.split(":")[0] ?? top.rule}`.slice(0, 80),
      offset: at,
    },
  ];
}

/**
 * How far, in words, around a line that folding changed the base rules read the reading: more
 * than any of them can match (the longest, a fake tag with 80 characters of attributes, spans
 * about 45).
 */
const REACH = 64;

/**
 * Phrase cues of a text in every reading: as written (the base rules, with its case and accents),
 * folded (normalise/reading.ts: the rules written for it; and the base rules too around the lines
 * where folding changed more than case, as elsewhere they match what they matched as written) and,
 * when it holds a ROT13-turned keyword, in ROT13. A rule counts once per window whichever reading
 * it matched in. Offsets in a reading are the reading's.
 */
function readingCues(text: string, base: number, code: ReadonlyArray<readonly [number, number]>): Cue[] {
  const held = literalsIn(text);
  const cues = phraseCues(text, base, code, WRITTEN_RULES, true, held);
  const reading = readingOf(text);
  const read = reading.text;
  const readHeld = read === text ? held : literalsIn(read);
  const readCode = read.length === text.length ? code : codeBlocks(read);
  if (reading.changed.length > 0) {
    // Around the changed lines; or everywhere, when they are most of the text (a rule then stops at
    // its eighth match instead of searching each window).
    const near = around(read, reading.changed, REACH, read.length / 4);
    cues.push(
      ...(near === undefined
        ? phraseCues(read, base, readCode, READING_BASE_RULES, false, readHeld)
        : cuesNear(read, base, readCode, READING_BASE_RULES, reading.changed, near, readHeld)),
    );
  }
  cues.push(...phraseCues(read, base, readCode, FOLDED_RULES, false, readHeld));
  if (mayHold(ROT13_WORDS, readHeld) && rot13Worth(read))
    cues.push(...phraseCues(rot13(read.toLowerCase()), base, readCode, STRONG_RULES, false));
  return cues;
}

function collect(text: string, ctx: InjectionContext): Cue[] {
  const tools = toolNameSet(Array.isArray(ctx?.toolNames) ? ctx.toolNames : []);
  const allowed = Array.isArray(ctx?.allowedHosts)
    ? ctx.allowedHosts.filter((h): h is string => typeof h === "string")
    : [];
  const code = codeBlocks(text);
  const cues = [...readingCues(text, 0, code), ...linkCues(text, allowed), ...toolCues(text, 0, tools)];
  for (const d of decodedRuns(text)) {
    const inner = [...readingCues(d.text, d.offset, []), ...toolCues(d.text, d.offset, tools)];
    cues.push(...hiddenPayloadCue("encoded", `${d.encoding} run`, inner, d.offset));
  }
  return cues;
}

function toSignals(cues: readonly Cue[]): Signal[] {
  const seen = new Set<string>();
  const out: Signal[] = [];
  for (const c of [...cues].sort((a, b) => a.offset - b.offset)) {
    const key = `${c.rule}@${c.offset}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ kind: c.kind, detail: c.detail.slice(0, 80), offset: c.offset });
    if (out.length >= MAX_SIGNALS) break;
  }
  return out;
}

/** Every cue and the window score, before the threshold: for tests, tuning and explanations. */
export function explainInjection(
  input: string,
  ctx: InjectionContext,
): { readonly text: string; readonly score: number; readonly cues: readonly Cue[] } {
  // Typed as a string; anything else (from untyped callers) is inspected as empty, never coerced.
  const raw = typeof input === "string" ? input : "";
  const hidden = stripHidden(raw);
  const text = hidden.text;
  const scanned = text.length > MAX_INSPECT_CHARS ? text.slice(0, MAX_INSPECT_CHARS) : text;
  const cues = [...hidden.cues, ...collect(scanned, ctx)];
  if (hidden.smuggled.length > 0) {
    const inner = collect(hidden.smuggled, ctx);
    const label = `tag text ${excerpt(hidden.smuggled, 20)}`;
    cues.push(...hiddenPayloadCue("hidden_unicode", label, inner, hidden.smuggledOffset));
  }
  return { text, score: windowScore(cues), cues };
}

export function compileInjectionDetector(): InjectionDetector {
  // An inspection depends on the text, the tool set and the allowed hosts, nothing else: a short
  // text found clean (nothing stripped, no signal) with this tool set and no allowed host is clean
  // again. Another tool set (toolNameSet gives another object) forgets them all.
  const clean = new CleanTexts();
  let cleanFor: ReadonlySet<string> | undefined;
  return {
    inspect(input: string, ctx: InjectionContext): InjectionResult {
      const memo =
        typeof input === "string" &&
        clean.fits(input) &&
        !(Array.isArray(ctx?.allowedHosts) && ctx.allowedHosts.length > 0);
      if (memo) {
        const tools = toolNameSet(Array.isArray(ctx?.toolNames) ? ctx.toolNames : []);
        if (tools !== cleanFor) {
          clean.clear();
          cleanFor = tools;
        }
        if (clean.has(input)) return { text: input, signals: [] };
      }
      const { text, score, cues } = explainInjection(input, ctx);
      if (score < THRESHOLD) {
        if (memo && text === input) clean.add(input);
        return { text, signals: [] };
      }
      return { text, signals: toSignals(cues) };
    },
  };
}
