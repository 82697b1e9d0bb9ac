import type { OAuthClientInformationMixed } from "@modelcontextprotocol/client";
import type { AuditPrincipal } from "../../audit/event.js";
import type { AuditLog } from "../../audit/log.js";
import { principalFields } from "../../pipeline/stages/audit.js";
import type { Principal } from "../../auth/principal.js";
import type { Config, HttpServerConfig } from "../../config/types.js";
import { ErrorCode, GatewayError, upstreamAuthRequired, upstreamUnavailable } from "../../errors.js";
import type { Logger } from "../../log.js";
import type { StateKey } from "../../state/sealed.js";
import {
  UpstreamAuthError,
  UpstreamAuthorization,
  type OAuthUserAuth,
  type ServerInfo,
} from "./authorization.js";
import { ConnectFlows, ConnectRefused, authEvent, type CallbackParams } from "./connect-flow.js";
import { MAX_SCOPES, scopeList, scopeUnion } from "./scope-challenge.js";
import type { ConnectionFilter, ConnectionRow, ConnectionStore } from "./store.js";
import { fromResponse, openTokens, sealTokens, type VaultTokens } from "./vault.js";

/** A token this close to its expiry is refreshed before use. */
const REFRESH_MARGIN_MS = 60_000;
/** A token without a stated lifetime is refreshed (when it can be) after this. */
const UNSTATED_LIFETIME_MS = 10 * 60_000;
/** How long one instance may hold a row's refresh; others wait for its result meanwhile. */
const LEASE_MS = 20_000;
const LEASE_POLL_MS = 200;
/** How often a call waiting for its user to connect looks in the store (another instance's callback). */
const WAIT_POLL_MS = 1000;
/** `last_used_at` is written at most this often per connection. */
const TOUCH_EVERY_MS = 60_000;

/** A connection as the CLI, the admin API and the user's page show it: never a token. */
export interface ConnectionView {
  readonly id: string;
  readonly user: string;
  readonly server: string;
  readonly status: string;
  readonly issuer: string;
  readonly scopes: string;
  /** Scopes the server has asked for since (step-up), for the next connect; empty when none. */
  readonly step_up_scopes: string;
  readonly expires_at: string | null;
  readonly connected_at: string;
  readonly last_used_at: string | null;
}

/**
 * The gateway as each user's credential broker for `oauth_user` servers (docs/upstream-credentials.md):
 * connect flows, the token vault, refresh (one in flight per connection, across instances),
 * revocation. A user's token is handed out only for that user and that server.
 */
export class OAuthUserBroker {
  private readonly servers = new Map<string, UpstreamAuthorization>();
  private readonly refreshing = new Map<string, Promise<VaultTokens>>();
  private readonly ids = new Map<string, string>();
  private readonly touched = new Map<string, number>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private base: string | undefined;
  private readonly flows: ConnectFlows;

  constructor(
    servers: readonly HttpServerConfig[],
    private readonly store: ConnectionStore,
    private readonly key: StateKey,
    private readonly audit: AuditLog,
    private readonly log: Logger,
    /** `gateway.client_metadata_url`, when the operator publishes the CIMD document elsewhere. */
    clientMetadataUrl?: string,
  ) {
    this.flows = new ConnectFlows(store, key, audit, {
      server: (name) => this.requireServer(name),
      scopes: (info, row) => this.scopesFor(info, row),
      connected: (row) => {
        this.ids.set(connectionKey(row.server, row.subject), row.id);
        for (const wake of this.waiters.get(connectionKey(row.server, row.subject)) ?? []) wake();
      },
    });
    for (const s of servers)
      if (s.auth.type === "oauth_user")
        this.servers.set(
          s.name,
          new UpstreamAuthorization(s, s.auth as OAuthUserAuth, store, key, log, clientMetadataUrl),
        );
  }

  static needed(config: Config): boolean {
    return config.servers.some((s) => s.kind !== "stdio" && s.auth.type === "oauth_user");
  }

  setBase(base: string): void {
    this.base = base;
    for (const a of this.servers.values()) a.setBase(base);
  }

  has(server: string): boolean {
    return this.servers.has(server);
  }

  serverNames(): string[] {
    return [...this.servers.keys()];
  }

  authorization(server: string): UpstreamAuthorization | undefined {
    return this.servers.get(server);
  }

  /**
   * The gateway's connect page for `server`: where a user who has not connected is sent. With
   * `subject`, the link names (by a keyed digest, not the name) the user it is for, and the page
   * refuses any other signed-in user.
   */
  connectUrl(server: string, subject?: string): string | undefined {
    if (this.base === undefined) return undefined;
    const url = `${this.base}/connect/${encodeURIComponent(server)}`;
    return subject === undefined ? url : `${url}?for=${this.userHint(subject)}`;
  }

  userHint(subject: string): string {
    return this.key.digest(`connect-for:${subject}`).slice(0, 22);
  }

  /** A refused step of the connect pages, audited (the broker audits its own refusals). */
  async auditRefusal(reason: string, who: Principal | undefined, server: string): Promise<void> {
    await this.audit
      .record(authEvent(reason, who ? principalFields(who) : { sub: "anonymous" }, server, "denied", {}))
      .catch(() => undefined);
  }

  /** The connection id last used for `principal` at `server`, for the call's audit event. */
  connectionOf(server: string, principal: Principal): string | undefined {
    return this.ids.get(connectionKey(server, principal.subject));
  }

  /**
   * The user's access token for `server`, refreshed when it is about to expire. Throws -32007
   * (upstream_auth_required, with the connect URL) when the user has no usable connection.
   */
  async accessToken(server: string, principal: Principal): Promise<string> {
    if (principal.method === "anonymous")
      throw upstreamAuthRequired(server, "sign_in_required", "this server acts for a signed-in user");
    const row = await this.store.get(principal.subject, server);
    if (!row) throw this.required(server, "not_connected", "no account connected", principal.subject);
    if (row.status !== "connected")
      throw this.required(server, "reconnect_required", "the connection must be renewed", principal.subject);
    this.ids.set(connectionKey(server, row.subject), row.id);
    let tokens = this.open(row);
    if (due(tokens, row)) tokens = await this.refreshed(server, row, tokens, false);
    this.touch(row.id);
    return tokens.access_token;
  }

  /**
   * The upstream refused `token` (401). The server is discovered again (bounded: authorization.ts
   * `rediscover`): when it now names another authorization server, the connection was made at the
   * old one and the user must connect again (SEP-2352). Otherwise the token is refreshed once, and
   * without a refresh token the connection is broken.
   */
  async refused(server: string, principal: Principal, token: string): Promise<string> {
    const row = await this.store.get(principal.subject, server);
    if (!row || row.status !== "connected")
      throw this.required(server, "reconnect_required", "the upstream refused the token", principal.subject);
    const tokens = this.open(row);
    if (tokens.access_token !== token) return tokens.access_token;
    let info: ServerInfo;
    try {
      info = await this.requireServer(server).rediscover();
    } catch {
      throw upstreamUnavailable(
        server,
        "upstream_auth_failed",
        "the upstream refused the token and its authorization server cannot be discovered now",
      );
    }
    await this.sameIssuer(server, row, info);
    if (tokens.refresh_token === undefined) {
      await this.broken(row, "the upstream refused the token");
      throw this.required(server, "reconnect_required", "the upstream refused the token", principal.subject);
    }
    return (await this.refreshed(server, row, tokens, true)).access_token;
  }

  /**
   * The upstream answered `token` with 403 insufficient_scope, asking for `challenged` (RFC 6750
   * §3.1, already checked: scope-challenge.ts). A newer token (a connect or refresh since it was
   * sent) is returned, to try once. Otherwise the scopes are kept on the connection for the user's
   * next connect, which asks for them with everything asked for and granted before (SEP-2350), and
   * the call is answered -32007 insufficient_scope with the connect link. The connection itself
   * stays in use for every other call until the new grant replaces it: a step-up adds scope, it
   * revokes nothing. When the connection already holds every scope asked for, connecting again
   * cannot help (and would loop): that is the upstream's failure, -32005; so is a scope outside a
   * configured `auth.scopes`, which a step-up never widens.
   */
  async insufficientScope(
    server: string,
    principal: Principal,
    token: string,
    challenged: readonly string[],
  ): Promise<string> {
    const subject = principal.subject;
    let row = await this.store.get(subject, server);
    if (!row || row.status !== "connected")
      throw this.required(server, "reconnect_required", "the connection must be renewed", subject);
    const tokens = this.open(row);
    if (tokens.access_token !== token) return tokens.access_token;
    const granted = new Set(scopeList(row.scopes));
    if (challenged.every((s) => granted.has(s)))
      throw upstreamUnavailable(
        server,
        "upstream_auth_failed",
        "the upstream refused the token for scopes it was granted: connecting again would not add them",
      );
    const auth = this.requireServer(server);
    const ceiling = auth.configuredScopes;
    if (ceiling !== undefined && !challenged.every((s) => ceiling.includes(s)))
      throw upstreamUnavailable(
        server,
        "upstream_auth_failed",
        "the upstream asks for scopes outside this server's configured auth.scopes",
      );
    const info = await auth.serverInfo();
    // Compare-and-set: two calls challenged at once for different scopes both keep theirs.
    for (let attempt = 0; attempt < 3; attempt++) {
      const wanted = scopeUnion(scopeList(row.stepUpScopes), challenged);
      if (wanted === undefined || scopeUnion(...this.scopeSources(info, row), wanted) === undefined)
        throw upstreamUnavailable(
          server,
          "upstream_auth_failed",
          `the upstream asks for more scopes than one authorization request carries (${MAX_SCOPES} at most)`,
        );
      if (await this.store.stepUp(row.id, row.stepUpScopes, wanted.join(" "))) break;
      const again = await this.store.get(subject, server);
      // Replaced meanwhile: the new connection answers the next call.
      if (!again || again.id !== row.id) break;
      row = again;
    }
    await this.audit
      .record(
        authEvent("upstream_step_up", principalFields(principal), server, "ok", {
          connection: row.id,
          scopes: challenged.join(" "),
        }),
      )
      .catch(() => undefined);
    throw this.required(
      server,
      "insufficient_scope",
      "the server asks for scopes the connection was not granted",
      subject,
      { scopes: [...challenged] },
    );
  }

  /**
   * What `subject`'s next connect to `server` asks for: the server's own choice (the 401's scope,
   * else its metadata's scopes_supported) for a first connect; once connected, that with what the
   * connection asked for and was granted and every scope challenged since (SEP-2350's union).
   */
  async connectScopes(server: string, subject: string): Promise<readonly string[]> {
    const info = await this.requireServer(server).serverInfo();
    return this.scopesFor(info, await this.store.get(subject, server));
  }

  private scopesFor(info: ServerInfo, row: ConnectionRow | undefined): readonly string[] {
    if (!row) return info.scopes;
    const stepUp = scopeList(row.stepUpScopes);
    // Past the bounds (the server's own list is not bounded): the challenged ones, and what fits.
    return scopeUnion(...this.scopeSources(info, row), stepUp) ?? scopeUnion(stepUp, info.scopes) ?? stepUp;
  }

  /** The lists a reconnect unites: another issuer's grants are not this one's to ask for again. */
  private scopeSources(info: ServerInfo, row: ConnectionRow): (readonly string[])[] {
    if (row.issuer !== info.issuer) return [info.scopes];
    return [info.scopes, scopeList(row.requestedScopes), scopeList(row.scopes)];
  }

  /**
   * Resolves true once `subject` has a working connection to `server` made after now (this
   * instance's callback wakes it at once; another instance's is found in the store), false after
   * `ms` or when `signal` aborts.
   */
  async waitForConnection(
    server: string,
    subject: string,
    ms: number,
    signal?: AbortSignal,
  ): Promise<boolean> {
    const since = Date.now();
    const until = since + ms;
    const k = connectionKey(server, subject);
    while (Date.now() < until && !signal?.aborted) {
      let wake: () => void = () => undefined;
      const woken = new Promise<void>((resolve) => (wake = resolve));
      let set = this.waiters.get(k);
      if (!set) this.waiters.set(k, (set = new Set()));
      set.add(wake);
      const abort = () => wake();
      signal?.addEventListener("abort", abort, { once: true });
      const timer = setTimeout(wake, Math.min(WAIT_POLL_MS, Math.max(0, until - Date.now())));
      await woken;
      clearTimeout(timer);
      signal?.removeEventListener("abort", abort);
      set.delete(wake);
      if (set.size === 0) this.waiters.delete(k);
      const row = await this.store.get(subject, server).catch(() => undefined);
      if (row?.status === "connected" && row.createdAt >= since) return true;
    }
    return false;
  }

  // The connect flow (connect/routes.ts drives it; connect-flow.ts).

  /** Starts a connect of `server` for `subject`: the upstream authorization URL to redirect to. */
  begin(server: string, subject: string): Promise<string> {
    return this.flows.begin(server, subject);
  }

  /** The callback, arrived at `path` (connect-flow.ts `complete`). */
  complete(
    params: CallbackParams,
    signedIn: Principal,
    path: string,
  ): Promise<{ server: string; connection: string }> {
    return this.flows.complete(params, signedIn, path);
  }

  // Management (CLI, admin API, the user's own page).

  /** Resolves when every audit sink answers: a change is refused before it is made otherwise. */
  auditReady(): Promise<void> {
    return this.audit.ready();
  }

  async list(filter: ConnectionFilter): Promise<ConnectionView[]> {
    return (await this.store.list(filter)).map(view);
  }

  /**
   * Removes connections matching `filter` (and only the user's own when `filter.subject` is set by
   * the caller), revoking their tokens at the upstream where it has a revocation endpoint.
   */
  async revoke(filter: ConnectionFilter & { id?: string }, who: AuditPrincipal): Promise<ConnectionView[]> {
    const rows = (await this.store.list(filter)).filter((r) => filter.id === undefined || r.id === filter.id);
    const done: ConnectionView[] = [];
    for (const row of rows) {
      let revokedUpstream = false;
      const auth = this.servers.get(row.server);
      try {
        const tokens = openTokens(this.key, row);
        if (auth) {
          const info = await auth.serverInfo();
          const client = await this.clientFor(auth, info, row);
          const target = tokens.refresh_token ?? tokens.access_token;
          revokedUpstream = await auth.revoke(
            info,
            client,
            target,
            tokens.refresh_token ? "refresh_token" : "access_token",
          );
        }
      } catch (err) {
        this.log.warn(
          { server: row.server, connection: row.id, err: (err as Error).message },
          "upstream revocation skipped",
        );
      }
      await this.audit.record(
        authEvent("upstream_revoked", who, row.server, "ok", {
          connection: row.id,
          user: row.subject,
          revoked_upstream: revokedUpstream,
        }),
      );
      if (await this.store.remove(row.id)) done.push(view(row));
      this.ids.delete(connectionKey(row.server, row.subject));
    }
    return done;
  }

  /**
   * The client a connection was made with (its secret, when it has one), whatever is current now.
   * Only for a connection made at `info`'s authorization server (callers check it first).
   */
  private async clientFor(
    auth: UpstreamAuthorization,
    info: ServerInfo,
    row: ConnectionRow,
  ): Promise<OAuthClientInformationMixed> {
    if (info.issuer !== row.issuer)
      throw new UpstreamAuthError("the connection is another authorization server's");
    return (await auth.knownClient(row.issuer, row.clientId)) ?? { client_id: row.clientId };
  }

  private async refreshed(
    server: string,
    row: ConnectionRow,
    tokens: VaultTokens,
    force: boolean,
  ): Promise<VaultTokens> {
    let pending = this.refreshing.get(row.id);
    if (!pending) {
      pending = this.refreshOnce(server, row, tokens, force).finally(() => this.refreshing.delete(row.id));
      this.refreshing.set(row.id, pending);
    }
    return pending;
  }

  /**
   * Throws -32007 reconnect_required, with the connection marked broken and the change audited,
   * when `info` (what the server names now) is another authorization server than the one the
   * connection was made at: its tokens and its client are that one's, never to be sent to this one.
   */
  private async sameIssuer(server: string, row: ConnectionRow, info: ServerInfo): Promise<void> {
    if (info.issuer === row.issuer) return;
    await this.store.markBroken(row.id);
    this.log.warn(
      { server, connection: row.id, from: row.issuer, to: info.issuer },
      "the server names another authorization server: the user must reconnect",
    );
    await this.audit
      .record(
        authEvent("upstream_issuer_changed", { sub: row.subject }, server, "denied", {
          connection: row.id,
          from: row.issuer,
          to: info.issuer,
        }),
      )
      .catch(() => undefined);
    throw this.required(
      server,
      "reconnect_required",
      "the server's authorization server changed",
      row.subject,
    );
  }

  private async refreshOnce(
    server: string,
    row: ConnectionRow,
    tokens: VaultTokens,
    force: boolean,
  ): Promise<VaultTokens> {
    const usable = () => !force && tokens.expires_at !== undefined && tokens.expires_at > Date.now();
    if (tokens.refresh_token === undefined) {
      if (usable()) return tokens;
      await this.broken(row, "the token expired and there is no refresh token");
      throw this.required(server, "reconnect_required", "the connection expired", row.subject);
    }
    const now = Date.now();
    if (!(await this.store.lease(row.id, now, now + LEASE_MS))) return this.awaitOther(server, row);
    const auth = this.requireServer(server);
    try {
      const info = await auth.serverInfo();
      // The refresh token and the client are the old authorization server's: never sent to a new one.
      await this.sameIssuer(server, row, info);
      const client = await this.clientFor(auth, info, row);
      const fresh = fromResponse(await auth.refresh(info, client, tokens.refresh_token), tokens);
      const written = await this.store.update(row.id, row.version, {
        tokens: sealTokens(this.key, server, row.subject, fresh),
        expiresAt: fresh.expires_at ?? null,
        scopes: row.scopes,
        status: "connected",
      });
      if (!written) return this.awaitOther(server, row);
      this.log.debug({ server, connection: row.id }, "upstream token refreshed");
      return fresh;
    } catch (err) {
      await this.store.release(row.id).catch(() => undefined);
      // The authorization server changed (sameIssuer): the connection is broken already.
      if (err instanceof GatewayError && err.code === ErrorCode.UpstreamAuthRequired) throw err;
      if (
        err instanceof UpstreamAuthError &&
        // The grant, or the client it was made with, is gone: only a new connect helps.
        (err.oauthError === "invalid_grant" ||
          err.oauthError === "unauthorized_client" ||
          err.oauthError === "invalid_client")
      ) {
        await this.broken(row, `refresh refused (${err.oauthError})`);
        throw this.required(
          server,
          "reconnect_required",
          "the authorization server refused to renew the connection",
          row.subject,
        );
      }
      if (usable()) return tokens;
      if (err instanceof GatewayError) throw err;
      throw upstreamUnavailable(server, "upstream_auth_failed", "the connection could not be renewed now");
    }
  }

  /** Another instance (or request) holds the refresh: wait for the row's next version. */
  private async awaitOther(server: string, row: ConnectionRow): Promise<VaultTokens> {
    const until = Date.now() + LEASE_MS;
    while (Date.now() < until) {
      await new Promise((r) => setTimeout(r, LEASE_POLL_MS));
      const now = await this.store.get(row.subject, server);
      if (!now || now.id !== row.id)
        throw this.required(server, "reconnect_required", "the connection was replaced", row.subject);
      if (now.status !== "connected")
        throw this.required(server, "reconnect_required", "the connection must be renewed", row.subject);
      if (now.version !== row.version) return this.open(now);
    }
    throw upstreamUnavailable(server, "upstream_auth_failed", "the connection is being renewed: try again");
  }

  private async broken(row: ConnectionRow, why: string): Promise<void> {
    await this.store.markBroken(row.id);
    this.log.warn(
      { server: row.server, connection: row.id, why },
      "upstream connection broken: the user must reconnect",
    );
    await this.audit
      .record(
        authEvent("upstream_refresh_failed", { sub: row.subject }, row.server, "error", {
          connection: row.id,
          why,
        }),
      )
      .catch(() => undefined);
  }

  private open(row: ConnectionRow): VaultTokens {
    try {
      return openTokens(this.key, row);
    } catch (err) {
      // Tampered, moved from another user's row, or another state key: never used, never guessed.
      this.log.error(
        { server: row.server, connection: row.id, err: (err as Error).message },
        "stored upstream tokens do not open",
      );
      throw this.required(
        row.server,
        "reconnect_required",
        "the stored connection cannot be used",
        row.subject,
      );
    }
  }

  private touch(id: string): void {
    const now = Date.now();
    if (now - (this.touched.get(id) ?? 0) < TOUCH_EVERY_MS) return;
    this.touched.set(id, now);
    if (this.touched.size > 10_000) this.touched.clear();
    this.store.touch(id, now).catch(() => undefined);
  }

  private required(
    server: string,
    reason: string,
    detail: string,
    subject?: string,
    extra?: Readonly<Record<string, unknown>>,
  ): GatewayError {
    return upstreamAuthRequired(server, reason, detail, this.connectUrl(server, subject), extra);
  }

  private requireServer(server: string): UpstreamAuthorization {
    const auth = this.servers.get(server);
    if (!auth)
      throw new ConnectRefused("connect_unknown_server", "No such server takes a connected account.");
    return auth;
  }
}

function connectionKey(server: string, subject: string): string {
  return `${server}\u0000${subject}`;
}

function due(tokens: VaultTokens, row: ConnectionRow): boolean {
  const expiresAt = tokens.expires_at ?? row.updatedAt + UNSTATED_LIFETIME_MS;
  if (tokens.expires_at === undefined && tokens.refresh_token === undefined) return false;
  return expiresAt - Date.now() < REFRESH_MARGIN_MS;
}

function view(r: ConnectionRow): ConnectionView {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: r.id,
    user: r.subject,
    server: r.server,
    status: r.status,
    issuer: r.issuer,
    scopes: r.scopes,
    step_up_scopes: r.stepUpScopes,
    expires_at: iso(r.expiresAt),
    connected_at: new Date(r.createdAt).toISOString(),
    last_used_at: iso(r.lastUsedAt),
  };
}
