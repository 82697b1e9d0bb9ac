import path from "node:path";
import { refuse, unwrap, type Inspect, type Invocation } from "./command-model.js";
import { inlineCodeDanger, stringLiterals } from "./command-targets.js";
import { parseShell, type Script, type Stage, type Word } from "./shell.js";

/**
 * Code that a shell or interpreter runs: `sh -c`, `eval`, pipes and here-documents into shells,
 * `<(...)`, inline interpreter code. Where it comes from decides (network, decoders: refused;
 * literal text: inspected as the command it is).
 */

export const SHELLS = new Set([
  ...["sh", "bash", "dash", "zsh", "ksh", "mksh", "pdksh", "oksh", "ash", "yash", "fish"],
  ...["csh", "tcsh", "rbash", "elvish", "xonsh", "nu"],
]);
export const INTERPRETER =
  /^(python|pypy|perl|ruby|node|nodejs|bun|deno|php|lua|luajit|tclsh|wish|irb|jshell|pwsh|powershell|osascript|rscript|expect|groovy|julia|gawk|mawk|nawk|awk)[\d.]*$/;
export const AWK = /^(g|m|n)?awk$/;
/** Programs that fetch from the network: their output is not code to run. */
export const REMOTE = new Set([
  ...["curl", "wget", "fetch", "aria2c", "axel", "http", "https", "xh", "lwp-download", "lwp-request"],
  ...["get", "tftp", "ftp", "lftp", "ssh", "sftp", "scp"],
]);
/** Raw network pipes: with a shell in the same pipeline they make a reverse or bind shell. */
export const NETWORK = new Set([
  ...["nc", "ncat", "netcat", "nc.traditional", "nc.openbsd", "socat", "telnet", "cryptcat", "sbd"],
  ...["pwncat", "gs-netcat", "ztcp"],
]);
/** Decoders and text transforms: their output piped into a shell is an obfuscated payload. */
export const DECODERS = new Set([
  ...["base64", "base32", "basenc", "base58", "xxd", "od", "uudecode", "openssl", "gpg", "rev", "tr", "sed"],
  ...["gzip", "gunzip", "zcat", "bzip2", "bunzip2", "bzcat", "xz", "unxz", "xzcat", "zstd", "unzstd"],
  ...["zstdcat", "lzma", "unlzma", "brotli", "iconv"],
]);
const STDIN_FILES = new Set(["-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"]);
/** Environment variables whose expansion inside `sh -c "..."` or `eval` cannot inject code. */
const SAFE_VARS = "HOME|PWD|OLDPWD|USER|LOGNAME|SHELL|PATH|TMPDIR|LANG|TERM|HOSTNAME|UID";
const DYNAMIC_CODE = new RegExp(`\\$\\{?(?!(${SAFE_VARS})\\b)[A-Za-z_@*0-9#?!-]`);
const base = (p: string) => path.posix.basename(p).toLowerCase();

export function isShellOrInterpreter(name: string): boolean {
  return SHELLS.has(name) || INTERPRETER.test(name);
}

/** `bash [options] [-c CODE | FILE]`: the code word, or the script operand. */
function shellArgs(args: readonly Word[]): { code?: Word; hasC: boolean; operand?: Word } {
  let i = 0;
  let hasC = false;
  let hasS = false;
  for (; i < args.length; i++) {
    const t = (args[i] as Word).text;
    if (t === "--" || t === "-") {
      i++;
      break;
    }
    if (/^[-+][oO]$/.test(t) || t === "--rcfile" || t === "--init-file") i++;
    else if (t.startsWith("--")) continue;
    else if (/^[-+][A-Za-z]+$/.test(t)) {
      hasC ||= t.startsWith("-") && t.includes("c");
      hasS ||= t.startsWith("-") && t.includes("s");
    } else break;
  }
  if (hasC) return { hasC, code: args[i] };
  // `-s`: the code comes from stdin and the operands are its positional parameters
  return { hasC, operand: hasS ? undefined : args[i] };
}

interface InterpreterSpec {
  readonly code: RegExp;
  readonly values: ReadonlySet<string>;
}
const INTERPRETERS: ReadonlyArray<readonly [RegExp, InterpreterSpec]> = [
  [/^(python|pypy)/, { code: /^-(c|m)/, values: new Set(["-W", "-X"]) }],
  [/^perl/, { code: /^-[A-Za-z]*[eE]$/, values: new Set(["-I", "-M"]) }],
  [/^ruby|^irb/, { code: /^-e$/, values: new Set(["-I", "-r", "-C"]) }],
  [
    /^(node|nodejs|bun|deno)/,
    {
      code: /^(-e|-p|--eval|--print|eval)$/,
      values: new Set(["-r", "--require", "--import", "--loader", "-C"]),
    },
  ],
  [/^php/, { code: /^-r$/, values: new Set(["-d", "-c"]) }],
  [
    /^(pwsh|powershell)/,
    { code: /^-(c|command|e\w*)$/i, values: new Set(["-File", "-f", "-ExecutionPolicy"]) },
  ],
  [/./, { code: /^-e$/, values: new Set(["-l"]) }],
];

/** Does this pipeline stage read the program it runs from stdin (`curl ... | sh`)? */
export function readsCodeFromStdin(inv: Invocation): boolean {
  if (SHELLS.has(inv.name)) {
    const { hasC, operand } = shellArgs(inv.args);
    return !hasC && (!operand || STDIN_FILES.has(operand.text));
  }
  if (inv.name === "source" || inv.name === ".") return STDIN_FILES.has(inv.args[0]?.text ?? "");
  if (!INTERPRETER.test(inv.name) || AWK.test(inv.name)) return false;
  const spec = (INTERPRETERS.find(([re]) => re.test(inv.name)) as (typeof INTERPRETERS)[number])[1];
  for (let i = 0; i < inv.args.length; i++) {
    const t = (inv.args[i] as Word).text;
    if (t === "-") return true;
    if (!t.startsWith("-")) return STDIN_FILES.has(t);
    if (spec.code.test(t)) return false;
    if (spec.values.has(t)) i++;
  }
  return true;
}

/** Every invocation inside some stages: groups, substitutions, `sh -c` and `eval` code included. */
export function collect(stages: readonly Stage[], out: Invocation[], depth: number): void {
  if (depth > 8) refuse("commands nested too deeply");
  const scripts = (s: Script) => {
    for (const pl of s.pipelines) collect(pl.stages, out, depth + 1);
  };
  for (const st of stages) {
    if (st.type === "group") {
      scripts(st.body);
      continue;
    }
    for (const w of st.words) w.subs.forEach(scripts);
    for (const r of st.redirects) {
      r.target.subs.forEach(scripts);
      r.body?.subs.forEach(scripts);
    }
    const { invocation, nested } = unwrap(st.words, st.redirects);
    let code = nested;
    if (invocation) {
      out.push(invocation);
      if (SHELLS.has(invocation.name)) code = shellArgs(invocation.args).code?.text;
      else if (invocation.name === "eval") code = invocation.args.map((a) => a.text).join(" ");
    }
    if (code !== undefined) {
      try {
        scripts(parseShell(code));
      } catch {
        // unparsable code is refused where it runs; here it only fails to name a producer
      }
    }
  }
}

const stagesOf = (scripts: readonly Script[]) => scripts.flatMap((s) => s.pipelines.flatMap((p) => p.stages));

/**
 * Code a shell will run that comes from other commands (a pipe, `$(...)`, `<(...)`): refused when
 * those fetch from the network or decode; literal `echo`/`printf` text is inspected as the command
 * it is.
 */
export function codeSource(
  stages: readonly Stage[],
  insp: Inspect,
  strict: boolean,
  depth: number,
  what: string,
  opaque: "allow" | "deny" = "allow",
): void {
  const producers: Invocation[] = [];
  collect(stages, producers, 0);
  if (producers.some((p) => REMOTE.has(p.name) || NETWORK.has(p.name))) {
    refuse(`runs code fetched from the network (${what})`);
  }
  if (producers.some((p) => DECODERS.has(p.name) || INTERPRETER.test(p.name))) {
    refuse(`runs an encoded or transformed payload (${what})`);
  }
  const texts = producers.map(literalText);
  if (producers.length > 0 && texts.every((t) => t !== undefined)) {
    for (const t of texts) insp.source(t as string, strict, depth + 1);
  } else if (opaque === "deny") {
    refuse(`runs code the guard cannot see (${what})`);
  }
}

function decodeEscapes(s: string): string {
  return s.replace(/\\(x[0-9a-fA-F]{1,2}|u[0-9a-fA-F]{1,4}|0?[0-7]{1,3}|.)/g, (_, e: string) => {
    if (/^x/.test(e) || /^u/.test(e)) return String.fromCodePoint(parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8) & 0xff);
    return (
      ({ n: "\n", t: "\t", r: "\r", "\\": "\\", a: "\x07", e: "\x1b" } as Record<string, string>)[e] ??
      `\\${e}`
    );
  });
}

/** The text a literal `echo`, `printf` or `cat <<EOF` produces; undefined for anything else. */
function literalText(p: Invocation): string | undefined {
  if (p.name === "cat" && p.args.length === 0) {
    const doc = p.redirects.find((r) => r.op === "<<<" || r.op === "<<" || r.op === "<<-");
    const word = doc?.op === "<<<" ? doc.target : doc?.body;
    return word && word.subs.length === 0 ? word.text : undefined;
  }
  if (p.name !== "echo" && p.name !== "printf") return undefined;
  return p.args.every((a) => a.literal && a.subs.length === 0) ? echoText(p) : undefined;
}

function echoText(p: Invocation): string {
  const args = p.args.map((a) => a.text);
  if (p.name === "echo") {
    while (args.length > 0 && /^-[neE]+$/.test(args[0] as string)) args.shift();
    return decodeEscapes(args.join(" "));
  }
  const [format = "", ...rest] = args;
  let k = 0;
  return decodeEscapes(format).replace(/%[-+ #0-9.]*([a-zA-Z%])/g, (m, conv: string) =>
    conv === "%" ? "%" : decodeEscapes(rest[k++] ?? ""),
  );
}

/** Code handed to a shell as words (`sh -c`, `eval`, `trap`, here-strings). */
export function runCode(
  words: readonly Word[],
  insp: Inspect,
  strict: boolean,
  depth: number,
  what: string,
): void {
  for (const w of words) {
    if (!w.literal && DYNAMIC_CODE.test(w.text)) refuse(`${what} runs code from a variable`);
    if (w.subs.length > 0) codeSource(stagesOf(w.subs), insp, strict, depth, what);
  }
  // a substitution's output was judged above by what produces it; the rest is read as code
  insp.source(
    words.map((w) => (w.subs.length > 0 ? w.text.replaceAll("$()", "") : w.text)).join(" "),
    strict,
    depth + 1,
  );
}

/** A script a shell or interpreter reads from a file operand or stdin redirection. */
export function scriptFile(w: Word, insp: Inspect, strict: boolean, depth: number, what: string): void {
  if (w.process) codeSource(stagesOf(w.subs), insp, strict, depth, what);
  else if (insp.downloads.has(base(w.text))) refuse(`runs a file downloaded in the same command (${what})`);
}

function stdinCode(inv: Invocation, insp: Inspect, strict: boolean, depth: number, shell: boolean): void {
  for (const r of inv.redirects) {
    const text = r.op === "<<<" ? r.target : r.op === "<<" || r.op === "<<-" ? r.body : undefined;
    if (r.op === "<") scriptFile(r.target, insp, strict, depth, inv.name);
    if (!text) continue;
    if (shell) runCode([text], insp, strict, depth, inv.name);
    else interpreterCode(text.text, insp, depth);
    if (!shell && text.subs.length > 0) codeSource(stagesOf(text.subs), insp, strict, depth, inv.name);
  }
}

function interpreterCode(code: string, insp: Inspect, depth: number): void {
  const danger = inlineCodeDanger(code);
  if (danger) refuse(danger);
  for (const literal of stringLiterals(code)) insp.source(literal, false, depth + 1);
}

type Rule = (inv: Invocation, insp: Inspect, strict: boolean, depth: number) => void;

export const shell: Rule = (inv, insp, strict, depth) => {
  const { hasC, code, operand } = shellArgs(inv.args);
  if (hasC) {
    if (!code) refuse(`${inv.name} -c without a command`);
    runCode([code], insp, strict, depth, `${inv.name} -c`);
  } else if (operand) scriptFile(operand, insp, strict, depth, inv.name);
  stdinCode(inv, insp, strict, depth, true);
};

export const interpreter: Rule = (inv, insp, strict, depth) => {
  if (/^(pwsh|powershell)/.test(inv.name) && inv.args.some((a) => /^-(e|ec|en\w*)$/i.test(a.text))) {
    refuse("runs an encoded PowerShell command");
  }
  interpreterCode(inv.args.map((a) => a.text).join(" "), insp, depth);
  for (const a of inv.args) if (a.process) codeSource(stagesOf(a.subs), insp, strict, depth, inv.name);
  const operand = inv.args.find((a) => !a.text.startsWith("-"));
  if (operand && insp.downloads.has(base(operand.text))) refuse(`runs a file downloaded in the same command`);
  stdinCode(inv, insp, strict, depth, false);
};
