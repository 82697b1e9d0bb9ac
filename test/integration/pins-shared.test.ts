// Tool-definition pins shared by two instances, through Redis and through Postgres: a definition
// pinned through instance A is the pin instance B judges by, so a server behind B that lists a
// different definition for the same tool is held there (enforce) instead of being trusted on first
// use; an approval made with the CLI reaches both. With Postgres the pins are rows of its table, and
// a gateway that cannot load them does not start.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import pgLib from "pg";
import { mcpError, reasonOf, textOf } from "../helpers/client.js";
import {
  connectClient,
  makeTempDir,
  runCli,
  startGateway,
  writeConfig,
  type Gateway,
} from "../helpers/gateway.js";
import { rugPullStdio } from "../helpers/supply.js";
import { waitFor } from "../helpers/wait.js";

const REDIS = "redis://127.0.0.1:6379";
const PG = "postgres://postgres@127.0.0.1:5432/test";

interface Backend {
  readonly name: string;
  state(): Record<string, string>;
  setUp(): Promise<void>;
  /** The shared pins' descriptions of `server/tool`, read from the store itself. */
  descriptions(server: string, tool: string): Promise<{ pinned: string; current: string } | undefined>;
  tearDown(): Promise<void>;
}

function redisBackend(): Backend {
  const prefix = `pins${process.pid}_${Date.now()}:`;
  const redis = new Redis(REDIS, { lazyConnect: true });
  return {
    name: "Redis",
    state: () => ({ redis: REDIS, redis_prefix: prefix }),
    setUp: () => redis.connect(),
    async descriptions(server, tool) {
      const value = await redis.hget(`${prefix}pins`, JSON.stringify([server, "tool", tool]));
      if (value === null) return undefined;
      const pin = JSON.parse(value) as {
        pinnedDef: { description: string };
        currentDef: { description: string };
      };
      return { pinned: pin.pinnedDef.description, current: pin.currentDef.description };
    },
    async tearDown() {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
      await redis.quit();
    },
  };
}

function postgresBackend(): Backend {
  const schema = `pins_${process.pid}_${Date.now()}`;
  const pg = new pgLib.Client({ connectionString: PG });
  return {
    name: "Postgres",
    state: () => ({ postgres: `${PG}?options=${encodeURIComponent(`-c search_path=${schema}`)}` }),
    async setUp() {
      await pg.connect();
      await pg.query(`CREATE SCHEMA ${schema}`);
    },
    async descriptions(server, tool) {
      const r = await pg.query<{ pinned_def: string; current_def: string }>(
        `SELECT pinned_def, current_def FROM ${schema}.warden_tool_pins
         WHERE server = $1 AND kind = 'tool' AND name = $2`,
        [server, tool],
      );
      const row = r.rows[0];
      if (!row) return undefined;
      const description = (json: string) => (JSON.parse(json) as { description: string }).description;
      return { pinned: description(row.pinned_def), current: description(row.current_def) };
    },
    async tearDown() {
      await pg.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
      await pg.end();
    },
  };
}

const CHANGED = "Returns the weather. Changed after it was approved.";

for (const backend of [redisBackend(), postgresBackend()]) {
  describe(`pins shared through ${backend.name}`, () => {
    let a: Gateway;
    let b: Gateway;
    let configB: string;

    before(async () => {
      await backend.setUp();
      const dir = makeTempDir("warden-pins-shared-");
      const config = (name: string, env: Record<string, string> = {}) => ({
        gateway: { listen: "127.0.0.1:0" },
        state: { sqlite: join(dir, `${name}.db`), ...backend.state() },
        auth: { anonymous: ["demo:use"] },
        supply_chain: { tool_pinning: "enforce" },
        servers: [rugPullStdio("rp", join(dir, `${name}.jsonl`), env)],
      });
      a = await startGateway(config("a"));
      // A pins the definition its server lists.
      const ca = await connectClient(a.mcpUrl);
      assert.ok((await ca.client.listTools()).tools.some((t) => t.name === "rp__weather"));
      await ca.close();
      const bConfig = config("b", { WEATHER_DESCRIPTION: CHANGED });
      configB = writeConfig(bConfig, dir, "b.yaml");
      b = await startGateway(bConfig);
    });

    after(async () => {
      await a?.stop();
      await b?.stop();
      await backend.tearDown();
    });

    test("B holds a definition that differs from the one pinned through A, and approval reaches it", async () => {
      const cb = await connectClient(b.mcpUrl);
      try {
        const names = (await cb.client.listTools()).tools.map((t) => t.name);
        assert.ok(!names.includes("rp__weather"), "B trusted a changed definition on first use");
        const err = await mcpError(() =>
          cb.client.callTool({ name: "rp__weather", arguments: { city: "Oslo" } }),
        );
        assert.equal(err.code, -32004);
        assert.equal(reasonOf(err), "tool_quarantined");
        // The shared store holds A's pin and B's held definition beside it.
        await waitFor(async () => (await backend.descriptions("rp", "weather"))?.current === CHANGED, {
          timeoutMs: 5_000,
          what: "B's held definition in the shared store",
        });
        assert.notEqual((await backend.descriptions("rp", "weather"))?.pinned, CHANGED);
        const diff = await runCli(["tools", "diff", "-c", configB, "--server", "rp", "--tool", "weather"]);
        assert.match(diff.stdout, /Changed after it was approved/);
        const approve = await runCli([
          "tools",
          "approve",
          "-c",
          configB,
          "--server",
          "rp",
          "--tool",
          "weather",
        ]);
        assert.equal(approve.code, 0, approve.stdout + approve.stderr);
        assert.equal((await backend.descriptions("rp", "weather"))?.pinned, CHANGED);
        await waitFor(
          async () => {
            try {
              return textOf(
                await cb.client.callTool({ name: "rp__weather", arguments: { city: "Oslo" } }),
              ).includes("sunny");
            } catch {
              return false;
            }
          },
          { timeoutMs: 10_000, what: "the approved definition to be served on B" },
        );
      } finally {
        await cb.close();
      }
    });
  });
}

function unreachablePostgresConfig(dir: string, toolPinning: string) {
  return {
    gateway: { listen: "127.0.0.1:0" },
    // Nothing listens on port 9 (discard) on loopback: the connection is refused.
    state: { sqlite: join(dir, "g.db"), postgres: "postgres://postgres@127.0.0.1:9/test" },
    auth: { anonymous: ["demo:use"] },
    supply_chain: { tool_pinning: toolPinning },
    servers: [rugPullStdio("rp", join(dir, "g.jsonl"))],
  };
}

test("under enforce, a gateway whose shared pins cannot be loaded from Postgres does not start", async () => {
  const dir = makeTempDir("warden-pins-down-");
  const configFile = writeConfig(unreachablePostgresConfig(dir, "enforce"), dir);
  const run = await runCli(["start", "-c", configFile], { timeoutMs: 30_000 });
  assert.equal(run.code, 1, run.stdout + run.stderr);
  assert.match(run.stderr, /tool-definition pins in postgres could not be loaded/);
  // Nor do the tools commands, whose reads and approvals are about the shared pins.
  const list = await runCli(["tools", "list", "-c", configFile], { timeoutMs: 30_000 });
  assert.equal(list.code, 1, list.stdout + list.stderr);
});

test("under warn, the gateway starts on its own pins while Postgres is down", async () => {
  const gw = await startGateway(unreachablePostgresConfig(makeTempDir("warden-pins-warn-"), "warn"), {
    waitReady: false,
  });
  try {
    // Up, with its server ready; not ready as a whole, since its audit log (Postgres too) is not.
    const r = await waitFor(
      async () => {
        const ready = await gw.readyz();
        return ready.body.upstreams?.rp?.state === "ready" ? ready : undefined;
      },
      { what: "the upstream to be ready", timeoutMs: 20_000 },
    );
    assert.equal(r.body.audit, "failing");
    assert.ok(gw.stderrLines.some((l) => l.includes("judging by this instance's pins until it is back")));
  } finally {
    await gw.stop();
  }
});
