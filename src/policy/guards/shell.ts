/**
 * A conservative parser of POSIX/bash command lines for the command guard: it finds every simple
 * command the shell would run, including those inside `$(...)`, backticks, `<(...)`, `${x:-$(...)}`,
 * double quotes and unquoted here-documents, and gives up (a denial) on anything it cannot follow
 * (unbalanced quotes or parentheses, nesting too deep). Quote removal, `$'...'` escapes, `${IFS}`
 * word splitting and `{a,b}` brace expansion are applied, because attackers use them to hide words.
 *
 * Hand-written on purpose: shell-quote does not see substitutions inside double quotes or backticks
 * and accepts unbalanced quotes; sh-syntax (mvdan/sh in WASM) is exact but async and measured at
 * ~11-14 ms per parse, against microseconds here. A guard needs an over-approximation, not bash.
 */

export interface Word {
  /** Quotes removed; expansions kept as written (`$HOME`, `${X}`); each substitution shown as `$()`. */
  readonly text: string;
  /** No expansion, substitution or unquoted glob: `text` is exactly what the program receives. */
  readonly literal: boolean;
  /** Command and process substitutions inside the word. */
  readonly subs: readonly Script[];
  /** The whole word is a process substitution, `<(...)` or `>(...)`. */
  readonly process: boolean;
}

export interface Redirect {
  readonly op: string;
  readonly target: Word;
  /** Here-document body (its substitutions are in `body.subs`). */
  body?: Word;
}

export interface SimpleCommand {
  readonly type: "simple";
  readonly words: readonly Word[];
  readonly redirects: readonly Redirect[];
}

export interface Group {
  readonly type: "group";
  readonly body: Script;
  readonly redirects: readonly Redirect[];
  /** Set when the group is the body of a function definition. */
  readonly fn?: string;
}

export type Stage = SimpleCommand | Group;

export interface Pipeline {
  readonly stages: readonly Stage[];
  background: boolean;
}

export interface Script {
  readonly pipelines: readonly Pipeline[];
}

export class ShellSyntaxError extends Error {
  override readonly name = "ShellSyntaxError";
}

const MAX_DEPTH = 12;
const MAX_WORDS = 4000;
const MAX_BRACE_EXPANSION = 64;
const BLANK = new Set([" ", "\t"]);
/** Characters that end an unquoted word. */
const META = new Set([" ", "\t", "\n", ";", "&", "|", "<", ">", "(", ")"]);

/** Parses a whole command line; throws ShellSyntaxError when it cannot be followed. */
export function parseShell(source: string, depth = 0): Script {
  return new Parser(source, depth, { words: 0 }).script(undefined);
}

interface Budget {
  words: number;
}

interface PendingHeredoc {
  readonly redirect: Redirect;
  readonly delimiter: string;
  readonly stripTabs: boolean;
  readonly expand: boolean;
}

class Parser {
  private pos = 0;
  private pending: PendingHeredoc[] = [];
  private level: number;

  constructor(
    private readonly src: string,
    depth: number,
    private readonly budget: Budget,
  ) {
    if (depth > MAX_DEPTH) throw new ShellSyntaxError("nesting too deep");
    this.level = depth;
  }

  private peek(offset = 0): string {
    return this.src.charAt(this.pos + offset);
  }

  private eof(): boolean {
    return this.pos >= this.src.length;
  }

  private startsWith(s: string): boolean {
    return this.src.startsWith(s, this.pos);
  }

  private skipBlanks(): void {
    for (;;) {
      const c = this.peek();
      if (BLANK.has(c)) this.pos++;
      else if (c === "\\" && this.peek(1) === "\n") this.pos += 2;
      else return;
    }
  }

  /** A newline: here-document bodies start on the next line. */
  private newline(): void {
    this.pos++;
    for (const h of this.pending.splice(0)) this.readHeredoc(h);
  }

  private skipBlanksAndNewlines(): void {
    for (;;) {
      this.skipBlanks();
      if (this.peek() === "\n") this.newline();
      else if (this.peek() === "#") this.skipComment();
      else return;
    }
  }

  private skipComment(): void {
    while (!this.eof() && this.peek() !== "\n") this.pos++;
  }

  /** Is the character at `pos + offset` the end of a word (so `{`, `}` or `!` there stands alone)? */
  private delimitedAt(offset: number): boolean {
    const c = this.peek(offset);
    return c === "" || META.has(c);
  }

  script(end: ")" | "}" | undefined): Script {
    const pipelines: Pipeline[] = [];
    // `;` and `&` end a command: one with no command before it is a syntax error, as in bash
    let terminated = true;
    for (;;) {
      this.skipBlanks();
      if (this.eof()) {
        if (end !== undefined) throw new ShellSyntaxError(`missing ${end}`);
        if (this.pending.length > 0) throw new ShellSyntaxError("unterminated here-document");
        return { pipelines };
      }
      const c = this.peek();
      if (c === "\n") {
        this.newline();
        terminated = true;
        continue;
      }
      if (c === "#") {
        this.skipComment();
        continue;
      }
      if (c === ";") {
        if (terminated) throw new ShellSyntaxError("unexpected ;");
        while (this.peek() === ";" || this.peek() === "&") this.pos++;
        terminated = true;
        continue;
      }
      if (c === ")") {
        if (end !== ")") throw new ShellSyntaxError("unexpected )");
        this.pos++;
        return { pipelines };
      }
      if (c === "}" && this.delimitedAt(1)) {
        if (end !== "}") throw new ShellSyntaxError("unexpected }");
        this.pos++;
        return { pipelines };
      }
      if (c === "&" && this.peek(1) !== "&" && this.peek(1) !== ">") {
        this.pos++;
        const last = pipelines[pipelines.length - 1];
        if (!last || terminated) throw new ShellSyntaxError("unexpected &");
        last.background = true;
        terminated = true;
        continue;
      }
      pipelines.push(this.pipeline());
      terminated = false;
      this.skipBlanks();
      if (this.startsWith("&&") || this.startsWith("||")) {
        this.pos += 2;
        this.skipBlanksAndNewlines();
        if (this.eof() || this.peek() === ")" || this.peek() === ";") {
          throw new ShellSyntaxError("missing command after && or ||");
        }
      }
    }
  }

  private pipeline(): Pipeline {
    const stages: Stage[] = [this.stage()];
    for (;;) {
      this.skipBlanks();
      if (this.peek() === "|" && this.peek(1) !== "|") {
        this.pos += this.peek(1) === "&" ? 2 : 1;
        this.skipBlanksAndNewlines();
        stages.push(this.stage());
        continue;
      }
      return { stages, background: false };
    }
  }

  private stage(): Stage {
    this.skipBlanks();
    while (this.peek() === "!" && this.delimitedAt(1)) {
      this.pos++;
      this.skipBlanks();
    }
    if (this.startsWith("((")) {
      this.pos += 2;
      const subs: Script[] = [];
      this.arithmetic(subs);
      const body: Script = { pipelines: subs.flatMap((s) => s.pipelines) };
      return { type: "group", body, redirects: this.trailingRedirects() };
    }
    if (this.peek() === "(") {
      this.pos++;
      const body = this.nested(() => this.script(")"));
      return { type: "group", body, redirects: this.trailingRedirects() };
    }
    if (this.peek() === "{" && this.delimitedAt(1)) {
      this.pos++;
      const body = this.nested(() => this.script("}"));
      return { type: "group", body, redirects: this.trailingRedirects() };
    }
    return this.simple();
  }

  private nested<T>(parse: () => T): T {
    if (++this.level > MAX_DEPTH) throw new ShellSyntaxError("nesting too deep");
    const result = parse();
    this.level--;
    return result;
  }

  /** Redirections after a compound command: `( ... ) > out`. */
  private trailingRedirects(): Redirect[] {
    const out: Redirect[] = [];
    for (;;) {
      this.skipBlanks();
      const r = this.redirect();
      if (!r) return out;
      out.push(r);
    }
  }

  private simple(): Stage {
    const words: Word[] = [];
    const redirects: Redirect[] = [];
    let doubleBracket = false;
    for (;;) {
      this.skipBlanks();
      if (this.eof()) break;
      const c = this.peek();
      if (doubleBracket) {
        if (this.startsWith("]]") && this.delimitedAt(2)) {
          this.pos += 2;
          words.push(plain("]]"));
          doubleBracket = false;
          continue;
        }
        if (c === "\n") break;
        if ("&|<>()".includes(c)) {
          const op = /^(&&|\|\||[<>()!]|&|\|)/.exec(this.src.slice(this.pos))?.[0] ?? c;
          this.pos += op.length;
          words.push(plain(op));
          continue;
        }
      } else {
        if (c === "\n" || c === ";" || c === "|" || c === ")") break;
        if (c === "&" && this.peek(1) !== ">") break;
        if (c === "}" && words.length === 0 && this.delimitedAt(1)) break;
      }
      if ((c === "<" || c === ">") && this.peek(1) === "(") {
        words.push(this.processSubstitution());
        continue;
      }
      const r = this.redirect();
      if (r) {
        redirects.push(r);
        continue;
      }
      if (c === "(") {
        // `name () { ...; }`: a function definition
        const name = words.length === 1 ? words[0] : undefined;
        if (name?.literal && /^\(\s*\)/.test(this.src.slice(this.pos))) {
          this.pos = this.src.indexOf(")", this.pos) + 1;
          this.skipBlanksAndNewlines();
          const body = this.stage();
          const script: Script = { pipelines: [{ stages: [body], background: false }] };
          return { type: "group", body: script, redirects, fn: name.text };
        }
        throw new ShellSyntaxError("unexpected (");
      }
      const before = this.pos;
      const produced = this.word();
      if (this.pos === before) throw new ShellSyntaxError(`unexpected ${this.peek()}`);
      // `function name { ...; }`
      if (
        words.length === 0 &&
        produced.length === 1 &&
        produced[0]?.literal &&
        produced[0].text === "function"
      ) {
        this.skipBlanks();
        const name = this.word()[0];
        if (!name) throw new ShellSyntaxError("function without a name");
        this.skipBlanks();
        if (this.startsWith("()")) this.pos += 2;
        this.skipBlanksAndNewlines();
        const body = this.stage();
        return {
          type: "group",
          body: { pipelines: [{ stages: [body], background: false }] },
          redirects,
          fn: name.text,
        };
      }
      if (words.length === 0 && produced[0]?.literal && produced[0].text === "[[") doubleBracket = true;
      words.push(...produced);
      if ((this.budget.words += produced.length) > MAX_WORDS) throw new ShellSyntaxError("too many words");
    }
    if (doubleBracket) throw new ShellSyntaxError("missing ]]");
    if (words.length === 0 && redirects.length === 0) throw new ShellSyntaxError("missing command");
    return { type: "simple", words, redirects };
  }

  private redirect(): Redirect | undefined {
    const m = /^(\d+|\{[A-Za-z_][A-Za-z0-9_]*\})?(<<<|<<-|<<|<>|<&|>>|>&|>\||&>>|&>|<|>)/.exec(
      this.src.slice(this.pos, this.pos + 40),
    );
    if (!m) return undefined;
    if (m[1] === undefined && this.peek() !== "<" && this.peek() !== ">" && this.peek() !== "&")
      return undefined;
    const op = m[2] as string;
    this.pos += m[0].length;
    this.skipBlanks();
    if ((op === "<&" || op === ">&") && this.peek() === "-") {
      this.pos++;
      return { op, target: plain("-") };
    }
    if ((this.peek() === "<" || this.peek() === ">") && this.peek(1) === "(") {
      return { op, target: this.processSubstitution() }; // `done < <(cmd)`
    }
    const start = this.pos;
    const target = this.word();
    if (target.length !== 1) throw new ShellSyntaxError(`missing target after ${op}`);
    const word = target[0] as Word;
    const redirect: Redirect = { op, target: word };
    if (op === "<<" || op === "<<-") {
      const raw = this.src.slice(start, this.pos);
      const quoted = /["'\\]/.test(raw);
      this.pending.push({ redirect, delimiter: word.text, stripTabs: op === "<<-", expand: !quoted });
    }
    return redirect;
  }

  private readHeredoc(h: PendingHeredoc): void {
    const lines: string[] = [];
    for (;;) {
      if (this.eof()) break; // bash accepts a here-document ended by end of input
      let nl = this.src.indexOf("\n", this.pos);
      if (nl < 0) nl = this.src.length;
      let line = this.src.slice(this.pos, nl);
      this.pos = Math.min(nl + 1, this.src.length);
      if (h.stripTabs) line = line.replace(/^\t+/, "");
      if (line === h.delimiter) break;
      lines.push(line);
    }
    const text = lines.join("\n");
    h.redirect.body = h.expand
      ? new Parser(text, this.level + 1, this.budget).doubleQuotedBody()
      : { text, literal: true, subs: [], process: false };
  }

  /** A here-document body: expansions and substitutions as inside double quotes, quotes literal. */
  doubleQuotedBody(): Word {
    const subs: Script[] = [];
    let text = "";
    let literal = true;
    while (!this.eof()) {
      const c = this.peek();
      if (c === "\\" && "$`\\\n".includes(this.peek(1))) {
        if (this.peek(1) !== "\n") text += this.peek(1);
        this.pos += 2;
      } else if (c === "$" || c === "`") {
        const r = c === "$" ? this.dollar(subs, true) : this.backtick(subs);
        text += r.text;
        literal &&= !r.expands;
      } else {
        text += c;
        this.pos++;
      }
    }
    return { text, literal, subs, process: false };
  }

  private processSubstitution(): Word {
    const dir = this.peek();
    this.pos += 2;
    const script = this.nested(() => this.script(")"));
    return { text: `${dir}()`, literal: false, subs: [script], process: true };
  }

  /**
   * One shell word, as zero or more words: unquoted `$IFS` splits it, unquoted `{a,b}` expands it.
   */
  private word(): Word[] {
    const out: Word[] = [];
    const subs: Script[] = [];
    let text = "";
    let literal = true;
    let started = false;
    let braceable = true; // every brace and comma seen was unquoted
    let braces = false;
    const finish = () => {
      if (started) {
        const w: Word = { text, literal, subs: subs.splice(0), process: false };
        out.push(...(braces && braceable ? expandBraces(w) : [w]));
      }
      text = "";
      literal = true;
      started = false;
      braceable = true;
      braces = false;
    };
    for (;;) {
      if (this.eof()) break;
      const c = this.peek();
      if (META.has(c)) {
        // `a=(x y)`: an array assignment; its elements are words, their substitutions still run
        if (c === "(" && started && /^[A-Za-z_][A-Za-z0-9_]*\+?=$/.test(text)) {
          this.pos++;
          for (;;) {
            this.skipBlanksAndNewlines();
            if (this.eof()) throw new ShellSyntaxError("unterminated array");
            if (this.peek() === ")") break;
            const before = this.pos;
            for (const w of this.word()) subs.push(...w.subs);
            if (this.pos === before) throw new ShellSyntaxError(`unexpected ${this.peek()}`);
          }
          this.pos++;
          text += "(...)";
          literal = false;
          continue;
        }
        break;
      }
      started = true;
      if (c === "\\") {
        if (this.peek(1) === "\n") {
          this.pos += 2;
          continue;
        }
        if (this.pos + 1 >= this.src.length) throw new ShellSyntaxError("trailing backslash");
        const ch = this.peek(1);
        if (ch === "{" || ch === "}" || ch === ",") braceable = false;
        text += ch;
        this.pos += 2;
      } else if (c === "'") {
        const close = this.src.indexOf("'", this.pos + 1);
        if (close < 0) throw new ShellSyntaxError("unterminated '");
        const inner = this.src.slice(this.pos + 1, close);
        if (/[{},]/.test(inner)) braceable = false;
        text += inner;
        this.pos = close + 1;
      } else if (c === '"') {
        this.pos++;
        const r = this.doubleQuoted(subs);
        if (/[{},]/.test(r.text)) braceable = false;
        text += r.text;
        literal &&= !r.expands;
      } else if (c === "$" && this.peek(1) === "'") {
        this.pos += 2;
        const inner = this.ansiC();
        if (/[{},]/.test(inner)) braceable = false;
        text += inner;
      } else if (c === "$" && this.peek(1) === '"') {
        this.pos += 2;
        const r = this.doubleQuoted(subs);
        text += r.text;
        literal &&= !r.expands;
      } else if (c === "$") {
        if (/^\$(IFS\b|\{IFS[^A-Za-z0-9_])/.test(this.src.slice(this.pos, this.pos + 6))) {
          // unquoted $IFS splits words: `rm${IFS}-rf${IFS}/` is three words
          this.dollar(subs, false);
          finish();
          continue;
        }
        const r = this.dollar(subs, false);
        text += r.text;
        literal &&= !r.expands;
      } else if (c === "`") {
        const r = this.backtick(subs);
        text += r.text;
        literal = false;
      } else {
        // `[` globs only with a closing `]` in the same word: `[` and `[[` alone are commands
        if (
          c === "*" ||
          c === "?" ||
          (c === "[" && /^\[[^\s;&|<>()]*\]/.test(this.src.slice(this.pos, this.pos + 256)))
        ) {
          literal = false;
        }
        if (c === "{" || c === "}" || c === ",") braces = true;
        text += c;
        this.pos++;
      }
    }
    finish();
    return out;
  }

  /** Inside "...", after the opening quote; consumes the closing one. */
  private doubleQuoted(subs: Script[]): { text: string; expands: boolean } {
    let text = "";
    let expands = false;
    for (;;) {
      if (this.eof()) throw new ShellSyntaxError('unterminated "');
      const c = this.peek();
      if (c === '"') {
        this.pos++;
        return { text, expands };
      }
      if (c === "\\") {
        const n = this.peek(1);
        if (n === "\n") this.pos += 2;
        else if ('$`"\\'.includes(n) && n !== "") {
          text += n;
          this.pos += 2;
        } else {
          text += c;
          this.pos++;
        }
      } else if (c === "$") {
        const r = this.dollar(subs, true);
        text += r.text;
        expands ||= r.expands;
      } else if (c === "`") {
        const r = this.backtick(subs);
        text += r.text;
        expands = true;
      } else {
        text += c;
        this.pos++;
      }
    }
  }

  /** `$'...'`, after the opening quote: ANSI-C escapes decoded. */
  private ansiC(): string {
    let out = "";
    for (;;) {
      if (this.eof()) throw new ShellSyntaxError("unterminated $'");
      const c = this.peek();
      if (c === "'") {
        this.pos++;
        return out;
      }
      if (c !== "\\") {
        out += c;
        this.pos++;
        continue;
      }
      const rest = this.src.slice(this.pos + 1, this.pos + 10);
      const m =
        /^x([0-9a-fA-F]{1,2})/.exec(rest) ??
        /^u([0-9a-fA-F]{1,4})/.exec(rest) ??
        /^U([0-9a-fA-F]{1,8})/.exec(rest) ??
        /^([0-7]{1,3})/.exec(rest);
      if (m) {
        const radix = /^[xuU]/.test(m[0]) ? 16 : 8;
        const cp = parseInt(m[1] as string, radix);
        out += cp <= 0x10ffff ? String.fromCodePoint(cp) : "";
        this.pos += 1 + m[0].length;
        continue;
      }
      const simple: Record<string, string> = {
        n: "\n",
        t: "\t",
        r: "\r",
        a: "\x07",
        b: "\b",
        e: "\x1b",
        E: "\x1b",
        f: "\f",
        v: "\v",
        "\\": "\\",
        "'": "'",
        '"': '"',
        "?": "?",
      };
      const n = rest.charAt(0);
      if (n === "c" && rest.length > 1) {
        out += String.fromCharCode(rest.charCodeAt(1) & 0x1f);
        this.pos += 3;
        continue;
      }
      out += Object.hasOwn(simple, n) ? simple[n] : `\\${n}`;
      this.pos += 2;
    }
  }

  /** At `$`: a parameter, `${...}`, `$(...)` or `$((...))`. */
  private dollar(subs: Script[], quoted: boolean): { text: string; expands: boolean } {
    const start = this.pos;
    const n = this.peek(1);
    if (n === "(" && this.peek(2) === "(") {
      this.pos += 3;
      this.arithmetic(subs);
      return { text: "$(())", expands: true };
    }
    if (n === "(") {
      this.pos += 2;
      subs.push(this.nested(() => this.script(")")));
      return { text: "$()", expands: true };
    }
    if (n === "{") {
      this.pos += 2;
      let depth = 1;
      while (depth > 0) {
        if (this.eof()) throw new ShellSyntaxError("unterminated ${");
        const c = this.peek();
        if (c === "}") {
          depth--;
          this.pos++;
        } else if (c === "\\") this.pos += 2;
        else if (c === "'" && !quoted) {
          const close = this.src.indexOf("'", this.pos + 1);
          if (close < 0) throw new ShellSyntaxError("unterminated '");
          this.pos = close + 1;
        } else if (c === '"') {
          this.pos++;
          this.doubleQuoted(subs);
        } else if (c === "$") {
          if (this.peek(1) === "{") {
            depth++;
            this.pos += 2;
          } else this.dollar(subs, true);
        } else if (c === "`") this.backtick(subs);
        else this.pos++;
      }
      return { text: this.src.slice(start, this.pos), expands: true };
    }
    const m = /^\$([A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-])/.exec(this.src.slice(this.pos, this.pos + 256));
    if (m) {
      this.pos += m[0].length;
      return { text: m[0], expands: true };
    }
    this.pos++;
    return { text: "$", expands: false };
  }

  /** `$((...))` or `((...))` after the opening parentheses: only its substitutions matter. */
  private arithmetic(subs: Script[]): void {
    let depth = 0;
    for (;;) {
      if (this.eof()) throw new ShellSyntaxError("unterminated arithmetic");
      const c = this.peek();
      if (c === ")" && depth === 0) {
        if (this.peek(1) !== ")") throw new ShellSyntaxError("unterminated arithmetic");
        this.pos += 2;
        return;
      }
      if (c === "(") depth++;
      else if (c === ")") depth--;
      if (c === "$" || c === "`") {
        if (c === "$") this.dollar(subs, true);
        else this.backtick(subs);
        continue;
      }
      this.pos++;
    }
  }

  /** At a backtick: the old form of `$(...)`, whose body is re-read after `\``, `\\`, `\$` unescaping. */
  private backtick(subs: Script[]): { text: string; expands: boolean } {
    this.pos++;
    let body = "";
    for (;;) {
      if (this.eof()) throw new ShellSyntaxError("unterminated `");
      const c = this.peek();
      if (c === "`") {
        this.pos++;
        break;
      }
      if (c === "\\" && "`\\$".includes(this.peek(1)) && this.peek(1) !== "") {
        body += this.peek(1);
        this.pos += 2;
        continue;
      }
      body += c;
      this.pos++;
    }
    subs.push(new Parser(body, this.level + 1, this.budget).script(undefined));
    return { text: "$()", expands: true };
  }
}

function plain(text: string): Word {
  return { text, literal: true, subs: [], process: false };
}

/** Unquoted `{a,b}` brace expansion, bounded; `{` without a top-level comma stays literal. */
function expandBraces(word: Word): Word[] {
  let results = [word.text];
  for (let round = 0; round < 8; round++) {
    const next: string[] = [];
    let changed = false;
    for (const t of results) {
      const alternatives = expandOnce(t);
      if (alternatives) changed = true;
      next.push(...(alternatives ?? [t]));
      if (next.length > MAX_BRACE_EXPANSION) throw new ShellSyntaxError("brace expansion too large");
    }
    results = next;
    if (!changed) break;
  }
  return results
    .filter((t) => t !== "")
    .map((text, i) => ({ text, literal: word.literal, subs: i === 0 ? word.subs : [], process: false }));
}

function expandOnce(t: string): string[] | undefined {
  for (let open = t.indexOf("{"); open >= 0; open = t.indexOf("{", open + 1)) {
    let depth = 0;
    const commas: number[] = [];
    for (let i = open; i < t.length; i++) {
      const c = t[i];
      if (c === "{") depth++;
      else if (c === "}") {
        depth--;
        if (depth === 0) {
          if (commas.length === 0) break;
          const head = t.slice(0, open);
          const tail = t.slice(i + 1);
          const bounds = [open, ...commas, i];
          const parts: string[] = [];
          for (let k = 0; k + 1 < bounds.length; k++) {
            parts.push(head + t.slice((bounds[k] as number) + 1, bounds[k + 1]) + tail);
          }
          return parts;
        }
      } else if (c === "," && depth === 1) commas.push(i);
    }
  }
  return undefined;
}
