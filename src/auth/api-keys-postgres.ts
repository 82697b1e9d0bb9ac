import type { PostgresState } from "../state/postgres.js";
import {
  apiKeyId,
  apiKeyInfo,
  checkApiKey,
  newApiKey,
  type ApiKeyInfo,
  type ApiKeyRow,
  type ApiKeyStore,
} from "./api-keys.js";
import type { Principal } from "./principal.js";

/**
 * API keys in Postgres (`warden_api_keys`), shared by every instance: a key created with
 * `mcp-warden apikey create` works everywhere, and `apikey revoke` holds everywhere from the
 * next request (each request looks its key up; nothing is cached). The same format, hashing and
 * checks as the SQLite store (api-keys.ts).
 */
export class PostgresApiKeys implements ApiKeyStore {
  constructor(private readonly pg: PostgresState) {}

  async create(
    name: string,
    scopes: readonly string[],
    ttlMs: number | undefined,
  ): Promise<{ key: string; info: ApiKeyInfo }> {
    const { key, row } = newApiKey(name, scopes, ttlMs);
    await this.pg.query(
      `INSERT INTO warden_api_keys (id, name, hash, scopes, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [row.id, row.name, row.hash, row.scopes, row.created_at, row.expires_at],
    );
    return { key, info: apiKeyInfo(row) };
  }

  async list(): Promise<ApiKeyInfo[]> {
    const r = await this.pg.query<ApiKeyRow>("SELECT * FROM warden_api_keys ORDER BY created_at, id");
    return r.rows.map(apiKeyInfo);
  }

  async get(id: string): Promise<ApiKeyInfo | undefined> {
    const row = await this.byId(id);
    return row && apiKeyInfo(row);
  }

  async revoke(id: string): Promise<boolean> {
    const r = await this.pg.query(
      "UPDATE warden_api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
      [Date.now(), id],
    );
    return (r.rowCount ?? 0) > 0;
  }

  async verify(key: string): Promise<Principal> {
    const id = apiKeyId(key);
    return checkApiKey(key, id ? await this.byId(id) : undefined);
  }

  private async byId(id: string): Promise<ApiKeyRow | undefined> {
    const r = await this.pg.query<ApiKeyRow>(
      "SELECT * FROM warden_api_keys WHERE id = $1",
      [id],
      "warden_api_key_by_id",
    );
    return r.rows[0];
  }
}
