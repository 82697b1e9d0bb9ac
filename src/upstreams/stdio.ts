import { StdioClientTransport, getDefaultEnvironment } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { Readable } from "node:stream";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import type { StdioServerConfig } from "../config/types.js";
import type { Logger } from "../log.js";
import { verifyIntegrity } from "../supply/integrity.js";
import { UPSTREAM_JSON_LIMITS } from "../transports/json-scan.js";
import { scanStdioInput, ScanningReadBuffer } from "../transports/stdio-scan.js";
import { installedBin } from "../supply/packages.js";
import { sandboxedLaunch, type Launch } from "../supply/sandbox.js";

const MAX_STDERR_LINE = 2000;

/**
 * A stdio server the gateway launches. (On the v1 SDK's transport, not v2's: stdio-scan.ts bounds
 * each line inside that transport's read buffer, and stdio needs none of the 2026-07-28 headers
 * the v2 HTTP transport adds; the messages are the same JSON-RPC in either era.)
 * Its environment is the SDK's minimal set (HOME, LOGNAME,
 * PATH, SHELL, TERM, USER) plus the configured `env`: the gateway's own variables, which hold its
 * secrets, are never inherited. Its stderr becomes log lines tagged with the server's name.
 *
 * Every launch (control connection, spare, per-session process, restart) goes through `start`
 * here, so every one first checks the `integrity` pins, a `package` pin's cache entry, and builds
 * the `sandbox`; any failing
 * rejects `start` with a LaunchRefused and nothing is spawned.
 */
export function stdioTransport(server: StdioServerConfig, log: Logger): Transport {
  return new CheckedStdioTransport(server, log);
}

class CheckedStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  private inner: StdioClientTransport | undefined;
  private closed = false;

  constructor(
    private readonly server: StdioServerConfig,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const env = { ...getDefaultEnvironment(), ...this.server.env };
    await verifyIntegrity(this.server.integrity);
    // A pinned package runs from the cache only: `node <bin> ...args`, never fetched here.
    const server = this.server.package
      ? { ...this.server, args: [await installedBin(this.server.package), ...this.server.args] }
      : this.server;
    const launch: Launch = server.sandbox
      ? await sandboxedLaunch(server, server.sandbox, env)
      : { command: server.command, args: [...server.args] };
    if (this.closed) throw new Error("closed before launch");
    const inner = new StdioClientTransport({
      command: launch.command,
      args: launch.args,
      env,
      // Inside a sandbox bwrap changes directory itself (--chdir), after mounting it.
      ...(this.server.cwd && !this.server.sandbox ? { cwd: this.server.cwd } : {}),
      stderr: "pipe",
    });
    // Each line the server writes is scanned before the SDK parses it; one past the limits is taken
    // for a hostile or broken server and ends the connection (its calls fail with -32005).
    scanStdioInput(
      inner,
      new ScanningReadBuffer(UPSTREAM_JSON_LIMITS, (excess) => {
        this.log.warn(
          { server: this.server.name, limit: excess },
          "upstream message past its JSON limit: closed",
        );
        throw new Error(`server ${this.server.name} sent a message past its JSON ${excess} limit`);
      }),
    );
    inner.onmessage = (message) => this.onmessage?.(message);
    inner.onerror = (error) => this.onerror?.(error);
    inner.onclose = () => this.onclose?.();
    this.pipeStderr(inner.stderr as Readable | null);
    this.inner = inner;
    await inner.start();
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if (!this.inner) throw new Error("not connected");
    await this.inner.send(message);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.inner?.close();
  }

  private pipeStderr(stderr: Readable | null): void {
    if (!stderr) return;
    const name = this.server.name;
    let pending = "";
    stderr.setEncoding("utf8");
    stderr.on("data", (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl).trimEnd();
        pending = pending.slice(nl + 1);
        if (line) this.log.info({ server: name, stderr: line.slice(0, MAX_STDERR_LINE) }, "upstream stderr");
      }
      if (pending.length > MAX_STDERR_LINE) pending = pending.slice(-MAX_STDERR_LINE);
    });
  }
}
