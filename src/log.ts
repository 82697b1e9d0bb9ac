import pino from "pino";

export type Logger = pino.Logger;

/** Structured logs go to stderr: stdout belongs to the MCP stream in `stdio` mode. */
export function createLogger(level = process.env.WARDEN_LOG_LEVEL ?? "info"): Logger {
  return pino({ level, base: { name: "mcp-warden" } }, pino.destination({ fd: 2, sync: false }));
}
