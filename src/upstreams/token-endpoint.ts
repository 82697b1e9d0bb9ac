import { safeForCredentials } from "./origin.js";
import { BodyTooLarge, readBounded } from "./read-bounded.js";

/** An OAuth 2.0 token endpoint the gateway authenticates to as a confidential client. */
export interface TokenEndpoint {
  readonly url: string;
  readonly clientId: string;
  readonly clientSecret: string;
}

export interface IssuedToken {
  readonly accessToken: string;
  /** Epoch ms after which a new token is fetched before use. */
  readonly refreshAt: number;
  /** Epoch ms when the token stops being usable at all. */
  readonly expiresAt: number;
}

/** A token request failed; `detail` is safe to log and show (status and OAuth error code only). */
export class TokenRequestError extends Error {
  constructor(readonly detail: string) {
    super(detail);
    this.name = "TokenRequestError";
  }
}

const REQUEST_TIMEOUT_MS = 10_000;
const MAX_RESPONSE_BYTES = 64 * 1024;
const MAX_TOKEN_CHARS = 16 * 1024;
/** Used when a token response omits `expires_in` (RFC 6749 only recommends it). */
const DEFAULT_LIFETIME_S = 300;
const MAX_LIFETIME_S = 24 * 3600;
/** Refresh at 80% of the lifetime, but at least this long before expiry (clock skew, latency). */
const REFRESH_FRACTION = 0.8;
const MIN_REFRESH_MARGIN_MS = 2_000;
// An access token goes into an HTTP header: visible ASCII only, so it cannot inject a header.
const TOKEN_CHARS = /^[\x21-\x7e]+$/;
const OAUTH_ERROR_CODE = /^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}$/;

/**
 * POSTs one grant to the token endpoint and validates the answer. The client authenticates with
 * HTTP Basic (`client_secret_basic`, the method RFC 6749 §2.3.1 requires every server to support),
 * id and secret form-encoded first as that section says. Redirects are refused: a redirect would
 * carry the secret to wherever it points.
 */
export async function requestToken(
  endpoint: TokenEndpoint,
  grant: Readonly<Record<string, string | undefined>>,
): Promise<IssuedToken> {
  if (!safeForCredentials(endpoint.url))
    throw new TokenRequestError("token_url must use https (plain http only to a loopback address)");
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(grant)) if (v !== undefined && v !== "") body.set(k, v);
  const started = Date.now();
  let res: Response;
  try {
    res = await fetch(endpoint.url, {
      method: "POST",
      headers: {
        authorization: basicAuthorization(endpoint.clientId, endpoint.clientSecret),
        "content-type": "application/x-www-form-urlencoded",
        accept: "application/json",
      },
      body: body.toString(),
      redirect: "manual",
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    throw new TokenRequestError(
      `token endpoint unreachable (${err instanceof Error && err.name === "TimeoutError" ? "timeout" : "network error"})`,
    );
  }
  const text = await readBounded(res, MAX_RESPONSE_BYTES).then(
    (body) => body.toString("utf8"),
    (err: unknown) => {
      throw new TokenRequestError(
        err instanceof BodyTooLarge
          ? "token endpoint answered too large a body"
          : "token endpoint response unreadable",
      );
    },
  );
  const json = parseObject(text);
  if (!res.ok) {
    const code = typeof json?.error === "string" && OAUTH_ERROR_CODE.test(json.error) ? ` ${json.error}` : "";
    throw new TokenRequestError(`token endpoint answered ${res.status}${code}`);
  }
  if (!json) throw new TokenRequestError("token endpoint answered something other than a JSON object");
  const token = json.access_token;
  if (typeof token !== "string" || token.length > MAX_TOKEN_CHARS || !TOKEN_CHARS.test(token))
    throw new TokenRequestError("token endpoint answered no usable access_token");
  // Only bearer tokens can be presented as `Authorization: Bearer`; a DPoP or N_A token cannot.
  if (typeof json.token_type !== "string" || json.token_type.toLowerCase() !== "bearer")
    throw new TokenRequestError("token endpoint answered a token_type other than Bearer");
  return lifetime(token, json.expires_in, started);
}

/** A token whose lifetime is `expires_in` seconds from when it was requested (the safe side). */
function lifetime(accessToken: string, expiresIn: unknown, requestedAt: number): IssuedToken {
  const given =
    typeof expiresIn === "number"
      ? expiresIn
      : typeof expiresIn === "string" && /^\d{1,9}$/.test(expiresIn)
        ? Number(expiresIn)
        : DEFAULT_LIFETIME_S;
  const ms = Math.max(0, Math.min(Number.isFinite(given) ? given : 0, MAX_LIFETIME_S)) * 1000;
  const refreshIn = Math.max(0, Math.min(ms * REFRESH_FRACTION, ms - MIN_REFRESH_MARGIN_MS));
  return { accessToken, refreshAt: requestedAt + refreshIn, expiresAt: requestedAt + ms };
}

/**
 * One cached token: reused until its refresh time, then fetched again with one request in flight
 * however many callers wait. If a refresh fails, the old token serves until it actually expires.
 */
export class CachedToken {
  private token: IssuedToken | undefined;
  private inflight: Promise<IssuedToken> | undefined;

  constructor(private readonly fetchToken: () => Promise<IssuedToken>) {}

  /** Usable at all (for eviction): fresh, or stale but not yet expired. */
  get alive(): boolean {
    return this.inflight !== undefined || (this.token !== undefined && Date.now() < this.token.expiresAt);
  }

  async get(): Promise<string> {
    const held = this.token;
    if (held && Date.now() < held.refreshAt) return held.accessToken;
    try {
      return (await this.refresh()).accessToken;
    } catch (err) {
      if (held && this.token === held && Date.now() < held.expiresAt - 1_000) return held.accessToken;
      throw err;
    }
  }

  /** The upstream refused `accessToken`: forget it so the next `get` fetches a new one. */
  invalidate(accessToken: string): void {
    if (this.token?.accessToken === accessToken) this.token = undefined;
  }

  private refresh(): Promise<IssuedToken> {
    this.inflight ??= this.fetchToken()
      .then((t) => {
        this.token = t;
        return t;
      })
      .finally(() => {
        this.inflight = undefined;
      });
    return this.inflight;
  }
}

/** HTTP Basic client authentication: id and secret each form-encoded first (RFC 6749 §2.3.1). */
export function basicAuthorization(clientId: string, clientSecret: string): string {
  return `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`).toString("base64")}`;
}

/** application/x-www-form-urlencoded encoding of one value (RFC 6749 Appendix B). */
function formEncode(value: string): string {
  return new URLSearchParams([["", value]]).toString().slice(1);
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === "object" && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
