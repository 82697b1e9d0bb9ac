import type { PostgresState } from "../../state/postgres.js";
import {
  rowOf,
  rowValues,
  type ConnectionFilter,
  type ConnectionRow,
  type ConnectionStore,
  type FlowRow,
} from "./store.js";

const COLUMNS =
  "id, subject, server, status, issuer, client_id, scopes, tokens, expires_at, version, created_at, updated_at, last_used_at, requested_scopes, step_up_scopes";

/** The same tables in Postgres (migrations 4 to 6), shared by every instance. */
export class PostgresConnectionStore implements ConnectionStore {
  constructor(private readonly pg: PostgresState) {}

  async get(subject: string, server: string): Promise<ConnectionRow | undefined> {
    const r = await this.pg.query(
      `SELECT ${COLUMNS} FROM warden_upstream_connections WHERE subject = $1 AND server = $2`,
      [subject, server],
    );
    const raw = r.rows[0];
    return raw && rowOf(raw as Parameters<typeof rowOf>[0]);
  }

  async replace(row: ConnectionRow): Promise<void> {
    await this.pg.transaction(async (tx) => {
      await tx.query("DELETE FROM warden_upstream_connections WHERE subject = $1 AND server = $2", [
        row.subject,
        row.server,
      ]);
      await tx.query(
        `INSERT INTO warden_upstream_connections (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
        rowValues(row),
      );
    });
  }

  async update(
    id: string,
    version: number,
    change: { tokens: string; expiresAt: number | null; scopes: string; status: ConnectionRow["status"] },
  ): Promise<boolean> {
    const r = await this.pg.query(
      "UPDATE warden_upstream_connections SET tokens = $1, expires_at = $2, scopes = $3, status = $4, version = version + 1, updated_at = $5, refreshing_until = 0 WHERE id = $6 AND version = $7",
      [change.tokens, change.expiresAt, change.scopes, change.status, Date.now(), id, version],
    );
    return r.rowCount === 1;
  }

  async markBroken(id: string): Promise<void> {
    await this.pg.query(
      "UPDATE warden_upstream_connections SET status = 'broken', version = version + 1, updated_at = $1, refreshing_until = 0 WHERE id = $2",
      [Date.now(), id],
    );
  }

  async stepUp(id: string, from: string, to: string): Promise<boolean> {
    const r = await this.pg.query(
      "UPDATE warden_upstream_connections SET step_up_scopes = $1 WHERE id = $2 AND step_up_scopes = $3",
      [to, id, from],
    );
    return r.rowCount === 1;
  }

  async lease(id: string, now: number, until: number): Promise<boolean> {
    const r = await this.pg.query(
      "UPDATE warden_upstream_connections SET refreshing_until = $1 WHERE id = $2 AND refreshing_until <= $3",
      [until, id, now],
    );
    return r.rowCount === 1;
  }

  async release(id: string): Promise<void> {
    await this.pg.query("UPDATE warden_upstream_connections SET refreshing_until = 0 WHERE id = $1", [id]);
  }

  async touch(id: string, now: number): Promise<void> {
    await this.pg.query("UPDATE warden_upstream_connections SET last_used_at = $1 WHERE id = $2", [now, id]);
  }

  async list(filter: ConnectionFilter): Promise<ConnectionRow[]> {
    const r = await this.pg.query(
      `SELECT ${COLUMNS} FROM warden_upstream_connections WHERE ($1::text IS NULL OR subject = $1) AND ($2::text IS NULL OR server = $2) ORDER BY subject, server`,
      [filter.subject ?? null, filter.server ?? null],
    );
    return r.rows.map((raw) => rowOf(raw as Parameters<typeof rowOf>[0]));
  }

  async remove(id: string): Promise<boolean> {
    const r = await this.pg.query("DELETE FROM warden_upstream_connections WHERE id = $1", [id]);
    return r.rowCount === 1;
  }

  async saveFlow(flow: FlowRow): Promise<void> {
    await this.pg.query(
      "INSERT INTO warden_upstream_flows (state_digest, subject, server, data, expires_at) VALUES ($1, $2, $3, $4, $5)",
      [flow.stateDigest, flow.subject, flow.server, flow.data, flow.expiresAt],
    );
  }

  async takeFlow(stateDigest: string): Promise<FlowRow | undefined> {
    const r = await this.pg.query<{
      state_digest: string;
      subject: string;
      server: string;
      data: string;
      expires_at: string;
    }>(
      "DELETE FROM warden_upstream_flows WHERE state_digest = $1 RETURNING state_digest, subject, server, data, expires_at",
      [stateDigest],
    );
    const f = r.rows[0];
    return (
      f && {
        stateDigest: f.state_digest,
        subject: f.subject,
        server: f.server,
        data: f.data,
        expiresAt: Number(f.expires_at),
      }
    );
  }

  async sweepFlows(now: number): Promise<void> {
    await this.pg.query("DELETE FROM warden_upstream_flows WHERE expires_at < $1", [now]);
  }

  async client(issuer: string): Promise<string | undefined> {
    const r = await this.pg.query<{ data: string }>(
      "SELECT data FROM warden_upstream_clients WHERE issuer = $1",
      [issuer],
    );
    return r.rows[0]?.data;
  }

  async saveClient(issuer: string, data: string): Promise<void> {
    await this.pg.query(
      "INSERT INTO warden_upstream_clients (issuer, data) VALUES ($1, $2) ON CONFLICT (issuer) DO UPDATE SET data = excluded.data",
      [issuer, data],
    );
  }

  async clientIssuer(server: string, clientId: string, issuer: string): Promise<string> {
    // The no-op update makes RETURNING give the row that was there first.
    const r = await this.pg.query<{ issuer: string }>(
      "INSERT INTO warden_upstream_client_issuers (server, client_id, issuer) VALUES ($1, $2, $3) ON CONFLICT (server, client_id) DO UPDATE SET issuer = warden_upstream_client_issuers.issuer RETURNING issuer",
      [server, clientId, issuer],
    );
    return r.rows[0]?.issuer as string;
  }
}
