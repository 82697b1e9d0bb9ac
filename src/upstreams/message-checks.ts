import { createParser, type EventSourceMessage, type EventSourceParser } from "eventsource-parser";
import { JsonScanner, type JsonExcess, type JsonLimits } from "../transports/json-scan.js";

/** What a remote upstream's message may be: its size in bytes, and its JSON's shape. */
export interface MessageBounds {
  /** A JSON body, or one server-sent event (`gateway.max_upstream_message_bytes`). */
  readonly maxBytes: number;
  readonly json: JsonLimits;
}

/**
 * Which bound a message went past. `framing`: an event stream that starts with the characters
 * "ï»¿", or with two byte-order marks, which the SDK's clients frame differently depending on how
 * the bytes are cut and on the Node version (Node 24's decoder drops both marks when the first is
 * split across chunks, Node 20's only the first).
 */
export type UpstreamExcess = "bytes" | "framing" | JsonExcess;

/** A response body checked chunk by chunk, in the order its bytes arrive. */
export interface BodyCheck {
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

const BOM = [0xef, 0xbb, 0xbf];
/** "ï»¿" in UTF-8: eventsource-parser drops these characters from the start of its first chunk. */
const PARSER_BOM = [0xc3, 0xaf, 0xc2, 0xbb, 0xc2, 0xbf];

/**
 * An event stream, framed by the parser the SDK's clients use (eventsource-parser). It is fed the
 * bytes as Latin-1 text, one character per byte: UTF-8 never puts a byte below 0x80 inside a
 * multi-byte character, and the decoder the SDK uses keeps every such byte as it is, so lines,
 * field names and event boundaries fall in the same places as in the SDK's decoded text, each
 * event's data is exactly the bytes the SDK decodes, and sizes are counted in bytes. Only the
 * start differs: the decoder drops a byte-order mark (done here too), and the parser drops "ï»¿"
 * from its first chunk (turned off here with an empty first chunk; a stream that starts with
 * those characters, or with a second byte-order mark, is refused, since whether the SDK drops them
 * depends on how its chunks fall).
 *
 * An unfinished event is bounded by the parser's own buffer limit (its pending line and data);
 * a finished `message` event's data is scanned as JSON before the chunk that ends it is passed on.
 */
export class EventStreamCheck implements BodyCheck {
  private readonly parser: EventSourceParser;
  private readonly scanner: JsonScanner;
  private excess: UpstreamExcess | undefined;
  /** The first bytes, held until it is known whether the stream starts with a mark. */
  private head: number[] | undefined = [];

  constructor(private readonly bounds: MessageBounds) {
    this.scanner = new JsonScanner(bounds.json);
    this.parser = createParser({
      maxBufferSize: bounds.maxBytes,
      onEvent: (event) => this.event(event),
      onError: (err) => {
        if (err.type === "max-buffer-size-exceeded") this.excess ??= "bytes";
      },
    });
    this.parser.feed("");
  }

  write(chunk: Uint8Array): UpstreamExcess | undefined {
    if (this.excess !== undefined) return this.excess;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    if (this.head === undefined) this.parser.feed(buf.toString("latin1"));
    else this.start(buf);
    return this.excess;
  }

  private start(buf: Buffer): void {
    const head = this.head as number[];
    let at = 0;
    while (at < buf.length && couldStart(head)) head.push(buf[at++] as number);
    // Every byte so far could still begin a mark: wait for the next chunk.
    if (couldStart(head)) return;
    this.head = undefined;
    const afterBom = isPrefix(BOM, head) ? head.slice(BOM.length) : head;
    if (isPrefix(PARSER_BOM, afterBom) || isPrefix(BOM, afterBom)) {
      this.excess = "framing";
      return;
    }
    this.parser.feed(Buffer.from(afterBom).toString("latin1") + buf.toString("latin1", at));
  }

  private event(event: EventSourceMessage): void {
    if (this.excess !== undefined) return;
    // One chunk may hold a whole event, which the parser hands on before it checks its buffer.
    if (event.data.length > this.bounds.maxBytes) {
      this.excess = "bytes";
      return;
    }
    // The SDK parses only `message` events as JSON (legacy SSE's `endpoint` event is a URL).
    if (event.event !== undefined && event.event !== "message") return;
    this.scanner.reset();
    this.excess = this.scanner.write(Buffer.from(event.data, "latin1"));
  }
}

const MARKS = [BOM, [...BOM, ...BOM], [...BOM, ...PARSER_BOM], PARSER_BOM];

/** Whether `head` is a proper prefix of a byte-order mark, the parser's mark, or both: undecided. */
function couldStart(head: readonly number[]): boolean {
  return MARKS.some((mark) => head.length < mark.length && isPrefix(head, mark));
}

/** Whether `a` is a prefix of `b` (or equal to it). */
function isPrefix(a: readonly number[], b: readonly number[]): boolean {
  return a.length <= b.length && a.every((x, i) => b[i] === x);
}
