import { randomBytes } from "node:crypto";
import type { PostgresState } from "../state/postgres.js";
import type { StateStore } from "../state/store.js";
import { accessTokenRecords, type AccessTokenRecords } from "./access-tokens.js";
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
 * The SQLite state store, or with `state.postgres` Postgres, which every instance shares: a
 * grant, a consent or a revocation made through one instance holds on all of them.
 */
export function openAuthServerStores(
  state: StateStore,
  postgres: PostgresState | undefined,
  onReuse: (revocation: GrantRevocation) => void,
): AuthServerStores {
  const newKey = () => randomBytes(32).toString("base64url");
  if (postgres) {
    return {
      models: new PostgresOAuthStore(postgres, onReuse),
      consents: new PostgresConsentStore(postgres),
      accessTokens: accessTokenRecords(state, postgres),
      csrfKey: async () => Buffer.from(await postgres.setting(CSRF_KEY, newKey), "base64url"),
    };
  }
  return {
    models: new OAuthStore(state.db, onReuse),
    consents: new ConsentStore(state.db),
    accessTokens: accessTokenRecords(state, undefined),
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
