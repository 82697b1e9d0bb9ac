/**
 * What this instance has done, for the admin dashboard: counts since start and per minute over
 * the last hour, fed by every audit event the instance records. Per instance and in memory: with
 * several instances each reports its own share (the audit log is the shared, complete record).
 */
import type { AuditEvent } from "../audit/event.js";

const CALL_EVENTS: ReadonlySet<string> = new Set(["tool_call", "prompt_get", "resource_read", "call"]);
const CALL_METHODS: ReadonlySet<string> = new Set(["tools/call", "prompts/get", "resources/read"]);
const MINUTES = 60;
const SECONDS = 60;
const MAX_REASONS = 200;

interface Bucket {
  /** Epoch minute (or second) the bucket counts; older contents are stale. */
  at: number;
  calls: number;
  denied: number;
  errors: number;
}

export interface ActivitySummary {
  readonly started_at: string;
  readonly uptime_s: number;
  readonly calls_per_s: number;
  readonly totals: { calls: number; denied: number; errors: number; redacted: number; injection: number };
  readonly denials_by_reason: Record<string, number>;
  readonly minutes: Array<{ t: string; calls: number; denied: number; errors: number }>;
}

export class ActivityRecorder {
  private readonly startedAt: number;
  private readonly totals = { calls: 0, denied: 0, errors: 0, redacted: 0, injection: 0 };
  private readonly reasons = new Map<string, number>();
  private readonly minutes: Bucket[] = Array.from({ length: MINUTES }, () => empty(-1));
  private readonly seconds: Bucket[] = Array.from({ length: SECONDS }, () => empty(-1));

  constructor(private readonly now: () => number = Date.now) {
    this.startedAt = now();
  }

  /** Counts one event; cheap enough for every call (a few increments). */
  observe(e: AuditEvent): void {
    const t = this.now();
    const call = CALL_EVENTS.has(e.event) || (e.event === "denied" && CALL_METHODS.has(e.method ?? ""));
    const denied = e.event === "denied";
    const error = CALL_EVENTS.has(e.event) && e.status === "error";
    if (e.event === "redacted") this.totals.redacted++;
    if (e.event === "injection") this.totals.injection++;
    if (!call && !denied) return;
    const minute = this.bucket(this.minutes, Math.floor(t / 60_000));
    const second = this.bucket(this.seconds, Math.floor(t / 1_000));
    if (call) {
      this.totals.calls++;
      minute.calls++;
      second.calls++;
    }
    if (denied) {
      this.totals.denied++;
      minute.denied++;
      const reason = (e.reason ?? "unknown").slice(0, 100);
      // Reasons are a closed set in practice; the bound keeps a hostile stream from growing the map.
      if (this.reasons.has(reason) || this.reasons.size < MAX_REASONS)
        this.reasons.set(reason, (this.reasons.get(reason) ?? 0) + 1);
    }
    if (error) {
      this.totals.errors++;
      minute.errors++;
    }
  }

  summary(): ActivitySummary {
    const t = this.now();
    const thisMinute = Math.floor(t / 60_000);
    const thisSecond = Math.floor(t / 1_000);
    let lastMinuteCalls = 0;
    for (const b of this.seconds)
      if (b.at > thisSecond - SECONDS && b.at <= thisSecond) lastMinuteCalls += b.calls;
    const minutes = [];
    for (let m = thisMinute - MINUTES + 1; m <= thisMinute; m++) {
      const b = this.minutes[m % MINUTES] as Bucket;
      const live = b.at === m;
      minutes.push({
        t: new Date(m * 60_000).toISOString(),
        calls: live ? b.calls : 0,
        denied: live ? b.denied : 0,
        errors: live ? b.errors : 0,
      });
    }
    return {
      started_at: new Date(this.startedAt).toISOString(),
      uptime_s: Math.floor((t - this.startedAt) / 1000),
      calls_per_s: Math.round((lastMinuteCalls / SECONDS) * 1000) / 1000,
      totals: { ...this.totals },
      // fromEntries defines own properties: a reason named __proto__ stays a plain key.
      denials_by_reason: Object.fromEntries(this.reasons),
      minutes,
    };
  }

  private bucket(ring: Bucket[], at: number): Bucket {
    const i = at % ring.length;
    let b = ring[i] as Bucket;
    if (b.at !== at) ring[i] = b = empty(at);
    return b;
  }
}

function empty(at: number): Bucket {
  return { at, calls: 0, denied: 0, errors: 0 };
}
