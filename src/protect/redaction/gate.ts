/**
 * The redactor's gate: where each detector's keyword patterns can match, from one pass over the
 * text, so that each is tried only there instead of scanning the whole text (0.3–2 ms a MiB per
 * pattern, and there are about fifteen). The pass steps one automaton per code unit:
 * - keywords and literals: the strings a match of each pattern starts with, read off its source
 *   (../patterns.ts: "AKIA", "bearer ", a word for phone), found by one Aho–Corasick automaton
 *   (../literal-scan.ts), case folded;
 * - normalisation: characters that fold to a letter, digit, `@` or nothing, and escape starts
 *   (../normalise/view.ts `mayChange`), flagged in the same table;
 * - IBANs: the classes of the last five characters in a shift register (other, capital, digit,
 *   small letter): other, two capitals, two digits is where IBAN_RUN may start.
 * A gated pattern runs with a sticky copy at each possible start (`atStarts`): the same matches,
 * in the same order, as its scan of the whole text. Digit runs (cards, phones, IDs) keep their
 * own scan: counting runs of eight digits in this pass (without a branch), then trying DIGIT_RUN
 * at each digit there, made a redaction 5–8% slower (bench/redaction.ts --base, paired).
 * test/unit/redaction/gate.test.ts checks that every finding is the same with and without the gate.
 */
import { atStarts, compileAutomaton, sortedDistinct, startsBySet, type Matcher } from "../literal-scan.js";
import { CHANGE_CANDIDATE, changeStartUnits, mayChange } from "../normalise/index.js";
import { prefixLiterals } from "../patterns.js";

export type { Matcher } from "../literal-scan.js";

/** One text's gate. */
export interface Gate {
  /** `re`'s matches as its scan of the whole text finds them; `re` itself when it is not gated. */
  matcher(re: RegExp): Matcher;
  /** CHANGE_CANDIDATE's matches that `mayChange` admits (all that change a window). */
  readonly changes: Matcher;
}

/** `re` through `gate`, or `re` itself without one (the whole-text scan). */
export function matcher(gate: Gate | undefined, re: RegExp): Matcher {
  return gate === undefined ? re : gate.matcher(re);
}

/** Where `lit` (a global regex) next matches at or after `from`, or -1: indexOf for a matcher. */
export function nextAt(lit: Matcher, text: string, from: number): number {
  lit.lastIndex = from;
  return lit.exec(text)?.index ?? -1;
}

// Per code unit: the automaton's column in the low byte; a flag for what normalisation changes;
// the character's class for IBANs in the top two bits.
const COLUMN = 0xff;
const CHANGE = 0x100;
const CLASS = 14;
/** Other, capital, capital, digit, digit (two bits each, oldest first): an IBAN's first four. */
const IBAN_SHAPE = 0b00_01_01_10_10;

/** A code unit's class for IBAN_RUN: 0 other, 1 capital A–Z, 2 digit, 3 small a–z. */
function ibanClass(c: number): number {
  if (c >= 65 && c <= 90) return 1;
  if (c >= 48 && c <= 57) return 2;
  return c >= 97 && c <= 122 ? 3 : 0;
}

/**
 * Compiles the gate of `patterns` (global regexes, each scanning the whole text in a detector):
 * each one whose prefixes can be read is gated, any other is left to its own scan.
 */
export function compileGate(patterns: readonly RegExp[], iban: RegExp): (text: string) => Gate {
  const keyed = new Map<RegExp, number>();
  const sticky: RegExp[] = [];
  const sets: string[][] = [];
  for (const re of new Set(patterns)) {
    if (!re.global) throw new TypeError(`gate: /${re.source}/ is not global`);
    const prefixes = prefixLiterals(re.source);
    if (prefixes === undefined) continue;
    keyed.set(re, sets.length);
    sticky.push(new RegExp(re.source, re.flags.replace(/[gy]/g, "") + "y"));
    sets.push([...prefixes]);
  }
  const automaton = compileAutomaton(sets);
  if (automaton.width > COLUMN + 1) throw new RangeError("gate: too many distinct characters");
  const changeStarts = changeStartUnits();
  const codes = new Uint16Array(0x10000);
  for (let c = 0; c < 0x10000; c++) {
    const flag = changeStarts[c] === 1 ? CHANGE : 0;
    codes[c] = (automaton.columns[c] as number) | flag | (ibanClass(c) << CLASS);
  }
  // mayChange of a code unit flagged CHANGE, judged on first sight: one that cannot change a
  // window loses its flag, so the pass stops noting it (full-width punctuation in CJK text).
  const mayChangeUnit = (c: number): boolean => {
    if (mayChange(c)) return true;
    codes[c] = (codes[c] as number) & ~CHANGE;
    return false;
  };
  const { table, reportsFrom } = automaton;
  const change = new RegExp(CHANGE_CANDIDATE.source, "y");
  const ibanSticky = new RegExp(iban.source, "y");

  return (text) => {
    const { ends, states, flagged, ibans } = pass(text, codes, table, reportsFrom);
    const changes = flagged.filter((at) => mayChangeUnit(text.charCodeAt(at)));
    const starts = startsBySet(automaton, ends, states);
    return {
      matcher(re) {
        if (re === iban) return atStarts(ibanSticky, sortedDistinct(ibans));
        const k = keyed.get(re);
        return k === undefined ? re : atStarts(sticky[k] as RegExp, sortedDistinct(starts[k]));
      },
      changes: atStarts(change, sortedDistinct(changes)),
    };
  };
}

/**
 * The pass over `text`: where strings end (with the state that says which), the characters
 * flagged CHANGE, where IBANs may start. A function of its own, its variables captured by no
 * closure, so that the engine keeps them in registers (a loop whose `text` a closure also held
 * ran twice as slow: measured).
 */
function pass(
  text: string,
  codes: Uint16Array,
  table: Int32Array,
  reportsFrom: number,
): { ends: number[]; states: number[]; flagged: number[]; ibans: number[] } {
  const ends: number[] = [];
  const states: number[] = [];
  const flagged: number[] = [];
  const ibans: number[] = [];
  let state = 0;
  let shape = 0; // the last five characters' classes; "other" before the text
  for (let i = 0; i < text.length; i++) {
    const code = codes[text.charCodeAt(i)] as number;
    state = table[state + (code & COLUMN)] as number;
    if (state >= reportsFrom) {
      ends.push(i);
      states.push(state);
    }
    if ((code & CHANGE) !== 0) flagged.push(i);
    shape = ((shape << 2) | (code >>> CLASS)) & 0x3ff;
    if (shape === IBAN_SHAPE) ibans.push(i - 3);
  }
  return { ends, states, flagged, ibans };
}
