import { StdioClientTransport, getDefaultEnvironment } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { Readable } from "node:stream";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { StdioServerConfig } from "../config/types.js";
import type { Logger } from "../log.js";

const MAX_STDERR_LINE = 2000;

/**
 * A stdio server the gateway launches. Its environment is the SDK's minimal set (HOME, LOGNAME,
 * PATH, SHELL, TERM, USER) plus the configured `env`: the gateway's own variables, which hold its
 * secrets, are never inherited. Its stderr becomes log lines tagged with the server's name.
 */
export function stdioTransport(server: StdioServerConfig, log: Logger): Transport {
  const transport = new StdioClientTransport({
    command: server.command,
    args: [...server.args],
    env: { ...getDefaultEnvironment(), ...server.env },
    ...(server.cwd ? { cwd: server.cwd } : {}),
    stderr: "pipe",
  });
  const stderr = transport.stderr as Readable | null;
  if (stderr) {
    let pending = "";
    stderr.setEncoding("utf8");
    stderr.on("data", (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl).trimEnd();
        pending = pending.slice(nl + 1);
        if (line)
          log.info({ server: server.name, stderr: line.slice(0, MAX_STDERR_LINE) }, "upstream stderr");
      }
      if (pending.length > MAX_STDERR_LINE) pending = pending.slice(-MAX_STDERR_LINE);
    });
  }
  return transport;
}
