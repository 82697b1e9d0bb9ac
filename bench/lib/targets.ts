// The things the benchmark calls through: the stdio server itself, mcp-warden, mcp-proxy.
// Every target runs the same server-everything build with the same node binary.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect as netConnect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { descendants, isAlive } from "./proc.js";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

function binOf(pkg: string, name: string): string {
  const dir = join(ROOT, "node_modules", pkg);
  const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
    bin: string | Record<string, string>;
  };
  const rel = typeof manifest.bin === "string" ? manifest.bin : manifest.bin[name];
  if (!rel) throw new Error(`${pkg} has no bin ${name}`);
  return join(dir, rel);
}

export const EVERYTHING_JS = binOf("@modelcontextprotocol/server-everything", "mcp-server-everything");
export const MCP_PROXY_JS = binOf("mcp-proxy", "mcp-proxy");
export const WARDEN_JS = join(ROOT, "bin", "mcp-warden.js");
export const BARE_RELAY_TS = join(ROOT, "bench", "lib", "bare-relay.ts");
/** The upstream command line shared by every target. */
export const UPSTREAM = { command: process.execPath, args: [EVERYTHING_JS, "stdio"] };

export interface Session {
  /** One echo tools/call; rejects unless the echo comes back intact. */
  call(message: string): Promise<void>;
  close(): Promise<void>;
}

export interface Target {
  readonly name: string;
  readonly description: string;
  /** The bridge process whose CPU is measured; undefined for the direct (in-process) client. */
  readonly bridgePid: number | undefined;
  /** False when every connect() returns the same session (the direct stdio client). */
  readonly multiSession: boolean;
  connect(): Promise<Session>;
  /** Pids of the upstream server process(es) behind this target. */
  upstreamPids(): number[];
  /** Bytes the bridge wrote to stdout + stderr so far (logging cost shows up here). */
  logBytes(): number;
  stop(): Promise<void>;
}

const CLIENT_INFO = { name: "mcp-warden-bench", version: "1.0.0" };

function echoSession(client: Client, toolName: string, close: () => Promise<void>): Session {
  return {
    async call(message) {
      const res = await client.callTool({ name: toolName, arguments: { message } });
      const first = (res.content as { type: string; text?: string }[] | undefined)?.[0];
      if (res.isError || first?.text !== `Echo: ${message}`) {
        throw new Error(`unexpected echo result from ${toolName}: ${JSON.stringify(res).slice(0, 300)}`);
      }
    },
    close,
  };
}

async function httpSession(url: URL, toolName: string): Promise<Session> {
  const transport = new StreamableHTTPClientTransport(url);
  const client = new Client(CLIENT_INFO);
  await client.connect(transport);
  return echoSession(client, toolName, async () => {
    // DELETE the session so that neither bridge accumulates idle sessions across phases.
    await transport.terminateSession().catch(() => undefined);
    await client.close();
  });
}

export async function directTarget(): Promise<Target> {
  const transport = new StdioClientTransport({ ...UPSTREAM, stderr: "ignore" });
  const client = new Client(CLIENT_INFO);
  await client.connect(transport);
  const pid = transport.pid;
  if (pid === null) throw new Error("stdio transport has no pid");
  const session = echoSession(client, "echo", async () => undefined);
  return {
    name: "direct",
    description: "SDK Client → StdioClientTransport → server-everything (the floor)",
    bridgePid: undefined,
    multiSession: false,
    connect: async () => session,
    upstreamPids: () => [pid],
    logBytes: () => 0,
    stop: () => client.close(),
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

async function waitFor<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

function tcpOpen(port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const s = netConnect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(undefined));
  });
}

/** Tracks a spawned bridge: output byte count, the last lines (for errors), early exit. */
class Bridge {
  bytes = 0;
  readonly tail: string[] = [];
  exited: string | undefined;
  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    for (const stream of [child.stdout, child.stderr]) {
      stream?.on("data", (chunk: Buffer) => (this.bytes += chunk.length));
      if (stream) {
        createInterface({ input: stream }).on("line", (line) => {
          this.tail.push(line);
          if (this.tail.length > 40) this.tail.shift();
        });
      }
    }
    child.once("exit", (code, signal) => (this.exited = `exit code ${code} signal ${signal}`));
  }

  fail(message: string): Error {
    return new Error(`${this.name}: ${message}\n--- last output ---\n${this.tail.join("\n")}`);
  }

  check(): void {
    if (this.exited) throw this.fail(`process ended early (${this.exited})`);
  }

  /** SIGTERM, wait for a graceful exit, then SIGKILL; upstream children left behind are reported. */
  async stop(): Promise<string[]> {
    const pid = this.child.pid as number;
    const orphans = () => descendants(pid);
    const before = orphans();
    if (!this.exited) {
      const gone = new Promise((r) => this.child.once("exit", r));
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
      await gone;
      clearTimeout(timer);
    }
    await new Promise((r) => setTimeout(r, 300));
    const left = before.filter(isAlive);
    for (const p of left) process.kill(p, "SIGKILL");
    return left.map((p) => `${this.name}: upstream pid ${p} outlived its bridge after SIGTERM (killed)`);
  }
}

export interface BridgeTarget extends Target {
  /** Problems seen while stopping (children left running). */
  readonly warnings: string[];
}

function bridgeTarget(
  bridge: Bridge,
  name: string,
  description: string,
  url: URL,
  toolName: string,
): BridgeTarget {
  const pid = bridge.child.pid as number;
  const warnings: string[] = [];
  return {
    name,
    description,
    bridgePid: pid,
    multiSession: true,
    warnings,
    connect: () => {
      bridge.check();
      return httpSession(url, toolName);
    },
    upstreamPids: () => descendants(pid),
    logBytes: () => bridge.bytes,
    stop: async () => {
      warnings.push(...(await bridge.stop()));
    },
  };
}

export async function mcpProxyTarget(options: { eventStore: boolean }): Promise<BridgeTarget> {
  const port = await freePort();
  const args = [MCP_PROXY_JS, "--host", "127.0.0.1", "--port", String(port), "--server", "stream"];
  if (!options.eventStore) args.push("--no-eventStore");
  const child = spawn(process.execPath, [...args, "--", UPSTREAM.command, ...UPSTREAM.args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const name = options.eventStore ? "mcp-proxy" : "mcp-proxy-noes";
  const bridge = new Bridge(name, child);
  try {
    await waitFor(`${name} on port ${port}`, 30_000, async () => (bridge.check(), tcpOpen(port)));
  } catch (err) {
    await bridge.stop();
    throw bridge.fail(String(err));
  }
  const flags = options.eventStore ? "defaults" : "--no-eventStore";
  return bridgeTarget(
    bridge,
    name,
    `mcp-proxy ${flags}, streamable HTTP /mcp, tool echo`,
    new URL(`http://127.0.0.1:${port}/mcp`),
    "echo",
  );
}

/** The floor: a relay with no checks (bare-relay.ts), one upstream per session like mcp-warden. */
export async function bareRelayTarget(): Promise<BridgeTarget> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ["--import", "tsx", BARE_RELAY_TS, String(port), UPSTREAM.command, ...UPSTREAM.args],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  const bridge = new Bridge("bare", child);
  try {
    await waitFor(`bare relay on port ${port}`, 30_000, async () => (bridge.check(), tcpOpen(port)));
  } catch (err) {
    await bridge.stop();
    throw bridge.fail(String(err));
  }
  return bridgeTarget(
    bridge,
    "bare",
    "bench/lib/bare-relay.ts: HTTP to stdio with no checks, one upstream per session",
    new URL(`http://127.0.0.1:${port}/mcp`),
    "echo",
  );
}

export interface Warden {
  server: BridgeTarget;
  aggregate: BridgeTarget;
}

/**
 * One mcp-warden process, two targets: its per-server route and its aggregate route. `nodeArgs`
 * go to its node (`--cpu-prof` for bench/profile.ts); `root` is another checkout's build to run
 * (its `bin/mcp-warden.js`), and `name` prefixes the targets' names (`warden-base-server`).
 */
export async function wardenTargets(
  options: { nodeArgs?: readonly string[]; root?: string; name?: string } = {},
): Promise<Warden> {
  const name = options.name ?? "warden";
  const wardenJs = options.root === undefined ? WARDEN_JS : join(options.root, "bin", "mcp-warden.js");
  const build = options.root === undefined ? "" : ` (build in ${options.root})`;
  const dir = mkdtempSync(join(tmpdir(), "warden-bench-"));
  const config = join(dir, "warden.yaml");
  writeFileSync(
    config,
    [
      "gateway: { listen: 127.0.0.1:0 }",
      "auth: { anonymous: [demo:use] }",
      "servers:",
      "  - name: everything",
      `    command: ${JSON.stringify(UPSTREAM.command)}`,
      `    args: ${JSON.stringify(UPSTREAM.args)}`,
      '    tools: { "*": [demo:use] }',
      "",
    ].join("\n"),
  );
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), wardenJs, "start", "-c", config], {
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const bridge = new Bridge(name, child);
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  let listening: URL | undefined;
  if (child.stderr) {
    createInterface({ input: child.stderr }).on("line", (line) => {
      if (listening || !line.includes('"listening"')) return;
      try {
        const rec = JSON.parse(line) as { msg?: unknown; url?: unknown };
        if (rec.msg === "listening" && typeof rec.url === "string") listening = new URL(rec.url);
      } catch {
        // not a JSON log line
      }
    });
  }
  let base: URL;
  try {
    base = await waitFor(
      "the gateway's 'listening' log line",
      30_000,
      async () => (bridge.check(), listening),
    );
    await waitFor("/readyz 200", 30_000, async () => {
      bridge.check();
      const res = await fetch(new URL("/readyz", base));
      await res.body?.cancel();
      return res.status === 200 ? true : undefined;
    });
  } catch (err) {
    await bridge.stop();
    cleanup();
    throw bridge.fail(String(err));
  }
  const server = bridgeTarget(
    bridge,
    `${name}-server`,
    `mcp-warden${build} /servers/everything/mcp, tool echo`,
    new URL("/servers/everything/mcp", base),
    "echo",
  );
  const aggregate = bridgeTarget(
    bridge,
    `${name}-aggregate`,
    `mcp-warden${build} /mcp (aggregate), tool everything__echo`,
    new URL("/mcp", base),
    "everything__echo",
  );
  // Both targets share one process: whichever stops first stops it, the other waits for that.
  let stopped: Promise<void> | undefined;
  const stop = async () => {
    stopped ??= (async () => {
      server.warnings.push(...(await bridge.stop()));
      cleanup();
    })();
    await stopped;
  };
  return { server: { ...server, stop }, aggregate: { ...aggregate, warnings: server.warnings, stop } };
}
