import path from "node:path";
import { NETWORK } from "./command-code.js";
import { refuse, type Invocation } from "./command-model.js";
import { credentialReference, protectedTarget } from "./command-targets.js";
import type { Pipeline, Word } from "./shell.js";

/**
 * Deny rules for what reaches beyond the files a command names: containers that mount the host,
 * destructive programs run over find/xargs results, data piped or uploaded to the network, the
 * hooks through which ssh, git and editors run other programs, recipes read from stdin, package
 * installs, and process, service, firewall and kernel control. They apply with or without
 * `allowed_commands` (an allowed `git` still may not run `-c core.sshCommand=…`).
 */

const base = (p: string) => path.posix.basename(p).toLowerCase();
const texts = (inv: Invocation) => inv.args.map((a) => a.text);

/** Options with a value, as `--opt=v`, `--opt v`, `-o v` or `-ov`; every value of any of `names`. */
function optionValues(args: readonly string[], names: readonly string[]): string[] {
  const out: string[] = [];
  args.forEach((a, i) => {
    for (const n of names) {
      if (a === n && i + 1 < args.length) out.push(args[i + 1]!);
      else if (n.startsWith("--") && a.startsWith(`${n}=`)) out.push(a.slice(n.length + 1));
      else if (!n.startsWith("--") && a.startsWith(n) && a.length > n.length) out.push(a.slice(n.length));
    }
  });
  return out;
}

const CONTAINERS = new Set(["docker", "podman", "nerdctl", "finch", "lima"]);
const CONTAINER_RUN = new Set(["run", "create", "exec", "start"]);
const HOST_NAMESPACES = /^--(?:pid|net|network|ipc|uts|userns|cgroupns)=host$/;
const SOCKET = /(?:^|\/)(?:docker|podman|containerd)\.sock$/;

function container(inv: Invocation): void {
  const args = texts(inv);
  // `docker container run` / `docker run`
  const verb = args.find((a) => !a.startsWith("-") && a !== "container");
  if (!verb || !CONTAINER_RUN.has(verb)) return;
  if (args.some((a) => a === "--privileged" || a.startsWith("--privileged=")))
    refuse(`${inv.name} --privileged`);
  if (args.some((a) => HOST_NAMESPACES.test(a))) refuse(`${inv.name} shares a host namespace`);
  for (const cap of optionValues(args, ["--cap-add"]))
    if (
      /^(?:all|sys_admin|sys_ptrace|sys_module|dac_read_search|net_admin)$/i.test(cap.replace(/^cap_/i, ""))
    )
      refuse(`${inv.name} --cap-add ${cap}`);
  for (const opt of optionValues(args, ["--security-opt"]))
    if (/unconfined|no-new-privileges[:=]false|label[:=]disable/i.test(opt))
      refuse(`${inv.name} --security-opt ${opt}`);
  for (const d of optionValues(args, ["--device"]))
    if (d.startsWith("/dev/")) refuse(`${inv.name} --device ${d}`);
  const sources = [
    ...optionValues(args, ["-v", "--volume"]).map((v) => v.split(":")[0] ?? ""),
    ...optionValues(args, ["--mount"]).flatMap((m) =>
      m
        .split(",")
        .filter((kv) => /^(?:source|src)=/.test(kv))
        .map((kv) => kv.slice(kv.indexOf("=") + 1)),
    ),
  ];
  for (const s of sources) {
    if (!s.startsWith("/") && !s.startsWith("~")) continue;
    if (SOCKET.test(s)) refuse(`${inv.name} mounts the container runtime's socket`);
    if (protectedTarget(s) || credentialReference(s)) refuse(`${inv.name} mounts host path ${s}`);
  }
}

/** Programs that destroy what they are given: refused over find or xargs results, whatever matched. */
export const DESTRUCTIVE: ReadonlySet<string> = new Set([
  "shred",
  "wipe",
  "srm",
  "sfill",
  "sdelete",
  "dd",
  "truncate",
  "wipefs",
  "blkdiscard",
]);

function findExec(inv: Invocation): void {
  const args = texts(inv);
  args.forEach((a, i) => {
    if (a !== "-exec" && a !== "-execdir" && a !== "-ok" && a !== "-okdir") return;
    const program = args[i + 1];
    if (program && DESTRUCTIVE.has(base(program))) refuse(`find -exec ${base(program)}`);
    if (program && base(program) === "rm" && args.slice(i + 2).some((w) => /^-[a-z]*[rR]/.test(w)))
      refuse("find -exec rm -r");
  });
}

/** Data read from stdin by a network tool: `… | curl --data-binary @-`, `… | nc host 4444`. */
const STDIN_UPLOAD = /^(?:-d|--data(?:-binary|-raw|-urlencode|-ascii)?|-F|--form|-T|--upload-file|--json)$/;

function readsStdinToNetwork(inv: Invocation): boolean {
  const args = texts(inv);
  if (NETWORK.has(inv.name)) return true;
  if (inv.name === "curl") {
    return args.some(
      (a, i) =>
        a === "@-" ||
        /^(?:-d|-F|--data[\w-]*=|--form=|--json=)?@-$/.test(a) ||
        /=@-$/.test(a) ||
        (STDIN_UPLOAD.test(a) && /^(?:@?-|[\w.-]+=@?-|\/dev\/stdin)$/.test(args[i + 1] ?? "")),
    );
  }
  if (inv.name === "wget") return args.some((a) => /^--(?:post|body)-file=(?:-|\/dev\/stdin)$/.test(a));
  if (inv.name === "ssh") return true;
  return false;
}

/** Uploads of a credential file: `curl -F f=@~/.ssh/id_rsa`, `wget --post-file=.env`, `scp ~/.aws/credentials host:`. */
function uploadsCredential(inv: Invocation): void {
  const args = texts(inv);
  const files: string[] = [];
  if (inv.name === "curl") {
    for (const a of args) {
      const at = a.indexOf("@");
      if (at >= 0 && !/^https?:/i.test(a)) files.push(a.slice(at + 1).replace(/;.*$/, ""));
    }
    files.push(...optionValues(args, ["-T", "--upload-file"]));
  } else if (inv.name === "wget") files.push(...optionValues(args, ["--post-file", "--body-file"]));
  else if (inv.name === "scp" || inv.name === "rsync" || inv.name === "sftp")
    files.push(...args.filter((a) => !a.startsWith("-") && !a.includes(":")));
  for (const f of files) {
    const what = credentialReference(f);
    if (what) refuse(`${inv.name} uploads ${what}`);
  }
  // `curl -d "$(env)"`: the environment or a credential read into an argument
  if (
    (inv.name === "curl" || inv.name === "wget" || NETWORK.has(inv.name)) &&
    inv.args.some(readsSecretsInline)
  )
    refuse(`${inv.name} sends the environment or a credential read in a substitution`);
}

function readsSecretsInline(w: Word): boolean {
  if (w.subs.length === 0) return false;
  const raw = JSON.stringify(w.subs);
  return /"(?:env|printenv|set|declare|export)"/.test(raw) || credentialReference(raw) !== undefined;
}

/** ssh and scp options that run a local program. */
const SSH_HOOK = /^(?:proxycommand|localcommand|permitlocalcommand|knownhostscommand|match\s+exec)/i;
/** git configuration that names a program git runs. */
const GIT_HOOK =
  /^(?:core\.(?:sshcommand|pager|editor|fsmonitor|hookspath|gitproxy|askpass)|alias\.[^=]*=\s*!|protocol\.ext\.allow|uploadpack\.packobjectshook|credential\.helper|diff\.[^=]*\.(?:textconv|command)|filter\.[^=]*\.(?:clean|smudge|process)|sequence\.editor|gpg\.program|ssh\.variant)/i;

function commandHooks(inv: Invocation): void {
  const args = texts(inv);
  if (inv.name === "ssh" || inv.name === "scp" || inv.name === "sftp") {
    for (const o of optionValues(args, ["-o"]))
      if (SSH_HOOK.test(o.trim())) refuse(`${inv.name} -o ${o.split(/[= ]/)[0]}`);
    if (inv.name !== "ssh" && optionValues(args, ["-S"]).length > 0)
      refuse(`${inv.name} -S runs another program`);
  }
  if (inv.name === "git") {
    for (const c of optionValues(args, ["-c", "--config-env"]))
      if (GIT_HOOK.test(c)) refuse(`git -c ${c.split("=")[0]}`);
    const verb = args.find(
      (a, i) => !a.startsWith("-") && !["-c", "-C", "--git-dir", "--work-tree"].includes(args[i - 1] ?? ""),
    );
    if (
      verb === "config" &&
      args.some((a, i) => /^alias\./i.test(a) && (args[i + 1] ?? "").trimStart().startsWith("!"))
    )
      refuse("git config sets an alias that runs a shell command");
    if (verb === "config" && args.some((a) => GIT_HOOK.test(`${a}=`) || GIT_HOOK.test(a)))
      refuse("git config sets a program git runs");
    const fetches = verb !== undefined && ["clone", "fetch", "pull", "ls-remote", "archive"].includes(verb);
    if (
      args.some((a) => /^--(?:upload-pack|receive-pack|exec)(?:=|$)/.test(a) || /^ext::/.test(a)) ||
      (fetches && args.includes("-u"))
    )
      refuse("git runs a program named in its arguments");
  }
  if (inv.name === "rsync") {
    for (const e of optionValues(args, ["-e", "--rsh", "--rsync-path"]))
      if (
        !/^(?:ssh|\/usr\/bin\/ssh)(?:\s+-[pi]\s*[\w./~-]+|\s+-o\s*[\w]+=[\w./~-]+)*$/.test(e.trim()) &&
        !/^[\w./-]*rsync$/.test(e.trim())
      )
        refuse("rsync runs another program as its shell");
  }
}

const VI = new Set(["vi", "vim", "nvim", "view", "ex", "rvim", "gvim", "vimdiff", "nvi", "elvis"]);
/** An editor command line that runs something: `:!cmd`, `:sh`, `:terminal`, `system()`, python/lua/perl. */
const VI_ESCAPE =
  /(?:^|[:|\s])!|\b(?:sh(?:ell)?|terminal|term|system|systemlist|py3?|python3?|pyx|lua|perl|ruby|r!|call|exe(?:cute)?|w\s*!)\b/i;

function editors(inv: Invocation): void {
  const args = texts(inv);
  if (VI.has(inv.name)) {
    const cmds = [
      ...optionValues(args, ["-c", "--cmd"]),
      ...args.filter((a) => a.startsWith("+")).map((a) => a.slice(1)),
    ];
    if (cmds.some((c) => VI_ESCAPE.test(c))) refuse(`${inv.name} runs a shell command`);
    if (args.includes("-s") || args.includes("-S")) refuse(`${inv.name} runs a script of commands`);
  }
  if (inv.name === "emacs" || inv.name === "emacsclient") {
    if (args.some((a) => /^-(?:-eval|eval|-load|l|f|-funcall|-batch|batch|-script|script|x)(?:=|$)/.test(a)))
      refuse(`${inv.name} evaluates code`);
  }
  if ((inv.name === "nano" || inv.name === "pico") && args.some((a) => /^(?:-s|--speller)(?:=|$)/.test(a)))
    refuse(`${inv.name} --speller runs a program`);
  if (
    inv.name === "gdb" &&
    optionValues(args, ["-ex", "--ex", "--eval-command", "-iex"]).some((c) =>
      /^\s*(?:!|shell|python|pipe|\|)/.test(c),
    )
  )
    refuse("gdb runs a shell command");
  if (
    (inv.name === "less" || inv.name === "more" || inv.name === "man") &&
    args.some((a) => /^\+!|^\+.*!/.test(a))
  )
    refuse(`${inv.name} runs a shell command`);
  if (
    inv.name === "tar" &&
    args.some((a) => /^--(?:to-command|checkpoint-action=exec|info-script|new-volume-script)|^-F$/.test(a))
  )
    refuse("tar runs a program");
  if (inv.name === "zip" && args.some((a) => /^(?:-TT|--unzip-command)/.test(a)))
    refuse("zip runs a program");
  if (inv.name === "make") {
    for (const f of optionValues(args, ["-f", "--file", "--makefile"]))
      if (/^(?:-|\/dev\/stdin|\/dev\/fd\/\d+|\/proc\/self\/fd\/\d+)$/.test(f))
        refuse("make reads its recipes from stdin");
    if (args.some((a) => /^(?:--eval|-E)(?:=|$)/.test(a))) refuse("make --eval");
  }
}

const SYSTEM_PACKAGES = new Set([
  "apt",
  "apt-get",
  "aptitude",
  "yum",
  "dnf",
  "microdnf",
  "zypper",
  "apk",
  "pacman",
  "yay",
  "emerge",
  "brew",
  "snap",
  "flatpak",
  "port",
  "pkg",
  "choco",
  "winget",
  "scoop",
  "nix-env",
]);
const INSTALL_VERBS =
  /^(?:install|reinstall|add|upgrade|dist-upgrade|full-upgrade|remove|purge|erase|uninstall|del|-S\w*|-U\w*|-R\w*|localinstall|update|i)$/;

function packages(inv: Invocation): void {
  const args = texts(inv);
  const operands = args.filter((a) => !a.startsWith("-"));
  if (SYSTEM_PACKAGES.has(inv.name)) {
    const verb = args.find((a) => INSTALL_VERBS.test(a));
    if (verb && !(inv.name === "apt" && verb === "update") && !(inv.name === "apt-get" && verb === "update"))
      refuse(`${inv.name} ${verb} changes the system's packages`);
  }
  if (inv.name === "dpkg" && args.some((a) => /^-(?:i|r|P|-install|-remove|-purge|-unpack)$/.test(a)))
    refuse("dpkg installs or removes packages");
  if (inv.name === "rpm" && args.some((a) => /^-(?:[iUFe]\w*|-install|-upgrade|-erase)$/.test(a)))
    refuse("rpm installs or removes packages");
  // Language package managers: a named package (new code from a registry), or a global install.
  const named = (verbs: RegExp) => {
    const k = operands.findIndex((a) => verbs.test(a));
    return k >= 0 && operands.slice(k + 1).some((a) => !a.startsWith(".") && !a.startsWith("/"));
  };
  if (/^(?:pip|pip3|pipx|uv|conda|mamba|micromamba)$/.test(inv.name) || /^pip3\.\d+$/.test(inv.name)) {
    const k = args.indexOf("install");
    if (
      k >= 0 &&
      args
        .slice(k + 1)
        .some(
          (a, j, rest) =>
            !a.startsWith("-") &&
            !["-r", "--requirement", "-c", "--constraint", "-e", "--editable"].includes(rest[j - 1] ?? "") &&
            a !== "." &&
            !a.startsWith("./"),
        )
    )
      refuse(`${inv.name} install of a named package`);
  }
  if (/^python[\d.]*$/.test(inv.name)) {
    const m = args.indexOf("-m");
    if (
      m >= 0 &&
      /^pip\d?$/.test(args[m + 1] ?? "") &&
      args
        .slice(m + 2)
        .some(
          (a, j, rest) =>
            j > 0 &&
            rest[0] === "install" &&
            !a.startsWith("-") &&
            !["-r", "--requirement", "-e"].includes(rest[j - 1] ?? "") &&
            a !== ".",
        )
    )
      refuse("pip install of a named package");
  }
  if (/^(?:npm|pnpm|yarn|bun|cnpm)$/.test(inv.name)) {
    if (args.some((a) => a === "-g" || a === "--global" || a === "global"))
      refuse(`${inv.name} global install`);
    if (named(/^(?:install|i|add|isntall|in)$/)) refuse(`${inv.name} install of a named package`);
  }
  // Runners that fetch a package and run it in one step: npx (and `npm exec`/`npm x`, bunx,
  // `bun x`) with a version, a URL, `--yes` or `--package`; a bare `npx tsc` runs the project's own
  // tool (docs/authorization.md: a package missing locally is fetched; not covered). pnpx is
  // `pnpm dlx`: it always fetches.
  const bare = inv.name === "npx" || inv.name === "bunx";
  const runner =
    bare ||
    (inv.name === "npm" && /^(?:exec|x)$/.test(operands[0] ?? "")) ||
    (inv.name === "bun" && operands[0] === "x");
  if (runner) {
    const sub = bare ? undefined : operands[0];
    const first = (sub === undefined ? operands[0] : operands[1]) ?? "";
    // The runner's own options come before the package; after it they are the package's (`tsc -p`).
    const from = sub === undefined ? 0 : args.indexOf(sub) + 1;
    const own = args.slice(from, Math.max(from, args.indexOf(first, from)));
    if (
      own.some((a) => /^(?:-y|--yes|-p|--package)(?:=|$)/.test(a)) ||
      /^@?[^@\s]+@/.test(first) ||
      /^(?:https?:|git[+:]|github:|file:)/.test(first)
    )
      refuse(`${inv.name} fetches and runs a package`);
  }
  if (inv.name === "pnpx" && operands.length > 0) refuse("pnpx fetches and runs a package");
  if (
    (/^(?:pnpm|yarn)$/.test(inv.name) && operands[0] === "dlx") ||
    (inv.name === "pipx" && operands[0] === "run") ||
    inv.name === "uvx" ||
    (inv.name === "uv" && operands[0] === "tool" && operands[1] === "run")
  )
    refuse(`${inv.name} fetches and runs a package`);
  if (
    (inv.name === "gem" || inv.name === "cargo" || inv.name === "go") &&
    operands[0] === "install" &&
    operands.length > 1
  )
    refuse(`${inv.name} install`);
}

/** Processes that keep the machine, its services or this gateway running. */
const DAEMONS =
  /\b(?:init|systemd\S*|sshd|ssh-agent|dockerd|containerd\S*|kubelet|cron|crond|rsyslogd|syslog-ng|dbus\S*|networkmanager|auditd|firewalld|postgres|postmaster|mysqld|mariadbd|mongod|redis-server|nginx|httpd|apache2|haproxy|envoy|mcp-warden|warden|bwrap|agetty|login|polkitd|udevd|snapd)\b/i;
const PROCESS_CONTROL = new Set(["pkill", "skill", "slay", "pkexec"]);
const SERVICE_VERBS =
  /^(?:stop|restart|disable|mask|kill|isolate|try-restart|reload-or-restart|daemon-reexec|set-default|unmask|enable)$/;
const FIREWALL = new Set([
  "iptables",
  "ip6tables",
  "iptables-restore",
  "ip6tables-restore",
  "iptables-legacy",
  "iptables-nft",
  "nft",
  "ufw",
  "firewall-cmd",
  "pfctl",
  "ipset",
  "ebtables",
  "arptables",
  "nftables",
]);
/** iptables-style flags that change rules: append, insert, delete, replace, flush, new or deleted chain, policy, zero, rename. */
const RULE_CHANGE =
  /^-[A-Za-z]*[AIDRFXNPEZ]|^--(?:append|insert|delete|replace|flush|delete-chain|new-chain|policy|zero|rename-chain)/;

/** Whether a firewall tool's command line changes anything (listing and status do not). */
function firewallChange(name: string, args: readonly string[]): boolean {
  if (/^(?:iptables|ip6tables|ebtables|arptables|iptables-legacy|iptables-nft)$/.test(name))
    return args.some((a) => RULE_CHANGE.test(a));
  if (name === "nft") return !args.includes("list");
  if (name === "ufw") return !(args.length === 0 || args[0] === "status" || args[0] === "show");
  if (name === "ipset") return !(args[0] === "list" || args[0] === "-L" || args[0] === "save");
  if (name === "firewall-cmd") return !args.every((a) => /^--(?:get|list|state|query|info)/.test(a));
  if (name === "pfctl") return !args.every((a) => /^-s\w*$|^-v+$/.test(a) || /^[a-z]+$/.test(a));
  return true;
}
const KERNEL = new Set([
  "insmod",
  "rmmod",
  "modprobe",
  "kexec",
  "setenforce",
  "aa-disable",
  "aa-teardown",
  "aa-complain",
  "auditctl",
  "swapoff",
  "sysctl",
  "nsenter",
  "unshare",
  "chroot",
  "capsh",
  "setcap",
  "useradd",
  "usermod",
  "userdel",
  "groupadd",
  "passwd",
  "chpasswd",
  "visudo",
  "mount",
  "umount",
  "losetup",
  "debugfs",
]);

function systemControl(inv: Invocation): void {
  const args = texts(inv);
  // killall takes exact names: it ends every process of that name, whoever started it.
  if (inv.name === "killall" || inv.name === "killall5") refuse(`${inv.name} kills every process of a name`);
  if (PROCESS_CONTROL.has(inv.name)) {
    // A developer stopping their own server (`pkill -f 'node server.js'`) passes; system daemons,
    // the gateway, another user's processes and patterns matching everything do not.
    const targets = args.filter((a) => !a.startsWith("-"));
    if (
      inv.name === "pkexec" ||
      targets.length === 0 ||
      args.some((a) => /^(?:-u|--user|-U|--uid|-e|--exact)$/.test(a) && a !== "-e") ||
      targets.some((t) => DAEMONS.test(t) || /^(?:\.|\.\*|\^|\$|\*)$/.test(t))
    )
      refuse(`${inv.name} kills system or other users' processes`);
  }
  if (inv.name === "kill" && inv.args.some((a) => a.subs.length > 0))
    refuse("kill of processes found at run time");
  if (
    inv.name === "systemctl" ||
    inv.name === "service" ||
    inv.name === "rc-service" ||
    inv.name === "launchctl"
  ) {
    const verb = args.find((a) => SERVICE_VERBS.test(a) || /^(?:unload|bootout|remove)$/.test(a));
    if (verb) refuse(`${inv.name} ${verb}`);
  }
  if (FIREWALL.has(inv.name) && firewallChange(inv.name, args)) refuse(`${inv.name} changes the firewall`);
  if (
    (inv.name === "ip" || inv.name === "route" || inv.name === "tc") &&
    args.some((a) => /^(?:add|del|delete|change|replace|flush|set|down|up)$/.test(a))
  )
    refuse(`${inv.name} changes the network configuration`);
  if (KERNEL.has(inv.name)) {
    if (
      inv.name === "sysctl" &&
      !args.some((a) => a === "-w" || a.includes("=") || a === "-p" || a === "--load")
    )
      return;
    if (inv.name === "mount" && args.filter((a) => !a.startsWith("-")).length === 0) return;
    if (
      inv.name === "modprobe" &&
      args.every((a) => a === "-n" || a === "--dry-run" || a === "-c" || a === "--showconfig")
    )
      return;
    refuse(`${inv.name} changes the system`);
  }
}

/** kubectl objects that reach the node: privileged, host namespaces, host paths. */
const KUBE_HOST =
  /"?(?:privileged"?\s*:\s*true|hostPID|hostNetwork|hostIPC|hostPath|allowPrivilegeEscalation"?\s*:\s*true)/;

function kubernetes(inv: Invocation): void {
  const args = texts(inv);
  if (args.some((a) => KUBE_HOST.test(a)) || args.includes("--privileged"))
    refuse("kubectl runs a pod with host access");
}

/** `python -m http.server --directory /`: the file system served to the network. */
function servesFiles(inv: Invocation): void {
  const args = texts(inv);
  if (!/^python[\d.]*$/.test(inv.name) || !args.some((a) => a === "http.server" || a === "SimpleHTTPServer"))
    return;
  for (const d of optionValues(args, ["--directory", "-d"]))
    if (protectedTarget(d)) refuse(`serves ${d} over HTTP`);
}

/** Every rule of this file for one invocation (command-rules.ts calls it from programRules). */
export function systemRules(inv: Invocation): void {
  if (CONTAINERS.has(inv.name)) container(inv);
  if (inv.name === "kubectl" || inv.name === "oc") kubernetes(inv);
  servesFiles(inv);
  if (inv.name === "find") findExec(inv);
  if (inv.viaXargs && DESTRUCTIVE.has(inv.name)) refuse(`${inv.name} over xargs input`);
  uploadsCredential(inv);
  commandHooks(inv);
  editors(inv);
  packages(inv);
  systemControl(inv);
}

/** What a pipeline sends to the network from stdin: `env | curl -d @- …`, `tar c ~ | nc host 9`, `cat f | ssh h`. */
export function exfiltrationPipes(
  pipeline: Pipeline,
  invocations: ReadonlyArray<Invocation | undefined>,
): void {
  if (pipeline.stages.length < 2) return;
  for (let k = 1; k < invocations.length; k++) {
    const inv = invocations[k];
    // ed and ex run `!command` lines read from stdin.
    if (inv && (inv.name === "ed" || inv.name === "red" || inv.name === "ex"))
      refuse(`a pipe into ${inv.name} (runs ! commands)`);
    if (!inv || !readsStdinToNetwork(inv)) continue;
    // `ssh host cmd` reading a pipe is the usual remote pipeline; refused only for what it carries.
    const before = invocations.slice(0, k).filter((i): i is Invocation => i !== undefined);
    const secret = before.find(
      (i) =>
        ["env", "printenv", "set", "declare", "export", "compgen"].includes(i.name) ||
        i.args.some(
          (a) =>
            credentialReference(a.text) !== undefined ||
            (protectedTarget(a.text) && /^(?:tar|zip|cat|base64|xxd|gzip)$/.test(i.name)),
        ),
    );
    if (inv.name === "ssh" && !secret) continue;
    if (secret || NETWORK.has(inv.name) || inv.name === "curl" || inv.name === "wget")
      refuse(`pipes ${secret ? `${secret.name} output` : "data"} to the network (${inv.name})`);
  }
}
