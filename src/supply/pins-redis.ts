import type { RedisState } from "../state/redis.js";
import type { Pin } from "./pins.js";
import { pinField, type PinChannel } from "./pins-shared.js";

const HASH = "pins";
const CHANNEL = "pins";

/** Pins in one Redis hash (field: server, kind, name; value: the pin's JSON), changes on pub/sub. */
export class RedisPinChannel implements PinChannel {
  readonly name = "redis";
  private readonly hash: string;

  constructor(private readonly redis: RedisState) {
    this.hash = redis.key(HASH);
  }

  async all(): Promise<Pin[]> {
    return Object.values(await this.redis.client.hgetall(this.hash)).map((v) => JSON.parse(v) as Pin);
  }

  async read(field: string): Promise<Pin | undefined> {
    const value = await this.redis.client.hget(this.hash, field);
    return value === null ? undefined : (JSON.parse(value) as Pin);
  }

  async addIfMissing(pin: Pin): Promise<void> {
    await this.redis.client.hsetnx(this.hash, pinField(pin.server, pin.kind, pin.name), JSON.stringify(pin));
  }

  async write(pin: Pin): Promise<void> {
    const field = pinField(pin.server, pin.kind, pin.name);
    await this.redis.client.hset(this.hash, field, JSON.stringify(pin));
    await this.redis.publish(CHANNEL, field);
  }

  async subscribe(onChange: (field: string) => void): Promise<void> {
    // The subscriber connection re-subscribes by itself; the periodic reload covers a gap.
    await this.redis.subscribe(CHANNEL, onChange);
  }

  async close(): Promise<void> {
    // The Redis connections belong to the gateway's RedisState.
  }
}
