import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fixture } from "./paths.js";
import { exited, killGroup, spawnTracked, stopChild } from "./processes.js";

export interface NetworkFixture {
  /** http://127.0.0.1:<port> */
  base: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** Runs a network fixture server (test/fixtures) and waits for the {"port": N} line it prints. */
export async function startFixture(name: string, env: Record<string, string> = {}): Promise<NetworkFixture> {
  const proc = spawnTracked(process.execPath, [fixture(name)], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  createInterface({ input: proc.stderr! }).on("line", (l) => output.push(l));
  const lines = createInterface({ input: proc.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start: ${output.join("\n")}`)), 15_000);
    lines.once("line", (l) => {
      clearTimeout(timer);
      resolve((JSON.parse(l) as { port: number }).port);
    });
    proc.once("exit", (code) => reject(new Error(`${name} exited with ${code}: ${output.join("\n")}`)));
  });
  return {
    base: `http://127.0.0.1:${port}`,
    proc,
    async stop() {
      await stopChild(proc, "SIGTERM", 5_000);
      killGroup(proc);
      await exited(proc);
    },
  };
}
