import { AsyncLocalStorage } from "node:async_hooks";
import type Provider from "oidc-provider";
import type { KoaContextWithOIDC } from "oidc-provider";
import type { Logger } from "../log.js";
import type { AccessTokenRecords } from "./access-tokens.js";
import type { GrantRevocation } from "./models.js";

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

// Access-token records still being written during the current request (Postgres answers later
// than the provider's synchronous "issued" event).
const pendingRecords = new AsyncLocalStorage<Promise<void>[]>();

/** Records one authorization-server event in the audit log (ids, client, user, scopes; never a token). */
export type AuthAudit = (action: string, status: "ok" | "denied", fields: Record<string, unknown>) => void;

/**
 * Security events of the authorization server, logged (never a token or secret: only ids, the
 * client, the user, scopes and audiences), and issued JWT access tokens recorded for revocation.
 */
export function observeProvider(
  provider: Provider,
  log: Logger,
  registry: AccessTokenRecords,
  audit: AuthAudit,
): void {
  const issued = (token: IssuedToken) => {
    const recorded = registry.record({
      jti: token.jti,
      grantId: token.grantId,
      clientId: token.clientId ?? "",
      accountId: token.accountId,
      expiresAt: Date.now() + token.expiration * 1000,
    });
    if (recorded instanceof Promise) {
      const pending = pendingRecords.getStore();
      if (pending) pending.push(recorded);
      else recorded.catch((err: unknown) => unrecorded(log, token.jti, err));
    }
    const fields = {
      kind: token.kind === "ClientCredentials" ? "client_credentials" : "access_token",
      client_id: token.clientId,
      sub: token.accountId ?? token.clientId,
      aud: token.aud,
      scope: token.scope,
      grant_type: token.gty,
      jti: token.jti,
    };
    log.info({ event: "token_issued", ...fields }, "access token issued");
    audit("token_issued", "ok", fields);
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
      audit("token_reuse", "denied", fields);
    } else {
      log.info({ event: "token_refused", ...fields }, "token request refused");
      audit("token_refused", "denied", fields);
    }
  });
  provider.on("grant.revoked", (ctx: KoaContextWithOIDC, grantId: string) => {
    const fields = { grant_id: grantId, route: ctx.oidc?.route, client_id: ctx.oidc?.client?.clientId };
    log.info({ event: "grant_revoked", ...fields }, "grant revoked");
    audit("grant_revoked", "ok", fields);
  });
  provider.on("authorization.error", (ctx: KoaContextWithOIDC, err: ProviderError) => {
    const fields = {
      client_id: ctx.oidc?.client?.clientId ?? ctx.oidc?.params?.client_id,
      error: err.error,
      detail: err.error_detail ?? err.error_description,
    };
    log.info({ event: "authorization_refused", ...fields }, "authorization request refused");
    audit("authorization_refused", "denied", fields);
  });
  provider.on("registration_create.success", (_ctx: KoaContextWithOIDC, client) => {
    const fields = {
      client_id: client.clientId,
      client_name: client.clientName,
      redirect_uris: client.redirectUris,
    };
    log.info({ event: "client_registered", ...fields }, "client registered");
    audit("client_registered", "ok", fields);
  });
  const refused = (event: string) => (_ctx: KoaContextWithOIDC, err: ProviderError) => {
    const fields = { error: err.error, detail: err.error_detail ?? err.error_description };
    log.info({ event, ...fields }, "request refused");
    audit(event, "denied", fields);
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

/**
 * Holds a response back until the access tokens it carries are recorded, so that revoking their
 * grant reaches them on every instance. A token that could not be recorded is not handed out: the
 * answer becomes 503 `temporarily_unavailable` (a rotated refresh token is then lost, and the
 * client signs in again), never a token that revocation cannot reach.
 */
export function awaitTokenRecords(log: Logger) {
  return async function awaitTokenRecords(ctx: KoaContextWithOIDC, next: () => Promise<void>) {
    const pending: Promise<void>[] = [];
    try {
      await pendingRecords.run(pending, next);
    } catch (err) {
      for (const p of pending) p.catch((e: unknown) => unrecorded(log, undefined, e));
      throw err;
    }
    if (pending.length === 0) return;
    const failed = (await Promise.allSettled(pending)).find((r) => r.status === "rejected");
    if (!failed) return;
    unrecorded(log, undefined, failed.reason, true);
    ctx.status = 503;
    ctx.set("retry-after", "5");
    ctx.set("cache-control", "no-store");
    ctx.body = {
      error: "temporarily_unavailable",
      error_description: "the authorization server's state store is unavailable",
    };
  };
}

function unrecorded(log: Logger, jti: string | undefined, err: unknown, withheld = false): void {
  log.error(
    { event: "server_error", jti, withheld, err: err instanceof Error ? err.message : String(err) },
    "an access token could not be recorded for revocation",
  );
}

export function logGrantRevocation(log: Logger, audit: AuthAudit, revocation: GrantRevocation): void {
  const fields = {
    grant_id: revocation.grantId,
    reason: revocation.reason,
    client_id: revocation.clientId,
    user: revocation.accountId,
    tokens: revocation.tokens,
    access_tokens: revocation.accessTokens,
  };
  log.warn({ event: "grant_revoked", ...fields }, "grant family revoked");
  audit("grant_revoked", "ok", fields);
}
