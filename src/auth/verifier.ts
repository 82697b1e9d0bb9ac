import {
  createRemoteJWKSet,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from "jose";
import type { AuthConfig, ExternalIssuer } from "../config/types.js";
import { ApiKeys, type ApiKeyStore } from "./api-keys.js";
import { discoverJwksUri } from "./discovery.js";
import { AuthError, AuthUnavailable, invalidToken } from "./errors.js";
import { Introspector, type IntrospectedToken } from "./introspection.js";
import { SIGNING_ALG, type KeyStore } from "./keys.js";
import { anonymousPrincipal, sourceOf, tokenPrincipal, type Principal } from "./principal.js";

// Asymmetric algorithms only: no `none`, and no HMAC, so a public key can never be used as a secret.
const EXTERNAL_ALGS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
];
const CLOCK_TOLERANCE_S = 30;
const MAX_TOKEN_LENGTH = 16 * 1024;
/** Anonymous principals kept for reuse, the oldest dropped first (a dropped one is made again). */
const MAX_ANONYMOUS_SOURCES = 4096;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export interface VerifierParts {
  readonly auth: AuthConfig;
  /**
   * Whether an embedded-issuer token (by `jti`) was revoked; absent for an external issuer. A
   * throw or rejection refuses the token (AuthUnavailable).
   */
  readonly isRevoked?: (jti: string) => boolean | Promise<boolean>;
  /** The public base URL: a token whose audience is this is accepted on every route. */
  readonly base: string;
  readonly issuer: string;
  readonly keys: KeyStore | undefined;
  readonly apiKeys: ApiKeyStore | undefined;
}

/**
 * The resource server's check of `Authorization` on MCP routes: JWTs (embedded or external
 * issuer), opaque tokens by introspection, and API keys. A token is accepted on a route only when
 * its audience is that route's URL or the public base URL (RFC 8707).
 */
export class TokenVerifier {
  private readonly key: JWTVerifyGetKey | undefined;
  private readonly algorithms: string[];
  private readonly introspector: Introspector | undefined;
  private readonly extraAudiences: readonly string[];
  /** `auth.anonymous`, one set shared by every anonymous principal; undefined: a token is required. */
  private readonly anonymousScopes: ReadonlySet<string> | undefined;
  /** Anonymous principals by source: one object per source, so per-principal caches keep working. */
  private readonly anonymous = new Map<string, Principal>();

  constructor(private readonly parts: VerifierParts) {
    const external: ExternalIssuer | undefined =
      parts.auth.issuer === "embedded" ? undefined : parts.auth.issuer;
    this.key = external ? remoteKeys(external) : parts.keys?.verifyKey;
    this.algorithms = external ? EXTERNAL_ALGS : [SIGNING_ALG];
    this.introspector = external?.introspection ? new Introspector(external.introspection) : undefined;
    this.extraAudiences = external?.audience ?? [];
    this.anonymousScopes = parts.auth.anonymous.length > 0 ? new Set(parts.auth.anonymous) : undefined;
  }

  /**
   * The caller of a request to `routeUrl`, or an AuthError (answered 401 with a challenge), or
   * AuthUnavailable when the token cannot be checked now (answered 503). With `exactAudience` a
   * JWT or introspected token must name `routeUrl` itself: not the base URL, not
   * `auth.issuer.audience` (the admin API, whose tokens are never an MCP route's). `source` (the
   * request's, transports/source.ts) tells anonymous callers apart.
   */
  async authenticate(
    authorization: string | undefined,
    routeUrl: string,
    opts: { readonly exactAudience?: boolean; readonly source?: string } = {},
  ): Promise<Principal> {
    if (authorization === undefined) {
      if (this.anonymousScopes) return this.anonymousFrom(opts.source ?? sourceOf(undefined));
      throw new AuthError(undefined, "authentication required");
    }
    const match = /^Bearer +([^\s]+) *$/i.exec(authorization);
    if (!match) throw new AuthError("invalid_request", "expected a Bearer token");
    const token = match[1] as string;
    if (token.length > MAX_TOKEN_LENGTH) throw invalidToken("token too long");
    if (ApiKeys.looksLike(token)) {
      if (!this.parts.apiKeys) throw invalidToken("API keys are not enabled");
      try {
        return await this.parts.apiKeys.verify(token);
      } catch (err) {
        if (err instanceof AuthError) throw err;
        throw new AuthUnavailable("API keys cannot be checked", { cause: err });
      }
    }
    const exact = opts.exactAudience === true;
    if (JWT_SHAPE.test(token) && this.key) return this.verifyJwt(token, routeUrl, exact);
    if (this.introspector)
      return this.fromIntrospection(await this.introspector.introspect(token), token, routeUrl, exact);
    throw invalidToken("token not recognised");
  }

  private anonymousFrom(source: string): Principal {
    let principal = this.anonymous.get(source);
    if (principal === undefined) {
      if (this.anonymous.size >= MAX_ANONYMOUS_SOURCES)
        this.anonymous.delete(this.anonymous.keys().next().value as string);
      principal = anonymousPrincipal(this.anonymousScopes as ReadonlySet<string>, source);
      this.anonymous.set(source, principal);
    }
    return principal;
  }

  private async verifyJwt(token: string, routeUrl: string, exact: boolean): Promise<Principal> {
    let payload = this.verified.get(token);
    if (payload === undefined) {
      try {
        ({ payload } = await jwtVerify(token, this.key as JWTVerifyGetKey, {
          issuer: this.parts.issuer,
          algorithms: this.algorithms,
          clockTolerance: CLOCK_TOLERANCE_S,
          requiredClaims: ["exp", "sub"],
        }));
      } catch (err) {
        throw invalidToken(describe(err));
      }
      this.verified.set(token, payload);
    }
    // Audience and revocation are checked on every request, cached signature or not.
    this.checkAudience(payload.aud, routeUrl, exact);
    // Revocation (RFC 7009, or a refresh-token reuse that revoked the grant) reaches JWTs by `jti`.
    if (this.parts.isRevoked) {
      if (typeof payload.jti !== "string") throw invalidToken("token revoked");
      let revoked: boolean;
      try {
        revoked = await this.parts.isRevoked(payload.jti);
      } catch (err) {
        throw new AuthUnavailable("token revocation cannot be checked", { cause: err });
      }
      if (revoked) throw invalidToken("token revoked");
    }
    return tokenPrincipal(
      {
        subject: payload.sub as string,
        clientId: clientIdOf(payload),
        scopes: scopesOf(payload),
        method: "bearer",
      },
      token,
      payload,
    );
  }

  private readonly verified = new VerifiedTokens();

  private fromIntrospection(
    t: IntrospectedToken,
    token: string,
    routeUrl: string,
    exact: boolean,
  ): Principal {
    if (t.iss !== undefined && t.iss !== this.parts.issuer) throw invalidToken("token from another issuer");
    this.checkAudience(t.aud, routeUrl, exact);
    return tokenPrincipal(
      { subject: t.sub, clientId: t.client_id, scopes: splitScopes(t.scope), method: "bearer" },
      token,
    );
  }

  private checkAudience(aud: unknown, routeUrl: string, exact: boolean): void {
    const list = typeof aud === "string" ? [aud] : Array.isArray(aud) ? aud : [];
    const ok = list.some(
      (a) =>
        typeof a === "string" &&
        (a === routeUrl || (!exact && (a === this.parts.base || this.extraAudiences.includes(a)))),
    );
    if (!ok) throw invalidToken("token audience is not this resource");
  }
}

const REMOTE_JWKS = { cooldownDuration: 30_000, cacheMaxAge: 600_000, timeoutDuration: 5_000 };
const DISCOVERY_RETRY_MS = 30_000;

/**
 * An external issuer's keys: its `jwks_uri` from config, or discovered on first use (retried after
 * a failure, meanwhile every token is refused). jose caches the set and keeps one fetch in flight.
 */
function remoteKeys(issuer: ExternalIssuer): JWTVerifyGetKey {
  if (issuer.jwksUri) return createRemoteJWKSet(new URL(issuer.jwksUri), REMOTE_JWKS);
  let keys: JWTVerifyGetKey | undefined;
  let pending: Promise<JWTVerifyGetKey> | undefined;
  let failedAt = 0;
  return async (header, token) => {
    if (!keys) {
      if (Date.now() - failedAt < DISCOVERY_RETRY_MS) throw invalidToken("issuer metadata unavailable");
      pending ??= discoverJwksUri(issuer.url).then((uri) => createRemoteJWKSet(new URL(uri), REMOTE_JWKS));
      try {
        keys = await pending;
      } catch {
        failedAt = Date.now();
        throw invalidToken("issuer metadata unavailable");
      } finally {
        pending = undefined;
      }
    }
    return keys(header, token);
  };
}

function clientIdOf(payload: JWTPayload): string | undefined {
  const id = payload.client_id ?? payload.azp;
  return typeof id === "string" ? id : undefined;
}

function scopesOf(payload: JWTPayload): string[] {
  if (typeof payload.scope === "string") return splitScopes(payload.scope);
  if (Array.isArray(payload.scp)) return payload.scp.filter((s): s is string => typeof s === "string");
  if (typeof payload.scp === "string") return splitScopes(payload.scp);
  return [];
}

function splitScopes(scope: string | undefined): string[] {
  return scope ? scope.split(" ").filter(Boolean) : [];
}

function describe(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return "token expired";
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `token claim ${err.claim} is not valid`;
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return "token signature is not valid";
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return "token algorithm is not allowed";
  if (err instanceof joseErrors.JWKSNoMatchingKey) return "token signed by an unknown key";
  if (err instanceof joseErrors.JOSEError) return `token is not valid (${err.code})`;
  return "token is not valid";
}

/** How long a checked signature is trusted without checking it again, at most. */
const VERIFIED_TTL_MS = 60_000;
const VERIFIED_MAX = 4096;

/**
 * JWTs whose signature and claims jose accepted in the last minute (never past their `exp`): an
 * RS256 check costs about 110 µs of CPU, a quarter of a forwarded call, and an agent sends the same
 * token on every request. Bounded (oldest out first). What it trades: a signing key withdrawn from
 * the issuer's JWKS stops its tokens here within a minute, not at once; revocation by `jti` and the
 * audience are still checked on every request.
 */
class VerifiedTokens {
  private readonly entries = new Map<string, { payload: JWTPayload; until: number }>();

  get(token: string): JWTPayload | undefined {
    const hit = this.entries.get(token);
    if (hit === undefined) return undefined;
    if (Date.now() >= hit.until) {
      this.entries.delete(token);
      return undefined;
    }
    return hit.payload;
  }

  set(token: string, payload: JWTPayload): void {
    const exp = typeof payload.exp === "number" ? payload.exp * 1000 : 0;
    const until = Math.min(Date.now() + VERIFIED_TTL_MS, exp);
    if (until <= Date.now()) return;
    if (this.entries.size >= VERIFIED_MAX) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(token, { payload, until });
  }
}
