import { createHash, randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { CONNECT_CLIENT_ID, connectRedirectUri } from "../admin/scope.js";
import { issuerEndpoints } from "../admin/issuer-endpoints.js";
import { tokenPrincipal, type Principal } from "../auth/principal.js";
import type { TokenVerifier } from "../auth/verifier.js";
import type { Config } from "../config/types.js";
import type { StateKey } from "../state/sealed.js";
import { authFetch } from "../upstreams/oauth-user/auth-fetch.js";
import { basicAuthorization } from "../upstreams/token-endpoint.js";

/** A signed-in browser stays signed in to the connect pages this long. */
const SESSION_MS = 30 * 60_000;
/** A sign-in must come back within this. */
const SIGN_IN_MS = 10 * 60_000;

interface SessionData {
  readonly sub: string;
  readonly client?: string;
  readonly exp: number;
}

interface PendingSignIn {
  readonly state: string;
  readonly verifier: string;
  readonly back: string;
  readonly exp: number;
}

/**
 * Who is at the browser on the connect pages: signed in at the gateway's own issuer (embedded, or
 * the external IdP) with the code flow and PKCE, as the built-in connect client (or
 * `auth.issuer.connect_client`). The access token that comes back is checked exactly as an MCP
 * call's is (signature, issuer, audience of the aggregate route) and then dropped: the subject it
 * names is the same one the user's agent calls with. The browser keeps only a sealed cookie.
 */
export class ConnectSignIn {
  private readonly secure: boolean;
  private readonly cookie: string;
  private readonly pendingCookie: string;

  constructor(
    private readonly config: Config,
    private readonly base: string,
    private readonly verifier: TokenVerifier,
    private readonly key: StateKey,
  ) {
    this.secure = base.startsWith("https:");
    this.cookie = this.secure ? "__Host-warden-connect" : "warden-connect";
    this.pendingCookie = this.secure ? "__Host-warden-connect-signin" : "warden-connect-signin";
  }

  /** Whether sign-in can work at all here (an external issuer needs `connect_client`). */
  get available(): boolean {
    return this.client() !== undefined;
  }

  /** The browser's signed-in user, or undefined. */
  user(req: IncomingMessage): Principal | undefined {
    const raw = cookies(req).get(this.cookie);
    if (!raw) return undefined;
    try {
      const s = JSON.parse(this.key.open(raw, "connect-session")) as SessionData;
      if (typeof s.sub !== "string" || !(s.exp > Date.now())) return undefined;
      return tokenPrincipal({ subject: s.sub, clientId: s.client, scopes: [], method: "bearer" });
    } catch {
      return undefined;
    }
  }

  /** A value only this browser's session can show: the forms' CSRF token. */
  csrf(req: IncomingMessage): string {
    const raw = cookies(req).get(this.cookie) ?? "";
    return this.key.digest(`connect-csrf:${createHash("sha256").update(raw).digest("base64url")}`);
  }

  /** Sends the browser to sign in, then back to `back` (a path of the connect pages). */
  async redirect(res: ServerResponse, back: string): Promise<void> {
    const client = this.client();
    const endpoints = await this.endpoints();
    if (!client || !endpoints) throw new Error("sign-in is not available");
    const state = randomBytes(24).toString("base64url");
    const verifier = randomBytes(32).toString("base64url");
    const challenge = createHash("sha256").update(verifier).digest("base64url");
    const url = new URL(endpoints.authorization);
    url.searchParams.set("response_type", "code");
    url.searchParams.set("client_id", client.clientId);
    url.searchParams.set("redirect_uri", connectRedirectUri(this.base));
    url.searchParams.set("state", state);
    url.searchParams.set("code_challenge", challenge);
    url.searchParams.set("code_challenge_method", "S256");
    url.searchParams.set("resource", `${this.base}/mcp`);
    // Who, not what: no MCP scope is asked for (the token is dropped once it has named the user).
    url.searchParams.set("scope", "openid");
    const pending: PendingSignIn = { state, verifier, back, exp: Date.now() + SIGN_IN_MS };
    res.setHeader(
      "set-cookie",
      this.setCookie(
        this.pendingCookie,
        this.key.seal(JSON.stringify(pending), "connect-signin"),
        SIGN_IN_MS,
      ),
    );
    res.writeHead(302, { location: url.href, "cache-control": "no-store" });
    res.end();
  }

  /**
   * `/connect/signed-in`: the code exchanged (PKCE), the token verified, the session cookie set.
   * Returns where to go next, or throws with what to tell the user.
   */
  async finish(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<string> {
    const raw = cookies(req).get(this.pendingCookie);
    let pending: PendingSignIn | undefined;
    try {
      pending = raw ? (JSON.parse(this.key.open(raw, "connect-signin")) as PendingSignIn) : undefined;
    } catch {
      pending = undefined;
    }
    if (!pending || !(pending.exp > Date.now()))
      throw new SignInFailed("This sign-in expired or was started elsewhere: try again.");
    if (query.get("state") !== pending.state)
      throw new SignInFailed("This sign-in answer does not belong to this browser.");
    const code = query.get("code");
    if (!code) throw new SignInFailed("The sign-in was not completed.");
    const client = this.client();
    const endpoints = await this.endpoints();
    if (!client || !endpoints) throw new SignInFailed("Sign-in is not available.");
    const body = new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: connectRedirectUri(this.base),
      code_verifier: pending.verifier,
      client_id: client.clientId,
      resource: `${this.base}/mcp`,
    });
    const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" };
    if (client.clientSecret !== undefined)
      headers.authorization = basicAuthorization(client.clientId, client.clientSecret);
    const answer = await authFetch(endpoints.token, { method: "POST", headers, body: body.toString() });
    const json = (await answer.json().catch(() => ({}))) as { access_token?: unknown };
    if (!answer.ok || typeof json.access_token !== "string")
      throw new SignInFailed("The issuer did not complete the sign-in.");
    let principal: Principal;
    try {
      principal = await this.verifier.authenticate(`Bearer ${json.access_token}`, `${this.base}/mcp`);
    } catch {
      throw new SignInFailed("The sign-in token was not accepted.");
    }
    if (principal.method === "anonymous") throw new SignInFailed("The sign-in named no user.");
    const session: SessionData = {
      sub: principal.subject,
      ...(principal.clientId ? { client: principal.clientId } : {}),
      exp: Date.now() + SESSION_MS,
    };
    res.setHeader("set-cookie", [
      this.setCookie(this.cookie, this.key.seal(JSON.stringify(session), "connect-session"), SESSION_MS),
      this.setCookie(this.pendingCookie, "", 0),
    ]);
    return pending.back;
  }

  private client(): { clientId: string; clientSecret: string | undefined } | undefined {
    const issuer = this.config.auth.issuer;
    if (issuer === "embedded") return { clientId: CONNECT_CLIENT_ID, clientSecret: undefined };
    return issuer.connectClient;
  }

  private async endpoints(): Promise<{ authorization: string; token: string } | undefined> {
    const issuer = this.config.auth.issuer;
    if (issuer === "embedded")
      return { authorization: `${this.base}/oauth/authorize`, token: `${this.base}/oauth/token` };
    const found = await issuerEndpoints(issuer.url);
    return found?.authorization && found.token
      ? { authorization: found.authorization, token: found.token }
      : undefined;
  }

  private setCookie(name: string, value: string, maxAgeMs: number): string {
    const flags = `Path=/; HttpOnly; SameSite=Lax; Max-Age=${Math.floor(maxAgeMs / 1000)}`;
    return `${name}=${value}; ${flags}${this.secure ? "; Secure" : ""}`;
  }
}

export class SignInFailed extends Error {}

/** The request's cookies (the first of each name); values are opaque, never decoded. */
function cookies(req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  const header = req.headers.cookie;
  if (!header || header.length > 16_384) return out;
  for (const part of header.split(";")) {
    const at = part.indexOf("=");
    if (at < 1) continue;
    const name = part.slice(0, at).trim();
    if (!out.has(name)) out.set(name, part.slice(at + 1).trim());
  }
  return out;
}
