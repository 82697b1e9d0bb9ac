/**
 * Finding many literal strings in a text at once, ignoring case: one pass over its code units with
 * an Aho–Corasick automaton (one table step a character, whatever the number of strings; a regex
 * alternation of them all costs ten times more). The strings are the gates read off patterns
 * (patterns.ts): which strings a text holds (the injection detector's phrase rules), or where
 * they start (the redactor's detectors).
 */

let foldedCache: Uint16Array | undefined;

/**
 * Each code unit as case-insensitive matching compares it: upper case when that is one unit.
 * Built on first use (65,536 case mappings), not when a module that may never scan loads.
 */
export function foldedUnits(): Uint16Array {
  if (foldedCache !== undefined) return foldedCache;
  const f = new Uint16Array(0x10000);
  for (let c = 0; c < 0x10000; c++) {
    const up = c >= 0xd800 && c <= 0xdfff ? "" : String.fromCharCode(c).toUpperCase();
    f[c] = up.length === 1 ? up.charCodeAt(0) : c;
  }
  // With the `u` flag, case folding also joins these to letters their upper case does not give.
  f[0x212a] = 0x4b; // Kelvin sign: k
  f[0x017f] = 0x53; // long s: s
  f[0x2126] = 0x03a9; // ohm sign: ω
  f[0x212b] = 0x00c5; // angstrom sign: å
  f[0x1e9e] = 0x00df; // capital sharp s: ß
  f[0x03f4] = 0x0398; // capital theta symbol: θ
  return (foldedCache = f);
}

/** Which of `strings` a text holds, ignoring case. */
export function literalScanner(strings: Iterable<string>): (text: string) => ReadonlySet<string> {
  const folded = foldedUnits();
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
      const c = folded[str.charCodeAt(i)] as number;
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
  for (const str of all) for (let i = 0; i < str.length; i++) used[folded[str.charCodeAt(i)] as number] = 1;
  return (text) => {
    const found = new Set<string>();
    let state = 0;
    for (let i = 0; i < text.length; i++) {
      const c = folded[text.charCodeAt(i)] as number;
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

/**
 * An automaton finding where the strings of up to 31 sets start, ignoring case: a dense table with
 * a column per distinct (folded) character of the strings and one for every other character.
 * Step: `state = table[state + columns[code unit]]`; a state at or past `reportsFrom` ends
 * strings, listed in `reports[state / width]` as pairs of length and bit mask of their sets.
 */
export interface Automaton {
  readonly columns: Uint16Array;
  readonly width: number;
  readonly table: Int32Array;
  readonly reportsFrom: number;
  readonly reports: ReadonlyArray<readonly number[]>;
}

export function compileAutomaton(sets: ReadonlyArray<readonly string[]>): Automaton {
  const folded = foldedUnits();
  if (sets.length > 31) throw new RangeError("compileAutomaton: at most 31 sets");
  const column = new Map<number, number>();
  for (const set of sets) {
    for (const str of set) {
      if (str.length === 0) throw new RangeError("compileAutomaton: empty string");
      for (let i = 0; i < str.length; i++) {
        const c = folded[str.charCodeAt(i)] as number;
        if (!column.has(c)) column.set(c, column.size + 1);
      }
    }
  }
  const width = column.size + 1;
  const byFolded = new Uint16Array(0x10000);
  for (const [c, col] of column) byFolded[c] = col;
  const columns = new Uint16Array(0x10000);
  for (let c = 0; c < 0x10000; c++) columns[c] = byFolded[folded[c] as number] as number;

  // The trie; each state's outputs as string length → bit mask of the sets that string is in.
  const next: Int32Array[] = [new Int32Array(width).fill(-1)];
  const outputs: Array<Map<number, number>> = [new Map()];
  sets.forEach((set, k) => {
    for (const str of set) {
      let state = 0;
      for (let i = 0; i < str.length; i++) {
        const row = next[state] as Int32Array;
        const col = columns[str.charCodeAt(i)] as number;
        if ((row[col] as number) < 0) {
          row[col] = next.length;
          next.push(new Int32Array(width).fill(-1));
          outputs.push(new Map());
        }
        state = row[col] as number;
      }
      const out = outputs[state] as Map<number, number>;
      out.set(str.length, (out.get(str.length) ?? 0) | (1 << k));
    }
  });
  // Failure links breadth first, completing the table (a miss goes where the link's step goes);
  // a state also reports what its link reports (shorter strings ending at the same place).
  const fail = new Int32Array(next.length);
  const order: number[] = [];
  const root = next[0] as Int32Array;
  for (let col = 0; col < width; col++) {
    if ((root[col] as number) < 0) root[col] = 0;
    else order.push(root[col] as number);
  }
  for (let q = 0; q < order.length; q++) {
    const state = order[q] as number;
    const out = outputs[state] as Map<number, number>;
    for (const [len, mask] of outputs[fail[state] as number] as Map<number, number>) {
      out.set(len, (out.get(len) ?? 0) | mask);
    }
    const row = next[state] as Int32Array;
    const failRow = next[fail[state] as number] as Int32Array;
    for (let col = 0; col < width; col++) {
      const to = row[col] as number;
      if (to < 0) row[col] = failRow[col] as number;
      else {
        fail[to] = failRow[col] as number;
        order.push(to);
      }
    }
  }
  // States that report numbered last (one comparison tells them), the root staying 0; each table
  // entry is the next state's row offset (state × width).
  const reporting = (old: number) => ((outputs[old] as Map<number, number>).size > 0 ? 1 : 0);
  const ids = [...next.keys()].sort((a, b) => reporting(a) - reporting(b));
  const renumbered = new Int32Array(next.length);
  ids.forEach((old, id) => (renumbered[old] = id));
  const table = new Int32Array(next.length * width);
  next.forEach((row, old) => {
    const base = (renumbered[old] as number) * width;
    for (let col = 0; col < width; col++)
      table[base + col] = (renumbered[row[col] as number] as number) * width;
  });
  const first = ids.findIndex((old) => reporting(old) === 1);
  return {
    columns,
    width,
    table,
    reportsFrom: (first < 0 ? next.length : first) * width,
    reports: ids.map((old) => [...(outputs[old] as Map<number, number>)].flat()),
  };
}

/**
 * Where strings start, by set, from where the automaton reported (`ends[h]`, in state
 * `states[h]`): unsorted, possibly repeated; undefined for a set with none.
 */
export function startsBySet(
  a: Automaton,
  ends: readonly number[],
  states: readonly number[],
): Array<number[] | undefined> {
  const starts: Array<number[] | undefined> = [];
  for (let h = 0; h < ends.length; h++) {
    const r = a.reports[(states[h] as number) / a.width] as readonly number[];
    for (let j = 0; j < r.length; j += 2) {
      const start = (ends[h] as number) - (r[j] as number) + 1;
      for (let mask = r[j + 1] as number, k = 0; mask !== 0; mask >>>= 1, k++) {
        if ((mask & 1) !== 0) (starts[k] ??= []).push(start);
      }
    }
  }
  return starts;
}

/**
 * For each set of strings, where one of them starts in a text, ignoring case: sorted distinct
 * positions, or undefined when none of the set's strings is there.
 */
export function literalStarts(
  sets: ReadonlyArray<readonly string[]>,
): (text: string) => Array<Int32Array | undefined> {
  const a = compileAutomaton(sets);
  const { columns, table, reportsFrom } = a;
  return (text) => {
    const ends: number[] = [];
    const states: number[] = [];
    let state = 0;
    for (let i = 0; i < text.length; i++) {
      state = table[state + (columns[text.charCodeAt(i)] as number)] as number;
      if (state >= reportsFrom) {
        ends.push(i);
        states.push(state);
      }
    }
    const starts = startsBySet(a, ends, states);
    return sets.map((_, k) => sortedDistinct(starts[k]));
  };
}

/** `xs` sorted, each once; undefined for none. */
export function sortedDistinct(xs: readonly number[] | undefined): Int32Array | undefined {
  if (xs === undefined || xs.length === 0) return undefined;
  const a = Int32Array.from(xs);
  let sorted = true;
  for (let i = 1; i < a.length && sorted; i++) sorted = (a[i - 1] as number) <= (a[i] as number);
  if (!sorted) a.sort();
  let n = 1;
  for (let i = 1; i < a.length; i++) if (a[i] !== a[n - 1]) a[n++] = a[i] as number;
  return n === a.length ? a : a.subarray(0, n);
}

/** What a scan loop needs of a global regex; a global RegExp is one. */
export interface Matcher {
  lastIndex: number;
  exec(text: string): RegExpExecArray | null;
}

/**
 * A global regex's scan, tried only at `starts` (sorted, distinct) with its sticky copy: the same
 * matches in the same order as the scan of the whole text when every match starts at one of them.
 */
export function atStarts(sticky: RegExp, starts: Int32Array | undefined): Matcher {
  return new AtStarts(sticky, starts ?? NONE);
}

const NONE = new Int32Array(0);

class AtStarts implements Matcher {
  lastIndex = 0;
  /** Every start before this one is below the lastIndex of the last call. */
  private next = 0;
  constructor(
    private readonly sticky: RegExp,
    private readonly starts: Int32Array,
  ) {}

  exec(text: string): RegExpExecArray | null {
    const starts = this.starts;
    const from = this.lastIndex;
    // The first start at or after lastIndex: onwards from the last one tried, as scan loops
    // mostly move lastIndex on; searched again when a loop moved it back (to 0, say).
    let k = this.next;
    if (k > 0 && (starts[k - 1] as number) >= from) {
      let lo = 0;
      let hi = k - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((starts[mid] as number) < from) lo = mid + 1;
        else hi = mid;
      }
      k = lo;
    }
    while (k < starts.length && (starts[k] as number) < from) k++;
    for (; k < starts.length; k++) {
      this.sticky.lastIndex = starts[k] as number;
      const m = this.sticky.exec(text);
      if (m !== null) {
        this.lastIndex = this.sticky.lastIndex;
        this.next = k + 1;
        return m;
      }
    }
    this.lastIndex = 0;
    this.next = k;
    return null;
  }
}
