import { createHash } from "node:crypto";
import { errors, type Adapter, type AdapterFactory, type AdapterPayload } from "oidc-provider";
import type { Db } from "../state/store.js";

// Models whose id is itself a bearer secret (the code or token a client presents): stored under
// its SHA-256 only, and the payload's `jti` (the same value) is not stored, so a copy of the state
// file holds no usable code or refresh token.
const SECRET_IDS: ReadonlySet<string> = new Set([
  "AccessToken",
  "AuthorizationCode",
  "RefreshToken",
  "ClientCredentials",
  "InitialAccessToken",
  "RegistrationAccessToken",
  "DeviceCode",
  "BackchannelAuthenticationRequest",
  "PushedAuthorizationRequest",
  "PreAuthorizedCode",
]);

// One-time artefacts that mint tokens: a second redemption means one of the two holders is an
// attacker, so the whole grant goes.
const GRANT_SOURCES: ReadonlySet<string> = new Set([
  "AuthorizationCode",
  "RefreshToken",
  "DeviceCode",
  "BackchannelAuthenticationRequest",
  "PreAuthorizedCode",
]);

/** Registered (dynamic) clients that never obtained a grant are dropped after this long. */
export const ABANDONED_CLIENT_MS = 24 * 60 * 60 * 1000;

export interface GrantRevocation {
  readonly grantId: string;
  readonly reason: string;
  readonly clientId: string | undefined;
  readonly accountId: string | undefined;
  readonly tokens: number;
  readonly accessTokens: number;
}

export interface SweepResult {
  readonly expiredGrants: GrantRevocation[];
  readonly removed: number;
  readonly abandonedClients: number;
}

interface Row {
  payload: string;
  consumed_at: number | null;
}

function digest(value: string): string {
  return createHash("sha256").update(value).digest("base64url");
}

/**
 * The authorization server's persistent state in the SQLite state store (migration 2): every
 * oidc-provider model in one table keyed by (model, id), grant families, remembered consents and
 * the registry of issued JWT access tokens. Every call is one synchronous SQLite statement or
 * transaction, so a consume is an atomic compare-and-set even across concurrent requests.
 */
export class OAuthStore {
  private readonly stmt;

  constructor(
    readonly db: Db,
    private readonly onReuse: (revocation: GrantRevocation) => void,
  ) {
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
        `SELECT payload, consumed_at FROM oauth_models
         WHERE model = ? AND key = ? AND (expires_at IS NULL OR expires_at > ?)`,
      ),
      findByUid: db.prepare(
        `SELECT payload, consumed_at FROM oauth_models
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
        "UPDATE oauth_access_tokens SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL",
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
    };
  }

  adapterFactory(): AdapterFactory {
    return (name: string) => new SqliteAdapter(name, this);
  }

  upsert(model: string, id: string, payload: AdapterPayload, expiresIn: number | undefined): void {
    const secret = SECRET_IDS.has(model);
    const stored: AdapterPayload = { ...payload };
    if (secret) delete stored.jti;
    const now = Date.now();
    this.stmt.upsert.run({
      model,
      key: secret ? digest(id) : id,
      payload: JSON.stringify(stored),
      grantId: model === "Grant" ? id : (stringOrNull(payload.grantId) ?? null),
      sessionUid: model === "Session" ? stringOrNull(payload.uid) : null,
      userCode: typeof payload.userCode === "string" ? digest(payload.userCode) : null,
      clientId: model === "Client" ? id : stringOrNull(payload.clientId),
      accountId: stringOrNull(payload.accountId),
      now,
      expiresAt: typeof expiresIn === "number" && expiresIn > 0 ? now + expiresIn * 1000 : null,
    });
  }

  find(model: string, id: string): AdapterPayload | undefined {
    const secret = SECRET_IDS.has(model);
    const row = this.stmt.find.get(model, secret ? digest(id) : id, Date.now()) as Row | undefined;
    return row ? revive(row, secret ? id : undefined) : undefined;
  }

  findByUid(uid: string): AdapterPayload | undefined {
    const row = this.stmt.findByUid.get(uid, Date.now()) as Row | undefined;
    return row ? revive(row, undefined) : undefined;
  }

  findByUserCode(model: string, userCode: string): AdapterPayload | undefined {
    // The device code's own value is not stored, so the model cannot be rebuilt from a user code.
    const row = this.stmt.findByUserCode.get(model, digest(userCode), Date.now()) as Row | undefined;
    return row && !SECRET_IDS.has(model) ? revive(row, undefined) : undefined;
  }

  /**
   * Marks a one-time artefact used. Atomic: of two concurrent redemptions of one code or refresh
   * token exactly one wins; the loser revokes the grant family and is refused.
   */
  consume(model: string, id: string): void {
    const key = SECRET_IDS.has(model) ? digest(id) : id;
    if (this.stmt.consume.run(Date.now(), model, key).changes === 1) return;
    if (!GRANT_SOURCES.has(model)) return;
    const row = this.stmt.grantOf.get(model, key) as { grant_id: string | null } | undefined;
    if (row?.grant_id) this.onReuse(this.revokeGrant(row.grant_id, `${label(model)} reused`));
    throw new errors.InvalidGrant(`${label(model)} already used`);
  }

  destroy(model: string, id: string): void {
    if (model === "Grant") {
      this.revokeGrant(id, "grant destroyed");
      return;
    }
    this.stmt.destroy.run(model, SECRET_IDS.has(model) ? digest(id) : id);
  }

  revokeByGrantId(model: string, grantId: string): void {
    this.db.transaction(() => {
      this.stmt.revokeModelByGrant.run(model, grantId);
      if (model === "AccessToken") this.stmt.revokeAccessTokens.run(Date.now(), grantId);
    })();
  }

  /** Revokes a whole grant family: the grant, its codes and refresh tokens, its JWT access tokens. */
  revokeGrant(grantId: string, reason: string): GrantRevocation {
    return this.db.transaction(() => {
      const info = this.stmt.grantInfo.get(grantId) as
        { client_id: string | null; account_id: string | null } | undefined;
      const tokens = this.stmt.deleteFamily.run(grantId).changes;
      const accessTokens = this.stmt.revokeAccessTokens.run(Date.now(), grantId).changes;
      this.stmt.forgetConsents.run(grantId);
      return {
        grantId,
        reason,
        clientId: info?.client_id ?? undefined,
        accountId: info?.account_id ?? undefined,
        tokens,
        accessTokens,
      };
    })();
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

/** oidc-provider's adapter interface over the shared store, one instance per model. */
class SqliteAdapter implements Adapter {
  constructor(
    private readonly model: string,
    private readonly store: OAuthStore,
  ) {}

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    this.store.upsert(this.model, id, payload, expiresIn);
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return this.store.find(this.model, id);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.store.findByUserCode(this.model, userCode);
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.store.findByUid(uid);
  }

  async consume(id: string): Promise<void> {
    this.store.consume(this.model, id);
  }

  async destroy(id: string): Promise<void> {
    this.store.destroy(this.model, id);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    this.store.revokeByGrantId(this.model, grantId);
  }
}

function revive(row: Row, id: string | undefined): AdapterPayload {
  const payload = JSON.parse(row.payload) as AdapterPayload;
  if (id !== undefined) payload.jti = id;
  if (row.consumed_at !== null) payload.consumed = Math.floor(row.consumed_at / 1000);
  return payload;
}

function stringOrNull(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

function label(model: string): string {
  return model === "RefreshToken"
    ? "refresh token"
    : model === "AuthorizationCode"
      ? "authorization code"
      : model;
}
