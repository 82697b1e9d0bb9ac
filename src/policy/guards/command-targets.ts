import path from "node:path";

/** What a command word names, judged on its text (quotes removed, `$HOME` read as `~`). */

/** Top-level directories whose direct children are system state too (`/usr/lib`, `/home/alice`). */
const SYSTEM_TOP = new Set([
  "bin",
  "boot",
  "dev",
  "etc",
  "home",
  "lib",
  "lib32",
  "lib64",
  "libx32",
  "nix",
  "opt",
  "proc",
  "root",
  "run",
  "sbin",
  "snap",
  "srv",
  "sys",
  "usr",
  "var",
  "users",
  "system",
  "library",
  "applications",
  "private",
]);

/** Parents whose children are each a service's whole state: deleting one is deleting its data. */
const DATA_PARENTS = new Set([
  "var/lib",
  "var/spool",
  "var/mail",
  "var/backups",
  "var/www",
  "var/opt",
  "var/db",
  "usr/local",
  "usr/share",
  "usr/lib",
]);

/** Directories a command must not write into: the OS, its configuration, logs, the admin's home. */
const WRITE_PROTECTED_TOP = new Set([
  "bin",
  "boot",
  "etc",
  "lib",
  "lib32",
  "lib64",
  "libx32",
  "proc",
  "root",
  "sbin",
  "sys",
  "usr",
]);
const WRITE_PROTECTED_PREFIX = [
  "/var/spool/cron",
  "/var/log",
  "/var/lib/dpkg",
  "/var/lib/rpm",
  "/var/lib/apt",
];
/** Files in a home directory that run code at the next login or shell. */
const PERSISTENCE =
  /^~\/(\.bashrc|\.bash_profile|\.bash_login|\.profile|\.zshrc|\.zshenv|\.zprofile|\.ssh(\/|$)|\.config\/autostart(\/|$)|\.config\/systemd(\/|$))/;
/** Devices that are harmless to write to. */
const HARMLESS_DEVICE = /^\/dev\/(null|zero|stdout|stderr|stdin|tty|fd\/\d+|pts\/\d+|shm(\/|$))/;

const HOME = /^(\$HOME|\$\{HOME\})(?=\/|$)/;
const EXPANSION = /\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\$[0-9@*#?$!-]|\$\(\)|\$\(\(\)\)/g;

export function homeAsTilde(text: string): string {
  return text.replace(HOME, "~");
}

function hasGlob(c: string): boolean {
  return /[*?[]/.test(c);
}

/** `.`, `..`, `*`, `.*`, `*.*`: a component that stands for a whole directory's contents. */
function wholeDirectory(c: string): boolean {
  return c === "." || c === ".." || /^[.*?]*[*?][.*?]*$/.test(c);
}

/**
 * A target whose recursive deletion, move or permission change wrecks the machine or the user:
 * `/` and anything one level below it, system directories' children, the home directory (`~`,
 * `~user`, `$HOME`) and its whole contents, the working directory as a whole (`.`, `*`, `..`).
 * Unknown variables are read as empty (`"$DIR/"` with DIR unset is `/`: the Steam bug).
 */
export function protectedTarget(raw: string): boolean {
  const t = homeAsTilde(raw).replace(EXPANSION, "");
  if (t === "") return false; // nothing but variables: unknowable, and an empty operand deletes nothing
  if (t.startsWith("~")) {
    const slash = t.indexOf("/");
    const rest = slash < 0 ? "" : t.slice(slash + 1);
    const comps = rest.split("/").filter((c) => c !== "" && c !== ".");
    return (
      comps.length === 0 || comps.includes("..") || (comps.length === 1 && wholeDirectory(comps[0] as string))
    );
  }
  if (t.startsWith("/")) {
    const comps = path.posix
      .normalize(t)
      .split("/")
      .filter((c) => c !== "");
    if (comps.length <= 1) return true;
    const top = comps[0] as string;
    if (hasGlob(top)) return true;
    if (comps.length === 2) return SYSTEM_TOP.has(top.toLowerCase());
    // a service's whole data or spool directory (`/var/lib/postgresql`, `/var/www/site`)
    return comps.length === 3 && DATA_PARENTS.has(`${top}/${comps[1]}`.toLowerCase());
  }
  const comps = t.split("/").filter((c) => c !== "");
  return comps.length === 0 || comps.every(wholeDirectory);
}

/** Why writing to `raw` is refused, or undefined. Unknown variables make a target unknowable: allowed. */
export function protectedWrite(raw: string, opts: { devices?: "all" } = {}): string | undefined {
  const t = homeAsTilde(raw);
  if (t.includes("$")) return undefined;
  if (t.startsWith("~")) {
    const n = `~${path.posix.normalize(t.slice(1) || "/")}`;
    return PERSISTENCE.test(n) ? "a login or shell start-up file" : undefined;
  }
  if (/(^|\/)\.git\/hooks(\/|$)/.test(t)) return "git hooks";
  if (!t.startsWith("/")) return undefined;
  const n = path.posix.normalize(t);
  if (n === "/") return "the root directory";
  if (n.startsWith("/dev/")) {
    if (/^\/dev\/(tcp|udp)\//.test(n)) return "a network socket";
    return opts.devices !== "all" && HARMLESS_DEVICE.test(n) ? undefined : "a device";
  }
  const top = n.split("/")[1]?.toLowerCase() ?? "";
  if (WRITE_PROTECTED_TOP.has(top)) return `the system directory /${top}`;
  const prefix = WRITE_PROTECTED_PREFIX.find((p) => n === p || n.startsWith(`${p}/`));
  return prefix ? `the system directory ${prefix}` : undefined;
}

/** Credential stores: a command that names one is refused, whatever it does with it. */
const CREDENTIALS: ReadonlyArray<readonly [RegExp, string]> = [
  [/(^|[\s'"=:(,/~])\.ssh(\/|$|[\s'")])/, "~/.ssh"],
  [/(^|[\s'"=:(,/])id_(rsa|dsa|ecdsa|ed25519)(?!\.pub)\b/, "an SSH private key"],
  [/\.aws\/(credentials|config)/, "~/.aws/credentials"],
  [/(^|[\s'"=:(,/~])\.(gnupg|azure)(\/|$|[\s'")])/, "a key store"],
  [/\.kube\/config/, "~/.kube/config"],
  [/\.docker\/config\.json/, "~/.docker/config.json"],
  [/\.config\/(gcloud|gh)(\/|$|[\s'")])/, "cloud CLI credentials"],
  [/(^|[\s'"=:(,/~])\.(netrc|npmrc|pypirc|pgpass|git-credentials|vault-token)\b/, "a credentials file"],
  [/\/etc\/(shadow|gshadow|master\.passwd|sudoers)\b/, "/etc/shadow"],
  [/\/proc\/(self|\d+|\*|thread-self)\/(environ|mem)\b/, "process memory or environment"],
  [/\/(var\/)?run\/secrets(\/|$|[\s'")])/, "mounted secrets"],
  [/(^|[\s'"=:(,/])\.env(\.[A-Za-z0-9_.-]+)?($|[\s'");/])/, "a .env file"],
  [/(^|[\s'"=:(,/~])\.(bash|zsh)_history\b/, "shell history"],
];

/** Well-known credential files, for words that name them through a glob (`cat /et?/sha*`). */
const CREDENTIAL_FILES = [
  "/etc/shadow",
  "/etc/gshadow",
  "/etc/sudoers",
  "/etc/master.passwd",
  "~/.ssh/id_rsa",
  "~/.ssh/id_ed25519",
  "~/.ssh/id_ecdsa",
  "~/.aws/credentials",
  "~/.kube/config",
  "~/.docker/config.json",
  "~/.netrc",
  "~/.git-credentials",
  "/proc/self/environ",
  "/run/secrets",
  "/var/run/secrets",
];

function globRegExp(glob: string): RegExp {
  let re = "";
  for (const c of glob) {
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += c.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}`);
}

/** One path to a public key (`~/.ssh/id_ed25519.pub`): reading it (a fingerprint) gives nothing away. */
const PUBLIC_KEY = /^(?:~|\/[\w.-]+(?:\/[\w.-]+)*)?\/\.ssh\/[\w.@-]+\.pub$/;

export function credentialReference(text: string): string | undefined {
  const t = homeAsTilde(text);
  if (PUBLIC_KEY.test(t) && !t.includes("..")) return undefined;
  for (const [pattern, label] of CREDENTIALS) if (pattern.test(t)) return label;
  if (/[*?]/.test(t) && !t.includes("[") && t.length < 256) {
    const re = globRegExp(t);
    const hit = CREDENTIAL_FILES.find((f) => re.test(f));
    if (hit) return hit;
  }
  return undefined;
}

/** Heuristics for code handed to an interpreter inline (`python -c`, `perl -e`, `node -e`, awk programs). */
const NETWORK_API =
  /socket|fsockopen|TCPSocket|TCPClient|Net\.Sockets|IO::Socket|net\.connect|createConnection|net\.Socket|\/inet\/(tcp|udp)|\/dev\/(tcp|udp)|pty\.spawn/i;
const PROCESS_API =
  /\b(exec\w*|spawn\w*|system|popen|subprocess|dup2?|pty|child_process|execute|Invoke-Expression|iex|GetStream|proc_open|shell_exec|passthru)\b|open\s*\(\s*STD/i;
const DECODE_API =
  /b64decode|base64_decode|decode_base64|decode64|unpack\s*\(?\s*['"]m|atob\s*\(|FromBase64String|unhexlify|fromhex|fromCharCode|Buffer\.from\s*\([^)]*['"](base64|hex)['"]|codecs\.decode|\.decode\s*\(\s*['"](base64|hex|rot.?13)['"]/i;
const EVAL_API =
  /\b(exec|eval|system|popen|spawn\w*|execSync|Function|compile|Invoke-Expression|iex|subprocess|instance_eval|assert)\b/;
const DELETE_ROOT =
  /\b(rmtree|rm_rf|rm_r|rmSync|rimraf|remove_dir_all|deleteRecursively|removeRecursively)\s*\(\s*(['"](\/|~|~\/|\/\*)['"]|os\.path\.expanduser\(\s*['"]~['"]\s*\)|Dir\.home|os\.homedir\(\)|\$ENV\{HOME\})/;

/** Inline code that hands a command line to the system: what it runs is hidden from this guard's parser. */
const EXEC_CALL =
  /\b(?:system|passthru|shell_exec|popen|proc_open|pcntl_exec|execSync|spawnSync|execFileSync|execFile|execv[pe]?|execl[pe]?|IO\.popen|Open3\.\w+)\s*\(|\bos\.(?:system|popen|exec\w*|spawn\w*)\b|\bsubprocess\.\w+\s*\(|child_process|Runtime\.getRuntime|\bqx\s*[({[/|]|%x\s*[({[]|\|\s*getline\b|\bprint[^;{}]{0,80}\|\s*"/;

export function inlineCodeDanger(code: string): string | undefined {
  if (EXEC_CALL.test(code)) return "inline code runs a shell command";
  if (NETWORK_API.test(code) && PROCESS_API.test(code))
    return "inline code connecting a shell to the network";
  if (DECODE_API.test(code) && EVAL_API.test(code)) return "inline code that decodes and runs a payload";
  if (/\bfork\b/.test(code) && /\b(while|for|loop|until|repeat)\b/.test(code))
    return "fork bomb in inline code";
  if (DELETE_ROOT.test(code)) return "inline code deleting / or the home directory";
  return undefined;
}

/** String literals inside inline code: each is checked as a shell command too (`os.system("...")`). */
export function stringLiterals(code: string): string[] {
  const out: string[] = [];
  for (const m of code.matchAll(/'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"/g)) {
    const body = (m[1] ?? m[2] ?? "").replace(/\\(["'\\])/g, "$1");
    if (/[\s/|;&]/.test(body)) out.push(body);
  }
  return out;
}

/** Variables whose value is a command line another program runs (git, ssh, man, less, shells). */
const COMMAND_VARIABLES =
  /^(GIT_SSH_COMMAND|GIT_SSH|GIT_PROXY_COMMAND|GIT_EDITOR|GIT_SEQUENCE_EDITOR|GIT_PAGER|GIT_ASKPASS|SSH_ASKPASS|GIT_EXTERNAL_DIFF|PAGER|MANPAGER|SYSTEMD_PAGER|EDITOR|VISUAL|BROWSER|LESSOPEN|LESSCLOSE|PROMPT_COMMAND|ENV|RSYNC_RSH|RSYNC_CONNECT_PROG|CVS_RSH|SUDO_ASKPASS)=(.*)$/s;
/** A value that is more than a program name and plain options: a shell, an interpreter or shell syntax. */
const SHELL_VALUE =
  /(?:^|[\s/'"])(?:sh|bash|dash|zsh|ksh|fish|csh|tcsh|python\d?|perl|ruby|node|php|nc|ncat|socat|curl|wget)(?:[\s'"]|$)|[;&|`<>]|\$\(/;

/** The variable of `NAME=value` when it hands a shell command to the program it prefixes; else undefined. */
export function commandVariable(text: string): string | undefined {
  const m = COMMAND_VARIABLES.exec(text);
  return m && SHELL_VALUE.test(m[2] as string) ? m[1] : undefined;
}
