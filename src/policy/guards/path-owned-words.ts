/**
 * Which strings of a value the owned-file guard judges when the value is not a path argument: a
 * string under a name no guard classifies (`{"target": ".warden/state.db-wal"}`), or a command (each
 * word a program would be given). Pure and synchronous: the guard does the filesystem work.
 */
import { MAX_DECODE_ROUNDS } from "./decode.js";
import { pathLimit } from "./path-resolve.js";
import { parseShell, ShellSyntaxError, type Redirect, type Script, type Word } from "./shell.js";

/** A word a command passes on; `glob` when the shell would expand it against the filesystem first. */
export interface CommandWord {
  readonly text: string;
  readonly glob: boolean;
}

export interface CommandWords {
  readonly words: readonly CommandWord[];
  /** Folders the command moves into (`cd x`, `git -C x`): its relative words may be read there. */
  readonly dirs: readonly string[];
}

/** Command strings within command strings (`sh -c "…"`, argv elements with spaces) read this deep. */
const MAX_NESTING = 4;
/** Words collected from one command value, nested strings included. */
const MAX_WORDS = 4000;
const MAX_DIRS = 8;
/** Where the value starts like a path once trimmed: absolute, home- or dot-relative. */
const PATH_START = /^(?:\/|~(?:\/|$)|\.\.?(?:\/|$))/;
/** What a shell or a tokenising server splits on. */
const TOKEN_SPLIT = /[\s"'`<>|;&(),=]+/;
/** A shell would read this string as a command line of its own. */
const COMMAND_TEXT = /[\s;&|<>()`$]/;
const GLOB = /[*?[]/;
/** Unicode blanks beyond ASCII that `String.prototype.trim` strips. */
const WIDE_BLANKS = new Set([
  0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a,
  0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff,
]);

/** C0 controls and space: what a WHATWG URL parser strips from both ends. */
export const isC0OrSpace = (c: number): boolean => c <= 0x20;

/** What some reader strips from both ends: blanks, C0 controls (a URL parser), quotes (the filesystem server). */
export const isSurrounding = (c: number): boolean =>
  c <= 0x20 || c === 0x22 || c === 0x27 || c === 0x7f || WIDE_BLANKS.has(c);

/** `s` without the characters `strip` accepts at either end. A loop: a regex such as `x+$` backtracks on long runs. */
export function trimEnds(s: string, strip: (code: number) => boolean): string {
  let start = 0;
  let end = s.length;
  while (start < end && strip(s.charCodeAt(start))) start++;
  while (end > start && strip(s.charCodeAt(end - 1))) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

// eslint-disable-next-line no-control-regex -- ASCII needs no NFKC
const ASCII = /^[\u0000-\u007f]*$/;
/** Programs and options that change the folder the rest runs in. */
const CHDIR_PROGRAMS = new Set(["cd", "pushd"]);
const CHDIR_OPTION = /^--(?:directory|cwd|chdir|work-tree|git-dir)=(.+)$/s;

/** Percent-decoding that never fails: bytes that are not UTF-8 become U+FFFD, as a lax server reads them. */
function decodeLoosely(value: string): string {
  return value.replace(/(?:%[0-9a-fA-F]{2})+/g, (run) =>
    Buffer.from(run.replace(/%/g, ""), "hex").toString("utf8"),
  );
}

/** `value` as a lax server might read it: each decoding round, NFKC, trimmed of blanks, controls and quotes. */
export function looseForms(value: string): string[] {
  const forms = new Set<string>();
  let current = value;
  for (let round = 0; round <= MAX_DECODE_ROUNDS; round++) {
    forms.add(trimEnds(current, isSurrounding));
    if (!ASCII.test(current)) forms.add(trimEnds(current.normalize("NFKC"), isSurrounding));
    if (!current.includes("%")) break;
    const next = decodeLoosely(current);
    if (next === current) break;
    current = next;
  }
  return [...forms];
}

/**
 * The strings to judge in a value under a name no guard classifies: the value itself when a reading
 * of it starts like a path or names an owned file (`mentions`), and, in text with blanks in it, each
 * token that names one. A whole text too long or too deep to be a path is judged by its tokens only.
 */
export function textCandidates(value: string, mentions: (text: string) => boolean): string[] {
  const out = new Set<string>();
  for (const form of looseForms(value)) {
    if (form === "") continue;
    const single = !/\s/.test(form);
    // Asked at most once per form: it runs a pattern over the whole text.
    let named: boolean | undefined;
    const mentioned = () => (named ??= mentions(form));
    if ((PATH_START.test(form) || mentioned()) && (single || pathLimit(form) === undefined)) out.add(value);
    if (single || !mentioned()) continue;
    for (const token of form.split(TOKEN_SPLIT)) if (token !== "" && mentions(token)) out.add(token);
  }
  return [...out];
}

/**
 * Every word of a command as the programs it runs would get them: a shell string parsed (quotes
 * removed, substitutions, redirections and here-documents included), an argv array taken element by
 * element; an element or word that is itself a command line (`sh -c "cat …"`) is read as one too.
 * A string that does not parse is split on blanks (the command guard refuses it anyway).
 */
export function commandWords(value: string | readonly string[]): CommandWords {
  const words: CommandWord[] = [];
  const dirs: string[] = [];
  const add = (w: CommandWord) => {
    if (words.length < MAX_WORDS) words.push(w);
  };
  const addDir = (d: string | undefined) => {
    if (d !== undefined && d !== "" && !d.startsWith("-") && dirs.length < MAX_DIRS) dirs.push(d);
  };

  const text = (source: string, depth: number): void => {
    let script: Script;
    try {
      script = parseShell(source);
    } catch (err) {
      if (!(err instanceof ShellSyntaxError)) throw err;
      for (const t of source.split(/\s+/)) if (t !== "") add({ text: t, glob: GLOB.test(t) });
      return;
    }
    walkScript(script, depth);
  };

  const word = (w: Word, depth: number): void => {
    add({ text: w.text, glob: !w.literal && GLOB.test(w.text) });
    for (const sub of w.subs) walkScript(sub, depth);
    if (depth < MAX_NESTING && COMMAND_TEXT.test(w.text)) text(w.text, depth + 1);
  };

  const redirects = (list: readonly Redirect[], depth: number): void => {
    for (const r of list) {
      word(r.target, depth);
      if (r.body) {
        for (const sub of r.body.subs) walkScript(sub, depth);
        // `sh <<EOF` runs its here-document: read as a command line too.
        if (depth < MAX_NESTING) text(r.body.text, depth + 1);
      }
    }
  };

  const walkScript = (script: Script, depth: number): void => {
    for (const pipeline of script.pipelines) {
      for (const stage of pipeline.stages) {
        if (stage.type === "group") {
          walkScript(stage.body, depth);
          redirects(stage.redirects, depth);
          continue;
        }
        stage.words.forEach((w, i) => {
          word(w, depth);
          const prev = stage.words[i - 1]?.text;
          if (i === 1 && CHDIR_PROGRAMS.has(stage.words[0]?.text ?? "")) addDir(w.text);
          if (prev === "-C") addDir(w.text);
          addDir(CHDIR_OPTION.exec(w.text)?.[1]);
        });
        redirects(stage.redirects, depth);
      }
    }
  };

  if (typeof value === "string") {
    text(value, 0);
    // As a server that splits on blanks instead of running a shell passes them (escapes and quotes kept).
    for (const t of value.split(/\s+/)) if (t !== "") add({ text: t, glob: false });
  } else
    value.forEach((element, i) => {
      add({ text: element, glob: false }); // execve does not glob
      if (value[i - 1] === "-C") addDir(element);
      addDir(CHDIR_OPTION.exec(element)?.[1]);
      if (COMMAND_TEXT.test(element)) text(element, 1);
    });
  return { words, dirs };
}

/** The parts of a word that may be a path: the word, and the value of `--file=x` / `if=x`. */
export function wordPaths(word: string): string[] {
  const eq = /^[A-Za-z0-9_.-]*=(.+)$/s.exec(word.replace(/^--?/, ""));
  return eq ? [word, eq[1] as string] : [word];
}

/**
 * A shell glob as a regular expression over absolute names (`*` and `?` within one component, `[…]`
 * classes), anchored; compared against case-folded names, as the owned files are.
 */
export function globRegExp(glob: string): RegExp {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else if (c === "[") {
      const close = glob.indexOf("]", i + 2);
      if (close < 0) {
        out += "\\[";
        continue;
      }
      let body = glob.slice(i + 1, close);
      const negated = body.startsWith("!") || body.startsWith("^");
      if (negated) body = body.slice(1);
      out += `[${negated ? "^/" : ""}${body.replace(/[\\\]^]/g, "\\$&")}]`;
      i = close;
    } else out += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(`^${out}$`, "u");
}
