/**
 * What a server says outside a call's result, judged before the client sees it: its `initialize`
 * instructions (clients put them in the system prompt: redacted, checked for injection, and pinned
 * and scanned like a tool definition), its serverInfo, its log, progress and cancellation
 * notifications, and its errors to requests that are not calls (lists, broadcasts).
 */
import { auditEvent, type AuditEvent } from "../audit/event.js";
import type { AuditLog } from "../audit/log.js";
import type { Principal } from "../auth/principal.js";
import { PeerRpcError } from "../errors.js";
import type { JsonObject, Notification } from "../jsonrpc.js";
import type { Logger } from "../log.js";
import { principalFields } from "../pipeline/stages/audit.js";
import { freshFindings, type Findings, type Protector } from "../protect/protector.js";
import type { DefinitionGuard } from "../supply/definition-guard.js";

/** The session a text goes to. */
export interface TextCaller {
  readonly principal: Principal;
  readonly session: string;
}

/** Notification findings audited per server per window; the rest are counted in the next event. */
const NOTICE_EVENTS = 20;
const NOTICE_WINDOW_MS = 60_000;

export class ServerTexts {
  private readonly notices = new Map<string, { windowStart: number; events: number; suppressed: number }>();

  constructor(
    private readonly protectors: ReadonlyMap<string, Protector>,
    /** Pins and scans the instructions like a definition; undefined: no supply-chain checks. */
    private readonly definitions: DefinitionGuard | undefined,
    private readonly audit: AuditLog,
    private readonly log: Logger,
  ) {}

  /**
   * A server's instructions as the client may see them, or undefined when withheld: held (changed
   * since pinned, under `tool_pinning: enforce`), poisoned (under `poisoning: block`), carrying
   * injected instructions (under `injection: block`), or not inspectable (fail closed).
   */
  async instructions(
    server: string,
    text: string,
    caller: TextCaller,
    toolNames: readonly string[],
  ): Promise<string | undefined> {
    try {
      const verdict = (await this.definitions?.review(server, "instructions", { instructions: text })) ?? {
        serve: true,
      };
      const protector = this.protectors.get(server);
      if (!protector) throw new Error("no protection compiled for this server");
      const findings = freshFindings();
      const out = protector.text(text, { source: `${server} instructions`, toolNames }, findings);
      const withheld = !verdict.serve || out === undefined;
      await this.recordFindings(server, "initialize", findings, caller, withheld ? "withheld" : "ok");
      if (!verdict.serve) {
        this.log.warn({ server, why: verdict.why }, "instructions withheld: quarantined");
        return undefined;
      }
      if (out === undefined) this.log.warn({ server }, "instructions withheld: they carry instructions");
      return out;
    } catch (err) {
      this.log.error(
        { server, err: (err as Error).message },
        "instructions withheld: they could not be judged",
      );
      return undefined;
    }
  }

  /** A server's serverInfo, redacted; the gateway's own when it carries injected instructions. */
  serverInfo(server: string, info: JsonObject): JsonObject | undefined {
    const protector = this.protectors.get(server);
    if (!protector) return undefined;
    const out: JsonObject = {};
    const findings = freshFindings();
    for (const [k, v] of Object.entries(info)) {
      out[k] =
        typeof v === "string" ? (protector.text(v, { source: server, toolNames: [] }, findings) ?? "") : v;
    }
    return findings.signals.length > 0 && protector.options.injection !== "off" ? undefined : out;
  }

  /** A notification from `server`, protected; undefined when it must be dropped. Findings audited. */
  notification(server: string, n: Notification, caller: TextCaller): Notification | undefined {
    const protector = this.protectors.get(server);
    if (!protector) return undefined;
    const findings = freshFindings();
    const out = protector.notification(n, findings, `${server} ${n.method.replace(/^notifications\//, "")}`);
    // Injection is audited; redaction in notifications is not (a log line each would flood the log).
    if (findings.signals.length > 0) {
      const status = protector.options.injection === "block" ? "withheld" : "annotated";
      void this.noticeFindings(server, n.method, { ...findings, redacted: {} }, caller, status);
    }
    return out;
  }

  /** An upstream's error to a request that is not a call (lists, broadcasts): protected like a call's. */
  async error(server: string, method: string, err: unknown, caller: TextCaller): Promise<unknown> {
    if (!(err instanceof PeerRpcError)) return err;
    const protector = this.protectors.get(server);
    if (!protector) return new PeerRpcError(err.code, "upstream error");
    const findings = freshFindings();
    let out: PeerRpcError;
    try {
      out = protector.error(err, findings, `${server} error`);
    } catch {
      return new PeerRpcError(err.code, "upstream error");
    }
    await this.recordFindings(server, method, findings, caller, "error").catch(() => undefined);
    return out;
  }

  /** Audits a notification's findings, at most NOTICE_EVENTS per server per window (a flood costs one event). */
  private async noticeFindings(
    server: string,
    method: string,
    findings: Findings,
    caller: TextCaller,
    status: string,
  ): Promise<void> {
    const now = Date.now();
    let n = this.notices.get(server);
    if (!n || now - n.windowStart > NOTICE_WINDOW_MS) {
      n = { windowStart: now, events: 0, suppressed: n?.suppressed ?? 0 };
      this.notices.set(server, n);
    }
    if (n.events >= NOTICE_EVENTS) {
      n.suppressed++;
      return;
    }
    n.events++;
    const suppressed = n.suppressed;
    n.suppressed = 0;
    await this.recordFindings(server, method, findings, caller, status, suppressed).catch((err: unknown) =>
      this.log.error({ server, method, err: (err as Error).message }, "notification findings not audited"),
    );
  }

  private async recordFindings(
    server: string,
    method: string,
    findings: Findings,
    caller: TextCaller,
    status: string,
    suppressed = 0,
  ): Promise<void> {
    const base = {
      principal: principalFields(caller.principal),
      session: caller.session,
      method,
      server,
      status,
    };
    const events: AuditEvent[] = [];
    const signals = [...new Set(findings.signals.map((s) => s.kind))];
    const more = suppressed > 0 ? { suppressed } : {};
    if (signals.length > 0)
      events.push(auditEvent({ ...base, event: "injection", detail: { signals, ...more } }));
    if (Object.keys(findings.redacted).length > 0)
      events.push(
        auditEvent({ ...base, event: "redacted", detail: { types: { ...findings.redacted }, ...more } }),
      );
    await Promise.all(events.map((e) => this.audit.record(e)));
  }
}
