import assert from "node:assert/strict";
import { join } from "node:path";
import { makeTempDir, runCli, startGateway, writeConfig } from "./gateway.js";
import { freePort } from "./upstreams.js";

/** One audit event as `audit query --json` prints it (the fields tests read). */
export interface AuditLine {
  event?: string;
  reason?: string;
  status?: string;
  server?: string;
  method?: string;
  principal?: { sub?: string };
  detail?: Record<string, unknown>;
}

/**
 * A gateway on a fixed free port (a token's audience names it) whose users get tokens from its own
 * CLI (`token --sub U --scope demo:use`), with its audit log at hand. `parts` gives the config's
 * servers and anything else; its `gateway` block is merged into the listener's.
 */
export async function gatewayWithUsers(prefix: string, parts: (dir: string) => Record<string, unknown>) {
  const dir = makeTempDir(prefix);
  const port = await freePort();
  const { gateway, auth, ...rest } = parts(dir);
  const config = {
    gateway: { listen: `127.0.0.1:${port}`, ...(gateway as object) },
    state: { sqlite: join(dir, "state.db") },
    auth: { signing_key_file: join(dir, "signing.jwk"), ...(auth as object) },
    ...rest,
  };
  const configFile = writeConfig(config, dir);
  const gw = await startGateway(config);
  const cli = (...args: string[]) => runCli([...args, "-c", configFile], { cwd: dir });
  const token = async (sub: string): Promise<string> => {
    const r = await cli("token", "--sub", sub, "--scope", "demo:use");
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  };
  const audit = async (): Promise<AuditLine[]> => {
    const q = await cli("audit", "query", "--json", "--limit", "10000");
    assert.equal(q.code, 0, q.stderr);
    return q.stdout
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as AuditLine);
  };
  return { gw, dir, cli, token, audit };
}
