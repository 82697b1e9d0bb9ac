import { fromServer, type AuditEvent } from "../audit/event.js";
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
  // The gateway was full: refused for everyone's load, not for anything this caller asked.
  "too_many_sessions",
]);

/** The events that record a call's outcome: only these can be a call the upstream failed. */
const CALL_EVENTS: ReadonlySet<string> = new Set(["tool_call", "prompt_get", "resource_read", "call"]);

/**
 * The event kinds a rule counts, read off audit events. What a server sent on its own (`origin:
 * server`: instructions, serverInfo, notifications, its requests to the client, errors outside a
 * call) counts only as `redacted` or `injection`, and only toward server and tool rules (observe).
 * A `server_request` event never counts: its findings come as their own events, and a client that
 * declined, failed or did not answer a server's request is neither the server's failure nor a
 * refusal of the user's.
 */
function kindOf(e: AuditEvent): KillRule["when"] | undefined {
  if (e.event === "redacted") return "redacted";
  // Attributed crashes only: an unattributed one has no principal, and so no caller to count.
  if (e.event === "upstream_crash") return e.detail?.attributed === true ? "upstream_crash" : undefined;
  if (e.event === "injection") return "injection";
  if (fromServer(e)) return undefined;
  if (e.event === "denied") {
    const code = e.detail?.code;
    if (NOT_THE_CALLERS.has(code) || NOT_THE_CALLERS_REASONS.has(e.reason)) return undefined;
    // An upstream that is down or timed out is the server's failure, not the caller's denial.
    if (code === ErrorCode.UpstreamUnavailable) return "upstream_error";
    // A caller over its rate is refused before any decision about what it asked: not a denial.
    if (code === ErrorCode.RateLimited) return "rate_limited";
    return "denied";
  }
  // A call to a server that failed it; a list or broadcast (no server named) is no call of the user's.
  if (
    CALL_EVENTS.has(e.event) &&
    e.server !== undefined &&
    (e.reason === "upstream_error" || e.status === "error")
  )
    return "upstream_error";
  return undefined;
}

/**
 * Who caused the event, for counting distinct callers: the user (the token's subject). Anonymous
 * callers and events with no caller are nobody: they never count toward any rule, so no one without
 * a credential can kill a server, a tool, or "anonymous" (every anonymous caller) for everyone.
 */
function callerOf(e: AuditEvent): string | undefined {
  const p = e.principal;
  if (p === undefined || p.auth === "anonymous" || typeof p.sub !== "string") return undefined;
  return p.sub;
}

function targetOf(rule: KillRule, e: AuditEvent, caller: string): string | undefined {
  switch (rule.kill) {
    case "user":
      // A token whose subject is literally "anonymous" would kill every anonymous caller with it.
      return caller === ANONYMOUS ? undefined : caller;
    case "user_on_server":
      return caller === ANONYMOUS || e.server === undefined ? undefined : `${e.server}/${caller}`;
    case "server":
      return e.server;
    case "tool":
      return e.server !== undefined && e.tool !== undefined ? `${e.server}/${e.tool}` : undefined;
  }
}

const ANONYMOUS = "anonymous";
const MAX_TRACKED = 10_000;

/** What a rule's window holds after an event: how many events, from how many distinct callers. */
export interface RuleCount {
  readonly events: number;
  readonly callers: number;
}

/**
 * Where a rule's events are counted: in this process, or (`state.redis`) across every instance.
 * `add` records one event by `caller` at `now` and returns the window ending there (counts may stop
 * at the rule's `count` and `distinctCallers`: enough to decide); `reset` forgets the target once it
 * is killed.
 */
export interface RuleCounter {
  add(rule: KillRule, index: number, target: string, caller: string, now: number): Promise<RuleCount>;
  reset(rule: KillRule, index: number, target: string): Promise<void>;
}

interface Window {
  /** The newest events' times (ms), oldest first; at most the rule's `count`. */
  readonly times: number[];
  /** Caller → time of its newest event, least recent first; at most the rule's `distinctCallers`. */
  readonly callers: Map<string, number>;
}

/**
 * Counts in this process. Per target it keeps only what the decision needs (the newest `count`
 * events and `distinctCallers` callers), and the number of targets per rule is bounded, the oldest
 * forgotten first.
 */
export class LocalRuleCounter implements RuleCounter {
  /** rule index → target → its window. */
  private readonly windows = new Map<number, Map<string, Window>>();

  add(rule: KillRule, index: number, target: string, caller: string, now: number): Promise<RuleCount> {
    let windows = this.windows.get(index);
    if (windows === undefined) this.windows.set(index, (windows = new Map()));
    let w = windows.get(target);
    if (w === undefined) {
      if (windows.size >= MAX_TRACKED) windows.delete(windows.keys().next().value as string);
      w = { times: [], callers: new Map() };
      windows.set(target, w);
    }
    const cutoff = now - rule.withinMs;
    const { times, callers } = w;
    while (times.length > 0 && (times[0] as number) <= cutoff) times.shift();
    times.push(now);
    if (times.length > rule.count) times.shift();
    // Re-inserted so the map stays ordered by each caller's newest event.
    callers.delete(caller);
    callers.set(caller, now);
    for (const [c, at] of callers) {
      if (at > cutoff && callers.size <= rule.distinctCallers) break;
      callers.delete(c);
    }
    return Promise.resolve({ events: times.length, callers: callers.size });
  }

  reset(_rule: KillRule, index: number, target: string): Promise<void> {
    this.windows.get(index)?.delete(target);
    return Promise.resolve();
  }
}

/**
 * Automatic kills (`kill_switch.rules`): each rule counts its kind of event per target (the user,
 * server or tool it came from) in a sliding window, and kills the target when the window holds
 * `count` events from at least `distinctCallers` callers (always 1 for `kill: user`; at least 2 for
 * a server or tool, so that one caller alone can never kill what everyone uses). Findings in what a
 * server sent on its own are counted under the user that received them, toward server and tool
 * rules only: they say nothing about that user, who never kills for them. The counts are the
 * counter's (per process, or shared through Redis); the kill itself goes through the kill store,
 * shared by every instance.
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
    const caller = callerOf(e);
    if (caller === undefined) return;
    const server = fromServer(e);
    const now = this.now();
    this.rules.forEach((rule, i) => {
      if (rule.when !== kind || (server && (rule.kill === "user" || rule.kill === "user_on_server"))) return;
      const target = targetOf(rule, e, caller);
      if (target !== undefined) void this.count(rule, i, target, caller, now);
    });
  }

  private async count(rule: KillRule, i: number, target: string, caller: string, now: number): Promise<void> {
    try {
      const seen = await this.counter.add(rule, i, target, caller, now);
      if (seen.events < rule.count || seen.callers < rule.distinctCallers) return;
      await this.counter.reset(rule, i, target);
      const from = rule.distinctCallers > 1 ? ` from ${rule.distinctCallers} callers` : "";
      const reason = `automatic: ${rule.count} ${rule.when}${from} within ${Math.round(rule.withinMs / 1000)}s`;
      await this.kill(rule.kill, target, reason);
    } catch (err) {
      this.log.error({ rule: i, target, err: (err as Error).message }, "kill rule could not count or kill");
    }
  }
}
