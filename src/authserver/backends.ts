import { randomBytes } from "node:crypto";
import type { PostgresState } from "../state/postgres.js";
import type { StateStore } from "../state/store.js";
import { accessTokenRecords, RETENTION_MARGIN_MS, type AccessTokenRecords } from "./access-tokens.js";
import { ConsentStore, PostgresConsentStore, type RememberedConsents } from "./consents.js";
import type { GrantRevocation, OAuthModelStore } from "./models.js";
import { OAuthStore } from "./store.js";
import { PostgresOAuthStore } from "./store-postgres.js";

const CSRF_KEY = "authserver.csrf_key";

/** Everything the authorization server keeps, in one backend. */
export interface AuthServerStores {
  readonly models: OAuthModelStore;
  readonly consents: RememberedConsents;
  readonly accessTokens: AccessTokenRecords;
  /** The key of the sign-in and consent forms' CSRF tokens; every instance must use the same. */
  csrfKey(): Promise<Buffer>;
}

/**
 * Tells the other instances that a JWT access token was revoked (the revocation feed, with
 * `state.redis` and no `state.postgres`): `expiresAt` is when its local record lapses (ms). Never
 * rejects: a failure is logged, and the local revocation holds regardless.
 */
export type ShareRevocation = (jti: string, expiresAt: number) => Promise<void>;

/**
 * The SQLite state store, or with `state.postgres` Postgres, which every instance shares: a
 * grant, a consent or a revocation made through one instance holds on all of them. With SQLite,
 * `share` (when given) publishes every access-token revocation to the other instances.
 */
export function openAuthServerStores(
  state: StateStore,
  postgres: PostgresState | undefined,
  onReuse: (revocation: GrantRevocation) => void,
  share?: ShareRevocation,
): AuthServerStores {
  const newKey = () => randomBytes(32).toString("base64url");
  if (postgres) {
    return {
      models: new PostgresOAuthStore(postgres, state.stateKey, onReuse),
      consents: new PostgresConsentStore(postgres),
      accessTokens: accessTokenRecords(state, postgres),
      csrfKey: async () => Buffer.from(await postgres.setting(CSRF_KEY, newKey), "base64url"),
    };
  }
  const local = accessTokenRecords(state, undefined);
  return {
    models: new OAuthStore(
      state.db,
      state.stateKey,
      onReuse,
      share && ((tokens) => tokens.forEach((t) => void share(t.jti, t.expiresAt))),
    ),
    consents: new ConsentStore(state.db),
    accessTokens: share
      ? {
          record: (token) => local.record(token),
          revokeOne: async (jti, clientId, expiresAt) => {
            await local.revokeOne(jti, clientId, expiresAt);
            await share(jti, expiresAt + RETENTION_MARGIN_MS);
          },
          isRevoked: (jti) => local.isRevoked(jti),
        }
      : local,
    csrfKey: async () => {
      let stored = state.get(CSRF_KEY);
      if (!stored) {
        stored = newKey();
        state.set(CSRF_KEY, stored);
      }
      return Buffer.from(stored, "base64url");
    },
  };
}
