import type { Db, StateStore } from "../state/store.js";

/** What is recorded of a JWT access token when it is issued: never the token itself. */
export interface IssuedAccessToken {
  readonly jti: string;
  readonly grantId: string | undefined;
  readonly clientId: string;
  readonly accountId: string | undefined;
  readonly expiresAt: number;
}

// Kept a little past the token's own expiry so that a verifier's clock leeway is covered.
const RETENTION_MARGIN_MS = 5 * 60 * 1000;

/**
 * The registry of JWT access tokens the embedded issuer has minted (migration 2,
 * `oauth_access_tokens`). JWTs verify offline, so revoking one (RFC 7009, or its grant being
 * revoked after refresh-token reuse) only takes effect where the verifier asks `isRevoked(jti)`.
 */
export class AccessTokenRegistry {
  private readonly insert;
  private readonly revoke;
  private readonly lookup;

  constructor(db: Db) {
    // A token minted while its grant was being revoked (a concurrent refresh that lost the race
    // to a reuse) is born revoked.
    this.insert = db.prepare(
      `INSERT OR IGNORE INTO oauth_access_tokens
         (jti, grant_id, client_id, account_id, issued_at, expires_at, revoked_at)
       VALUES (@jti, @grantId, @clientId, @accountId, @now, @expiresAt,
         CASE WHEN @grantId IS NOT NULL AND NOT EXISTS
           (SELECT 1 FROM oauth_models WHERE model = 'Grant' AND key = @grantId) THEN @now END)`,
    );
    this.revoke = db.prepare(
      `INSERT INTO oauth_access_tokens (jti, client_id, issued_at, expires_at, revoked_at)
       VALUES (@jti, @clientId, @now, @expiresAt, @now)
       ON CONFLICT (jti) DO UPDATE SET revoked_at = COALESCE(revoked_at, @now)`,
    );
    this.lookup = db.prepare("SELECT revoked_at FROM oauth_access_tokens WHERE jti = ?");
  }

  record(token: IssuedAccessToken): void {
    this.insert.run({
      jti: token.jti,
      grantId: token.grantId ?? null,
      clientId: token.clientId,
      accountId: token.accountId ?? null,
      now: Date.now(),
      expiresAt: token.expiresAt + RETENTION_MARGIN_MS,
    });
  }

  /** Marks one token revoked (RFC 7009 on a JWT access token); `expiresAt` bounds the record. */
  revokeOne(jti: string, clientId: string, expiresAt: number): void {
    this.revoke.run({ jti, clientId, now: Date.now(), expiresAt: expiresAt + RETENTION_MARGIN_MS });
  }

  isRevoked(jti: string): boolean {
    const row = this.lookup.get(jti) as { revoked_at: number | null } | undefined;
    return row?.revoked_at != null;
  }
}

/**
 * For the resource server: a synchronous check that a verified embedded-issuer token (by its
 * `jti`) has not been revoked since it was issued. Tokens this issuer never recorded (for example
 * from `mcp-warden token`) are not revoked.
 */
export function createRevocationCheck(state: StateStore): (jti: string) => boolean {
  const registry = new AccessTokenRegistry(state.db);
  return (jti) => registry.isRevoked(jti);
}
