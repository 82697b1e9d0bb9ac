/**
 * Tool-definition pins: the canonical form of each tool, prompt and resource template a server
 * lists (and of its `initialize` instructions), its SHA-256, and where pins persist. The gateway writes them; `mcp-warden tools` reads
 * and approves them in the same store.
 */
import { createHash } from "node:crypto";
import { canonical } from "../audit/chain.js";
import type { Db } from "../state/store.js";
import type { DefinitionKind, Finding } from "./poisoning.js";

/** The fields that make up a definition, per kind: what the model reads and what the call accepts. */
const FIELDS: Readonly<Record<DefinitionKind, readonly string[]>> = {
  tool: ["name", "title", "description", "inputSchema", "outputSchema", "annotations", "icons", "_meta"],
  prompt: ["name", "title", "description", "arguments", "icons", "_meta"],
  resourceTemplate: [
    "name",
    "title",
    "uriTemplate",
    "description",
    "mimeType",
    "annotations",
    "icons",
    "_meta",
  ],
  instructions: ["instructions"],
};

/**
 * Fields pinned since issue 18 (version 2 pins). A pin written before them (version 1) hashes the
 * definition without them; `legacyHash` recognises such a pin so it can be upgraded in place
 * (docs/supply-chain.md) instead of every tool with `_meta` or icons turning up as changed.
 */
const SINCE_V2 = ["icons", "_meta"];
/** Hashed with the definition in a version 2 pin, so its hash never equals a version 1 hash of the same fields. */
const PIN_VERSION = "io.mcp-warden/pin-version";

/** The one pin of a server's `initialize` instructions: kind `instructions`, this name. */
export const INSTRUCTIONS_NAME = "instructions";

/**
 * The identity of a definition within its server: a tool's or prompt's name, a template's URI
 * template; a server has one set of instructions, named INSTRUCTIONS_NAME.
 */
export function definitionName(
  kind: DefinitionKind,
  item: Readonly<Record<string, unknown>>,
): string | undefined {
  if (kind === "instructions") return typeof item.instructions === "string" ? INSTRUCTIONS_NAME : undefined;
  const name = kind === "resourceTemplate" ? item.uriTemplate : item.name;
  return typeof name === "string" && name.length > 0 && name.length <= 1_000 ? name : undefined;
}

/** The pinned part of a listed item: everything the model reads or a client shows, `_meta` and icons included. */
export function canonicalDefinition(
  kind: DefinitionKind,
  item: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of FIELDS[kind]) if (Object.hasOwn(item, f) && item[f] !== undefined) out[f] = item[f];
  return out;
}

/** `sha256:<hex>` of the definition's canonical JSON (RFC 8785), with the pin version (2). */
export function definitionHash(definition: Readonly<Record<string, unknown>>): string {
  return sha256({ ...definition, [PIN_VERSION]: 2 });
}

/** The version 1 hash: the definition without the fields version 2 added, and no version. */
export function legacyHash(definition: Readonly<Record<string, unknown>>): string {
  const v1: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(definition)) if (!SINCE_V2.includes(k)) v1[k] = v;
  return sha256(v1);
}

/** Whether a stored pin was written by version 1 (its hash is the version 1 hash of its definition). */
export function isLegacyPin(pin: Pin): boolean {
  return (
    pin.pinnedHash !== "" &&
    pin.pinnedHash === legacyHash(pin.pinnedDef) &&
    pin.pinnedHash !== definitionHash(pin.pinnedDef)
  );
}

function sha256(value: Readonly<Record<string, unknown>>): string {
  return `sha256:${createHash("sha256").update(canonical(value)).digest("hex")}`;
}

export interface Pin {
  readonly server: string;
  readonly kind: DefinitionKind;
  readonly name: string;
  /** Empty while a definition first seen after its server's first listing awaits approval (`new_tools: hold`). */
  readonly pinnedHash: string;
  readonly pinnedDef: Record<string, unknown>;
  /** The definition last seen; differs from the pinned one while it is held. */
  readonly currentHash: string;
  readonly currentDef: Record<string, unknown>;
  /** The poisoning scan of the current definition. */
  readonly findings: readonly Finding[];
  readonly pinnedAt: string;
  readonly seenAt: string;
}

/** A pin's two hashes: enough to tell whether it holds its item (read on every call). */
export type PinHashes = Pick<Pin, "pinnedHash" | "currentHash">;

export interface PinStore {
  get(server: string, kind: DefinitionKind, name: string): Pin | undefined;
  /** The pin's hashes only, without reading its definitions. */
  hashes(server: string, kind: DefinitionKind, name: string): PinHashes | undefined;
  list(server?: string): Pin[];
  /** Inserts or replaces the pin of (server, kind, name). */
  put(pin: Pin): void;
  /** Pins the current definition if it still has `currentHash`; false when it changed meanwhile. */
  approve(server: string, kind: DefinitionKind, name: string, currentHash: string, at: string): boolean;
  /** Waits for writes in flight and lets go of connections. */
  close(): Promise<void>;
}

/** A pin as stored in a table (SQLite, Postgres): definitions and findings as JSON text. */
export interface PinRow {
  server: string;
  kind: string;
  name: string;
  pinned_hash: string;
  pinned_def: string;
  current_hash: string;
  current_def: string;
  findings: string;
  pinned_at: string;
  seen_at: string;
}

export const PIN_COLUMNS =
  "server, kind, name, pinned_hash, pinned_def, current_hash, current_def, findings, pinned_at, seen_at";

export function pinFromRow(r: PinRow): Pin {
  return {
    server: r.server,
    kind: r.kind as DefinitionKind,
    name: r.name,
    pinnedHash: r.pinned_hash,
    pinnedDef: JSON.parse(r.pinned_def) as Record<string, unknown>,
    currentHash: r.current_hash,
    currentDef: JSON.parse(r.current_def) as Record<string, unknown>,
    findings: JSON.parse(r.findings) as Finding[],
    pinnedAt: r.pinned_at,
    seenAt: r.seen_at,
  };
}

function hashKey(server: string, kind: DefinitionKind, name: string): string {
  return `${server}\u0000${kind}\u0000${name}`;
}

export function pinToRow(pin: Pin): PinRow {
  return {
    server: pin.server,
    kind: pin.kind,
    name: pin.name,
    pinned_hash: pin.pinnedHash,
    pinned_def: JSON.stringify(pin.pinnedDef),
    current_hash: pin.currentHash,
    current_def: JSON.stringify(pin.currentDef),
    findings: JSON.stringify(pin.findings),
    pinned_at: pin.pinnedAt,
    seen_at: pin.seenAt,
  };
}

/** Pins whose hashes are kept in memory at most: past it the memory starts over (read again). */
const MAX_REMEMBERED_HASHES = 100_000;

/**
 * The embedded default: the state store's `tool_pins` table (migration 5). Every call of a tool
 * already judged servable asks for its pin's hashes (DefinitionGuard), so those are kept in memory:
 * read from the table once, then kept by every write this process makes (`put`, `approve`, and
 * the shared stores' copies, which come through them) and refreshed by every full read (`get`).
 * Another process's write to the same file (`tools approve` from the CLI) reaches the memory at
 * the next `get`, which a held tool's call always makes.
 */
export class SqlitePinStore implements PinStore {
  private readonly remembered = new Map<string, PinHashes | null>();
  private readonly one;
  private readonly oneHashes;
  private readonly all;
  private readonly ofServer;
  private readonly upsert;
  private readonly promote;

  constructor(db: Db) {
    this.one = db.prepare(`SELECT ${PIN_COLUMNS} FROM tool_pins WHERE server = ? AND kind = ? AND name = ?`);
    this.oneHashes = db.prepare(
      "SELECT pinned_hash, current_hash FROM tool_pins WHERE server = ? AND kind = ? AND name = ?",
    );
    this.all = db.prepare(`SELECT ${PIN_COLUMNS} FROM tool_pins ORDER BY server, kind, name`);
    this.ofServer = db.prepare(`SELECT ${PIN_COLUMNS} FROM tool_pins WHERE server = ? ORDER BY kind, name`);
    this.upsert = db.prepare(
      `INSERT INTO tool_pins (${PIN_COLUMNS}) VALUES (@server, @kind, @name, @pinned_hash, @pinned_def,
         @current_hash, @current_def, @findings, @pinned_at, @seen_at)
       ON CONFLICT (server, kind, name) DO UPDATE SET pinned_hash = excluded.pinned_hash,
         pinned_def = excluded.pinned_def, current_hash = excluded.current_hash,
         current_def = excluded.current_def, findings = excluded.findings,
         pinned_at = excluded.pinned_at, seen_at = excluded.seen_at`,
    );
    this.promote = db.prepare(
      `UPDATE tool_pins SET pinned_hash = current_hash, pinned_def = current_def, pinned_at = ?
       WHERE server = ? AND kind = ? AND name = ? AND current_hash = ?`,
    );
  }

  get(server: string, kind: DefinitionKind, name: string): Pin | undefined {
    const row = this.one.get(server, kind, name) as PinRow | undefined;
    this.remember(
      server,
      kind,
      name,
      row ? { pinnedHash: row.pinned_hash, currentHash: row.current_hash } : null,
    );
    return row ? pinFromRow(row) : undefined;
  }

  hashes(server: string, kind: DefinitionKind, name: string): PinHashes | undefined {
    const key = hashKey(server, kind, name);
    const known = this.remembered.get(key);
    if (known !== undefined) return known ?? undefined;
    const row = this.oneHashes.get(server, kind, name) as
      { pinned_hash: string; current_hash: string } | undefined;
    const hashes = row ? { pinnedHash: row.pinned_hash, currentHash: row.current_hash } : null;
    this.remember(server, kind, name, hashes);
    return hashes ?? undefined;
  }

  list(server?: string): Pin[] {
    const rows = (server === undefined ? this.all.all() : this.ofServer.all(server)) as PinRow[];
    return rows.map(pinFromRow);
  }

  put(pin: Pin): void {
    this.upsert.run(pinToRow(pin));
    this.remember(pin.server, pin.kind, pin.name, {
      pinnedHash: pin.pinnedHash,
      currentHash: pin.currentHash,
    });
  }

  approve(server: string, kind: DefinitionKind, name: string, currentHash: string, at: string): boolean {
    const done = this.promote.run(at, server, kind, name, currentHash).changes > 0;
    if (done) this.remember(server, kind, name, { pinnedHash: currentHash, currentHash });
    return done;
  }

  private remember(server: string, kind: DefinitionKind, name: string, hashes: PinHashes | null): void {
    if (this.remembered.size >= MAX_REMEMBERED_HASHES) this.remembered.clear();
    this.remembered.set(hashKey(server, kind, name), hashes);
  }

  async close(): Promise<void> {
    // The table belongs to the state store, closed by its owner.
  }
}
