import type { Logger } from "../log.js";
import type { RedisState } from "../state/redis.js";

const CHANNEL = "revocations";
const KEY_PREFIX = "revoked:";
const RELOAD_MS = 30_000;

/** A glob pattern that matches `literal` exactly (for SCAN MATCH). */
const globEscape = (literal: string) => literal.replace(/[*?[\]\\]/g, "\\$&");

/**
 * With `state.redis` but no `state.postgres`: the JWT access tokens revoked by any instance's
 * embedded authorization server (each with its own SQLite), so that every instance refuses them.
 * A revocation is a key `<prefix>revoked:<jti>` whose value is the token's expiry (ms) and whose
 * TTL is its remaining life, announced on the `revocations` channel. Each instance keeps them in
 * memory (loaded at start, then pushed; reloaded every 30 s to cover messages missed while a
 * connection was down), so checking a token costs no round trip to Redis.
 */
export class RevocationFeed {
  private readonly revoked = new Map<string, number>();
  /** Revocations made here that could not be written to Redis: sent again on the next reload. */
  private readonly unsent = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private readonly onReady = () => void this.reload();

  constructor(
    private readonly redis: RedisState,
    private readonly log: Logger,
    private readonly reloadMs = RELOAD_MS,
  ) {}

  /** Subscribes, then loads what is already revoked (so nothing falls between the two). */
  async start(): Promise<void> {
    await this.redis.subscribe(CHANNEL, (message) => this.apply(message));
    this.redis.subscriber.on("ready", this.onReady);
    // At start a failure throws: an instance that cannot know other instances' revocations does
    // not start accepting tokens. Later reloads keep what is known when Redis fails.
    await this.load();
    this.timer = setInterval(() => void this.reload(), this.reloadMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.redis.subscriber.off("ready", this.onReady);
  }

  /** Whether `jti` was revoked by some instance and has not expired yet. From memory only. */
  has(jti: string): boolean {
    const exp = this.revoked.get(jti);
    if (exp === undefined) return false;
    if (exp <= Date.now()) {
      this.revoked.delete(jti);
      return false;
    }
    return true;
  }

  /**
   * Records the revocation of `jti` (valid until `expiresAtMs`) for every instance. Rejects when
   * Redis cannot be reached (the caller's own revocation holds regardless); it is then sent again
   * with the next reload that reaches Redis (when the connection is back, or within 30 s).
   */
  async publish(jti: string, expiresAtMs: number): Promise<void> {
    this.revoked.set(jti, expiresAtMs);
    try {
      await this.send(jti, expiresAtMs);
    } catch (err) {
      this.unsent.set(jti, expiresAtMs);
      throw err;
    }
  }

  private async send(jti: string, expiresAtMs: number): Promise<void> {
    const ttl = Math.ceil(expiresAtMs - Date.now());
    if (ttl <= 0) return;
    await this.redis.client.set(this.redis.key(`${KEY_PREFIX}${jti}`), String(expiresAtMs), "PX", ttl);
    await this.redis.publish(CHANNEL, JSON.stringify({ jti, exp: expiresAtMs }));
  }

  private apply(message: string): void {
    const m = JSON.parse(message) as { jti?: unknown; exp?: unknown };
    if (typeof m.jti === "string" && typeof m.exp === "number" && m.exp > Date.now()) {
      this.revoked.set(m.jti, m.exp);
    }
  }

  /**
   * Sends what could not be sent before, then adds every revocation in Redis (entries already
   * known stay until they expire).
   */
  private async reload(): Promise<void> {
    try {
      await this.load();
    } catch (err) {
      this.log.error(
        { err: (err as Error).message },
        "shared token revocations could not be loaded from redis",
      );
    }
  }

  private async load(): Promise<void> {
    for (const [jti, exp] of this.unsent) {
      await this.send(jti, exp);
      this.unsent.delete(jti);
      this.log.info({ jti }, "access token revocation shared through redis after all");
    }
    const client = this.redis.client;
    const full = this.redis.key(KEY_PREFIX);
    const match = `${globEscape(full)}*`;
    let cursor = "0";
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", match, "COUNT", 1000);
      cursor = next;
      if (keys.length === 0) continue;
      const values = await client.mget(...keys);
      keys.forEach((key, i) => {
        const exp = Number(values[i]);
        if (Number.isFinite(exp) && exp > Date.now()) this.revoked.set(key.slice(full.length), exp);
      });
    } while (cursor !== "0");
    const now = Date.now();
    for (const [jti, exp] of this.revoked) if (exp <= now) this.revoked.delete(jti);
  }
}
