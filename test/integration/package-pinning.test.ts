// npm package pins: `mcp-warden install` puts the pinned package into the gateway's cache (scripts
// off, the registry's integrity checked against the pin, `npm audit signatures`), and the gateway
// launches it from there only. This installs @modelcontextprotocol/server-everything from the
// registry, at the version (and integrity) this repository's package-lock.json holds.
import assert from "node:assert/strict";
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { delimiter, join } from "node:path";
import { after, describe, test } from "node:test";
import { connectClient, textOf, type ConnectedClient } from "../helpers/client.js";
import { gatewayConfig } from "../helpers/configs.js";
import { ROOT, makeTempDir, runCli, startGateway, writeConfig, type Gateway } from "../helpers/gateway.js";
import { waitFor } from "../helpers/wait.js";

const NAME = "@modelcontextprotocol/server-everything";
const locked = (
  JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as {
    packages: Record<string, { version: string; integrity: string }>;
  }
).packages[`node_modules/${NAME}`]!;
const PIN = { name: NAME, version: locked.version, integrity: locked.integrity };
const WRONG = { ...PIN, integrity: `sha512-${"A".repeat(86)}==` };
// Sigstore's TUF repository is fetched by `npm audit signatures`; where it is unreachable, fail fast.
const NPM_ENV = { npm_config_fetch_retries: "0" };

interface AuditEvent {
  event: string;
  server?: string;
  status: string;
  reason?: string;
  detail?: Record<string, unknown>;
}

async function auditEvents(configFile: string): Promise<AuditEvent[]> {
  const q = await runCli(["audit", "query", "-c", configFile, "--json"]);
  assert.equal(q.code, 0, q.stderr);
  return q.stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditEvent)
    .filter((e) => e.event === "supply_chain");
}

async function readyState(gw: Gateway, server: string, state: string) {
  return waitFor(
    async () => {
      const r = await gw.readyz();
      return r.body.upstreams?.[server]?.state === state ? r : undefined;
    },
    // A bound on waiting, not a timing check: a cache launch on a busy two-core CI machine can take a while.
    { what: `/readyz to show ${server} ${state}`, timeoutMs: 60_000 },
  );
}

/** A PATH whose `npm` and `npx` only leave a mark: proof that nothing fetched at launch. */
function recordingPath(dir: string): { path: string; mark: string } {
  const bin = join(dir, "fake-bin");
  mkdirSync(bin);
  const mark = join(dir, "npm-was-run");
  for (const tool of ["npm", "npx"]) {
    writeFileSync(join(bin, tool), `#!/bin/sh\necho "$0 $*" >> ${JSON.stringify(mark)}\nexit 1\n`);
    chmodSync(join(bin, tool), 0o755);
  }
  return { path: `${bin}${delimiter}${process.env.PATH ?? ""}`, mark };
}

describe("npm package pins", { timeout: 240_000 }, () => {
  const dir = makeTempDir("warden-packages-");
  const state = join(dir, "state", "state.db");
  const cacheOf = (version: string) => join(dir, "state", "packages", `${NAME}@${version}`);
  const servers = [
    { name: "everything", package: PIN, args: ["stdio"], tools: { "*": ["demo:use"] } },
    { name: "wrong", package: WRONG, args: ["stdio"], tools: { "*": ["demo:use"] } },
  ];
  const config = { ...gatewayConfig(servers), state: { sqlite: state } };
  const configFile = writeConfig(config, dir);
  const fake = recordingPath(dir);
  let gw: Gateway | undefined;
  let c: ConnectedClient | undefined;
  let installSeconds = 0;

  after(async () => {
    await c?.close();
    await gw?.stop();
  });

  test("check accepts the pin; command and package together are refused", async () => {
    const ok = await runCli(["check", "-c", configFile]);
    assert.equal(ok.code, 0, ok.stderr);
    const both = writeConfig(
      { ...config, servers: [{ ...servers[0], command: "node" }] },
      makeTempDir("warden-packages-both-"),
    );
    const bad = await runCli(["check", "-c", both]);
    assert.equal(bad.code, 2);
    assert.match(
      bad.stderr,
      /servers\[0\]\.package: a stdio server needs exactly one of command and package/,
    );
  });

  test("before any install the gateway fetches nothing: blocked, package_not_installed", async () => {
    gw = await startGateway({ ...config }, { waitReady: false, env: { PATH: fake.path } });
    const r = await readyState(gw, "everything", "blocked");
    assert.match(
      String(r.body.upstreams?.everything?.error),
      /^package not installed: @modelcontextprotocol/,
    );
    assert.equal(existsSync(cacheOf(PIN.version)), false, "no cache entry appeared");
    assert.equal(existsSync(fake.mark), false, "npm/npx never ran");
    const events = await auditEvents(gw.configFile);
    assert.ok(events.some((e) => e.server === "everything" && e.reason === "package_not_installed"));
    await gw.stop();
    gw = undefined;
  });

  test("npm audit signatures: verified, or refused and nothing left in the cache", async () => {
    const r = await runCli(["install", "-c", configFile, "--server", "everything"], {
      env: NPM_ENV,
      timeoutMs: 180_000,
    });
    const events = await auditEvents(configFile);
    const last = events.at(-1)!;
    if (r.code === 0) {
      assert.match(r.stdout, /verified registry signature/);
      assert.equal(last.status, "ok");
    } else {
      // Where Sigstore's TUF repository (tuf-repo-cdn.sigstore.dev) cannot be reached, npm cannot
      // verify, and the install is refused rather than trusted.
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /refused \(package_signatures\)/);
      assert.equal(last.status, "blocked");
      assert.equal(last.detail?.reason, "package_signatures");
      assert.equal(existsSync(cacheOf(PIN.version)), false, "a refused install leaves no cache entry");
    }
  });

  test("a wrong integrity pin: install refused, audited, nothing cached", async () => {
    const r = await runCli(["install", "-c", configFile, "--server", "wrong", "--no-verify-signatures"], {
      env: NPM_ENV,
      timeoutMs: 180_000,
    });
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /wrong: refused \(package_integrity\)/);
    assert.equal(existsSync(cacheOf(WRONG.version)), false);
    const last = (await auditEvents(configFile)).at(-1)!;
    assert.equal(last.server, "wrong");
    assert.equal(last.status, "blocked");
    assert.equal(last.detail?.reason, "package_integrity");
    assert.equal(last.detail?.expected, WRONG.integrity);
    assert.equal(last.detail?.actual, PIN.integrity);
  });

  test("installed (scripts off), then launched from the cache: a tool call works", async () => {
    const started = Date.now();
    const r = await runCli(
      ["install", "-c", configFile, "--server", "everything", "--no-verify-signatures"],
      {
        env: NPM_ENV,
        timeoutMs: 180_000,
      },
    );
    installSeconds = (Date.now() - started) / 1000;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /warning: registry signatures and attestations were NOT verified/);
    const manifest = JSON.parse(readFileSync(join(cacheOf(PIN.version), "warden-package.json"), "utf8")) as {
      integrity: string;
      bin: string;
      signatures: string;
    };
    assert.equal(manifest.integrity, PIN.integrity);
    assert.equal(manifest.signatures, "not_verified");
    assert.ok(manifest.bin.includes(`${join("node_modules", NAME)}`), manifest.bin);
    const last = (await auditEvents(configFile)).at(-1)!;
    assert.equal(last.status, "signatures_not_verified");

    gw = await startGateway({ ...config }, { waitReady: false, env: { PATH: fake.path } });
    await readyState(gw, "everything", "ready");
    c = await connectClient(gw.mcpUrl);
    const echo = await c.client.callTool({ name: "everything__echo", arguments: { message: "pinned" } });
    assert.match(textOf(echo), /pinned/);
    assert.equal(existsSync(fake.mark), false, "the launch ran no npm");
    process.stderr.write(`# install took ${installSeconds.toFixed(1)}s\n`);
  });

  /** Restarts the gateway: its next launch of the server checks the cache entry again. */
  async function restart(): Promise<Gateway> {
    await c?.close();
    c = undefined;
    await gw?.stop();
    gw = await startGateway({ ...config }, { waitReady: false, env: { PATH: fake.path } });
    return gw;
  }

  const manifestOf = () =>
    JSON.parse(readFileSync(join(cacheOf(PIN.version), "warden-package.json"), "utf8")) as {
      bin: string;
      files: Record<string, string>;
    };

  test("a tampered bin file in the cache: blocked at the next launch", async () => {
    assert.ok(gw);
    const manifest = manifestOf();
    const original = readFileSync(manifest.bin);
    appendFileSync(manifest.bin, "\n// tampered\n");
    try {
      const r = await readyState(await restart(), "everything", "blocked");
      assert.equal(r.body.upstreams?.everything?.error, `integrity mismatch: ${manifest.bin}`);
      const events = await auditEvents(configFile);
      assert.ok(events.some((e) => e.server === "everything" && e.reason === "integrity_mismatch"));
    } finally {
      writeFileSync(manifest.bin, original);
    }
  });

  test("a changed file of a dependency: blocked; restored, the server comes back", async () => {
    const manifest = manifestOf();
    const modules = join(cacheOf(PIN.version), "node_modules");
    // A JavaScript file of a dependency, not of the package itself.
    const rel = Object.keys(manifest.files).find(
      (f) => f.endsWith(".js") && !f.startsWith(`${NAME}/`) && manifest.files[f]?.startsWith("sha256:"),
    );
    assert.ok(rel, "the install recorded the dependencies' files");
    const file = join(modules, rel);
    const original = readFileSync(file);
    appendFileSync(file, "\nglobalThis.exfiltrate = true;\n");
    try {
      const r = await readyState(await restart(), "everything", "blocked");
      assert.equal(r.body.upstreams?.everything?.error, `integrity mismatch: ${file}`);
    } finally {
      writeFileSync(file, original);
    }
    await readyState(await restart(), "everything", "ready");
  });

  test("an added file that would shadow a dependency: blocked", async () => {
    // Node resolves a package's own node_modules before the hoisted one.
    const shadow = join(cacheOf(PIN.version), "node_modules", NAME, "node_modules", "zod", "index.js");
    mkdirSync(join(shadow, ".."), { recursive: true });
    writeFileSync(shadow, "module.exports = {};\n");
    try {
      const r = await readyState(await restart(), "everything", "blocked");
      assert.equal(
        r.body.upstreams?.everything?.error,
        `integrity mismatch: ${shadow} (not in the installed package)`,
      );
    } finally {
      rmSync(join(cacheOf(PIN.version), "node_modules", NAME, "node_modules"), { recursive: true });
    }
  });
});
