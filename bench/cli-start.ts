// node --import tsx bench/cli-start.ts [--runs 15] [--modes default,cold,warm] [--base-dir DIR]
// How long the quick CLI verbs take, start to exit, as an operator runs them: `node
// bin/mcp-warden.js <verb>` against a copy of the bundled demo config, each verb `--runs` times per
// compile-cache mode, with `node -e 0` as the floor. Reports median and p90 of wall time and of
// user + system CPU per verb. `--base-dir DIR`: also another checkout's build (node_modules linked,
// built), run interleaved with this one so that both see the same load. See bench/README.md.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { parseDocument } from "yaml";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const GNU_TIME = "/usr/bin/time";

const { values: opts } = parseArgs({
  options: {
    runs: { type: "string", default: "15" },
    modes: { type: "string", default: "default,cold,warm" },
    verbs: { type: "string" },
    "base-dir": { type: "string" },
  },
});
const runs = Number(opts.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs: not a count: ${opts.runs}`);

/**
 * What the compile cache holds when a verb starts. `default`: the build as installed (no
 * variable; its own cache, if it keeps one, primed by one run first); `off`: none
 * (NODE_DISABLE_COMPILE_CACHE=1); `cold`: NODE_COMPILE_CACHE set to a new empty directory per run
 * (the first run after an install or a Node upgrade); `warm`: NODE_COMPILE_CACHE set to a primed one.
 */
const MODES = ["default", "off", "cold", "warm"] as const;
type Mode = (typeof MODES)[number];
const modes = opts.modes.split(",").map((m) => {
  if (!(MODES as readonly string[]).includes(m)) throw new Error(`--modes: unknown mode ${m}`);
  return m as Mode;
});

interface Verb {
  name: string;
  /** Arguments after the CLI, with CONFIG for the config file; undefined: `node -e 0`. */
  args?: string[];
  /** What a successful run prints on stdout. */
  ok: RegExp;
}
const VERBS: Verb[] = [
  { name: "node -e 0 (floor)", ok: /^$/ },
  { name: "--version", args: ["--version"], ok: /^\d+\.\d+\.\d+/ },
  { name: "check", args: ["check", "-c", "CONFIG"], ok: /: ok \(2 server/ },
  {
    name: "token",
    args: ["token", "-c", "CONFIG", "--sub", "bench", "--scope", "demo:use"],
    ok: /^[\w-]+\.[\w-]+\.[\w-]+\n$/,
  },
  { name: "kill --list", args: ["kill", "--list", "-c", "CONFIG"], ok: /no kills in force/ },
  {
    name: "kill --no-wait",
    args: ["kill", "--server", "files", "--reason", "bench", "--no-wait", "-c", "CONFIG"],
    ok: /^killed server files/,
  },
  // Lifts the kill above, so that every round starts with none in force.
  {
    name: "revive --no-wait",
    args: ["revive", "--server", "files", "--reason", "bench", "--no-wait", "-c", "CONFIG"],
    ok: /^revived server files/,
  },
];
const verbs = opts.verbs
  ? opts.verbs.split(",").map((n) => {
      const v = VERBS.find((x) => x.name === n || x.name.startsWith(`${n} `));
      if (!v) throw new Error(`--verbs: unknown verb ${n} (${VERBS.map((x) => x.name).join(", ")})`);
      return v;
    })
  : VERBS;

/** One checkout under test: its CLI, a copy of the demo config with its own state, its caches. */
interface Build {
  name: string;
  cli: string;
  config: string;
  /** NODE_COMPILE_CACHE for `warm`. */
  warmCache: string;
  /** XDG_CACHE_HOME for `default`: where the build's own cache goes, if it keeps one. */
  xdgCache: string;
}

const work = mkdtempSync(join(tmpdir(), "warden-cli-start-"));

/**
 * The bundled demo config with its relative paths made absolute, and the state store moved to
 * `dir`: the verbs read and write there, never in the checkout's .warden/.
 */
function demoCopy(root: string, dir: string): string {
  const demo = join(root, "config", "demo.yaml");
  const doc = parseDocument(readFileSync(demo, "utf8"));
  const abs = (p: unknown) => (typeof p === "string" && !isAbsolute(p) ? resolve(dirname(demo), p) : p);
  doc.setIn(["state", "sqlite"], join(dir, "state.db"));
  const servers = doc.get("servers") as { items: unknown[] } | undefined;
  for (let i = 0; i < (servers?.items.length ?? 0); i++) {
    const cwd = doc.getIn(["servers", i, "cwd"]);
    if (cwd !== undefined) doc.setIn(["servers", i, "cwd"], abs(cwd));
    const paths = doc.getIn(["servers", i, "allowed_paths"]) as
      { items: Array<{ value: unknown }> } | undefined;
    for (const item of paths?.items ?? []) item.value = abs(item.value);
  }
  const file = join(dir, "warden.yaml");
  writeFileSync(file, doc.toString());
  return file;
}

function makeBuild(name: string, root: string): Build {
  const cli = join(root, "bin", "mcp-warden.js");
  // The CLI bundle (scripts/build-cli.js), or tsc's dist/cli/ in a checkout from before it.
  if (!["cli-bundle", "cli"].some((d) => existsSync(join(root, "dist", d, "main.js"))))
    throw new Error(`${root}: not built (npm run build there first)`);
  const dir = join(work, name);
  mkdirSync(dir);
  return {
    name,
    cli,
    config: demoCopy(root, dir),
    warmCache: join(dir, "compile-cache"),
    xdgCache: join(dir, "xdg-cache"),
  };
}

interface Sample {
  wallMs: number;
  /** User + system CPU of the process, from wait4 via GNU time (10 ms resolution). */
  cpuMs: number | undefined;
}

/** The environment without anything that would change how node starts or caches. */
function baseEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ["NODE_OPTIONS", "NODE_COMPILE_CACHE", "NODE_DISABLE_COMPILE_CACHE", "WARDEN_LISTEN"])
    delete env[k];
  return env;
}

function envFor(build: Build, mode: Mode): { env: NodeJS.ProcessEnv; cleanup?: () => void } {
  const env = { ...baseEnv(), XDG_CACHE_HOME: build.xdgCache };
  switch (mode) {
    case "default":
      return { env };
    case "off":
      return { env: { ...env, NODE_DISABLE_COMPILE_CACHE: "1" } };
    case "warm":
      return { env: { ...env, NODE_COMPILE_CACHE: build.warmCache } };
    case "cold": {
      const dir = mkdtempSync(join(work, "cold-"));
      return { env: { ...env, NODE_COMPILE_CACHE: dir }, cleanup: () => rmSync(dir, { recursive: true }) };
    }
  }
}

async function runOnce(build: Build, verb: Verb, mode: Mode): Promise<Sample> {
  const argv = verb.args
    ? [build.cli, ...verb.args.map((a) => (a === "CONFIG" ? build.config : a))]
    : ["-e", "0"];
  const { env, cleanup } = envFor(build, mode);
  const timeFile = join(work, "time.txt");
  const useTime = existsSync(GNU_TIME);
  const [cmd, args] = useTime
    ? [GNU_TIME, ["-f", "%U %S", "-o", timeFile, process.execPath, ...argv]]
    : [process.execPath, argv];
  const t0 = process.hrtime.bigint();
  const child = spawn(cmd, args, { cwd: dirname(build.config), env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const code = await new Promise<number | null>((res) => child.on("close", res));
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  cleanup?.();
  if (code !== 0 || !verb.ok.test(stdout))
    throw new Error(`${build.name} ${verb.name} (${mode}): exit ${code}\n${stdout}\n${stderr}`);
  let cpuMs: number | undefined;
  if (useTime) {
    const last = readFileSync(timeFile, "utf8").trim().split("\n").at(-1) ?? "";
    const [u, s] = last.split(" ").map(Number);
    cpuMs = ((u ?? NaN) + (s ?? NaN)) * 1000;
  }
  return { wallMs, cpuMs };
}

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] as number;
}

const builds = [makeBuild("this", ROOT)];
if (opts["base-dir"]) builds.push(makeBuild("base", resolve(opts["base-dir"])));

// Priming, not measured: the state store and its keys are made by the first run, and the `warm`
// and `default` caches filled.
for (const b of builds)
  for (const mode of ["default", "warm"] as const) for (const v of verbs) await runOnce(b, v, mode);

const samples = new Map<string, Sample[]>();
const key = (b: Build, v: Verb, m: Mode) => `${b.name}\0${v.name}\0${m}`;
const load0 = loadavg()[0] as number;
const started = Date.now();
for (let r = 0; r < runs; r++) {
  // Rotated, so that no build or mode always runs first after the other's writes.
  const ms = modes.map((_, i) => modes[(i + r) % modes.length] as Mode);
  const bs = builds.map((_, i) => builds[(i + r) % builds.length] as Build);
  for (const m of ms)
    for (const b of bs)
      for (const v of verbs) {
        const k = key(b, v, m);
        samples.set(k, [...(samples.get(k) ?? []), await runOnce(b, v, m)]);
      }
  process.stderr.write(`cli-start: round ${r + 1}/${runs}, load ${loadavg()[0]?.toFixed(1)}\n`);
}
const load1 = loadavg()[0] as number;

const fmt = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? "n/a" : x.toFixed(0));
const cell = (xs: Sample[]) => {
  const wall = xs.map((s) => s.wallMs);
  const cpu = xs.map((s) => s.cpuMs).filter((c): c is number => c !== undefined);
  return (
    `${fmt(quantile(wall, 0.5))} / ${fmt(quantile(wall, 0.9))} | ` +
    (cpu.length ? `${fmt(quantile(cpu, 0.5))} / ${fmt(quantile(cpu, 0.9))}` : "n/a")
  );
};
const header = builds.map((b) => `${b.name}: wall p50 / p90 ms | ${b.name}: CPU p50 / p90 ms`).join(" | ");
const lines = [
  `Node ${process.version}, ${cpus().length} cores, load average ${load0.toFixed(1)} → ${load1.toFixed(1)}, ` +
    `${runs} runs per cell, ${((Date.now() - started) / 1000).toFixed(0)} s.`,
  "",
  `| verb | cache | ${header} |`,
  `|---|---|${builds.map(() => "---:|---:|").join("")}`,
];
for (const v of verbs)
  for (const m of modes)
    lines.push(
      `| ${v.name} | ${m} | ${builds.map((b) => cell(samples.get(key(b, v, m)) ?? [])).join(" | ")} |`,
    );
console.log(lines.join("\n"));

const results = join(ROOT, "bench", "results");
mkdirSync(results, { recursive: true });
const out = join(results, `cli-start-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
writeFileSync(
  out,
  JSON.stringify(
    {
      node: process.version,
      cores: cpus().length,
      load: [load0, load1],
      runs,
      builds: builds.map((b) => ({ name: b.name, cli: b.cli })),
      samples: Object.fromEntries(samples),
    },
    null,
    1,
  ),
);
console.error(`cli-start: raw samples in ${out}`);
rmSync(work, { recursive: true, force: true });
