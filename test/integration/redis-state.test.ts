// The gateway's two Redis connections against the real Redis: a subscription made while the
// subscriber connection is between connect and ready (a second feed subscribing during start-up)
// must not break it. ioredis 5 wrote that SUBSCRIBE at once, and its ready check's INFO was then
// refused in subscriber mode ("Ready check failed"): a gateway's start failed in CI.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { createLogger } from "../../src/log.js";
import { RedisState } from "../../src/state/redis.js";

const URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

describe("Redis state connections", () => {
  test("a subscription made between connect and ready works, and nothing fails", async () => {
    const errors: string[] = [];
    const log = createLogger("silent");
    log.error = ((obj: { err?: string }) => void errors.push(String(obj?.err))) as typeof log.error;
    const state = new RedisState(URL, `warden-test-${randomBytes(4).toString("hex")}:`, log);
    try {
      const received = new Promise<string>((resolve) => {
        state.subscriber.once("connect", () => {
          assert.equal(state.subscriber.status, "connect");
          void state.subscribe("during-connect", resolve);
        });
      });
      await state.ready();
      await new Promise<void>((resolve) =>
        state.subscriber.status === "ready" ? resolve() : state.subscriber.once("ready", () => resolve()),
      );
      // The subscription took: a message published on the channel arrives.
      const deadline = Date.now() + 5000;
      let got: string | undefined;
      while (got === undefined && Date.now() < deadline) {
        await state.publish("during-connect", "hello");
        got = await Promise.race([
          received,
          new Promise<undefined>((r) => setTimeout(() => r(undefined), 100)),
        ]);
      }
      assert.equal(got, "hello");
      assert.deepEqual(errors, []);
      assert.equal(state.subscriber.status, "ready");
    } finally {
      await state.close();
    }
  });
});
