import Provider, {
  errors,
  type ClientMetadata,
  type Configuration,
  type Grant,
  type KoaContextWithOIDC,
} from "oidc-provider";
import type { AuthClient, Config } from "../config/types.js";
import { SIGNING_ALG, type KeyStore } from "../auth/keys.js";
import type { RememberedConsents } from "./consents.js";
import type { OAuthModelStore } from "./models.js";
import { messagePage } from "./pages.js";
import { POLICY_PROPERTY, type ScopePolicy } from "./policy.js";

/** Paths of oidc-provider's endpoints, relative to the issuer (all under /oauth). */
export const ROUTES = {
  authorization: "/oauth/authorize",
  token: "/oauth/token",
  registration: "/oauth/register",
  revocation: "/oauth/revoke",
  jwks: "/oauth/jwks",
  // Not enabled below; placed under /oauth so that nothing of the provider lands elsewhere.
  introspection: "/oauth/introspect",
  end_session: "/oauth/session/end",
  userinfo: "/oauth/userinfo",
  pushed_authorization_request: "/oauth/par",
  device_authorization: "/oauth/device/auth",
  code_verification: "/oauth/device",
  backchannel_authentication: "/oauth/backchannel",
  challenge: "/oauth/challenge",
  credential: "/oauth/credential",
} as const;

export const INTERACTION_PATH = "/oauth/interaction";
const AUTHORIZATION_CODE_TTL_S = 60;
const INTERACTION_TTL_S = 15 * 60;
const SESSION_TTL_S = 8 * 60 * 60;

export interface ProviderParts {
  readonly config: Config;
  /** `auth.clients` and the built-in admin console client. */
  readonly clients: readonly AuthClient[];
  readonly issuer: string;
  /** The issuer's path ("" at the root), prefixed to interaction URLs. */
  readonly prefix: string;
  readonly keys: KeyStore;
  readonly policy: ScopePolicy;
  readonly store: OAuthModelStore;
  readonly consents: RememberedConsents;
}

const now = () => Math.floor(Date.now() / 1000);

/**
 * The oidc-provider instance: OAuth 2.1 authorization code with PKCE S256 only, RFC 8707
 * resource indicators required and bound into JWT access tokens (RFC 9068), dynamic registration
 * (RFC 7591) and Client ID Metadata Documents, rotating refresh tokens whose reuse revokes the
 * grant, revocation (RFC 7009), client credentials for configured confidential clients.
 */
export function createProvider(parts: ProviderParts): Provider {
  const { config, keys, policy, store, consents } = parts;
  const auth = config.auth;
  const secure = parts.issuer.startsWith("https:");

  const configuration: Configuration = {
    adapter: store.adapterFactory(),
    jwks: keys.privateJwks as unknown as Configuration["jwks"],
    clients: parts.clients.map(clientMetadata),
    findAccount: (_ctx, sub) => {
      const user = policy.user(sub);
      return user ? { accountId: user.name, claims: () => ({ sub: user.name }) } : undefined;
    },
    routes: ROUTES,
    interactions: {
      url: (_ctx, interaction) => `${parts.prefix}${INTERACTION_PATH}/${interaction.uid}`,
    },
    cookies: {
      names: secure
        ? {
            session: "__Host-warden-session",
            interaction: "__Secure-warden-interaction",
            resume: "__Secure-warden-resume",
          }
        : { session: "warden-session", interaction: "warden-interaction", resume: "warden-resume" },
      long: { httpOnly: true, sameSite: "lax" },
      short: { httpOnly: true, sameSite: "lax" },
    },
    responseTypes: ["code"],
    clientAuthMethods: ["none", "client_secret_basic", "client_secret_post"],
    // PKCE for every authorization code request, public or confidential; only S256 exists in v9.
    pkce: { required: () => true },
    allowOmittingSingleRegisteredRedirectUri: false,
    enabledJWA: { idTokenSigningAlgValues: [SIGNING_ALG] },
    clientDefaults: { id_token_signed_response_alg: SIGNING_ALG },
    scopes: ["openid", "offline_access"],
    features: {
      devInteractions: { enabled: false },
      // DPoP-bound tokens would be accepted as plain bearer tokens by the gateway: not offered.
      dPoP: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
      rpInitiatedLogout: { enabled: false },
      userinfo: { enabled: false },
      introspection: { enabled: false },
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
      registration: { enabled: true, initialAccessToken: false, issueRegistrationAccessToken: false },
      clientIdMetadataDocument: {
        enabled: true,
        ack: "draft-02",
        // oidc-provider fetches only https URLs, refuses private and loopback addresses, bounds
        // the time and size; the document then goes through the same client policy as DCR.
        allowFetch: (_ctx, clientId) => clientId.startsWith("https://"),
        allowClient: () => true,
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: (_ctx, _client, oneOf) => {
          if (oneOf) return oneOf;
          throw new errors.InvalidTarget("the resource parameter is required");
        },
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, indicator, client) => {
          const resource = policy.resource(indicator);
          if (!resource) throw new errors.InvalidTarget("resource is not an MCP endpoint of this gateway");
          // The admin API is a resource only for the clients that may carry warden:admin.
          if (policy.isAdminResource(indicator) && !policy.mayHoldAdmin(client.clientId))
            throw new errors.InvalidTarget("this client may not ask for the admin API");
          const clientCredentials =
            ctx.oidc.route === "token" && ctx.oidc.params?.grant_type === "client_credentials";
          const scope = clientCredentials
            ? [...policy.clientCeiling(client.clientId, indicator)]
            : [...resource.scopes];
          return {
            scope: scope.join(" "),
            audience: resource.url,
            accessTokenFormat: "jwt",
            accessTokenTTL: auth.accessTokenTtlS,
            jwt: { sign: { alg: SIGNING_ALG, kid: keys.current.kid } },
          };
        },
      },
    },
    extraClientMetadata: {
      properties: [POLICY_PROPERTY],
      validator: (ctx, key, _value, metadata) => {
        if (key !== POLICY_PROPERTY) return;
        // The cap on registered clients is checked before this, in index.ts (it may need a query).
        policy.checkClientMetadata(metadata as Record<string, unknown>);
      },
    },
    formats: {
      customizers: {
        // Last line of defence, whatever the grant says: a token names a configured resource and
        // carries only scopes the user (or configured client) holds there now.
        jwt: (_ctx, token, jwt) => {
          const payload = jwt.payload;
          const aud = typeof payload.aud === "string" ? payload.aud : undefined;
          if (!aud || !policy.resource(aud)) throw new errors.InvalidTarget("unknown audience");
          const ceiling =
            token.kind === "ClientCredentials"
              ? policy.clientCeiling(token.clientId as string, aud)
              : policy.userCeiling(String(token.accountId), token.clientId as string, aud);
          const scope = String(payload.scope ?? "")
            .split(" ")
            .filter((s) => s && ceiling.has(s));
          if (scope.length > 0) payload.scope = scope.join(" ");
          else delete payload.scope;
        },
      },
    },
    ttl: {
      AccessToken: auth.accessTokenTtlS,
      ClientCredentials: auth.accessTokenTtlS,
      AuthorizationCode: AUTHORIZATION_CODE_TTL_S,
      Grant: auth.grantTtlS,
      Interaction: INTERACTION_TTL_S,
      Session: Math.min(SESSION_TTL_S, auth.grantTtlS),
      IdToken: auth.accessTokenTtlS,
      // A refresh token never outlives its grant.
      RefreshToken: (ctx) => {
        const grant = ctx?.oidc?.entities?.Grant as Grant | undefined;
        const left = typeof grant?.exp === "number" ? grant.exp - now() : auth.refreshTokenTtlS;
        return Math.max(1, Math.min(auth.refreshTokenTtlS, left));
      },
    },
    rotateRefreshToken: true,
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed("refresh_token"),
    // Refresh tokens belong to the grant, not to the browser session that created it.
    expiresWithSession: () => false,
    loadExistingGrant: (ctx) => loadExistingGrant(ctx, policy, consents),
    clientBasedCORS: (_ctx, origin, client) =>
      client.clientAuthMethod === "none" &&
      (client.redirectUris ?? []).some((uri) => safeOrigin(uri) === origin),
    renderError: (ctx, out) => {
      ctx.type = "html";
      const description = out.error_description ?? "The request could not be processed.";
      ctx.body = messagePage("Something went wrong", `${out.error}: ${description}`);
    },
  };

  return new Provider(parts.issuer, configuration);
}

/** A configured client as oidc-provider metadata (checked at start-up by `checkConfiguredClients`). */
function clientMetadata(client: AuthClient): ClientMetadata {
  const code = client.grantTypes.includes("authorization_code");
  return {
    client_id: client.clientId,
    ...(client.clientSecret !== undefined ? { client_secret: client.clientSecret } : {}),
    client_name: client.clientId,
    token_endpoint_auth_method: client.clientSecret !== undefined ? "client_secret_basic" : "none",
    grant_types: [...client.grantTypes],
    response_types: code ? ["code"] : [],
    redirect_uris: [...client.redirectUris],
  };
}

/**
 * The grant an authorization can build on: the one just consented to, the browser session's, or
 * the one this user gave this client before (remembered consent). Brought in line with today's
 * policy: scopes the user no longer holds are dropped, and scopes once withheld that the user now
 * holds are asked again.
 */
async function loadExistingGrant(
  ctx: KoaContextWithOIDC,
  policy: ScopePolicy,
  consents: RememberedConsents,
): Promise<Grant | undefined> {
  const client = ctx.oidc.client;
  const accountId = ctx.oidc.session?.accountId;
  if (!client || !accountId) return undefined;
  const result = ctx.oidc.result as { consent?: { grantId?: unknown } } | undefined;
  const candidates = [
    result?.consent?.grantId,
    ctx.oidc.session?.grantIdFor(client.clientId),
    await consents.grantFor(accountId, client.clientId),
  ];
  for (const id of candidates) {
    if (typeof id !== "string" || !id) continue;
    const grant = await ctx.oidc.provider.Grant.find(id);
    if (!grant || grant.accountId !== accountId || grant.clientId !== client.clientId) continue;
    alignGrant(grant, policy, accountId, client.clientId);
    return grant;
  }
  return undefined;
}

function alignGrant(grant: Grant, policy: ScopePolicy, accountId: string, clientId: string): void {
  const resources = grant.resources as Record<string, string> | undefined;
  const rejected = (grant.rejected as { resources?: Record<string, string> } | undefined)?.resources;
  for (const table of [resources, rejected]) {
    if (!table) continue;
    for (const [resource, scope] of Object.entries(table)) {
      const ceiling = policy.userCeiling(accountId, clientId, resource);
      const keep = scope
        .split(" ")
        .filter((s) => s && (table === resources ? ceiling.has(s) : !ceiling.has(s)));
      if (keep.length > 0) table[resource] = keep.join(" ");
      else delete table[resource];
    }
  }
}

function safeOrigin(uri: string): string | undefined {
  try {
    return new URL(uri).origin;
  } catch {
    return undefined;
  }
}
