import { errors, type Adapter, type AdapterFactory, type AdapterPayload } from "oidc-provider";
import { StoreUnavailable } from "./outage.js";

/** A value, or a promise of it: the SQLite stores answer at once, the Postgres ones later. */
export type Awaitable<T> = T | Promise<T>;

// One-time artefacts that mint tokens: a second redemption means one of the two holders is an
// attacker, so the whole grant goes.
export const GRANT_SOURCES: ReadonlySet<string> = new Set([
  "AuthorizationCode",
  "RefreshToken",
  "DeviceCode",
  "BackchannelAuthenticationRequest",
  "PreAuthorizedCode",
]);

/** Registered (dynamic) clients that never obtained a grant are dropped after this long. */
export const ABANDONED_CLIENT_MS = 24 * 60 * 60 * 1000;

export interface GrantRevocation {
  readonly grantId: string;
  readonly reason: string;
  readonly clientId: string | undefined;
  readonly accountId: string | undefined;
  readonly tokens: number;
  readonly accessTokens: number;
}

/** A grant as the admin API lists it: who gave which client what, for which resources. */
export interface GrantInfo {
  readonly id: string;
  readonly accountId: string | null;
  readonly clientId: string | null;
  readonly scopes: string[];
  readonly resources: string[];
  readonly createdAt: number;
  readonly expiresAt: number | null;
}

/** The grants a listing returns at most (the newest first). */
export const MAX_LISTED_GRANTS = 1_000;

/**
 * A stored `Grant` row, its payload opened (at-rest.ts), as a GrantInfo; scopes are the OIDC
 * scopes and every resource's.
 */
export function grantInfo(row: {
  key: string;
  payload: string;
  created_at: number | string;
  expires_at: number | string | null;
}): GrantInfo {
  const p = JSON.parse(row.payload) as {
    accountId?: unknown;
    clientId?: unknown;
    openid?: { scope?: unknown };
    resources?: Record<string, unknown>;
  };
  const scopes = new Set<string>();
  const add = (scope: unknown) => {
    if (typeof scope === "string") for (const s of scope.split(" ")) if (s) scopes.add(s);
  };
  add(p.openid?.scope);
  const resources = p.resources && typeof p.resources === "object" ? p.resources : {};
  for (const scope of Object.values(resources)) add(scope);
  return {
    id: row.key,
    accountId: typeof p.accountId === "string" ? p.accountId : null,
    clientId: typeof p.clientId === "string" ? p.clientId : null,
    scopes: [...scopes],
    resources: Object.keys(resources),
    createdAt: Number(row.created_at),
    expiresAt: row.expires_at === null ? null : Number(row.expires_at),
  };
}

export interface SweepResult {
  readonly expiredGrants: GrantRevocation[];
  readonly removed: number;
  readonly abandonedClients: number;
}

/**
 * Where the authorization server keeps oidc-provider's models (clients, grants, sessions,
 * interactions, codes, refresh tokens) by (model, id), with grant families: SQLite
 * (`OAuthStore`, store.ts) or Postgres (`PostgresOAuthStore`, store-postgres.ts). `consume` is an
 * atomic compare-and-set: of two redemptions of one code or refresh token, on any instance, one
 * wins and the other revokes the grant family and throws `InvalidGrant`.
 */
export interface OAuthModelStore {
  upsert(model: string, id: string, payload: AdapterPayload, expiresIn: number | undefined): Awaitable<void>;
  find(model: string, id: string): Awaitable<AdapterPayload | undefined>;
  findByUid(uid: string): Awaitable<AdapterPayload | undefined>;
  findByUserCode(model: string, userCode: string): Awaitable<AdapterPayload | undefined>;
  consume(model: string, id: string): Awaitable<void>;
  destroy(model: string, id: string): Awaitable<void>;
  revokeByGrantId(model: string, grantId: string): Awaitable<void>;
  /** Grants not yet expired, the newest first (at most MAX_LISTED_GRANTS). */
  listGrants(now?: number): Awaitable<GrantInfo[]>;
  /** Revokes a whole grant family: the grant, its codes and refresh tokens, its JWT access tokens. */
  revokeGrant(grantId: string, reason: string): Awaitable<GrantRevocation>;
  /** Registered clients (the registration cap counts them). */
  dynamicClientCount(): Awaitable<number>;
  /** Drops what has expired; an expired grant takes its whole family with it. */
  sweep(now?: number): Awaitable<SweepResult>;
  adapterFactory(): AdapterFactory;
}

export function reuseLabel(model: string): string {
  return model === "RefreshToken"
    ? "refresh token"
    : model === "AuthorizationCode"
      ? "authorization code"
      : model;
}

/** oidc-provider's adapters over a model store, one per model. */
export function modelAdapters(store: OAuthModelStore): AdapterFactory {
  return (name: string) => new ModelAdapter(name, store);
}

class ModelAdapter implements Adapter {
  constructor(
    private readonly model: string,
    private readonly store: OAuthModelStore,
  ) {}

  upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    return this.run(() => this.store.upsert(this.model, id, payload, expiresIn));
  }

  find(id: string): Promise<AdapterPayload | undefined> {
    return this.run(() => this.store.find(this.model, id));
  }

  findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.run(() => this.store.findByUserCode(this.model, userCode));
  }

  findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.run(() => this.store.findByUid(uid));
  }

  consume(id: string): Promise<void> {
    return this.run(() => this.store.consume(this.model, id));
  }

  destroy(id: string): Promise<void> {
    return this.run(() => this.store.destroy(this.model, id));
  }

  revokeByGrantId(grantId: string): Promise<void> {
    return this.run(() => this.store.revokeByGrantId(this.model, grantId));
  }

  /**
   * A store failure, told apart from the library's own errors (src/authserver/outage.ts). The
   * library's errors the store throws on purpose (InvalidGrant for a code or refresh token used
   * twice) pass unchanged: they are answers, not outages.
   */
  private async run<T>(fn: () => Awaitable<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof errors.OIDCProviderError) throw err;
      throw new StoreUnavailable(err);
    }
  }
}
