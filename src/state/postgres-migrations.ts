/**
 * The shared state's schema in Postgres (`state.postgres`), one step per entry, applied in order
 * under an advisory lock and recorded in `warden_schema_versions` (component `state`). Append
 * only: a released step is never edited. Every statement is idempotent (`IF NOT EXISTS`), so a
 * step interrupted before its version was recorded can run again. Step 2 is the audit log's table
 * (src/audit/sinks/postgres.ts), step 3 the tool-definition pins (src/supply/pins-postgres.ts).
 */
export const POSTGRES_MIGRATIONS: readonly string[] = [
  // 1: settings shared by instances, API keys, and the embedded authorization server: the same
  // tables as SQLite migrations 1 and 2, times in epoch milliseconds.
  `CREATE TABLE IF NOT EXISTS warden_kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE IF NOT EXISTS warden_api_keys (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     hash TEXT NOT NULL UNIQUE,
     scopes TEXT NOT NULL,
     created_at BIGINT NOT NULL,
     expires_at BIGINT,
     revoked_at BIGINT
   );
   CREATE TABLE IF NOT EXISTS warden_oauth_models (
     model TEXT NOT NULL,
     key TEXT NOT NULL,
     payload TEXT NOT NULL,
     grant_id TEXT,
     session_uid TEXT,
     user_code TEXT,
     client_id TEXT,
     account_id TEXT,
     created_at BIGINT NOT NULL,
     expires_at BIGINT,
     consumed_at BIGINT,
     PRIMARY KEY (model, key)
   );
   CREATE INDEX IF NOT EXISTS warden_oauth_models_grant ON warden_oauth_models (grant_id)
     WHERE grant_id IS NOT NULL;
   CREATE INDEX IF NOT EXISTS warden_oauth_models_session_uid ON warden_oauth_models (session_uid)
     WHERE session_uid IS NOT NULL;
   CREATE INDEX IF NOT EXISTS warden_oauth_models_user_code ON warden_oauth_models (user_code)
     WHERE user_code IS NOT NULL;
   CREATE INDEX IF NOT EXISTS warden_oauth_models_client ON warden_oauth_models (client_id)
     WHERE client_id IS NOT NULL;
   CREATE INDEX IF NOT EXISTS warden_oauth_models_expires ON warden_oauth_models (expires_at)
     WHERE expires_at IS NOT NULL;
   CREATE TABLE IF NOT EXISTS warden_oauth_consents (
     account_id TEXT NOT NULL,
     client_id TEXT NOT NULL,
     grant_id TEXT NOT NULL,
     updated_at BIGINT NOT NULL,
     PRIMARY KEY (account_id, client_id)
   );
   CREATE INDEX IF NOT EXISTS warden_oauth_consents_grant ON warden_oauth_consents (grant_id);
   CREATE TABLE IF NOT EXISTS warden_oauth_access_tokens (
     jti TEXT PRIMARY KEY,
     grant_id TEXT,
     client_id TEXT NOT NULL,
     account_id TEXT,
     issued_at BIGINT NOT NULL,
     expires_at BIGINT NOT NULL,
     revoked_at BIGINT
   );
   CREATE INDEX IF NOT EXISTS warden_oauth_access_tokens_grant ON warden_oauth_access_tokens (grant_id)
     WHERE grant_id IS NOT NULL;
   CREATE INDEX IF NOT EXISTS warden_oauth_access_tokens_expires ON warden_oauth_access_tokens (expires_at);`,
  // 2: the audit log's Postgres sink: the stored event (`body`) and query columns checked against
  // it by verify, as in SQLite migration 3 (one index, on time: see there).
  `CREATE TABLE IF NOT EXISTS warden_audit_events (
     seq BIGINT PRIMARY KEY,
     id TEXT NOT NULL,
     ts TEXT NOT NULL,
     event TEXT NOT NULL,
     sub TEXT,
     server TEXT,
     tool TEXT,
     status TEXT,
     hash TEXT NOT NULL,
     body TEXT NOT NULL
   );
   CREATE INDEX IF NOT EXISTS warden_audit_events_ts ON warden_audit_events (ts);`,
  // 3: tool-definition pins shared by every instance (src/supply/pins-postgres.ts), the same
  // columns as SQLite migration 5.
  `CREATE TABLE IF NOT EXISTS warden_tool_pins (
     server TEXT NOT NULL,
     kind TEXT NOT NULL,
     name TEXT NOT NULL,
     pinned_hash TEXT NOT NULL,
     pinned_def TEXT NOT NULL,
     current_hash TEXT NOT NULL,
     current_def TEXT NOT NULL,
     findings TEXT NOT NULL,
     pinned_at TEXT NOT NULL,
     seen_at TEXT NOT NULL,
     PRIMARY KEY (server, kind, name)
   );`,
  // 4: per-user upstream OAuth (src/upstreams/oauth-user/), the same tables as SQLite migration 9.
  `CREATE TABLE IF NOT EXISTS warden_upstream_connections (
     id TEXT PRIMARY KEY,
     subject TEXT NOT NULL,
     server TEXT NOT NULL,
     status TEXT NOT NULL,
     issuer TEXT NOT NULL,
     client_id TEXT NOT NULL,
     scopes TEXT NOT NULL,
     tokens TEXT NOT NULL,
     expires_at BIGINT,
     version BIGINT NOT NULL,
     refreshing_until BIGINT NOT NULL DEFAULT 0,
     created_at BIGINT NOT NULL,
     updated_at BIGINT NOT NULL,
     last_used_at BIGINT,
     UNIQUE (subject, server)
   );
   CREATE TABLE IF NOT EXISTS warden_upstream_flows (
     state_digest TEXT PRIMARY KEY,
     subject TEXT NOT NULL,
     server TEXT NOT NULL,
     data TEXT NOT NULL,
     expires_at BIGINT NOT NULL
   );
   CREATE TABLE IF NOT EXISTS warden_upstream_clients (
     issuer TEXT PRIMARY KEY,
     data TEXT NOT NULL
   );`,
  // 5: scope step-up for per-user upstream OAuth, the same columns as SQLite migration 10.
  `ALTER TABLE warden_upstream_connections ADD COLUMN IF NOT EXISTS requested_scopes TEXT NOT NULL DEFAULT '';
   ALTER TABLE warden_upstream_connections ADD COLUMN IF NOT EXISTS step_up_scopes TEXT NOT NULL DEFAULT '';`,
  // 6: the issuer each configured oauth_user client belongs to, as SQLite migration 11.
  `CREATE TABLE IF NOT EXISTS warden_upstream_client_issuers (
     server TEXT NOT NULL,
     client_id TEXT NOT NULL,
     issuer TEXT NOT NULL,
     PRIMARY KEY (server, client_id)
   );`,
];
