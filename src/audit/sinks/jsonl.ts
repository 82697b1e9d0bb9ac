import {
  closeSync,
  constants,
  ftruncateSync,
  createReadStream,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
  type ReadStream,
} from "node:fs";
import { access, mkdir } from "node:fs/promises";
import { basename, dirname } from "node:path";
import type { Logger } from "../../log.js";
import { chainAll, EMPTY_HEAD, eventMac, jsonLines, withoutHash, type ChainHead } from "../chain.js";
import { auditEvent, rotationOf, type AuditEvent, type Rotation, type StoredEvent } from "../event.js";
import { matches, type AuditFilter, type AuditSink } from "./sink.js";

const LOCK_STALE_MS = 10_000;
const LOCK_WAIT_MS = 5_000;
/** How long a lock may stay without its owner's pid before it counts as a killed owner's. */
const LOCK_UNWRITTEN_MS = 1_000;
const TAIL_BYTES = 256 * 1024;

/**
 * One event per line, appended to `path`; past `maxBytes` the file is rotated to `path.1` (older
 * ones shift to `.2`, …, `keep` of them kept) and the chain carries on in the new file, which
 * starts with a rotation record: how many rotated files must exist and the oldest seq retention
 * kept, so that verify tells files deleted by rotation from files deleted by someone. Each batch
 * takes a lock file beside the log and re-reads the head if someone else appended meanwhile, so
 * the CLI and the gateway can share one log. A write that returned is in the kernel: it survives
 * the process being killed (not a power cut; that needs the disk's own guarantees).
 */
export class JsonlSink implements AuditSink {
  readonly id: string;
  readonly readable = true;
  private head: ChainHead | undefined;
  /** Size the file had after our last write; another size means someone else wrote. */
  private size = -1;
  private fd: number | undefined;

  constructor(
    readonly path: string,
    private readonly key: Uint8Array,
    private readonly maxBytes = 100 * 1024 * 1024,
    private readonly keep = 10,
    private readonly log?: Logger,
  ) {
    // By file name only: a log moved or restored elsewhere still matches its checkpoints.
    this.id = `jsonl:${basename(path)}`;
  }

  /**
   * Synchronous file calls, like the SQLite sink's: a local append is a few microseconds, and a
   * round trip through libuv's thread pool per batch cost several times more CPU (bench/audit.ts).
   */
  async append(events: readonly AuditEvent[]): Promise<readonly StoredEvent[]> {
    if (this.head === undefined) mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const unlock = await this.lock();
    try {
      let size = fileSize(this.path);
      if (this.head === undefined || size !== this.size) {
        const known = this.head;
        this.head = readHead(this.path, (file, bytes) =>
          this.log?.warn({ file, bytes }, "audit log: a partial last line (a crash mid-write) was cut off"),
        );
        if (known !== undefined && this.head.seq < known.seq) {
          this.log?.error(
            { file: this.path, was: known.seq, now: this.head.seq },
            "audit log: events this process wrote are gone (the file was cut short or replaced)",
          );
        }
        size = fileSize(this.path);
      }
      const stored = chainAll(this.key, this.head, events);
      const text = Buffer.from(jsonLines(stored));
      if (size > 0 && size + text.length > this.maxBytes) {
        const rotated = this.rotate(this.head, events);
        this.size = fileSize(this.path);
        this.head = rotated[rotated.length - 1] ?? this.head;
        return rotated;
      }
      this.fd ??= openSync(this.path, "a", 0o600);
      let written = 0;
      while (written < text.length) written += writeSync(this.fd, text, written);
      this.size = size + text.length;
      this.head = stored[stored.length - 1] ?? this.head;
      return stored;
    } catch (err) {
      // Unknown state after a failed write: re-read everything next time.
      this.head = undefined;
      this.closeFd();
      throw err;
    } finally {
      unlock();
    }
  }

  async ping(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    await access(dirname(this.path), constants.W_OK);
  }

  async *read(filter: AuditFilter = {}): AsyncIterable<StoredEvent> {
    for (const file of this.files()) {
      let input: ReadStream;
      try {
        input = createReadStream(file, { encoding: "utf8" });
        await new Promise<void>((resolve, reject) => {
          input.once("open", () => resolve()).once("error", reject);
        });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
        throw err;
      }
      for await (const line of lines(input)) {
        if (line.trim() === "") continue;
        const e = parseLine(line);
        if (matches(e, filter)) yield e;
      }
    }
  }

  close(): Promise<void> {
    this.closeFd();
    return Promise.resolve();
  }

  /** Oldest first: `path.<keep>` … `path.1`, then `path`. */
  private files(): string[] {
    const out: string[] = [];
    for (let i = this.keep; i >= 1; i--) out.push(`${this.path}.${i}`);
    out.push(this.path);
    return out;
  }

  /**
   * Writes the new file (a rotation record, then the batch) beside the log, then shifts the files
   * and moves it in: a failure before the renames leaves the log as it was. Returns what was stored.
   */
  private rotate(head: ChainHead, events: readonly AuditEvent[]): StoredEvent[] {
    const previous = this.signedRotation(firstLine(this.path));
    const oldest = `${this.path}.${this.keep}`;
    let retainedFrom = previous?.retained_from ?? 1;
    if (fileSize(oldest) > 0) {
      // `oldest` goes: what is kept starts where the next file starts, which its own signed
      // first line (a rotation record) states. Anything else (a file whose head was cut) moves
      // nothing, so verify still finds the gap.
      const next = this.keep > 1 ? `${this.path}.${this.keep - 1}` : this.path;
      const start = firstLine(next);
      if (start !== undefined && this.signedRotation(start)) retainedFrom = Math.max(retainedFrom, start.seq);
    }
    const record = auditEvent({
      event: "audit",
      status: "ok",
      reason: "rotated",
      detail: {
        rotation: (previous?.rotation ?? 0) + 1,
        rotated_files: Math.min((previous?.rotated_files ?? 0) + 1, this.keep),
        retained_from: retainedFrom,
      } satisfies Rotation,
    });
    const stored = chainAll(this.key, head, [record, ...events]);
    const fresh = `${this.path}.new`;
    writeFileSync(fresh, jsonLines(stored), { mode: 0o600 });
    this.closeFd();
    rmSync(oldest, { force: true });
    for (let i = this.keep - 1; i >= 1; i--) {
      try {
        renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
    }
    renameSync(this.path, `${this.path}.1`);
    renameSync(fresh, this.path);
    return stored;
  }

  /** The rotation `e` records, if it is a rotation record signed with this sink's key. */
  private signedRotation(e: StoredEvent | undefined): Rotation | undefined {
    if (e === undefined || typeof e.hash !== "string") return undefined;
    const r = rotationOf(e);
    try {
      return r && eventMac(this.key, withoutHash(e)) === e.hash ? r : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * What is wrong with the rotated files on disk, given that the newest rotation record says
   * `expected` of them exist: a missing one, or an empty one (rotation never leaves one empty).
   */
  rotatedFileProblems(expected: number): string[] {
    const name = (i: number) => `${basename(this.path)}.${i}`;
    const missing: string[] = [];
    const empty: string[] = [];
    for (let i = 1; i <= Math.max(expected, this.keep); i++) {
      const size = fileSizeOrMissing(`${this.path}.${i}`);
      if (size === undefined && i <= expected) missing.push(name(i));
      if (size === 0) empty.push(name(i));
    }
    const out: string[] = [];
    if (missing.length > 0) {
      out.push(
        `rotated file${missing.length > 1 ? "s" : ""} ${missing.join(", ")} missing: the last rotation recorded ${expected} rotated file${expected > 1 ? "s" : ""}`,
      );
    }
    if (empty.length > 0) {
      out.push(
        `rotated file${empty.length > 1 ? "s" : ""} ${empty.join(", ")} empty: rotation never leaves an empty file`,
      );
    }
    return out;
  }

  private closeFd(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    this.fd = undefined;
  }

  /**
   * An exclusive lock file holding its owner's pid. A lock whose owner is gone (a killed process)
   * is taken over at once; one older than LOCK_STALE_MS is too, whoever holds it.
   */
  private async lock(): Promise<() => void> {
    const file = `${this.path}.lock`;
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        const fd = openSync(file, "wx", 0o600);
        try {
          writeSync(fd, String(process.pid));
        } finally {
          closeSync(fd);
        }
        return () => {
          try {
            unlinkSync(file);
          } catch {
            // already taken over as stale
          }
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      if (lockIsStale(file)) {
        try {
          unlinkSync(file);
        } catch {
          // gone meanwhile
        }
        continue;
      }
      if (Date.now() > deadline) throw new Error(`audit log ${this.path} is locked by another process`);
      await new Promise((r) => setTimeout(r, 2));
    }
  }
}

function lockIsStale(file: string): boolean {
  try {
    const age = Date.now() - statSync(file).mtimeMs;
    if (age > LOCK_STALE_MS) return true;
    const pid = Number(readFileSync(file, "utf8"));
    // No pid yet: an owner between creating the file and writing its pid (microseconds), or one
    // killed in that gap, whose empty lock would otherwise hold every writer off for LOCK_STALE_MS.
    if (!Number.isInteger(pid) || pid <= 0) return age > LOCK_UNWRITTEN_MS;
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw err;
  }
}

function fileSizeOrMissing(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** The first event of `file`, when it has a complete, parsable first line. */
function firstLine(file: string): StoredEvent | undefined {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    const buf = Buffer.alloc(TAIL_BYTES);
    const n = readSync(fd, buf, 0, TAIL_BYTES, 0);
    const text = buf.subarray(0, n).toString("utf8");
    const end = text.indexOf("\n");
    if (end < 0) return undefined;
    const e = parseLine(text.slice(0, end));
    return typeof e.seq === "number" ? e : undefined;
  } finally {
    closeSync(fd);
  }
}

function parseLine(line: string): StoredEvent {
  try {
    return JSON.parse(line) as StoredEvent;
  } catch {
    // A damaged line is still an event position: verify reports it as edited.
    return { _unparsable: line.slice(0, 200) } as unknown as StoredEvent;
  }
}

/** The last complete event of the log (or of its newest rotated file when the log is empty). */
function readHead(path: string, onRepair: (file: string, bytes: number) => void): ChainHead {
  for (const file of [path, `${path}.1`]) {
    const last = lastLine(file, file === path ? onRepair : undefined);
    if (last === undefined) continue;
    const e = JSON.parse(last) as StoredEvent;
    if (typeof e.seq !== "number" || typeof e.hash !== "string") {
      throw new Error(`audit log ${file}: last line is not a chained event`);
    }
    return { seq: e.seq, hash: e.hash };
  }
  return EMPTY_HEAD;
}

/**
 * The last complete line. A file that does not end in a newline was cut by a crash in the middle
 * of a write: that partial line was never acknowledged (a response waits for its event), so it is
 * cut off (and reported through `onRepair`) before the chain goes on.
 */
function lastLine(file: string, onRepair?: (file: string, bytes: number) => void): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, onRepair ? "r+" : "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    let size = statSync(file).size;
    if (size === 0) return undefined;
    let length = Math.min(size, TAIL_BYTES);
    let text = readTail(fd, size, length);
    if (!text.endsWith("\n") && onRepair) {
      const keep = size - length + Buffer.byteLength(text.slice(0, text.lastIndexOf("\n") + 1));
      if (keep === 0 && length < size) throw new Error(`audit log ${file}: last line too long`);
      ftruncateSync(fd, keep);
      onRepair(file, size - keep);
      size = keep;
      if (size === 0) return undefined;
      length = Math.min(size, TAIL_BYTES);
      text = readTail(fd, size, length);
    }
    const lines = text.split("\n").filter((l) => l.trim() !== "");
    const last = lines[lines.length - 1];
    if (last === undefined) return undefined;
    if (lines.length === 1 && length < size) throw new Error(`audit log ${file}: last line too long`);
    return last;
  } finally {
    closeSync(fd);
  }
}

function readTail(fd: number, size: number, length: number): string {
  const buf = Buffer.alloc(length);
  readSync(fd, buf, 0, length, size - length);
  return buf.toString("utf8");
}

/**
 * The lines of a file, split at "\n" only. Not readline: it also ends a line at U+2028 and U+2029,
 * which JSON.stringify leaves unescaped inside strings, so an event carrying one (a caller's own
 * argument) read back as two lines and its log as edited.
 */
async function* lines(input: AsyncIterable<string>): AsyncIterable<string> {
  let pending = "";
  for await (const chunk of input) {
    pending += chunk;
    let start = 0;
    for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n", start)) {
      yield pending.slice(start, nl).replace(/\r$/, "");
      start = nl + 1;
    }
    pending = pending.slice(start);
  }
  if (pending !== "") yield pending;
}
