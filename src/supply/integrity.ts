import { createHash } from "node:crypto";
import { createReadStream, type BigIntStats } from "node:fs";
import { stat } from "node:fs/promises";
import { LaunchRefused } from "./launch-refused.js";

/** What identifies one version of a file without reading it; any write changes ctime. */
interface Identity {
  readonly key: string;
  readonly digest: Promise<string>;
}

/** Digests by path, valid while the file's identity (device, inode, size, mtime, ctime) holds. */
const cache = new Map<string, Identity>();
// Enough for the files of a few installed package trees (server-everything's has about 3 900).
const MAX_CACHED = 32_768;
/** A file still changing after this many reads is refused rather than read forever. */
const MAX_READS = 3;

/**
 * Checks every pinned file before a launch. Files are hashed as streams (a large binary never
 * blocks the event loop) and once per version: later launches only `stat` them, and a file whose
 * inode, size, mtime or ctime changed is hashed again. A missing or unreadable file is a mismatch.
 */
export async function verifyIntegrity(pins: ReadonlyMap<string, string>): Promise<void> {
  for (const [file, expected] of pins) {
    let actual: string;
    try {
      actual = await digestOf(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "EIO";
      throw new LaunchRefused("integrity_mismatch", `integrity mismatch: ${file} (unreadable: ${code})`, {
        file,
        expected: `sha256:${expected}`,
        actual: null,
        error: code,
      });
    }
    if (actual !== expected) {
      throw new LaunchRefused("integrity_mismatch", `integrity mismatch: ${file}`, {
        file,
        expected: `sha256:${expected}`,
        actual: `sha256:${actual}`,
      });
    }
  }
}

/** The file's SHA-256 (lowercase hex), from the cache while its identity is unchanged. */
export function fileDigest(file: string): Promise<string> {
  return digestOf(file);
}

async function digestOf(file: string, reads = 1): Promise<string> {
  const key = identity(await stat(file, { bigint: true }));
  const known = cache.get(file);
  if (known?.key === key) return known.digest;
  const digest = hash(file);
  if (cache.size >= MAX_CACHED) cache.clear();
  cache.set(file, { key, digest });
  try {
    const value = await digest;
    // A file written while it was read may hash to neither version: only the stable one is kept.
    if (identity(await stat(file, { bigint: true })) !== key) {
      cache.delete(file);
      if (reads >= MAX_READS) throw Object.assign(new Error(`${file} keeps changing`), { code: "EBUSY" });
      return digestOf(file, reads + 1);
    }
    return value;
  } catch (err) {
    if (cache.get(file)?.digest === digest) cache.delete(file);
    throw err;
  }
}

async function hash(file: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) h.update(chunk as Buffer);
  return h.digest("hex");
}

function identity(s: BigIntStats): string {
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}
