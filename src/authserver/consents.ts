import type { Db } from "../state/store.js";

/**
 * Consent remembered per (user, client): the grant that user gave that client. A later
 * authorization, even from a new browser session, reuses the grant and skips the consent page
 * when it already covers what is asked. The row goes when its grant is revoked or expires.
 */
export class ConsentStore {
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
