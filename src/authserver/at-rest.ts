import { createHash } from "node:crypto";
import type { AdapterPayload } from "oidc-provider";
import { isSealed, sealedPrefix, StateKeyError, type StateKey } from "../state/sealed.js";

// Models whose id is a public name, found and listed by it: a client's client_id, and a grant's
// id (the admin API lists and revokes grants by it; no client ever presents one). Every other
// model's id is a bearer value (the session cookie, an interaction's uid, a code, a refresh
// token) or worthless to keep readable: stored under a keyed digest, so a new model is covered.
const NAMED_BY_ID: ReadonlySet<string> = new Set(["Client", "Grant"]);

// A session is also found by its uid (a token bound to it, a resumed interaction), and may then be
// saved again: its id, the cookie, stays in its payload, sealed like the rest.
const KEEPS_ID: ReadonlySet<string> = new Set(["Session"]);

// The models an earlier release stored under the bare SHA-256 of their id (the others under the
// id itself). Only for rewriting such rows; never edit.
const LEGACY_DIGESTED: ReadonlySet<string> = new Set([
  "AccessToken",
  "AuthorizationCode",
  "RefreshToken",
  "ClientCredentials",
  "InitialAccessToken",
  "RegistrationAccessToken",
  "DeviceCode",
  "BackchannelAuthenticationRequest",
  "PushedAuthorizationRequest",
  "PreAuthorizedCode",
]);

/** The columns a model is stored under, whichever the database. */
export interface StoredModel {
  model: string;
  key: string;
  payload: string;
  grantId: string | null;
  sessionUid: string | null;
  userCode: string | null;
  clientId: string | null;
  accountId: string | null;
  now: number;
  expiresAt: number | null;
}

/** A row as an earlier release may have written it: the id (or its SHA-256) and a plaintext payload. */
export interface EarlierRow {
  model: string;
  key: string;
  payload: string;
  user_code: string | null;
}

/**
 * How the authorization server's models are kept at rest (`oauth_models`, `warden_oauth_models`),
 * so that a copy of the database yields no usable credential:
 * - a model's id, unless it is a public name (NAMED_BY_ID), is stored as HMAC-SHA-256 under a key
 *   derived from the state key of the id's SHA-256 (the SHA-256 first so that an earlier
 *   release's rows, stored under it, can be rewritten without their ids), and found by the same
 *   digest of the id presented; a device flow's user code likewise;
 * - every payload is sealed (AES-256-GCM, sealed.ts), bound to its (model, stored key): a client's
 *   secret, a session's cookie and accounts, an interaction's parameters;
 * - a bearer id is not kept in its payload at all (it comes back from the id presented), except a
 *   session's (KEEPS_ID).
 */
export class ModelsAtRest {
  /** How every payload this key sealed begins; a row that begins otherwise is to be rewritten. */
  readonly sealedPrefix: string;

  constructor(private readonly key: StateKey) {
    this.sealedPrefix = sealedPrefix(key.id);
  }

  /** The primary key a model's id is stored under. */
  storedKey(model: string, id: string): string {
    return NAMED_BY_ID.has(model) ? id : this.key.digest(sha256(id));
  }

  /** What a device flow's user code is stored and looked up as. */
  userCode(value: string): string {
    return this.key.digest(sha256(value));
  }

  /** The model's stored payload lacks its id, so it cannot be rebuilt without it (findByUserCode). */
  dropsId(model: string): boolean {
    return !NAMED_BY_ID.has(model) && !KEEPS_ID.has(model);
  }

  store(
    model: string,
    id: string,
    payload: AdapterPayload,
    expiresIn: number | undefined,
    now = Date.now(),
  ): StoredModel {
    const key = this.storedKey(model, id);
    const kept: AdapterPayload = { ...payload };
    if (this.dropsId(model)) delete kept.jti;
    return {
      model,
      key,
      payload: this.key.seal(JSON.stringify(kept), context(model, key)),
      grantId: model === "Grant" ? id : stringOrNull(payload.grantId),
      sessionUid: model === "Session" ? stringOrNull(payload.uid) : null,
      userCode: typeof payload.userCode === "string" ? this.userCode(payload.userCode) : null,
      clientId: model === "Client" ? id : stringOrNull(payload.clientId),
      accountId: stringOrNull(payload.accountId),
      now,
      expiresAt: typeof expiresIn === "number" && expiresIn > 0 ? now + expiresIn * 1000 : null,
    };
  }

  /**
   * A stored row as oidc-provider's payload again; `id` (the one presented) restores a bearer
   * model's `jti`. A StateKeyError when the payload does not open (another key, tampered, moved).
   */
  open(model: string, row: { key: string; payload: string; consumed_at: number | null }, id?: string) {
    const payload = JSON.parse(this.openPayload(model, row.key, row.payload)) as AdapterPayload;
    if (id !== undefined && this.dropsId(model)) payload.jti = id;
    if (row.consumed_at !== null) payload.consumed = Math.floor(Number(row.consumed_at) / 1000);
    return payload;
  }

  /** A stored payload's JSON text. */
  openPayload(model: string, key: string, payload: string): string {
    return this.key.open(payload, context(model, key));
  }

  /**
   * A row an earlier release wrote, as this one stores it: its id digested with the state key, its
   * payload sealed. A StateKeyError when the row is sealed with another state key, or unreadable.
   */
  upgrade(row: EarlierRow): { key: string; payload: string; userCode: string | null } {
    const where = `oauth_models ${row.model} row`;
    if (isSealed(row.payload)) {
      // Not ours (the query picks the rows that do not start with our prefix): this throws.
      this.key.open(row.payload, context(row.model, row.key));
      throw new StateKeyError(`${where}: sealed with this key but not picked as such`);
    }
    let payload: AdapterPayload;
    try {
      payload = JSON.parse(row.payload) as AdapterPayload;
    } catch {
      // The key may be a bearer value: never put it in a message.
      throw new StateKeyError(`${where}: neither sealed nor a stored payload`);
    }
    let key = row.key;
    if (!NAMED_BY_ID.has(row.model))
      key = this.key.digest(LEGACY_DIGESTED.has(row.model) ? Buffer.from(key, "base64url") : sha256(key));
    if (this.dropsId(row.model)) delete payload.jti;
    return {
      key,
      payload: this.key.seal(JSON.stringify(payload), context(row.model, key)),
      userCode: row.user_code === null ? null : this.key.digest(Buffer.from(row.user_code, "base64url")),
    };
  }
}

/** What a payload is bound to (the AAD): its table, model and stored key. */
function context(model: string, key: string): string {
  return `oauth_models:${model}:${key}`;
}

function sha256(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

function stringOrNull(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}
