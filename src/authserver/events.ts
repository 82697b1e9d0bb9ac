import type Provider from "oidc-provider";
import type { KoaContextWithOIDC } from "oidc-provider";
import type { Logger } from "../log.js";
import type { AccessTokenRegistry } from "./access-tokens.js";
import type { GrantRevocation } from "./store.js";

interface ProviderError {
  error?: string;
  error_description?: string;
  error_detail?: string;
  message?: string;
}

interface IssuedToken {
  kind: string;
  jti: string;
  grantId?: string;
  clientId?: string;
  accountId?: string;
  aud?: string | string[];
  scope?: string;
  gty?: string;
  expiration: number;
}

const REUSE = /(refresh token|authorization code) already (used|consumed)/;

/**
 * Security events of the authorization server, logged (never a token or secret: only ids, the
 * client, the user, scopes and audiences), and issued JWT access tokens recorded for revocation.
 */
export function observeProvider(provider: Provider, log: Logger, registry: AccessTokenRegistry): void {
  const issued = (token: IssuedToken) => {
    registry.record({
      jti: token.jti,
      grantId: token.grantId,
      clientId: token.clientId ?? "",
      accountId: token.accountId,
      expiresAt: Date.now() + token.expiration * 1000,
    });
    log.info(
      {
        event: "token_issued",
        kind: token.kind === "ClientCredentials" ? "client_credentials" : "access_token",
        client_id: token.clientId,
        sub: token.accountId ?? token.clientId,
        aud: token.aud,
        scope: token.scope,
        grant_type: token.gty,
        jti: token.jti,
      },
      "access token issued",
    );
  };
  provider.on("access_token.issued", issued);
  provider.on("client_credentials.issued", issued);

  provider.on("grant.error", (ctx: KoaContextWithOIDC, err: ProviderError) => {
    const detail = err.error_detail ?? err.error_description;
    const fields = {
      client_id: ctx.oidc?.client?.clientId,
      grant_type: ctx.oidc?.params?.grant_type,
      error: err.error,
      detail,
    };
    if (detail && REUSE.test(detail)) {
      log.warn(
        { event: "token_reuse", ...fields },
        "reuse of a one-time token detected: its grant is revoked",
      );
    } else {
      log.info({ event: "token_refused", ...fields }, "token request refused");
    }
  });
  provider.on("grant.revoked", (ctx: KoaContextWithOIDC, grantId: string) => {
    log.info(
      {
        event: "grant_revoked",
        grant_id: grantId,
        route: ctx.oidc?.route,
        client_id: ctx.oidc?.client?.clientId,
      },
      "grant revoked",
    );
  });
  provider.on("authorization.error", (ctx: KoaContextWithOIDC, err: ProviderError) => {
    log.info(
      {
        event: "authorization_refused",
        client_id: ctx.oidc?.client?.clientId ?? ctx.oidc?.params?.client_id,
        error: err.error,
        detail: err.error_detail ?? err.error_description,
      },
      "authorization request refused",
    );
  });
  provider.on("registration_create.success", (_ctx: KoaContextWithOIDC, client) => {
    log.info(
      {
        event: "client_registered",
        client_id: client.clientId,
        client_name: client.clientName,
        redirect_uris: client.redirectUris,
      },
      "client registered",
    );
  });
  const refused = (event: string) => (_ctx: KoaContextWithOIDC, err: ProviderError) => {
    log.info(
      { event, error: err.error, detail: err.error_detail ?? err.error_description },
      "request refused",
    );
  };
  provider.on("registration_create.error", refused("registration_refused"));
  provider.on("revocation.error", refused("revocation_refused"));
  provider.on("server_error", (ctx: KoaContextWithOIDC, err: Error) => {
    log.error(
      { event: "server_error", route: ctx.oidc?.route, err: err.message },
      "authorization server error",
    );
  });
}

export function logGrantRevocation(log: Logger, revocation: GrantRevocation): void {
  log.warn(
    {
      event: "grant_revoked",
      grant_id: revocation.grantId,
      reason: revocation.reason,
      client_id: revocation.clientId,
      user: revocation.accountId,
      tokens: revocation.tokens,
      access_tokens: revocation.accessTokens,
    },
    "grant family revoked",
  );
}
