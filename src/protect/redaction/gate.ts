/**
 * The redactor's gate: where each detector's patterns can match, from one pass over the text, so
 * that each is tried only there instead of scanning the whole text (0.3–2 ms a MiB per pattern;
 * fifteen of them). The pass steps one automaton and three small trackers per code unit:
 * - keywords and literals: the strings a match of each pattern starts with, read off its source
 *   (../patterns.ts: "AKIA", "bearer ", a word for phone), found by one Aho–Corasick automaton
 *   (../literal-scan.ts), case folded;
 * - digit runs: a run of digits and the separators a card or phone number may have, holding at
 *   least eight digits (DIGIT_RUN needs eight: `[0-9](?:…[0-9]){7,22}`);
 * - IBANs: two capital letters and two digits after a character that is no letter or digit;
 * - normalisation: characters that fold to a letter, digit, `@` or nothing, and escape starts
 *   (../normalise/view.ts `mayChange`).
 * A gated pattern runs with a sticky copy at each possible start (`atStarts`): the same matches,
 * in the same order, as its scan of the whole text. test/unit/redaction/gate.test.ts checks that
 * every finding is the same with and without the gate.
 */
import { addStarts, atStarts, compileAutomaton, sortedDistinct, type Matcher } from "../literal-scan.js";
import { CHANGE_CANDIDATE, mayChange } from "../normalise/index.js";
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

// Per code unit: the automaton's column in the low byte, then what the trackers need.
const COLUMN = 0xff;
const DIGIT = 1 << 8;
const IN_RUN = 1 << 9; // a digit or a separator DIGIT_RUN allows between digits
const SHAPE = 10; // two bits: 0 other, 1 capital A–Z, 2 digit, 3 small a–z
const CHANGE = 1 << 12;
/** Other, capital, capital, digit, digit: where an IBAN may start (at the first capital). */
const IBAN_SHAPE = 0b00_01_01_10_10;

/**
 * Compiles the gate of `patterns` (global regexes, each scanning the whole text in a detector) and
 * of the two shape patterns: each keyword pattern whose prefixes can be read is gated, any other
 * is left to its own scan.
 */
export function compileGate(
  patterns: readonly RegExp[],
  shapes: { readonly digitRun: RegExp; readonly iban: RegExp },
): (text: string) => Gate {
  const keyed = new Map<RegExp, number>();
  const sticky: RegExp[] = [];
  const sets: string[][] = [];
  const stickyOf = (re: RegExp) => new RegExp(re.source, re.flags.replace("g", "") + "y");
  for (const re of new Set(patterns)) {
    if (!re.global) throw new TypeError(`gate: /${re.source}/ is not global`);
    const prefixes = prefixLiterals(re.source);
    if (prefixes === undefined) continue;
    keyed.set(re, sets.length);
    sticky.push(stickyOf(re));
    sets.push([...prefixes]);
  }
  const automaton = compileAutomaton(sets);
  if (automaton.width > COLUMN + 1) throw new RangeError("gate: too many distinct characters");
  const codes = new Uint16Array(0x10000);
  for (let c = 0; c < 0x10000; c++) codes[c] = (automaton.columns[c] as number) | kind(c);
  const { table, reportsFrom } = automaton;
  const digitRun = stickyOf(shapes.digitRun);
  const iban = stickyOf(shapes.iban);
  const change = new RegExp(CHANGE_CANDIDATE.source, "y");

  return (text) => {
    const starts: Array<number[] | undefined> = [];
    const runs: number[] = []; // where a run of digits and separators holding eight digits starts
    const ibans: number[] = [];
    const changes: number[] = [];
    let state = 0;
    let digits = 0;
    let outside = -1; // the last code unit outside any run
    let shape = 0;
    for (let i = 0; i < text.length; i++) {
      const code = codes[text.charCodeAt(i)] as number;
      state = table[state + (code & COLUMN)] as number;
      if (state >= reportsFrom) addStarts(automaton, state, i, starts);
      if ((code & IN_RUN) === 0) {
        digits = 0;
        outside = i;
      } else if ((code & DIGIT) !== 0 && ++digits === 8) runs.push(outside + 1);
      shape = ((shape << 2) | ((code >> SHAPE) & 3)) & 0x3ff;
      if (shape === IBAN_SHAPE) ibans.push(i - 3);
      if ((code & CHANGE) !== 0) changes.push(i);
    }
    const keyStarts = sets.map((_, k) => sortedDistinct(starts[k]));
    let runStarts: Int32Array | undefined | null = null; // computed when asked for
    return {
      matcher(re) {
        if (re === shapes.digitRun)
          return atStarts(digitRun, (runStarts ??= digitRunStarts(text, runs, codes)));
        if (re === shapes.iban) return atStarts(iban, sortedDistinct(ibans));
        const k = keyed.get(re);
        return k === undefined ? re : atStarts(sticky[k] as RegExp, keyStarts[k]);
      },
      changes: atStarts(change, sortedDistinct(changes)),
    };
  };
}

/** The trackers' bits of code unit `c`. */
function kind(c: number): number {
  let k = 0;
  if (c >= 48 && c <= 57) k |= DIGIT | IN_RUN | (2 << SHAPE);
  else if (c >= 65 && c <= 90) k |= 1 << SHAPE;
  else if (c >= 97 && c <= 122) k |= 3 << SHAPE;
  // DIGIT_RUN's separators: `\r?[ ./\n-]?[ \t]{0,16}` between two digits.
  if (c === 13 || c === 32 || c === 46 || c === 47 || c === 10 || c === 45 || c === 9) k |= IN_RUN;
  if (mayChange(c)) k |= CHANGE;
  return k;
}

/** Not after one of these (DIGIT_RUN's lookbehind); "+" may start a run. */
const NOT_AFTER = /[0-9A-Za-z+_.]/;

/**
 * Where DIGIT_RUN may match in the runs found: at a digit, or a "+" just before the run, that its
 * lookbehind admits. Its match holds eight digits with only separators between them, so it lies in
 * one such run (the "+" before it, an "X" after it).
 */
function digitRunStarts(text: string, runs: readonly number[], codes: Uint16Array): Int32Array | undefined {
  const out: number[] = [];
  let done = -1;
  for (const from of runs) {
    if (from <= done) continue;
    const admits = (at: number) => at === 0 || !NOT_AFTER.test(text.charAt(at - 1));
    if (from > 0 && text.charCodeAt(from - 1) === 43 && admits(from - 1)) out.push(from - 1);
    let i = from;
    for (; i < text.length && ((codes[text.charCodeAt(i)] as number) & IN_RUN) !== 0; i++) {
      if (((codes[text.charCodeAt(i)] as number) & DIGIT) !== 0 && admits(i)) out.push(i);
    }
    done = i;
  }
  return sortedDistinct(out);
}
