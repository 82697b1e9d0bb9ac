import { errors, type AdapterFactory, type AdapterPayload } from "oidc-provider";
import type { PostgresState, Queryable } from "../state/postgres.js";
import { StateKeyError, type StateKey } from "../state/sealed.js";
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

interface Row {
  key: string;
  payload: string;
  consumed_at: number | null;
}

const NO_SWEEP: SweepResult = Object.freeze({ expiredGrants: [], removed: 0, abandonedClients: 0 });

/**
 * The authorization server's models in Postgres (`state.postgres`, `warden_oauth_models`), shared
 * by every instance: the same rows, hashing and grant families as the SQLite store (store.ts).
 *
 * Races between instances are settled by row locks, never by reading first and writing later:
 * - `consume` is one `UPDATE … WHERE consumed_at IS NULL`: a second redemption waits for the
 *   first's row lock, then finds the row used and matches nothing, so it loses and revokes.
 * - revoking a grant locks its row (`FOR UPDATE`) before deleting the family and marking its
 *   access tokens; recording an access token takes `FOR KEY SHARE` on the same row (see
 *   access-tokens.ts), so a token minted while its grant is being revoked is born revoked.
 * - a sweep runs under a transaction-scoped advisory lock that it only tries to take: when
 *   another instance is sweeping, this one skips its turn.
 *
 * Ids that are bearer values are stored under a keyed digest and every payload is sealed with the
 * state key, which every instance must share (at-rest.ts). Rows an earlier release wrote are
 * rewritten on this store's first use, under an advisory lock (one instance does it).
 */
export class PostgresOAuthStore implements OAuthModelStore {
  private readonly rows: ModelsAtRest;
  private upgraded: Promise<void> | undefined;

  constructor(
    private readonly pg: PostgresState,
    stateKey: StateKey,
    private readonly onReuse: (revocation: GrantRevocation) => void,
  ) {
    this.rows = new ModelsAtRest(stateKey);
  }

  adapterFactory(): AdapterFactory {
    return modelAdapters(this);
  }

  async upsert(model: string, id: string, payload: AdapterPayload, expiresIn: number | undefined) {
    await this.ready();
    const m = this.rows.store(model, id, payload, expiresIn);
    await this.pg.query(
      `INSERT INTO warden_oauth_models
         (model, key, payload, grant_id, session_uid, user_code, client_id, account_id, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (model, key) DO UPDATE SET
         payload = excluded.payload, grant_id = excluded.grant_id, session_uid = excluded.session_uid,
         user_code = excluded.user_code, client_id = excluded.client_id,
         account_id = excluded.account_id, expires_at = excluded.expires_at`,
      [
        m.model,
        m.key,
        m.payload,
        m.grantId,
        m.sessionUid,
        m.userCode,
        m.clientId,
        m.accountId,
        m.now,
        m.expiresAt,
      ],
    );
  }

  async find(model: string, id: string): Promise<AdapterPayload | undefined> {
    await this.ready();
    const r = await this.pg.query<Row>(
      `SELECT key, payload, consumed_at FROM warden_oauth_models
       WHERE model = $1 AND key = $2 AND (expires_at IS NULL OR expires_at > $3)`,
      [model, this.rows.storedKey(model, id), Date.now()],
    );
    const row = r.rows[0];
    return row ? this.rows.open(model, row, id) : undefined;
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    await this.ready();
    const r = await this.pg.query<Row>(
      `SELECT key, payload, consumed_at FROM warden_oauth_models
       WHERE model = 'Session' AND session_uid = $1 AND (expires_at IS NULL OR expires_at > $2)`,
      [uid, Date.now()],
    );
    const row = r.rows[0];
    return row ? this.rows.open("Session", row) : undefined;
  }

  async findByUserCode(model: string, userCode: string): Promise<AdapterPayload | undefined> {
    // A device code's own value is not stored, so the model cannot be rebuilt from a user code.
    if (this.rows.dropsId(model)) return undefined;
    await this.ready();
    const r = await this.pg.query<Row>(
      `SELECT key, payload, consumed_at FROM warden_oauth_models
       WHERE model = $1 AND user_code = $2 AND (expires_at IS NULL OR expires_at > $3)`,
      [model, this.rows.userCode(userCode), Date.now()],
    );
    const row = r.rows[0];
    return row ? this.rows.open(model, row) : undefined;
  }

  async consume(model: string, id: string): Promise<void> {
    await this.ready();
    const key = this.rows.storedKey(model, id);
    const r = await this.pg.query(
      "UPDATE warden_oauth_models SET consumed_at = $1 WHERE model = $2 AND key = $3 AND consumed_at IS NULL",
      [Date.now(), model, key],
    );
    if (r.rowCount === 1 || !GRANT_SOURCES.has(model)) return;
    const g = await this.pg.query<{ grant_id: string | null }>(
      "SELECT grant_id FROM warden_oauth_models WHERE model = $1 AND key = $2",
      [model, key],
    );
    const grantId = g.rows[0]?.grant_id;
    if (grantId) this.onReuse(await this.revokeGrant(grantId, `${reuseLabel(model)} reused`));
    throw new errors.InvalidGrant(`${reuseLabel(model)} already used`);
  }

  async destroy(model: string, id: string): Promise<void> {
    await this.ready();
    if (model === "Grant") {
      await this.revokeGrant(id, "grant destroyed");
      return;
    }
    await this.pg.query("DELETE FROM warden_oauth_models WHERE model = $1 AND key = $2", [
      model,
      this.rows.storedKey(model, id),
    ]);
  }

  async revokeByGrantId(model: string, grantId: string): Promise<void> {
    await this.ready();
    await this.pg.transaction(async (tx) => {
      await tx.query("DELETE FROM warden_oauth_models WHERE model = $1 AND grant_id = $2", [model, grantId]);
      if (model === "AccessToken") await revokeAccessTokens(tx, grantId);
    });
  }

  /** Revokes a whole grant family: the grant, its codes and refresh tokens, its JWT access tokens. */
  async revokeGrant(grantId: string, reason: string): Promise<GrantRevocation> {
    await this.ready();
    return this.pg.transaction((tx) => revokeFamily(tx, grantId, reason));
  }

  async listGrants(now = Date.now()): Promise<GrantInfo[]> {
    await this.ready();
    const r = await this.pg.query<{
      key: string;
      payload: string;
      created_at: string;
      expires_at: string | null;
    }>(
      `SELECT key, payload, created_at, expires_at FROM warden_oauth_models
       WHERE model = 'Grant' AND (expires_at IS NULL OR expires_at > $1)
       ORDER BY created_at DESC LIMIT ${MAX_LISTED_GRANTS}`,
      [now],
    );
    return r.rows.map((row) =>
      grantInfo({ ...row, payload: this.rows.openPayload("Grant", row.key, row.payload) }),
    );
  }

  async dynamicClientCount(): Promise<number> {
    await this.ready();
    const r = await this.pg.query<{ n: number }>(
      "SELECT COUNT(*) AS n FROM warden_oauth_models WHERE model = 'Client'",
    );
    return r.rows[0]?.n ?? 0;
  }

  async sweep(now = Date.now()): Promise<SweepResult> {
    await this.ready();
    return this.pg.transaction(async (tx) => {
      const lock = await tx.query<{ mine: boolean }>(
        "SELECT pg_try_advisory_xact_lock(hashtext('mcp-warden oauth sweep')) AS mine",
      );
      if (!lock.rows[0]?.mine) return NO_SWEEP;
      const expired = await tx.query<{ key: string }>(
        `SELECT key FROM warden_oauth_models
         WHERE model = 'Grant' AND expires_at IS NOT NULL AND expires_at <= $1`,
        [now],
      );
      const expiredGrants: GrantRevocation[] = [];
      for (const g of expired.rows) expiredGrants.push(await revokeFamily(tx, g.key, "grant expired"));
      const count = async (sql: string, params: unknown[] = []) =>
        (await tx.query(sql, params)).rowCount ?? 0;
      let removed = await count(
        "DELETE FROM warden_oauth_models WHERE expires_at IS NOT NULL AND expires_at <= $1",
        [now],
      );
      removed += await count(
        `DELETE FROM warden_oauth_models m WHERE grant_id IS NOT NULL AND model <> 'Grant' AND NOT EXISTS
           (SELECT 1 FROM warden_oauth_models g WHERE g.model = 'Grant' AND g.key = m.grant_id)`,
      );
      removed += await count("DELETE FROM warden_oauth_access_tokens WHERE expires_at <= $1", [now]);
      await tx.query(
        `DELETE FROM warden_oauth_consents c WHERE NOT EXISTS
           (SELECT 1 FROM warden_oauth_models g WHERE g.model = 'Grant' AND g.key = c.grant_id)`,
      );
      const abandonedClients = await count(
        `DELETE FROM warden_oauth_models m WHERE model = 'Client' AND created_at <= $1 AND NOT EXISTS
           (SELECT 1 FROM warden_oauth_models g WHERE g.model = 'Grant' AND g.client_id = m.key)`,
        [now - ABANDONED_CLIENT_MS],
      );
      return { expiredGrants, removed, abandonedClients };
    });
  }

  /**
   * Rows an earlier release wrote, rewritten once per process before its first use of them. A
   * failure to reach Postgres is tried again by the next caller; a row sealed with another state
   * key is not (the key will not change under this process): everything refuses until restarted.
   */
  private ready(): Promise<void> {
    this.upgraded ??= this.upgrade().catch((err: unknown) => {
      if (!(err instanceof StateKeyError)) this.upgraded = undefined;
      throw err;
    });
    return this.upgraded;
  }

  private upgrade(): Promise<void> {
    const rows = this.rows;
    return this.pg.transaction(async (tx) => {
      await tx.query("SELECT pg_advisory_xact_lock(hashtext('mcp-warden oauth at rest'))");
      const earlier = await tx.query<EarlierRow>(
        `SELECT model, key, payload, user_code FROM warden_oauth_models
         WHERE substr(payload, 1, $1) <> $2 ORDER BY model, key`,
        [rows.sealedPrefix.length, rows.sealedPrefix],
      );
      for (const row of earlier.rows) {
        let next;
        try {
          next = rows.upgrade(row);
        } catch (err) {
          throw new StateKeyError(`postgres state ${this.pg.where}: ${(err as Error).message}`);
        }
        await tx.query(
          "UPDATE warden_oauth_models SET key = $1, payload = $2, user_code = $3 WHERE model = $4 AND key = $5",
          [next.key, next.payload, next.userCode, row.model, row.key],
        );
      }
    });
  }
}

async function revokeFamily(tx: Queryable, grantId: string, reason: string): Promise<GrantRevocation> {
  // The grant's row lock orders this against access tokens being recorded for it.
  const info = await tx.query<{ client_id: string | null; account_id: string | null }>(
    "SELECT client_id, account_id FROM warden_oauth_models WHERE model = 'Grant' AND key = $1 FOR UPDATE",
    [grantId],
  );
  const family = await tx.query("DELETE FROM warden_oauth_models WHERE grant_id = $1", [grantId]);
  const accessTokens = await revokeAccessTokens(tx, grantId);
  await tx.query("DELETE FROM warden_oauth_consents WHERE grant_id = $1", [grantId]);
  const row = info.rows[0];
  return {
    grantId,
    reason,
    clientId: row?.client_id ?? undefined,
    accountId: row?.account_id ?? undefined,
    tokens: family.rowCount ?? 0,
    accessTokens,
  };
}

async function revokeAccessTokens(tx: Queryable, grantId: string): Promise<number> {
  const r = await tx.query(
    "UPDATE warden_oauth_access_tokens SET revoked_at = $1 WHERE grant_id = $2 AND revoked_at IS NULL",
    [Date.now(), grantId],
  );
  return r.rowCount ?? 0;
}
