import {
  ADMIN_SCOPE,
  CONNECT_CLIENT_ID,
  CONSOLE_CLIENT_ID,
  connectRedirectUri,
  consoleRedirectUri,
} from "../admin/scope.js";
import type { AuthClient } from "../config/types.js";

// Rules on configured clients that `mcp-warden check` applies too: kept free of oidc-provider so that
// loading a config does not load the authorization server.

const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(["127.0.0.1", "[::1]", "localhost"]);

/** A redirect URI the server will deliver codes to: https, or http on a loopback address. */
export function redirectUriProblem(uri: unknown): string | undefined {
  if (typeof uri !== "string") return "redirect_uris must be strings";
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return `redirect URI ${uri} is not a URL`;
  }
  if (url.username || url.password) return "redirect URIs must not carry credentials";
  if (url.hash || uri.includes("#")) return "redirect URIs must not have a fragment";
  if (url.protocol === "https:") return undefined;
  if (url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname)) return undefined;
  return "redirect URIs must use https, or http on a loopback address (127.0.0.1, [::1], localhost)";
}

/** Problems with `auth.clients` that make the server refuse to start. */
export function configuredClientProblems(clients: readonly AuthClient[]): string[] {
  const problems: string[] = [];
  for (const [i, c] of clients.entries()) {
    const at = `auth.clients[${i}]`;
    if (/^https?:\/\//i.test(c.clientId)) problems.push(`${at}: client_id must not be a URL`);
    if (c.clientId === CONSOLE_CLIENT_ID)
      problems.push(`${at}: client_id ${CONSOLE_CLIENT_ID} is the built-in admin console's`);
    if (c.clientId === CONNECT_CLIENT_ID)
      problems.push(`${at}: client_id ${CONNECT_CLIENT_ID} is the built-in connect pages'`);
    if (c.grantTypes.includes("client_credentials") && c.clientSecret === undefined)
      problems.push(`${at}: client_credentials needs a client_secret`);
    if (c.grantTypes.includes("refresh_token") && !c.grantTypes.includes("authorization_code"))
      problems.push(`${at}: refresh_token needs authorization_code`);
    if (c.grantTypes.includes("authorization_code")) {
      if (c.redirectUris.length === 0) problems.push(`${at}: authorization_code needs redirect_uris`);
      for (const uri of c.redirectUris) {
        const problem = redirectUriProblem(uri);
        if (problem) problems.push(`${at}: ${problem}`);
      }
    }
  }
  return problems;
}

/**
 * The admin console as a client of the embedded issuer: public (PKCE, no secret), the code flow
 * only (no refresh token), codes delivered to `<base>/admin/` alone, and nothing but
 * `warden:admin`, which a user gets only when `auth.users[].scopes` grants it.
 */
export function consoleClient(base: string): AuthClient {
  return Object.freeze({
    clientId: CONSOLE_CLIENT_ID,
    clientSecret: undefined,
    scopes: Object.freeze([ADMIN_SCOPE]),
    grantTypes: Object.freeze(["authorization_code" as const]),
    redirectUris: Object.freeze([consoleRedirectUri(base)]),
  });
}

/**
 * The connect pages (per-user upstream OAuth) as a client of the embedded issuer: public (PKCE),
 * the code flow only, codes delivered to `<base>/connect/signed-in` alone. The gateway uses the
 * token it gets only to learn who signed in, then drops it; it never carries warden:admin.
 */
export function connectClient(base: string): AuthClient {
  return Object.freeze({
    clientId: CONNECT_CLIENT_ID,
    clientSecret: undefined,
    scopes: Object.freeze([]),
    grantTypes: Object.freeze(["authorization_code" as const]),
    redirectUris: Object.freeze([connectRedirectUri(base)]),
  });
}
