import type { OAuthTokens } from "@modelcontextprotocol/client";
import type { StateKey } from "../../state/sealed.js";
import type { ConnectionRow } from "./store.js";

/** What a connection's `tokens` column holds once opened. Never logged, audited or shown. */
export interface VaultTokens {
  readonly access_token: string;
  readonly token_type: string;
  readonly refresh_token?: string;
  /** Epoch ms; absent when the authorization server did not say. */
  readonly expires_at?: number;
}

/** Expiry claimed by a token response is believed only up to this (a year). */
const MAX_LIFETIME_S = 365 * 24 * 3600;

/**
 * AES-256-GCM under the state key (which is never in the store), with the server and the user as
 * associated data: a row copied to another user or server does not open.
 */
export function tokenContext(server: string, subject: string): string {
  return `upstream_connection:${JSON.stringify([server, subject])}`;
}

export function sealTokens(key: StateKey, server: string, subject: string, tokens: VaultTokens): string {
  return key.seal(JSON.stringify(tokens), tokenContext(server, subject));
}

/** The row's tokens; throws StateKeyError when they do not open for this user and server. */
export function openTokens(key: StateKey, row: ConnectionRow): VaultTokens {
  const parsed = JSON.parse(key.open(row.tokens, tokenContext(row.server, row.subject))) as VaultTokens;
  if (typeof parsed.access_token !== "string") throw new Error("stored tokens are malformed");
  return parsed;
}

/**
 * A token response as stored. A response without a refresh token keeps the one it replaces (RFC
 * 6749 §6); `expires_in` outside (0, a year] is treated as absent, then as short-lived by the broker.
 */
export function fromResponse(tokens: OAuthTokens, previous?: VaultTokens): VaultTokens {
  const expiresIn = typeof tokens.expires_in === "number" ? tokens.expires_in : undefined;
  const refresh = tokens.refresh_token ?? previous?.refresh_token;
  return {
    access_token: tokens.access_token,
    token_type: tokens.token_type || "Bearer",
    ...(refresh === undefined ? {} : { refresh_token: refresh }),
    ...(expiresIn !== undefined && expiresIn > 0 && expiresIn <= MAX_LIFETIME_S
      ? { expires_at: Date.now() + expiresIn * 1000 }
      : {}),
  };
}
