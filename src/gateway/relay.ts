import type { Principal } from "../auth/principal.js";
import { ErrorCode, GatewayError, PeerRpcError, methodNotFound } from "../errors.js";
import type { Id, JsonObject, Message, Notification, Request } from "../jsonrpc.js";
import type { Logger } from "../log.js";
import type { ClientRequestGuard } from "./client-requests.js";
import type { ServerTexts } from "./server-texts.js";

/** Where messages for the client go; `related` names the client request a message belongs to. */
export interface ClientChannel {
  /**
   * `key`: for a server's request, the name the server gave it (its id, or a 2026-07-28 input
   * request's key), which a modern caller's channel keeps as the `inputRequests` key.
   */
  send(message: Message, related?: Id, key?: string): void;
  /** Ends whatever the transport holds open for the session (a GET stream). */
  close(): void;
}

/** What the relay needs to know of its session. */
export interface RelayedFor {
  readonly id: string;
  principal(): Principal;
  /**
   * Whether the client may be asked for `capability`: what its `initialize` declared. A modern
   * caller's session answers yes, and its channel checks each request's own claim instead.
   */
  mayAsk(capability: string): boolean;
  readonly aggregate: boolean;
  /** The tool or prompt name of a client request in flight, if it is one. */
  inFlight(related: Id): { name: string | undefined } | undefined;
  toolNames(): readonly string[];
  /** A server's list changed: the caller's catalog forgets it. */
  listChanged(server: string, method: string): void;
}

interface Outgoing {
  resolve(result: JsonObject): void;
  reject(err: Error): void;
  readonly server: string;
  readonly upstreamId: Id;
  readonly timer: NodeJS.Timeout;
}

const CLIENT_REQUESTS = new Map([
  ["sampling/createMessage", "sampling"],
  ["elicitation/create", "elicitation"],
  ["roots/list", "roots"],
]);
const RELAYED_NOTIFICATIONS = new Set([
  "notifications/progress",
  "notifications/cancelled",
  "notifications/message",
  "notifications/resources/updated",
  "notifications/tools/list_changed",
  "notifications/prompts/list_changed",
  "notifications/resources/list_changed",
  "notifications/elicitation/complete",
]);
/** Log levels from the least severe: a session's `logging/setLevel` on a shared connection filters here. */
export const LOG_LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];

/**
 * What servers send one client session outside a call's result, once its connection tied it to
 * this session (upstreams/link.ts): requests (sampling, elicitation, roots), protected both ways
 * and asked under the gateway's own ids, and notifications, protected and sent on the stream of the
 * request they belong to.
 */
export class ClientRelay {
  private readonly outgoing = new Map<number, Outgoing>();
  private nextOutgoing = 1;
  /** Per server: the lowest log level the client asked for, on a connection it does not own. */
  private readonly logLevels = new Map<string, number>();
  private closed = false;

  constructor(
    private readonly session: RelayedFor,
    private readonly channel: ClientChannel,
    private readonly clientRequests: ClientRequestGuard,
    private readonly serverTexts: ServerTexts,
    private readonly timeoutMs: number,
    private readonly log: Logger,
  ) {}

  /** Keeps a client's log level for a server whose connection others share (never sent upstream). */
  setLevel(server: string, level: number): void {
    this.logLevels.set(server, level);
  }

  /** A server→client request: protected both ways (client-requests.ts) and relayed to the client. */
  request(server: string, req: Request, related: Id | undefined): Promise<JsonObject> {
    const capability = CLIENT_REQUESTS.get(req.method);
    if (!capability) return Promise.reject(methodNotFound(req.method));
    if (!this.session.mayAsk(capability)) {
      return Promise.reject(methodNotFound(`${req.method} (the client did not declare ${capability})`));
    }
    const caller = {
      principal: this.session.principal(),
      session: this.session.id,
      related:
        related === undefined ? undefined : { id: related, tool: this.session.inFlight(related)?.name },
      toolNames: this.session.toolNames(),
      aggregate: this.session.aggregate,
    };
    return this.clientRequests.relay(server, req.method, req.params, caller, (params) =>
      this.ask(server, req, params, related),
    );
  }

  /**
   * A request of the gateway's own to the client (the connect prompt of per-user OAuth): no server
   * wrote it, so no server's guards judge it; the client's answer is returned as it is.
   */
  own(method: string, params: JsonObject, related: Id | undefined): Promise<JsonObject> {
    return this.ask("(gateway)", { jsonrpc: "2.0", id: `gateway:${method}`, method }, params, related);
  }

  /** A notification of the gateway's own (`notifications/elicitation/complete`). */
  ownNotification(n: Notification): void {
    if (!this.closed) this.channel.send(n);
  }

  /** A notification its connection tied to this session (progress carries this client's own token). */
  notification(server: string, raw: Notification, related: Id | undefined): void {
    if (this.closed) return;
    // Methods never relayed are dropped before any inspection: they cost nothing.
    if (!RELAYED_NOTIFICATIONS.has(raw.method)) return;
    if (raw.method === "notifications/message" && this.belowLevel(server, raw.params?.level)) return;
    const n = this.serverTexts.notification(server, raw, {
      principal: this.session.principal(),
      session: this.session.id,
    });
    if (!n) {
      this.log.warn({ server, method: raw.method }, "notification withheld: it could not be inspected");
      return;
    }
    const stream = related !== undefined && this.session.inFlight(related) ? related : undefined;
    switch (n.method) {
      case "notifications/progress":
        if (stream !== undefined) this.channel.send(n, stream);
        return;
      case "notifications/cancelled":
        return this.cancelledByServer(server, n);
      case "notifications/message":
        return this.channel.send(n, stream);
      case "notifications/tools/list_changed":
      case "notifications/prompts/list_changed":
      case "notifications/resources/list_changed":
        this.session.listChanged(server, n.method);
    }
    this.channel.send(n);
  }

  /** The client's answer to a request relayed from an upstream. */
  response(
    id: Id,
    result: JsonObject | undefined,
    error: { code: number; message: string; data?: unknown } | undefined,
  ): void {
    const pending = typeof id === "number" ? this.outgoing.get(id) : undefined;
    if (!pending) return;
    this.outgoing.delete(id as number);
    clearTimeout(pending.timer);
    if (error) pending.reject(new PeerRpcError(error.code, error.message, error.data));
    else pending.resolve(result ?? {});
  }

  close(): void {
    this.closed = true;
    for (const [id, o] of this.outgoing) {
      clearTimeout(o.timer);
      o.reject(new GatewayError(ErrorCode.InternalError, "session_closed", "client session closed"));
      this.outgoing.delete(id);
    }
  }

  /** Sends a server's request to the client and resolves with the client's answer. */
  private ask(server: string, req: Request, params: JsonObject | undefined, related: Id | undefined) {
    if (this.closed)
      return Promise.reject(
        new GatewayError(ErrorCode.InternalError, "session_closed", "client session closed"),
      );
    const id = this.nextOutgoing++;
    return new Promise<JsonObject>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.outgoing.delete(id);
        this.channel.send({
          jsonrpc: "2.0",
          method: "notifications/cancelled",
          params: { requestId: id, reason: "timeout" },
        });
        reject(
          new GatewayError(ErrorCode.InternalError, "client_timeout", "the client did not answer in time"),
        );
      }, this.timeoutMs);
      timer.unref();
      this.outgoing.set(id, { resolve, reject, server, upstreamId: req.id, timer });
      const message: Request = { jsonrpc: "2.0", id, method: req.method };
      if (params) message.params = params;
      this.channel.send(message, related, String(req.id));
    });
  }

  /** The server withdrew a request it made: the client is told under the id it was asked with. */
  private cancelledByServer(server: string, n: Notification): void {
    const params = n.params;
    for (const [id, o] of this.outgoing) {
      if (o.server !== server || o.upstreamId !== params?.requestId) continue;
      clearTimeout(o.timer);
      this.outgoing.delete(id);
      o.reject(new GatewayError(ErrorCode.InternalError, "cancelled", "cancelled by the server"));
      this.channel.send({ jsonrpc: "2.0", method: n.method, params: { ...params, requestId: id } });
    }
  }

  private belowLevel(server: string, level: unknown): boolean {
    const floor = this.logLevels.get(server);
    return floor !== undefined && LOG_LEVELS.indexOf(String(level)) < floor;
  }
}
