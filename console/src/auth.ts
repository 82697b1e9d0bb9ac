// Signing in: OAuth 2.1 authorization code with PKCE S256 (Web Crypto) as a public client, the
// access token kept in sessionStorage (gone with the tab; never a cookie). Or a pasted token.
import type { AdminConfig } from "./api";

const TOKEN = "warden.admin.token";
const PENDING = "warden.admin.pending";

interface Pending {
  state: string;
  verifier: string;
  tokenEndpoint: string;
  clientId: string;
  redirectUri: string;
  resource: string;
  issuer: string | null;
}

export function readToken(): string | null {
  return sessionStorage.getItem(TOKEN);
}

export function saveToken(token: string): void {
  sessionStorage.setItem(TOKEN, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(TOKEN);
}

function base64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(bytes: number): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

async function challengeOf(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/**
 * Sends the browser to the authorization endpoint; the verifier and state wait in the session.
 * The code comes back to the redirect URI the gateway registered (its public URL's `/admin/`):
 * opened on another origin (the listening address), the console first moves to that one, whose
 * session storage will hold the verifier when the code arrives.
 */
export async function startSignIn(config: AdminConfig): Promise<void> {
  if (!config.authorization_endpoint || !config.token_endpoint || !config.client_id) {
    throw new Error("this gateway offers no sign-in for the console; use a token");
  }
  const redirect = new URL(config.redirect_uri);
  if (redirect.origin !== location.origin) {
    location.assign(redirect.href);
    return;
  }
  const pending: Pending = {
    state: randomString(24),
    verifier: randomString(48),
    tokenEndpoint: config.token_endpoint,
    clientId: config.client_id,
    redirectUri: redirect.href,
    resource: config.resource,
    issuer: config.issuer,
  };
  sessionStorage.setItem(PENDING, JSON.stringify(pending));
  const url = new URL(config.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: pending.clientId,
    redirect_uri: pending.redirectUri,
    scope: config.scope,
    resource: pending.resource,
    state: pending.state,
    code_challenge: await challengeOf(pending.verifier),
    code_challenge_method: "S256",
  }).toString();
  location.assign(url.href);
}

/**
 * On return from the authorization server (`?code=…&state=…` or `?error=…`): checks the state
 * (and the issuer, RFC 9207, when given), exchanges the code, keeps the token. Returns false when
 * this page load is not a callback; throws when it is one that failed.
 */
export async function finishSignIn(): Promise<boolean> {
  const params = new URLSearchParams(location.search);
  if (!params.has("code") && !params.has("error")) return false;
  // The code is single-use: off the address bar and history whatever happens next.
  history.replaceState(null, "", `${location.pathname}${location.hash}`);
  const raw = sessionStorage.getItem(PENDING);
  sessionStorage.removeItem(PENDING);
  const pending = raw === null ? undefined : (JSON.parse(raw) as Pending);
  if (!pending || params.get("state") !== pending.state) {
    throw new Error("the sign-in answer does not match a sign-in started here; try again");
  }
  const error = params.get("error");
  if (error) throw new Error(`sign-in refused: ${params.get("error_description") ?? error}`);
  const iss = params.get("iss");
  if (iss !== null && pending.issuer !== null && iss !== pending.issuer) {
    throw new Error("the sign-in answer came from another issuer");
  }
  const res = await fetch(pending.tokenEndpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: params.get("code") ?? "",
      redirect_uri: pending.redirectUri,
      client_id: pending.clientId,
      code_verifier: pending.verifier,
      resource: pending.resource,
    }).toString(),
    credentials: "omit",
    cache: "no-store",
  });
  const body = (await res.json().catch(() => ({}))) as {
    access_token?: unknown;
    error?: unknown;
    error_description?: unknown;
  };
  if (!res.ok || typeof body.access_token !== "string") {
    const why = typeof body.error_description === "string" ? body.error_description : body.error;
    throw new Error(`the token exchange failed: ${typeof why === "string" ? why : res.status}`);
  }
  saveToken(body.access_token);
  return true;
}
