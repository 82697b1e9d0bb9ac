import type { Db } from "../state/store.js";
import type { RedisState } from "../state/redis.js";

/** `user_on_server`: target `<server>/<subject>`, that user refused on that server only. */
export type KillScope = "all" | "server" | "tool" | "user" | "user_on_server" | "client";

/**
 * One kill: what it stops (`target`: "" for all, a server name, `server/tool`, a subject or a
 * client id), why, who ordered it, and when. It stays until revived explicitly.
 */
export interface Kill {
  readonly scope: KillScope;
  readonly target: string;
  readonly reason: string;
  readonly by: string;
  readonly at: string;
}

export const killKey = (scope: KillScope, target: string) => `${scope}:${target}`;

/** Where kills persist, shared by everything that reads the same store. */
export interface KillStore {
  list(): Promise<Kill[]>;
  /** Adds or replaces the kill of (scope, target). */
  put(kill: Kill): Promise<void>;
  /** Removes it; false when there was none. */
  remove(scope: KillScope, target: string): Promise<boolean>;
  /**
   * Calls `onChange` (soon, not necessarily at once) when another process changed the store.
   * Returns a function that stops watching.
   */
  watch(onChange: () => void): Promise<() => void>;
}

/** The embedded default: the `kills` table of the state store; other processes' changes are polled. */
export class SqliteKillStore implements KillStore {
  private readonly all;
  private readonly upsert;
  private readonly del;

  constructor(
    private readonly db: Db,
    private readonly pollMs = 250,
  ) {
    this.all = db.prepare("SELECT scope, target, reason, by, at FROM kills ORDER BY at");
    this.upsert = db.prepare(
      `INSERT INTO kills (scope, target, reason, by, at) VALUES (@scope, @target, @reason, @by, @at)
       ON CONFLICT (scope, target) DO UPDATE SET reason = excluded.reason, by = excluded.by, at = excluded.at`,
    );
    this.del = db.prepare("DELETE FROM kills WHERE scope = ? AND target = ?");
  }

  list(): Promise<Kill[]> {
    return Promise.resolve(this.all.all() as Kill[]);
  }

  put(kill: Kill): Promise<void> {
    this.upsert.run(kill);
    return Promise.resolve();
  }

  remove(scope: KillScope, target: string): Promise<boolean> {
    return Promise.resolve(this.del.run(scope, target).changes > 0);
  }

  /**
   * `PRAGMA data_version` changes when another connection commits to the file (the CLI, another
   * process on the same file): a read of one integer per poll, so polling every 250 ms is cheap.
   */
  watch(onChange: () => void): Promise<() => void> {
    let version = this.db.pragma("data_version", { simple: true }) as number;
    const timer = setInterval(() => {
      try {
        const v = this.db.pragma("data_version", { simple: true }) as number;
        if (v !== version) {
          version = v;
          onChange();
        }
      } catch {
        // the store is closing
      }
    }, this.pollMs);
    timer.unref();
    return Promise.resolve(() => clearInterval(timer));
  }
}

const CHANNEL = "kills";

/**
 * With `state.redis`: a hash of kills under the deployment's prefix, and a pub/sub channel on
 * which every change is announced, so every instance applies it at once. A periodic reload
 * covers messages missed while a connection was down.
 */
export class RedisKillStore implements KillStore {
  private readonly hash: string;

  constructor(
    private readonly redis: RedisState,
    private readonly reloadMs = 5_000,
  ) {
    this.hash = redis.key("kills");
  }

  async list(): Promise<Kill[]> {
    const all = await this.redis.client.hgetall(this.hash);
    return Object.values(all)
      .map((v) => JSON.parse(v) as Kill)
      .sort((a, b) => a.at.localeCompare(b.at));
  }

  async put(kill: Kill): Promise<void> {
    await this.redis.client.hset(this.hash, killKey(kill.scope, kill.target), JSON.stringify(kill));
    await this.redis.publish(CHANNEL, "changed");
  }

  async remove(scope: KillScope, target: string): Promise<boolean> {
    const n = await this.redis.client.hdel(this.hash, killKey(scope, target));
    await this.redis.publish(CHANNEL, "changed");
    return n > 0;
  }

  async watch(onChange: () => void): Promise<() => void> {
    let active = true;
    await this.redis.subscribe(CHANNEL, () => {
      if (active) onChange();
    });
    const onReady = () => active && onChange();
    this.redis.subscriber.on("ready", onReady);
    const timer = setInterval(() => active && onChange(), this.reloadMs);
    timer.unref();
    return () => {
      active = false;
      clearInterval(timer);
      this.redis.subscriber.off("ready", onReady);
    };
  }
}
