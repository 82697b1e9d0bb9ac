import path from "node:path";
import {
  codeSource,
  collect,
  interpreter,
  INTERPRETER,
  isShellOrInterpreter,
  NETWORK,
  readsCodeFromStdin,
  REMOTE,
  runCode,
  scriptFile,
  shell,
  SHELLS,
} from "./command-code.js";
import { refuse, unwrap, type Inspect, type Invocation } from "./command-model.js";
import { DESTRUCTIVE, exfiltrationPipes, systemRules } from "./command-system.js";
import { protectedTarget, protectedWrite } from "./command-targets.js";
import type { Group, Pipeline, Redirect, Script, Word } from "./shell.js";

/**
 * The command guard's deny rules: which programs and forms are refused, per simple command and per
 * pipeline. Each refusal names the form, not the argument (the detail goes to the audit log).
 */

const ESCALATION = new Set(["sudo", "su", "doas", "pkexec", "run0", "runuser", "sudoedit", "ksu"]);
const DISK_WIPE = new Set(["mke2fs", "mkswap", "mkntfs", "mkdosfs", "wipefs", "blkdiscard"]);
const PARTITION = new Set(["fdisk", "sfdisk", "cfdisk", "parted", "gdisk", "sgdisk"]);
const POWER = new Set(["shutdown", "reboot", "halt", "poweroff", "kexec"]);
const POWER_VERBS = new Set([
  ...["poweroff", "reboot", "halt", "kexec", "emergency", "rescue", "suspend", "hibernate"],
  ...["hybrid-sleep", "isolate", "soft-reboot"],
]);
/** Where a mutating program writes: every operand, or its last (destination). */
const MUTATES = new Map<string, "all" | "last">([
  ...["rm", "rmdir", "unlink", "shred", "truncate", "touch", "mkdir", "chmod", "chown", "chgrp"].map(
    (n) => [n, "all"] as const,
  ),
  ...["chattr", "setfacl", "mknod", "mkfifo", "tee", "mv"].map((n) => [n, "all"] as const),
  ...["cp", "install", "ln", "rsync", "scp"].map((n) => [n, "last"] as const),
]);
const WRITE_OPS = new Set([">", ">>", ">|", "&>", "&>>", "<>", ">&"]);

interface Args {
  readonly flags: readonly string[];
  readonly operands: readonly Word[];
}

function parseArgs(args: readonly Word[], values: ReadonlySet<string> = new Set()): Args {
  const flags: string[] = [];
  const operands: Word[] = [];
  let ended = false;
  for (let i = 0; i < args.length; i++) {
    const w = args[i] as Word;
    if (!ended && w.text === "--") ended = true;
    else if (!ended && w.text.length > 1 && w.text.startsWith("-")) {
      flags.push(w.text);
      if (values.has(w.text)) i++;
    } else operands.push(w);
  }
  return { flags, operands };
}

const short = (flags: readonly string[], letters: string) =>
  flags.some((f) => /^-[A-Za-z0-9]+$/.test(f) && [...letters].some((l) => f.includes(l)));
const long = (flags: readonly string[], name: string) =>
  flags.some((f) => f === name || f.startsWith(`${name}=`));
const base = (p: string) => path.posix.basename(p).toLowerCase();

export function protectedWriteOp(r: Redirect, insp: Inspect): string | undefined {
  if (!WRITE_OPS.has(r.op)) return undefined;
  if (r.op === ">&" && /^(\d+|-)$/.test(r.target.text)) return undefined;
  return protectedWrite(insp.expand(r.target.text));
}

type Rule = (inv: Invocation, insp: Inspect, strict: boolean, depth: number) => void;

function rm(inv: Invocation, insp: Inspect): void {
  const { flags, operands } = parseArgs(inv.args);
  if (long(flags, "--no-preserve-root")) refuse("rm --no-preserve-root");
  if (!short(flags, "rR") && !long(flags, "--recursive")) return;
  if (inv.viaXargs) refuse("recursive delete of targets read from stdin (xargs rm -r)");
  for (const t of operands) {
    if (protectedTarget(insp.expand(t.text))) refuse(`recursive delete of ${t.text}`);
    if (t.text.startsWith("$()")) refuse("recursive delete of a path computed at run time");
  }
}

const find: Rule = (inv, insp, strict, depth) => {
  const args = inv.args;
  let i = 0;
  while (i < args.length && /^-[HLP]$|^-O\d$/.test((args[i] as Word).text)) i++;
  const roots: Word[] = [];
  while (i < args.length && !/^[-(!]/.test((args[i] as Word).text)) roots.push(args[i++] as Word);
  // the working directory itself is fine for find: `find . -name '*.pyc' -delete` is routine
  const risky = roots.filter((r) => protectedTarget(insp.expand(r.text)) && !/^\.\/?$/.test(r.text));
  for (; i < args.length; i++) {
    const t = (args[i] as Word).text;
    if (t === "-delete" && risky.length > 0) refuse(`find ${(risky[0] as Word).text} -delete`);
    if (t !== "-exec" && t !== "-execdir" && t !== "-ok" && t !== "-okdir") continue;
    const command: Word[] = [];
    for (i++; i < args.length && (args[i] as Word).text !== ";" && (args[i] as Word).text !== "+"; i++) {
      command.push(args[i] as Word);
    }
    if (command.length === 0) refuse("find -exec without a command");
    // each match deleted one by one is a recursive delete of the starting point: `find ~ -exec rm {} +`
    const program = base(command[0]?.text ?? "");
    if (risky.length > 0 && (program === "rm" || program === "unlink" || DESTRUCTIVE.has(program)))
      refuse(`find ${(risky[0] as Word).text} -exec ${program}`);
    // a protected starting point is itself among the matches: `find / -exec rm -rf {} +` deletes /
    for (const root of risky.length > 0 ? risky : [undefined]) {
      const words = root ? command.map((w) => (w.text === "{}" ? root : w)) : command;
      insp.simple(words, [], strict, depth + 1);
    }
  }
};

function recursivePermissions(inv: Invocation, insp: Inspect): void {
  const { flags, operands } = parseArgs(inv.args);
  if (inv.name === "chmod") {
    const mode = operands[0]?.text ?? "";
    if (/^0*[2-7][0-7]{3}$/.test(mode) || /[+=][rwxXt]*s/.test(mode))
      refuse("chmod sets the setuid or setgid bit");
  }
  if (!short(flags, "R") && !long(flags, "--recursive")) return;
  for (const t of operands)
    if (protectedTarget(insp.expand(t.text))) refuse(`recursive ${inv.name} of ${t.text}`);
}

function mv(inv: Invocation, insp: Inspect): void {
  const { operands } = parseArgs(inv.args, new Set(["-t", "-S"]));
  for (const t of operands.slice(0, -1)) if (protectedTarget(insp.expand(t.text))) refuse(`moves ${t.text}`);
  const dest = operands[operands.length - 1];
  const why = dest && protectedWrite(insp.expand(dest.text), { devices: "all" });
  if (why) refuse(`mv writes to ${why}`);
}

/** Options that name where a program writes, per program (`-o FILE`, `--output=FILE`, `of=FILE`). */
const WRITE_OPTIONS = new Map<string, RegExp>([
  ["dd", /^of$/],
  ["curl", /^(-o|--output|--output-dir)$/],
  ["wget", /^(-O|--output-document|-P|--directory-prefix)$/],
  ["tar", /^(-C|--directory)$/],
  ["unzip", /^-d$/],
  ["cp", /^(-t|--target-directory)$/],
  ["mv", /^(-t|--target-directory)$/],
  ["install", /^(-t|--target-directory)$/],
  ["ln", /^(-t|--target-directory)$/],
]);

function mutationTargets(inv: Invocation, insp: Inspect): void {
  const where = MUTATES.get(inv.name);
  const { flags, operands } = parseArgs(inv.args);
  const targets: string[] = [];
  if (where === "all") targets.push(...operands.map((w) => w.text));
  else if (where === "last" && operands.length > 0)
    targets.push((operands[operands.length - 1] as Word).text);
  else if (
    (inv.name === "sed" || inv.name === "perl") &&
    flags.some((f) => /^-i|^--in-place|^-[A-Za-z]*i/.test(f))
  ) {
    targets.push(...operands.map((w) => w.text));
  }
  const option = WRITE_OPTIONS.get(inv.name);
  inv.args.forEach((a, k) => {
    if (!option) return;
    const eq = a.text.indexOf("=");
    if (option.test(a.text)) targets.push(inv.args[k + 1]?.text ?? "");
    else if (eq > 0 && option.test(a.text.slice(0, eq))) targets.push(a.text.slice(eq + 1));
  });
  for (const t of targets) {
    const why = protectedWrite(insp.expand(t));
    if (why) refuse(`${inv.name} modifies ${why}`);
  }
}

function registerDownloads(inv: Invocation, insp: Inspect): void {
  const args = inv.args.map((a) => a.text);
  const urls = args.filter((a) => /^[a-z]+:\/\//i.test(a));
  const urlNames = () =>
    urls.map((u) => {
      try {
        return base(new URL(u).pathname) || "index.html";
      } catch {
        return base(u);
      }
    });
  let explicit = false;
  args.forEach((a, k) => {
    const m = /^(?:-o|--output|-O|--output-document)=?(.*)$/.exec(a);
    const isOutput = inv.name === "curl" ? /^(-o|--output)/.test(a) : /^(-O|--output-document)/.test(a);
    if (!m || !isOutput) return;
    const file = m[1] !== "" ? m[1] : args[k + 1];
    if (file && file !== "-") insp.downloads.add(base(file));
    explicit = true;
  });
  const remoteName =
    inv.name === "curl" && args.some((a) => a === "--remote-name" || /^-[A-Za-z]*O[A-Za-z]*$/.test(a));
  if (remoteName || (inv.name === "wget" && !explicit)) for (const n of urlNames()) insp.downloads.add(n);
}

const RULES = new Map<string, Rule>([
  ["rm", rm],
  ["find", find],
  ["mv", mv],
  ["chmod", recursivePermissions],
  ["chown", recursivePermissions],
  ["chgrp", recursivePermissions],
  ["chattr", recursivePermissions],
  ["setfacl", recursivePermissions],
  [
    "rsync",
    (inv, insp) => {
      const { flags, operands } = parseArgs(inv.args);
      const dest = operands[operands.length - 1];
      if (flags.some((f) => f.startsWith("--delete")) && dest && protectedTarget(insp.expand(dest.text))) {
        refuse(`rsync --delete into ${dest.text}`);
      }
    },
  ],
  [
    "kill",
    (inv) => {
      const args = inv.args.map((a) => a.text);
      let i = 0;
      if (args[i] === "-s" || args[i] === "-n") i += 2;
      else if (/^-(\d+|[A-Za-z]+)$/.test(args[i] ?? "") && args.length > 1) i++;
      if (args.slice(i).some((a) => a === "-1" || a === "1")) refuse("kills every process");
    },
  ],
  [
    "crontab",
    (inv) => {
      const flags = inv.args.map((a) => a.text);
      if (!flags.includes("-l") || flags.includes("-r") || flags.includes("-e")) refuse("changes a crontab");
    },
  ],
  [
    "socat",
    (inv) => {
      if (inv.args.some((a) => /(^|[,!:])\s*(exec|system)\s*:/i.test(a.text)))
        refuse("socat running a program");
    },
  ],
  [
    "xterm",
    (inv) => {
      if (inv.args.some((a) => a.text === "-display")) refuse("remote X terminal");
    },
  ],
  [
    "zmodload",
    (inv) => {
      if (inv.args.some((a) => /zsh\/net\//.test(a.text))) refuse("zsh network module");
    },
  ],
  [
    "systemctl",
    (inv) => {
      const verb = parseArgs(inv.args).operands[0]?.text ?? "";
      if (POWER_VERBS.has(verb)) refuse(`systemctl ${verb}`);
    },
  ],
  ["eval", (inv, insp, strict, depth) => runCode(inv.args, insp, strict, depth, "eval")],
  [
    "trap",
    (inv, insp, strict, depth) => {
      const code = parseArgs(inv.args).operands[0];
      if (code) runCode([code], insp, strict, depth, "trap");
    },
  ],
  [
    "alias",
    (inv, insp, strict, depth) => {
      for (const a of inv.args) {
        const m = /^[^=]+=([\s\S]*)$/.exec(a.text);
        if (m) insp.source(m[1] as string, strict, depth + 1);
      }
    },
  ],
  [
    "watch",
    (inv, insp, strict, depth) => {
      const { operands } = parseArgs(inv.args, new Set(["-n", "--interval", "-d"]));
      if (operands.length > 0) runCode(operands, insp, strict, depth, "watch");
    },
  ],
  [
    "script",
    (inv, insp, strict, depth) => {
      const k = inv.args.findIndex((a) => a.text === "-c" || a.text === "--command");
      const code = k >= 0 ? inv.args[k + 1] : undefined;
      if (code) runCode([code], insp, strict, depth, "script -c");
    },
  ],
  [
    "ssh",
    (inv, insp, _strict, depth) => {
      const values = new Set([
        "-p",
        "-i",
        "-l",
        "-o",
        "-F",
        "-J",
        "-L",
        "-R",
        "-D",
        "-b",
        "-c",
        "-e",
        "-m",
        "-O",
      ]);
      const remote = parseArgs(inv.args, values).operands.slice(1);
      // the remote host's programs are not this gateway's allowlist, but its deny rules still apply
      if (remote.length > 0) insp.source(remote.map((w) => w.text).join(" "), false, depth + 1);
    },
  ],
]);

for (const name of ["source", "."]) {
  RULES.set(name, (inv, insp, strict, depth) => {
    const file = inv.args[0];
    if (file) scriptFile(file, insp, strict, depth, name);
  });
}

/** Every per-program rule for one invocation. */
export function programRules(inv: Invocation, insp: Inspect, strict: boolean, depth: number): void {
  const name = inv.name;
  if (ESCALATION.has(name)) refuse(`privilege escalation (${name})`);
  systemRules(inv);
  if (insp.downloads.has(name)) refuse("runs a file downloaded in the same command");
  if (name.startsWith("mkfs") || DISK_WIPE.has(name)) refuse(`formats or wipes a disk (${name})`);
  if (PARTITION.has(name) && !inv.args.some((a) => a.text === "-l" || a.text === "--list")) {
    refuse(`repartitions a disk (${name})`);
  }
  if (POWER.has(name) || name === "killall5") refuse(`stops the machine (${name})`);
  if ((name === "init" || name === "telinit") && inv.args.some((a) => /^[0156sS]$/.test(a.text))) {
    refuse(`changes the runlevel (${name})`);
  }
  if (NETWORK.has(name) && name !== "socat" && name !== "telnet") {
    const execs = inv.args.some(
      (a) => /^-[A-Za-z]*[ec][A-Za-z]*$/.test(a.text) || /^--(sh-|lua-)?exec/.test(a.text),
    );
    if (execs || name === "ztcp") refuse(`network tool running a program (${name})`);
  }
  if (name === "chmod" && inv.args.some((a) => insp.downloads.has(base(a.text)))) {
    refuse("makes a file downloaded in the same command executable");
  }
  RULES.get(name)?.(inv, insp, strict, depth);
  if (SHELLS.has(name)) shell(inv, insp, strict, depth);
  else if (INTERPRETER.test(name)) interpreter(inv, insp, strict, depth);
  mutationTargets(inv, insp);
  if (REMOTE.has(name)) registerDownloads(inv, insp);
}

/** Rules that need the whole pipeline: code piped into a shell, a shell wired to the network. */
export function pipelineRules(
  pipeline: Pipeline,
  invocations: ReadonlyArray<Invocation | undefined>,
  insp: Inspect,
  strict: boolean,
  depth: number,
): void {
  const stages = pipeline.stages;
  exfiltrationPipes(pipeline, invocations);
  for (let k = 1; k < stages.length; k++) {
    const inv = invocations[k];
    // a pipe into a shell is acceptable only when what it pipes is literal text, checked as code
    if (inv && readsCodeFromStdin(inv)) {
      codeSource(stages.slice(0, k), insp, strict, depth, `piped into ${inv.name}`, "deny");
    }
  }
  if (stages.length > 1) {
    const all: Invocation[] = [];
    collect(stages, all, 0);
    const network = all.some(
      (i) =>
        NETWORK.has(i.name) ||
        (i.name === "openssl" && i.args.some((a) => a.text === "s_client")) ||
        i.args.some((a) => /^telnet:\/\//i.test(a.text)),
    );
    if (network && all.some((i) => isShellOrInterpreter(i.name)))
      refuse("a shell wired to the network (reverse shell)");
  }
  // `curl URL > x.sh` and `curl URL | tee x.sh`: remember the file, in case it is run later
  const fetched = invocations.findIndex((i) => i !== undefined && REMOTE.has(i.name));
  if (fetched >= 0) {
    stages.slice(fetched).forEach((st, k) => {
      const inv = invocations[fetched + k];
      for (const r of st.redirects) if (WRITE_OPS.has(r.op)) insp.downloads.add(base(r.target.text));
      if (inv?.name === "tee") for (const w of parseArgs(inv.args).operands) insp.downloads.add(base(w.text));
    });
  }
}

/** `:(){ :|:& };:` and its spellings: a function that starts itself in a pipeline or the background. */
export function forkBomb(group: Group): void {
  const name = (group.fn ?? "").toLowerCase();
  const spawns = (script: Script): boolean =>
    script.pipelines.some((pl) => {
      if (pl.stages.some((st) => st.type === "group" && spawns(st.body))) return true;
      const calls = pl.stages.some(
        (st) => st.type === "simple" && unwrap(st.words, st.redirects).invocation?.name === name,
      );
      return calls && (pl.stages.length > 1 || pl.background);
    });
  if (spawns(group.body)) refuse(`fork bomb (function ${group.fn} spawns itself)`);
}
