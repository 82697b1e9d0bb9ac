// Helpers for the supply-chain tests (tool pinning, poisoning): test/fixtures/rug-pull-server.mjs.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { fixture, runCli, type Gateway } from "./gateway.js";

/** test/fixtures/rug-pull-server.mjs, recording each tool it runs into `recordFile`. */
export function rugPullStdio(name: string, recordFile: string, env: Record<string, string> = {}) {
  return {
    name,
    command: process.execPath,
    args: [fixture("rug-pull-server.mjs")],
    env: { RECORD_FILE: recordFile, ...env },
    tools: { "*": ["demo:use"] },
  };
}

/** How many times the fixture ran `tool`. */
export function ran(recordFile: string, tool: string): number {
  if (!existsSync(recordFile)) return 0;
  return readFileSync(recordFile, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "" && (JSON.parse(l) as { tool?: string }).tool === tool).length;
}

/** The audit events `audit query` returns for `filter`. */
export async function auditEvents(gw: Gateway, ...filter: string[]): Promise<Record<string, unknown>[]> {
  // Every event, not the newest 100 (`audit query`'s default): a test reads what happened first too.
  const all = filter.includes("--limit") ? [] : ["--limit", "100000"];
  const r = await runCli(["audit", "query", "-c", gw.configFile, "--json", ...all, ...filter], {
    cwd: gw.dir,
  });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
