import type { PostgresState } from "../state/postgres.js";
import type { Db, StateStore } from "../state/store.js";
import type { Awaitable } from "./models.js";

/** What is recorded of a JWT access token when it is issued: never the token itself. */
export interface IssuedAccessToken {
  readonly jti: string;
  readonly grantId: string | undefined;
  readonly clientId: string;
  readonly accountId: string | undefined;
  readonly expiresAt: number;
}

/**
 * The registry of JWT access tokens the embedded issuer has minted. JWTs verify offline, so
 * revoking one (RFC 7009, or its grant being revoked after refresh-token reuse) only takes effect
 * where the verifier asks `isRevoked(jti)`. A token minted while its grant was being revoked (a
 * concurrent refresh that lost the race to a reuse) is recorded already revoked.
 */
export interface AccessTokenRecords {
  record(token: IssuedAccessToken): Awaitable<void>;
  /** Marks one token revoked (RFC 7009 on a JWT access token); `expiresAt` bounds the record. */
  revokeOne(jti: string, clientId: string, expiresAt: number): Awaitable<void>;
  isRevoked(jti: string): Awaitable<boolean>;
}

// Kept a little past the token's own expiry so that a verifier's clock leeway is covered.
export const RETENTION_MARGIN_MS = 5 * 60 * 1000;

/** The registry in the SQLite state store (migration 2, `oauth_access_tokens`). */
export class AccessTokenRegistry implements AccessTokenRecords {
  private readonly insert;
  private readonly revoke;
  private readonly lookup;

  constructor(db: Db) {
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

  revokeOne(jti: string, clientId: string, expiresAt: number): void {
    this.revoke.run({ jti, clientId, now: Date.now(), expiresAt: expiresAt + RETENTION_MARGIN_MS });
  }

  isRevoked(jti: string): boolean {
    const row = this.lookup.get(jti) as { revoked_at: number | null } | undefined;
    return row?.revoked_at != null;
  }
}

/** The registry in Postgres (`warden_oauth_access_tokens`), shared by every instance. */
export class PostgresAccessTokenRegistry implements AccessTokenRecords {
  constructor(private readonly pg: PostgresState) {}

  async record(token: IssuedAccessToken): Promise<void> {
    // FOR KEY SHARE on the grant's row waits for a revocation of the grant in progress (which
    // locks it FOR UPDATE) and then finds it gone; or holds that revocation back until this row
    // is in, where the revocation's UPDATE then finds it (store-postgres.ts).
    await this.pg.query(
      `WITH g AS (SELECT 1 FROM warden_oauth_models WHERE model = 'Grant' AND key = $2 FOR KEY SHARE)
       INSERT INTO warden_oauth_access_tokens
         (jti, grant_id, client_id, account_id, issued_at, expires_at, revoked_at)
       VALUES ($1, $2, $3, $4, $5, $6,
         CASE WHEN $2::text IS NOT NULL AND NOT EXISTS (SELECT 1 FROM g) THEN $5::bigint END)
       ON CONFLICT (jti) DO NOTHING`,
      [
        token.jti,
        token.grantId ?? null,
        token.clientId,
        token.accountId ?? null,
        Date.now(),
        token.expiresAt + RETENTION_MARGIN_MS,
      ],
    );
  }

  async revokeOne(jti: string, clientId: string, expiresAt: number): Promise<void> {
    await this.pg.query(
      `INSERT INTO warden_oauth_access_tokens (jti, client_id, issued_at, expires_at, revoked_at)
       VALUES ($1, $2, $3, $4, $3)
       ON CONFLICT (jti) DO UPDATE SET revoked_at = COALESCE(warden_oauth_access_tokens.revoked_at, $3)`,
      [jti, clientId, Date.now(), expiresAt + RETENTION_MARGIN_MS],
    );
  }

  async isRevoked(jti: string): Promise<boolean> {
    const r = await this.pg.query<{ revoked_at: number | null }>(
      "SELECT revoked_at FROM warden_oauth_access_tokens WHERE jti = $1",
      [jti],
      "warden_access_token_revoked",
    );
    return r.rows[0]?.revoked_at != null;
  }
}

/** The registry for this deployment: Postgres when instances share it, else the state store. */
export function accessTokenRecords(
  state: StateStore,
  postgres: PostgresState | undefined,
): AccessTokenRecords {
  return postgres ? new PostgresAccessTokenRegistry(postgres) : new AccessTokenRegistry(state.db);
}

/**
 * For the resource server: whether a verified embedded-issuer token (by its `jti`) was revoked
 * since it was issued. Tokens this issuer never recorded (for example from `mcp-warden token`) are
 * not revoked. Answers at once from SQLite; from Postgres it is a lookup per request (no cache,
 * so a revocation holds on every instance from the next request), and a lookup that fails
 * rejects, which the verifier turns into a refusal.
 */
export function createRevocationCheck(state: StateStore): (jti: string) => boolean;
export function createRevocationCheck(
  state: StateStore,
  postgres: PostgresState | undefined,
): (jti: string) => Awaitable<boolean>;
export function createRevocationCheck(
  state: StateStore,
  postgres?: PostgresState,
): (jti: string) => Awaitable<boolean> {
  const registry = accessTokenRecords(state, postgres);
  return (jti) => registry.isRevoked(jti);
}
