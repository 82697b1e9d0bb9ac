import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";

// scrypt from node:crypto (no native addon to build); parameters travel with the hash.
const N = 2 ** 15;
const R = 8;
const P = 1;
const KEYLEN = 32;
const MAXMEM = 64 * 1024 * 1024;

/**
 * scrypt runs on libuv's thread pool, which the call path also needs (fs for the audit log and
 * SQLite's neighbours, dns, zlib, other crypto). A flood of sign-ins must not take every thread:
 * at most half the pool (UV_THREADPOOL_SIZE, default 4) derives at once, a few more wait, and the
 * rest are refused at once (PasswordCheckBusy, answered 503 with Retry-After).
 */
const POOL_SIZE = Number(process.env.UV_THREADPOOL_SIZE) || 4;
export const MAX_CONCURRENT_DERIVATIONS = Math.max(1, Math.floor(POOL_SIZE / 2));
export const MAX_WAITING_DERIVATIONS = 8 * MAX_CONCURRENT_DERIVATIONS;

/** Too many password checks under way or waiting: try again shortly. */
export class PasswordCheckBusy extends Error {
  constructor() {
    super("too many password checks under way");
    this.name = "PasswordCheckBusy";
  }
}

let running = 0;
const waiting: Array<() => void> = [];

async function withDerivationSlot<T>(work: () => Promise<T>): Promise<T> {
  if (running >= MAX_CONCURRENT_DERIVATIONS) {
    if (waiting.length >= MAX_WAITING_DERIVATIONS) throw new PasswordCheckBusy();
    await new Promise<void>((resolve) => waiting.push(resolve));
  } else {
    running++;
  }
  try {
    return await work();
  } finally {
    // The slot passes straight to the next waiter, so `running` never overshoots.
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}

function derive(password: string, salt: Buffer, opts: ScryptOptions, keylen: number): Promise<Buffer> {
  return withDerivationSlot(
    () =>
      new Promise((resolve, reject) =>
        scrypt(password.normalize("NFC"), salt, keylen, { ...opts, maxmem: MAXMEM }, (err, key) =>
          err ? reject(err) : resolve(key),
        ),
      ),
  );
}

/** `scrypt$N$r$p$<salt b64url>$<hash b64url>`, for `auth.users[].password_hash`. */
export async function hashPassword(password: string): Promise<string> {
  if (password.length === 0) throw new Error("empty password");
  const salt = randomBytes(16);
  const key = await derive(password, salt, { N, r: R, p: P }, KEYLEN);
  return `scrypt$${N}$${R}$${P}$${salt.toString("base64url")}$${key.toString("base64url")}`;
}

/** A hash as `hashPassword` writes it, its parameters within what `verifyPassword` will derive. */
interface ParsedHash {
  readonly n: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly expected: Buffer;
}

function parseHash(hash: string): ParsedHash | undefined {
  const parts = hash.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return undefined;
  const [n, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![n, r, p].every((x) => Number.isSafeInteger(x) && x > 0) || n > 2 ** 20 || r > 32 || p > 16)
    return undefined;
  // A power of two (scrypt's own rule), and base64url without padding, as hashPassword writes them.
  if (n < 2 || (n & (n - 1)) !== 0 || !/^[A-Za-z0-9_-]+$/.test(`${parts[4]}${parts[5]}`)) return undefined;
  const salt = Buffer.from(parts[4] as string, "base64url");
  const expected = Buffer.from(parts[5] as string, "base64url");
  if (salt.length < 8 || expected.length < 16) return undefined;
  return { n, r, p, salt, expected };
}

/** Whether `hash` is one `verifyPassword` can check (`check` refuses anything else: a plain password never signs in). */
export function isPasswordHash(hash: string): boolean {
  return parseHash(hash) !== undefined;
}

/** Constant-time check; a malformed hash never verifies. Throws PasswordCheckBusy when saturated. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const parsed = parseHash(hash);
  if (!parsed) return false;
  const { n, r, p, salt, expected } = parsed;
  try {
    const actual = await derive(password, salt, { N: n, r, p }, expected.length);
    return timingSafeEqual(actual, expected);
  } catch (err) {
    if (err instanceof PasswordCheckBusy) throw err;
    return false;
  }
}
