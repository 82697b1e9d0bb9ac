/**
 * Server→client requests (sampling, elicitation, roots) pass the server's `protect` settings both
 * ways. The request going to the client is checked for injected instructions and redacted like a
 * result (`block` refuses it upstream and the client never sees it; `annotate` wraps its prose),
 * and a URL-mode elicitation's URL must pass the server's URL guard. The client's answer going back
 * to the server is judged like a call's arguments (`redact_arguments`: off, redact, block), and a
 * `roots/list` answer keeps only the roots the server may be given (client-roots.ts). A sampling
 * request may not ask for other servers' context (`includeContext`). Every relayed request is
 * audited (`server_request`: method, server, decision, reason; never content); what protection
 * found in the request is the server's (`detail.origin: "server"`), in the answer the client's.
 */
import { auditEvent, SERVER_ORIGIN, type AuditEvent } from "../audit/event.js";
import type { AuditLog } from "../audit/log.js";
import type { Principal } from "../auth/principal.js";
import type { Config } from "../config/types.js";
import { ErrorCode, GatewayError, PeerRpcError, policyDenied } from "../errors.js";
import type { Id, JsonObject } from "../jsonrpc.js";
import { isObject } from "../jsonrpc.js";
import type { Logger } from "../log.js";
import { auditUnavailable, principalFields } from "../pipeline/stages/audit.js";
import { compileUrlGuard, type UrlGuard } from "../policy/guards/index.js";
import { freshFindings, protectionError, type Findings, type Protector } from "../protect/protector.js";
import { RootsFilter, type FilteredRoots } from "./client-roots.js";

/** Who a relayed request reaches, and the client call it belongs to (when one is in flight). */
export interface RelayCaller {
  readonly principal: Principal;
  readonly session: string;
  readonly related: { readonly id: Id; readonly tool: string | undefined } | undefined;
  /** The tools the session sees: calls to action naming them are an injection cue. */
  readonly toolNames: readonly string[];
  /**
   * The client's session fronts several servers (the aggregate route): to the client "this server"
   * is all of them, so a sampling request may ask for no context at all.
   */
  readonly aggregate?: boolean;
}

/** Sends the (protected) request to the client and resolves with its answer. */
export type AskClient = (params: JsonObject | undefined) => Promise<JsonObject>;

/** `filtered`: the answer went to the server with some of the client's roots left out. */
type Status = "ok" | "filtered" | "denied" | "blocked" | "error";

/** Dropped roots listed in one audit event, at most. */
const MAX_DROPS_AUDITED = 20;

/** The MCP error code of "URL elicitation required" (spec 2025-11-25). */
const URL_ELICITATION_REQUIRED = -32042;

/** A server's request as the client is to get it, and how its `includeContext` was rewritten. */
interface Judged {
  params: JsonObject | undefined;
  context: ContextRewrite | undefined;
}

/** What a server may ask a client. */
const ASKABLE: ReadonlySet<string> = new Set(["sampling/createMessage", "elicitation/create", "roots/list"]);

/** What the audit may name of a sampling request's `includeContext` (anything else is "other"). */
const CONTEXT_VALUES: ReadonlySet<unknown> = new Set(["none", "thisServer", "allServers"]);

export class ClientRequestGuard {
  /**
   * Each server's URL guard for URL-mode elicitation: its `allowed_domains`, else any public host.
   * Judged as written, never resolved: the user's browser opens the URL, from its own network, and
   * a lookup by the gateway would tell whoever chose the name that it asked (a DNS channel out).
   */
  private readonly urlGuards: ReadonlyMap<string, UrlGuard>;
  private readonly roots: RootsFilter;

  constructor(
    config: Config,
    private readonly protectors: ReadonlyMap<string, Protector>,
    private readonly audit: AuditLog,
    private readonly log: Logger,
  ) {
    this.roots = new RootsFilter(config);
    this.urlGuards = new Map(
      config.servers.map((s) => [
        s.name,
        compileUrlGuard({
          allowedDomains: s.allowedDomains ?? ["*"],
          ...(s.allowedNetworks ? { allowNetworks: s.allowedNetworks } : {}),
          resolveHosts: false,
        }),
      ]),
    );
  }

  /**
   * Relays `method` from `server` through `ask`, protected both ways. Rejects with the refusal
   * the server is answered with (audited before it leaves).
   */
  async relay(
    server: string,
    method: string,
    params: JsonObject | undefined,
    caller: RelayCaller,
    ask: AskClient,
  ): Promise<JsonObject> {
    const found = { request: freshFindings(), answer: freshFindings() };
    const judged: Judged = { params, context: undefined };
    const finish = this.finisher(server, method, caller, found, judged);
    try {
      await this.judge(server, method, caller, found.request, judged);
    } catch (err) {
      const refusal = err instanceof GatewayError ? err : protectionError(err);
      await finish("denied", refusal.reason, refusal.code);
      throw refusal;
    }
    let answer: JsonObject;
    try {
      answer = await ask(judged.params);
    } catch (err) {
      const reason = err instanceof GatewayError ? err.reason : "client_error";
      await finish(
        "error",
        reason,
        err instanceof GatewayError || err instanceof PeerRpcError ? err.code : undefined,
      );
      throw err instanceof PeerRpcError ? this.clientError(server, err) : err;
    }
    try {
      const protector = this.protectors.get(server) as Protector;
      answer = guarded(() => protector.clientAnswer(answer, found.answer));
    } catch (err) {
      const refusal = err instanceof GatewayError ? err : protectionError(err);
      await finish("blocked", refusal.reason, refusal.code);
      throw refusal;
    }
    if (method === "roots/list") {
      // Judged as the server will get it: after redaction. Never throws; a doubtful root is dropped.
      const roots = await this.roots.filter(server, answer);
      if (roots.dropped.length > 0) {
        this.log.warn(
          { server, received: roots.received, dropped: roots.dropped.length },
          "roots the server may not be given were left out of the client's answer",
        );
        await finish("filtered", "path_not_allowed", undefined, roots);
      } else await finish("ok", undefined, undefined, roots);
      return roots.answer;
    }
    await finish("ok");
    return answer;
  }

  /**
   * A server's questions that reach the caller inside a result, not as requests the gateway asks
   * (a task's `inputRequests` in `tasks/get`): each is judged as `relay` judges the request it
   * sends (protect, the URL guard, sampling's `includeContext`) and audited as a `server_request`.
   * Resolves with the questions as the caller may see them; rejects with the refusal when one of
   * them may not be asked (the caller then gets none of them). The answers come back as a later
   * request's arguments, which the pipeline judges like any call's.
   */
  async screen(server: string, asked: JsonObject, caller: RelayCaller): Promise<JsonObject> {
    const out: JsonObject = {};
    for (const [key, value] of Object.entries(asked)) {
      const found = { request: freshFindings(), answer: freshFindings() };
      const method = isObject(value) && typeof value.method === "string" ? value.method : "(unknown)";
      const judged: Judged = {
        params: isObject(value) && isObject(value.params) ? value.params : undefined,
        context: undefined,
      };
      const finish = this.finisher(server, method, caller, found, judged);
      try {
        if (!isObject(value) || !ASKABLE.has(method))
          throw policyDenied("unknown_request", "the server asked the client something it may not ask");
        // The caller is told that a question was refused, not what the refused URL was.
        await this.judge(server, method, caller, found.request, judged).catch((err: unknown) => {
          throw err instanceof GatewayError && err.code === ErrorCode.PolicyDenied
            ? policyDenied(err.reason, err.message)
            : err;
        });
        out[key] = judged.params === undefined ? { ...value } : { ...value, params: judged.params };
      } catch (err) {
        const refusal = err instanceof GatewayError ? err : protectionError(err);
        await finish("denied", refusal.reason, refusal.code);
        throw refusal;
      }
      await finish("ok");
    }
    return out;
  }

  /** Records how one server request ended (its audit event), timed from now. */
  private finisher(
    server: string,
    method: string,
    caller: RelayCaller,
    found: { request: Findings; answer: Findings },
    judged: Judged,
  ) {
    const started = Date.now();
    return (status: Status, reason?: string, code?: number, roots?: FilteredRoots) =>
      this.record({
        server,
        method,
        caller,
        started,
        found,
        status,
        reason,
        code,
        roots,
        context: judged.context,
      });
  }

  /**
   * What a server's request to the client may be, judged before the client sees it: refused while
   * an audit sink is failing; sampling's `includeContext` made the server's own; protected like a
   * result; a URL-mode elicitation's URL past the URL guard. Updates `judged` (what is sent).
   */
  private async judge(
    server: string,
    method: string,
    caller: RelayCaller,
    found: Findings,
    judged: Judged,
  ): Promise<void> {
    await this.audit.ready().catch(() => {
      throw auditUnavailable();
    });
    if (method === "sampling/createMessage" && judged.params)
      ({ params: judged.params, rewrite: judged.context } = ownContext(judged.params, caller));
    const protector = this.protectors.get(server);
    if (!protector) throw protectionError(new Error("no protection compiled for this server"));
    if (judged.params && method !== "roots/list") {
      const request = judged.params;
      const source = `${server}/${method}`;
      judged.params = guarded(() =>
        protector.serverRequest(request, { source, toolNames: caller.toolNames }, found),
      );
    }
    if (method === "elicitation/create") await this.checkUrl(server, judged.params);
  }

  /**
   * An upstream's -32042 error (URL elicitation required) sends the user to the URLs in its data:
   * each must pass the server's URL guard, else the error becomes the refusal (-32001).
   */
  async urlRequired(server: string, err: unknown): Promise<unknown> {
    if (!(err instanceof PeerRpcError) || err.code !== URL_ELICITATION_REQUIRED) return err;
    const data = err.data as { elicitations?: unknown } | undefined;
    const list = Array.isArray(data?.elicitations) ? (data.elicitations as unknown[]) : [];
    try {
      for (const e of list)
        await this.checkUrl(server, { ...(isObject(e) ? e : {}), mode: "url" } as JsonObject);
    } catch (refusal) {
      return refusal;
    }
    return err;
  }

  /** A URL-mode elicitation sends the user to its URL: it must pass the server's URL guard. */
  private async checkUrl(server: string, params: JsonObject | undefined): Promise<void> {
    const url = params?.url;
    if (params?.mode !== "url" && url === undefined) return;
    const guard = this.urlGuards.get(server);
    const decision =
      typeof url === "string" && guard
        ? await guard.check(url)
        : ({ allowed: false, reason: "domain_not_allowed", detail: "no URL" } as const);
    if (!decision.allowed) {
      this.log.warn({ server, why: decision.detail }, "elicitation refused: its URL is not allowed");
      throw policyDenied(decision.reason, "the elicitation's URL is not allowed", {
        detail: decision.detail,
      });
    }
  }

  /** The client's error on its way upstream: redacted like an answer; withheld when `block` finds data. */
  private clientError(server: string, err: PeerRpcError): PeerRpcError {
    const protector = this.protectors.get(server);
    try {
      const body: JsonObject = { message: err.message };
      if (err.data !== undefined) body.data = err.data as JsonObject;
      const out = protector ? protector.clientAnswer(body, freshFindings()) : body;
      return new PeerRpcError(err.code, String(out.message), out.data);
    } catch {
      return new PeerRpcError(err.code, "the client's error was withheld: it carried sensitive data");
    }
  }

  private async record(r: {
    server: string;
    method: string;
    caller: RelayCaller;
    started: number;
    found: { request: Findings; answer: Findings };
    status: Status;
    reason: string | undefined;
    code: number | undefined;
    roots: FilteredRoots | undefined;
    context: ContextRewrite | undefined;
  }): Promise<void> {
    const base = {
      principal: principalFields(r.caller.principal),
      session: r.caller.session,
      request_id: r.caller.related?.id,
      tool: r.caller.related?.tool,
      method: r.method,
      server: r.server,
    };
    const { request, answer } = r.found;
    const signals = [...new Set(request.signals.map((s) => s.kind))];
    const events: AuditEvent[] = [
      auditEvent({
        ...base,
        event: "server_request",
        status: r.status,
        reason: r.reason,
        started_at: new Date(r.started).toISOString(),
        duration_ms: Date.now() - r.started,
        detail: {
          ...(r.code !== undefined ? { code: r.code } : {}),
          ...(signals.length > 0 ? { signals } : {}),
          ...(count(request) ? { request_redacted: { ...request.redacted } } : {}),
          ...(count(answer) ? { answer_redacted: { ...answer.redacted } } : {}),
          ...(r.roots ? { roots: rootsDetail(r.roots) } : {}),
          ...(r.context ? { include_context: r.context } : {}),
        },
      }),
    ];
    // Also as the events kill rules count (`when: injection`, `when: redacted`): the request's
    // findings are the server's doing (never a user's), the answer's are the client's.
    const channel = { origin: SERVER_ORIGIN, channel: "request" };
    if (signals.length > 0)
      events.push(
        auditEvent({ ...base, event: "injection", status: r.status, detail: { signals, ...channel } }),
      );
    if (count(request) > 0)
      events.push(
        auditEvent({
          ...base,
          event: "redacted",
          status: r.status,
          detail: { types: { ...request.redacted }, ...channel },
        }),
      );
    if (count(answer) > 0)
      events.push(
        auditEvent({
          ...base,
          event: "redacted",
          status: r.status,
          detail: { types: { ...answer.redacted } },
        }),
      );
    try {
      await Promise.all(events.map((e) => this.audit.record(e)));
    } catch (err) {
      this.log.error(
        { server: r.server, method: r.method, err: (err as Error).message },
        "server request refused: its audit event could not be written",
      );
      throw auditUnavailable();
    }
  }
}

/** What the audit keeps of a roots answer: counts, and why each dropped root went (never its URI). */
function rootsDetail(r: FilteredRoots): Record<string, unknown> {
  return {
    received: r.received,
    kept: r.kept,
    ...(r.dropped.length > 0 ? { dropped: r.dropped.slice(0, MAX_DROPS_AUDITED) } : {}),
  };
}

function guarded<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw err instanceof GatewayError ? err : protectionError(err);
  }
}

function count(f: Findings): number {
  return Object.keys(f.redacted).length;
}

/** How a sampling request's `includeContext` was changed, for its audit event. */
interface ContextRewrite {
  readonly requested: string;
  readonly sent: string;
}

/**
 * A sampling request's `includeContext` limited to what the server may see of the client's
 * context: its own (`thisServer`), or on the aggregate route (where the client's "this server" is
 * every server behind it) none. `allServers`, or any value not in the spec, is rewritten.
 */
function ownContext(
  params: JsonObject,
  caller: RelayCaller,
): { params: JsonObject; rewrite: ContextRewrite | undefined } {
  const asked = params.includeContext;
  if (asked === undefined || asked === "none" || (asked === "thisServer" && !caller.aggregate))
    return { params, rewrite: undefined };
  const sent = caller.aggregate ? "none" : "thisServer";
  const requested = CONTEXT_VALUES.has(asked) ? (asked as string) : "other";
  return { params: { ...params, includeContext: sent }, rewrite: { requested, sent } };
}
