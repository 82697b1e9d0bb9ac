// node --import tsx bench/dos.ts [--seconds 8] [--builds current,base] [--base-dir /tmp/base]
// A legitimate caller's tools/call latency (echo on server-everything, through the real gateway,
// with a bearer token) at rest and while each flood of bench/lib/attacks.ts runs from another
// loopback address. Loopback only; every phase is bounded in time. `base` is another checkout
// (e.g. `git worktree add /tmp/base 05aae7b`, node_modules and dist built there) measured the same
// way, for a before/after table; its config leaves out the keys it does not know.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { hashPassword } from "../src/auth/passwords.js";
import { ATTACKS, FIRST_ATTACKER, type Attack, type AttackStats, type Target } from "./lib/attacks.js";
import { freePort, ROOT, UPSTREAM } from "./lib/targets.js";

const { values: opts } = parseArgs({
  options: {
    seconds: { type: "string", default: "8" },
    builds: { type: "string", default: "current" },
    "base-dir": { type: "string", default: "/tmp/base" },
    only: { type: "string", default: ATTACKS.map((a) => a.name).join(",") },
  },
});
const SECONDS = Number(opts.seconds);
if (!(SECONDS > 0 && SECONDS <= 120)) throw new Error("--seconds: 1 to 120");
const ONLY = new Set(opts.only.split(","));
const CLIENT_INFO = { name: "dos-bench", version: "1.0.0" };
const ATTACK_PROCESS = join(ROOT, "bench", "lib", "attack-process.ts");

interface Phase {
  build: string;
  attack: string;
  calls: number;
  failed: number;
  p50: number;
  p99: number;
  max: number;
  attackSent: number;
  attackStatuses: Record<string, number>;
  /** Rows the phase added to the state store: audit events, and oidc-provider models. */
  auditRows: number;
  oauthRows: number;
}

interface Gateway {
  base: string;
  proc: ChildProcess;
  cli: string;
  config: string;
  dir: string;
}

async function startGateway(build: string): Promise<Gateway> {
  const root = build === "base" ? opts["base-dir"] : ROOT;
  const cli = join(root, "bin", "mcp-warden.js");
  const dir = mkdtempSync(join(tmpdir(), "warden-dos-"));
  const config = join(dir, "warden.yaml");
  const lines = [
    "gateway:",
    `  listen: 127.0.0.1:${await freePort()}`,
    // The new build: slow bodies cut after 5 s, so that the phase shows it; limits at their defaults.
    ...(build === "base" ? [] : ["  request_timeout: 5s"]),
    `state: { sqlite: ${JSON.stringify(join(dir, "state.db"))} }`,
    "auth:",
    "  anonymous: []",
    `  signing_key_file: ${JSON.stringify(join(dir, "signing.jwk"))}`,
    `  users: [{ name: alice, password_hash: ${JSON.stringify(await hashPassword("alice-password-1"))}, scopes: [demo:use] }]`,
    "servers:",
    "  - name: everything",
    `    command: ${JSON.stringify(UPSTREAM.command)}`,
    `    args: ${JSON.stringify(UPSTREAM.args)}`,
    '    tools: { "*": [demo:use] }',
    "",
  ];
  writeFileSync(config, lines.join("\n"));
  const proc = spawn(process.execPath, [cli, "start", "-c", config], {
    cwd: dir,
    stdio: ["ignore", "ignore", "pipe"],
  });
  const tail: string[] = [];
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${build}: no "listening" line\n${tail.join("\n")}`)),
      30_000,
    );
    proc.once("exit", (code) => reject(new Error(`${build}: exited ${code}\n${tail.join("\n")}`)));
    createInterface({ input: proc.stderr! }).on("line", (line) => {
      tail.push(line);
      if (tail.length > 30) tail.shift();
      try {
        const rec = JSON.parse(line) as { msg?: string; url?: string };
        if (rec.msg === "listening" && rec.url) {
          clearTimeout(timer);
          resolve(rec.url.replace(/\/+$/, ""));
        }
      } catch {
        // not a log line
      }
    });
  });
  for (let i = 0; i < 300; i++) {
    const ready = await fetch(`${base}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return { base, proc, cli, config, dir };
}

async function mintToken(gw: Gateway, sub: string): Promise<string> {
  const child = spawn(
    process.execPath,
    [gw.cli, "token", "-c", gw.config, "--sub", sub, "--scope", "demo:use"],
    {
      cwd: gw.dir,
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  const code = await new Promise((r) => child.once("exit", r));
  if (code !== 0) throw new Error(`token: exit ${String(code)}`);
  return out.trim();
}

async function connect(base: string, token: string) {
  const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  const client = new Client(CLIENT_INFO);
  await client.connect(transport);
  return { client, transport };
}

/** What the attacks need: the attacker's own token and session, and a registered client. */
/** Each flood's own address: 127.0.0.2 for the first attack, and so on. */
function sourceOf(attack: Attack): string {
  return `127.0.0.${FIRST_ATTACKER + ATTACKS.indexOf(attack)}`;
}

async function attackTarget(gw: Gateway): Promise<Omit<Target, "source">> {
  const token = await mintToken(gw, "attacker");
  const init = await fetch(`${gw.base}/mcp`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: CLIENT_INFO },
    }),
  });
  await init.text();
  const sessionId = init.headers.get("mcp-session-id");
  if (!sessionId) throw new Error(`attacker initialize: HTTP ${init.status}`);
  const redirectUri = "http://127.0.0.1:9/callback";
  const reg = await fetch(`${gw.base}/oauth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ redirect_uris: [redirectUri], token_endpoint_auth_method: "none" }),
  });
  const { client_id: clientId } = (await reg.json()) as { client_id: string };
  return { base: gw.base, token, sessionId, clientId, redirectUri };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

/** Rows in the gateway's state store (read-only, beside the writer, as WAL allows). */
function stateRows(gw: Gateway): { audit: number; oauth: number } {
  const db = new Database(join(gw.dir, "state.db"), { readonly: true, fileMustExist: true });
  try {
    const count = (table: string) =>
      (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    return { audit: count("audit_events"), oauth: count("oauth_models") };
  } finally {
    db.close();
  }
}

async function measure(
  gw: Gateway,
  build: string,
  client: Client,
  target: Omit<Target, "source">,
  attack: Attack | undefined,
): Promise<Phase> {
  const before = stateRows(gw);
  // The flood runs in a process of its own: its CPU is not charged to the measured caller's loop.
  const flood = attack
    ? spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          ATTACK_PROCESS,
          attack.name,
          JSON.stringify({ ...target, source: sourceOf(attack) }),
        ],
        {
          stdio: ["ignore", "inherit", "inherit", "ipc"],
        },
      )
    : undefined;
  const stats = new Promise<AttackStats>((resolve) => {
    if (!flood) return resolve({ sent: 0, statuses: {} });
    flood.once("message", (m) => resolve(m as AttackStats));
    flood.once("exit", () => resolve({ sent: 0, statuses: { exited: 1 } }));
  });
  // Let the flood get going before measuring.
  await new Promise((r) => setTimeout(r, attack ? 1500 : 200));
  const latencies: number[] = [];
  let failed = 0;
  const deadline = performance.now() + SECONDS * 1000;
  for (let i = 0; performance.now() < deadline; i++) {
    const t0 = performance.now();
    try {
      const res = await client.callTool({ name: "everything__echo", arguments: { message: `legit ${i}` } });
      if (res.isError) failed++;
      else latencies.push(performance.now() - t0);
    } catch {
      failed++;
    }
  }
  flood?.send("stop");
  const counted = await stats;
  // The audit log writes in batches: give the last one time to land.
  await new Promise((r) => setTimeout(r, 1000));
  const after = stateRows(gw);
  latencies.sort((a, b) => a - b);
  return {
    build,
    attack: attack?.name ?? "baseline",
    calls: latencies.length,
    failed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.at(-1) ?? NaN,
    attackSent: counted.sent,
    attackStatuses: counted.statuses,
    auditRows: after.audit - before.audit,
    oauthRows: after.oauth - before.oauth,
  };
}

async function runBuild(build: string): Promise<Phase[]> {
  const gw = await startGateway(build);
  const phases: Phase[] = [];
  try {
    const target = await attackTarget(gw);
    const legit = await connect(gw.base, await mintToken(gw, "legit"));
    for (let i = 0; i < 200; i++)
      await legit.client.callTool({ name: "everything__echo", arguments: { message: "warm" } });
    for (const attack of [undefined, ...ATTACKS.filter((a) => ONLY.has(a.name))]) {
      const phase = await measure(gw, build, legit.client, target, attack);
      phases.push(phase);
      console.error(
        `${build} ${phase.attack}: p50 ${phase.p50.toFixed(1)} ms, p99 ${phase.p99.toFixed(1)} ms`,
      );
    }
    await legit.transport.terminateSession().catch(() => undefined);
    await legit.client.close();
  } finally {
    gw.proc.kill("SIGTERM");
    await new Promise((r) => gw.proc.once("exit", r));
    rmSync(gw.dir, { recursive: true, force: true });
  }
  return phases;
}

const fmt = (n: number) => (Number.isNaN(n) ? "–" : n < 10 ? n.toFixed(1) : n.toFixed(0));
const statuses = (s: Record<string, number>) =>
  Object.entries(s)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k}×${v}`)
    .join(" ");

// The SDK client's transport adds an abort listener per request (see bench/README.md): say it once.
let listenerWarnings = 0;
process.removeAllListeners("warning");
process.on("warning", (w) => {
  if (w.name !== "MaxListenersExceededWarning") console.error(`${w.name}: ${w.message}`);
  else if (listenerWarnings++ === 0)
    console.error(`bench: client-side ${w.name} (SDK transport), reported once`);
});

const all: Phase[] = [];
for (const build of opts.builds.split(",")) all.push(...(await runBuild(build)));
const builds = [...new Set(all.map((p) => p.build))];
const names = ["baseline", ...ATTACKS.filter((a) => ONLY.has(a.name)).map((a) => a.name)];
const phaseOf = (b: string, name: string) => all.find((p) => p.build === b && p.attack === name);
console.log(
  `\nLegitimate caller: sequential echo tools/call, ${SECONDS} s per phase; each flood from its own address (127.0.0.${FIRST_ATTACKER} and up).\n`,
);
console.log(`| attack | ${builds.map((b) => `${b}: p50 / p99 ms (calls)`).join(" | ")} |`);
console.log(`|---|${builds.map(() => "---").join("|")}|`);
for (const name of names) {
  const cells = builds.map((b) => {
    const p = phaseOf(b, name);
    return p ? `${fmt(p.p50)} / ${fmt(p.p99)} (${p.calls}${p.failed ? `, ${p.failed} failed` : ""})` : "–";
  });
  console.log(`| ${name} | ${cells.join(" | ")} |`);
}
console.log(
  "\nWhat each flood got, and what it cost the state store (rows added during the phase; audit events less the legitimate caller's own, one per call):\n",
);
console.log("| attack | build | answers to the flood | audit events | oauth rows |");
console.log("|---|---|---|---|---|");
for (const name of names.slice(1)) {
  for (const b of builds) {
    const p = phaseOf(b, name);
    if (!p) continue;
    const flood = p.auditRows - p.calls - p.failed;
    console.log(`| ${name} | ${b} | ${statuses(p.attackStatuses) || "–"} | ${flood} | ${p.oauthRows} |`);
  }
}
const results = join(ROOT, "bench", "results");
mkdirSync(results, { recursive: true });
writeFileSync(
  join(results, `dos-${new Date().toISOString().replace(/[:.]/g, "-")}.json`),
  JSON.stringify({ seconds: SECONDS, node: process.version, phases: all }, null, 2),
);
