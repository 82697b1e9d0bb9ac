import type { PostgresState } from "../state/postgres.js";
import type { Db } from "../state/store.js";
import type { Awaitable } from "./models.js";

/**
 * Consent remembered per (user, client): the grant that user gave that client. A later
 * authorization, even from a new browser session, reuses the grant and skips the consent page
 * when it already covers what is asked. The row goes when its grant is revoked or expires.
 */
export interface RememberedConsents {
  remember(accountId: string, clientId: string, grantId: string): Awaitable<void>;
  grantFor(accountId: string, clientId: string): Awaitable<string | undefined>;
}

/** Remembered consents in the SQLite state store (`oauth_consents`). */
export class ConsentStore implements RememberedConsents {
  private readonly upsert;
  private readonly lookup;

  constructor(db: Db) {
    this.upsert = db.prepare(
      `INSERT INTO oauth_consents (account_id, client_id, grant_id, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (account_id, client_id) DO UPDATE SET grant_id = excluded.grant_id, updated_at = excluded.updated_at`,
    );
    this.lookup = db.prepare("SELECT grant_id FROM oauth_consents WHERE account_id = ? AND client_id = ?");
  }

  remember(accountId: string, clientId: string, grantId: string): void {
    this.upsert.run(accountId, clientId, grantId, Date.now());
  }

  grantFor(accountId: string, clientId: string): string | undefined {
    const row = this.lookup.get(accountId, clientId) as { grant_id: string } | undefined;
    return row?.grant_id;
  }
}

/** Remembered consents in Postgres (`warden_oauth_consents`), shared by every instance. */
export class PostgresConsentStore implements RememberedConsents {
  constructor(private readonly pg: PostgresState) {}

  async remember(accountId: string, clientId: string, grantId: string): Promise<void> {
    await this.pg.query(
      `INSERT INTO warden_oauth_consents (account_id, client_id, grant_id, updated_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (account_id, client_id) DO UPDATE SET grant_id = excluded.grant_id, updated_at = excluded.updated_at`,
      [accountId, clientId, grantId, Date.now()],
    );
  }

  async grantFor(accountId: string, clientId: string): Promise<string | undefined> {
    const r = await this.pg.query<{ grant_id: string }>(
      "SELECT grant_id FROM warden_oauth_consents WHERE account_id = $1 AND client_id = $2",
      [accountId, clientId],
    );
    return r.rows[0]?.grant_id;
  }
}
