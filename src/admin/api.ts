import type { IncomingMessage, ServerResponse } from "node:http";
import { auditEvent } from "../audit/event.js";
import { AuthError, AuthUnavailable } from "../auth/errors.js";
import type { Principal } from "../auth/principal.js";
import type { EndpointAuth } from "../transports/streamable-http.js";
import type { Gateway } from "../gateway/gateway.js";
import type { KillScope } from "../ops/kill-store.js";
import { BodyTooLarge, readBody } from "../transports/body.js";

export const ADMIN_SCOPE = "warden:admin";
const PREFIX = "/admin/api/";
const MAX_BODY = 16 * 1024;
const SCOPES: ReadonlySet<string> = new Set(["all", "server", "tool", "user", "client"]);

/**
 * The admin API (the part issue 7 needs: the kill switch). Bearer tokens only, with the
 * `warden:admin` scope and the gateway's public URL as audience; anonymous callers never, whatever
 * `auth.anonymous` grants. No cookie is ever accepted, so a browser page elsewhere cannot ride on a
 * session (no CSRF); POST bodies must be JSON. Every change is audited by the kill switch itself.
 */
export async function handleAdminApi(
  gateway: Gateway,
  auth: EndpointAuth,
  path: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<boolean> {
  if (!path.startsWith(PREFIX)) return false;
  const principal = await admin(auth, req, res, (reason, sub) =>
    gateway.audit
      .record(
        auditEvent({
          event: "denied",
          principal: sub === undefined ? undefined : { sub, auth: "bearer" },
          method: `${req.method ?? "?"} ${path}`.slice(0, 100),
          status: "denied",
          reason,
        }),
      )
      .catch(() => undefined),
  );
  if (!principal) return true;
  const by = { sub: principal.subject, auth: principal.method };
  const action = path.slice(PREFIX.length);
  if (req.method === "GET" && action === "kills") return send(res, 200, { kills: gateway.kills.active });
  if (req.method !== "POST" || (action !== "kill" && action !== "revive")) {
    return send(res, 404, { error: "not_found" });
  }
  if (!(req.headers["content-type"] ?? "").includes("application/json")) {
    return send(res, 415, { error: "content-type must be application/json" });
  }
  let body: unknown;
  try {
    body = JSON.parse(await readBody(req, MAX_BODY));
  } catch (err) {
    return send(res, err instanceof BodyTooLarge ? 413 : 400, { error: "a JSON object is required" });
  }
  const b = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  const scope = b.scope ?? "all";
  const target = b.target ?? "";
  const reason = typeof b.reason === "string" ? b.reason.trim() : "";
  if (typeof scope !== "string" || !SCOPES.has(scope)) {
    return send(res, 400, { error: "scope: all, server, tool, user or client" });
  }
  if (typeof target !== "string" || target.length > 300 || (scope === "all") !== (target === "")) {
    return send(res, 400, { error: "target: empty for all, else the server, server/tool, user or client" });
  }
  if (reason === "" || reason.length > 500)
    return send(res, 400, { error: "reason: required, at most 500 characters" });
  if (action === "kill") {
    const kill = await gateway.kills.kill(scope as KillScope, target, reason, by);
    return send(res, 200, { killed: kill });
  }
  const revived = await gateway.kills.revive(scope as KillScope, target, reason, by);
  return send(res, revived ? 200 : 404, revived ? { revived: { scope, target } } : { error: "no such kill" });
}

/** The admin caller, or undefined with the refusal sent and `refused` told (for the audit log). */
async function admin(
  auth: EndpointAuth,
  req: IncomingMessage,
  res: ServerResponse,
  refused: (reason: string, sub?: string) => Promise<unknown>,
): Promise<Principal | undefined> {
  const header = req.headers.authorization;
  if (header === undefined) {
    send(
      res,
      401,
      { error: "a bearer token with the warden:admin scope is required" },
      { "www-authenticate": "Bearer" },
    );
    await refused("authentication");
    return undefined;
  }
  let principal: Principal;
  try {
    principal = await auth.verifier.authenticate(header, auth.urls.base);
  } catch (err) {
    if (err instanceof AuthUnavailable) {
      send(res, 503, { error: "authentication temporarily unavailable" }, { "retry-after": "5" });
      return undefined;
    }
    if (!(err instanceof AuthError)) throw err;
    send(res, 401, { error: "invalid token" }, { "www-authenticate": 'Bearer error="invalid_token"' });
    await refused("authentication");
    return undefined;
  }
  if (principal.method === "anonymous" || !principal.scopes.has(ADMIN_SCOPE)) {
    send(
      res,
      403,
      { error: "insufficient_scope", scope: ADMIN_SCOPE },
      { "www-authenticate": `Bearer error="insufficient_scope", scope="${ADMIN_SCOPE}"` },
    );
    await refused("insufficient_scope", principal.subject);
    return undefined;
  }
  return principal;
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): true {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", ...headers });
  res.end(JSON.stringify(body));
  return true;
}
