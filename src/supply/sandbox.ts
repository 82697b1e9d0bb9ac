import { lstat, readlink, stat } from "node:fs/promises";
import { sep } from "node:path";
import type { SandboxConfig, StdioServerConfig } from "../config/types.js";
import { executable, resolveCommand } from "../upstreams/command.js";
import { sandboxUnavailable } from "./launch-refused.js";

/** Where bubblewrap is looked for; `WARDEN_BWRAP` (the operator's environment) overrides. */
const BWRAP_PATHS = ["/usr/bin/bwrap", "/usr/local/bin/bwrap"];
/** util-linux's prlimit sets the resource limits inside the sandbox (bwrap has no rlimit flags). */
const PRLIMIT = "/usr/bin/prlimit";

/** System directories mounted read-only: programs and libraries, nothing of the host's data. */
const SYSTEM_DIRS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
/**
 * The few files of /etc a program needs (dynamic linker, users and groups, time zone, TLS roots,
 * Debian's alternatives); never all of /etc, which holds /etc/shadow, keys and service secrets.
 */
const ETC_FILES = [
  "/etc/ld.so.cache",
  "/etc/ld.so.conf",
  "/etc/ld.so.conf.d",
  "/etc/alternatives",
  "/etc/passwd",
  "/etc/group",
  "/etc/nsswitch.conf",
  "/etc/localtime",
  "/etc/ssl/certs",
  "/etc/ca-certificates",
  "/etc/pki/tls/certs",
];
/** Name resolution, only for a server with `network: true`. */
const ETC_NETWORK_FILES = ["/etc/resolv.conf", "/etc/hosts", "/etc/host.conf", "/etc/gai.conf"];

export interface Launch {
  readonly command: string;
  readonly args: string[];
}

/**
 * The bubblewrap command line that runs `server` in its sandbox: a read-only system, `readable`
 * read-only and `writable` read-write, a private /tmp, /proc and /dev; new user, PID, IPC, UTS,
 * cgroup and (unless `network`) network namespaces; every capability dropped, no_new_privs, a new
 * session, killed with the gateway; exactly the configured environment; limits set by prlimit.
 * Anything missing (bwrap, prlimit, a mounted path, the command) refuses the launch: a server
 * that asks for a sandbox never runs without one.
 */
export async function sandboxedLaunch(
  server: StdioServerConfig,
  sandbox: SandboxConfig,
  env: Readonly<Record<string, string>>,
): Promise<Launch> {
  const bwrap = await findBwrap();
  const limits = limitArgs(sandbox);
  if (limits.length > 0 && !(await executable(PRLIMIT)))
    throw sandboxUnavailable(`${PRLIMIT} (util-linux) not found, needed for resource limits`);
  const mounts: Array<{ path: string; writable: boolean }> = [];
  for (const [paths, writable] of [
    [sandbox.readable, false],
    [sandbox.writable, true],
  ] as const) {
    for (const path of paths) {
      if (!(await exists(path))) throw sandboxUnavailable(`mount path does not exist: ${path}`, { path });
      mounts.push({ path, writable });
    }
  }
  const cwd = server.cwd;
  const visible = (p: string) => [...SYSTEM_DIRS, ...mounts.map((m) => m.path)].some((d) => within(p, d));
  if (cwd !== undefined && !visible(cwd))
    throw sandboxUnavailable(`cwd ${cwd} is not inside sandbox.readable or sandbox.writable`, { cwd });
  const command = await resolveCommand(server.command, env.PATH ?? "", cwd ?? process.cwd());
  if (!command) throw sandboxUnavailable(`command not found: ${server.command}`);
  // The program itself is readable even outside every mount; its own files (scripts, modules) are not.
  if (!visible(command)) mounts.push({ path: command, writable: false });

  const args = [
    "--die-with-parent",
    "--new-session",
    "--unshare-all",
    ...(sandbox.network ? ["--share-net"] : []),
    "--cap-drop",
    "ALL",
    "--clearenv",
  ];
  for (const dir of SYSTEM_DIRS) args.push(...(await systemMount(dir)));
  for (const file of [...ETC_FILES, ...(sandbox.network ? ETC_NETWORK_FILES : [])])
    args.push("--ro-bind-try", file, file);
  args.push("--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp");
  // Parents before children, so a writable directory inside a readable one stays writable (and back).
  mounts.sort((a, b) => a.path.split(sep).length - b.path.split(sep).length);
  for (const m of mounts) args.push(m.writable ? "--bind" : "--ro-bind", m.path, m.path);
  // The root bwrap builds is a tmpfs: once everything is mounted on it, it becomes read-only too.
  args.push("--remount-ro", "/");
  if (cwd !== undefined) args.push("--chdir", cwd);
  for (const [name, value] of Object.entries(env)) args.push("--setenv", name, value);
  args.push("--");
  if (limits.length > 0) args.push(PRLIMIT, ...limits, "--");
  args.push(command, ...server.args);
  return { command: bwrap, args };
}

function limitArgs(sandbox: SandboxConfig): string[] {
  const out: string[] = [];
  if (sandbox.memoryBytes !== undefined) out.push(`--as=${sandbox.memoryBytes}`);
  if (sandbox.cpuSeconds !== undefined) out.push(`--cpu=${sandbox.cpuSeconds}`);
  if (sandbox.processes !== undefined) out.push(`--nproc=${sandbox.processes}`);
  return out;
}

async function findBwrap(): Promise<string> {
  const configured = process.env.WARDEN_BWRAP;
  const candidates = configured ? [configured] : BWRAP_PATHS;
  for (const path of candidates) if (await executable(path)) return path;
  throw sandboxUnavailable(`bubblewrap (bwrap) not found at ${candidates.join(" or ")}`);
}

/** A system directory as on the host: a symlink stays a symlink (merged /usr), a directory is bound. */
async function systemMount(dir: string): Promise<string[]> {
  const info = await lstat(dir).catch(() => undefined);
  if (!info) return [];
  if (info.isSymbolicLink()) return ["--symlink", await readlink(dir), dir];
  return info.isDirectory() ? ["--ro-bind", dir, dir] : [];
}

function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
