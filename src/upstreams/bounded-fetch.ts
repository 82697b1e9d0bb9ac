import type { FetchLike, Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { createParser, type EventSourceMessage, type EventSourceParser } from "eventsource-parser";
import { ErrorCode, GatewayError } from "../errors.js";
import type { Logger } from "../log.js";
import {
  JsonScanner,
  UPSTREAM_JSON_LIMITS,
  type JsonExcess,
  type JsonLimits,
} from "../transports/json-scan.js";

/** What a remote upstream's message may be: its size in bytes, and its JSON's shape. */
export interface MessageBounds {
  /** A JSON body, or one server-sent event (`gateway.max_upstream_message_bytes`). */
  readonly maxBytes: number;
  readonly json: JsonLimits;
}

/** Which bound a message went past. */
export type UpstreamExcess = "bytes" | JsonExcess;

const SENT: Readonly<Record<UpstreamExcess, string>> = Object.freeze({
  bytes: "a message larger than max_upstream_message_bytes",
  depth: "a message nested too deeply",
  width: "a message with an array or object of too many elements",
  values: "a message with too many values",
});

/** A remote upstream sent a message past its bounds: the connection is closed and its calls fail with this. */
export class UpstreamLimitExceeded extends GatewayError {
  constructor(
    server: string,
    readonly limit: UpstreamExcess,
  ) {
    super(
      ErrorCode.UpstreamUnavailable,
      "upstream_limit_exceeded",
      `upstream ${server} is unavailable: it sent ${SENT[limit]}`,
      { server, limit },
    );
  }
}

/** The bounds of a remote server's messages: its size limit, and the JSON limits of every upstream. */
export function upstreamBounds(maxBytes: number): MessageBounds {
  return Object.freeze({ maxBytes, json: UPSTREAM_JSON_LIMITS });
}

/**
 * A fetch for an SDK client transport whose responses never hand the SDK a message past `bounds`:
 * each body is checked as its bytes arrive, and the chunk that would take a message past a bound is
 * withheld and the body errored instead, so the SDK's `JSON.parse` never sees it. The bytes that
 * pass are the server's own, unchanged. `refused` is told first (once per transport: see
 * `closeOnRefusal`).
 *
 * An event stream is framed by eventsource-parser, the SDK's own SSE parser, fed the same decoded
 * text: each event is bounded in size (while it arrives, not only when it ends) and a `message`
 * event's data is scanned as JSON. Any other body is one JSON text (the SDK parses
 * `application/json`; error bodies it reads as text), bounded as a whole.
 */
export function boundedFetch(
  inner: FetchLike,
  server: string,
  bounds: MessageBounds,
  refused: (err: UpstreamLimitExceeded) => void,
): FetchLike {
  return async (url, init) => boundResponse(await inner(url, init), server, bounds, refused);
}

/** Statuses whose responses have no body (the Response constructor refuses one). */
const NO_BODY = new Set([101, 103, 204, 205, 304]);

export function boundResponse(
  res: Response,
  server: string,
  bounds: MessageBounds,
  refused: (err: UpstreamLimitExceeded) => void,
): Response {
  if (!res.body || NO_BODY.has(res.status) || res.status < 200 || res.status > 599) return res;
  const check = isEventStream(res.headers.get("content-type"))
    ? new EventStreamCheck(bounds)
    : new JsonBodyCheck(bounds);
  const body = res.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        const excess = check.write(chunk);
        if (excess === undefined) return controller.enqueue(chunk);
        const err = new UpstreamLimitExceeded(server, excess);
        controller.error(err);
        refused(err);
      },
    }),
  );
  const bounded = new Response(body, {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
  });
  // The SDK names a redirect it did not follow by the response's URL.
  Object.defineProperty(bounded, "url", { value: res.url });
  return bounded;
}

/**
 * What the SDK reads as an event stream: the streamable-HTTP client takes the media type
 * `text/event-stream` (any case, any parameters), the legacy SSE client any value starting with it.
 * Either begins with these letters.
 */
export function isEventStream(contentType: string | null): boolean {
  return contentType !== null && /^\s*text\/event-stream/i.test(contentType);
}

interface BodyCheck {
  /** The bound the body goes past with this chunk, if any. */
  write(chunk: Uint8Array): UpstreamExcess | undefined;
}

/** One JSON text, bounded in size and scanned as it arrives. */
export class JsonBodyCheck implements BodyCheck {
  private size = 0;
  private readonly scanner: JsonScanner;

  constructor(private readonly bounds: MessageBounds) {
    this.scanner = new JsonScanner(bounds.json);
  }

  /** Reports the first bound the text goes past, in byte order. */
  write(chunk: Uint8Array): UpstreamExcess | undefined {
    const room = this.bounds.maxBytes - this.size;
    this.size += chunk.length;
    const excess = this.scanner.write(chunk, 0, Math.min(chunk.length, room));
    if (excess !== undefined) return excess;
    return this.size > this.bounds.maxBytes ? "bytes" : undefined;
  }
}

/**
 * An event stream, framed by the parser the SDK uses. An unfinished event is bounded by the
 * parser's own buffer limit (its pending line and data, in characters: never more than bytes);
 * a finished one by its data's bytes, then its JSON, before the chunk that ends it is passed on.
 */
export class EventStreamCheck implements BodyCheck {
  private readonly decoder = new TextDecoder();
  private readonly parser: EventSourceParser;
  private readonly scanner: JsonScanner;
  private excess: UpstreamExcess | undefined;

  constructor(private readonly bounds: MessageBounds) {
    this.scanner = new JsonScanner(bounds.json);
    this.parser = createParser({
      maxBufferSize: bounds.maxBytes,
      onEvent: (event) => this.event(event),
      onError: (err) => {
        if (err.type === "max-buffer-size-exceeded") this.excess ??= "bytes";
      },
    });
  }

  write(chunk: Uint8Array): UpstreamExcess | undefined {
    if (this.excess === undefined) this.parser.feed(this.decoder.decode(chunk, { stream: true }));
    return this.excess;
  }

  private event(event: EventSourceMessage): void {
    if (this.excess !== undefined) return;
    // The SDK parses only `message` events as JSON (legacy SSE's `endpoint` event is a URL).
    if (event.event !== undefined && event.event !== "message") {
      if (Buffer.byteLength(event.data, "utf8") > this.bounds.maxBytes) this.excess = "bytes";
      return;
    }
    const data = Buffer.from(event.data, "utf8");
    if (data.length > this.bounds.maxBytes) {
      this.excess = "bytes";
      return;
    }
    this.scanner.reset();
    this.excess = this.scanner.write(data);
  }
}

/**
 * What a connection does with its first refused message: logs it, and closes its transport after
 * reporting the refusal through `onerror`, so that the connection's calls in flight fail with it
 * (connection.ts) and its server counts as crashed. `transport` is read when a refusal comes.
 */
export function closeOnRefusal(
  transport: () => Transport,
  log: Logger,
): (err: UpstreamLimitExceeded) => void {
  let closed = false;
  return (err) => {
    if (closed) return;
    closed = true;
    const { server } = err.data as { server: string };
    log.warn({ server, limit: err.limit }, "upstream message past its limit: connection closed");
    const t = transport();
    t.onerror?.(err);
    void t.close().catch(() => {});
  };
}
