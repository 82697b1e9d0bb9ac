import type { Logger } from "../log.js";
import type { DefinitionKind } from "./poisoning.js";
import type { Pin, PinHashes, PinStore } from "./pins.js";

const RELOAD_MS = 30_000;

/** The field naming one pin in the shared store and in change messages. */
export const pinField = (server: string, kind: DefinitionKind, name: string): string =>
  JSON.stringify([server, kind, name]);

/**
 * Where instances share pins: Redis (a hash and a pub/sub channel, src/supply/pins-redis.ts) or
 * Postgres (a table and LISTEN/NOTIFY, src/supply/pins-postgres.ts).
 */
export interface PinChannel {
  /** `redis` or `postgres`, for logs. */
  readonly name: string;
  all(): Promise<Pin[]>;
  read(field: string): Promise<Pin | undefined>;
  /** Stores the pin unless one for (server, kind, name) is already shared. */
  addIfMissing(pin: Pin): Promise<void>;
  /** Stores the pin and tells every instance its field. */
  write(pin: Pin): Promise<void>;
  /** Calls `onChange` with the field of every pin any instance writes, and `onResync` after a gap. */
  subscribe(onChange: (field: string) => void, onResync: () => void): Promise<void>;
  close(): Promise<void>;
}

/**
 * Pins shared by every instance: each instance keeps answering from its own SQLite table (the
 * guard reads pins synchronously, on the call path), and every change (a new pin, a held
 * definition, an approval) is written to the shared store and announced, so the others copy it at
 * once. At start the shared store wins over the local table, and local pins it lacks are added to
 * it. A reload every 30 s (and after a reconnection) covers messages missed while disconnected.
 */
export class SharedPinStore implements PinStore {
  private timer: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private readonly inflight = new Set<Promise<void>>();

  constructor(
    private readonly local: PinStore,
    private readonly channel: PinChannel,
    private readonly log: Logger,
  ) {}

  /** Loads the shared pins; throws when the shared store cannot be read. */
  async start(): Promise<void> {
    await this.reload();
    for (const pin of this.local.list()) await this.channel.addIfMissing(pin);
    await this.channel.subscribe(
      (field) => void this.copy(field),
      () => void this.reload().catch(() => undefined),
    );
    this.timer = setInterval(() => void this.reload().catch(() => undefined), RELOAD_MS);
    this.timer.unref();
  }

  /**
   * Tries `start` again every `everyMs` until it succeeds (a gateway that started while the shared
   * store was down); meanwhile the local pins answer.
   */
  startLater(everyMs = 5_000): void {
    const attempt = () => {
      this.retry = setTimeout(() => {
        this.start().then(
          () => this.log.info({ store: this.channel.name }, "shared pins loaded"),
          () => attempt(),
        );
      }, everyMs);
      this.retry.unref();
    };
    attempt();
  }

  async close(): Promise<void> {
    if (this.retry) clearTimeout(this.retry);
    if (this.timer) clearInterval(this.timer);
    await this.flush();
    await this.channel.close();
  }

  get(server: string, kind: DefinitionKind, name: string): Pin | undefined {
    return this.local.get(server, kind, name);
  }

  hashes(server: string, kind: DefinitionKind, name: string): PinHashes | undefined {
    return this.local.hashes(server, kind, name);
  }

  list(server?: string): Pin[] {
    return this.local.list(server);
  }

  put(pin: Pin): void {
    this.local.put(pin);
    this.share(pin);
  }

  approve(server: string, kind: DefinitionKind, name: string, currentHash: string, at: string): boolean {
    const done = this.local.approve(server, kind, name, currentHash, at);
    const pin = done ? this.local.get(server, kind, name) : undefined;
    if (pin) this.share(pin);
    return done;
  }

  /** Waits for the shares in flight (the CLI, before it exits). */
  async flush(): Promise<void> {
    await Promise.all(this.inflight);
  }

  private share(pin: Pin): void {
    const p = this.channel
      .write(pin)
      .catch((err: unknown) => {
        // This instance holds the pin; the others learn it at their next reload once the store is back.
        this.log.error(
          { err: (err as Error).message, store: this.channel.name, server: pin.server, item: pin.name },
          "pin not shared",
        );
      })
      .finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }

  private async copy(field: string): Promise<void> {
    try {
      const pin = await this.channel.read(field);
      if (pin) this.local.put(pin);
    } catch (err) {
      this.log.error(
        { err: (err as Error).message, store: this.channel.name },
        "shared pin could not be read",
      );
    }
  }

  private async reload(): Promise<void> {
    for (const pin of await this.channel.all()) this.local.put(pin);
  }
}
