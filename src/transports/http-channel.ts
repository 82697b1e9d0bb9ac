import type { ServerResponse } from "node:http";
import type { ClientChannel } from "../gateway/relay.js";
import { messageJson, type Id, type Message } from "../jsonrpc.js";
import { openEventStream, writeComment, writeEvent } from "./sse.js";

/** Events kept per session for replay and for delivery once the GET stream opens. */
const KEPT_EVENTS = 1000;
const KEEPALIVE_MS = 25_000;

/**
 * The answer to one POST: one request, or (2025-03-26 only) a batch. Nothing is written until
 * there is something to say: results alone go out as plain JSON (an array for a batch), anything
 * sent before them turns the answer into an event stream, and a refusal decided before that can
 * still carry its own HTTP status (401, 403).
 */
export class ResponseStream {
  private mode: "pending" | "sse" | "done" = "pending";
  private readonly collected: Message[] = [];

  constructor(
    private readonly res: ServerResponse,
    private readonly headers: Record<string, string>,
    private remaining = 1,
    private readonly batch = false,
  ) {
    res.on("close", () => {
      this.mode = "done";
    });
  }

  get started(): boolean {
    return this.mode !== "pending";
  }

  push(message: Message): boolean {
    if (this.mode === "done") return false;
    if (this.mode === "pending") {
      openEventStream(this.res, this.headers);
      this.mode = "sse";
      for (const m of this.collected) writeEvent(this.res, m);
      this.collected.length = 0;
    }
    writeEvent(this.res, message);
    return true;
  }

  /** A keep-alive comment on a stream already open (a long `subscriptions/listen`). */
  comment(): void {
    if (this.mode === "sse") writeComment(this.res, "keepalive");
  }

  /** Whether the client closed the HTTP answer before it ended (the spec's cancellation, 2026-07-28). */
  get abandoned(): boolean {
    return this.mode === "done" && !this.res.writableEnded;
  }

  /** One response of this POST; the last one ends the HTTP answer. */
  finish(message: Message): void {
    if (this.mode === "sse") writeEvent(this.res, message);
    else if (this.mode === "pending") this.collected.push(message);
    if (--this.remaining > 0) return;
    if (this.mode === "pending") return this.finishCollected();
    if (this.mode === "sse") this.res.end();
    this.mode = "done";
  }

  /** A request that gets no response (cancelled by the client). */
  skip(): void {
    if (--this.remaining > 0) return;
    if (this.mode === "pending" && this.collected.length > 0) return this.finishCollected();
    if (!this.res.headersSent) this.res.writeHead(this.mode === "sse" ? 200 : 202);
    this.res.end();
    this.mode = "done";
  }

  /** Whether `refuse` can still answer with an HTTP status: a lone request, nothing written yet. */
  get refusable(): boolean {
    return this.mode === "pending" && !this.batch;
  }

  /** A refusal with its own HTTP status; only possible while `refusable`. */
  refuse(status: number, headers: Record<string, string>, message: Message): boolean {
    if (!this.refusable) return false;
    this.res.writeHead(status, { ...this.headers, ...headers, "content-type": "application/json" });
    this.res.end(JSON.stringify(message));
    this.mode = "done";
    return true;
  }

  private finishCollected(): void {
    const body = this.batch
      ? `[${this.collected.map(messageJson).join(",")}]`
      : messageJson(this.collected[0] as Message);
    // With its length, the answer goes out as it is; without, Node frames it in chunks.
    this.res.writeHead(200, {
      ...this.headers,
      "content-type": "application/json",
      "content-length": String(Buffer.byteLength(body)),
    });
    this.res.end(body);
    this.mode = "done";
  }
}

/**
 * A session's way back to its client over streamable HTTP: messages tied to a request ride that
 * request's stream; the rest go on the GET stream, queued (bounded) until the client opens it and
 * kept for `Last-Event-ID` replay.
 */
export class HttpChannel implements ClientChannel {
  /** The stream of each request id in flight; `holders` counts requests using the id (a refused duplicate too). */
  private readonly streams = new Map<Id, { stream: ResponseStream; holders: number }>();
  private standalone: ServerResponse | undefined;
  private keepalive: NodeJS.Timeout | undefined;
  private readonly kept: Array<{ id: number; message: Message }> = [];
  private eventId = 0;
  /** The last event id written to a GET stream. */
  private delivered = 0;

  /**
   * A duplicate of an id in flight (which the session refuses) keeps the first request's stream:
   * what the first call's server sends meanwhile still rides that call's answer.
   */
  track(id: Id, stream: ResponseStream): void {
    const held = this.streams.get(id);
    if (held) held.holders++;
    else this.streams.set(id, { stream, holders: 1 });
  }

  untrack(id: Id): void {
    const held = this.streams.get(id);
    if (held && --held.holders <= 0) this.streams.delete(id);
  }

  send(message: Message, related?: Id): void {
    if (related !== undefined && this.streams.get(related)?.stream.push(message)) return;
    const id = ++this.eventId;
    this.kept.push({ id, message });
    if (this.kept.length > KEPT_EVENTS) this.kept.shift();
    if (this.hasStandalone) {
      writeEvent(this.standalone as ServerResponse, message, String(id));
      this.delivered = id;
    }
  }

  get hasStandalone(): boolean {
    return this.standalone !== undefined && !this.standalone.writableEnded && !this.standalone.destroyed;
  }

  openStandalone(
    res: ServerResponse,
    headers: Record<string, string>,
    lastEventId: string | undefined,
  ): void {
    openEventStream(res, headers);
    this.standalone = res;
    const resumeAt = lastEventId === undefined ? NaN : Number(lastEventId);
    const after = Number.isSafeInteger(resumeAt) ? resumeAt : this.delivered;
    for (const e of this.kept) {
      if (e.id <= after) continue;
      writeEvent(res, e.message, String(e.id));
      this.delivered = e.id;
    }
    this.keepalive = setInterval(() => writeComment(res, "keepalive"), KEEPALIVE_MS);
    this.keepalive.unref();
    res.on("close", () => {
      if (this.standalone === res) this.standalone = undefined;
      clearInterval(this.keepalive);
    });
  }

  close(): void {
    if (this.keepalive) clearInterval(this.keepalive);
    this.standalone?.end();
    this.standalone = undefined;
  }
}
