import { chainAll, EMPTY_HEAD, jsonLines, type ChainHead } from "../chain.js";
import type { AuditEvent, StoredEvent } from "../event.js";
import type { AuditSink } from "./sink.js";

/**
 * One JSON line per event on standard output, for a log shipper (the gateway's own log goes to
 * stderr). Chained from this process's start; it cannot be read back, so verify skips it.
 */
export class StdoutSink implements AuditSink {
  readonly id = "stdout";
  readonly readable = false;
  private head: ChainHead = EMPTY_HEAD;

  constructor(
    private readonly key: Uint8Array,
    private readonly out: NodeJS.WritableStream = process.stdout,
  ) {}

  append(events: readonly AuditEvent[]): Promise<readonly StoredEvent[]> {
    const stored = chainAll(this.key, this.head, events);
    const head = stored[stored.length - 1] ?? this.head;
    const text = jsonLines(stored);
    return new Promise((resolve, reject) => {
      this.out.write(text, (err) => {
        if (err) return reject(err);
        this.head = head;
        resolve(stored);
      });
    });
  }

  ping(): Promise<void> {
    return Promise.resolve();
  }

  // eslint-disable-next-line require-yield
  async *read(): AsyncIterable<StoredEvent> {
    throw new Error("the stdout audit sink cannot be read back");
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
