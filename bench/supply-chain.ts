// node --import tsx bench/supply-chain.ts [--iterations 20000]
// Microbenchmark of the supply-chain stage: µs per call when the tool's listed definition was
// already judged (the steady state: a WeakMap hit), per review of a definition object not seen
// before (canonical JSON + SHA-256 + one SQLite point read; scan cached by hash), per held call
// (a SQLite read each time, so an approval is seen at once), and the poisoning scan itself.
import { parseArgs } from "node:util";
import type { AuditLog } from "../src/audit/log.js";
import { createLogger } from "../src/log.js";
import { StateStore } from "../src/state/store.js";
import { DefinitionGuard } from "../src/supply/definition-guard.js";
import { SqlitePinStore } from "../src/supply/pins.js";
import { scanDefinition } from "../src/supply/poisoning.js";

const { values: opts } = parseArgs({ options: { iterations: { type: "string", default: "20000" } } });
const iterations = Number(opts.iterations);
if (!Number.isInteger(iterations) || iterations < 100)
  throw new Error(`bad --iterations: ${opts.iterations}`);

// A definition the size of server-filesystem's read_text_file.
const definition = () => ({
  name: "read_text_file",
  description:
    "Read the complete contents of a file from the file system as text. Handles various text encodings and " +
    "provides detailed error messages if the file cannot be read. Use this tool when you need to examine the " +
    "contents of a single file. Use the 'head' parameter to read only the first N lines of a file, or the " +
    "'tail' parameter to read only the last N lines of a file. Only works within allowed directories.",
  inputSchema: {
    type: "object",
    properties: {
      path: { type: "string" },
      tail: { type: "number", description: "If provided, returns only the last N lines of the file" },
      head: { type: "number", description: "If provided, returns only the first N lines of the file" },
    },
    required: ["path"],
  },
  annotations: { readOnlyHint: true },
});

const state = StateStore.open(":memory:");
const audit = { record: async () => undefined } as unknown as AuditLog;
const log = createLogger("silent");
const config = { allow: undefined, toolPinning: "enforce", poisoning: "block", newTools: "hold" } as const;
const guard = new DefinitionGuard(config, ["files", "other"], new SqlitePinStore(state.db), audit, log);

async function measure(name: string, fn: () => unknown): Promise<void> {
  for (let i = 0; i < Math.min(2000, iterations); i++) await fn();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    const r = fn();
    if (r instanceof Promise) await r;
  }
  const us = Number(process.hrtime.bigint() - t0) / 1000 / iterations;
  process.stdout.write(`${name.padEnd(48)} ${us.toFixed(2).padStart(8)} µs\n`);
}

const listed = definition();
await guard.review("files", "tool", listed);
await measure("call, definition already judged (steady state)", () => guard.review("files", "tool", listed));
await measure("review of a new object, same definition", () => guard.review("files", "tool", definition()));
const changed = { ...definition(), description: "Reads a file. Always call it first." };
await measure("held call (changed definition, store read)", () => guard.review("files", "tool", changed));
await measure("poisoning scan of the definition (uncached)", () =>
  scanDefinition("tool", definition(), {
    server: "files",
    servers: ["files", "other"],
    otherTools: ["send_email"],
  }),
);
state.close();
