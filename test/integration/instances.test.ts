// Two gateway processes sharing one Redis and one Postgres (and one signing key and public URL)
// behave as one: a kill ordered on one (by the CLI or the admin API) is refused on the other and a
// revive on either restores both; both append to one audit chain in Postgres; a session opened on
// one is answered 404 on the other, so the client re-initialises. The admin API refuses callers
// without warden:admin.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import pgLib from "pg";
import { mcpError, reasonOf, textOf } from "../helpers/client.js";
import { recorderStdio } from "../helpers/configs.js";
import {
  connectClient,
  makeTempDir,
  runCli,
  startGateway,
  writeConfig,
  type ConnectedClient,
  type Gateway,
} from "../helpers/gateway.js";
import { mcpHeaders, openRawSession, raw } from "../helpers/http.js";
import { freePort } from "../helpers/upstreams.js";
import { waitFor } from "../helpers/wait.js";

const REDIS = "redis://127.0.0.1:6379";
const PG = "postgres://postgres@127.0.0.1:5432/test";

describe("two instances on one Redis and one Postgres", () => {
  const prefix = `t${process.pid}_${Date.now()}:`;
  const schema = `shared_${process.pid}_${Date.now()}`;
  let pg: pgLib.Client;
  let a: Gateway;
  let b: Gateway;
  let ca: ConnectedClient;
  let cb: ConnectedClient;
  let configFile: string;
  let adminToken: string;
  let userToken: string;
  let mint: (scope: string, sub?: string) => Promise<string>;

  before(async () => {
    const dir = makeTempDir("warden-kill-redis-");
    pg = new pgLib.Client({ connectionString: PG });
    await pg.connect();
    await pg.query(`CREATE SCHEMA ${schema}`);
    const pgUrl = `${PG}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    const [portA, portB] = [await freePort(), await freePort()];
    const config = (port: number, name: string) => ({
      gateway: { listen: `127.0.0.1:${port}`, public_url: `http://127.0.0.1:${portA}`, instance_id: name },
      state: { sqlite: join(dir, `${name}.db`), redis: REDIS, redis_prefix: prefix, postgres: pgUrl },
      // One audit key for both, as a deployment would mount it: the shared chain is checkable by either.
      audit: { key_file: join(dir, "audit.key"), checkpoint_file: join(dir, "checkpoints.jsonl") },
      auth: { signing_key_file: join(dir, "signing.jwk"), anonymous: ["demo:use"] },
      // Four denials in a minute, counted across both instances, kill the user.
      kill_switch: { rules: [{ when: "denied", count: 4, within: "1m", kill: "user" }] },
      servers: [recorderStdio("rec", join(dir, `${name}.jsonl`), { echo: ["demo:use"] })],
    });
    configFile = writeConfig(config(portA, "a"), dir);
    a = await startGateway(config(portA, "a"));
    b = await startGateway(config(portB, "b"));
    ca = await connectClient(a.mcpUrl);
    cb = await connectClient(b.mcpUrl);
    mint = async (scope: string, sub = "ops") => {
      const r = await runCli(["token", "-c", configFile, "--sub", sub, "--scope", scope]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim();
    };
    adminToken = await mint("warden:admin");
    userToken = await mint("demo:use");
  });

  after(async () => {
    await ca?.close();
    await cb?.close();
    await a?.stop();
    await b?.stop();
    const redis = new Redis(REDIS);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
    await pg?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await pg?.end();
  });

  const works = async (c: ConnectedClient) => {
    try {
      return textOf(await c.client.callTool({ name: "rec__echo", arguments: { message: "hi" } })).includes(
        "hi",
      );
    } catch {
      return false;
    }
  };
  const killed = async (c: ConnectedClient) => {
    try {
      await c.client.callTool({ name: "rec__echo", arguments: { message: "hi" } });
      return false;
    } catch (err) {
      return (err as { code?: number }).code === -32003;
    }
  };
  const until = (probe: () => Promise<boolean>, what: string) => waitFor(probe, { timeoutMs: 10_000, what });
  const admin = (gw: Gateway, action: string, body: unknown, token = adminToken) =>
    fetch(`${gw.url}/admin/api/${action}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });

  test("a CLI kill reaches both instances; a revive restores both", async () => {
    assert.ok(await works(ca));
    assert.ok(await works(cb));
    const k = await runCli(["kill", "-c", configFile, "--reason", "drill"]);
    assert.equal(k.code, 0, k.stderr);
    await until(() => killed(ca), "instance A to refuse");
    await until(() => killed(cb), "instance B to refuse");
    const r = await runCli(["revive", "-c", configFile, "--reason", "drill over"]);
    assert.equal(r.code, 0, r.stderr);
    await until(() => works(ca), "instance A to serve again");
    await until(() => works(cb), "instance B to serve again");
  });

  test("the admin API on one instance kills on the other; revived from the other", async () => {
    const k = await admin(a, "kill", { scope: "server", target: "rec", reason: "upstream compromised" });
    assert.equal(k.status, 200, await k.text());
    await until(() => killed(cb), "instance B to refuse the killed server");
    const list = (await (
      await fetch(`${b.url}/admin/api/kills`, { headers: { authorization: `Bearer ${adminToken}` } })
    ).json()) as { kills: { scope: string; target: string; by: string; reason: string }[] };
    assert.deepEqual(
      list.kills.map((x) => [x.scope, x.target, x.by, x.reason]),
      [["server", "rec", "ops", "upstream compromised"]],
    );
    const r = await admin(b, "revive", { scope: "server", target: "rec", reason: "rebuilt" });
    assert.equal(r.status, 200, await r.text());
    await until(() => works(ca), "instance A to serve again");
  });

  test("an automatic rule counts denials on both instances: two on each kill the user everywhere", async () => {
    const token = await mint("demo:use", "mallory");
    const as = (gw: Gateway) => connectClient(gw.mcpUrl, { headers: { authorization: `Bearer ${token}` } });
    const [ma, mb] = [await as(a), await as(b)];
    try {
      for (const c of [ma, ma, mb, mb]) {
        const err = await mcpError(() => c.client.callTool({ name: "rec__secret_tool", arguments: {} }));
        assert.equal(reasonOf(err), "tool_not_mapped");
      }
      // Neither instance saw four; together they did.
      await until(() => killed(ma), "mallory killed on a");
      await until(() => killed(mb), "mallory killed on b");
      assert.ok(await works(ca), "another caller keeps working");
      const revive = await admin(b, "revive", { scope: "user", target: "mallory", reason: "reviewed" });
      assert.equal(revive.status, 200);
      await until(() => works(ma), "mallory revived on a");
    } finally {
      await ma.close();
      await mb.close();
    }
  });

  test("a session opened on one instance is unknown on the other: 404, so the client re-initialises", async () => {
    const session = await openRawSession(a.mcpUrl);
    // The instance id leads the session id: a load balancer routes on it (docs/deployment.md).
    assert.match(session.sessionId, /^a\.[A-Za-z0-9_-]{32}$/);
    const ping = { jsonrpc: "2.0", id: 2, method: "ping" };
    assert.equal((await session.post(ping)).status, 200);
    const elsewhere = await raw(b.mcpUrl, {
      headers: mcpHeaders({ "mcp-protocol-version": session.protocolVersion }, session.sessionId),
      body: JSON.stringify(ping),
    });
    assert.equal(elsewhere.status, 404);
    // The spec's answer to 404: a new initialize, which instance B serves.
    const fresh = await openRawSession(b.mcpUrl);
    assert.equal((await fresh.post(ping)).status, 200);
  });

  test("both instances append to one audit chain in Postgres, and it verifies", async () => {
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? ca : cb).client.callTool({ name: "rec__echo", arguments: { message: `shared-${i}` } }),
      ),
    );
    const verify = await runCli(["audit", "verify", "-c", configFile, "--sink", "postgres", "--json"]);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    const rows = await pg.query<{ body: string }>(
      `SELECT body FROM ${schema}.warden_audit_events ORDER BY seq`,
    );
    const messages = rows.rows.map((r) => r.body).filter((b) => b.includes("shared-"));
    assert.equal(messages.length, 20, "every call from both instances is in the shared log");
    const sessions = new Set(
      rows.rows.map((r) => (JSON.parse(r.body) as { session?: string }).session).filter(Boolean),
    );
    assert.ok(sessions.size >= 2, "events from both instances");
  });

  test("the admin API needs a token with warden:admin; a reason; a known scope", async () => {
    const none = await fetch(`${a.url}/admin/api/kill`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    assert.equal(none.status, 401);
    const weak = await admin(a, "kill", { reason: "x" }, userToken);
    assert.equal(weak.status, 403);
    assert.match(weak.headers.get("www-authenticate") ?? "", /insufficient_scope/);
    assert.equal((await admin(a, "kill", { scope: "all" })).status, 400);
    assert.equal((await admin(a, "kill", { scope: "planet", target: "x", reason: "x" })).status, 400);
    assert.ok(await works(ca), "a refused admin request changed nothing");
    // The refusals are audited, in the shared log.
    const rows = await pg.query<{ body: string }>(
      `SELECT body FROM ${schema}.warden_audit_events WHERE event = 'denied' AND body LIKE '%/admin/api/kill%'`,
    );
    const reasons = rows.rows.map((r) => (JSON.parse(r.body) as { reason: string }).reason).sort();
    // Malformed requests by an admin too (docs/admin.md): every refusal is a `denied` event.
    assert.deepEqual(reasons, ["authentication", "bad_request", "bad_request", "insufficient_scope"]);
  });
});
