// What the admin API reads from Postgres (state.postgres), in-process on a schema of its own: the
// grant listing and revocation of the Postgres authorization-server store, and the audit sink's
// newest-first query with filters and after_seq, as the SQLite ones are read in admin-api.test.ts.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import pgLib from "pg";
import { auditEvent } from "../../src/audit/event.js";
import { eventsAfter, newestEvents } from "../../src/audit/query.js";
import { PostgresSink } from "../../src/audit/sinks/postgres.js";
import { PostgresOAuthStore } from "../../src/authserver/store-postgres.js";
import { PostgresState } from "../../src/state/postgres.js";
import { StateKey } from "../../src/state/sealed.js";

const PG = "postgres://postgres@127.0.0.1:5432/test";

describe("admin API reads from Postgres", () => {
  const schema = `admin_api_${process.pid}_${Date.now()}`;
  const url = `${PG}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  let admin: pgLib.Client;
  const opened: Array<{ close(): Promise<void> }> = [];

  before(async () => {
    admin = new pgLib.Client({ connectionString: PG });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
  });

  after(async () => {
    await Promise.all(opened.map((s) => s.close()));
    await admin?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await admin?.end();
  });

  test("grants: listed newest first with scopes and resources, expired ones left out; revoked by id", async () => {
    const pg = new PostgresState(url);
    opened.push(pg);
    const store = new PostgresOAuthStore(pg, StateKey.ephemeral(), () => undefined);
    const now = Math.floor(Date.now() / 1000);
    await store.upsert(
      "Grant",
      "g-old",
      {
        accountId: "alice",
        clientId: "agent",
        openid: { scope: "openid" },
        resources: { "https://w.example/mcp": "files:read files:write" },
        exp: now + 100,
      },
      100,
    );
    await new Promise((r) => setTimeout(r, 5));
    await store.upsert(
      "Grant",
      "g-new",
      {
        accountId: "bob",
        clientId: "mcp-warden-console",
        resources: { "https://w.example": "warden:admin" },
      },
      100,
    );
    await store.upsert("Grant", "g-expired", { accountId: "carol", clientId: "agent" }, 100);
    await pg.query("UPDATE warden_oauth_models SET expires_at = $1 WHERE key = 'g-expired'", [
      Date.now() - 1,
    ]);

    const grants = await store.listGrants();
    assert.deepEqual(
      grants.map((g) => g.id),
      ["g-new", "g-old"],
    );
    const old = grants[1]!;
    assert.equal(old.accountId, "alice");
    assert.equal(old.clientId, "agent");
    assert.deepEqual(old.scopes, ["openid", "files:read", "files:write"]);
    assert.deepEqual(old.resources, ["https://w.example/mcp"]);
    assert.equal(typeof old.createdAt, "number");
    assert.ok(old.expiresAt !== null && old.expiresAt > Date.now());

    const revoked = await store.revokeGrant("g-old", "revoked by ops: test");
    assert.equal(revoked.accountId, "alice");
    assert.deepEqual(
      (await store.listGrants()).map((g) => g.id),
      ["g-new"],
    );
  });

  test("audit: the newest matching events in chain order, and those after a sequence", async () => {
    const pg = new PostgresState(url);
    const sink = new PostgresSink(pg, new Uint8Array(32).fill(7));
    opened.push(sink);
    const events = Array.from({ length: 12 }, (_, i) =>
      auditEvent({
        event: i % 3 === 0 ? "denied" : "tool_call",
        principal: { sub: i % 2 ? "alice" : "bob" },
        server: "files",
        tool: "read",
        status: i % 3 === 0 ? "denied" : "ok",
      }),
    );
    const stored = await sink.append(events);
    const seqs = (f: (e: (typeof stored)[number]) => boolean) => stored.filter(f).map((e) => e.seq);

    assert.deepEqual(
      (await newestEvents(sink, {}, 3)).map((e) => e.seq),
      seqs(() => true).slice(-3),
    );
    assert.deepEqual(
      (await newestEvents(sink, { user: "alice", event: "tool_call" }, 2)).map((e) => e.seq),
      seqs((e) => e.principal?.sub === "alice" && e.event === "tool_call").slice(-2),
    );
    const first = stored[0]!.seq;
    assert.deepEqual(
      (await newestEvents(sink, { afterSeq: first + 9 }, 100)).map((e) => e.seq),
      [first + 10, first + 11],
    );
    assert.deepEqual(
      (await eventsAfter(sink, { event: "denied" }, first, 2)).map((e) => e.seq),
      seqs((e) => e.event === "denied" && e.seq > first).slice(0, 2),
    );
    assert.deepEqual(await newestEvents(sink, { user: "nobody" }, 5), []);
  });

  test("audit: NUL in a query column (which Postgres text refuses) is stored, read back whole and found", async () => {
    const pg = new PostgresState(url);
    const key = new Uint8Array(32).fill(9);
    const sink = new PostgresSink(pg, key);
    opened.push(sink);
    const event = auditEvent({
      event: "denied",
      principal: { sub: "mal\u0000lory" },
      server: "files",
      tool: "re\u0000ad",
      status: "denied",
    });
    const [stored] = await sink.append([event]);
    const found = await newestEvents(sink, { user: "mal\u0000lory", tool: "re\u0000ad" }, 5);
    assert.equal(found.length, 1);
    assert.equal(found[0]!.principal?.sub, "mal\u0000lory", "the body keeps the exact value");
    assert.equal(found[0]!.hash, stored!.hash);
    assert.equal((found[0] as unknown as Record<string, unknown>)._column_mismatch, undefined);
  });
});
