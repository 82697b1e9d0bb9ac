// CPU and memory of other processes, read from /proc (Linux only).
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second for utime/stime in /proc/<pid>/stat. */
export const CLK_TCK = readClockTicks();

function readClockTicks(): number {
  try {
    const n = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
}

interface Stat {
  state: string;
  ppid: number;
  /** utime + stime of every thread of the process, in µs (resolution 1/CLK_TCK s). */
  cpuUs: number;
}

function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // comm (field 2) may contain spaces and parentheses: parse after the last ')'.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const ppid = Number(fields[1]);
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return { state: fields[0] ?? "?", ppid, cpuUs: ((utime + stime) * 1e6) / CLK_TCK };
}

/** CPU µs (user + system, all threads) consumed so far by each pid; a pid that is gone counts 0. */
export function cpuUs(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + (readStat(pid)?.cpuUs ?? 0), 0);
}

/** Every live descendant of pid (children, grandchildren, …). */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(Number(name));
    if (!st) continue;
    const list = children.get(st.ppid) ?? [];
    list.push(Number(name));
    children.set(st.ppid, list);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const c of children.get(queue.shift() as number) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
  } catch {
    return "";
  }
}

/** Resident set size in MiB, or undefined when the process is gone. */
export function rssMiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Proportional set size in MiB (shared pages split between their users), or undefined. */
export function pssMiB(pid: number): number | undefined {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** MemAvailable of the whole machine, in MiB. */
export function memAvailableMiB(): number {
  const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync("/proc/meminfo", "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

export interface TreeMemory {
  /** Sum of VmRSS over the process and every descendant (shared pages counted in each). */
  rssMiB: number;
  /** The same sum of Pss: what the tree really holds. */
  pssMiB: number;
  /** Descendants (not counting the root). */
  children: number;
  /** Descendants whose command line contains `match`. */
  matching: number;
}

/** Memory of a process and all its descendants. */
export function treeMemory(pid: number, match?: string): TreeMemory {
  const kids = descendants(pid);
  let rss = 0;
  let pss = 0;
  for (const p of [pid, ...kids]) {
    rss += rssMiB(p) ?? 0;
    pss += pssMiB(p) ?? 0;
  }
  const matching = match === undefined ? 0 : kids.filter((p) => commandLine(p).includes(match)).length;
  return { rssMiB: rss, pssMiB: pss, children: kids.length, matching };
}

export function isAlive(pid: number): boolean {
  const st = readStat(pid);
  return st !== undefined && st.state !== "Z" && st.state !== "X";
}
