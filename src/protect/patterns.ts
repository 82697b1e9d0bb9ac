/**
 * Keyword gates for the phrase rules, read off each rule's own pattern: the literal strings one of
 * which every match must contain ("ignore", "disregard", … for an override). A text holding none
 * of a rule's strings cannot match it, so the rule is not run there. One scan finds which strings
 * a text holds, for every rule at once: most rules then cost nothing on most text (tool output
 * rarely says "disregard" or "system prompt"), where each used to cost a scan of the whole text.
 *
 * The strings are derived, not written: a small parser reads the pattern and keeps only what it
 * is sure of. What it does not understand, or a pattern that can match without any literal (a
 * class, an optional word, a branch with none), gives no gate and the rule always runs.
 */

/** A pattern's parts, as far as literals go. */
type Node =
  | { readonly kind: "char"; readonly ch: string }
  | { readonly kind: "other" } // a class, an escape such as \s, a backreference: one or more characters
  | { readonly kind: "assert" } // \b, ^, $, lookarounds: nothing consumed
  | { readonly kind: "group"; readonly alt: Node[][] };

interface Item {
  readonly node: Node;
  readonly min: number;
  readonly max: number;
}

class Unsupported extends Error {}

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

/** The best of what a sequence requires: each run of required literal characters, each required group. */
function ofSequence(seq: Node[] | Item[]): string[] | undefined {
  const items = seq as Item[];
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
  let best: string[] | undefined;
  for (const c of candidates) if (best === undefined || better(c, best)) best = c;
  return best;
}

/** Longer shortest string first (fewer texts hold it), then fewer strings. */
function better(a: string[], b: string[]): boolean {
  const la = Math.min(...a.map((s) => s.length));
  const lb = Math.min(...b.map((s) => s.length));
  return la !== lb ? la > lb : a.length < b.length;
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
      this.skipClass();
      return { kind: "other" };
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

  private skipClass(): void {
    while (this.i < this.s.length && this.s[this.i] !== "]") {
      if (this.s[this.i] === "\\") this.i++;
      this.i++;
    }
    if (this.s[this.i++] !== "]") throw new Unsupported();
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

/** A code unit as case-insensitive matching compares it: upper case when that is one unit. */
const FOLDED = new Uint16Array(0x10000);
for (let c = 0; c < 0x10000; c++) {
  const up = c >= 0xd800 && c <= 0xdfff ? "" : String.fromCharCode(c).toUpperCase();
  FOLDED[c] = up.length === 1 ? up.charCodeAt(0) : c;
}
// With the `u` flag, case folding also joins these to letters their upper case does not give.
FOLDED[0x212a] = 0x4b; // Kelvin sign: k
FOLDED[0x017f] = 0x53; // long s: s
FOLDED[0x2126] = 0x03a9; // ohm sign: ω
FOLDED[0x212b] = 0x00c5; // angstrom sign: å
FOLDED[0x1e9e] = 0x00df; // capital sharp s: ß
FOLDED[0x03f4] = 0x0398; // capital theta symbol: θ

/**
 * Which of `strings` a text holds, ignoring case, found by one pass over its code units (an
 * Aho–Corasick automaton: one table step a character, whatever the number of strings; a regex
 * alternation of them all costs ten times more).
 */
export function literalScanner(strings: Iterable<string>): (text: string) => ReadonlySet<string> {
  const all = [...new Set(strings)];
  // The trie: ASCII steps in a flat table, others in a map per state.
  const ascii: number[] = [];
  const other: Array<Map<number, number>> = [];
  const ends: number[][] = [];
  const add = () => {
    for (let c = 0; c < 128; c++) ascii.push(-1);
    other.push(new Map());
    ends.push([]);
    return ends.length - 1;
  };
  add();
  const step = (state: number, c: number): number =>
    c < 128 ? (ascii[state * 128 + c] as number) : ((other[state] as Map<number, number>).get(c) ?? -1);
  all.forEach((str, k) => {
    let state = 0;
    for (let i = 0; i < str.length; i++) {
      const c = FOLDED[str.charCodeAt(i)] as number;
      let next = step(state, c);
      if (next < 0) {
        next = add();
        if (c < 128) ascii[state * 128 + c] = next;
        else (other[state] as Map<number, number>).set(c, next);
      }
      state = next;
    }
    (ends[state] as number[]).push(k);
  });
  // Failure links, breadth first; ASCII steps completed into a table (a miss goes where the
  // failure link's step goes), other steps followed through the links at match time.
  const fail = new Int32Array(ends.length);
  const order: number[] = [];
  for (let c = 0; c < 128; c++) {
    const s = ascii[c] as number;
    if (s < 0) ascii[c] = 0;
    else order.push(s);
  }
  for (const s of other[0] as Map<number, number>) order.push(s[1]);
  for (let q = 0; q < order.length; q++) {
    const state = order[q] as number;
    (ends[state] as number[]).push(...(ends[fail[state] as number] as number[]));
    for (let c = 0; c < 128; c++) {
      const s = ascii[state * 128 + c] as number;
      if (s < 0) ascii[state * 128 + c] = ascii[(fail[state] as number) * 128 + c] as number;
      else {
        fail[s] = ascii[(fail[state] as number) * 128 + c] as number;
        order.push(s);
      }
    }
    for (const [c, s] of other[state] as Map<number, number>) {
      let f = fail[state] as number;
      while (f > 0 && step(f, c) < 0) f = fail[f] as number;
      const to = step(f, c);
      fail[s] = to >= 0 && to !== s ? to : 0;
      order.push(s);
    }
  }
  const table = Int32Array.from(ascii);
  const hasEnd = Uint8Array.from(ends, (e) => (e.length > 0 ? 1 : 0));
  /** Code units outside ASCII that some string has: any other one sends the automaton home. */
  const used = new Uint8Array(0x10000);
  for (const str of all) for (let i = 0; i < str.length; i++) used[FOLDED[str.charCodeAt(i)] as number] = 1;
  return (text) => {
    const found = new Set<string>();
    let state = 0;
    for (let i = 0; i < text.length; i++) {
      const c = FOLDED[text.charCodeAt(i)] as number;
      if (c < 128) state = table[state * 128 + c] as number;
      else if (used[c] === 0) state = 0;
      else {
        let next = step(state, c);
        while (next < 0 && state > 0) {
          state = fail[state] as number;
          next = step(state, c);
        }
        state = next < 0 ? 0 : next;
      }
      if (hasEnd[state] === 1) for (const k of ends[state] as number[]) found.add(all[k] as string);
    }
    return found;
  };
}
