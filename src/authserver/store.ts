import { errors, type AdapterFactory, type AdapterPayload } from "oidc-provider";
import { StateKeyError, type StateKey } from "../state/sealed.js";
import type { Db } from "../state/store.js";
import { ModelsAtRest, type EarlierRow } from "./at-rest.js";
import {
  ABANDONED_CLIENT_MS,
  GRANT_SOURCES,
  grantInfo,
  MAX_LISTED_GRANTS,
  modelAdapters,
  reuseLabel,
  type GrantInfo,
  type GrantRevocation,
  type OAuthModelStore,
  type SweepResult,
} from "./models.js";

export { ABANDONED_CLIENT_MS, type GrantRevocation, type SweepResult } from "./models.js";

interface Row {
  key: string;
  payload: string;
  consumed_at: number | null;
}

/** A JWT access token just revoked with its grant: its `jti` and how long its record is kept (ms). */
export interface RevokedAccessToken {
  readonly jti: string;
  readonly expiresAt: number;
}

/**
 * The authorization server's persistent state in the SQLite state store (migration 2): every
 * oidc-provider model in one table keyed by (model, id), grant families, remembered consents and
 * the registry of issued JWT access tokens. Every call is one synchronous SQLite statement or
 * transaction, so a consume is an atomic compare-and-set even across concurrent requests. With
 * `state.postgres` the same lives in Postgres instead (store-postgres.ts).
 *
 * Ids that are bearer values are stored under a keyed digest and every payload is sealed with the
 * state key (at-rest.ts). Rows an earlier release wrote are rewritten when the store opens.
 */
export class OAuthStore implements OAuthModelStore {
  private readonly stmt;
  private readonly rows: ModelsAtRest;

  constructor(
    readonly db: Db,
    stateKey: StateKey,
    private readonly onReuse: (revocation: GrantRevocation) => void,
    /** Told of every access token revoked with a grant, after the revocation has committed. */
    private readonly onAccessTokensRevoked?: (tokens: RevokedAccessToken[]) => void,
  ) {
    this.rows = new ModelsAtRest(stateKey);
    upgradeRows(db, this.rows);
    this.stmt = {
      upsert: db.prepare(
        `INSERT INTO oauth_models
           (model, key, payload, grant_id, session_uid, user_code, client_id, account_id, created_at, expires_at)
         VALUES (@model, @key, @payload, @grantId, @sessionUid, @userCode, @clientId, @accountId, @now, @expiresAt)
         ON CONFLICT (model, key) DO UPDATE SET
           payload = excluded.payload, grant_id = excluded.grant_id, session_uid = excluded.session_uid,
           user_code = excluded.user_code, client_id = excluded.client_id,
           account_id = excluded.account_id, expires_at = excluded.expires_at`,
      ),
      find: db.prepare(
        `SELECT key, payload, consumed_at FROM oauth_models
         WHERE model = ? AND key = ? AND (expires_at IS NULL OR expires_at > ?)`,
      ),
      findByUid: db.prepare(
        `SELECT key, payload, consumed_at FROM oauth_models
         WHERE model = 'Session' AND session_uid = ? AND (expires_at IS NULL OR expires_at > ?)`,
      ),
      findByUserCode: db.prepare(
        `SELECT key, payload, consumed_at FROM oauth_models
         WHERE model = ? AND user_code = ? AND (expires_at IS NULL OR expires_at > ?)`,
      ),
      consume: db.prepare(
        "UPDATE oauth_models SET consumed_at = ? WHERE model = ? AND key = ? AND consumed_at IS NULL",
      ),
      grantOf: db.prepare("SELECT grant_id FROM oauth_models WHERE model = ? AND key = ?"),
      destroy: db.prepare("DELETE FROM oauth_models WHERE model = ? AND key = ?"),
      revokeModelByGrant: db.prepare("DELETE FROM oauth_models WHERE model = ? AND grant_id = ?"),
      grantInfo: db.prepare(
        "SELECT client_id, account_id FROM oauth_models WHERE model = 'Grant' AND key = ?",
      ),
      deleteFamily: db.prepare("DELETE FROM oauth_models WHERE grant_id = ?"),
      revokeAccessTokens: db.prepare(
        `UPDATE oauth_access_tokens SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL
         RETURNING jti, expires_at AS expiresAt`,
      ),
      forgetConsents: db.prepare("DELETE FROM oauth_consents WHERE grant_id = ?"),
      expiredGrants: db.prepare(
        "SELECT key FROM oauth_models WHERE model = 'Grant' AND expires_at IS NOT NULL AND expires_at <= ?",
      ),
      deleteExpired: db.prepare("DELETE FROM oauth_models WHERE expires_at IS NOT NULL AND expires_at <= ?"),
      deleteOrphans: db.prepare(
        `DELETE FROM oauth_models WHERE grant_id IS NOT NULL AND model <> 'Grant' AND NOT EXISTS
           (SELECT 1 FROM oauth_models g WHERE g.model = 'Grant' AND g.key = oauth_models.grant_id)`,
      ),
      deleteAbandonedClients: db.prepare(
        `DELETE FROM oauth_models WHERE model = 'Client' AND created_at <= ? AND NOT EXISTS
           (SELECT 1 FROM oauth_models g WHERE g.model = 'Grant' AND g.client_id = oauth_models.key)`,
      ),
      deleteStaleConsents: db.prepare(
        `DELETE FROM oauth_consents WHERE NOT EXISTS
           (SELECT 1 FROM oauth_models g WHERE g.model = 'Grant' AND g.key = oauth_consents.grant_id)`,
      ),
      deleteExpiredAccessTokens: db.prepare("DELETE FROM oauth_access_tokens WHERE expires_at <= ?"),
      countClients: db.prepare("SELECT COUNT(*) AS n FROM oauth_models WHERE model = 'Client'"),
      listGrants: db.prepare(
        `SELECT key, payload, created_at, expires_at FROM oauth_models
         WHERE model = 'Grant' AND (expires_at IS NULL OR expires_at > ?)
         ORDER BY created_at DESC LIMIT ${MAX_LISTED_GRANTS}`,
      ),
    };
  }

  adapterFactory(): AdapterFactory {
    return modelAdapters(this);
  }

  upsert(model: string, id: string, payload: AdapterPayload, expiresIn: number | undefined): void {
    this.stmt.upsert.run(this.rows.store(model, id, payload, expiresIn));
  }

  find(model: string, id: string): AdapterPayload | undefined {
    const row = this.stmt.find.get(model, this.rows.storedKey(model, id), Date.now()) as Row | undefined;
    return row ? this.rows.open(model, row, id) : undefined;
  }

  findByUid(uid: string): AdapterPayload | undefined {
    const row = this.stmt.findByUid.get(uid, Date.now()) as Row | undefined;
    return row ? this.rows.open("Session", row) : undefined;
  }

  findByUserCode(model: string, userCode: string): AdapterPayload | undefined {
    // A device code's own value is not stored, so the model cannot be rebuilt from a user code.
    if (this.rows.dropsId(model)) return undefined;
    const row = this.stmt.findByUserCode.get(model, this.rows.userCode(userCode), Date.now()) as
      Row | undefined;
    return row ? this.rows.open(model, row) : undefined;
  }

  /**
   * Marks a one-time artefact used. Atomic: of two concurrent redemptions of one code or refresh
   * token exactly one wins; the loser revokes the grant family and is refused.
   */
  consume(model: string, id: string): void {
    const key = this.rows.storedKey(model, id);
    if (this.stmt.consume.run(Date.now(), model, key).changes === 1) return;
    if (!GRANT_SOURCES.has(model)) return;
    const row = this.stmt.grantOf.get(model, key) as { grant_id: string | null } | undefined;
    if (row?.grant_id) this.onReuse(this.revokeGrant(row.grant_id, `${reuseLabel(model)} reused`));
    throw new errors.InvalidGrant(`${reuseLabel(model)} already used`);
  }

  destroy(model: string, id: string): void {
    if (model === "Grant") {
      this.revokeGrant(id, "grant destroyed");
      return;
    }
    this.stmt.destroy.run(model, this.rows.storedKey(model, id));
  }

  revokeByGrantId(model: string, grantId: string): void {
    const revoked = this.db.transaction(() => {
      this.stmt.revokeModelByGrant.run(model, grantId);
      return model === "AccessToken" ? this.revokeAccessTokens(grantId) : [];
    })();
    this.announce(revoked);
  }

  /** Revokes a whole grant family: the grant, its codes and refresh tokens, its JWT access tokens. */
  revokeGrant(grantId: string, reason: string): GrantRevocation {
    const [revocation, revoked] = this.db.transaction(() => {
      const info = this.stmt.grantInfo.get(grantId) as
        { client_id: string | null; account_id: string | null } | undefined;
      const tokens = this.stmt.deleteFamily.run(grantId).changes;
      const revokedTokens = this.revokeAccessTokens(grantId);
      this.stmt.forgetConsents.run(grantId);
      const result: GrantRevocation = {
        grantId,
        reason,
        clientId: info?.client_id ?? undefined,
        accountId: info?.account_id ?? undefined,
        tokens,
        accessTokens: revokedTokens.length,
      };
      return [result, revokedTokens] as const;
    })();
    this.announce(revoked);
    return revocation;
  }

  private revokeAccessTokens(grantId: string): RevokedAccessToken[] {
    return this.stmt.revokeAccessTokens.all(Date.now(), grantId) as RevokedAccessToken[];
  }

  // Inside an enclosing transaction (sweep) this runs before the outer commit: the announcement
  // of a revocation that is then rolled back errs on the side of refusing the token.
  private announce(tokens: RevokedAccessToken[]): void {
    if (tokens.length > 0) this.onAccessTokensRevoked?.(tokens);
  }

  listGrants(now = Date.now()): GrantInfo[] {
    return (
      this.stmt.listGrants.all(now) as Array<{
        key: string;
        payload: string;
        created_at: number;
        expires_at: number | null;
      }>
    ).map((row) => grantInfo({ ...row, payload: this.rows.openPayload("Grant", row.key, row.payload) }));
  }

  dynamicClientCount(): number {
    return (this.stmt.countClients.get() as { n: number }).n;
  }

  /** Drops what has expired; an expired grant takes its whole family with it. */
  sweep(now = Date.now()): SweepResult {
    return this.db.transaction(() => {
      const expiredGrants = (this.stmt.expiredGrants.all(now) as { key: string }[]).map((g) =>
        this.revokeGrant(g.key, "grant expired"),
      );
      let removed = this.stmt.deleteExpired.run(now).changes;
      removed += this.stmt.deleteOrphans.run().changes;
      removed += this.stmt.deleteExpiredAccessTokens.run(now).changes;
      this.stmt.deleteStaleConsents.run();
      const abandonedClients = this.stmt.deleteAbandonedClients.run(now - ABANDONED_CLIENT_MS).changes;
      return { expiredGrants, removed, abandonedClients };
    })();
  }
}

/**
 * Rewrites the rows an earlier release stored (ids in the clear or under a bare SHA-256, payloads
 * in plaintext) as this one stores them, then rewrites the file (VACUUM) and empties the WAL so
 * that the old values do not linger in free pages. A row sealed with another state key stops the
 * start, naming it, before anything is written.
 */
function upgradeRows(db: Db, rows: ModelsAtRest): void {
  const earlier = db
    .prepare("SELECT model, key, payload, user_code FROM oauth_models WHERE substr(payload, 1, ?) <> ?")
    .all(rows.sealedPrefix.length, rows.sealedPrefix) as EarlierRow[];
  if (earlier.length === 0) return;
  let upgraded;
  try {
    upgraded = earlier.map((row) => ({ row, next: rows.upgrade(row) }));
  } catch (err) {
    throw new StateKeyError(`the authorization server's state: ${(err as Error).message}`);
  }
  const update = db.prepare(
    "UPDATE oauth_models SET key = ?, payload = ?, user_code = ? WHERE model = ? AND key = ?",
  );
  db.transaction(() => {
    for (const { row, next } of upgraded)
      update.run(next.key, next.payload, next.userCode, row.model, row.key);
  })();
  db.exec("VACUUM");
  db.pragma("wal_checkpoint(TRUNCATE)");
}
