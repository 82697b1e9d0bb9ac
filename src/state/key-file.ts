import { randomBytes } from "node:crypto";
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";

/**
 * The key kept in `file` (the state key, the audit key): read and `parse`d; or, when there is no
 * such file and `create` allows it, `bytes` random bytes written there (base64url, one line)
 * owner-only in an owner-only folder. A missing file that may not be created is the ENOENT error,
 * unless `missing` supplies a better one. Never replaces a key, and never shows a half-written
 * one: the key is written to a file of its own, then linked into place, which fails if `file`
 * exists; a process that loses that race reads and uses the winner's key.
 */
export function loadKeyFile<T>(
  file: string,
  parse: (text: string) => T,
  opts: { readonly create: boolean; readonly bytes: number; readonly missing?: () => Error },
): T {
  try {
    return parse(readFileSync(file, "utf8"));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    if (!opts.create) throw opts.missing?.() ?? err;
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const text = `${randomBytes(opts.bytes).toString("base64url")}\n`;
  try {
    createExclusively(file, text);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST")
      return loadKeyFile(file, parse, { ...opts, create: false });
    throw err;
  }
  return parse(text);
}

/** Writes `text` to `file` whole, or throws EEXIST when the file exists. */
function createExclusively(file: string, text: string): void {
  const temp = `${file}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  writeDurably(temp, text);
  try {
    linkSync(temp, file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // A file system without hard links: an exclusive create (a racing reader may see it empty).
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw err;
    writeDurably(file, text);
  } finally {
    rmSync(temp, { force: true });
  }
}

function writeDurably(file: string, text: string): void {
  const fd = openSync(file, "wx", 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
