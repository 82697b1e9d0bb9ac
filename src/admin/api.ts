/**
 * The admin API under /admin/api/ (docs/admin.md). Bearer tokens only, holding `warden:admin` with
 * exactly the gateway's public URL as audience (a JWT, an API key, or the bootstrap token, taken
 * only from a loopback peer through no proxy);
 * anonymous callers never, whatever `auth.anonymous` grants. No cookie is ever read, so a page
 * elsewhere cannot ride on a session; POSTs must also be JSON (a CORS preflight the gateway never
 * grants) and, with an Origin header, come from the gateway's own origin. Every refusal is audited
 * as `denied`, every change as `admin` with who made it and why.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { auditEvent, type AuditPrincipal } from "../audit/event.js";
import { AuthError, AuthUnavailable } from "../auth/errors.js";
import type { ApiKeyStore } from "../auth/api-keys.js";
import type { AuthServer } from "../authserver/index.js";
import type { Gateway } from "../gateway/gateway.js";
import type { FailedAuthGuard } from "../ops/failed-auth.js";
import type { SourceRefusal } from "../ops/source-limits.js";
import type { RequestGuard } from "../transports/guard.js";
import type { EndpointAuth } from "../transports/streamable-http.js";
import type { ActivityRecorder } from "./activity.js";
import { BootstrapToken, isLocalRequest } from "./bootstrap.js";
import { AdminRefusal, readJsonObject, send } from "./http.js";
import type { LoginInfo } from "./login.js";
import { authRoutes } from "./routes-auth.js";
import { killRoutes } from "./routes-kill.js";
import { connectionRoutes } from "./routes-connections.js";
import { statusRoutes } from "./routes-status.js";
import { toolRoutes } from "./routes-tools.js";
import { auditRoutes } from "./routes-audit.js";
import { ADMIN_SCOPE } from "./scope.js";

export { ADMIN_SCOPE } from "./scope.js";
const PREFIX = "/admin/api/";

/** Who is calling the admin API. */
export interface AdminCaller {
  readonly sub: string;
  /** bearer, api_key, bootstrap (the Principal's method, or the bootstrap token). */
  readonly auth: string;
  readonly clientId: string | undefined;
  readonly scopes: readonly string[];
}

/** What the routes work on, built once when the gateway listens. */
export interface AdminContext {
  readonly gateway: Gateway;
  readonly auth: EndpointAuth;
  readonly authServer: AuthServer | undefined;
  readonly apiKeys: ApiKeyStore;
  readonly activity: ActivityRecorder;
  readonly bootstrap: BootstrapToken | undefined;
  /** The gateway's own origins (public URL's and listening URL's): the only ones a POST may carry. */
  readonly origins: ReadonlySet<string>;
  /** The DNS-rebinding guard of the listening address (Host, Origin against `allowed_origins`). */
  readonly guard: RequestGuard;
  readonly login: LoginInfo;
}

export interface AdminCall {
  readonly caller: AdminCaller;
  readonly query: URLSearchParams;
  /** The POST body (an empty object for GET). */
  readonly body: Record<string, unknown>;
}

/** A route's answer: 200 with `body` unless `status` says otherwise. */
export interface AdminAnswer {
  readonly status?: number;
  readonly body: unknown;
}

export type AdminHandler = (ctx: AdminContext, call: AdminCall) => Promise<AdminAnswer> | AdminAnswer;

/** Routes by `METHOD path` (path after /admin/api/). */
export type AdminRoutes = ReadonlyMap<string, AdminHandler>;

export class AdminApi {
  private readonly routes: AdminRoutes;

  constructor(private readonly ctx: AdminContext) {
    this.routes = new Map([
      ...statusRoutes,
      ...toolRoutes,
      ...auditRoutes,
      ...killRoutes,
      ...authRoutes,
      ...connectionRoutes,
    ]);
  }

  /** Whether this process made a bootstrap token (nobody held `warden:admin` at start). */
  get hasBootstrapToken(): boolean {
    return this.ctx.bootstrap !== undefined;
  }

  /**
   * Answers a request under /admin/api/. `guardRefusal` is the HTTP layer's verdict of the
   * DNS-rebinding guard; the API asks the guard again for its coded verdict and refuses when
   * either refuses. `failedAuth` budgets refused tokens per source (`source_limits.failed_auth`,
   * the MCP routes' budget): past it a source's tokens are refused before they are verified.
   */
  async handle(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    guardRefusal?: string,
    failedAuth?: FailedAuthGuard,
  ): Promise<void> {
    const method = req.method ?? "?";
    const what = `${method} ${path}`.slice(0, 100);
    let caller: AdminCaller | undefined;
    try {
      const verdict = this.ctx.guard.verdict(req);
      if (verdict === undefined && guardRefusal !== undefined)
        throw new AdminRefusal(403, `forbidden: ${guardRefusal}`);
      // A foreign Origin is refused below, once the caller is known; any other verdict at once.
      const foreignOrigin = verdict?.code === "origin_not_allowed";
      if (verdict !== undefined && !foreignOrigin)
        throw new AdminRefusal(403, `forbidden: ${verdict.message}`);
      const action = path.slice(PREFIX.length);
      if (method === "GET" && action === "config") {
        if (foreignOrigin) throw new AdminRefusal(403, "cross-origin request refused");
        // Whether a bootstrap token exists is told only to whoever could use it.
        return send(res, 200, await this.ctx.login.document(isLocalRequest(req)));
      }
      const cut = failedAuth?.before(req, req.headers.authorization);
      if (cut) return tooManyFailures(res, cut);
      caller = await this.authenticate(req);
      failedAuth?.passed(req.headers.authorization);
      if (caller.auth === "anonymous" || !caller.scopes.includes(ADMIN_SCOPE))
        throw new AdminRefusal(
          403,
          "insufficient_scope",
          { "www-authenticate": `Bearer error="insufficient_scope", scope="${ADMIN_SCOPE}"` },
          { scope: ADMIN_SCOPE },
        );
      // After authentication only so that the refusal names who sent it: nothing has run yet. A
      // change must come from the gateway's own origin, not merely one of `allowed_origins`.
      const origin = req.headers.origin;
      if (foreignOrigin || (method === "POST" && origin !== undefined && !this.ctx.origins.has(origin)))
        throw new AdminRefusal(403, "cross-origin request refused");
      if (method === "POST" && !isJson(req.headers["content-type"]))
        throw new AdminRefusal(415, "content-type must be application/json");
      const handler = this.routes.get(`${method} ${action}`);
      if (!handler) throw new AdminRefusal(404, "not_found");
      const body = method === "POST" ? await readJsonObject(req) : {};
      const query = new URL(req.url ?? "/", "http://admin.invalid").searchParams;
      const answer = await handler(this.ctx, { caller, query, body });
      return send(res, answer.status ?? 200, answer.body);
    } catch (err) {
      if (err instanceof AdminRefusal) {
        // A source past its budget of refused tokens gets 429; its flood is summarised in the audit.
        const flood =
          err.status === 401 ? await failedAuth?.refused(req, { path: path.slice(0, 100) }) : undefined;
        if (flood) return tooManyFailures(res, flood);
        send(res, err.status, { error: err.message, ...err.extra }, err.headers);
        if (!err.audited) await this.refused(what, caller, refusalReason(err), err.status);
        return;
      }
      if (err instanceof AuthUnavailable) {
        send(res, 503, { error: "authentication temporarily unavailable" }, { "retry-after": "5" });
        await this.refused(what, caller, "auth_unavailable", 503);
        return;
      }
      // Fail closed: an unexpected error answers 503 (nothing half-done is reported as done).
      this.ctx.gateway.log.error({ err: (err as Error).message, path }, "admin request failed");
      if (!res.headersSent) send(res, 503, { error: "the request could not be completed" });
      await this.refused(what, caller, "admin_error", 503);
    }
  }

  /** The caller, or an AdminRefusal (401 without a valid token, 403 without the scope). */
  private async authenticate(req: IncomingMessage): Promise<AdminCaller> {
    const header = req.headers.authorization;
    if (header === undefined)
      throw new AdminRefusal(401, "a bearer token with the warden:admin scope is required", {
        "www-authenticate": "Bearer",
      });
    const invalid = new AdminRefusal(401, "invalid token", {
      "www-authenticate": 'Bearer error="invalid_token"',
    });
    const token = /^Bearer +([^\s]+) *$/i.exec(header)?.[1];
    if (token !== undefined && BootstrapToken.looksLike(token)) {
      const bootstrap = this.ctx.bootstrap;
      if (!bootstrap || !bootstrap.matches(token) || !isLocalRequest(req)) throw invalid;
      return { sub: "bootstrap", auth: "bootstrap", clientId: undefined, scopes: [ADMIN_SCOPE] };
    }
    let principal;
    try {
      // The base URL exactly: an MCP route's token, or one for auth.issuer.audience, is not one for here.
      principal = await this.ctx.auth.verifier.authenticate(header, this.ctx.auth.urls.base, {
        exactAudience: true,
      });
    } catch (err) {
      if (err instanceof AuthError) throw invalid;
      throw err;
    }
    return {
      sub: principal.subject,
      auth: principal.method,
      clientId: principal.clientId,
      scopes: [...principal.scopes],
    };
  }

  private async refused(what: string, caller: AdminCaller | undefined, reason: string, status: number) {
    await this.ctx.gateway.audit
      .record(
        auditEvent({
          event: "denied",
          principal: caller && who(caller),
          method: what,
          status: "denied",
          reason,
          detail: { http_status: status },
        }),
      )
      .catch(() => undefined);
  }
}

/** The caller as audit events record it (`client_id` when the token names one). */
export function who(caller: AdminCaller): AuditPrincipal & { readonly auth: string } {
  return { sub: caller.sub, auth: caller.auth, ...(caller.clientId ? { client_id: caller.clientId } : {}) };
}

function tooManyFailures(res: ServerResponse, flood: SourceRefusal): void {
  const error = `too many failed authentications from this address; retry after ${flood.retryAfterS} s`;
  send(res, 429, { error }, { "retry-after": String(flood.retryAfterS) });
}

function isJson(contentType: string | undefined): boolean {
  return (contentType ?? "").split(";")[0]?.trim().toLowerCase() === "application/json";
}

function refusalReason(err: AdminRefusal): string {
  switch (err.status) {
    case 401:
      return "authentication";
    case 403:
      return err.message === "insufficient_scope"
        ? "insufficient_scope"
        : err.message.startsWith("cross-origin")
          ? "cross_origin"
          : "forbidden";
    case 404:
      return "not_found";
    case 409:
      return "conflict";
    case 413:
      return "body_too_large";
    case 415:
      return "unsupported_media_type";
    case 503:
      return "unavailable";
    default:
      return "bad_request";
  }
}
