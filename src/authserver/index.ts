import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { jwtVerify, type JWTPayload } from "jose";
import type { KoaContextWithOIDC } from "oidc-provider";
import { SIGNING_ALG, type KeyStore } from "../auth/keys.js";
import { hashPassword } from "../auth/passwords.js";
import type { RevocationFeed } from "../auth/revocation-feed.js";
import { storeOutage } from "./outage.js";
import type { Config } from "../config/types.js";
import type { Logger } from "../log.js";
import type { PostgresState } from "../state/postgres.js";
import type { StateStore } from "../state/store.js";
import type { AccessTokenRecords } from "./access-tokens.js";
import { openAuthServerStores, type ShareRevocation } from "./backends.js";
import { awaitTokenRecords, logGrantRevocation, observeProvider, type AuthAudit } from "./events.js";
import { auditEvent } from "../audit/event.js";
import type { AuditLog } from "../audit/log.js";
import { InteractionPages } from "./interactions.js";
import { SignInThrottle } from "./throttle.js";
import type { SourceGuard, SourceLimitName, SourceRefusal } from "../ops/source-limits.js";
import type { RedisState } from "../state/redis.js";
import { PROVIDER_CSP } from "./pages.js";
import type { GrantInfo, GrantRevocation, OAuthModelStore } from "./models.js";
import { MAX_DYNAMIC_CLIENTS, ScopePolicy } from "./policy.js";
import { configuredClientProblems, connectClient, consoleClient } from "./client-rules.js";
import { createProvider, INTERACTION_PATH, ROUTES } from "./provider.js";

export { createRevocationCheck } from "./access-tokens.js";

/** A protected resource the embedded issuer may mint tokens for: a route's URL and its scopes. */
export interface ProtectedResource {
  readonly url: string;
  readonly scopes: readonly string[];
}

export interface AuthServerOptions {
  readonly config: Config;
  /** The issuer identifier: `gateway.public_url`, else the listening URL. */
  readonly issuer: string;
  readonly keys: KeyStore;
  readonly state: StateStore;
  /** With `state.postgres`: where grants, consents and revocations live, shared by instances. */
  readonly postgres?: PostgresState | undefined;
  readonly log: Logger;
  readonly resources: readonly ProtectedResource[];
  /** Token issuance, reuse, revocation and client registration are recorded here. */
  readonly audit: AuditLog;
  /**
   * With `state.redis` and no `state.postgres`: where access-token revocations are published so
   * that the other instances (each with its own SQLite) refuse the tokens too.
   */
  readonly revocationFeed?: RevocationFeed | undefined;
  /**
   * The gateway's per-source limits (`gateway.source_limits`), the one SourceGuard the MCP routes
   * and the admin API use too: one budget per source, one flood recorder.
   */
  readonly sources: SourceGuard;
  /** With `state.redis`: the sign-in throttle's counters, shared by every instance. */
  readonly redis?: RedisState | undefined;
}

/**
 * Authorization-server events as `auth` audit events. They do not hold a response back (the
 * provider has answered by then); a write that fails is logged by the audit log.
 */
function authAudit(log: AuditLog): AuthAudit {
  return (action, status, fields) => {
    const sub =
      typeof fields.sub === "string" ? fields.sub : typeof fields.user === "string" ? fields.user : undefined;
    const clientId = typeof fields.client_id === "string" ? fields.client_id : undefined;
    const principal = sub ?? clientId;
    void log
      .record(
        auditEvent({
          event: "auth",
          principal:
            principal === undefined ? undefined : { sub: principal, client_id: clientId, auth: "oauth" },
          status,
          reason: action,
          detail: fields,
        }),
      )
      .catch(() => undefined);
  };
}

export interface AuthServer {
  /** Whether `path` is one of the issuer's own: its metadata, `/oauth/*`, its sign-in pages. */
  serves(path: string): boolean;
  /** Serves the issuer's own paths; resolves false for any other path. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /** Grants not yet expired, the newest first (the admin API lists them). */
  /** The grants, each with its client's registered name when it has one. */
  grants(): Promise<Array<GrantInfo & { readonly clientName: string | undefined }>>;
  /**
   * Revokes a grant and everything it issued (codes, refresh tokens, JWT access tokens, on every
   * instance), recorded as a `grant_revoked` event; undefined when there is no such grant.
   */
  revokeGrant(grantId: string, reason: string): Promise<GrantRevocation | undefined>;
  close(): Promise<void>;
}

const SWEEP_INTERVAL_MS = 60_000;
const AS_METADATA = "/.well-known/oauth-authorization-server";
const OIDC_METADATA = "/.well-known/openid-configuration";

/**
 * The embedded OAuth 2.1 authorization server (`auth.issuer: embedded`), built on oidc-provider
 * with its state in the SQLite state store, or in Postgres shared by every instance
 * (backends.ts). Serves RFC 8414 metadata, `/oauth/*` (authorize, token, register, revoke, jwks)
 * and the login and consent pages.
 */
export async function createAuthServer(opts: AuthServerOptions): Promise<AuthServer> {
  const problems = configuredClientProblems(opts.config.auth.clients);
  if (problems.length > 0) throw new Error(`invalid auth.clients:\n  ${problems.join("\n  ")}`);

  const issuer = opts.issuer.replace(/\/+$/, "");
  const issuerUrl = new URL(issuer);
  const prefix = issuerUrl.pathname.replace(/\/+$/, "");
  const log = opts.log.child({ component: "authserver" });
  // The admin console is a client like a configured one, built in (client-rules.ts).
  const clients = [...opts.config.auth.clients, consoleClient(issuer), connectClient(issuer)];
  // With the embedded issuer the gateway's base URL (the issuer) is the admin API's resource.
  const policy = new ScopePolicy(opts.config.auth.users, clients, opts.resources, issuer);
  const audit = authAudit(opts.audit);
  const feed = opts.postgres ? undefined : opts.revocationFeed;
  const share: ShareRevocation | undefined =
    feed &&
    ((jti, expiresAt) =>
      feed
        .publish(jti, expiresAt)
        .catch((err: unknown) =>
          log.error(
            { event: "server_error", jti, err: (err as Error).message },
            "access token revocation could not be shared through redis: other instances accept the token until it is sent again (when redis is back) or it expires",
          ),
        ));
  const stores = openAuthServerStores(
    opts.state,
    opts.postgres,
    (revocation) => logGrantRevocation(log, audit, revocation),
    share,
  );
  const { models: store, consents, accessTokens: registry } = stores;

  const provider = createProvider({
    config: opts.config,
    clients,
    issuer,
    prefix,
    keys: opts.keys,
    policy,
    store,
    consents,
  });
  // URLs are built from the issuer, never from the request's Host or scheme: `handle` pins the
  // forwarded headers, which koa then trusts (and a TLS-terminating proxy in front works).
  provider.proxy = true;
  provider.use(securityHeaders);
  provider.use(storeOutage(provider));
  provider.use(awaitTokenRecords(log));
  provider.use(registrationCap(store, log, audit));
  provider.use(defaultScope(policy, prefix));
  provider.use(revokeJwtAccessTokens(opts.keys, issuer, registry, log));
  observeProvider(provider, log, registry, audit);
  const callback = provider.callback();

  const decoyHash = await hashPassword(randomBytes(18).toString("base64url"));
  // Unauthenticated work (authorization requests, registrations, sign-ins) is budgeted per source
  // before it reaches oidc-provider or scrypt (docs/authorization-server.md#limits).
  const sources = opts.sources;
  const throttle = new SignInThrottle(sources, opts.redis);
  // Built on first use: the CSRF key may live in Postgres, which need not be up at start.
  let pages: Promise<InteractionPages> | undefined;
  const interactionPages = () => {
    pages ??= stores.csrfKey().then(
      (csrfKey) =>
        new InteractionPages({
          provider,
          policy,
          consents,
          log,
          issuerOrigin: issuerUrl.origin,
          basePath: `${prefix}${INTERACTION_PATH}`,
          csrfKey,
          decoyHash,
          throttle,
        }),
      (err: unknown) => {
        pages = undefined;
        throw err;
      },
    );
    return pages;
  };

  let sweeping = false;
  const sweep = async () => {
    if (sweeping) return;
    sweeping = true;
    try {
      const result = await store.sweep();
      for (const revocation of result.expiredGrants) logGrantRevocation(log, audit, revocation);
      if (result.abandonedClients > 0) {
        log.info(
          { event: "clients_swept", clients: result.abandonedClients },
          "abandoned client registrations removed",
        );
      }
    } catch (err) {
      log.error({ err: (err as Error).message }, "authorization server state sweep failed");
    } finally {
      sweeping = false;
    }
  };
  void sweep();
  const timer = setInterval(sweep, SWEEP_INTERVAL_MS);
  timer.unref();
  let closed = false;

  const wellKnown = new Map<string, string>([
    [`${AS_METADATA}${prefix}`, AS_METADATA],
    [prefix ? `${prefix}${OIDC_METADATA}` : OIDC_METADATA, OIDC_METADATA],
  ]);
  const interactionBase = `${prefix}${INTERACTION_PATH}`;
  const oauthBase = `${prefix}/oauth`;
  const under = (path: string, base: string) => path === base || path.startsWith(`${base}/`);
  // The sign-in pages (interactionBase) are under oauthBase.
  const serves = (path: string) => wellKnown.has(path) || under(path, oauthBase);

  log.info(
    {
      issuer,
      resources: opts.resources.map((r) => r.url),
      users: opts.config.auth.users.length,
      clients: opts.config.auth.clients.length,
    },
    "authorization server ready",
  );

  return {
    serves,
    async handle(req, res) {
      const url = req.url ?? "/";
      const q = url.indexOf("?");
      const path = q >= 0 ? url.slice(0, q) : url;
      const search = q >= 0 ? url.slice(q) : "";
      if (!serves(path)) return false;
      let target: string | undefined = wellKnown.get(path);
      if (target === undefined) {
        if (under(path, interactionBase)) {
          if (closed) return unavailable(res);
          try {
            await (await interactionPages()).handle(req, res, path);
          } catch (err) {
            // The state store failed (oidc-provider's own refusals are answered as pages).
            log.error(
              { event: "server_error", route: "interaction", err: (err as Error).message },
              "sign-in page failed",
            );
            if (!res.headersSent) unavailable(res, "the authorization server's state store is unavailable");
            else res.destroy();
          }
          return true;
        }
        target = path.slice(prefix.length);
      }
      if (closed) return unavailable(res);
      // The provider's router matches paths case-insensitively and with a trailing slash: the
      // limits must decide on the route it will run, whatever the spelling.
      target = routeSpelling(target);
      const limit = sourceLimitOf(req.method, target);
      const refusal = limit && (await sources.check(limit, req, { route: target }));
      if (refusal) return tooManyRequests(res, refusal);
      pinOrigin(req, issuerUrl);
      if (prefix)
        (req as IncomingMessage & { originalUrl?: string }).originalUrl = `${prefix}${target}${search}`;
      req.url = `${target}${search}`;
      await callback(req, res);
      return true;
    },
    async grants() {
      const list = await store.listGrants();
      // Each client once: a name makes a grant recognisable, its id says which client it really is.
      const names = new Map<string, string | undefined>();
      for (const id of new Set(list.flatMap((g) => (g.clientId ? [g.clientId] : [])))) {
        const client = await provider.Client.find(id).catch(() => undefined);
        names.set(id, typeof client?.clientName === "string" ? client.clientName : undefined);
      }
      return list.map((g) => ({ ...g, clientName: g.clientId ? names.get(g.clientId) : undefined }));
    },
    async revokeGrant(grantId, reason) {
      if (!(await store.find("Grant", grantId))) return undefined;
      const revocation = await store.revokeGrant(grantId, reason);
      logGrantRevocation(log, audit, revocation);
      return revocation;
    },
    async close() {
      closed = true;
      clearInterval(timer);
    },
  };
}

function unavailable(res: ServerResponse, why = "shutting down"): true {
  res.writeHead(503, { "content-type": "application/json", "retry-after": "1" });
  res.end(JSON.stringify({ error: "temporarily_unavailable", error_description: why }));
  return true;
}

/** The provider's fixed routes by the key its router compares (ASCII upper case). */
const FIXED_ROUTES = new Map<string, string>(
  Object.values(ROUTES).map((route) => [asciiUpper(route), route] as const),
);

/**
 * A path the provider's router would run as one of its fixed routes, spelled exactly as that route
 * (oidc-provider's router folds ASCII case, never maps other characters onto ASCII, and retries
 * without one trailing slash); any other path as it came.
 */
export function routeSpelling(path: string): string {
  const exact = FIXED_ROUTES.get(asciiUpper(path));
  if (exact) return exact;
  if (path.length > 1 && path.endsWith("/")) return FIXED_ROUTES.get(asciiUpper(path.slice(0, -1))) ?? path;
  return path;
}

function asciiUpper(text: string): string {
  return text.replace(/[a-z]+/g, (run) => run.toUpperCase());
}

/** Which per-source budget a request to the issuer's `/oauth/*` path (`target`) spends. */
function sourceLimitOf(method: string | undefined, target: string): SourceLimitName | undefined {
  // A new authorization request (it stores an interaction); not its resumption after sign-in
  // (`/oauth/authorize/<uid>`), which only finds one a browser already holds.
  if (target === ROUTES.authorization) return "authorize";
  if (target === ROUTES.registration && method === "POST") return "register";
  return undefined;
}

/** 429 in the OAuth error shape (RFC 6749 §5.2, RFC 7591 §3.2.2), with Retry-After. */
function tooManyRequests(res: ServerResponse, refusal: SourceRefusal): true {
  res.writeHead(429, {
    "content-type": "application/json",
    "cache-control": "no-store",
    "retry-after": String(refusal.retryAfterS),
  });
  res.end(
    JSON.stringify({
      error: "temporarily_unavailable",
      error_description: `too many requests from this address (${refusal.limit}); retry after ${refusal.retryAfterS} s`,
    }),
  );
  return true;
}

/** The request as oidc-provider sees it: scheme and host of the issuer, the peer's own address. */
function pinOrigin(req: IncomingMessage, issuer: URL): void {
  req.headers["x-forwarded-proto"] = issuer.protocol.slice(0, -1);
  req.headers["x-forwarded-host"] = issuer.host;
  delete req.headers["x-forwarded-for"];
}

/** Pages oidc-provider renders itself (errors, form_post) get the same no-framing, no-script policy. */
async function securityHeaders(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
  ctx.set("content-security-policy", PROVIDER_CSP);
  ctx.set("x-frame-options", "DENY");
  ctx.set("x-content-type-options", "nosniff");
  ctx.set("referrer-policy", "no-referrer");
  await next();
  // form_post adds the hash of its one auto-submit script next to 'none'.
  const csp = ctx.response.get("content-security-policy");
  if (typeof csp === "string" && csp.includes("script-src 'none' 'sha256-")) {
    ctx.set("content-security-policy", csp.replace("script-src 'none' ", "script-src "));
  }
}

/**
 * RFC 6749 §3.3: an authorization request without `scope` asks for every scope of the resource
 * it names (still cut down to what the user holds at consent).
 */
function defaultScope(policy: ScopePolicy, prefix: string) {
  return async function defaultScope(ctx: KoaContextWithOIDC, next: () => Promise<void>) {
    if (ctx.method === "GET" && ctx.path === ROUTES.authorization) {
      const query = ctx.query;
      const resource = query.resource;
      if (query.scope === undefined && typeof resource === "string") {
        const scopes = policy.resource(resource)?.scopes ?? [];
        if (scopes.length > 0) {
          ctx.query = { ...query, scope: scopes.join(" ") };
          // oidc-provider derives the mount path from originalUrl, which must end with the new URL.
          const req = ctx.req as IncomingMessage & { originalUrl?: string };
          if (req.originalUrl !== undefined) req.originalUrl = `${prefix}${ctx.url}`;
        }
      }
    }
    await next();
  };
}

/**
 * RFC 7009 for JWT access tokens, which oidc-provider declines (`unsupported_token_type`): a
 * token this issuer signed for the authenticated client is recorded revoked, and the answer is
 * 200 as for any token (a token of another client is left alone, RFC 7009 §2.1). When the record
 * cannot be written the answer is 503 (RFC 7009 §2.2.1): the client must not take it as revoked.
 */
function revokeJwtAccessTokens(keys: KeyStore, issuer: string, registry: AccessTokenRecords, log: Logger) {
  return async function revokeJwtAccessTokens(ctx: KoaContextWithOIDC, next: () => Promise<void>) {
    await next();
    if (ctx.oidc?.route !== "revocation" || ctx.status !== 400) return;
    const body = ctx.body as { error?: unknown } | undefined;
    const client = ctx.oidc.client;
    const token = ctx.oidc.params?.token;
    if (body?.error !== "unsupported_token_type" || !client || typeof token !== "string") return;
    let payload: JWTPayload | undefined;
    try {
      ({ payload } = await jwtVerify(token, keys.verifyKey, {
        issuer,
        algorithms: [SIGNING_ALG],
        typ: "at+jwt",
      }));
    } catch {
      // Expired, foreign or malformed: nothing to revoke, and RFC 7009 answers 200 all the same.
    }
    if (payload && payload.client_id === client.clientId && typeof payload.jti === "string") {
      try {
        await registry.revokeOne(payload.jti, client.clientId, (payload.exp ?? 0) * 1000);
      } catch (err) {
        log.error(
          { event: "server_error", route: "revocation", jti: payload.jti, err: (err as Error).message },
          "access token revocation could not be recorded",
        );
        ctx.status = 503;
        ctx.set("retry-after", "5");
        ctx.body = { error: "temporarily_unavailable", error_description: "try again later" };
        return;
      }
      log.info(
        {
          event: "token_revoked",
          kind: "access_token",
          client_id: client.clientId,
          sub: payload.sub,
          jti: payload.jti,
        },
        "access token revoked",
      );
    }
    ctx.status = 200;
    ctx.body = "";
  };
}

/**
 * Bounds what unauthenticated registration can store (MAX_DYNAMIC_CLIENTS). Checked here rather
 * than in the client metadata validator, which oidc-provider runs synchronously, because the
 * count may have to come from Postgres.
 */
function registrationCap(store: OAuthModelStore, log: Logger, audit: AuthAudit) {
  return async function registrationCap(ctx: KoaContextWithOIDC, next: () => Promise<void>) {
    if (ctx.method !== "POST" || ctx.path !== ROUTES.registration) return next();
    let count: number;
    try {
      count = await store.dynamicClientCount();
    } catch (err) {
      log.error(
        { event: "server_error", route: "registration", err: (err as Error).message },
        "registered clients could not be counted",
      );
      ctx.status = 503;
      ctx.set("retry-after", "5");
      ctx.body = { error: "temporarily_unavailable", error_description: "try again later" };
      return;
    }
    if (count < MAX_DYNAMIC_CLIENTS) return next();
    const fields = { error: "invalid_client_metadata", detail: "too many registered clients" };
    log.info({ event: "registration_refused", ...fields }, "request refused");
    audit("registration_refused", "denied", fields);
    ctx.status = 400;
    ctx.set("cache-control", "no-store");
    ctx.body = { error: fields.error, error_description: "too many registered clients; try again later" };
  };
}
