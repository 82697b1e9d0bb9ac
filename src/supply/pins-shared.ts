import type { Logger } from "../log.js";
import type { RedisState } from "../state/redis.js";
import type { DefinitionKind } from "./poisoning.js";
import type { Pin, PinStore } from "./pins.js";

const HASH = "pins";
const CHANNEL = "pins";
const RELOAD_MS = 30_000;

const fieldOf = (server: string, kind: DefinitionKind, name: string) => JSON.stringify([server, kind, name]);

/**
 * Pins shared by every instance on `state.redis`: each instance keeps answering from its own
 * SQLite table (the guard reads pins synchronously, on the call path), and every change (a new
 * pin, a held definition, an approval) is written to a Redis hash and announced over pub/sub, so
 * the others copy it at once. At start the Redis hash wins over the local table, and local pins
 * Redis lacks are added to it. A reload every 30 s covers messages missed while disconnected.
 */
export class SharedPinStore implements PinStore {
  private readonly hash: string;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly local: PinStore,
    private readonly redis: RedisState,
    private readonly log: Logger,
  ) {
    this.hash = redis.key(HASH);
  }

  async start(): Promise<void> {
    await this.reload();
    for (const pin of this.local.list()) {
      await this.redis.client.hsetnx(this.hash, fieldOf(pin.server, pin.kind, pin.name), JSON.stringify(pin));
    }
    await this.redis.subscribe(CHANNEL, (field) => void this.copy(field));
    this.timer = setInterval(() => void this.reload().catch(() => undefined), RELOAD_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  get(server: string, kind: DefinitionKind, name: string): Pin | undefined {
    return this.local.get(server, kind, name);
  }

  list(server?: string): Pin[] {
    return this.local.list(server);
  }

  put(pin: Pin): void {
    this.local.put(pin);
    void this.share(pin);
  }

  approve(server: string, kind: DefinitionKind, name: string, currentHash: string, at: string): boolean {
    const done = this.local.approve(server, kind, name, currentHash, at);
    const pin = done ? this.local.get(server, kind, name) : undefined;
    if (pin) void this.share(pin);
    return done;
  }

  /** Waits for the shares in flight (the CLI, before it exits). */
  async flush(): Promise<void> {
    await Promise.all(this.inflight);
  }

  private readonly inflight = new Set<Promise<void>>();

  private share(pin: Pin): Promise<void> {
    const field = fieldOf(pin.server, pin.kind, pin.name);
    const p = this.redis.client
      .hset(this.hash, field, JSON.stringify(pin))
      .then(() => this.redis.publish(CHANNEL, field))
      .catch((err: unknown) => {
        // This instance holds the pin; the others learn it at their next reload once Redis is back.
        this.log.error({ err: (err as Error).message, server: pin.server, item: pin.name }, "pin not shared");
      })
      .finally(() => this.inflight.delete(p));
    this.inflight.add(p);
    return p;
  }

  private async copy(field: string): Promise<void> {
    try {
      const value = await this.redis.client.hget(this.hash, field);
      if (value !== null) this.local.put(JSON.parse(value) as Pin);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, "shared pin could not be read");
    }
  }

  private async reload(): Promise<void> {
    const all = await this.redis.client.hgetall(this.hash);
    for (const value of Object.values(all)) this.local.put(JSON.parse(value) as Pin);
  }
}
