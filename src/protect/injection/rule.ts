import { literalBranches, requiredLiterals } from "../patterns.js";
import type { SignalKind } from "./types.js";

/** One phrase or tag rule: a bounded-repetition pattern and the weight of a match. */
export interface PhraseRule {
  readonly id: string;
  readonly kind: SignalKind;
  readonly weight: number;
  /** Weight when the match lies inside a fenced code block (quoted, not addressed to anyone). */
  readonly inCode?: number;
  readonly re: RegExp;
  /** Rules of one group count once per window: the same phrase in two tables is one cue. */
  readonly group: string;
  /** A match that also matches this weighs at least 1 ("your previous instructions are void"). */
  readonly strong?: RegExp;
  /** The rule runs only on a text this matches (a cheap test before a costly pattern). */
  readonly gate?: RegExp;
  /** Literals one of which every match holds, read off the pattern (../patterns.ts); none when unknown. */
  readonly needs?: readonly string[];
  /**
   * Finer: for each top-level branch of the pattern, the sets of literals a match of it holds one
   * of each (../patterns.ts `literalBranches`); none when unknown.
   */
  readonly branches?: ReadonlyArray<ReadonlyArray<readonly string[]>>;
}

/** The language prefix of a rule id says where it is written, not what it finds. */
const LANGUAGE = /^(?:en|zh|es|fr|de|pt|ja|ru|ko|xx|world|intent)\./;

export const r = (
  id: string,
  kind: SignalKind,
  weight: number,
  source: string,
  flags = "gi",
  inCode?: number,
  more: { group?: string; strong?: RegExp; gate?: RegExp } = {},
): PhraseRule => ({
  id,
  kind,
  weight,
  inCode,
  re: new RegExp(source, flags),
  group: more.group ?? id.replace(LANGUAGE, ""),
  strong: more.strong,
  gate: more.gate,
  needs: requiredLiterals(source),
  branches: literalBranches(source),
});
