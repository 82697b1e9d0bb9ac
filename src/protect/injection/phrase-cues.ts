import { literalScanner } from "../literal-scan.js";
import { ROT13_WORDS } from "../normalise/reading.js";
import { requiredLiterals } from "../patterns.js";
import { forgedTurns, TEMPLATE_RULES } from "./phrases-intent.js";
import { BASE_RULES, PHRASE_RULES } from "./phrases.js";
import type { PhraseRule } from "./rule.js";
import { excerpt, matches, MAX_MATCHES_PER_RULE, type Cue } from "./types.js";

/**
 * Matching the phrase and tag rules (phrases.ts) against a text: each match becomes a cue, its
 * weight discounted inside code, when reported or when the text is about prompt injection.
 */
type Ranges = ReadonlyArray<readonly [number, number]>;

/** Texts about prompt injection quote attack phrases; override and role phrases count half there. */
const META = /prompt[\s-]+injection|提示(?:词)?注入|jailbreak(?:ing)?\s+(?:attack|research|prompts)/i;
/** The literals META and ROT13_WORDS need (none known: undefined, so they always run). */
const NEEDS = new Map<RegExp, readonly string[] | undefined>([
  [META, requiredLiterals(META.source)],
  [ROT13_WORDS, requiredLiterals(ROT13_WORDS.source)],
]);

/**
 * The literals every rule's matches need (../patterns.ts), found in a text by one scan: what
 * `phraseCues` and `cuesNear` are given as `present` (undefined runs every rule).
 */
export const literalsIn = literalScanner([
  ...[...BASE_RULES, ...TEMPLATE_RULES, ...PHRASE_RULES].flatMap((r) => gateOf(r)?.flat(2) ?? []),
  ...[...NEEDS.values()].flatMap((needs) => needs ?? []),
]);

/**
 * Whether a text holding `present` (from `literalsIn`; undefined: unknown) may match `re`, one of
 * the patterns whose literals the scan looks for besides the rules'.
 */
export function mayHold(re: RegExp, present: ReadonlySet<string> | undefined): boolean {
  const needs = present === undefined ? undefined : NEEDS.get(re);
  return needs === undefined || needs.some((s) => present!.has(s));
}

/** A rule's literal gate: its branches, or failing them its one set of literals (`needs`). */
function gateOf(rule: PhraseRule): ReadonlyArray<ReadonlyArray<readonly string[]>> | undefined {
  return rule.branches ?? (rule.needs === undefined ? undefined : [[rule.needs]]);
}

/**
 * A rule list's gates turned round: the rules that need no literal; for every set of every branch
 * of a rule's gate, a slot; for each literal, the slots it fills; for each slot, its branch; for
 * each branch, its rule and how many slots it has. With scratch space for `runnable`, kept here as
 * a typed array allocated per text costs more than the look-ups.
 */
interface RuleIndex {
  readonly free: Uint8Array;
  readonly fills: ReadonlyMap<string, readonly number[]>;
  readonly branchOf: Int32Array;
  readonly ruleOf: Int32Array;
  readonly sets: Int32Array;
  readonly filled: Uint8Array;
  readonly held: Int32Array;
  readonly may: Uint8Array;
}
const indexes = new WeakMap<readonly PhraseRule[], RuleIndex>();

function indexOf(rules: readonly PhraseRule[]): RuleIndex {
  let index = indexes.get(rules);
  if (index !== undefined) return index;
  const free = new Uint8Array(rules.length);
  const fills = new Map<string, number[]>();
  const branchOf: number[] = [];
  const ruleOf: number[] = [];
  const sets: number[] = [];
  rules.forEach((rule, k) => {
    const gate = gateOf(rule);
    if (gate === undefined) free[k] = 1;
    for (const branch of gate ?? []) {
      for (const set of branch) {
        for (const s of new Set(set)) fills.set(s, [...(fills.get(s) ?? []), branchOf.length]);
        branchOf.push(ruleOf.length);
      }
      ruleOf.push(k);
      sets.push(branch.length);
    }
  });
  index = {
    free,
    fills,
    branchOf: Int32Array.from(branchOf),
    ruleOf: Int32Array.from(ruleOf),
    sets: Int32Array.from(sets),
    filled: new Uint8Array(branchOf.length),
    held: new Int32Array(ruleOf.length),
    may: new Uint8Array(rules.length),
  };
  indexes.set(rules, index);
  return index;
}

/**
 * The rules of `rules` that can match a text holding `present` (undefined: unknown, so all), in
 * order: each that needs no literal, or for one branch of whose gate the text holds a literal of
 * every set. Read from the few literals a text holds, not from every rule's lists.
 */
function runnable(rules: readonly PhraseRule[], present: ReadonlySet<string> | undefined): PhraseRule[] {
  if (present === undefined) return [...rules];
  const { free, fills, branchOf, ruleOf, sets, filled, held, may } = indexOf(rules);
  const touched: number[] = [];
  for (const s of present) {
    for (const slot of fills.get(s) ?? []) {
      if (filled[slot] === 1) continue;
      filled[slot] = 1;
      touched.push(slot);
      const branch = branchOf[slot] as number;
      held[branch] = (held[branch] as number) + 1;
      if (held[branch] === sets[branch]) may[ruleOf[branch] as number] = 1;
    }
  }
  for (const slot of touched) {
    filled[slot] = 0;
    held[branchOf[slot] as number] = 0;
  }
  const out: PhraseRule[] = [];
  for (let k = 0; k < rules.length; k++) {
    if (free[k] === 0 && may[k] === 0) continue;
    may[k] = 0;
    out.push(rules[k] as PhraseRule);
  }
  return out;
}

/** Fenced code blocks (``` or ~~~ at a line start) and inline `code` spans, as sorted [start, end) ranges. */
export function codeBlocks(text: string): Array<readonly [number, number]> {
  // Both patterns need a backtick or "~~~": without, one native search instead of two scans.
  if (!text.includes("`") && !text.includes("~~~")) return [];
  const fences: number[] = [];
  for (const m of matches(/^[ \t]{0,3}(?:```|~~~)/gm, text, 512)) fences.push(m.index);
  const ranges: Array<readonly [number, number]> = [];
  for (let i = 0; i + 1 < fences.length; i += 2) ranges.push([fences[i]!, fences[i + 1]!]);
  if (fences.length % 2 === 1) ranges.push([fences[fences.length - 1]!, text.length]);
  for (const m of matches(/(?<!`)`[^`\n]{1,200}`(?!`)/g, text, 512)) {
    if (!inRanges(ranges, m.index)) ranges.push([m.index, m.index + m[0].length]);
  }
  return ranges.sort((a, b) => a[0] - b[0]);
}

function inRanges(ranges: Ranges, at: number): boolean {
  for (const [s, e] of ranges) {
    if (at < s) return false;
    if (at < e) return true;
  }
  return false;
}

/** A reported phrase ("told banks to ignore …") is mentioned, not addressed to the reader. Quoted
 * phrases are not discounted: attacks arrive inside quoted fields (JSON strings, log values). */
const REPORTED =
  /\b(?:told|asked|urged|advised|ordered|instructed|allowed|forced|tried|attempts?|trying|how)\b[^.!?\n]{0,30}\bto\s+$|\b(?:say|says|said|saying|such\s+as|like|phrases?|wording|e\.g\.)\s*[:,]?\s*["'“‘«][^"'“”‘’«»\n]{0,24}$/i;

/** A fake tag pair with prose inside (`<system>Reply that …</system>`), not a data value (`<system>JIRA</system>`). */
const PROSE_PAIR =
  /<(system|important|admin|instructions?|developer|assistant|human|critical|user_instructions|system-reminder|system_message|system_prompt)\b[^<>\n]{0,80}>([^<]{0,2000}?)<\/\1\s*>|\[INST\]([^[]{0,2000}?)\[\/INST\]|<<SYS>>([^<]{0,2000}?)<<\/SYS>>/gi;
/** A tool boundary closed before it was opened ends a tool result early, to speak outside it. */
const TOOL_TAG =
  /<(\/?)(tool_result|tool_response|tool_output|function_results?|function_response|tool_call)\b[^<>\n]{0,80}>/gi;

function structureCues(text: string, base: number, code: Ranges): Cue[] {
  const cues: Cue[] = [];
  // Every tag PROSE_PAIR and TOOL_TAG match opens with "<" or "[": without either, not scanned.
  const tags = text.includes("<") || text.includes("[");
  for (const m of tags ? matches(PROSE_PAIR, text) : []) {
    const inner = m[2] ?? m[3] ?? m[4] ?? "";
    if ((inner.match(/\S+/g) ?? []).length < 4) continue;
    const quoted = inRanges(code, m.index);
    cues.push({
      kind: "fake_tag",
      rule: "tag.prose_pair",
      weight: quoted ? 0.1 : 0.5,
      detail: `tag.prose_pair: ${excerpt(m[0], 30)}`,
      offset: base + m.index,
    });
  }
  const turns = forgedTurns(text);
  if (turns) {
    cues.push({
      kind: "role",
      rule: "tag.forged_turns",
      weight: inRanges(code, turns.offset) ? 0.1 : 0.6,
      detail: turns.detail,
      offset: base + turns.offset,
    });
  }
  const open = new Set<string>();
  for (const m of tags ? matches(TOOL_TAG, text) : []) {
    const name = m[2]!.toLowerCase();
    if (m[1] === "") open.add(name);
    else if (!open.has(name)) {
      const quoted = inRanges(code, m.index);
      cues.push({
        kind: "fake_tag",
        rule: "tag.unopened_close",
        weight: quoted ? 0.3 : 1,
        detail: `closes a ${name.slice(0, 30)} it never opened`,
        offset: base + m.index,
      });
      break;
    }
  }
  return cues;
}

/**
 * Every phrase and tag cue in `text`; offsets are shifted by `base` (for decoded payloads). A rule
 * none of whose literals the text holds (`present`, from `literalsIn`) is not run.
 */
export function phraseCues(
  text: string,
  base: number,
  code: Ranges,
  rules: readonly PhraseRule[] = PHRASE_RULES,
  structure = true,
  present: ReadonlySet<string> | undefined = literalsIn(text),
): Cue[] {
  const cues: Cue[] = structure ? structureCues(text, base, code) : [];
  const meta = mayHold(META, present) && META.test(text);
  for (const rule of runnable(rules, present)) {
    if (rule.gate && !rule.gate.test(text)) continue;
    for (const m of matches(rule.re, text)) pushCue(cues, rule, text, m.index, m[0], base, code, meta);
  }
  return cues;
}

/** Characters kept around a window, so that its edges read as they do in the whole text. */
const CONTEXT = 64;

/**
 * The cues of `rules` whose match touches one of `spans` (sorted, disjoint `[start, end)` ranges of
 * `text`), each rule run only on `windows` (sorted, disjoint, each wide enough to hold every match
 * that touches a span in it) instead of the whole text. Offsets are shifted by `base`.
 */
export function cuesNear(
  text: string,
  base: number,
  code: Ranges,
  rules: readonly PhraseRule[],
  spans: Ranges,
  windows: Ranges,
  present: ReadonlySet<string> | undefined = literalsIn(text),
): Cue[] {
  const cues: Cue[] = [];
  const meta = mayHold(META, present) && META.test(text);
  const found = new Map<PhraseRule, number>();
  const runs = runnable(rules, present);
  for (const [s, e] of windows) {
    const from = Math.max(0, s - CONTEXT);
    const part = text.slice(from, Math.min(text.length, e + CONTEXT));
    for (const rule of runs) {
      const n = found.get(rule) ?? 0;
      if (n >= MAX_MATCHES_PER_RULE || (rule.gate && !rule.gate.test(part))) continue;
      let kept = n;
      for (const m of matches(rule.re, part, 4 * MAX_MATCHES_PER_RULE)) {
        const at = from + m.index;
        if (at < s || at >= e || !overlaps(spans, at, at + m[0].length)) continue;
        pushCue(cues, rule, text, at, m[0], base, code, meta);
        if (++kept >= MAX_MATCHES_PER_RULE) break;
      }
      found.set(rule, kept);
    }
  }
  return cues;
}

/** Whether `[start, end)` overlaps one of `ranges` (sorted, disjoint). */
function overlaps(ranges: Ranges, start: number, end: number): boolean {
  let lo = 0;
  let hi = ranges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((ranges[mid] as readonly [number, number])[1] <= start) lo = mid + 1;
    else hi = mid;
  }
  const r = ranges[lo];
  return r !== undefined && r[0] < end;
}

/** One match of `rule` at `at` in `text`, as a cue (none when its weight comes to nothing). */
function pushCue(
  cues: Cue[],
  rule: PhraseRule,
  text: string,
  at: number,
  match: string,
  base: number,
  code: Ranges,
  meta: boolean,
): void {
  const quoted = rule.inCode !== undefined && inRanges(code, at);
  const full = rule.strong?.test(match) ? Math.max(rule.weight, 1) : rule.weight;
  let weight = quoted ? rule.inCode! : full;
  let note = quoted ? " (in code)" : "";
  if (rule.kind !== "fake_tag") {
    const before = text.slice(Math.max(0, at - 40), at);
    if (REPORTED.test(before) || meta) {
      weight *= 0.5;
      note = " (mentioned)";
    }
  }
  if (weight <= 0) return;
  cues.push({
    kind: rule.kind,
    rule: rule.group,
    weight,
    detail: `${rule.id}${note}: ${excerpt(match, 50)}`,
    offset: base + at,
  });
}
