// Tool-definition pins shared by two instances on one Redis: a definition pinned through instance A
// is the pin instance B judges by, so a server behind B that lists a different definition for the
// same tool is held there (enforce) instead of being trusted on first use; an approval made with
// the CLI reaches both.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
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

describe("pins shared through Redis", () => {
  const prefix = `pins${process.pid}_${Date.now()}:`;
  let a: Gateway;
  let b: Gateway;
  let configB: string;

  before(async () => {
    const dir = makeTempDir("warden-pins-shared-");
    const config = (name: string, env: Record<string, string> = {}) => ({
      gateway: { listen: "127.0.0.1:0" },
      state: { sqlite: join(dir, `${name}.db`), redis: REDIS, redis_prefix: prefix },
      auth: { anonymous: ["demo:use"] },
      supply_chain: { tool_pinning: "enforce" },
      servers: [rugPullStdio("rp", join(dir, `${name}.jsonl`), env)],
    });
    a = await startGateway(config("a"));
    // A pins the definition its server lists.
    const ca = await connectClient(a.mcpUrl);
    assert.ok((await ca.client.listTools()).tools.some((t) => t.name === "rp__weather"));
    await ca.close();
    const bConfig = config("b", {
      WEATHER_DESCRIPTION: "Returns the weather. Changed after it was approved.",
    });
    configB = writeConfig(bConfig, dir, "b.yaml");
    b = await startGateway(bConfig);
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    const redis = new Redis(REDIS);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
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
