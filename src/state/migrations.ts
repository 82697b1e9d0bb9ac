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
  // 2: the embedded authorization server (src/authserver): oidc-provider's models (clients,
  // grants, sessions, interactions, codes, refresh tokens), remembered consents, and the
  // registry of issued JWT access tokens that revocation marks.
  `CREATE TABLE oauth_models (
     model TEXT NOT NULL,
     key TEXT NOT NULL,
     payload TEXT NOT NULL,
     grant_id TEXT,
     session_uid TEXT,
     user_code TEXT,
     client_id TEXT,
     account_id TEXT,
     created_at INTEGER NOT NULL,
     expires_at INTEGER,
     consumed_at INTEGER,
     PRIMARY KEY (model, key)
   ) WITHOUT ROWID;
   CREATE INDEX oauth_models_grant ON oauth_models (grant_id) WHERE grant_id IS NOT NULL;
   CREATE INDEX oauth_models_session_uid ON oauth_models (session_uid) WHERE session_uid IS NOT NULL;
   CREATE INDEX oauth_models_user_code ON oauth_models (user_code) WHERE user_code IS NOT NULL;
   CREATE INDEX oauth_models_client ON oauth_models (client_id) WHERE client_id IS NOT NULL;
   CREATE INDEX oauth_models_expires ON oauth_models (expires_at) WHERE expires_at IS NOT NULL;
   CREATE TABLE oauth_consents (
     account_id TEXT NOT NULL,
     client_id TEXT NOT NULL,
     grant_id TEXT NOT NULL,
     updated_at INTEGER NOT NULL,
     PRIMARY KEY (account_id, client_id)
   ) WITHOUT ROWID;
   CREATE INDEX oauth_consents_grant ON oauth_consents (grant_id);
   CREATE TABLE oauth_access_tokens (
     jti TEXT PRIMARY KEY,
     grant_id TEXT,
     client_id TEXT NOT NULL,
     account_id TEXT,
     issued_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     revoked_at INTEGER
   ) WITHOUT ROWID;
   CREATE INDEX oauth_access_tokens_grant ON oauth_access_tokens (grant_id) WHERE grant_id IS NOT NULL;
   CREATE INDEX oauth_access_tokens_expires ON oauth_access_tokens (expires_at);`,
  // 3: the audit log's SQLite sink. `body` is the stored event as written (JSON, chain
  // fields included); the other columns are copies for queries, checked against it by verify.
  `CREATE TABLE audit_events (
     seq INTEGER PRIMARY KEY,
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
   CREATE INDEX audit_events_ts ON audit_events (ts);
   CREATE INDEX audit_events_sub ON audit_events (sub, ts);
   CREATE INDEX audit_events_server ON audit_events (server, tool, ts);`,
  // 4: the kill switch without Redis. `target` is "" for everything, else a server, `server/tool`,
  // a subject or a client id.
  `CREATE TABLE kills (
     scope TEXT NOT NULL,
     target TEXT NOT NULL,
     reason TEXT NOT NULL,
     by TEXT NOT NULL,
     at TEXT NOT NULL,
     PRIMARY KEY (scope, target)
   ) WITHOUT ROWID;`,
  // 5: tool-definition pins (src/supply/pins.ts). `kind` is tool, prompt or resourceTemplate;
  // `current_*` is the definition last seen (kept while it is held, so `tools diff` needs no
  // upstream); `findings` is the poisoning scan of the current definition (JSON, "[]" when clean).
  `CREATE TABLE tool_pins (
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
   ) WITHOUT ROWID;`,
  // 6: the audit table keeps one index (time): the indexes on user and server cost about 10 µs
  // more per event, on every call, for queries an investigator runs now and then (bench/audit.ts:
  // 70 → 57–63 µs of CPU). A store made while step 3 briefly lacked them has none to drop.
  `DROP INDEX IF EXISTS audit_events_sub;
   DROP INDEX IF EXISTS audit_events_server;`,
  // 7: the audit log's high-water marks (src/audit/marks.ts): per sink, the newest event (`head`)
  // and the newest checkpoint (`checkpoint`) this store saw written, each MAC'd with the audit key.
  `CREATE TABLE audit_marks (
     sink TEXT NOT NULL,
     kind TEXT NOT NULL,
     seq INTEGER NOT NULL,
     hash TEXT NOT NULL,
     ts TEXT NOT NULL,
     mac TEXT NOT NULL,
     PRIMARY KEY (sink, kind)
   ) WITHOUT ROWID;`,
  // 8: which marks this store has kept, and since when (src/audit/marks.ts): a mark is never
  // removed, so one the store once kept and holds no more was deleted. Kept apart from the marks.
  `CREATE TABLE audit_marks_begun (
     sink TEXT NOT NULL,
     kind TEXT NOT NULL,
     ts TEXT NOT NULL,
     PRIMARY KEY (sink, kind)
   ) WITHOUT ROWID;`,
  // 9: per-user upstream OAuth (src/upstreams/oauth-user/): each user's connection to a server,
  // its tokens sealed with the state key (user and server as associated data); connect flows in
  // progress, found by an HMAC of their `state`; clients registered (RFC 7591) per upstream issuer.
  // Times in epoch milliseconds.
  `CREATE TABLE IF NOT EXISTS upstream_connections (
     id TEXT PRIMARY KEY,
     subject TEXT NOT NULL,
     server TEXT NOT NULL,
     status TEXT NOT NULL,
     issuer TEXT NOT NULL,
     client_id TEXT NOT NULL,
     scopes TEXT NOT NULL,
     tokens TEXT NOT NULL,
     expires_at INTEGER,
     version INTEGER NOT NULL,
     refreshing_until INTEGER NOT NULL DEFAULT 0,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     last_used_at INTEGER,
     UNIQUE (subject, server)
   );
   CREATE TABLE IF NOT EXISTS upstream_flows (
     state_digest TEXT PRIMARY KEY,
     subject TEXT NOT NULL,
     server TEXT NOT NULL,
     data TEXT NOT NULL,
     expires_at INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE TABLE IF NOT EXISTS upstream_clients (
     issuer TEXT PRIMARY KEY,
     data TEXT NOT NULL
   ) WITHOUT ROWID;`,
  // 10: scope step-up for per-user upstream OAuth: the scopes a connection's connect asked for,
  // and those its server has since challenged for (403 insufficient_scope), which the user's next
  // connect asks for too. Space-separated.
  `ALTER TABLE upstream_connections ADD COLUMN requested_scopes TEXT NOT NULL DEFAULT '';
   ALTER TABLE upstream_connections ADD COLUMN step_up_scopes TEXT NOT NULL DEFAULT '';`,
  // 11: a client configured for an oauth_user server (`auth.client_id`) belongs to one
  // authorization server: without `auth.issuer`, the first issuer discovered for it, recorded
  // here so that no restart or other instance ever sends it to another (SEP-2352).
  `CREATE TABLE IF NOT EXISTS upstream_client_issuers (
     server TEXT NOT NULL,
     client_id TEXT NOT NULL,
     issuer TEXT NOT NULL,
     PRIMARY KEY (server, client_id)
   ) WITHOUT ROWID;`,
];
