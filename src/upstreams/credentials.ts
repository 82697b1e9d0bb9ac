import { createHash } from "node:crypto";
import type { FetchLike } from "@modelcontextprotocol/sdk/shared/transport.js";
import { context, propagation } from "@opentelemetry/api";
import { decodeJwt } from "jose";
import { subjectToken, type Principal } from "../auth/principal.js";
import type { HttpServerConfig, UpstreamAuth } from "../config/types.js";
import { GatewayError, upstreamUnavailable } from "../errors.js";
import type { Logger } from "../log.js";
import { headersSetter } from "../observability/tracing.js";
import type { OAuthUserBroker } from "./oauth-user/broker.js";
import { insufficientScope } from "./oauth-user/scope-challenge.js";
import { safeForCredentials } from "./origin.js";
import {
  CachedToken,
  TokenRequestError,
  requestToken,
  type IssuedToken,
  type TokenEndpoint,
} from "./token-endpoint.js";

const TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";
/** Exchanged tokens kept per server (one per distinct caller token); the least recently used go first. */
const MAX_EXCHANGED_TOKENS = 1000;

type OAuthAuth = Extract<UpstreamAuth, { type: "oauth2_client_credentials" | "token_exchange" }>;

/** One header value presented upstream, and the cached token behind it (dropped on a 401). */
interface Credential {
  readonly value: string;
  readonly cached?: { readonly cache: CachedToken; readonly token: string };
  /** A user's own token (oauth_user): what to present instead once the upstream refused this one. */
  readonly renew?: () => Promise<Credential>;
  /**
   * A user's own token answered 403 insufficient_scope for `scopes`: throws the step-up's refusal
   * (-32007 with the connect link), or gives a newer token to try once.
   */
  readonly stepUp?: (scopes: readonly string[]) => Promise<Credential>;
}

/**
 * A remote server's own credentials (`servers[].auth`): built once per server, shared by every
 * connection to it, so one client-credentials token serves all sessions and one exchanged token
 * serves every session of the same caller token. The client's own token never reaches this code
 * except as the RFC 8693 subject token, which goes to the token endpoint and nowhere else.
 */
export class UpstreamCredentials {
  /** Lower-case name of the header the credential occupies; undefined for `none`. */
  readonly header: string | undefined;
  private readonly origin: string;
  private readonly endpoint: TokenEndpoint | undefined;
  private readonly clientToken: CachedToken | undefined;
  private readonly exchanged = new Map<string, CachedToken>();
  private readonly unsafeUrl: boolean;

  constructor(
    private readonly server: HttpServerConfig,
    private readonly log: Logger,
    /** Each user's own tokens, for `oauth_user` servers (upstreams/oauth-user/). */
    private readonly broker?: OAuthUserBroker,
  ) {
    const auth = server.auth;
    this.origin = new URL(server.url).origin;
    this.header =
      auth.type === "none"
        ? undefined
        : auth.type === "api_key"
          ? auth.header.toLowerCase()
          : "authorization";
    this.unsafeUrl = auth.type !== "none" && !safeForCredentials(server.url);
    if (this.unsafeUrl)
      log.error(
        { server: server.name, auth: auth.type },
        "upstream credentials are only sent over https or to a loopback address: calls will fail",
      );
    if (auth.type === "oauth2_client_credentials" || auth.type === "token_exchange") {
      this.endpoint = { url: auth.token_url, clientId: auth.client_id, clientSecret: auth.client_secret };
      if (!safeForCredentials(auth.token_url))
        log.error(
          { server: server.name, auth: auth.type },
          "token_url must use https (plain http only to a loopback address): calls will fail",
        );
    }
    if (auth.type === "oauth2_client_credentials") {
      this.clientToken = new CachedToken(() => this.fetchToken(auth, { grant_type: "client_credentials" }));
    }
    for (const name of Object.keys(server.headers)) {
      if (name.toLowerCase() === this.header)
        log.warn(
          { server: server.name, header: name },
          "configured header ignored: the auth credential sets it",
        );
    }
  }

  /** Token exchange and per-user OAuth act for a caller: a connection without one cannot authenticate. */
  get needsCaller(): boolean {
    return this.server.auth.type === "token_exchange" || this.server.auth.type === "oauth_user";
  }

  /** The configured `headers`, minus the one the credential sets: credentials win. */
  configuredHeaders(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(this.server.headers))
      if (name.toLowerCase() !== this.header) out[name] = value;
    return out;
  }

  /**
   * The credentials of one connection, acting for the session's caller when the server uses token
   * exchange: `caller` (the session's principal) is read before every request. Throws
   * upstream_auth_failed when the caller has no bearer token: such a connection is never opened,
   * and a request that finds none is never sent.
   */
  forConnection(caller?: () => Principal): ConnectionCredentials {
    let source: () => Promise<Credential | undefined>;
    const auth = this.server.auth;
    switch (auth.type) {
      case "none":
        source = async () => undefined;
        break;
      case "api_key": {
        const credential = { value: auth.key };
        source = async () => credential;
        break;
      }
      case "bearer": {
        const credential = { value: `Bearer ${auth.token}` };
        source = async () => credential;
        break;
      }
      case "oauth2_client_credentials": {
        const cache = this.clientToken as CachedToken;
        source = () => bearer(cache);
        break;
      }
      case "token_exchange": {
        const subject = () => {
          const token = caller ? subjectToken(caller()) : undefined;
          if (token === undefined)
            throw this.failure("token exchange needs the caller's bearer token; this caller has none");
          return token;
        };
        subject();
        source = async () => bearer(this.exchangedToken(auth, subject()));
        break;
      }
      case "oauth_user": {
        const broker = this.broker;
        if (!broker || !caller) throw this.failure("per-user OAuth needs the user the connection acts for");
        const name = this.server.name;
        // The connection's user, read for every request: a per_user link's user never changes.
        const own = async (token: string): Promise<Credential> => ({
          value: `Bearer ${token}`,
          renew: async () => own(await broker.refused(name, caller(), token)),
          stepUp: async (scopes) => own(await broker.insufficientScope(name, caller(), token, scopes)),
        });
        source = async () => own(await broker.accessToken(name, caller()));
        break;
      }
      default:
        throw this.failure("unknown credential type");
    }
    return new ConnectionCredentials(this.server.name, this.origin, this.header, source, this.unsafeUrl);
  }

  private failure(detail: string): GatewayError {
    return upstreamUnavailable(this.server.name, "upstream_auth_failed", detail);
  }

  private exchangedToken(auth: OAuthAuth, subject: string): CachedToken {
    const key = createHash("sha256").update(subject).digest("base64url");
    let cache = this.exchanged.get(key);
    if (cache) {
      this.exchanged.delete(key);
    } else {
      const capAt = expiryOf(subject);
      cache = new CachedToken(async () => {
        if (capAt !== undefined && Date.now() >= capAt)
          throw this.failure("the caller's token has expired; a new session with a fresh token is needed");
        const t = await this.fetchToken(auth, {
          grant_type: TOKEN_EXCHANGE_GRANT,
          subject_token: subject,
          subject_token_type: ACCESS_TOKEN_TYPE,
          requested_token_type: ACCESS_TOKEN_TYPE,
        });
        // Acting for the caller ends when the caller's own token does.
        if (capAt === undefined || t.expiresAt <= capAt) return t;
        return { accessToken: t.accessToken, expiresAt: capAt, refreshAt: Math.min(t.refreshAt, capAt) };
      });
      this.evictFor(1);
    }
    this.exchanged.set(key, cache);
    return cache;
  }

  private evictFor(room: number): void {
    if (this.exchanged.size + room <= MAX_EXCHANGED_TOKENS) return;
    for (const [key, cache] of this.exchanged) if (!cache.alive) this.exchanged.delete(key);
    for (const key of this.exchanged.keys()) {
      if (this.exchanged.size + room <= MAX_EXCHANGED_TOKENS) break;
      this.exchanged.delete(key);
    }
  }

  private async fetchToken(auth: OAuthAuth, grant: Record<string, string>): Promise<IssuedToken> {
    try {
      const token = await requestToken(this.endpoint as TokenEndpoint, {
        ...grant,
        scope: auth.scope,
        audience: auth.audience,
        resource: auth.resource,
      });
      this.log.debug(
        { server: this.server.name, grant: grant.grant_type, expires_in_ms: token.expiresAt - Date.now() },
        "upstream token obtained",
      );
      return token;
    } catch (err) {
      const detail = err instanceof TokenRequestError ? err.detail : "token request failed";
      this.log.warn(
        { server: this.server.name, grant: grant.grant_type, err: detail },
        "upstream token request failed",
      );
      throw this.failure(detail);
    }
  }
}

/**
 * What one upstream connection's transport uses as `fetch`: it sets the credential on every
 * request the SDK makes (POST, the GET stream, DELETE, the legacy SSE stream), sends only to the
 * configured origin, never follows a redirect itself, and turns a 401 into upstream_auth_failed
 * after one retry with a fresh token when the credential is a cached one. A user's own token
 * answered 403 insufficient_scope becomes the step-up's refusal (-32007), never a retry with it.
 */
export class ConnectionCredentials {
  /** The last auth failure: a transport may wrap the error it caused (the SSE stream does). */
  failure: GatewayError | undefined;

  constructor(
    private readonly server: string,
    private readonly origin: string,
    private readonly header: string | undefined,
    private readonly source: () => Promise<Credential | undefined>,
    private readonly unsafeUrl: boolean,
  ) {}

  readonly fetch: FetchLike = async (url, init) => {
    const target = new URL(url);
    if (target.origin !== this.origin) throw this.fail("refused to send credentials to another origin");
    if (this.unsafeUrl) throw this.fail("credentials are only sent over https or to a loopback address");
    let credential = await this.credential();
    let res = await this.send(target, init, credential);
    let retried = false;
    if (res.status === 401 && (credential?.cached || credential?.renew) && replayable(init)) {
      await res.body?.cancel().catch(() => {});
      if (credential.renew) {
        const renew = credential.renew;
        credential = await this.credential(renew);
      } else {
        credential.cached?.cache.invalidate(credential.cached.token);
        credential = await this.credential();
      }
      res = await this.send(target, init, credential);
      retried = true;
    }
    if (res.status === 403 && credential?.stepUp) {
      // Throws the step-up's refusal, unless a newer token came meanwhile: that one is tried once,
      // and a second insufficient_scope is refused with the current token, never looped on.
      const newer = await this.steppedUp(res, credential.stepUp);
      if (newer) {
        if (retried || !replayable(init)) throw this.fail("the upstream asked for more scopes (403)");
        credential = newer;
        res = await this.send(target, init, credential);
        if (res.status === 403 && credential?.stepUp && (await this.steppedUp(res, credential.stepUp)))
          throw this.fail("the upstream asked for more scopes again (403)");
      }
    }
    if (res.status === 401) {
      await res.body?.cancel().catch(() => {});
      throw this.fail("the upstream refused the gateway's credentials (401)");
    }
    return res;
  };

  /**
   * A 403 to a user's own token: when it is insufficient_scope (RFC 6750 §3.1) the body is dropped
   * and the step-up's answer returned (a newer token) or thrown (its refusal); a challenge that
   * cannot be used is upstream_auth_failed. Any other 403 is left to the transport, as before.
   */
  private async steppedUp(
    res: Response,
    stepUp: NonNullable<Credential["stepUp"]>,
  ): Promise<Credential | undefined> {
    const challenge = insufficientScope(res.headers.get("www-authenticate"));
    if (challenge === undefined) return undefined;
    await res.body?.cancel().catch(() => {});
    if ("invalid" in challenge)
      throw this.fail(`the upstream's insufficient_scope challenge cannot be used: ${challenge.invalid}`);
    return this.credential(() => stepUp(challenge.scopes));
  }

  private async credential(source = this.source): Promise<Credential | undefined> {
    try {
      return await source();
    } catch (err) {
      throw this.record(
        err instanceof GatewayError
          ? err
          : upstreamUnavailable(this.server, "upstream_auth_failed", "credentials unavailable"),
      );
    }
  }

  private send(target: URL, init: RequestInit | undefined, credential: Credential | undefined) {
    const headers = new Headers(init?.headers);
    if (this.header) {
      headers.delete(this.header);
      if (credential) headers.set(this.header, credential.value);
    }
    // The calling request's trace (W3C traceparent, tracestate), when one is active.
    propagation.inject(context.active(), headers, headersSetter);
    // A redirect is answered to the SDK, which follows it only within the origin, through here.
    const redirect = init?.redirect === "error" ? "error" : "manual";
    return fetch(target, { ...init, headers, redirect });
  }

  private fail(detail: string): GatewayError {
    return this.record(upstreamUnavailable(this.server, "upstream_auth_failed", detail));
  }

  private record(err: GatewayError): GatewayError {
    this.failure = err;
    return err;
  }
}

async function bearer(cache: CachedToken): Promise<Credential> {
  const token = await cache.get();
  return { value: `Bearer ${token}`, cached: { cache, token } };
}

/** A request the SDK sends with a string body (or none) can be sent again. */
function replayable(init: RequestInit | undefined): boolean {
  return init?.body === undefined || init.body === null || typeof init.body === "string";
}

/** The `exp` of a JWT caller token, in epoch ms; undefined for an opaque token. */
function expiryOf(token: string): number | undefined {
  try {
    const exp = decodeJwt(token).exp;
    return typeof exp === "number" ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
