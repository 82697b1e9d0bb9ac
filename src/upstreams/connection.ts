import type { Transport, TransportSendOptions } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { GatewayError, PeerRpcError, upstreamUnavailable, ErrorCode } from "../errors.js";
import type { Id, JsonObject, Message, Notification, Request } from "../jsonrpc.js";
import { isErrorResponse, isNotification, isRequest } from "../jsonrpc.js";
import { RefusedAnswer } from "../transports/stdio-scan.js";
import { UpstreamLimitExceeded } from "./bounded-fetch.js";

interface Pending {
  resolve(result: JsonObject): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout | undefined;
  /** Run as the answer is read, before anything read after it (the promise settles a tick later). */
  settled: (() => void) | undefined;
  /** Stops listening to the caller's abort signal (set once the request is sent). */
  unlisten?: () => void;
}

export interface ConnectionHandlers {
  /** A server→client request (sampling, elicitation, roots); resolve with the client's result. */
  onRequest(request: Request): Promise<JsonObject>;
  onNotification(notification: Notification): void;
  /** The connection ended (process exit, stream closed, or close() called). */
  onClose(expected: boolean): void;
}

/**
 * One JSON-RPC connection to an upstream over an SDK transport. Ids sent upstream are the
 * connection's own counter, so client ids never collide with the gateway's own requests.
 */
export class UpstreamConnection {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closed = false;
  private closing = false;
  private closedFor: GatewayError | undefined;
  /** A 2026-07-28 server: the `_meta` every request carries, and how a request is cancelled. */
  private modern: { meta: JsonObject; cancelByClose: boolean } | undefined;

  constructor(
    readonly server: string,
    private readonly transport: Transport,
    private handlers: ConnectionHandlers,
    private readonly timeoutMs: number,
  ) {
    transport.onmessage = (message) => this.receive(message as Message);
    transport.onclose = () => this.handleClose();
    transport.onerror = (error) => {
      // Transport errors surface as a close or as a failed send, except a message past its limits:
      // the transport reports it just before it closes, and the calls in flight fail with it.
      if (error instanceof UpstreamLimitExceeded) this.closedFor ??= error;
      // An answer that is not JSON-RPC fails its request now (the connection goes on).
      if (error instanceof RefusedAnswer) {
        this.settle(
          error.id,
          undefined,
          upstreamUnavailable(
            this.server,
            "upstream_unavailable",
            "the server's answer was not valid JSON-RPC",
          ),
        );
      }
    };
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  async start(): Promise<void> {
    await this.transport.start();
  }

  /** Hands a started (spare) connection to its user. */
  attach(handlers: ConnectionHandlers): void {
    this.handlers = handlers;
  }

  /**
   * The server speaks 2026-07-28 (upstreams/era.ts): every request carries `meta` (its own
   * `_meta` wins), and over HTTP a request is cancelled by closing its response stream.
   */
  setModern(meta: JsonObject, cancelByClose: boolean): void {
    this.modern = { meta, cancelByClose };
  }

  get isModern(): boolean {
    return this.modern !== undefined;
  }

  /** After `initialize`: the HTTP transports send the negotiated version on every request. */
  setProtocolVersion(version: string): void {
    (this.transport as { setProtocolVersion?: (v: string) => void }).setProtocolVersion?.(version);
  }

  /** Sends a request; returns its id (for cancellation) and the result promise. */
  send(
    method: string,
    params: JsonObject | undefined,
    signal?: AbortSignal,
    settled?: () => void,
    options: { untimed?: boolean; headers?: Record<string, string> } = {},
  ): { id: number; result: Promise<JsonObject> } {
    const id = this.nextId++;
    if (this.closed) return { id, result: Promise.reject(upstreamUnavailable(this.server)) };
    if (this.modern) params = withMeta(params, this.modern.meta);
    const result = new Promise<JsonObject>((resolve, reject) => {
      const timer =
        this.timeoutMs > 0 && !options.untimed
          ? setTimeout(() => {
              this.notify("notifications/cancelled", { requestId: id, reason: "gateway timeout" });
              // Settled like any answer: its caller's abort listener and its place among the
              // link's calls in flight go with it.
              this.settle(
                id,
                undefined,
                upstreamUnavailable(this.server, "upstream_timeout", "no response in time"),
              );
            }, this.timeoutMs)
          : undefined;
      timer?.unref();
      this.pending.set(id, { resolve, reject, timer, settled });
    });
    const message: Request =
      params === undefined ? { jsonrpc: "2.0", id, method } : { jsonrpc: "2.0", id, method, params };
    // The v2 HTTP transport takes per-request headers (`Mcp-Param-*`) and a signal that closes the
    // request's response stream (2026-07-28 cancellation); the others ignore both.
    const sendOptions = this.modern?.cancelByClose
      ? { requestSignal: signal, headers: options.headers }
      : options.headers
        ? { headers: options.headers }
        : undefined;
    this.transport
      .send(message as JSONRPCMessage, sendOptions as TransportSendOptions)
      .catch((err: unknown) => {
        // A GatewayError here is the credentials' own refusal (upstream_auth_failed): kept as it is.
        const failure =
          err instanceof GatewayError
            ? err
            : upstreamUnavailable(this.server, "upstream_unavailable", errorText(err));
        this.settle(id, undefined, failure);
      });
    if (signal) {
      // Aborted with a GatewayError (the kill switch): the caller gets that refusal, not silence.
      const abort = () =>
        signal.reason instanceof GatewayError
          ? this.cancel(id, signal.reason.reason, signal.reason)
          : this.cancel(id, String(signal.reason ?? "cancelled"));
      const entry = this.pending.get(id);
      if (signal.aborted) abort();
      else if (entry) {
        // Removed when the request settles (settle()), not by a promise chained on its result.
        signal.addEventListener("abort", abort, { once: true });
        entry.unlisten = () => signal.removeEventListener("abort", abort);
      }
    }
    return { id, result };
  }

  request(method: string, params?: JsonObject, signal?: AbortSignal): Promise<JsonObject> {
    return this.send(method, params, signal).result;
  }

  /**
   * Cancels an in-flight request upstream. Its caller gets `error`, or by default no result (the
   * client asked for that).
   */
  cancel(id: number, reason: string, error?: GatewayError): void {
    if (!this.pending.has(id)) return;
    // Over 2026-07-28 HTTP the closed response stream is the cancellation (the signal did it).
    if (!this.modern?.cancelByClose) this.notify("notifications/cancelled", { requestId: id, reason });
    this.settle(
      id,
      undefined,
      error ?? new GatewayError(ErrorCode.InternalError, "cancelled", "request cancelled"),
    );
  }

  /** Sends a notification; resolves once the transport has taken it (for HTTP, once it was posted). */
  notify(method: string, params?: JsonObject): Promise<void> {
    if (this.closed) return Promise.resolve();
    const message: Notification =
      params === undefined ? { jsonrpc: "2.0", method } : { jsonrpc: "2.0", method, params };
    return this.transport.send(message as JSONRPCMessage).catch(() => {});
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    // A streamable-HTTP upstream is told the session ended (DELETE), so it can free it now.
    const t = this.transport as { terminateSession?: () => Promise<void> };
    await t.terminateSession?.().catch(() => {});
    await this.transport.close().catch(() => {});
    this.handleClose();
  }

  private receive(message: Message): void {
    if (isRequest(message)) {
      this.answer(message);
    } else if (isNotification(message)) {
      this.handlers.onNotification(message);
    } else if (typeof message.id === "number") {
      if (isErrorResponse(message)) {
        const { code, message: text, data } = message.error;
        this.settle(message.id, undefined, new PeerRpcError(code, text, data));
      } else {
        this.settle(message.id, message.result);
      }
    }
  }

  private answer(request: Request): void {
    const reply = (body: object) => {
      if (!this.closed)
        this.transport.send({ jsonrpc: "2.0", id: request.id, ...body } as JSONRPCMessage).catch(() => {});
    };
    this.handlers.onRequest(request).then(
      (result) => reply({ result }),
      (err: unknown) => reply({ error: rpcError(err) }),
    );
  }

  private settle(id: Id, result: JsonObject | undefined, err?: Error): void {
    const entry = this.pending.get(id as number);
    if (!entry) return;
    this.pending.delete(id as number);
    if (entry.timer) clearTimeout(entry.timer);
    entry.unlisten?.();
    entry.settled?.();
    if (err) entry.reject(err);
    else entry.resolve(result as JsonObject);
  }

  private handleClose(): void {
    if (this.closed) return;
    this.closed = true;
    // Told first, while the calls it died under are still in flight (a crash is attributed by them).
    this.handlers.onClose(this.closing);
    for (const [id] of this.pending) {
      this.settle(
        id,
        undefined,
        this.closedFor ?? upstreamUnavailable(this.server, "upstream_unavailable", "connection closed"),
      );
    }
  }
}

/** `params` with `meta` under its `_meta`, the request's own entries first. */
function withMeta(params: JsonObject | undefined, meta: JsonObject): JsonObject {
  const own = params?._meta;
  return {
    ...params,
    _meta: typeof own === "object" && own !== null && !Array.isArray(own) ? { ...meta, ...own } : meta,
  };
}

export function rpcError(err: unknown): { code: number; message: string; data?: unknown } {
  if (err instanceof GatewayError) return err.toJsonRpc();
  if (err instanceof PeerRpcError) {
    return err.data === undefined
      ? { code: err.code, message: err.message }
      : { code: err.code, message: err.message, data: err.data };
  }
  return { code: ErrorCode.InternalError, message: "internal error" };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message.slice(0, 200) : "send failed";
}
