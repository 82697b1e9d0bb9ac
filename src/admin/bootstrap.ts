/**
 * The admin bootstrap token: a first way in for an operator on the gateway's own machine when no
 * user, client or API key holds `warden:admin` yet. Random at each start, printed once, never
 * stored, and accepted only from a loopback peer.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";
import type { ApiKeyStore } from "../auth/api-keys.js";
import type { Config } from "../config/types.js";
import type { Logger } from "../log.js";

export const BOOTSTRAP_PREFIX = "wbt_";
const BOOTSTRAP_BYTES = 32;

export class BootstrapToken {
  private readonly digest: Buffer;

  private constructor(readonly value: string) {
    this.digest = sha256(value);
  }

  static generate(): BootstrapToken {
    return new BootstrapToken(`${BOOTSTRAP_PREFIX}${randomBytes(BOOTSTRAP_BYTES).toString("base64url")}`);
  }

  static looksLike(token: string): boolean {
    return token.startsWith(BOOTSTRAP_PREFIX);
  }

  /** Constant-time: digests of equal length are compared, whatever was presented. */
  matches(presented: string): boolean {
    return timingSafeEqual(sha256(presented), this.digest);
  }
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/**
 * Whether a TCP peer address is the machine itself: 127.0.0.0/8, ::1, or 127.x mapped into IPv6.
 * Taken from the socket, never from a header a proxy (or a client) could write.
 */
export function isLoopbackPeer(address: string | undefined): boolean {
  if (address === undefined || isIP(address) === 0) return false;
  const a = address.toLowerCase();
  if (a === "::1") return true;
  const v4 = a.startsWith("::ffff:") ? a.slice("::ffff:".length) : a;
  return isIP(v4) === 4 && v4.startsWith("127.");
}

/**
 * Whether anything can already reach the admin API: a configured user or client holding the
 * scope, or a live API key with it. Throws when the keys cannot be read (the caller then makes
 * no bootstrap token: failing closed).
 */
export async function adminHolderExists(config: Config, keys: ApiKeyStore, scope: string): Promise<boolean> {
  if (config.auth.users.some((u) => u.scopes.includes(scope))) return true;
  if (config.auth.clients.some((c) => c.scopes.includes(scope))) return true;
  const now = new Date().toISOString();
  return (await keys.list()).some(
    (k) => k.revokedAt === null && (k.expiresAt === null || k.expiresAt > now) && k.scopes.includes(scope),
  );
}

/** A bootstrap token when the embedded issuer is used and nobody holds `scope`; printed once. */
export async function openBootstrap(
  config: Config,
  keys: ApiKeyStore,
  scope: string,
  log: Logger,
  print: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<BootstrapToken | undefined> {
  if (config.auth.issuer !== "embedded") return undefined;
  try {
    if (await adminHolderExists(config, keys, scope)) return undefined;
  } catch (err) {
    log.warn(
      { err: (err as Error).message },
      "admin bootstrap token not made: the API keys could not be read to see whether one is needed",
    );
    return undefined;
  }
  const token = BootstrapToken.generate();
  // Once, on stderr only: not through the JSON log, which may be shipped elsewhere.
  print(`admin bootstrap token: ${token.value} (loopback only, valid until this process stops)`);
  log.warn("admin bootstrap token printed to stderr: nobody holds warden:admin yet");
  return token;
}
