import { createHash, randomBytes } from "node:crypto";
import type { KillRule } from "../config/types.js";
import type { Logger } from "../log.js";
import type { RedisState } from "../state/redis.js";
import { LocalRuleCounter, type RuleCounter } from "./kill-rules.js";

const digest = (text: string, length: number) =>
  createHash("sha256").update(text).digest("base64url").slice(0, length);

/**
 * Rule counts shared by every instance on `state.redis`: one sorted set per (rule, target) holding
 * the events' times, trimmed to the window and expiring with it, updated in one MULTI. So N
 * denials spread over several instances kill as surely as N on one. A rule is identified by what
 * it says (kind, count, window, scope), so instances with the same rules share counts; the target
 * is hashed (a user's subject is anyone's string). If Redis fails, this instance counts alone
 * meanwhile: a rule never stops biting.
 */
export class RedisRuleCounter implements RuleCounter {
  private readonly local = new LocalRuleCounter();
  private failing = false;

  constructor(
    private readonly redis: RedisState,
    private readonly log: Logger,
  ) {}

  async add(rule: KillRule, index: number, target: string, now: number): Promise<number> {
    const key = this.keyOf(rule, target);
    try {
      const results = await this.redis.client
        .multi()
        .zadd(key, now, `${now}:${randomBytes(6).toString("base64url")}`)
        .zremrangebyscore(key, "-inf", now - rule.withinMs)
        .zcard(key)
        .pexpire(key, rule.withinMs)
        .exec();
      const count = results?.[2]?.[1];
      if (typeof count !== "number") throw new Error("unexpected reply to the rule count");
      if (this.failing) this.log.info("kill rule counts shared through redis again");
      this.failing = false;
      return count;
    } catch (err) {
      if (!this.failing)
        this.log.error({ err: (err as Error).message }, "kill rule counts fall back to this instance");
      this.failing = true;
      return this.local.add(rule, index, target, now);
    }
  }

  async reset(rule: KillRule, index: number, target: string): Promise<void> {
    await this.local.reset(rule, index, target);
    await this.redis.client.del(this.keyOf(rule, target)).catch(() => undefined);
  }

  /** Rule ids by rule: what a rule says does not change, so it is hashed once. */
  private readonly ids = new WeakMap<KillRule, string>();

  private keyOf(rule: KillRule, target: string): string {
    let id = this.ids.get(rule);
    if (id === undefined) {
      id = digest(JSON.stringify([rule.when, rule.count, rule.withinMs, rule.kill]), 12);
      this.ids.set(rule, id);
    }
    return this.redis.key(`rule:${id}:${digest(target, 22)}`);
  }
}
