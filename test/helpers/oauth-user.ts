// In-process pieces of per-user upstream OAuth for unit tests: the gateway as an OAuth client of
// one `oauth_user` server (UpstreamAuthorization) on an in-memory state store, and an
// authorization server's discovered metadata.
import type { AuthorizationServerMetadata } from "@modelcontextprotocol/client";
import type { HttpServerConfig } from "../../src/config/types.js";
import type { Logger } from "../../src/log.js";
import type { StateKey } from "../../src/state/sealed.js";
import { StateStore } from "../../src/state/store.js";
import {
  UpstreamAuthorization,
  type OAuthUserAuth,
  type ServerInfo,
} from "../../src/upstreams/oauth-user/authorization.js";
import { SqliteConnectionStore, type ConnectionStore } from "../../src/upstreams/oauth-user/store.js";

/** The server `gh` at `${origin}/mcp`, with `auth` over the defaults, its public URL set to `base`. */
export function upstreamAuthorization(opts: {
  origin: string;
  key: StateKey;
  log: Logger;
  base: string;
  auth?: Partial<OAuthUserAuth>;
  store?: ConnectionStore;
  clientMetadataUrl?: string;
}): UpstreamAuthorization {
  const auth = opts.auth ?? {};
  const config = { name: "gh", url: `${opts.origin}/mcp`, auth: { type: "oauth_user", ...auth } };
  const a = new UpstreamAuthorization(
    config as unknown as HttpServerConfig,
    { type: "oauth_user", authorize_params: {}, ...auth } as OAuthUserAuth,
    opts.store ?? new SqliteConnectionStore(StateStore.open(":memory:").db),
    opts.key,
    opts.log,
    opts.clientMetadataUrl,
  );
  a.setBase(opts.base);
  return a;
}

/** What discovery gives for the authorization server at `${origin}/${as}`, with `extra` metadata. */
export function serverInfo(
  origin: string,
  as: string,
  extra: Partial<AuthorizationServerMetadata> = {},
): ServerInfo {
  return {
    issuer: `${origin}/${as}`,
    metadata: {
      issuer: `${origin}/${as}`,
      authorization_endpoint: `${origin}/${as}/authorize`,
      token_endpoint: `${origin}/${as}/token`,
      response_types_supported: ["code"],
      code_challenge_methods_supported: ["S256"],
      ...extra,
    },
    resource: `${origin}/mcp`,
    scopes: [],
  };
}
