/**
 * A state store that fails (Postgres down, a disk error) while oidc-provider handles a request:
 * the library answers any unexpected error as 500 `server_error`. The adapter wraps store errors
 * as StoreUnavailable, and this middleware turns the 500 they caused into what it is: 503
 * `temporarily_unavailable` (RFC 6749 §4.1.2.1) with Retry-After, so a client retries instead of
 * treating its request as wrong. Nothing is granted meanwhile: the request has already failed.
 */
import type Provider from "oidc-provider";
import type { KoaContextWithOIDC } from "oidc-provider";

export class StoreUnavailable extends Error {
  constructor(cause: unknown) {
    super(
      `authorization server state store unavailable: ${cause instanceof Error ? cause.message : String(cause)}`,
    );
    this.name = "StoreUnavailable";
  }
}

const FLAG = Symbol("warden store unavailable");
const RETRY_AFTER_S = "5";

export function storeOutage(
  provider: Provider,
): (ctx: KoaContextWithOIDC, next: () => Promise<void>) => Promise<void> {
  provider.on("server_error", (ctx: KoaContextWithOIDC, err: unknown) => {
    if (err instanceof StoreUnavailable) (ctx.state as Record<symbol, boolean>)[FLAG] = true;
  });
  return async (ctx, next) => {
    await next();
    if (ctx.status !== 500 || !(ctx.state as Record<symbol, boolean>)[FLAG]) return;
    ctx.status = 503;
    ctx.set("retry-after", RETRY_AFTER_S);
    if (ctx.body !== null && typeof ctx.body === "object" && !Buffer.isBuffer(ctx.body)) {
      ctx.body = {
        error: "temporarily_unavailable",
        error_description: "the authorization server's state store is unavailable; try again shortly",
      };
    }
  };
}
