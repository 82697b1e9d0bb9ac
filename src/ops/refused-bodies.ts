import { callerId, type Principal } from "../auth/principal.js";
import { ErrorCode } from "../errors.js";
import type { Refusals } from "../gateway/refusals.js";
import { principalFields } from "../pipeline/stages/audit.js";
import { FloodRecorder, type SourceLimits, type SourceRefusal } from "./source-limits.js";

/** Why a body was refused unparsed: a JSON limit (depth, width, values), or its size. */
export type BodyRefusalReason = "json_limit_exceeded" | "body_too_large";

const LIMIT = "refused_bodies";
/** A caller cut for a flood of refused bodies, as audited. */
const CUT = { reason: "rate_limited", code: ErrorCode.RateLimited } as const;
/** Callers remembered as cut at once; past it, expired cuts and then the oldest are forgotten. */
const MAX_CUT_CALLERS = 10_000;

/**
 * Bodies refused before they were parsed, per caller (the user, or an anonymous source): each is
 * audited like a flood's refusals (the caller's first of a minute in full, the rest in one summary
 * a minute) and counted against `gateway.source_limits.refused_bodies`. Past that budget the
 * caller is cut: its refusal and every POST it sends until the window ends are answered 429
 * (-32002) without their bodies being read. The budget is counted where the other source limits
 * are (memory, or Redis shared by every instance); each instance remembers the cuts it gave, so a
 * cut caller's requests cost a map lookup.
 */
export class RefusedBodies {
  /** callerId → when its cut ends (ms since the epoch). */
  private readonly cuts = new Map<string, number>();
  private readonly recorder: FloodRecorder;

  constructor(
    private readonly limits: SourceLimits,
    /** Where refusals are counted (`warden_denials_total`), logged and audited. */
    private readonly refusals: Refusals,
  ) {
    this.recorder = new FloodRecorder(
      (kind, _caller, refused, who) =>
        void this.refusals.summarise(
          kind === LIMIT ? CUT : { reason: kind, code: ErrorCode.InvalidRequest },
          refused,
          { principal: who, detail: kind === LIMIT ? { limit: LIMIT } : {} },
        ),
    );
  }

  /** The cut the caller is under, if any: its request is then refused unread. */
  cut(principal: Principal): SourceRefusal | undefined {
    const id = callerId(principal);
    const until = this.cuts.get(id);
    if (until === undefined) return undefined;
    const left = until - Date.now();
    if (left <= 0) {
      this.cuts.delete(id);
      return undefined;
    }
    this.refusals.count(CUT.reason);
    this.recorder.count(LIMIT, id, principalFields(principal));
    return { limit: LIMIT, retryAfterS: Math.max(1, Math.ceil(left / 1000)), first: false };
  }

  /**
   * One body refused for `reason`: audited, counted against the caller's budget; the cut (to be
   * answered 429 instead) when that puts the caller past it.
   */
  async refused(
    principal: Principal,
    reason: BodyRefusalReason,
    detail: Readonly<Record<string, unknown>>,
  ): Promise<SourceRefusal | undefined> {
    const id = callerId(principal);
    const who = principalFields(principal);
    const cut = await this.limits.take(LIMIT, id);
    if (cut) {
      this.remember(id, cut.retryAfterS);
      if (!this.recorder.fresh(LIMIT, id, who)) {
        this.refusals.count(CUT.reason);
        return cut;
      }
      await this.refusals
        .record(CUT, {
          principal,
          detail: { ...detail, limit: LIMIT, retry_after_s: cut.retryAfterS },
          log: { level: "warn", msg: "caller past its budget of refused bodies: cut until the window ends" },
        })
        .catch(() => undefined); // refused either way
      return cut;
    }
    if (!this.recorder.fresh(reason, id, who)) {
      this.refusals.count(reason);
      return undefined;
    }
    await this.refusals
      .record(
        { reason, code: ErrorCode.InvalidRequest },
        { principal, detail, log: { msg: "request body refused before parsing" } },
      )
      .catch(() => undefined); // refused either way
    return undefined;
  }

  close(): void {
    this.recorder.close();
  }

  private remember(id: string, retryAfterS: number): void {
    if (!this.cuts.has(id) && this.cuts.size >= MAX_CUT_CALLERS) {
      const now = Date.now();
      for (const [other, until] of this.cuts) if (until <= now) this.cuts.delete(other);
      if (this.cuts.size >= MAX_CUT_CALLERS) this.cuts.delete(this.cuts.keys().next().value as string);
    }
    this.cuts.set(id, Date.now() + retryAfterS * 1000);
  }
}
