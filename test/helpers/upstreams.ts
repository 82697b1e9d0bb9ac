import type { ChildProcess } from "node:child_process";
import { realpathSync } from "node:fs";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import { EVERYTHING_BIN, makeTempDir } from "./paths.js";
import { exited, killGroup, spawnTracked, stopChild } from "./processes.js";
import { waitFor } from "./wait.js";

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface RemoteUpstream {
  /** The URL the gateway should use: …/mcp for streamable HTTP, …/sse for legacy SSE. */
  url: string;
  port: number;
  proc: ChildProcess;
  output: string[];
  stop(): Promise<void>;
}

/**
 * Runs @modelcontextprotocol/server-everything as a network server (its `PORT` env var sets the
 * port) and waits until it accepts connections on 127.0.0.1.
 */
export async function startEverythingRemote(mode: "streamableHttp" | "sse"): Promise<RemoteUpstream> {
  const port = await freePort();
  const proc = spawnTracked(process.execPath, [realpathSync(EVERYTHING_BIN), mode], {
    cwd: makeTempDir("warden-upstream-"),
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  createInterface({ input: proc.stdout! }).on("line", (l) => output.push(l));
  createInterface({ input: proc.stderr! }).on("line", (l) => output.push(l));
  const path = mode === "sse" ? "/sse" : "/mcp";
  try {
    await waitFor(
      async () => {
        if (proc.exitCode !== null) throw new Error(`server-everything exited with ${proc.exitCode}`);
        // A DELETE without a session is answered at once by the streamable server (400) and by
        // the SSE server's express app (404); either way the port is listening.
        const res = await fetch(`http://127.0.0.1:${port}${path}`, { method: "DELETE" });
        await res.body?.cancel();
        return true;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: `server-everything ${mode} on port ${port}` },
    );
  } catch (err) {
    killGroup(proc);
    await exited(proc);
    throw new Error(`${(err as Error).message}\n${output.join("\n")}`);
  }
  return {
    url: `http://127.0.0.1:${port}${path}`,
    port,
    proc,
    output,
    async stop() {
      // server-everything's HTTP modes exit on SIGINT.
      await stopChild(proc, "SIGINT", 5_000);
      killGroup(proc);
    },
  };
}
