import type { Id } from "../jsonrpc.js";

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
/** Longer keys are not "id"; longer values are not a valid id (jsonrpc.ts allows 256 characters). */
const MAX_KEY = 4;
const MAX_VALUE = 1100;

const isSpace = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

/**
 * The top-level `"id"` of a JSON-RPC message, found as its bytes pass, without parsing the message:
 * a message refused for its size or nesting (stdio) can still be answered under its own id, which
 * the client waits on. Tracks strings and nesting; captures only the one member's value.
 */
export class MessageIdFinder {
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** At depth 1: the next string is a key. */
  private keyNext = false;
  private key: number[] | undefined;
  private lastKey = "";
  /** After `"id":`, the value's first byte is next. */
  private valueNext = false;
  private value: number[] | undefined;
  private found: Id | undefined;
  private finished = false;

  /** The id, once found (a string or a safe integer); undefined before, or when there is none. */
  get id(): Id | undefined {
    return this.found;
  }

  get done(): boolean {
    return this.finished;
  }

  reset(): void {
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
    this.keyNext = false;
    this.key = undefined;
    this.lastKey = "";
    this.valueNext = false;
    this.value = undefined;
    this.found = undefined;
    this.finished = false;
  }

  write(bytes: Uint8Array, from = 0, to = bytes.length): void {
    for (let i = from; i < to && !this.finished; i++) this.byte(bytes[i] as number);
  }

  private byte(b: number): void {
    if (this.value) return this.valueByte(b);
    if (this.inString) {
      if (this.escaped) this.escaped = false;
      else if (b === BACKSLASH) this.escaped = true;
      else if (b === QUOTE) {
        this.inString = false;
        if (this.key) this.lastKey = this.key.length <= MAX_KEY ? String.fromCharCode(...this.key) : "";
        this.key = undefined;
        return;
      }
      if (this.key && this.key.length <= MAX_KEY) this.key.push(b);
      return;
    }
    if (isSpace(b)) return;
    if (this.valueNext) {
      this.valueNext = false;
      // An id is a string or a number; an object or array there is no id.
      if (b === OPEN_OBJECT || b === OPEN_ARRAY) this.finished = true;
      else this.value = [b];
      return;
    }
    if (b === QUOTE) {
      this.inString = true;
      if (this.depth === 1 && this.keyNext) this.key = [];
      this.keyNext = false;
    } else if (b === OPEN_OBJECT || b === OPEN_ARRAY) {
      this.depth++;
      // Only an object at the top has members; a batch or anything else has no single id.
      if (this.depth === 1) {
        if (b === OPEN_OBJECT) this.keyNext = true;
        else this.finished = true;
      }
    } else if (b === CLOSE_OBJECT || b === CLOSE_ARRAY) {
      if (--this.depth <= 0) this.finished = true;
    } else if (this.depth === 1 && b === COLON) {
      this.valueNext = this.lastKey === "id";
    } else if (this.depth === 1 && b === COMMA) {
      this.keyNext = true;
    }
  }

  private valueByte(b: number): void {
    const value = this.value as number[];
    const isString = value[0] === QUOTE;
    if (isString) {
      value.push(b);
      if (this.escaped) this.escaped = false;
      else if (b === BACKSLASH) this.escaped = true;
      else if (b === QUOTE) return this.settle();
    } else if (b === COMMA || b === CLOSE_OBJECT || isSpace(b)) {
      return this.settle();
    } else {
      value.push(b);
    }
    if (value.length > MAX_VALUE) this.finished = true;
  }

  private settle(): void {
    this.finished = true;
    try {
      const v: unknown = JSON.parse(Buffer.from(this.value as number[]).toString("utf8"));
      if ((typeof v === "string" && v.length <= 256) || Number.isSafeInteger(v)) this.found = v as Id;
    } catch {
      // not a valid id: none
    }
  }
}
