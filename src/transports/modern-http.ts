import type { IncomingMessage, ServerResponse } from "node:http";
import type { Principal } from "../auth/principal.js";
import type { ResourceMetadata } from "../auth/metadata.js";
import { duplicateRequestId, ErrorCode, GatewayError } from "../errors.js";
import type { Gateway } from "../gateway/gateway.js";
import {
  META,
  MODERN_VERSIONS,
  claimedVersion,
  modernError,
  modernMeta,
  unsupportedVersion,
  type ModernMeta,
} from "../gateway/modern.js";
import { LOG_LEVELS } from "../gateway/relay.js";
import type { Route } from "../gateway/route.js";
import type { Session } from "../gateway/session.js";
import { errorResponse, isObject, type JsonObject, type Message, type Request } from "../jsonrpc.js";
import { rpcError } from "../upstreams/connection.js";
import { ResponseStream } from "./http-channel.js";
import type { ModernChannel } from "./modern-channel.js";
import { checkParamHeaders, checkStandardHeaders, headerMismatch } from "./mcp-headers.js";

const LIST_FLAGS = ["toolsListChanged", "promptsListChanged", "resourcesListChanged"] as const;
/**
 * Listen streams one caller (route and principal) may hold open at once: each holds a socket and,
 * for its resources on a 2026-07-28 server, upstream streams; a client needs one, a few at most.
 */
export const MAX_LISTENS = 8;

/** The HTTP status 2026-07-28 gives these errors, whoever raised them (the gateway or its upstream). */
const HTTP_STATUS_OF: Readonly<Record<number, number>> = {
  [ErrorCode.MethodNotFound]: 404,
  [ErrorCode.HeaderMismatch]: 400,
  [ErrorCode.MissingRequiredClientCapability]: 400,
  [ErrorCode.UnsupportedProtocolVersion]: 400,
};

/** A request whose `_meta` lacks what 2026-07-28 requires: 400, -32602. */
function badMeta(message: string): GatewayError {
  return new GatewayError(ErrorCode.InvalidParams, "invalid_meta", message, {}, 400);
}

/**
 * Streamable HTTP for modern callers (MCP 2026-07-28), on the same endpoints as the legacy
 * sessions (docs/protocol-eras.md): a request is modern when its `_meta` claims a protocol
 * version. No handshake and no session id: the gateway keeps a session per caller and client
 * capabilities itself (Gateway.modernSession), so policy, limits, the kill switch and the audit
 * log see a modern caller exactly as they see a legacy one.
 *
 * Before anything else the headers are checked against the body (400, -32020), so nothing
 * downstream of this point ever has to trust a header. Closing a response stream cancels its
 * request. `subscriptions/listen` holds a stream open for the change notifications it asked for.
 */
export class ModernHttp {
  constructor(
    private readonly gateway: Gateway,
    private readonly metadata: ResourceMetadata,
  ) {}

  async post(
    route: Route,
    principal: Principal,
    req: IncomingMessage,
    res: ServerResponse,
    message: Message,
  ): Promise<void> {
    if (!("method" in message)) {
      return reply(
        res,
        400,
        errorResponse(null, ErrorCode.InvalidRequest, "clients send no responses in 2026-07-28"),
      );
    }
    // Client notifications have no meaning over HTTP in 2026-07-28 (closing a stream cancels).
    if (!("id" in message)) {
      res.writeHead(202).end();
      return;
    }
    const request = message;
    const version = claimedVersion(request.params);
    let meta: ModernMeta;
    let session: Session;
    let channel: ModernChannel;
    try {
      // The request's own claims first: what it says, then whether its headers say the same, then
      // whether the gateway speaks that version.
      const claims = isObject(request.params?._meta) ? request.params._meta : undefined;
      if (typeof version !== "string")
        throw badMeta("_meta io.modelcontextprotocol/protocolVersion is required");
      if (!isObject(claims?.[META.clientCapabilities]))
        throw badMeta("_meta io.modelcontextprotocol/clientCapabilities is required");
      const header = req.headers["mcp-protocol-version"];
      if (typeof header === "string" && header.trim() !== version)
        throw headerMismatch("MCP-Protocol-Version header does not match the body's protocol version");
      if (!MODERN_VERSIONS.includes(version)) throw unsupportedVersion(version);
      checkStandardHeaders(req.headers, request, version);
      meta = modernMeta(request.params);
      if (meta.logLevel !== undefined && !LOG_LEVELS.includes(meta.logLevel))
        throw new GatewayError(ErrorCode.InvalidParams, "invalid_params", "unknown log level", {}, 400);
      ({ session, channel } = this.gateway.modernSession(route, principal, meta));
    } catch (err) {
      return this.refuseEarly(res, principal, request, err);
    }
    if (request.method === "subscriptions/listen")
      return this.listen(session, channel, principal, request, res);
    return this.call(session, channel, principal, request, meta, req, res);
  }

  private async call(
    session: Session,
    channel: ModernChannel,
    principal: Principal,
    request: Request,
    meta: ModernMeta,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const stream = new ResponseStream(res, {});
    let related = request.id;
    let bound = false;
    let resume: Awaited<ReturnType<Session["claimParked"]>> | undefined;
    try {
      await this.checkParams(session, principal, request, req);
      resume =
        request.params?.requestState !== undefined
          ? await session.claimParked(request, principal)
          : undefined;
      related = resume?.related ?? request.id;
      // The exchange of a request in flight or waiting for input is keyed by its id: another
      // request with that id would take over its stream, its questions and its answers.
      if (!resume && channel.holds(related)) {
        const refusal = duplicateRequestId("a request with this id is in flight or waiting for input");
        await session.refused(request, refusal, principal);
        throw refusal;
      }
      channel.bind(related, stream, meta.logLevel, meta.clientCapabilities);
      bound = true;
      // The spec's cancellation: a response stream closed before its answer cancels the request.
      res.on("close", () => {
        if (stream.abandoned) session.cancel(request.id, "the caller closed the response stream");
      });
      const tp = req.headers.traceparent;
      const result = await session.handle(request, {
        traceparent: typeof tp === "string" ? tp : undefined,
        resume,
        principal,
      });
      stream.finish({ jsonrpc: "2.0", id: request.id, result });
    } catch (err) {
      this.fail(session, stream, request, err);
    } finally {
      // A first attempt leaves its exchange only to the call it parked; whatever else ended it
      // (a refusal before the pipeline, server/discover) must not leave it behind.
      if (bound) {
        if (!resume && !session.parkedAt(related)) channel.end(related);
        else channel.unbind(related);
      }
    }
  }

  /** `Mcp-Param-*` against the arguments, for a tool whose schema marks parameters `x-mcp-header`. */
  private async checkParams(
    session: Session,
    principal: Principal,
    request: Request,
    req: IncomingMessage,
  ): Promise<void> {
    if (request.method !== "tools/call") return;
    const schema = await session.toolSchema(request.params?.name);
    if (schema === undefined) return;
    try {
      checkParamHeaders(req.headers, schema, request.params?.arguments);
    } catch (err) {
      await session.refused(request, err, principal);
      throw err;
    }
  }

  private fail(session: Session, stream: ResponseStream, request: Request, err: unknown): void {
    const error = err instanceof GatewayError ? err : undefined;
    const body = modernError(error ? error.toJsonRpc() : rpcError(err));
    if (stream.refusable) {
      const status = error?.httpStatus ?? HTTP_STATUS_OF[body.code];
      if (status) {
        const headers: Record<string, string> = {};
        if (error?.reason === "insufficient_scope" && Array.isArray(error.data.scopes))
          headers["www-authenticate"] = this.metadata.stepUp(session.route, error.data.scopes as string[]);
        stream.refuse(status, headers, errorResponse(request.id, body.code, body.message, body.data));
        return;
      }
    }
    stream.finish({ jsonrpc: "2.0", id: request.id, error: body });
  }

  /** A request refused before any session work: bad version, headers, or no room for the caller. */
  private async refuseEarly(
    res: ServerResponse,
    principal: Principal,
    request: Request,
    err: unknown,
  ): Promise<void> {
    const e =
      err instanceof GatewayError
        ? err
        : new GatewayError(ErrorCode.InternalError, "internal", "internal error");
    const claimed = claimedVersion(request.params);
    const detail = { protocol_version: typeof claimed === "string" ? claimed.slice(0, 40) : "unknown" };
    await this.gateway.refusals
      .record(e, { principal, request_id: request.id, method: request.method.slice(0, 100), detail })
      .catch(() => undefined);
    const body = modernError(e.toJsonRpc());
    reply(res, e.httpStatus ?? 500, errorResponse(request.id, body.code, body.message, body.data));
  }

  /**
   * `subscriptions/listen`: one stream per call, acknowledged with what the gateway will honour.
   * List changes are honoured as asked; each resource URI only when the caller may read it (it
   * passes the pipeline like a subscription), so updates reach only callers allowed to see them.
   */
  private async listen(
    session: Session,
    channel: ModernChannel,
    principal: Principal,
    request: Request,
    res: ServerResponse,
  ): Promise<void> {
    const asked = isObject(request.params?.notifications) ? request.params.notifications : {};
    const honoured: JsonObject = {};
    for (const flag of LIST_FLAGS) if (asked[flag] === true) honoured[flag] = true;
    const stream = new ResponseStream(res, {});
    let uris: string[] = [];
    try {
      if (channel.listenCount >= MAX_LISTENS) {
        const refusal = new GatewayError(
          ErrorCode.RateLimited,
          "rate_limited",
          `at most ${MAX_LISTENS} subscriptions/listen streams may be open at once`,
          { limit: "listen_streams", max: MAX_LISTENS },
        );
        await session.refused(request, refusal, principal);
        throw refusal;
      }
      await session.prepare(principal);
      if (Array.isArray(asked.resourceSubscriptions)) {
        const wanted = asked.resourceSubscriptions
          .filter((u): u is string => typeof u === "string")
          .slice(0, 100);
        uris = await session.subscribeFor(request.id, wanted, principal);
        honoured.resourceSubscriptions = uris;
      }
    } catch (err) {
      this.fail(session, stream, request, err);
      return;
    }
    const stop = channel.listen(request.id, stream, honoured);
    res.on("close", () => {
      stop();
      void session.unsubscribeFor(uris);
    });
  }
}

function reply(res: ServerResponse, status: number, body: Message): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}
