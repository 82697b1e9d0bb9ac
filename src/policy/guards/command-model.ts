import path from "node:path";
import type { Redirect, Script, Word } from "./shell.js";

/** Thrown inside an inspection; becomes the denial's detail. */
export class Refusal extends Error {
  override readonly name = "Refusal";
}

export function refuse(detail: string): never {
  throw new Refusal(detail);
}

/** A simple command after assignments and wrappers: the program that really runs, and its arguments. */
export interface Invocation {
  /** Basename of the program, lower-cased (deny rules ignore case, as case-insensitive volumes do). */
  readonly name: string;
  readonly word: Word;
  readonly args: readonly Word[];
  readonly redirects: readonly Redirect[];
  /** Run by xargs: more operands arrive from stdin. */
  readonly viaXargs: boolean;
}

/** What the rules may ask of the inspection in progress (implemented by command.ts's Inspector). */
export interface Inspect {
  /** Basenames of files downloaded earlier in the same command line (download-then-run). */
  readonly downloads: Set<string>;
  /** `text` with the variables assigned earlier in the same command line substituted (`X=/; rm -rf $X`). */
  expand(text: string): string;
  /** Inspects a command line that will be run (`sh -c`, `eval`, here-document to a shell, ...). */
  source(text: string, strict: boolean, depth: number): void;
  script(script: Script, strict: boolean, depth: number): void;
  simple(
    words: readonly Word[],
    redirects: readonly Redirect[],
    strict: boolean,
    depth: number,
  ): Invocation | undefined;
}

const KEYWORDS = new Set([
  "!",
  "if",
  "then",
  "else",
  "elif",
  "fi",
  "do",
  "done",
  "while",
  "until",
  "esac",
  "{",
  "}",
]);
/** Commands whose words are not a program invocation (their substitutions are still inspected). */
const NOT_COMMANDS = new Set(["for", "select", "case", "in", "function"]);
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=/;

interface WrapperSpec {
  /** Options that take a separate value. */
  readonly values?: ReadonlySet<string>;
  /** Leading operands that are not the program (timeout's duration, flock's lock file, chrt's priority). */
  readonly skipOperands?: number;
}

const WRAPPERS: ReadonlyMap<string, WrapperSpec> = new Map<string, WrapperSpec>([
  ["env", { values: new Set(["-u", "--unset", "-C", "--chdir"]) }],
  ["command", {}],
  ["exec", { values: new Set(["-a"]) }],
  ["builtin", {}],
  ["nohup", {}],
  ["time", {}],
  ["setsid", {}],
  ["unbuffer", {}],
  ["nice", { values: new Set(["-n", "--adjustment"]) }],
  ["timeout", { values: new Set(["-s", "--signal", "-k", "--kill-after"]), skipOperands: 1 }],
  ["stdbuf", { values: new Set(["-i", "-o", "-e"]) }],
  ["ionice", { values: new Set(["-c", "-n", "--class", "--classdata"]) }],
  ["chrt", { skipOperands: 1 }],
  ["taskset", { skipOperands: 1 }],
  ["flock", { values: new Set(["-w", "--timeout", "-E", "--conflict-exit-code"]), skipOperands: 1 }],
  [
    "xargs",
    {
      values: new Set([
        "-I",
        "-n",
        "-P",
        "-L",
        "-s",
        "-d",
        "-E",
        "-a",
        "--arg-file",
        "--delimiter",
        "--max-args",
      ]),
    },
  ],
  ["busybox", {}],
]);

/**
 * Strips keywords, assignments and exec wrappers: `FOO=1 env -i nice -n 5 timeout 10 rm -rf /` runs
 * rm. `env -S`, `flock -c` and `command -v` are special: a nested command line, or nothing run.
 */
export function unwrap(
  words: readonly Word[],
  redirects: readonly Redirect[],
): { invocation?: Invocation; nested?: string } {
  let i = 0;
  let viaXargs = false;
  while (i < words.length && words[i]?.literal && KEYWORDS.has((words[i] as Word).text)) i++;
  if (i < words.length && words[i]?.literal && NOT_COMMANDS.has((words[i] as Word).text)) return {};
  for (;;) {
    while (i < words.length && ASSIGNMENT.test((words[i] as Word).text)) i++;
    const word = words[i];
    if (!word) return {};
    const name = path.posix.basename(word.text).toLowerCase();
    const spec = word.literal ? WRAPPERS.get(name) : undefined;
    if (!spec) {
      return { invocation: { name, word, args: words.slice(i + 1), redirects, viaXargs } };
    }
    i++;
    let skip = spec.skipOperands ?? 0;
    while (i < words.length) {
      const t = (words[i] as Word).text;
      if (t === "--") {
        i++;
        break;
      }
      if (t.startsWith("-") && t !== "-") {
        if (
          (name === "env" && (t === "-S" || t.startsWith("--split-string"))) ||
          (name === "flock" && (t === "-c" || t === "--command"))
        ) {
          const value = t.includes("=") ? t.slice(t.indexOf("=") + 1) : (words[i + 1]?.text ?? "");
          const rest = words.slice(i + (t.includes("=") ? 1 : 2)).map((w) => w.text);
          return { nested: [value, ...rest].join(" ") };
        }
        if (name === "command" && (t === "-v" || t === "-V")) return {};
        i += spec.values?.has(t) ? 2 : 1;
        continue;
      }
      if (skip > 0) {
        skip--;
        i++;
        continue;
      }
      break;
    }
    if (name === "xargs") {
      viaXargs = true;
      if (i >= words.length)
        return { invocation: { name: "echo", word: words[i - 1] as Word, args: [], redirects, viaXargs } };
    }
  }
}
