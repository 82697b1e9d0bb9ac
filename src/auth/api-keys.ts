import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Statement } from "better-sqlite3";
import type { StateStore } from "../state/store.js";
import { tokenPrincipal, type Principal } from "./principal.js";
import { invalidToken } from "./errors.js";

export const API_KEY_PREFIX = "mwk_";
const ID_BYTES = 9;
const ID_CHARS = 18; // hex of ID_BYTES: never starts with "-", so it is safe as a CLI argument
const SECRET_BYTES = 32;

type Awaitable<T> = T | Promise<T>;

export interface ApiKeyInfo {
  id: string;
  name: string;
  scopes: string[];
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
}

/** A stored key: the same columns in SQLite (`api_keys`) and Postgres (`warden_api_keys`). */
export interface ApiKeyRow {
  id: string;
  name: string;
  hash: string;
  scopes: string;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
}

/**
 * API keys for machines: `mwk_<id>_<secret>`, usable as bearer tokens. Only a SHA-256 of the whole
 * key is stored (the secret has 256 random bits, so no slow hash is needed); the lookup is by id
 * and the comparison constant-time. Revocation takes effect on the next request. Kept in the
 * SQLite state store (`ApiKeys`), or with `state.postgres` in Postgres (`PostgresApiKeys`), where
 * every instance sees a key created or revoked anywhere.
 */
export interface ApiKeyStore {
  create(
    name: string,
    scopes: readonly string[],
    ttlMs: number | undefined,
  ): Awaitable<{ key: string; info: ApiKeyInfo }>;
  list(): Awaitable<ApiKeyInfo[]>;
  get(id: string): Awaitable<ApiKeyInfo | undefined>;
  /** True when a key that was not yet revoked is revoked now. */
  revoke(id: string): Awaitable<boolean>;
  /** The key's principal, or an AuthError (invalid_token); any other error means "cannot tell". */
  verify(key: string): Awaitable<Principal>;
}

/** The API keys in the SQLite state store (migration 1, `api_keys`). */
export class ApiKeys implements ApiKeyStore {
  /** Prepared once: `verify` runs on every request that carries a key. */
  private readonly byId: Statement;

  constructor(private readonly state: StateStore) {
    this.byId = state.db.prepare("SELECT * FROM api_keys WHERE id = ?");
  }

  static looksLike(token: string): boolean {
    return token.startsWith(API_KEY_PREFIX);
  }

  create(
    name: string,
    scopes: readonly string[],
    ttlMs: number | undefined,
  ): { key: string; info: ApiKeyInfo } {
    const { key, row } = newApiKey(name, scopes, ttlMs);
    this.state.db
      .prepare(
        "INSERT INTO api_keys (id, name, hash, scopes, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
      )
      .run(row.id, row.name, row.hash, row.scopes, row.created_at, row.expires_at);
    return { key, info: this.get(row.id) as ApiKeyInfo };
  }

  list(): ApiKeyInfo[] {
    return (this.state.db.prepare("SELECT * FROM api_keys ORDER BY created_at").all() as ApiKeyRow[]).map(
      apiKeyInfo,
    );
  }

  get(id: string): ApiKeyInfo | undefined {
    const row = this.byId.get(id) as ApiKeyRow | undefined;
    return row && apiKeyInfo(row);
  }

  revoke(id: string): boolean {
    return (
      this.state.db
        .prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
        .run(Date.now(), id).changes > 0
    );
  }

  verify(key: string): Principal {
    const id = apiKeyId(key);
    return checkApiKey(key, id ? (this.byId.get(id) as ApiKeyRow | undefined) : undefined);
  }
}

/** A new key and the row that stores it (its hash, never the key). */
export function newApiKey(
  name: string,
  scopes: readonly string[],
  ttlMs: number | undefined,
): { key: string; row: ApiKeyRow } {
  const id = randomBytes(ID_BYTES).toString("hex");
  const key = `${API_KEY_PREFIX}${id}_${randomBytes(SECRET_BYTES).toString("base64url")}`;
  const now = Date.now();
  return {
    key,
    row: {
      id,
      name,
      hash: digest(key),
      scopes: JSON.stringify([...scopes]),
      created_at: now,
      expires_at: ttlMs === undefined ? null : now + ttlMs,
      revoked_at: null,
    },
  };
}

/** The id part of a presented key, or "" when the key is malformed. */
export function apiKeyId(key: string): string {
  // The id is fixed-length: cut by length, not by separator (the secret may contain "_").
  return key.charAt(API_KEY_PREFIX.length + ID_CHARS) === "_"
    ? key.slice(API_KEY_PREFIX.length, API_KEY_PREFIX.length + ID_CHARS)
    : "";
}

/** The principal of `key` against its stored row (looked up by id), or an invalid_token AuthError. */
export function checkApiKey(key: string, row: ApiKeyRow | undefined): Principal {
  const presented = Buffer.from(digest(key), "hex");
  // Compare even when the id is unknown, so a miss costs the same as a wrong secret.
  const stored = Buffer.from(row?.hash ?? "0".repeat(64), "hex");
  if (!timingSafeEqual(presented, stored) || !row) throw invalidToken("unknown API key");
  if (row.revoked_at !== null) throw invalidToken("API key revoked");
  if (row.expires_at !== null && row.expires_at <= Date.now()) throw invalidToken("API key expired");
  return tokenPrincipal({
    subject: `apikey:${row.name}`,
    clientId: `apikey:${row.id}`,
    method: "api_key",
    scopes: JSON.parse(row.scopes) as string[],
  });
}

export function apiKeyInfo(row: ApiKeyRow): ApiKeyInfo {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: row.id,
    name: row.name,
    scopes: JSON.parse(row.scopes) as string[],
    createdAt: new Date(row.created_at).toISOString(),
    expiresAt: iso(row.expires_at),
    revokedAt: iso(row.revoked_at),
  };
}

function digest(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}
