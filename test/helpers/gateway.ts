import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { stringify } from "yaml";
import { CLI, makeTempDir } from "./paths.js";
import { exited, killGroup, spawnTracked, stopChild, type Exit } from "./processes.js";
import { waitFor } from "./wait.js";

export { connectClient, type ConnectedClient, type ConnectOptions } from "./client.js";
export { CLI, EVERYTHING_BIN, FILESYSTEM_BIN, ROOT, fixture, makeTempDir } from "./paths.js";

export interface GatewayOptions {
  /** Extra environment for the gateway process, on top of this process's environment. */
  env?: Record<string, string | undefined>;
  /** Wait for GET /readyz to answer 200 before returning (default true). */
  waitReady?: boolean;
  listenTimeoutMs?: number;
  readyTimeoutMs?: number;
}

export interface Gateway {
  /** Base URL, e.g. http://127.0.0.1:41234 (from the "listening" log line). */
  url: string;
  /** The aggregate endpoint, `${url}/mcp`. */
  mcpUrl: string;
  /** The per-server endpoint, `${url}/servers/<name>/mcp`. */
  serverUrl(name: string): string;
  /** host:port of the listener. */
  host: string;
  configFile: string;
  /** The temp dir holding the config; tests may put their own files here. */
  dir: string;
  proc: ChildProcess;
  /** Every stderr line so far (pino JSON lines, and anything else the process wrote). */
  stderrLines: string[];
  /** Every stdout line so far (the stdout audit sink writes here). */
  stdoutLines: string[];
  /** The stderr lines that parse as JSON objects. */
  logs(): Record<string, unknown>[];
  /** GET /readyz. */
  readyz(): Promise<{ status: number; body: ReadyBody }>;
  /** SIGTERM (or `signal`), wait for exit (SIGKILL after the grace), and report how it exited. */
  stop(signal?: NodeJS.Signals): Promise<Exit & { forced: boolean }>;
  /** Resolves when the process has exited. */
  exited: Promise<Exit>;
}

export interface ReadyBody {
  status?: string;
  upstreams?: Record<string, { state?: string; [k: string]: unknown }>;
  [k: string]: unknown;
}

/** Writes `config` (an object, rendered as YAML, or YAML text) to `dir`/warden.yaml. */
export function writeConfig(
  config: object | string,
  dir: string = makeTempDir(),
  name = "warden.yaml",
): string {
  const file = join(dir, name);
  writeFileSync(file, typeof config === "string" ? config : stringify(config));
  return file;
}

/**
 * Runs `mcp-warden start -c <file>` on `config`, waits for its "listening" log line and then for
 * GET /readyz → 200. Failing either within the bound, it kills the process and throws with stderr.
 */
export async function startGateway(config: object | string, opts: GatewayOptions = {}): Promise<Gateway> {
  const dir = makeTempDir("warden-gw-");
  const configFile = writeConfig(config, dir);
  return launchGateway([process.execPath, CLI, "start", "-c", configFile], { ...opts, dir, configFile });
}

/**
 * Runs a command that starts a gateway (`argv[0]` is the program: node, npx, npm), in `dir`, and
 * waits for it like `startGateway`: the quick start and the installed package start it their way.
 */
export async function launchGateway(
  argv: readonly [string, ...string[]],
  opts: GatewayOptions & { dir: string; configFile: string },
): Promise<Gateway> {
  const { dir, configFile } = opts;
  const proc = spawnTracked(argv[0], argv.slice(1), {
    cwd: dir,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stderrLines: string[] = [];
  const stdoutLines: string[] = [];
  const debug = Boolean(process.env.WARDEN_TEST_DEBUG);
  createInterface({ input: proc.stderr! }).on("line", (line) => {
    stderrLines.push(line);
    if (debug) process.stderr.write(`[gateway ${proc.pid}] ${line}\n`);
  });
  createInterface({ input: proc.stdout! }).on("line", (line) => stdoutLines.push(line));
  const done = exited(proc);

  const logs = () =>
    stderrLines.flatMap((line) => {
      try {
        const v: unknown = JSON.parse(line);
        return typeof v === "object" && v !== null ? [v as Record<string, unknown>] : [];
      } catch {
        return [];
      }
    });
  const describe = () =>
    `\n--- gateway stderr (last 40 lines) ---\n${stderrLines.slice(-40).join("\n")}` +
    (stdoutLines.length ? `\n--- stdout ---\n${stdoutLines.slice(-20).join("\n")}` : "");

  let url: string;
  try {
    url = await waitFor(
      () => {
        if (proc.exitCode !== null || proc.signalCode !== null) {
          throw new Error(
            `gateway exited (code ${proc.exitCode}, signal ${proc.signalCode}) before listening`,
          );
        }
        const line = logs().find((l) => l.msg === "listening" && typeof l.url === "string");
        return line ? String(line.url).replace(/\/+$/, "") : undefined;
      },
      { timeoutMs: opts.listenTimeoutMs ?? 20_000, what: 'the gateway\'s "listening" log line' },
    );
  } catch (err) {
    killGroup(proc);
    await done;
    throw new Error(`${(err as Error).message}${describe()}`);
  }

  const readyz = async () => {
    const res = await fetch(`${url}/readyz`);
    const text = await res.text();
    let body: ReadyBody;
    try {
      body = JSON.parse(text) as ReadyBody;
    } catch {
      body = { raw: text };
    }
    return { status: res.status, body };
  };

  if (opts.waitReady ?? true) {
    let last: unknown;
    try {
      await waitFor(
        async () => {
          if (proc.exitCode !== null) throw new Error(`gateway exited with code ${proc.exitCode}`);
          const r = await readyz();
          last = r;
          return r.status === 200;
        },
        { timeoutMs: opts.readyTimeoutMs ?? 30_000, intervalMs: 100, what: "GET /readyz → 200" },
      );
    } catch (err) {
      killGroup(proc);
      await done;
      throw new Error(`${(err as Error).message}; last /readyz: ${JSON.stringify(last)}${describe()}`);
    }
  }

  return {
    url,
    mcpUrl: `${url}/mcp`,
    serverUrl: (name) => `${url}/servers/${encodeURIComponent(name)}/mcp`,
    host: new URL(url).host,
    configFile,
    dir,
    proc,
    stderrLines,
    stdoutLines,
    logs,
    readyz,
    exited: done,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      const result = await stopChild(proc, signal);
      // Upstreams the gateway failed to stop must not outlive the test.
      killGroup(proc);
      return result;
    },
  };
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `mcp-warden ...args` to completion (bounded), capturing its output. */
export async function runCli(
  args: readonly string[],
  opts: { env?: Record<string, string | undefined>; cwd?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  const proc = spawnTracked(process.execPath, [CLI, ...args], {
    cwd: opts.cwd ?? makeTempDir("warden-cli-"),
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  proc.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  proc.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const timer = setTimeout(() => killGroup(proc), opts.timeoutMs ?? 30_000);
  // "close", not "exit": by then stdout and stderr have been read to the end.
  const [code, signal] = (await once(proc, "close")) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  return { code, signal, stdout, stderr };
}
