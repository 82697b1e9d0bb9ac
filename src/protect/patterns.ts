/**
 * Keyword gates, read off a regex's own pattern. For the injection detector's phrase rules, the
 * literal strings one of which every match must contain ("ignore", "disregard", … for an
 * override): a text holding none of a rule's strings cannot match it, so the rule is not run
 * there. For the redactor's detectors, the strings one of which every match starts with: the
 * pattern is tried only where one starts. One scan (literal-scan.ts) finds the strings for every
 * rule at once: most rules then cost nothing on most text (tool output rarely says "disregard" or
 * "system prompt"), where each used to cost a scan of the whole text.
 *
 * The strings are derived, not written: a small parser reads the pattern and keeps only what it
 * is sure of. What it does not understand, or a pattern that can match without any literal (a
 * class, an optional word, a branch with none), gives no gate and the rule always runs.
 */

/** A pattern's parts, as far as literals go. */
type Node =
  | { readonly kind: "char"; readonly ch: string }
  // A class, an escape such as \s, a backreference: one or more characters. `chars`: the characters
  // of a small class (`[ \t]`, `[2-9]`), each one alone; absent when there are many or unknown.
  | { readonly kind: "other"; readonly chars?: readonly string[] }
  | { readonly kind: "assert" } // \b, ^, $, lookarounds: nothing consumed
  | { readonly kind: "group"; readonly alt: Node[][] };

interface Item {
  readonly node: Node;
  readonly min: number;
  readonly max: number;
}

class Unsupported extends Error {}

/** A class of at most this many characters is read as its characters (for prefixes). */
const CLASS_MAX = 10;

/** Strings this long make a gate worth having: three ASCII characters, or two others (a CJK word). */
const worthIt = (s: string): boolean => s.length >= (/^[\x20-\x7e]*$/.test(s) ? 3 : 2);

/**
 * The lower-case literals one of which every match of `source` contains, or undefined when no such
 * set is known. Case is ignored whatever the flags: a gate may let through more, never less.
 */
export function requiredLiterals(source: string): readonly string[] | undefined {
  try {
    const p = new Parser(source);
    const alt = p.alternatives();
    if (!p.done()) return undefined;
    const need = ofAlternatives(alt);
    return need !== undefined && need.every(worthIt) ? need : undefined;
  } catch (err) {
    if (err instanceof Unsupported) return undefined;
    throw err;
  }
}

function ofAlternatives(alt: Node[][]): string[] | undefined {
  const out = new Set<string>();
  for (const seq of alt) {
    const need = ofSequence(seq);
    if (need === undefined) return undefined;
    for (const s of need) out.add(s);
  }
  return [...out];
}

/** The best of what a sequence requires (requiredSets). */
function ofSequence(seq: Node[] | Item[]): string[] | undefined {
  let best: string[] | undefined;
  for (const c of requiredSets(seq as Item[])) if (best === undefined || better(c, best)) best = c;
  return best;
}

/** What a sequence requires: each run of required literal characters, each required group. */
function requiredSets(items: readonly Item[]): string[][] {
  const candidates: string[][] = [];
  let run = "";
  const endRun = () => {
    if (run.length > 0) candidates.push([run]);
    run = "";
  };
  for (const { node, min, max } of items) {
    if (node.kind === "assert") continue; // consumes nothing: the run goes on
    if (node.kind === "char" && min === 1 && max === 1) {
      run += node.ch.toLowerCase();
      continue;
    }
    endRun();
    if (node.kind === "group" && min >= 1) {
      const need = ofAlternatives(node.alt);
      if (need !== undefined) candidates.push(need);
    }
  }
  endRun();
  return candidates;
}

/** Longer shortest string first (fewer texts hold it), then fewer strings. */
function better(a: string[], b: string[]): boolean {
  const la = Math.min(...a.map((s) => s.length));
  const lb = Math.min(...b.map((s) => s.length));
  return la !== lb ? la > lb : a.length < b.length;
}

/**
 * A finer gate than requiredLiterals: for each top-level branch of `source`, every set of literals
 * (lower case) one of which each match of that branch holds (each run of required characters,
 * each required group); a text can match only where, for some branch, it holds one literal of
 * every set. "the real task is" needs "the", "real" and "task", not only "the". Undefined when a
 * branch has no such set.
 */
export function literalBranches(source: string): ReadonlyArray<ReadonlyArray<readonly string[]>> | undefined {
  try {
    const p = new Parser(source);
    const alt = p.alternatives();
    if (!p.done()) return undefined;
    const branches: string[][][] = [];
    for (const seq of alt) {
      const sets = requiredSets(seq as unknown as Item[]).filter((set) => set.every(worthIt));
      if (sets.length === 0) return undefined;
      branches.push(sets);
    }
    return branches;
  } catch (err) {
    if (err instanceof Unsupported) return undefined;
    throw err;
  }
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  n: "\n",
  r: "\r",
  t: "\t",
  f: "\f",
  v: "\v",
  "0": "\0",
};

/** A recursive-descent reader of the regex syntax the rules use; anything else is Unsupported. */
class Parser {
  private i = 0;
  constructor(private readonly s: string) {}

  done(): boolean {
    return this.i === this.s.length;
  }

  alternatives(): Node[][] {
    const alt: Node[][] = [this.sequence() as unknown as Node[]];
    while (this.s[this.i] === "|") {
      this.i++;
      alt.push(this.sequence() as unknown as Node[]);
    }
    return alt;
  }

  private sequence(): Item[] {
    const items: Item[] = [];
    while (this.i < this.s.length && this.s[this.i] !== "|" && this.s[this.i] !== ")") {
      const node = this.atom();
      const [min, max] = this.quantifier();
      if (node.kind === "assert" && (min !== 1 || max !== 1)) throw new Unsupported();
      items.push({ node, min, max });
    }
    return items;
  }

  private quantifier(): [number, number] {
    const c = this.s[this.i];
    let q: [number, number] | undefined;
    if (c === "*") q = [0, Infinity];
    else if (c === "+") q = [1, Infinity];
    else if (c === "?") q = [0, 1];
    if (q !== undefined) this.i++;
    else if (c === "{") {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.s.slice(this.i));
      if (m === null) throw new Unsupported(); // a literal "{" is not worth the doubt
      this.i += m[0].length;
      const min = Number(m[1]);
      q = [min, m[2] === undefined ? min : m[3] === "" ? Infinity : Number(m[3])];
    } else return [1, 1];
    if (this.s[this.i] === "?") this.i++; // lazy: the same counts
    return q;
  }

  private atom(): Node {
    const c = this.s[this.i++] as string;
    if (c === "(") return this.group();
    if (c === "[") {
      return { kind: "other", chars: this.classChars() };
    }
    if (c === "^" || c === "$") return { kind: "assert" };
    if (c === ".") return { kind: "other" };
    if (c === "\\") return this.escape();
    if ("*+?{}]".includes(c)) throw new Unsupported();
    return { kind: "char", ch: c };
  }

  private group(): Node {
    let look = false;
    if (this.s[this.i] === "?") {
      const head = this.s.slice(this.i, this.i + 3);
      if (head.startsWith("?:")) this.i += 2;
      else if (head.startsWith("?=") || head.startsWith("?!")) {
        this.i += 2;
        look = true;
      } else if (head === "?<=" || head === "?<!") {
        this.i += 3;
        look = true;
      } else if (head.startsWith("?<")) {
        const close = this.s.indexOf(">", this.i);
        if (close < 0) throw new Unsupported();
        this.i = close + 1;
      } else throw new Unsupported();
    }
    const alt = this.alternatives();
    if (this.s[this.i++] !== ")") throw new Unsupported();
    return look ? { kind: "assert" } : { kind: "group", alt };
  }

  /** Reads a class; its characters when it has at most CLASS_MAX of them, written plainly. */
  private classChars(): string[] | undefined {
    const chars: string[] = [];
    let plain = this.s[this.i] !== "^";
    while (this.i < this.s.length && this.s[this.i] !== "]") {
      let c = this.s[this.i++] as string;
      if (c === "\\") {
        const e = this.s[this.i++] ?? "";
        if (Object.hasOwn(SIMPLE_ESCAPES, e)) c = SIMPLE_ESCAPES[e] as string;
        else if (/^[\\\]^$.|?*+(){}[/-]$/.test(e)) c = e;
        else plain = false; // \d, \w, \u…: not read here
      }
      const to = this.s[this.i + 1];
      if (this.s[this.i] === "-" && to !== undefined && to !== "]") {
        // A range: read when short and plain; otherwise its end is read as one more character.
        if (!plain || to === "\\" || to < c || to.charCodeAt(0) - c.charCodeAt(0) >= CLASS_MAX) {
          plain = false;
          continue;
        }
        this.i += 2;
        for (let k = c.charCodeAt(0); k <= to.charCodeAt(0); k++) chars.push(String.fromCharCode(k));
        continue;
      }
      chars.push(c);
    }
    if (this.s[this.i++] !== "]") throw new Unsupported();
    return plain && chars.length > 0 && chars.length <= CLASS_MAX ? [...new Set(chars)] : undefined;
  }

  private escape(): Node {
    const c = this.s[this.i++];
    if (c === undefined) throw new Unsupported();
    if (c === "b" || c === "B") return { kind: "assert" };
    if ("sSwWdD".includes(c) || (c >= "1" && c <= "9")) return { kind: "other" };
    if (c === "p" || c === "P") {
      const close = this.s.indexOf("}", this.i);
      if (this.s[this.i] !== "{" || close < 0) throw new Unsupported();
      this.i = close + 1;
      return { kind: "other" };
    }
    if (c === "u" || c === "x") {
      const m = (c === "u" ? /^[0-9A-Fa-f]{4}/ : /^[0-9A-Fa-f]{2}/).exec(this.s.slice(this.i));
      if (m === null) throw new Unsupported();
      this.i += m[0].length;
      return { kind: "char", ch: String.fromCharCode(parseInt(m[0], 16)) };
    }
    if (Object.hasOwn(SIMPLE_ESCAPES, c)) return { kind: "char", ch: SIMPLE_ESCAPES[c] as string };
    if (/[A-Za-z]/.test(c)) throw new Unsupported(); // \c, \k and others: not read here
    return { kind: "char", ch: c };
  }
}

// --- Prefixes: where a match can start. ---

/** At most this many prefixes a pattern, each at most this long: enough to be rare in text. */
const PREFIX_COUNT = 64;
const PREFIX_LENGTH = 16;

/** Strings a match may start with: `open` ones are the whole match so far (they may grow). */
interface Prefixes {
  readonly open: string[];
  readonly closed: string[];
}

/**
 * The strings one of which every match of `source` starts with (its leading assertions, such as
 * a lookbehind, ignored), as written; undefined when none is known or one is shorter than two
 * characters. A scanner that folds case may match them case-insensitively: it finds more starts,
 * never fewer. Optional characters and small classes (`[ \t]?`, `[2-9]`) branch; anything else
 * ends the strings where it stands.
 */
export function prefixLiterals(source: string): readonly string[] | undefined {
  try {
    const p = new Parser(source);
    const alt = p.alternatives() as unknown as Item[][];
    if (!p.done()) return undefined;
    const found = prefixesOf(alt);
    const all = [...new Set([...found.open, ...found.closed])].sort((a, b) => a.length - b.length);
    if (all.length === 0 || (all[0] as string).length < 2) return undefined;
    const kept: string[] = []; // a string that starts with a kept one adds nothing
    for (const s of all) if (!kept.some((k) => s.startsWith(k))) kept.push(s);
    return kept;
  } catch (err) {
    if (err instanceof Unsupported) return undefined;
    throw err;
  }
}

function prefixesOf(alt: readonly Item[][]): Prefixes {
  const open: string[] = [];
  const closed: string[] = [];
  for (const seq of alt) {
    const r = extend([""], seq);
    open.push(...r.open);
    closed.push(...r.closed);
  }
  return { open, closed };
}

function extend(start: string[], items: readonly Item[]): Prefixes {
  let open = start;
  const closed: string[] = [];
  for (const { node, min, max } of items) {
    if (open.length === 0) break;
    if (node.kind === "assert") continue; // consumes nothing
    // Zero or more: nothing certain follows. Otherwise one repetition, then certain only if exactly one.
    const once = min === 0 && max > 1 ? undefined : step(open, node);
    let next: Prefixes | undefined;
    if (once === undefined) next = undefined;
    else if (min === 1 && max === 1) next = once;
    else if (min === 0) next = { open: [...open, ...once.open], closed: once.closed };
    else next = { open: [], closed: [...once.open, ...once.closed] };
    if (next === undefined || next.open.length + next.closed.length + closed.length > PREFIX_COUNT) {
      closed.push(...open);
      return { open: [], closed };
    }
    open = next.open;
    closed.push(...next.closed);
  }
  return { open, closed };
}

/** `open` followed by one repetition of `node`, or undefined when `node` is not read. */
function step(open: readonly string[], node: Node): Prefixes | undefined {
  const choices: Prefixes | undefined =
    node.kind === "char"
      ? { open: [node.ch], closed: [] }
      : node.kind === "group"
        ? prefixesOf(node.alt as unknown as Item[][])
        : node.kind === "other" && node.chars !== undefined
          ? { open: [...node.chars], closed: [] }
          : undefined;
  if (choices === undefined) return undefined;
  const out: Prefixes = { open: [], closed: [] };
  for (const p of open) {
    for (const q of choices.open) out.open.push(p + q);
    for (const q of choices.closed) out.closed.push(p + q);
  }
  const tooLong = (s: string) => s.length > PREFIX_LENGTH;
  return out.open.some(tooLong) || out.closed.some(tooLong) ? undefined : out;
}
