import { auditEvent, type AuditPrincipal } from "../audit/event.js";
import type { AuditLog } from "../audit/log.js";
import type { Principal } from "../auth/principal.js";
import type { GatewayError } from "../errors.js";
import type { Id } from "../jsonrpc.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../observability/metrics.js";
import { auditUnavailable, principalFields } from "../pipeline/stages/audit.js";

/** Why a request was refused: a GatewayError, or its reason and code when none was built. */
export type Refusal = GatewayError | { readonly reason: string; readonly code?: number };

/** What the `denied` event says about the refused request, beyond its reason and code. */
export interface RefusalFields {
  readonly principal?: Principal;
  readonly session?: string;
  readonly request_id?: Id;
  readonly method?: string;
  readonly tool?: string;
  /** Audited and logged; the refusal's `code` is added to it. */
  readonly detail?: Readonly<Record<string, unknown>>;
  /** How the log line reads when the reason alone does not say enough. */
  readonly log?: RefusalLog;
}

export interface RefusalLog {
  readonly msg?: string;
  /** `warn` for what an operator should look at: the gateway's own trouble, a flood cut off. */
  readonly level?: "info" | "warn";
  /** Logged, never audited: an error's text, an outage's cause. */
  readonly context?: Readonly<Record<string, unknown>>;
}

/**
 * The one recorder of refusals made before the pipeline (transport checks, session caps, the kill
 * switch at initialize): each is counted in `warden_denials_total`, logged, and audited as a
 * `denied` event. The pipeline's own refusals are the audit and telemetry stages' business.
 */
export class Refusals {
  constructor(
    private readonly audit: AuditLog,
    private readonly metrics: Pick<Metrics, "denied">,
    private readonly log: Logger,
  ) {}

  /**
   * Counts, logs and audits one refusal. Rejects with `audit_unavailable` when the event could not
   * be written: the caller decides whether its answer waits for the audit or depends on it.
   */
  async record(refusal: Refusal, fields: RefusalFields = {}): Promise<void> {
    this.metrics.denied(refusal.reason);
    const caller = fields.principal && principalFields(fields.principal);
    const detail = withCode(fields.detail, refusal.code);
    const line = {
      reason: refusal.reason,
      ...(caller ? { caller } : {}),
      ...(fields.session !== undefined ? { session: fields.session } : {}),
      ...(fields.request_id !== undefined ? { request_id: fields.request_id } : {}),
      ...(fields.method !== undefined ? { method: fields.method } : {}),
      ...(fields.tool !== undefined ? { tool: fields.tool } : {}),
      ...detail,
      ...fields.log?.context,
    };
    const msg = fields.log?.msg ?? "request refused";
    if (fields.log?.level === "warn") this.log.warn(line, msg);
    else this.log.info(line, msg);
    const event = auditEvent({
      event: "denied",
      principal: caller,
      session: fields.session,
      request_id: fields.request_id,
      method: fields.method,
      tool: fields.tool,
      status: "denied",
      reason: refusal.reason,
      detail,
    });
    try {
      await this.audit.record(event);
    } catch {
      throw auditUnavailable();
    }
  }

  /**
   * A refusal that is not recorded on its own (one of a flood, past its first): counted now; its
   * FloodRecorder audits it in a summary (`summarise`).
   */
  count(reason: string): void {
    this.metrics.denied(reason);
  }

  /**
   * `refused` refusals that `count` counted, audited as one `denied` event (`detail.refused`,
   * `detail.summary: true`). Not counted or logged again. Never rejects: a summary holds no answer
   * back, and the audit log reports its own failures.
   */
  async summarise(
    refusal: Refusal,
    refused: number,
    fields: { readonly principal?: AuditPrincipal; readonly detail?: Readonly<Record<string, unknown>> },
  ): Promise<void> {
    const event = auditEvent({
      event: "denied",
      principal: fields.principal,
      status: "denied",
      reason: refusal.reason,
      detail: withCode({ ...fields.detail, refused, summary: true }, refusal.code),
    });
    await this.audit.record(event).catch(() => undefined);
  }
}

function withCode(
  detail: Readonly<Record<string, unknown>> | undefined,
  code: number | undefined,
): Readonly<Record<string, unknown>> | undefined {
  if (code === undefined) return detail;
  return { ...detail, code };
}
