// One mcp-warden process from a config object, for the benches that need callers with distinct
// tokens: the embedded issuer's signing key is a file the bench reads to mint tokens itself
// (a hundred `mcp-warden token` runs would take longer than the run they prepare).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { stringify } from "yaml";
import { KeyStore } from "../../src/auth/keys.js";
import { freePort, ROOT } from "./targets.js";

export interface Warden {
  /** http://127.0.0.1:<port>: also the issuer and audience of the tokens. */
  readonly base: string;
  readonly pid: number;
  readonly dir: string;
  /** The last lines the gateway wrote to stderr. */
  readonly tail: string[];
  /** Bearer tokens from the embedded issuer, one per subject, with `scope`. */
  tokens(subjects: readonly string[], scope: string): Promise<string[]>;
  readyz(): Promise<{ status: number; body: unknown }>;
  stop(): Promise<void>;
}

export interface WardenOptions {
  /** A checkout holding bin/mcp-warden.js and its built dist/ (default: this one). */
  buildDir?: string;
  /** Everything but gateway.listen, state and auth.signing_key_file, which are filled in. */
  config: { gateway?: Record<string, unknown>; auth?: Record<string, unknown>; [k: string]: unknown };
}

export async function startWarden(opts: WardenOptions): Promise<Warden> {
  const dir = mkdtempSync(join(tmpdir(), "warden-bench-"));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const signingKeyFile = join(dir, "signing.jwk");
  const config = {
    ...opts.config,
    gateway: { ...opts.config.gateway, listen: `127.0.0.1:${port}` },
    state: { sqlite: join(dir, "state.db") },
    auth: { anonymous: [], ...opts.config.auth, signing_key_file: signingKeyFile },
  };
  const configFile = join(dir, "warden.yaml");
  writeFileSync(configFile, stringify(config));
  // The key exists before the gateway starts, so both read the same one.
  const keys = await KeyStore.load({ file: signingKeyFile, state: undefined });

  const cli = join(opts.buildDir ?? ROOT, "bin", "mcp-warden.js");
  const child = spawn(process.execPath, [cli, "start", "-c", configFile], {
    cwd: dir,
    detached: true,
    stdio: ["ignore", "ignore", "pipe"],
  });
  const tail: string[] = [];
  let exited: string | undefined;
  child.once("exit", (code, signal) => (exited = `exit code ${code}, signal ${signal}`));
  createInterface({ input: child.stderr! }).on("line", (line) => {
    tail.push(line);
    if (tail.length > 60) tail.shift();
  });

  const readyz = async () => {
    const res = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body };
  };
  const stop = () => stopGroup(child, () => rmSync(dir, { recursive: true, force: true }));

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`gateway ${exited} before ready\n${tail.join("\n")}`);
    }
    const ready = await readyz().then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`gateway not ready within 60 s\n${tail.join("\n")}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    base,
    pid: child.pid as number,
    dir,
    tail,
    tokens: (subjects, scope) =>
      Promise.all(
        subjects.map((subject) =>
          keys.sign(
            { scope, client_id: "mcp-warden-bench" },
            { issuer: base, audience: base, subject, ttlS: 3600 },
          ),
        ),
      ),
    readyz,
    stop,
  };
}

/** SIGTERM, up to 20 s for a graceful exit, then SIGKILL to the group (its upstreams with it). */
async function stopGroup(child: ChildProcess, cleanup: () => void): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const gone = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const timer = setTimeout(() => killGroup(child), 20_000);
    await gone;
    clearTimeout(timer);
  }
  killGroup(child);
  cleanup();
}

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-(child.pid as number), "SIGKILL");
  } catch {
    // the group is gone
  }
}
