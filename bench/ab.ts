// node --import tsx bench/ab.ts --base-dir DIR [--rounds 6 --calls 3000 --sessions 8 --bytes 256]
// A change's before and after, measured side by side: this checkout's gateway and another
// checkout's build (DIR, built) run at once, each with its own sessions driven by the same client,
// so that whatever else the machine is doing falls on both alike. On a shared machine, cells
// measured one after the other differ by ±40% from load alone; two measured together keep their
// ratio. Prints each gateway's CPU µs per call per round and the ratio after/before.
import { parseArgs } from "node:util";
import { drive, median } from "./lib/load.js";
import { cpuUs } from "./lib/proc.js";
import { wardenTargets, type Session, type Target } from "./lib/targets.js";

const { values: opts } = parseArgs({
  options: {
    "base-dir": { type: "string" },
    rounds: { type: "string", default: "6" },
    calls: { type: "string", default: "3000" },
    warm: { type: "string", default: "1000" },
    sessions: { type: "string", default: "8" },
    bytes: { type: "string", default: "256" },
  },
});
const baseDir = opts["base-dir"];
if (!baseDir) throw new Error("--base-dir DIR: the other checkout's build to compare with");
const rounds = Number(opts.rounds);
const calls = Number(opts.calls);
const sessionsEach = Number(opts.sessions);
const bytes = Number(opts.bytes);

process.removeAllListeners("warning"); // the SDK client's MaxListenersExceededWarning (README)

const after = (await wardenTargets()).server;
const before = (await wardenTargets({ root: baseDir, name: "warden-base" })).server;

async function open(t: Target): Promise<Session[]> {
  return Promise.all(Array.from({ length: sessionsEach }, () => t.connect()));
}

/** Both gateways at once, `calls` each; CPU µs per call of each. */
async function together(a: Session[], b: Session[], n: number): Promise<[number, number]> {
  const pids = [after.bridgePid as number, before.bridgePid as number];
  const cpu0 = pids.map((p) => cpuUs([p]));
  await Promise.all([drive(a, sessionsEach, n, bytes), drive(b, sessionsEach, n, bytes)]);
  const cpu1 = pids.map((p) => cpuUs([p]));
  return [((cpu1[0] as number) - (cpu0[0] as number)) / n, ((cpu1[1] as number) - (cpu0[1] as number)) / n];
}

const a = await open(after);
const b = await open(before);
await together(a, b, Number(opts.warm));
const rows: Array<[number, number]> = [];
for (let r = 0; r < rounds; r++) {
  const row = await together(a, b, calls);
  rows.push(row);
  console.error(
    `ab: round ${r + 1}/${rounds}: after ${row[0].toFixed(0)}, before ${row[1].toFixed(0)} µs/call`,
  );
}
await Promise.all([...a, ...b].map((s) => s.close()));
await Promise.all([after.stop(), before.stop()]);

const ratios = rows.map(([x, y]) => x / y);
console.log(
  [
    `Gateway CPU per forwarded echo call, ${bytes} B, ${sessionsEach} sessions × 1 in flight on each gateway, ` +
      `both at once; ${rounds} rounds × ${calls} calls each.`,
    "",
    "| round | after µs/call | before µs/call | after ÷ before |",
    "|---:|---:|---:|---:|",
    ...rows.map(([x, y], i) => `| ${i + 1} | ${x.toFixed(0)} | ${y.toFixed(0)} | ${(x / y).toFixed(2)} |`),
    `| median | ${median(rows.map((r) => r[0])).toFixed(0)} | ${median(rows.map((r) => r[1])).toFixed(0)} | ` +
      `${median(ratios).toFixed(2)} |`,
  ].join("\n"),
);
process.exit(0);
