import { createRequire } from "node:module";
import pino from "pino";
import type { PrettyOptions, PrettyStream } from "pino-pretty";

export type Logger = pino.Logger;

/**
 * Structured logs go to stderr: stdout belongs to the MCP stream in `stdio` mode. On a terminal
 * they are printed for a person (pino-pretty); anywhere else (a pipe, a file, CI) they stay JSON
 * lines, one per event, for machines.
 */
export function createLogger(
  level = process.env.WARDEN_LOG_LEVEL ?? "info",
  terminal = process.stderr.isTTY === true,
): Logger {
  const options = { level, base: { name: "mcp-warden" } };
  if (terminal) return pino(options, prettyStream());
  return pino(options, pino.destination({ fd: 2, sync: false }));
}

/** Loaded only on a terminal: JSON-only runs never pay for it. Synchronous, so no line is lost at exit. */
function prettyStream(): PrettyStream {
  const pretty = createRequire(import.meta.url)("pino-pretty") as (o: PrettyOptions) => PrettyStream;
  return pretty({ destination: 2, sync: true, ignore: "pid,hostname,name", translateTime: "SYS:HH:MM:ss" });
}
