import type { IncomingMessage, ServerResponse } from "node:http";
import { samePrincipal, type Principal } from "../auth/principal.js";
import { AuthError, AuthUnavailable } from "../auth/errors.js";
import type { ResourceMetadata } from "../auth/metadata.js";
import type { PublicUrls } from "../auth/urls.js";
import type { TokenVerifier } from "../auth/verifier.js";
import type { Config } from "../config/types.js";
import { ErrorCode, GatewayError } from "../errors.js";
import { SUPPORTED_VERSIONS } from "../gateway/capabilities.js";
import type { Gateway } from "../gateway/gateway.js";
import type { Route } from "../gateway/route.js";
import type { Session } from "../gateway/session.js";
import { rpcError } from "../upstreams/connection.js";
import {
  errorResponse,
  invalidMessage,
  isNotification,
  isRequest,
  type Id,
  type Message,
  type Request,
} from "../jsonrpc.js";
import { BodyTooLarge, JsonTooComplex, readBody } from "./body.js";
import { EXCESS_MESSAGES, type JsonLimits } from "./json-scan.js";
import type { FailedAuthGuard } from "../ops/failed-auth.js";
import type { SourceRefusal } from "../ops/source-limits.js";
import type { BodyRefusalReason, RefusedBodies } from "../ops/refused-bodies.js";
import { HttpChannel, ResponseStream } from "./http-channel.js";
import { requestSource } from "./source.js";
import { ModernHttp } from "./modern-http.js";
import { MODERN_VERSIONS, claimedVersion } from "../gateway/modern.js";

/**
 * The MCP streamable-HTTP transport, downstream side: legacy sessions (spec 2025-03-26 …
 * 2025-11-25) here, and 2026-07-28 requests, told apart by their `_meta`, in modern-http.ts.
 *
 * Why not the SDK's StreamableHTTPServerTransport: it commits to a 200 before the gateway has
 * decided anything, so the spec's 401/403 challenges cannot be given per request, and it converts
 * every Node request into a web Request and re-parses it with zod, which cost more CPU per call
 * than the rest of the gateway together (see bench/README.md). The wire rules kept here are the
 * spec's: one message per POST, JSON or SSE answers, session ids, GET stream, DELETE.
 */
/** How MCP routes authenticate: the token verifier, and the URLs and challenges it answers with. */
export interface EndpointAuth {
  readonly verifier: TokenVerifier;
  readonly metadata: ResourceMetadata;
  readonly urls: PublicUrls;
}

export class StreamableHttpEndpoint {
  private readonly channels = new WeakMap<Session, HttpChannel>();
  private readonly config: Config;
  private readonly jsonLimits: JsonLimits;
  private readonly modern: ModernHttp;

  constructor(
    private readonly gateway: Gateway,
    private readonly auth: EndpointAuth,
    /** Per-source budget of refused authentications (`gateway.source_limits.failed_auth`). */
    private readonly failedAuth: FailedAuthGuard,
    /** Per-caller budget of bodies refused unparsed (`gateway.source_limits.refused_bodies`). */
    private readonly bodies: RefusedBodies,
  ) {
    this.config = gateway.config;
    this.modern = new ModernHttp(gateway, auth.metadata);
    const g = this.config.gateway;
    this.jsonLimits = Object.freeze({
      depth: g.maxJsonDepth,
      width: g.maxJsonWidth,
      values: g.maxJsonValues,
    });
  }

  async handle(route: Route, req: IncomingMessage, res: ServerResponse): Promise<void> {
    // 2026-07-28 has no GET stream and no DELETE: without a legacy session id, neither means anything.
    if ((req.method === "GET" || req.method === "DELETE") && req.headers["mcp-session-id"] === undefined) {
      res.writeHead(405, { allow: "POST" }).end();
      return;
    }
    const principal = await this.authenticate(route, req, res);
    if (!principal) return;
    switch (req.method) {
      case "POST":
        return this.post(route, principal, req, res);
      case "GET":
        return this.get(route, principal, req, res);
      case "DELETE":
        return this.delete(route, principal, req, res);
      default:
        res.writeHead(405, { allow: "GET, POST, DELETE" }).end();
    }
  }

  /**
   * The caller, or undefined with a 401 and its Bearer challenge already sent, or a 503 when the
   * token cannot be checked now (the shared state store is down): never let through unchecked.
   */
  private async authenticate(
    route: Route,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<Principal | undefined> {
    const authorization = req.headers.authorization;
    // A source past its budget of refusals is answered before its token costs a verification.
    const cut = this.failedAuth.before(req, authorization);
    if (cut) {
      refuseFlood(res, cut);
      return undefined;
    }
    try {
      const principal = await this.auth.verifier.authenticate(
        authorization,
        this.auth.urls.route(route.path),
        // Only an anonymous caller is told apart by its source: a token's caller never needs it.
        authorization === undefined ? { source: requestSource(req) } : {},
      );
      this.failedAuth.passed(authorization);
      return principal;
    } catch (err) {
      if (err instanceof AuthUnavailable) {
        await this.refuseUnavailable(route, res, err);
        return undefined;
      }
      if (!(err instanceof AuthError)) throw err;
      // A source past its budget of refusals gets 429, and its flood a summary in the audit log.
      const flood = await this.failedAuth.refused(req, { path: route.path });
      if (flood) {
        refuseFlood(res, flood);
        return undefined;
      }
      await this.gateway.refusals
        .record(AUTHENTICATION, {
          detail: { error: err.error ?? "no_token", path: route.path },
          log: { msg: "authentication refused", context: { why: err.message } },
        })
        .catch(() => undefined); // refused either way; the failure is logged by the audit log
      reply(res, 401, errorResponse(null, ErrorCode.InvalidRequest, "authentication required"), {
        "www-authenticate": this.auth.metadata.challenge(route, err),
      });
      return undefined;
    }
  }

  /**
   * A body refused unparsed: past `max_body_bytes` (413), or past `max_json_depth`/`_width`/`_values`
   * (400, json-scan.ts). Audited and counted against the caller (RefusedBodies); past its budget of
   * such refusals the caller gets 429 instead.
   */
  private async refuseBody(
    route: Route,
    principal: Principal,
    res: ServerResponse,
    err: BodyTooLarge | JsonTooComplex,
  ): Promise<void> {
    const reason: BodyRefusalReason =
      err instanceof JsonTooComplex ? "json_limit_exceeded" : "body_too_large";
    const detail =
      err instanceof JsonTooComplex ? { limit: err.excess, path: route.path } : { path: route.path };
    const cut = await this.bodies.refused(principal, reason, detail);
    if (cut) return refuseCut(res, cut);
    if (err instanceof BodyTooLarge) {
      return reply(res, 413, errorResponse(null, ErrorCode.InvalidRequest, "request body too large"), {
        connection: "close",
      });
    }
    const data = { reason: "json_limit_exceeded", limit: err.excess };
    reply(res, 400, errorResponse(null, ErrorCode.InvalidRequest, EXCESS_MESSAGES[err.excess], data), {
      connection: "close",
    });
  }

  private async refuseUnavailable(route: Route, res: ServerResponse, err: AuthUnavailable): Promise<void> {
    await this.gateway.refusals
      .record(AUTHENTICATION, {
        detail: { error: "auth_unavailable", path: route.path },
        log: {
          level: "warn",
          msg: "authentication unavailable: request refused",
          context: { why: err.message, err: (err.cause as Error | undefined)?.message },
        },
      })
      .catch(() => undefined);
    reply(
      res,
      503,
      errorResponse(null, ErrorCode.InternalError, "authentication temporarily unavailable", {
        reason: "auth_unavailable",
      }),
      { "retry-after": "5" },
    );
  }

  private async post(
    route: Route,
    principal: Principal,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    // A caller cut for a flood of refused bodies is answered before its body is read.
    const cut = this.bodies.cut(principal);
    if (cut) return refuseCut(res, cut);
    const accept = req.headers.accept ?? "";
    if (!accept.includes("application/json") || !accept.includes("text/event-stream")) {
      return reply(
        res,
        406,
        errorResponse(
          null,
          ErrorCode.InvalidRequest,
          "Accept must list application/json and text/event-stream",
        ),
      );
    }
    if (!(req.headers["content-type"] ?? "").includes("application/json")) {
      return reply(
        res,
        415,
        errorResponse(null, ErrorCode.InvalidRequest, "Content-Type must be application/json"),
      );
    }
    let text: string;
    try {
      text = await readBody(req, this.config.gateway.maxBodyBytes, this.jsonLimits);
    } catch (err) {
      if (err instanceof BodyTooLarge || err instanceof JsonTooComplex)
        return this.refuseBody(route, principal, res, err);
      throw err;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return reply(res, 400, errorResponse(null, ErrorCode.ParseError, "parse error"));
    }
    const batch = Array.isArray(value);
    const messages: unknown[] = batch ? (value as unknown[]) : [value];
    if (messages.length === 0)
      return reply(res, 400, errorResponse(null, ErrorCode.InvalidRequest, "empty batch"));
    for (const m of messages) {
      const invalid = invalidMessage(m);
      if (invalid)
        return reply(
          res,
          400,
          errorResponse(idOf(m), ErrorCode.InvalidRequest, `invalid request: ${invalid}`),
        );
    }
    const first = messages[0] as Message;
    // `initialize` opens a legacy session, unless it comes in 2026-07-28 form (which has none).
    const modern = !batch && isModern(first, req);
    if (!modern && !batch && isRequest(first) && first.method === "initialize")
      return this.initialize(route, principal, first, res);
    if (modern) return this.modern.post(route, principal, req, res, first);

    const session = this.sessionFor(route, principal, req, res);
    if (!session) return;
    // Batches exist only in 2025-03-26, which requires receiving them; later versions removed them.
    if (
      batch &&
      (session.protocolVersion !== "2025-03-26" ||
        messages.some((m) => (m as Request).method === "initialize"))
    ) {
      return reply(
        res,
        400,
        errorResponse(null, ErrorCode.InvalidRequest, "batches are not supported in this protocol version"),
      );
    }
    const requests: Request[] = [];
    for (const m of messages as Message[]) {
      if (isRequest(m)) requests.push(m);
      else if (isNotification(m)) session.onNotification(m);
      else
        session.onResponse(
          m.id as Id,
          "result" in m ? m.result : undefined,
          "error" in m ? m.error : undefined,
        );
    }
    if (requests.length === 0) {
      res.writeHead(202).end();
      return;
    }
    const channel = this.channels.get(session) as HttpChannel;
    const stream = new ResponseStream(res, {}, requests.length, batch);
    const tp = req.headers.traceparent;
    const meta = { traceparent: typeof tp === "string" ? tp : undefined };
    if (requests.length === 1) await this.serve(session, channel, stream, requests[0] as Request, meta);
    else await Promise.all(requests.map((r) => this.serve(session, channel, stream, r, meta)));
  }

  private async serve(
    session: Session,
    channel: HttpChannel,
    stream: ResponseStream,
    request: Request,
    meta: { traceparent?: string },
  ): Promise<void> {
    channel.track(request.id, stream);
    try {
      const result = await session.handle(request, meta);
      stream.finish({ jsonrpc: "2.0", id: request.id, result });
    } catch (err) {
      // An HTTP status (401, 403 step-up) only for a lone request with nothing written yet; in a
      // batch, or once streaming, the refusal is that request's JSON-RPC error like any other.
      if (err instanceof GatewayError && err.httpStatus && !stream.started && stream.refusable) {
        const headers: Record<string, string> = {};
        if (err.reason === "insufficient_scope" && Array.isArray(err.data.scopes)) {
          headers["www-authenticate"] = this.auth.metadata.stepUp(session.route, err.data.scopes as string[]);
        }
        stream.refuse(
          err.httpStatus,
          headers,
          errorResponse(request.id, err.code, err.message, err.toJsonRpc().data),
        );
      } else if (session.isClosed || !isCancelled(err)) {
        stream.finish({ jsonrpc: "2.0", id: request.id, error: rpcError(err) });
      } else {
        // Cancelled by the client: the spec says no response is sent for it.
        stream.skip();
      }
    } finally {
      channel.untrack(request.id);
    }
  }

  private async initialize(
    route: Route,
    principal: Principal,
    message: Request,
    res: ServerResponse,
  ): Promise<void> {
    const channel = new HttpChannel();
    let session: Session;
    try {
      session = this.gateway.createSession(route, principal, channel);
    } catch (err) {
      const e =
        err instanceof GatewayError
          ? err
          : new GatewayError(ErrorCode.InternalError, "internal", "internal error");
      return reply(
        res,
        e.httpStatus ?? 500,
        errorResponse(message.id, e.code, e.message, e.toJsonRpc().data),
      );
    }
    this.channels.set(session, channel);
    const headers: Record<string, string> = { "mcp-session-id": session.id };
    const stream = new ResponseStream(res, headers);
    channel.track(message.id, stream);
    try {
      const result = await session.initialize(message.params);
      stream.finish({ jsonrpc: "2.0", id: message.id, result });
    } catch (err) {
      await this.gateway.closeSession(session.id);
      // No session came of it: an answer not yet begun names none (a client would only get 404 with it).
      delete headers["mcp-session-id"];
      stream.finish({ jsonrpc: "2.0", id: message.id, error: rpcError(err) });
    } finally {
      channel.untrack(message.id);
    }
  }

  private get(route: Route, principal: Principal, req: IncomingMessage, res: ServerResponse): void {
    if (!(req.headers.accept ?? "").includes("text/event-stream")) {
      return reply(
        res,
        406,
        errorResponse(null, ErrorCode.InvalidRequest, "Accept must list text/event-stream"),
      );
    }
    const session = this.sessionFor(route, principal, req, res);
    if (!session) return;
    const channel = this.channels.get(session) as HttpChannel;
    if (channel.hasStandalone) {
      return reply(
        res,
        409,
        errorResponse(null, ErrorCode.InvalidRequest, "a stream is already open for this session"),
      );
    }
    const last = req.headers["last-event-id"];
    channel.openStandalone(res, {}, typeof last === "string" ? last : undefined);
  }

  private async delete(
    route: Route,
    principal: Principal,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const session = this.sessionFor(route, principal, req, res);
    if (!session) return;
    await this.gateway.closeSession(session.id);
    res.writeHead(200).end();
  }

  /** The request's session, or an answer (400, 404) already sent. */
  private sessionFor(
    route: Route,
    principal: Principal,
    req: IncomingMessage,
    res: ServerResponse,
  ): Session | undefined {
    const version = req.headers["mcp-protocol-version"];
    if (typeof version === "string" && !SUPPORTED_VERSIONS.includes(version)) {
      reply(
        res,
        400,
        errorResponse(
          null,
          ErrorCode.InvalidRequest,
          `unsupported protocol version: ${version.slice(0, 40)}`,
        ),
      );
      return undefined;
    }
    const id = req.headers["mcp-session-id"];
    if (typeof id !== "string" || id.length === 0) {
      reply(res, 400, errorResponse(null, ErrorCode.InvalidRequest, "Mcp-Session-Id header is required"));
      return undefined;
    }
    const session = this.gateway.session(id);
    // Another route's or another caller's session is reported as unknown, like an expired one.
    if (!session || session.route !== route || !samePrincipal(session.principal, principal)) {
      reply(res, 404, errorResponse(null, ErrorCode.InvalidRequest, "session not found"));
      return undefined;
    }
    session.lastSeen = Date.now();
    session.refreshPrincipal(principal);
    return session;
  }
}

/** A refused authentication, as audited: no JSON-RPC code (the answer is a 401 or 503). */
const AUTHENTICATION = { reason: "authentication" } as const;

function reply(
  res: ServerResponse,
  status: number,
  body: Message,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { ...headers, "content-type": "application/json" }).end(JSON.stringify(body));
}

/** 429 with -32002 to a source past its budget of refused authentications. */
function refuseFlood(res: ServerResponse, flood: SourceRefusal): void {
  const data = { reason: "rate_limited", retry_after_ms: flood.retryAfterS * 1000, limit: flood.limit };
  const message = "too many failed authentications from this address";
  reply(res, 429, errorResponse(null, ErrorCode.RateLimited, message, data), {
    "retry-after": String(flood.retryAfterS),
  });
}

/** 429 with -32002 to a caller cut for a flood of refused bodies; its body is left unread. */
function refuseCut(res: ServerResponse, cut: SourceRefusal): void {
  const data = { reason: "rate_limited", retry_after_ms: cut.retryAfterS * 1000, limit: cut.limit };
  const message = "too many refused request bodies from this caller";
  reply(res, 429, errorResponse(null, ErrorCode.RateLimited, message, data), {
    "retry-after": String(cut.retryAfterS),
    connection: "close",
  });
}

function idOf(value: unknown): Id | null {
  const id = (value as { id?: unknown } | null)?.id;
  return typeof id === "string" || typeof id === "number" ? id : null;
}

/**
 * A 2026-07-28 message: its `_meta` claims a protocol version (any claim: an unknown one is
 * answered by the modern side with the versions served), or it comes with a modern version header
 * and no legacy session id.
 */
function isModern(m: Message, req: IncomingMessage): boolean {
  if ("method" in m && claimedVersion(m.params) !== undefined) return true;
  const version = req.headers["mcp-protocol-version"];
  return (
    req.headers["mcp-session-id"] === undefined &&
    typeof version === "string" &&
    MODERN_VERSIONS.includes(version)
  );
}

function isCancelled(err: unknown): boolean {
  return err instanceof GatewayError && err.reason === "cancelled";
}
