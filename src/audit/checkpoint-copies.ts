/**
 * Copies of the checkpoints kept apart from the gateway's machine (`audit.checkpoint_copies`):
 * a file (on a mount the gateway may only append to, or that a shipper sends off-box) or a
 * Postgres table (the gateway's role allowed INSERT and SELECT only). Whoever holds the audit key
 * can recompute the chain, the local checkpoints and the state store's marks; they cannot take
 * back what a copy already holds, so `audit verify` compares the log with every copy.
 */
import { appendFile, mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import type pg from "pg";
import type { AuditCheckpointCopyConfig } from "../config/types.js";
import type { Logger } from "../log.js";
import { pgModule } from "../state/pg.js";
import { checkedCheckpoint, readCheckpoints, type Checkpoint, type CheckpointSource } from "./checkpoints.js";

export interface CheckpointCopy {
  /** `checkpoint copy <file>`, `checkpoint copy postgres:<host/db>`: for logs and verify. */
  readonly name: string;
  /** Resolves when `c` is stored there. Appends from one process land in call order. */
  append(c: Checkpoint): Promise<void>;
  read(key: Uint8Array): Promise<CheckpointSource>;
  close(): Promise<void>;
}

export function openCheckpointCopies(
  copies: readonly AuditCheckpointCopyConfig[],
  log?: Logger,
): CheckpointCopy[] {
  return copies.map((c) => (c.kind === "file" ? new FileCopy(c.path) : new PostgresCopy(c.url, log)));
}

class FileCopy implements CheckpointCopy {
  readonly name: string;
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly path: string) {
    this.name = `checkpoint copy ${path}`;
  }

  append(c: Checkpoint): Promise<void> {
    const next = this.tail.then(async () => {
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      await appendFile(this.path, `${JSON.stringify(c)}\n`, { mode: 0o600 });
    });
    this.tail = next.catch(() => undefined);
    return next;
  }

  read(key: Uint8Array): Promise<CheckpointSource> {
    return Promise.resolve(readCheckpoints(this.path, key, true));
  }

  close(): Promise<void> {
    return this.tail;
  }
}

const TABLE = "warden_audit_checkpoints";
const UNDEFINED_TABLE = "42P01";
// The table is created on first use when the role may; an operator who grants the gateway INSERT
// and SELECT only creates it beforehand with this statement (docs/audit.md).
const CREATE = `CREATE TABLE IF NOT EXISTS ${TABLE} (
  id BIGSERIAL PRIMARY KEY,
  sink TEXT NOT NULL,
  seq BIGINT NOT NULL,
  hash TEXT NOT NULL,
  ts TEXT NOT NULL,
  first BIGINT,
  mac TEXT NOT NULL
)`;

interface Row {
  id: string;
  sink: string;
  seq: string;
  hash: string;
  ts: string;
  first: string | null;
  mac: string;
}

class PostgresCopy implements CheckpointCopy {
  readonly name: string;
  private readonly pool: pg.Pool;

  constructor(url: string, log?: Logger) {
    const u = new URL(url);
    this.name = `checkpoint copy postgres:${u.host}${u.pathname}`;
    this.pool = new (pgModule().Pool)({
      connectionString: url,
      max: 2,
      connectionTimeoutMillis: 3_000,
      query_timeout: 10_000,
      idleTimeoutMillis: 30_000,
    });
    this.pool.on("error", (err) => log?.warn({ err: err.message }, "checkpoint copy: connection lost"));
  }

  async append(c: Checkpoint): Promise<void> {
    const insert = () =>
      this.pool.query(
        `INSERT INTO ${TABLE} (sink, seq, hash, ts, first, mac) VALUES ($1, $2, $3, $4, $5, $6)`,
        [c.sink, c.seq, c.hash, c.ts, c.first ?? null, c.mac],
      );
    try {
      await insert();
    } catch (err) {
      if ((err as { code?: string }).code !== UNDEFINED_TABLE) throw err;
      await this.pool.query(CREATE);
      await insert();
    }
  }

  async read(key: Uint8Array): Promise<CheckpointSource> {
    const base = { name: this.name, external: true, valid: [], invalidLines: [] };
    let rows: Row[];
    try {
      rows = (
        await this.pool.query<Row>(`SELECT id, sink, seq, hash, ts, first, mac FROM ${TABLE} ORDER BY id`)
      ).rows;
    } catch (err) {
      if ((err as { code?: string }).code === UNDEFINED_TABLE) return { ...base, state: "missing" };
      return { ...base, state: "unreadable", error: (err as Error).message };
    }
    if (rows.length === 0) return { ...base, state: "empty" };
    const valid: Checkpoint[] = [];
    const invalidLines: number[] = [];
    for (const r of rows) {
      const c = checkedCheckpoint(key, {
        sink: r.sink,
        seq: Number(r.seq),
        hash: r.hash,
        ts: r.ts,
        ...(r.first === null ? {} : { first: Number(r.first) }),
        mac: r.mac,
      });
      if (c) valid.push(c);
      else invalidLines.push(Number(r.id));
    }
    return { ...base, state: "present", valid, invalidLines };
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}
