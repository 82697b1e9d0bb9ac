import { createHash, randomBytes } from "node:crypto";
import type { KillRule } from "../config/types.js";
import type { Logger } from "../log.js";
import type { RedisState } from "../state/redis.js";
import { LocalRuleCounter, type RuleCount, type RuleCounter } from "./kill-rules.js";

const digest = (text: string, length: number) =>
  createHash("sha256").update(text).digest("base64url").slice(0, length);

/**
 * Rule counts shared by every instance on `state.redis`: per (rule, target) one sorted set of the
 * events' times and, for a rule that needs several callers, one of the callers scored by their
 * newest event; both trimmed to the window (and to what the decision needs), expiring with it,
 * updated in one MULTI. So N denials spread over several instances kill as surely as N on one, and
 * callers are told apart across instances. A rule is identified by what it says (kind, count,
 * window, scope, callers), so instances with the same rules share counts; targets and callers are
 * hashed (a user's subject is anyone's string). If Redis fails, this instance counts alone
 * meanwhile: a rule never stops biting.
 */
export class RedisRuleCounter implements RuleCounter {
  private readonly local = new LocalRuleCounter();
  private failing = false;

  constructor(
    private readonly redis: RedisState,
    private readonly log: Logger,
  ) {}

  async add(rule: KillRule, index: number, target: string, caller: string, now: number): Promise<RuleCount> {
    const key = this.keyOf(rule, target);
    const cutoff = now - rule.withinMs;
    try {
      const multi = this.redis.client
        .multi()
        .zadd(key, now, `${now}:${randomBytes(6).toString("base64url")}`)
        .zremrangebyscore(key, "-inf", cutoff)
        // Only the newest `count` events matter to the decision: the set stays that small.
        .zremrangebyrank(key, 0, -(rule.count + 1))
        .zcard(key)
        .pexpire(key, rule.withinMs);
      if (rule.distinctCallers > 1) {
        const callers = `${key}:callers`;
        multi
          .zadd(callers, now, digest(caller, 22))
          .zremrangebyscore(callers, "-inf", cutoff)
          .zremrangebyrank(callers, 0, -(rule.distinctCallers + 1))
          .zcard(callers)
          .pexpire(callers, rule.withinMs);
      }
      const results = await multi.exec();
      const events = results?.[3]?.[1];
      const callers = rule.distinctCallers > 1 ? results?.[8]?.[1] : 1;
      if (typeof events !== "number" || typeof callers !== "number")
        throw new Error("unexpected reply to the rule count");
      if (this.failing) this.log.info("kill rule counts shared through redis again");
      this.failing = false;
      return { events, callers };
    } catch (err) {
      if (!this.failing)
        this.log.error({ err: (err as Error).message }, "kill rule counts fall back to this instance");
      this.failing = true;
      return this.local.add(rule, index, target, caller, now);
    }
  }

  async reset(rule: KillRule, index: number, target: string): Promise<void> {
    await this.local.reset(rule, index, target);
    const key = this.keyOf(rule, target);
    await this.redis.client.del(key, `${key}:callers`).catch(() => undefined);
  }

  /** Rule ids by rule: what a rule says does not change, so it is hashed once. */
  private readonly ids = new WeakMap<KillRule, string>();

  private keyOf(rule: KillRule, target: string): string {
    let id = this.ids.get(rule);
    if (id === undefined) {
      const says: unknown[] = [rule.when, rule.count, rule.withinMs, rule.kill];
      // A one-caller rule keeps the id it had before rules counted callers (rolling upgrades share it).
      if (rule.distinctCallers > 1) says.push(rule.distinctCallers);
      id = digest(JSON.stringify(says), 12);
      this.ids.set(rule, id);
    }
    return this.redis.key(`rule:${id}:${digest(target, 22)}`);
  }
}
