import type { Db } from "../../state/store.js";

/** One user's connection to one server, as stored: the tokens sealed, everything else plain. */
export interface ConnectionRow {
  readonly id: string;
  readonly subject: string;
  readonly server: string;
  /** `connected`, or `broken` (the refresh token was refused: the user must connect again). */
  readonly status: "connected" | "broken";
  /** The upstream authorization server's issuer and the client the gateway used there. */
  readonly issuer: string;
  readonly clientId: string;
  /** The scopes granted, space-separated (what the connect asked for when the server did not say). */
  readonly scopes: string;
  /** What the connect that made this connection asked for, space-separated. */
  readonly requestedScopes: string;
  /**
   * Scopes the server has since asked for (403 insufficient_scope) that were not granted: the
   * user's next connect asks for them too. Empty when none.
   */
  readonly stepUpScopes: string;
  /** Sealed JSON of the tokens (vault.ts): never read outside the vault. */
  readonly tokens: string;
  readonly expiresAt: number | null;
  /** Bumped on every write of `tokens`: a refresh writes only over the version it read. */
  readonly version: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly lastUsedAt: number | null;
}

/** A connect flow between the redirect to the upstream and its callback (single use). */
export interface FlowRow {
  readonly stateDigest: string;
  readonly subject: string;
  readonly server: string;
  /** Sealed JSON (the PKCE verifier and what the callback checks). */
  readonly data: string;
  readonly expiresAt: number;
}

export interface ConnectionFilter {
  readonly subject?: string;
  readonly server?: string;
}

/**
 * Where connections, flows and registered clients live: the state store's SQLite, or Postgres
 * when instances share state. Every write that two instances could race on is conditional.
 */
export interface ConnectionStore {
  get(subject: string, server: string): Promise<ConnectionRow | undefined>;
  /** Replaces the user's connection to the server (a new connect), whatever it was. */
  replace(row: ConnectionRow): Promise<void>;
  /** New tokens over `version`; false when another writer got there first. */
  update(
    id: string,
    version: number,
    change: { tokens: string; expiresAt: number | null; scopes: string; status: ConnectionRow["status"] },
  ): Promise<boolean>;
  markBroken(id: string): Promise<void>;
  /** Sets the step-up scopes over `from` (what was read); false when another writer changed them. */
  stepUp(id: string, from: string, to: string): Promise<boolean>;
  /** Takes the refresh lease of a row until `until`; false when another holder's lease runs. */
  lease(id: string, now: number, until: number): Promise<boolean>;
  release(id: string): Promise<void>;
  touch(id: string, now: number): Promise<void>;
  list(filter: ConnectionFilter): Promise<ConnectionRow[]>;
  remove(id: string): Promise<boolean>;
  saveFlow(flow: FlowRow): Promise<void>;
  /** The flow, deleted in the same step: a second callback with the same state finds nothing. */
  takeFlow(stateDigest: string): Promise<FlowRow | undefined>;
  sweepFlows(now: number): Promise<void>;
  client(issuer: string): Promise<string | undefined>;
  saveClient(issuer: string, data: string): Promise<void>;
  /**
   * The issuer `server`'s configured client `clientId` belongs to: `issuer` if none was recorded
   * yet (the first writer wins, across instances), else the one recorded.
   */
  clientIssuer(server: string, clientId: string, issuer: string): Promise<string>;
}

const COLUMNS =
  "id, subject, server, status, issuer, client_id, scopes, tokens, expires_at, version, created_at, updated_at, last_used_at, requested_scopes, step_up_scopes";

interface RawRow {
  id: string;
  subject: string;
  server: string;
  status: string;
  issuer: string;
  client_id: string;
  scopes: string;
  tokens: string;
  expires_at: number | string | null;
  version: number | string;
  created_at: number | string;
  updated_at: number | string;
  last_used_at: number | string | null;
  requested_scopes: string;
  step_up_scopes: string;
}

/** A row as read from either database (Postgres returns BIGINT as a string). */
export function rowOf(r: RawRow): ConnectionRow {
  const num = (v: number | string | null) => (v === null ? null : Number(v));
  return {
    id: r.id,
    subject: r.subject,
    server: r.server,
    status: r.status === "connected" ? "connected" : "broken",
    issuer: r.issuer,
    clientId: r.client_id,
    scopes: r.scopes,
    tokens: r.tokens,
    expiresAt: num(r.expires_at),
    version: Number(r.version),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    lastUsedAt: num(r.last_used_at),
    requestedScopes: r.requested_scopes,
    stepUpScopes: r.step_up_scopes,
  };
}

export function rowValues(row: ConnectionRow): unknown[] {
  return [
    row.id,
    row.subject,
    row.server,
    row.status,
    row.issuer,
    row.clientId,
    row.scopes,
    row.tokens,
    row.expiresAt,
    row.version,
    row.createdAt,
    row.updatedAt,
    row.lastUsedAt,
    row.requestedScopes,
    row.stepUpScopes,
  ];
}

/** The embedded store's tables (SQLite migrations 9 to 11). */
export class SqliteConnectionStore implements ConnectionStore {
  constructor(private readonly db: Db) {}

  async get(subject: string, server: string): Promise<ConnectionRow | undefined> {
    const r = this.db
      .prepare(`SELECT ${COLUMNS} FROM upstream_connections WHERE subject = ? AND server = ?`)
      .get(subject, server) as RawRow | undefined;
    return r && rowOf(r);
  }

  async replace(row: ConnectionRow): Promise<void> {
    this.db.transaction(() => {
      this.db
        .prepare("DELETE FROM upstream_connections WHERE subject = ? AND server = ?")
        .run(row.subject, row.server);
      this.db
        .prepare(
          `INSERT INTO upstream_connections (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(...rowValues(row));
    })();
  }

  async update(
    id: string,
    version: number,
    change: { tokens: string; expiresAt: number | null; scopes: string; status: ConnectionRow["status"] },
  ): Promise<boolean> {
    const r = this.db
      .prepare(
        "UPDATE upstream_connections SET tokens = ?, expires_at = ?, scopes = ?, status = ?, version = version + 1, updated_at = ?, refreshing_until = 0 WHERE id = ? AND version = ?",
      )
      .run(change.tokens, change.expiresAt, change.scopes, change.status, Date.now(), id, version);
    return r.changes === 1;
  }

  async markBroken(id: string): Promise<void> {
    this.db
      .prepare(
        "UPDATE upstream_connections SET status = 'broken', version = version + 1, updated_at = ?, refreshing_until = 0 WHERE id = ?",
      )
      .run(Date.now(), id);
  }

  async stepUp(id: string, from: string, to: string): Promise<boolean> {
    const r = this.db
      .prepare("UPDATE upstream_connections SET step_up_scopes = ? WHERE id = ? AND step_up_scopes = ?")
      .run(to, id, from);
    return r.changes === 1;
  }

  async lease(id: string, now: number, until: number): Promise<boolean> {
    const r = this.db
      .prepare("UPDATE upstream_connections SET refreshing_until = ? WHERE id = ? AND refreshing_until <= ?")
      .run(until, id, now);
    return r.changes === 1;
  }

  async release(id: string): Promise<void> {
    this.db.prepare("UPDATE upstream_connections SET refreshing_until = 0 WHERE id = ?").run(id);
  }

  async touch(id: string, now: number): Promise<void> {
    this.db.prepare("UPDATE upstream_connections SET last_used_at = ? WHERE id = ?").run(now, id);
  }

  async list(filter: ConnectionFilter): Promise<ConnectionRow[]> {
    const rows = this.db
      .prepare(
        `SELECT ${COLUMNS} FROM upstream_connections WHERE (? IS NULL OR subject = ?) AND (? IS NULL OR server = ?) ORDER BY subject, server`,
      )
      .all(
        filter.subject ?? null,
        filter.subject ?? null,
        filter.server ?? null,
        filter.server ?? null,
      ) as RawRow[];
    return rows.map(rowOf);
  }

  async remove(id: string): Promise<boolean> {
    return this.db.prepare("DELETE FROM upstream_connections WHERE id = ?").run(id).changes === 1;
  }

  async saveFlow(flow: FlowRow): Promise<void> {
    this.db
      .prepare(
        "INSERT INTO upstream_flows (state_digest, subject, server, data, expires_at) VALUES (?, ?, ?, ?, ?)",
      )
      .run(flow.stateDigest, flow.subject, flow.server, flow.data, flow.expiresAt);
  }

  async takeFlow(stateDigest: string): Promise<FlowRow | undefined> {
    const r = this.db
      .prepare(
        "DELETE FROM upstream_flows WHERE state_digest = ? RETURNING state_digest, subject, server, data, expires_at",
      )
      .get(stateDigest) as
      { state_digest: string; subject: string; server: string; data: string; expires_at: number } | undefined;
    return (
      r && {
        stateDigest: r.state_digest,
        subject: r.subject,
        server: r.server,
        data: r.data,
        expiresAt: r.expires_at,
      }
    );
  }

  async sweepFlows(now: number): Promise<void> {
    this.db.prepare("DELETE FROM upstream_flows WHERE expires_at < ?").run(now);
  }

  async client(issuer: string): Promise<string | undefined> {
    const r = this.db.prepare("SELECT data FROM upstream_clients WHERE issuer = ?").get(issuer) as
      { data: string } | undefined;
    return r?.data;
  }

  async saveClient(issuer: string, data: string): Promise<void> {
    this.db
      .prepare(
        "INSERT INTO upstream_clients (issuer, data) VALUES (?, ?) ON CONFLICT(issuer) DO UPDATE SET data = excluded.data",
      )
      .run(issuer, data);
  }

  async clientIssuer(server: string, clientId: string, issuer: string): Promise<string> {
    const r = this.db
      .prepare(
        // The no-op update makes RETURNING give the row that was there first.
        "INSERT INTO upstream_client_issuers (server, client_id, issuer) VALUES (?, ?, ?) ON CONFLICT(server, client_id) DO UPDATE SET issuer = issuer RETURNING issuer",
      )
      .get(server, clientId, issuer) as { issuer: string };
    return r.issuer;
  }
}
