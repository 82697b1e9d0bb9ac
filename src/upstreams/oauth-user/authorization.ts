import { createHash } from "node:crypto";
import {
  discoverOAuthServerInfo,
  exchangeAuthorization,
  extractWWWAuthenticateParams,
  refreshAuthorization,
  registerClient,
  startAuthorization,
  type AuthorizationServerMetadata,
  type OAuthClientInformationMixed,
  type OAuthTokens,
} from "@modelcontextprotocol/client";
import type { HttpServerConfig, UpstreamAuth } from "../../config/types.js";
import type { Logger } from "../../log.js";
import type { StateKey } from "../../state/sealed.js";
import { isLoopbackUrl, safeForCredentials } from "../origin.js";
import { authFetch } from "./auth-fetch.js";
import { challengedScopes } from "./scope-challenge.js";
import { basicAuthorization } from "../token-endpoint.js";
import type { ConnectionStore } from "./store.js";

export type OAuthUserAuth = Extract<UpstreamAuth, { type: "oauth_user" }>;

/** What the gateway knows of a server's authorization server, discovered or configured. */
export interface ServerInfo {
  readonly issuer: string;
  readonly metadata: AuthorizationServerMetadata;
  /** The RFC 8707 resource every authorization and token request names. */
  readonly resource: string;
  /** What is asked for (may be empty: the authorization server's default). */
  readonly scopes: readonly string[];
}

/** Discovery is repeated after this (a failure is never kept). */
const INFO_TTL_MS = 10 * 60_000;
/**
 * A 401 from the server makes discovery run again past the cache, at most this often per server
 * (its answer, or its failure, serves every 401 meanwhile): an upstream that refuses every token
 * cannot make the gateway fetch metadata for every call.
 */
export const REDISCOVER_EVERY_MS = 60_000;
/** Where the gateway's Client ID Metadata Document is served, under its public URL. */
export const CLIENT_METADATA_PATH = "/connect/client-metadata.json";
/**
 * Where authorization servers send the user back. RFC 9700 §4.4 (mix-up): each authorization
 * server gets its own redirect URI, so a code can come back only for a flow begun at the
 * authorization server that issued it. A configured client keeps the shared CALLBACK_PATH (the
 * operator registered it); a registered client gets `/connect/cb/as-<issuer tag>`; the Client ID
 * Metadata Document names `/connect/cb/cimd`, used only at authorization servers that send `iss`.
 * Neither is below CALLBACK_PATH, nor one below another: an authorization server that takes a
 * redirect URI "under" a registered one cannot be sent to another's.
 */
export const CALLBACK_PATH = "/connect/callback";
const OWN_CALLBACKS = "/connect/cb";
const CIMD_CALLBACK_PATH = `${OWN_CALLBACKS}/cimd`;
/** The paths the callback route takes: the shared one, and the per-issuer and CIMD ones, exactly. */
export const CALLBACK_PATHS = new RegExp(
  `^(?:${CALLBACK_PATH}|${OWN_CALLBACKS}/(?:cimd|as-[A-Za-z0-9_-]{22}))$`,
);

/** A redirect URI's last segment for a registered client at `issuer`: not secret, only distinct. */
export function issuerTag(issuer: string): string {
  return `as-${createHash("sha256").update(issuer).digest("base64url").slice(0, 22)}`;
}

/** How many earlier registrations per issuer are kept for the connections made with them. */
const KEEP_PREVIOUS = 4;

/** The registered client and earlier ones that connections may still name (stored per issuer). */
interface StoredClients {
  readonly current: OAuthClientInformationMixed & { redirect_uris?: string[] };
  readonly previous: readonly OAuthClientInformationMixed[];
}
/**
 * The member of the stored (sealed) JSON that holds the earlier clients; the rest is the current
 * client as registered, the shape stored before, which an older release still reads as its client.
 */
const PREVIOUS = "previous_clients";

/** The client the gateway is at one authorization server, and the redirect URI that goes with it. */
export interface ClientChoice {
  readonly client: OAuthClientInformationMixed;
  /** Absolute; the callback takes a flow's code only at this URI's path. */
  readonly redirectUri: string;
  /** The answer must carry RFC 9207 `iss` (the server says it sends it, or the client is the CIMD one). */
  readonly issRequired: boolean;
}

/** A step of the OAuth dance with an upstream failed: said to the user, never with secrets. */
export class UpstreamAuthError extends Error {
  readonly code = "ERR_UPSTREAM_AUTH";
  constructor(
    message: string,
    /** The authorization server's OAuth error code, when it answered with one (`invalid_grant`). */
    readonly oauthError?: string,
  ) {
    super(message);
  }
}

/**
 * The gateway as an OAuth client of one server's authorization server: discovery the way MCP
 * clients do it (the server's 401 → RFC 9728 → RFC 8414 / OpenID metadata), client registration
 * (configured client, else a Client ID Metadata Document, else RFC 7591), PKCE S256 with the RFC
 * 8707 resource, the code exchange with the RFC 9207 `iss` check, refresh and revocation. The
 * MCP SDK's client functions do each step; every request goes through `authFetch`.
 */
export class UpstreamAuthorization {
  private info: { at: number; value: Promise<ServerInfo> } | undefined;
  private forced: { at: number; value: Promise<ServerInfo> } | undefined;
  private base: string | undefined;
  /** Issuers the configured client was kept from (logged once each). */
  private readonly withheld = new Set<string>();

  constructor(
    readonly server: HttpServerConfig,
    private readonly auth: OAuthUserAuth,
    private readonly store: ConnectionStore,
    private readonly key: StateKey,
    private readonly log: Logger,
    /** `gateway.client_metadata_url`: where the operator publishes the gateway's CIMD document. */
    private readonly metadataUrl?: string,
  ) {}

  /** The gateway's public URL, known once it listens. */
  setBase(base: string): void {
    this.base = base;
  }

  /** `auth.scopes` when configured: what is asked for, and the most a step-up may ask for. */
  get configuredScopes(): readonly string[] | undefined {
    return this.auth.scopes;
  }

  /** The shared redirect URI, a configured client's (registered by the operator). */
  get redirectUri(): string {
    return `${this.requireBase()}${CALLBACK_PATH}`;
  }

  /** A registered client's redirect URI at `issuer`: its own, so no other server's code lands there. */
  registeredRedirectUri(issuer: string): string {
    return `${this.requireBase()}${OWN_CALLBACKS}/${issuerTag(issuer)}`;
  }

  /** The path the callback route sees for `redirectUri`: a reverse proxy strips `public_url`'s path. */
  routePathOf(redirectUri: string): string {
    const prefix = new URL(this.requireBase()).pathname.replace(/\/+$/, "");
    const path = new URL(redirectUri).pathname;
    return path.startsWith(`${prefix}/`) ? path.slice(prefix.length) : path;
  }

  /** The redirect URI the gateway's Client ID Metadata Document names. */
  get cimdRedirectUri(): string {
    return `${this.requireBase()}${CIMD_CALLBACK_PATH}`;
  }

  /** The gateway's client id where Client ID Metadata Documents are taken: the document's URL. */
  get clientMetadataUrl(): string {
    return this.metadataUrl ?? `${this.requireBase()}${CLIENT_METADATA_PATH}`;
  }

  serverInfo(): Promise<ServerInfo> {
    const cached = this.info;
    if (cached && Date.now() - cached.at < INFO_TTL_MS) return cached.value;
    return this.remember(this.discover());
  }

  /**
   * Discovery again, past the cache: the server refused a user's token (401), which is how a server
   * that moved to another authorization server tells its clients (SEP-2352). At most once per
   * REDISCOVER_EVERY_MS; meanwhile the last answer (or that forced run's failure) is given.
   */
  rediscover(): Promise<ServerInfo> {
    const forced = this.forced;
    if (forced && Date.now() - forced.at < REDISCOVER_EVERY_MS) return this.info?.value ?? forced.value;
    const value = this.remember(this.discover());
    this.forced = { at: Date.now(), value };
    return value;
  }

  /** Discovery's answer, cached for INFO_TTL_MS; a failure is never kept. */
  private remember(value: Promise<ServerInfo>): Promise<ServerInfo> {
    this.info = { at: Date.now(), value };
    value.catch(() => {
      if (this.info?.value === value) this.info = undefined;
    });
    return value;
  }

  /**
   * The client the gateway is at this authorization server: configured, CIMD, or registered. A
   * CIMD client id is a URL any authorization server takes, so an attacker's server could send the
   * user to an honest one with it: the CIMD client is used only where the answer names its issuer
   * (RFC 9207 `iss`), checked at the callback. Elsewhere the gateway registers (its own redirect
   * URI per issuer), and without registration it refuses rather than risk a mix-up.
   */
  async client(info: ServerInfo): Promise<ClientChoice> {
    const sendsIss = info.metadata.authorization_response_iss_parameter_supported === true;
    const configured = await this.configuredClient(info.issuer);
    if (configured) return { client: configured, redirectUri: this.redirectUri, issRequired: sendsIss };
    if (info.metadata.client_id_metadata_document_supported === true && sendsIss)
      return {
        client: { client_id: this.clientMetadataUrl },
        redirectUri: this.cimdRedirectUri,
        issRequired: true,
      };
    if (info.metadata.registration_endpoint) {
      const redirectUri = this.registeredRedirectUri(info.issuer);
      return { client: await this.registered(info, redirectUri), redirectUri, issRequired: sendsIss };
    }
    if (info.metadata.client_id_metadata_document_supported === true)
      throw new UpstreamAuthError(
        `${info.issuer} takes Client ID Metadata Documents but does not say it sends iss (RFC 9207), and offers no registration: set auth.client_id`,
      );
    throw new UpstreamAuthError(
      `${info.issuer} supports neither Client ID Metadata Documents nor dynamic registration: set auth.client_id`,
    );
  }

  /**
   * The configured or registered client named `clientId` at `issuer`, with its secret; undefined
   * for any other, and for a configured client that belongs to another issuer.
   */
  async knownClient(issuer: string, clientId: string): Promise<OAuthClientInformationMixed | undefined> {
    if (this.auth.client_id === clientId) return this.configuredClient(issuer);
    const stored = await this.storedClients(issuer);
    if (stored === undefined) return undefined;
    return [stored.current, ...stored.previous].find((c) => c.client_id === clientId);
  }

  private async storedClients(issuer: string): Promise<StoredClients | undefined> {
    const sealed = await this.store.client(issuer);
    if (sealed === undefined) return undefined;
    const { [PREVIOUS]: previous, ...current } = JSON.parse(
      this.key.open(sealed, `upstream_client:${issuer}`),
    ) as StoredClients["current"] & { [PREVIOUS]?: OAuthClientInformationMixed[] };
    return { current, previous: Array.isArray(previous) ? previous : [] };
  }

  /**
   * `auth.client_id` (and its secret), only at the authorization server it was registered at:
   * `auth.issuer` when set, else the first issuer discovered for this server, recorded in the state
   * store (SEP-2352: credentials are not portable between authorization servers). At any other,
   * undefined: the gateway is a client there the way it is where none is configured.
   */
  private async configuredClient(issuer: string): Promise<OAuthClientInformationMixed | undefined> {
    const a = this.auth;
    if (a.client_id === undefined) return undefined;
    const owner = a.issuer ?? (await this.store.clientIssuer(this.server.name, a.client_id, issuer));
    if (owner !== issuer) {
      if (!this.withheld.has(issuer)) {
        if (this.withheld.size > 100) this.withheld.clear();
        this.withheld.add(issuer);
        this.log.warn(
          { server: this.server.name, issuer, client_issuer: owner },
          "auth.client_id belongs to another authorization server: not sent to this one",
        );
      }
      return undefined;
    }
    return {
      client_id: a.client_id,
      ...(a.client_secret === undefined ? {} : { client_secret: a.client_secret }),
    };
  }

  /**
   * Where the user's browser goes: the authorization URL, and the PKCE verifier to keep. `scopes`
   * are the server's own choice unless a step-up widened them (broker.ts `connectScopes`).
   */
  async start(
    info: ServerInfo,
    choice: ClientChoice,
    state: string,
    scopes: readonly string[] = info.scopes,
  ): Promise<{ url: string; verifier: string }> {
    const { authorizationUrl, codeVerifier } = await startAuthorization(info.issuer, {
      metadata: info.metadata,
      clientInformation: choice.client,
      redirectUrl: choice.redirectUri,
      state,
      resource: info.resource,
      ...(scopes.length > 0 ? { scope: scopes.join(" ") } : {}),
    });
    // The user's browser goes there with the flow's state and client id: the rule every other URL
    // of the dance keeps (auth-fetch.ts), https or http to this machine, holds for it too.
    if (!safeForCredentials(authorizationUrl) || authorizationUrl.username || authorizationUrl.password)
      throw new UpstreamAuthError(
        `the authorization endpoint ${authorizationUrl.origin} needs https (or http to a loopback address)`,
      );
    for (const [name, value] of Object.entries(this.auth.authorize_params))
      authorizationUrl.searchParams.set(name, value);
    return { url: authorizationUrl.href, verifier: codeVerifier };
  }

  /** `redirectUri`: the one the flow's authorization request named (RFC 6749 §4.1.3). */
  async exchange(
    info: ServerInfo,
    client: OAuthClientInformationMixed,
    code: string,
    verifier: string,
    iss: string | undefined,
    redirectUri: string,
  ): Promise<OAuthTokens> {
    return this.step("code exchange", () =>
      exchangeAuthorization(info.issuer, {
        metadata: info.metadata,
        clientInformation: client,
        authorizationCode: code,
        iss,
        codeVerifier: verifier,
        redirectUri,
        resource: info.resource,
        fetchFn: authFetch,
      }),
    );
  }

  async refresh(
    info: ServerInfo,
    client: OAuthClientInformationMixed,
    refreshToken: string,
  ): Promise<OAuthTokens> {
    return this.step("refresh", () =>
      refreshAuthorization(info.issuer, {
        metadata: info.metadata,
        clientInformation: client,
        refreshToken,
        resource: info.resource,
        fetchFn: authFetch,
      }),
    );
  }

  /** RFC 7009 at the upstream, when it has a revocation endpoint; failures are logged, not thrown. */
  async revoke(
    info: ServerInfo,
    client: OAuthClientInformationMixed,
    token: string,
    hint: string,
  ): Promise<boolean> {
    const endpoint =
      this.auth.revocation_endpoint ??
      (info.metadata as { revocation_endpoint?: string }).revocation_endpoint;
    if (!endpoint) return false;
    const body = new URLSearchParams({ token, token_type_hint: hint, client_id: client.client_id });
    const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" };
    if (client.client_secret !== undefined) {
      body.delete("client_id");
      headers.authorization = basicAuthorization(client.client_id, client.client_secret);
    }
    try {
      const res = await authFetch(endpoint, { method: "POST", headers, body: body.toString() });
      return res.ok;
    } catch (err) {
      this.log.warn(
        { server: this.server.name, err: (err as Error).message },
        "upstream token revocation failed",
      );
      return false;
    }
  }

  private async step<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      const code =
        typeof (err as { code?: unknown }).code === "string" ? (err as { code: string }).code : undefined;
      this.log.warn(
        { server: this.server.name, step: what, oauth_error: code },
        "upstream authorization step failed",
      );
      throw new UpstreamAuthError(`${what} failed${code ? ` (${code})` : ""}`, code);
    }
  }

  private async discover(): Promise<ServerInfo> {
    const a = this.auth;
    if (a.authorization_endpoint !== undefined && a.token_endpoint !== undefined) {
      const issuer = a.issuer ?? new URL(a.authorization_endpoint).origin;
      return Object.freeze({
        issuer,
        metadata: {
          issuer,
          authorization_endpoint: a.authorization_endpoint,
          token_endpoint: a.token_endpoint,
          response_types_supported: ["code"],
          code_challenge_methods_supported: ["S256"],
          ...(a.revocation_endpoint ? { revocation_endpoint: a.revocation_endpoint } : {}),
        } as AuthorizationServerMetadata,
        resource: a.resource ?? this.server.url,
        scopes: a.scopes ?? [],
      });
    }
    let challenge: ReturnType<typeof extractWWWAuthenticateParams> = {};
    let scope401: string[] = [];
    try {
      const res = await authFetch(this.server.url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 0, method: "ping" }),
      });
      if (res.status === 401) {
        // resource_metadata as MCP clients read it; the scope by the strict reader (scope-challenge.ts).
        challenge = extractWWWAuthenticateParams(res);
        scope401 = challengedScopes(res.headers.get("www-authenticate"));
      }
    } catch (err) {
      throw new UpstreamAuthError(`the server cannot be reached for discovery: ${(err as Error).message}`);
    }
    let found: Awaited<ReturnType<typeof discoverOAuthServerInfo>>;
    try {
      found = await discoverOAuthServerInfo(this.server.url, {
        ...(challenge.resourceMetadataUrl ? { resourceMetadataUrl: challenge.resourceMetadataUrl } : {}),
        fetchFn: authFetch,
      });
    } catch (err) {
      throw new UpstreamAuthError(`authorization server discovery failed: ${(err as Error).message}`);
    }
    const metadata = found.authorizationServerMetadata;
    if (!metadata) throw new UpstreamAuthError("the authorization server publishes no metadata");
    // MCP clients refuse an authorization server that does not say it supports PKCE S256.
    if (!metadata.code_challenge_methods_supported?.includes("S256"))
      throw new UpstreamAuthError("the authorization server does not support PKCE S256");
    const resource = a.resource ?? this.resourceOf(found.resourceMetadata?.resource);
    let scopes =
      a.scopes ?? (scope401.length > 0 ? scope401 : found.resourceMetadata?.scopes_supported || []);
    // A refresh token lets the connection outlive one access token: asked for where it is offered.
    if (
      a.scopes === undefined &&
      metadata.scopes_supported?.includes("offline_access") &&
      !scopes.includes("offline_access")
    )
      scopes = [...scopes, "offline_access"];
    return Object.freeze({ issuer: metadata.issuer, metadata, resource, scopes: Object.freeze([...scopes]) });
  }

  /**
   * RFC 9728 §3.3: the metadata must be about this server, else it is someone else's. The value is
   * then sent exactly as published (a URL parser would add "/" to a pathless one).
   */
  private resourceOf(declared: string | undefined): string {
    if (declared === undefined) return this.server.url;
    const want = new URL(this.server.url);
    const got = new URL(declared);
    const path = got.pathname.endsWith("/") ? got.pathname : `${got.pathname}/`;
    if (got.origin !== want.origin || !`${want.pathname}/`.startsWith(path))
      throw new UpstreamAuthError(`the protected-resource metadata is for ${got.href}, not this server`);
    return declared;
  }

  /**
   * The client registered at `info`'s issuer (RFC 7591), stored per issuer and sealed; registered
   * again when the stored one's redirect URIs are not exactly `redirectUri` (made before redirect
   * URIs were per issuer, or for another public URL). The client it replaces is kept (a few), so
   * that connections made with it still refresh and revoke with its credentials. An authorization
   * server that registers other redirect URIs than asked, or more, is refused: a code of its could
   * then come back at another issuer's path.
   */
  private async registered(info: ServerInfo, redirectUri: string): Promise<OAuthClientInformationMixed> {
    const stored = await this.storedClients(info.issuer);
    if (stored !== undefined && onlyRedirect(stored.current, redirectUri)) return stored.current;
    const client = await this.step("dynamic client registration", () =>
      registerClient(info.issuer, {
        metadata: info.metadata,
        clientMetadata: this.clientMetadata(redirectUri),
        fetchFn: authFetch,
      }),
    );
    if (!onlyRedirect(client, redirectUri))
      throw new UpstreamAuthError(`${info.issuer} registered other redirect URIs than the gateway asked for`);
    const previous = stored ? [stored.current, ...stored.previous].slice(0, KEEP_PREVIOUS) : [];
    await this.store.saveClient(
      info.issuer,
      this.key.seal(JSON.stringify({ ...client, [PREVIOUS]: previous }), `upstream_client:${info.issuer}`),
    );
    this.log.info(
      { server: this.server.name, issuer: info.issuer },
      "registered at the upstream authorization server",
    );
    return client;
  }

  /** The gateway's Client ID Metadata Document, as served at CLIENT_METADATA_PATH. */
  cimdDocument() {
    return { client_id: this.clientMetadataUrl, ...this.clientMetadata(this.cimdRedirectUri) };
  }

  /** What the gateway says about itself as a client: the CIMD document and the DCR request alike. */
  clientMetadata(redirectUri: string) {
    return {
      client_name: "mcp-warden",
      redirect_uris: [redirectUri],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      // OpenID registration allows http redirect URIs on loopback only for native clients (RFC 8252).
      application_type: redirectUri.startsWith("http:") && isLoopbackUrl(redirectUri) ? "native" : "web",
    };
  }

  private requireBase(): string {
    if (this.base === undefined) throw new UpstreamAuthError("the gateway's public URL is not known yet");
    return this.base;
  }
}

/** Whether `client` was registered with `redirectUri` and no other (the SDK refuses an answer without any). */
function onlyRedirect(client: { redirect_uris?: unknown }, redirectUri: string): boolean {
  const uris = client.redirect_uris;
  return Array.isArray(uris) && uris.length === 1 && uris[0] === redirectUri;
}
