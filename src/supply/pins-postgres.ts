import type { PostgresState } from "../state/postgres.js";
import { PIN_COLUMNS, pinFromRow, pinToRow, type Pin, type PinRow } from "./pins.js";
import { pinField, type PinChannel } from "./pins-shared.js";

const CHANNEL = "warden_pins";
const VALUES = "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10";

function params(pin: Pin): unknown[] {
  const r = pinToRow(pin);
  return [
    r.server,
    r.kind,
    r.name,
    r.pinned_hash,
    r.pinned_def,
    r.current_hash,
    r.current_def,
    r.findings,
    r.pinned_at,
    r.seen_at,
  ];
}

/**
 * Pins in the shared Postgres (`warden_tool_pins`, step 3 of the shared schema), changes announced
 * with NOTIFY in the transaction that writes them, so a listener never reads before the commit.
 */
export class PostgresPinChannel implements PinChannel {
  readonly name = "postgres";

  constructor(
    private readonly postgres: PostgresState,
    /** Whether the connections are this channel's own (closed with it), or the process's. */
    private readonly owned: boolean,
  ) {}

  async all(): Promise<Pin[]> {
    const r = await this.postgres.query<PinRow>(`SELECT ${PIN_COLUMNS} FROM warden_tool_pins`);
    return r.rows.map(pinFromRow);
  }

  async read(field: string): Promise<Pin | undefined> {
    const key = JSON.parse(field) as unknown;
    if (!Array.isArray(key) || key.length !== 3 || !key.every((k) => typeof k === "string")) return undefined;
    const r = await this.postgres.query<PinRow>(
      `SELECT ${PIN_COLUMNS} FROM warden_tool_pins WHERE server = $1 AND kind = $2 AND name = $3`,
      key,
      "warden_pin_read",
    );
    const row = r.rows[0];
    return row ? pinFromRow(row) : undefined;
  }

  async addIfMissing(pin: Pin): Promise<void> {
    await this.postgres.query(
      `INSERT INTO warden_tool_pins (${PIN_COLUMNS}) VALUES (${VALUES}) ON CONFLICT DO NOTHING`,
      params(pin),
    );
  }

  async write(pin: Pin): Promise<void> {
    await this.postgres.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO warden_tool_pins (${PIN_COLUMNS}) VALUES (${VALUES})
         ON CONFLICT (server, kind, name) DO UPDATE SET pinned_hash = excluded.pinned_hash,
           pinned_def = excluded.pinned_def, current_hash = excluded.current_hash,
           current_def = excluded.current_def, findings = excluded.findings,
           pinned_at = excluded.pinned_at, seen_at = excluded.seen_at`,
        params(pin),
      );
      await tx.query("SELECT pg_notify($1, $2)", [CHANNEL, pinField(pin.server, pin.kind, pin.name)]);
    });
  }

  subscribe(onChange: (field: string) => void, onResync: () => void): Promise<void> {
    return this.postgres.listen(CHANNEL, onChange, onResync);
  }

  async close(): Promise<void> {
    // The process's shared connections (and this channel's LISTEN among them) end with it.
    if (this.owned) await this.postgres.close();
  }
}
