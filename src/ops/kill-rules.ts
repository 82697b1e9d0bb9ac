import type { AuditEvent } from "../audit/event.js";
import type { KillRule } from "../config/types.js";
import { ErrorCode } from "../errors.js";
import type { Logger } from "../log.js";
import type { KillScope } from "./kill-store.js";

/** What a rule does when it fires: kill (scope, target) with a reason. */
export type RuleKill = (scope: KillScope, target: string, reason: string) => Promise<unknown>;

/**
 * Refusals that are not the caller's doing and never count as its denials: the kill switch's own,
 * the gateway's faults (-32603: audit or rate-limit store unavailable, a cancelled call), and
 * callers nobody could name.
 */
const NOT_THE_CALLERS: ReadonlySet<unknown> = new Set([ErrorCode.Killed, ErrorCode.InternalError]);
const NOT_THE_CALLERS_REASONS: ReadonlySet<string | undefined> = new Set([
  "killed",
  "authentication",
  "audit_unavailable",
  "cancelled",
]);

/** The event kinds a rule counts, read off audit events. */
function kindOf(e: AuditEvent): KillRule["when"] | undefined {
  if (e.event === "denied") {
    const code = e.detail?.code;
    // An upstream that is down or timed out is the server's failure, not the caller's denial.
    if (code === ErrorCode.UpstreamUnavailable) return "upstream_error";
    if (NOT_THE_CALLERS.has(code) || NOT_THE_CALLERS_REASONS.has(e.reason)) return undefined;
    return "denied";
  }
  if (e.event === "redacted") return "redacted";
  if (e.event === "injection") return "injection";
  if (e.reason === "upstream_error" || (e.status === "error" && e.server !== undefined))
    return "upstream_error";
  return undefined;
}

function targetOf(rule: KillRule, e: AuditEvent): string | undefined {
  switch (rule.kill) {
    case "user":
      return e.principal?.sub;
    case "server":
      return e.server;
    case "tool":
      return e.server !== undefined && e.tool !== undefined ? `${e.server}/${e.tool}` : undefined;
  }
}

const MAX_TRACKED = 10_000;

/**
 * Where a rule's events are counted: in this process, or (`state.redis`) across every instance.
 * `add` records one event at `now` and returns how many fall in the window ending there; `reset`
 * forgets the target once it is killed.
 */
export interface RuleCounter {
  add(rule: KillRule, index: number, target: string, now: number): Promise<number>;
  reset(rule: KillRule, index: number, target: string): Promise<void>;
}

/** Counts in this process; the number of targets tracked is bounded, the oldest forgotten first. */
export class LocalRuleCounter implements RuleCounter {
  /** rule index → target → timestamps (ms) in the window, oldest first. */
  private readonly windows = new Map<number, Map<string, number[]>>();

  add(rule: KillRule, index: number, target: string, now: number): Promise<number> {
    let windows = this.windows.get(index);
    if (windows === undefined) this.windows.set(index, (windows = new Map()));
    let times = windows.get(target);
    if (times === undefined) {
      if (windows.size >= MAX_TRACKED) windows.delete(windows.keys().next().value as string);
      times = [];
      windows.set(target, times);
    }
    while (times.length > 0 && (times[0] as number) <= now - rule.withinMs) times.shift();
    times.push(now);
    return Promise.resolve(times.length);
  }

  reset(_rule: KillRule, index: number, target: string): Promise<void> {
    this.windows.get(index)?.delete(target);
    return Promise.resolve();
  }
}

/**
 * Automatic kills (`kill_switch.rules`): each rule counts its kind of event per target (the user,
 * server or tool it came from) in a sliding window, and kills the target when the count is
 * reached. The counts are the counter's (per process, or shared through Redis); the kill itself
 * goes through the kill store, shared by every instance.
 */
export class KillRules {
  constructor(
    private readonly rules: readonly KillRule[],
    private readonly kill: RuleKill,
    private readonly log: Logger,
    private readonly counter: RuleCounter = new LocalRuleCounter(),
    private readonly now: () => number = Date.now,
  ) {}

  observe(e: AuditEvent): void {
    if (this.rules.length === 0) return;
    const kind = kindOf(e);
    if (kind === undefined) return;
    const now = this.now();
    this.rules.forEach((rule, i) => {
      if (rule.when !== kind) return;
      const target = targetOf(rule, e);
      if (target !== undefined) void this.count(rule, i, target, now);
    });
  }

  private async count(rule: KillRule, i: number, target: string, now: number): Promise<void> {
    try {
      if ((await this.counter.add(rule, i, target, now)) < rule.count) return;
      await this.counter.reset(rule, i, target);
      const reason = `automatic: ${rule.count} ${rule.when} within ${Math.round(rule.withinMs / 1000)}s`;
      await this.kill(rule.kill, target, reason);
    } catch (err) {
      this.log.error({ rule: i, target, err: (err as Error).message }, "kill rule could not count or kill");
    }
  }
}
