import { ADMIN_SCOPE } from "../admin/scope.js";
import { KeyStore } from "../auth/keys.js";
import type { Config } from "../config/types.js";
import type { Kill } from "../ops/kill-store.js";
import { StateStore } from "../state/store.js";

/**
 * How long `kill` waits for the gateway to apply a kill. Gateways on SQLite see a change within a
 * 250 ms poll, on Redis at once (pub/sub) or at the 5 s reload when a message was missed.
 */
export const WAIT_MS = 6_000;
const POLL_MS = 50;

/** What the gateway at the config's address said about the kills it enforces. */
export type Seen =
  | { readonly kind: "seen"; readonly url: string; readonly ms: number }
  | { readonly kind: "no_gateway"; readonly url: string }
  | { readonly kind: "unconfirmed"; readonly url: string; readonly why: string }
  | { readonly kind: "timeout"; readonly url: string; readonly ms: number };

/**
 * Asks the running gateway (`GET /admin/api/kills`: the kills it enforces, in its memory) until
 * `done` holds for them. The question needs `warden:admin`: with the embedded issuer the CLI
 * signs a one-minute token for itself, as `token` would; with an external issuer it cannot ask.
 */
export async function waitForGateway(
  config: Config,
  subject: string,
  done: (kills: readonly Kill[]) => boolean,
  timeoutMs = WAIT_MS,
): Promise<Seen> {
  const url = baseUrl(config);
  if (config.auth.issuer !== "embedded")
    return { kind: "unconfirmed", url, why: "with an external auth.issuer the CLI holds no admin token" };
  let token: string;
  const state = config.auth.signingKeyFile ? undefined : StateStore.openWithKey(config.state);
  try {
    const keys = await KeyStore.load({ file: config.auth.signingKeyFile, state });
    token = await keys.sign(
      { scope: ADMIN_SCOPE, client_id: "mcp-warden-cli" },
      { issuer: url, audience: url, subject, ttlS: 60 },
    );
  } catch (err) {
    return { kind: "unconfirmed", url, why: `no signing key: ${(err as Error).message}` };
  } finally {
    state?.close();
  }
  const started = Date.now();
  for (;;) {
    let kills: Kill[];
    try {
      const res = await fetch(`${url}/admin/api/kills`, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(2_000),
      });
      if (res.status !== 200)
        return { kind: "unconfirmed", url, why: `the admin API answered ${res.status}` };
      kills = ((await res.json()) as { kills: Kill[] }).kills;
    } catch (err) {
      const code = (err as { cause?: { code?: string } }).cause?.code;
      if (code === "ECONNREFUSED") return { kind: "no_gateway", url };
      return { kind: "unconfirmed", url, why: code ?? (err as Error).message };
    }
    const ms = Date.now() - started;
    if (done(kills)) return { kind: "seen", url, ms };
    if (ms >= timeoutMs) return { kind: "timeout", url, ms };
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** The gateway's base URL as a gateway on this config computes it (its token issuer and audience). */
function baseUrl(config: Config): string {
  if (config.gateway.publicUrl) return config.gateway.publicUrl;
  const host = config.gateway.host.includes(":") ? `[${config.gateway.host}]` : config.gateway.host;
  return `http://${host}:${config.gateway.port}`;
}
