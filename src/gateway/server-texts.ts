/**
 * What a server says outside a call's result, judged before the client sees it: its `initialize`
 * instructions (clients put them in the system prompt: redacted, checked for injection, and pinned
 * and scanned like a tool definition), its serverInfo, its log, progress and cancellation
 * notifications, and its errors to requests that are not calls (lists, broadcasts). What protection
 * finds there is audited as the server's doing (`detail.origin: "server"`, SERVER_ORIGIN), not the
 * user's whose session received it.
 */
import { auditEvent, SERVER_ORIGIN, type AuditEvent } from "../audit/event.js";
import type { AuditLog } from "../audit/log.js";
import type { Principal } from "../auth/principal.js";
import { PeerRpcError } from "../errors.js";
import type { JsonObject, Notification } from "../jsonrpc.js";
import { isObject } from "../jsonrpc.js";
import type { Logger } from "../log.js";
import { principalFields } from "../pipeline/stages/audit.js";
import { compileUrlGuard } from "../policy/guards/index.js";
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

/** Where in what a server says on its own a finding was made (`detail.channel`). */
type Channel = "instructions" | "serverInfo" | "notification" | "error";

/**
 * The links of a serverInfo (its website, its icons) are opened or fetched by the client: judged
 * as written (never resolved by the gateway), any public host; icons may also be inline images.
 */
const linkGuard = compileUrlGuard({ allowedDomains: ["*"], resolveHosts: false });
const INLINE_IMAGE = /^data:image\//i;

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
      const status = withheld ? "withheld" : "ok";
      await this.recordFindings(server, "initialize", "instructions", findings, caller, status);
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

  /**
   * A server's serverInfo as the client may see it: every string redacted and checked, its website
   * and icons only when their URLs pass the link guard (else left out); undefined (the gateway's
   * own is sent) when it carries injected instructions or cannot be judged. Findings audited.
   */
  async serverInfo(server: string, info: JsonObject, caller: TextCaller): Promise<JsonObject | undefined> {
    try {
      const protector = this.protectors.get(server);
      if (!protector) throw new Error("no protection compiled for this server");
      const findings = freshFindings();
      const checked = protector.serverInfo(info, findings);
      const out = checked && (await safeLinks(checked));
      await this.recordFindings(
        server,
        "initialize",
        "serverInfo",
        findings,
        caller,
        out ? "ok" : "withheld",
      );
      if (out && out.dropped > 0)
        this.log.warn(
          { server, dropped: out.dropped },
          "serverInfo links left out: their URLs are not allowed",
        );
      return out?.info;
    } catch (err) {
      this.log.error({ server, err: (err as Error).message }, "serverInfo withheld: it could not be judged");
      return undefined;
    }
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
    await this.recordFindings(server, method, "error", findings, caller, "error").catch(() => undefined);
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
    await this.recordFindings(server, method, "notification", findings, caller, status, suppressed).catch(
      (err: unknown) =>
        this.log.error({ server, method, err: (err as Error).message }, "notification findings not audited"),
    );
  }

  private async recordFindings(
    server: string,
    method: string,
    channel: Channel,
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
    const more = { origin: SERVER_ORIGIN, channel, ...(suppressed > 0 ? { suppressed } : {}) };
    if (signals.length > 0)
      events.push(auditEvent({ ...base, event: "injection", detail: { signals, ...more } }));
    if (Object.keys(findings.redacted).length > 0)
      events.push(
        auditEvent({ ...base, event: "redacted", detail: { types: { ...findings.redacted }, ...more } }),
      );
    await Promise.all(events.map((e) => this.audit.record(e)));
  }
}

/** A serverInfo with its website and icons kept only when their URLs pass the link guard. */
async function safeLinks(info: JsonObject): Promise<{ info: JsonObject; dropped: number }> {
  const out: JsonObject = { ...info };
  let dropped = 0;
  if (
    out.websiteUrl !== undefined &&
    !(typeof out.websiteUrl === "string" && (await allowedLink(out.websiteUrl)))
  ) {
    delete out.websiteUrl;
    dropped++;
  }
  if (out.icons !== undefined) {
    const icons = Array.isArray(out.icons) ? out.icons : [];
    const kept = [];
    for (const icon of icons) {
      const src = isObject(icon) ? icon.src : undefined;
      if (typeof src === "string" && (INLINE_IMAGE.test(src) || (await allowedLink(src)))) kept.push(icon);
    }
    dropped += (Array.isArray(out.icons) ? out.icons.length : 1) - kept.length;
    if (kept.length > 0) out.icons = kept;
    else delete out.icons;
  }
  return { info: out, dropped };
}

async function allowedLink(url: string): Promise<boolean> {
  return (await linkGuard.check(url)).allowed;
}
