import path from "node:path";
import { commandVariable, credentialReference } from "./command-targets.js";
import { forkBomb, pipelineRules, programRules, protectedWriteOp } from "./command-rules.js";
import { refuse, Refusal, unwrap, type Inspect, type Invocation } from "./command-model.js";
import { parseShell, ShellSyntaxError, type Redirect, type Script, type Stage, type Word } from "./shell.js";
import { ALLOWED, denied, GuardConfigError, type GuardDecision } from "./types.js";

export interface CommandGuardOptions {
  /**
   * When set, every command that would run (after `env`, `nice`, `timeout`, `xargs` and similar
   * wrappers; inside `sh -c`, `eval`, substitutions and `find -exec` too) must be listed. A bare name
   * (`git`) allows that program found on PATH or in a system bin directory (`/usr/bin/git`); a name
   * with a slash (`./build.sh`, `/opt/tool/bin/x`) allows exactly that path.
   */
  readonly allowPrograms?: readonly string[];
}

export interface CommandGuard {
  /**
   * A command line (as a shell would read it) or an argv array (as execve would run it). Denied
   * when any command it would run is destructive or escalating, when a program is not allowed,
   * and when it cannot be parsed.
   */
  check(value: string | readonly string[]): GuardDecision;
}

/** Longest command line inspected: scripts longer than this are refused. */
export const MAX_COMMAND_LENGTH = 65536;
/** Command strings within command strings (`sh -c "eval '...'"`) deeper than this are refused. */
const MAX_NESTING = 8;

/** Shell builtins without side effects beyond the shell itself: never need listing. */
const IMPLICIT = new Set([
  "cd",
  "pushd",
  "popd",
  "pwd",
  "true",
  "false",
  ":",
  "test",
  "[",
  "[[",
  "echo",
  "printf",
  "exit",
  "export",
  "unset",
  "wait",
]);
const SYSTEM_BIN = new Set(["/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"]);

class ProgramAllowlist {
  private readonly names = new Set<string>();
  private readonly paths = new Set<string>();

  constructor(entries: readonly string[]) {
    entries.forEach((entry, i) => {
      if (typeof entry !== "string" || entry === "" || /[\s\0]/.test(entry)) {
        throw new GuardConfigError(`allowPrograms[${i}]`, "must be a program name or path");
      }
      if (entry.includes("/")) this.paths.add(path.posix.normalize(entry));
      else this.names.add(entry);
    });
  }

  permits(program: string): boolean {
    if (!program.includes("/")) return this.names.has(program) || IMPLICIT.has(program);
    const normal = path.posix.normalize(program);
    if (this.paths.has(normal)) return true;
    return SYSTEM_BIN.has(path.posix.dirname(normal)) && this.names.has(path.posix.basename(normal));
  }
}

/**
 * One inspection of one argument: walks every command the shell would run and applies the rules
 * of command-rules.ts. `strict` is off only for text guessed to be a command (string literals in
 * inline code): there, syntax errors, computed program names and the allowlist are not enforced.
 */
export class Inspector implements Inspect {
  /** Basenames of files downloaded earlier in the same command line (download-then-run). */
  readonly downloads = new Set<string>();
  /** Variables assigned a literal value earlier in the same command line. */
  private readonly vars = new Map<string, string>();

  constructor(private readonly allow: ProgramAllowlist | undefined) {}

  expand(text: string): string {
    if (this.vars.size === 0 || !text.includes("$")) return text;
    return text.replace(
      /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
      (m, a?: string, b?: string) => {
        return this.vars.get((a ?? b) as string) ?? m;
      },
    );
  }

  /** Literal assignments (`X=/`, `export D=~`), for `expand`; a computed value forgets the name. */
  private remember(words: readonly Word[]): void {
    const declares =
      words[0]?.literal === true && /^(export|declare|local|readonly|typeset)$/.test(words[0].text);
    for (const w of declares ? words.slice(1) : words) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)=([\s\S]*)$/.exec(w.text);
      if (!m) break;
      if (w.subs.length === 0 && !(m[2] as string).includes("$"))
        this.vars.set(m[1] as string, m[2] as string);
      else this.vars.delete(m[1] as string);
    }
  }

  source(text: string, strict: boolean, depth: number): void {
    if (depth > MAX_NESTING) refuse("commands nested too deeply");
    let script: Script;
    try {
      script = parseShell(text);
    } catch (e) {
      if (!(e instanceof ShellSyntaxError)) throw e;
      if (!strict) return;
      refuse(`unparsable command (${e.message})`);
    }
    this.script(script, strict, depth);
  }

  script(script: Script, strict: boolean, depth: number): void {
    for (const pipeline of script.pipelines) {
      const invocations = pipeline.stages.map((stage) => this.stage(stage, strict, depth));
      pipelineRules(pipeline, invocations, this, strict, depth);
    }
  }

  private stage(stage: Stage, strict: boolean, depth: number): Invocation | undefined {
    if (stage.type === "group") {
      if (stage.fn !== undefined) forkBomb(stage);
      this.script(stage.body, strict, depth);
      this.redirects(stage.redirects, strict, depth);
      return undefined;
    }
    return this.simple(stage.words, stage.redirects, strict, depth);
  }

  /** Every rule for one simple command; also used for `find -exec` and argv arrays. */
  simple(
    words: readonly Word[],
    redirects: readonly Redirect[],
    strict: boolean,
    depth: number,
  ): Invocation | undefined {
    for (const w of words) this.word(w, strict, depth);
    this.remember(words);
    this.redirects(redirects, strict, depth);
    const unwrapped = unwrap(words, redirects);
    if (unwrapped.nested !== undefined) this.source(unwrapped.nested, strict, depth + 1);
    const inv = unwrapped.invocation;
    if (!inv) return undefined;
    if (!inv.word.literal || inv.word.text === "") {
      if (strict) refuse("program name is computed at run time");
      return inv;
    }
    if (strict && this.allow && !this.allow.permits(inv.word.text))
      refuse(`program not allowed: ${inv.name}`);
    programRules(inv, this, strict, depth);
    return inv;
  }

  word(w: Word, strict: boolean, depth: number): void {
    for (const sub of w.subs) this.script(sub, strict, depth);
    const credential = credentialReference(w.text);
    if (credential) refuse(`names ${credential}`);
    if (/\/dev\/(tcp|udp)\/|\/inet\/(tcp|udp)\//.test(w.text))
      refuse("opens a network socket through /dev/tcp");
    const injected = /^(LD_PRELOAD|LD_AUDIT|LD_LIBRARY_PATH|BASH_ENV|PERL5OPT)=/.exec(w.text);
    if (injected) refuse(`injects code through ${injected[1]}`);
    const hook = commandVariable(w.text);
    if (hook) refuse(`runs a shell command through ${hook}`);
  }

  private redirects(redirects: readonly Redirect[], strict: boolean, depth: number): void {
    for (const r of redirects) {
      this.word(r.target, strict, depth);
      if (r.body) for (const sub of r.body.subs) this.script(sub, strict, depth);
      const why = protectedWriteOp(r, this);
      if (why) refuse(`writes to ${why}`);
    }
  }
}

/** `command` compiled once: the allowlist as sets; the rules are static tables. */
export function compileCommandGuard(opts: CommandGuardOptions = {}): CommandGuard {
  if (opts.allowPrograms !== undefined && !Array.isArray(opts.allowPrograms)) {
    throw new GuardConfigError("allowPrograms", "must be a list");
  }
  const allow = opts.allowPrograms ? new ProgramAllowlist(opts.allowPrograms) : undefined;

  function inspect(value: string | readonly string[]): GuardDecision {
    const inspector = new Inspector(allow);
    if (typeof value === "string") {
      if (value.length > MAX_COMMAND_LENGTH) return denied("command_denied", "command too long");
      if (value.includes("\0")) return denied("command_denied", "NUL in command");
      inspector.source(value, true, 0);
      return ALLOWED;
    }
    if (!Array.isArray(value) || value.length === 0) return denied("command_denied", "empty command");
    let total = 0;
    const words: Word[] = value.map((arg: unknown) => {
      if (typeof arg !== "string" || arg.includes("\0")) refuse("argv entries must be strings without NUL");
      total += arg.length;
      return { text: arg, literal: true, subs: [], process: false };
    });
    if (total > MAX_COMMAND_LENGTH) return denied("command_denied", "command too long");
    // execve, not a shell: argv[0] is the program as given, nothing is expanded
    const invocations = [inspector.simple(words, [], true, 0)];
    const stages: Stage[] = [{ type: "simple", words, redirects: [] }];
    pipelineRules({ stages, background: false }, invocations, inspector, true, 0);
    // Many servers run `${command} ${args.join(" ")}` through a shell: judge that reading too, when
    // it parses (when it does not, such a server fails to run it).
    const joined = (value as readonly string[]).join(" ");
    if (/[;&|`$<>(){}\n'"\\]/.test(joined)) {
      let script: Script | undefined;
      try {
        script = parseShell(joined);
      } catch {
        script = undefined;
      }
      if (script) new Inspector(allow).script(script, true, 0);
    }
    return ALLOWED;
  }

  return Object.freeze({
    check(value: string | readonly string[]): GuardDecision {
      try {
        return inspect(value);
      } catch (e) {
        return denied("command_denied", e instanceof Refusal ? e.message : "command could not be inspected");
      }
    },
  });
}
