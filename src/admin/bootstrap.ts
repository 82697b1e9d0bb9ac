/**
 * The admin bootstrap token: a first way in for an operator on the gateway's own machine when no
 * user, client or API key holds `warden:admin` yet. Random at each start, shown once (on the
 * terminal, else in a 0600 file beside the state database: never in the log, which may be shipped
 * elsewhere), and accepted only from a loopback peer that no proxy stands in front of.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { rmSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { isIP } from "node:net";
import { dirname, join } from "node:path";
import type { ApiKeyStore } from "../auth/api-keys.js";
import type { Config } from "../config/types.js";
import type { Logger } from "../log.js";

export const BOOTSTRAP_PREFIX = "wbt_";
const BOOTSTRAP_BYTES = 32;
/** The file, beside the state database, that holds the token when stderr is not a terminal. */
export const BOOTSTRAP_FILE = "admin-bootstrap-token";
/**
 * Headers a proxy adds. A reverse proxy or sidecar on the same host connects from loopback on
 * behalf of anyone: a request through one is not the operator at the machine.
 */
const FORWARDING_HEADERS = ["forwarded", "x-forwarded-for", "x-real-ip", "via"] as const;

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
 * Whether a request may present the bootstrap token: its TCP peer is loopback and it carries no
 * header a proxy adds (a proxy on the same host would otherwise make every client local).
 */
export function isLocalRequest(req: IncomingMessage): boolean {
  if (FORWARDING_HEADERS.some((h) => req.headers[h] !== undefined)) return false;
  return isLoopbackPeer(req.socket.remoteAddress);
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
 * Whether anything can already reach the admin API: a configured user holding the scope, a
 * configured client that can get a token for itself with it (client credentials and a secret; one
 * that only signs users in needs such a user), or a live API key with it. Throws when the keys
 * cannot be read (the caller then makes no bootstrap token: failing closed).
 */
export async function adminHolderExists(config: Config, keys: ApiKeyStore, scope: string): Promise<boolean> {
  if (config.auth.users.some((u) => u.scopes.includes(scope))) return true;
  if (
    config.auth.clients.some(
      (c) =>
        c.scopes.includes(scope) &&
        c.grantTypes.includes("client_credentials") &&
        c.clientSecret !== undefined,
    )
  )
    return true;
  const now = new Date().toISOString();
  return (await keys.list()).some(
    (k) => k.revokedAt === null && (k.expiresAt === null || k.expiresAt > now) && k.scopes.includes(scope),
  );
}

/** Where the token is shown: the terminal when stderr is one. */
export interface BootstrapTerminal {
  readonly isTTY: boolean;
  write(line: string): void;
}

const stderrTerminal: BootstrapTerminal = {
  isTTY: process.stderr.isTTY === true,
  write: (line) => process.stderr.write(`${line}\n`),
};

/** The bootstrap token file for a configuration: beside its state database. */
export function bootstrapFile(config: Config): string {
  return join(dirname(config.state.sqlite), BOOTSTRAP_FILE);
}

/**
 * A bootstrap token when the embedded issuer is used, `admin.bootstrap` is not false and nobody
 * holds `scope`. Shown once: on the terminal, or (stderr being a pipe or a file, which is where
 * the JSON log goes too) written to a new 0600 file whose path alone is logged, removed when the
 * process exits. A file left by an earlier run is removed first, whatever happens next.
 */
export async function openBootstrap(
  config: Config,
  keys: ApiKeyStore,
  scope: string,
  log: Logger,
  terminal: BootstrapTerminal = stderrTerminal,
): Promise<BootstrapToken | undefined> {
  const file = bootstrapFile(config);
  try {
    await rm(file, { force: true });
  } catch (err) {
    log.warn(
      { err: (err as Error).message, file },
      "admin bootstrap token: an old token file could not be removed",
    );
  }
  if (config.auth.issuer !== "embedded" || !config.admin.bootstrap) return undefined;
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
  if (terminal.isTTY) {
    terminal.write(`admin bootstrap token: ${token.value} (loopback only, valid until this process stops)`);
    log.warn("admin bootstrap token shown on the terminal: nobody holds warden:admin yet");
    return token;
  }
  try {
    // wx: a file someone put there since the removal above (a link elsewhere) is never written through.
    await writeFile(file, `${token.value}\n`, { mode: 0o600, flag: "wx" });
  } catch (err) {
    log.error(
      { err: (err as Error).message, file },
      "admin bootstrap token not made: its file could not be written",
    );
    return undefined;
  }
  process.once("exit", () => {
    try {
      rmSync(file, { force: true });
    } catch {
      // Exiting anyway; the next start removes it before anything else.
    }
  });
  log.warn(
    { file },
    "admin bootstrap token written to a file readable by this user only: nobody holds warden:admin yet",
  );
  return token;
}
