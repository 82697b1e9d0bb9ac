import { KeyStore } from "../auth/keys.js";
import { durationMs } from "../config/duration.js";
import { StateStore } from "../state/store.js";
import { configOrExit } from "./run.js";

export interface TokenOptions {
  config?: string;
  sub: string;
  scope?: string;
  ttl: string;
  resource?: string;
  clientId: string;
}

/**
 * Mints an access token from the embedded issuer's key, for automation and tests. Its issuer is
 * `gateway.public_url`, else `http://<gateway.listen>`: what a gateway on this config uses.
 */
export async function tokenCommand(opts: TokenOptions): Promise<void> {
  const config = await configOrExit(opts.config);
  if (config.auth.issuer !== "embedded") {
    process.stderr.write(
      "mcp-warden: token needs auth.issuer: embedded (an external IdP mints its own tokens)\n",
    );
    process.exitCode = 2;
    return;
  }
  if (!/^\d+(ms|s|m|h|d)$/.test(opts.ttl)) throw new Error(`--ttl: not a duration: ${opts.ttl}`);
  const host = config.gateway.host.includes(":") ? `[${config.gateway.host}]` : config.gateway.host;
  const issuer = config.gateway.publicUrl ?? `http://${host}:${config.gateway.port}`;
  const state = config.auth.signingKeyFile ? undefined : StateStore.openWithKey(config.state);
  try {
    const keys = await KeyStore.load({ file: config.auth.signingKeyFile, state });
    const scope = (opts.scope ?? "").split(/\s+/).filter(Boolean).join(" ");
    const token = await keys.sign(
      { scope, client_id: opts.clientId },
      { issuer, audience: opts.resource ?? issuer, subject: opts.sub, ttlS: durationMs(opts.ttl) / 1000 },
    );
    process.stdout.write(`${token}\n`);
  } finally {
    state?.close();
  }
}
