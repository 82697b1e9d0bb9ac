import { ReadBuffer } from "@modelcontextprotocol/sdk/shared/stdio.js";
import { JSONRPCMessageSchema, type JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import type { Id } from "../jsonrpc.js";
import { JsonScanner, type JsonExcess, type JsonLimits } from "./json-scan.js";
import { MessageIdFinder } from "./message-id.js";

const LF = 0x0a;
const CR = 0x0d;

/**
 * The SDK's stdio framing (one JSON-RPC message per line, `JSON.parse` of each line) with every
 * line scanned against JsonLimits as its bytes arrive, before the SDK parses it. A line past a
 * limit is dropped whole: `refused` is told at once, and may throw to end the stream (the SDK then
 * closes the transport, as it does for a line past its buffer size); `dropped`, if given, is told
 * when the line has ended, with the message's top-level id when it has one (to answer under it).
 *
 * The SDK parses each line as soon as its newline has been appended, and drains every complete
 * line after each append, so between appends its buffer holds only the unfinished line: dropping a
 * line that began in an earlier chunk is `clear()`.
 */
export class ScanningReadBuffer extends ReadBuffer {
  private readonly scanner: JsonScanner;
  /** Skipping the rest of a refused line, up to its newline. */
  private dropping = false;
  /** Whether bytes of the current line were handed to the SDK in an earlier chunk. */
  private lineBuffered = false;
  private excess: JsonExcess | undefined;
  private readonly ids: MessageIdFinder | undefined;

  constructor(
    limits: JsonLimits,
    private readonly refused: (excess: JsonExcess) => void,
    private readonly dropped?: (excess: JsonExcess, id: Id | undefined) => void,
    maxBufferSize?: number,
  ) {
    super(maxBufferSize === undefined ? undefined : { maxBufferSize });
    this.scanner = new JsonScanner(limits);
    this.ids = dropped ? new MessageIdFinder() : undefined;
  }

  override append(chunk: Buffer): void {
    const kept: Buffer[] = [];
    let start = 0;
    let at = 0;
    let lastNewline = -1;
    while (at < chunk.length) {
      const nl = chunk.indexOf(LF, at);
      const end = nl < 0 ? chunk.length : nl;
      // The id is usually among the first bytes; the finder stops once it knows.
      if (this.ids && !this.ids.done) this.ids.write(chunk, at, end);
      if (!this.dropping) {
        const excess = this.scanner.write(chunk, at, end);
        if (excess) {
          this.excess = excess;
          if (at > start) kept.push(chunk.subarray(start, at));
          // Its earlier bytes are all the SDK holds (it drains every complete line after an append).
          if (this.lineBuffered) super.clear();
          this.dropping = true;
          this.lineBuffered = false;
          this.refused(excess);
        }
      }
      if (nl < 0) break;
      // A refused line is skipped up to and with its newline; a good one is kept.
      if (this.dropping) {
        start = nl + 1;
        this.dropped?.(this.excess as JsonExcess, this.ids?.id);
      }
      this.dropping = false;
      this.lineBuffered = false;
      this.scanner.reset();
      this.ids?.reset();
      lastNewline = nl;
      at = nl + 1;
    }
    if (!this.dropping && start < chunk.length) kept.push(chunk.subarray(start));
    this.lineBuffered = this.dropping
      ? false
      : lastNewline < 0
        ? this.lineBuffered || chunk.length > 0
        : lastNewline < chunk.length - 1;
    if (kept.length === 1) super.append(kept[0] as Buffer);
    else if (kept.length > 1) super.append(Buffer.concat(kept));
  }

  /**
   * The SDK's own reading of the next complete line, except that a plain result (most of what an
   * upstream sends) skips the SDK's zod parse: `plainResult` accepts only what that parse accepts
   * unchanged, and everything else still goes through it.
   */
  override readMessage(): JSONRPCMessage | null {
    const slot = this as unknown as { _buffer?: Buffer };
    const buffer = slot._buffer;
    // Empty, or an SDK that keeps its bytes elsewhere: its own reading (only the fast path is lost).
    if (!buffer) return super.readMessage();
    const nl = buffer.indexOf(LF);
    if (nl < 0) return null;
    const end = nl > 0 && buffer[nl - 1] === CR ? nl - 1 : nl;
    const line = buffer.toString("utf8", 0, end);
    slot._buffer = buffer.subarray(nl + 1);
    const value: unknown = JSON.parse(line);
    if (plainResult(value)) return value;
    try {
      return JSONRPCMessageSchema.parse(value);
    } catch (err) {
      // An answer the SDK refuses is dropped as before; its id goes with the error, so that the
      // request it answers fails now instead of waiting for its timeout.
      const id = answerId(value);
      if (id !== undefined) throw new RefusedAnswer(id, err);
      throw err;
    }
  }

  override clear(): void {
    super.clear();
    this.scanner.reset();
    this.ids?.reset();
    this.dropping = false;
    this.lineBuffered = false;
  }
}

/** A line that answers a request (it names an id and no method) but is not valid JSON-RPC. */
export class RefusedAnswer extends Error {
  constructor(
    readonly id: Id,
    cause: unknown,
  ) {
    super("the answer is not valid JSON-RPC", { cause });
  }
}

function answerId(value: unknown): Id | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const m = value as Record<string, unknown>;
  if (Object.hasOwn(m, "method")) return undefined;
  return typeof m.id === "string" || typeof m.id === "number" ? m.id : undefined;
}

/**
 * `{"jsonrpc":"2.0","id":…,"result":{…}}` with nothing else, an id that is a string or a safe
 * integer, and a result object without `_meta` (or `__proto__`): a message the SDK's
 * JSONRPCMessageSchema accepts and returns with the same members (its result schema is loose, and
 * only `_meta` in it is checked further). Measured: the zod parse was ~1.5% of the gateway's CPU
 * per forwarded call.
 */
function plainResult(value: unknown): value is JSONRPCMessage {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const m = value as Record<string, unknown>;
  if (m.jsonrpc !== "2.0" || Object.keys(m).length !== 3) return false;
  const id = m.id;
  if (typeof id !== "string" && !Number.isSafeInteger(id)) return false;
  const result = m.result;
  return (
    typeof result === "object" &&
    result !== null &&
    !Array.isArray(result) &&
    Object.hasOwn(m, "id") &&
    Object.hasOwn(m, "result") &&
    !Object.hasOwn(result, "_meta") &&
    // zod's copy of the result would take an own `__proto__` member for the prototype.
    !Object.hasOwn(result, "__proto__")
  );
}

/**
 * Puts a ScanningReadBuffer in place of an SDK stdio transport's own (`_readBuffer`, which the
 * SDK's constructor sets and its data handler reads). Throws when the transport has no such field,
 * so that an SDK upgrade that moves it fails at start rather than running unscanned.
 */
export function scanStdioInput(transport: object, buffer: ScanningReadBuffer): void {
  const slot = transport as { _readBuffer?: unknown };
  if (!(slot._readBuffer instanceof ReadBuffer)) {
    throw new Error("the SDK's stdio transport has no read buffer to scan (SDK changed?)");
  }
  slot._readBuffer = buffer;
}
