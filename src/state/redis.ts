import { Redis } from "ioredis";
import type { Logger } from "../log.js";

/**
 * The connections to `state.redis` one gateway process holds: one for commands and one in
 * subscriber mode (a Redis connection that subscribes can do nothing else). Both reconnect on
 * their own; commands sent while disconnected fail fast (no offline queue), so a caller can
 * decide (fail closed, or fall back) instead of waiting.
 */
export class RedisState {
  readonly client: Redis;
  readonly subscriber: Redis;
  private readonly handlers = new Map<string, Array<(message: string) => void>>();

  constructor(
    url: string,
    /** Put before every key and channel name (`state.redis_prefix`). */
    readonly prefix: string,
    private readonly log: Logger,
  ) {
    const options = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 5_000,
      retryStrategy: (times: number) => Math.min(times * 200, 2_000),
    };
    this.client = new Redis(url, options);
    // The subscriber must queue its SUBSCRIBE until connected, and re-subscribes on reconnect. It
    // sends no handshake commands (ready check INFO, CLIENT SETINFO): ioredis 5 writes a SUBSCRIBE
    // made between connect and ready at once, and the INFO after it is then refused in subscriber
    // mode ("Ready check failed"), which failed a gateway's start in CI (ioredis issue #2037).
    // SUBSCRIBE is served while Redis loads its data, so the ready check has nothing to wait for.
    this.subscriber = new Redis(url, {
      ...options,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      enableReadyCheck: false,
      disableClientInfo: true,
    });
    for (const [name, conn] of [
      ["client", this.client],
      ["subscriber", this.subscriber],
    ] as const) {
      let down = false;
      conn.on("error", (err: Error) => {
        if (!down) log.error({ redis: name, err: err.message }, "redis connection failed");
        down = true;
      });
      conn.on("ready", () => {
        if (down) log.info({ redis: name }, "redis connection restored");
        down = false;
      });
    }
    this.subscriber.on("message", (channel: string, message: string) => {
      for (const h of this.handlers.get(channel) ?? []) {
        try {
          h(message);
        } catch (err) {
          this.log.error({ channel, err: (err as Error).message }, "redis message handler failed");
        }
      }
    });
  }

  /** A key or channel name with the deployment's prefix. */
  key(name: string): string {
    return `${this.prefix}${name}`;
  }

  /**
   * Calls `handler` with every message published on `channel` (prefixed here) by any instance,
   * this one too.
   */
  async subscribe(channel: string, handler: (message: string) => void): Promise<void> {
    const name = this.key(channel);
    const list = this.handlers.get(name);
    if (list) list.push(handler);
    else {
      this.handlers.set(name, [handler]);
      await this.subscriber.subscribe(name);
    }
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.client.publish(this.key(channel), message);
  }

  /** Resolves once the command connection is ready (start-up waits for it, bounded). */
  ready(timeoutMs = 5_000): Promise<void> {
    if (this.client.status === "ready") return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.client.off("ready", onReady);
        reject(new Error(`redis not ready after ${timeoutMs} ms`));
      }, timeoutMs);
      const onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      this.client.once("ready", onReady);
    });
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.client.quit(), this.subscriber.quit()]);
    this.client.disconnect();
    this.subscriber.disconnect();
  }
}
