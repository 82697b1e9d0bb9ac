import type { FetchLike, Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { ErrorCode, GatewayError } from "../errors.js";
import type { Logger } from "../log.js";
import { UPSTREAM_JSON_LIMITS } from "../transports/json-scan.js";
import {
  EventStreamCheck,
  JsonBodyCheck,
  type MessageBounds,
  type UpstreamExcess,
} from "./message-checks.js";

export type { MessageBounds, UpstreamExcess };

const SENT: Readonly<Record<UpstreamExcess, string>> = Object.freeze({
  bytes: "a message larger than max_upstream_message_bytes",
  framing: "an event stream its clients would frame differently",
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
 * An event stream is framed by eventsource-parser, the SDK's own SSE parser: each event is bounded
 * in size (while it arrives, not only when it ends) and a `message` event's data is scanned as
 * JSON (message-checks.ts). Any other body is one JSON text (the SDK parses `application/json`;
 * error bodies it reads as text), bounded as a whole.
 */
export function boundedFetch(
  inner: FetchLike,
  server: string,
  bounds: MessageBounds,
  refused: (err: UpstreamLimitExceeded) => void,
): FetchLike {
  return async (url, init) => {
    // The SDK gives every request of a connection the same long-lived signal, and fetch leaves a
    // listener on it per request until garbage collection (over a thousand at a time under load).
    // Each request gets a signal of its own instead, which follows the SDK's until its body ends.
    const parent = init?.signal;
    if (!parent) return boundResponse(await inner(url, init), server, bounds, refused);
    const own = new AbortController();
    const follow = () => own.abort(parent.reason);
    const release = () => parent.removeEventListener("abort", follow);
    if (parent.aborted) follow();
    else parent.addEventListener("abort", follow, { once: true });
    try {
      return boundResponse(
        await inner(url, { ...init, signal: own.signal }),
        server,
        bounds,
        refused,
        release,
      );
    } catch (err) {
      release();
      throw err;
    }
  };
}

/**
 * The least an event stream's first chunk is given to the SDK with. Node 24's streaming UTF-8
 * decoder (the SDK's TextDecoderStream) drops a U+FEFF after the start when the stream's first
 * chunk ends inside a character, which turns a line `\uFEFFdata: …` the checks (message-checks.ts,
 * which decode as a whole-body decoder does) skip into an event the SDK parses. With four bytes or
 * more in its first chunk, the streaming decoder agreed with a whole-body decode on every one of
 * 500,000 generated streams of marks, cut and invalid sequences cut anywhere; with three, not.
 */
const FIRST_CHUNK_BYTES = 4;

/** Statuses whose responses have no body (the Response constructor refuses one). */
const NO_BODY = new Set([101, 103, 204, 205, 304]);

export function boundResponse(
  res: Response,
  server: string,
  bounds: MessageBounds,
  refused: (err: UpstreamLimitExceeded) => void,
  /** Told once the body has ended, however it ends (read, refused, failed or cancelled). */
  ended: () => void = () => {},
): Response {
  if (!res.body || NO_BODY.has(res.status) || res.status < 200 || res.status > 599) {
    ended();
    return res;
  }
  const sse = isEventStream(res.headers.get("content-type"));
  const check = sse ? new EventStreamCheck(bounds) : new JsonBodyCheck(bounds);
  // An event stream's first bytes, held until there are FIRST_CHUNK_BYTES of them (see there).
  let start: Uint8Array[] | undefined = sse ? [] : undefined;
  let startBytes = 0;
  // Pulled chunk by chunk, not piped: a TransformStream costs half again as much per response.
  const reader = res.body.getReader();
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        for (;;) {
          const chunk = await reader.read().catch((err: unknown) => {
            ended();
            throw err;
          });
          if (chunk.done) {
            if (start !== undefined && startBytes > 0) controller.enqueue(Buffer.concat(start));
            ended();
            return controller.close();
          }
          const excess = check.write(chunk.value);
          if (excess !== undefined) {
            const err = new UpstreamLimitExceeded(server, excess);
            controller.error(err);
            void reader.cancel(err).catch(() => {});
            ended();
            refused(err);
            return;
          }
          if (start === undefined) return controller.enqueue(chunk.value);
          start.push(chunk.value);
          startBytes += chunk.value.length;
          if (startBytes < FIRST_CHUNK_BYTES) continue;
          controller.enqueue(Buffer.concat(start));
          start = undefined;
          return;
        }
      },
      cancel: (reason) => {
        ended();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
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
