import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/**
 * Children spawned by the tests, each the leader of its own process group (`detached`), so that a
 * test that dies half-way can still take the child and everything it launched down with it.
 */
const live = new Set<ChildProcess>();

export function spawnTracked(command: string, args: readonly string[], opts: SpawnOptions): ChildProcess {
  const child = spawn(command, args, { ...opts, detached: true });
  live.add(child);
  child.once("exit", () => live.delete(child));
  return child;
}

/** SIGKILL a tracked child's whole process group (the child and anything it started). */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals = "SIGKILL"): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Resolves when the child has exited (immediately if it already has). */
export function exited(child: ChildProcess): Promise<Exit> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
}

/** Stops a child with `signal`, then SIGKILLs its group if it has not exited within `graceMs`. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM", graceMs = 15_000) {
  const done = exited(child);
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), graceMs);
  });
  const first = await Promise.race([done, timedOut]);
  clearTimeout(timer);
  if (first === "timeout") {
    killGroup(child);
    const exit = await done;
    return { ...exit, forced: true };
  }
  return { ...first, forced: false };
}

/** True while a process with this pid exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

process.once("exit", () => {
  for (const child of live) killGroup(child);
});

/** Pids of every process descended from `pid` (Linux /proc), children first. */
export function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  let entries: string[] = [];
  try {
    entries = readdirSync("/proc").filter((e) => /^\d+$/.test(e));
  } catch {
    return [];
  }
  for (const e of entries) {
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      // The command name may contain spaces and parentheses: the ppid follows the last ")".
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parentOf.set(Number(e), ppid);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [child, parent] of parentOf) {
      if (parent === p) {
        out.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return out;
}

/** SIGKILL each pid that still exists (cleanup of processes a test started indirectly). */
export function killPids(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}
