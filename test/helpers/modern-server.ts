// The v2 fixture test/fixtures/modern-server.mjs: started over HTTP for tests, or described as a
// stdio upstream for a gateway config.
import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fixture } from "./paths.js";
import { spawnTracked, stopChild } from "./processes.js";
import { waitFor } from "./wait.js";

export const MODERN_FIXTURE = fixture("modern-server.mjs");
// The same values as in the fixture (importing it would start a server).
export const FIXED_DESCRIPTION = "Returns a fixed sentence. This description never changes.";
export const FAKE_SECRET = "AKIAMODERNFIXTURE7EX";

export interface ModernServer {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export interface ModernServerOptions {
  /** A fixed port (tests that mint tokens need one); a free one otherwise. */
  port?: number;
  /** `reject`: 2026-07-28 only, 2025-era requests refused. */
  legacy?: "reject";
  /** Adds the SDK's conformance surface (tools, resources, prompts the suite calls). */
  conformance?: boolean;
  /** $RECORD_FILE: one JSON line per tool call and per cancelled `slow`. */
  recordFile?: string;
}

function flags(opts: ModernServerOptions): string[] {
  return [...(opts.legacy ? ["--legacy", opts.legacy] : []), ...(opts.conformance ? ["--conformance"] : [])];
}

/** Starts the fixture over streamable HTTP on 127.0.0.1 and waits for its URL (…/mcp). */
export async function startModernServer(opts: ModernServerOptions = {}): Promise<ModernServer> {
  const args = [MODERN_FIXTURE, "http", "--port", String(opts.port ?? 0), ...flags(opts)];
  const env = { ...process.env, ...(opts.recordFile ? { RECORD_FILE: opts.recordFile } : {}) };
  const child = spawnTracked(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  let url: string | undefined;
  createInterface({ input: child.stdout! }).on(
    "line",
    (line) => (url ??= /^listening (\S+)$/.exec(line)?.[1]),
  );
  const ready = await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`modern-server.mjs exited ${child.exitCode}: ${stderr}`);
      return url;
    },
    { what: "modern-server.mjs to print its URL", timeoutMs: 30_000 },
  ).catch((err: unknown) => {
    child.kill("SIGKILL");
    throw err;
  });
  return { url: ready, child, stop: async () => void (await stopChild(child)) };
}

/** A gateway `servers[]` entry running the fixture over stdio. */
export function modernStdio(
  name = "modern",
  tools: Record<string, string[]> = { "*": ["demo:use"] },
  opts: Omit<ModernServerOptions, "port"> = {},
): Record<string, unknown> {
  return {
    name,
    command: process.execPath,
    args: [MODERN_FIXTURE, "stdio", ...flags(opts)],
    ...(opts.recordFile ? { env: { RECORD_FILE: opts.recordFile } } : {}),
    tools,
  };
}
