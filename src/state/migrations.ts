/**
 * The state store's schema, one step per entry, applied in order and recorded in
 * `PRAGMA user_version`. Append only: a released step is never edited.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: the store's own key-value settings, signing keys, API keys.
  `CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE signing_keys (
     kid TEXT PRIMARY KEY,
     jwk TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     retired_at INTEGER
   );
   CREATE TABLE api_keys (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     hash TEXT NOT NULL UNIQUE,
     scopes TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     expires_at INTEGER,
     revoked_at INTEGER
   );`,
];
