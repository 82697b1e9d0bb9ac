import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
  randomBytes,
  type CipherGCM,
  type DecipherGCM,
} from "node:crypto";
import { loadKeyFile } from "./key-file.js";

/** The environment variable that, when set, is the state key (and the key file is not used). */
export const STATE_KEY_ENV = "WARDEN_STATE_KEY";

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** `sealed:v1:<key id>:<base64url(iv | ciphertext | tag)>`: a stored value that is not this is plaintext. */
const PREFIX = "sealed:v1:";

/**
 * The state key is missing, malformed or not the one the store was sealed with, or a sealed value
 * was tampered with.
 */
export class StateKeyError extends Error {
  readonly code = "ERR_STATE_KEY";
  constructor(message: string) {
    super(message);
    this.name = "StateKeyError";
  }
}

export function isSealed(value: string): boolean {
  return value.startsWith(PREFIX);
}

/** How every value sealed with the key `keyId` begins (for a query that finds the others). */
export function sealedPrefix(keyId: string): string {
  return `${PREFIX}${keyId}:`;
}

/** The key id a sealed value names, or undefined when it is not sealed. */
export function sealedKeyId(value: string): string | undefined {
  if (!isSealed(value)) return undefined;
  return value.slice(PREFIX.length).split(":", 1)[0];
}

/**
 * The key that seals key material in the state store (AES-256-GCM), kept outside the store: from
 * `WARDEN_STATE_KEY`, else `state.key_file`. Each value is bound to where it is stored (`context`,
 * the AAD: `kv:<name>`, `signing_keys:<kid>`), so a sealed value moved to another row does not open.
 */
export class StateKey {
  /** Names the key in every sealed value (an HMAC of it): tells "another key" from "tampered". */
  readonly id: string;
  private readonly aead: Buffer;
  private readonly index: Buffer;

  private constructor(
    key: Buffer,
    /** Where it came from, for error messages: the file, or the environment variable. */
    readonly source: string,
  ) {
    this.id = createHmac("sha256", key).update("mcp-warden state key id").digest("hex").slice(0, 16);
    this.aead = Buffer.from(hkdfSync("sha256", key, Buffer.alloc(0), "mcp-warden state seal v1", KEY_BYTES));
    this.index = Buffer.from(
      hkdfSync("sha256", key, Buffer.alloc(0), "mcp-warden state index v1", KEY_BYTES),
    );
  }

  /** A key from its text: 64 hex digits, or base64/base64url of 32 bytes. */
  static parse(text: string, source: string): StateKey {
    const t = text.trim();
    const bytes = /^[0-9a-fA-F]{64}$/.test(t)
      ? Buffer.from(t, "hex")
      : /^[A-Za-z0-9+/_-]+={0,2}$/.test(t)
        ? Buffer.from(t.replace(/\+/g, "-").replace(/\//g, "_"), "base64url")
        : Buffer.alloc(0);
    if (bytes.length !== KEY_BYTES)
      throw new StateKeyError(
        `${source}: the state key must be ${KEY_BYTES} bytes (64 hex digits or base64)`,
      );
    return new StateKey(bytes, source);
  }

  /**
   * `WARDEN_STATE_KEY` when set; else the file, created (32 random bytes, mode 0600) only when
   * `create` is true. The caller passes `create: false` when the store already holds sealed values:
   * a lost key file must stop the start, not be silently replaced by a new key.
   */
  static load(file: string, opts: { create: boolean; env?: NodeJS.ProcessEnv }): StateKey {
    const fromEnv = (opts.env ?? process.env)[STATE_KEY_ENV];
    if (fromEnv !== undefined && fromEnv !== "") return StateKey.parse(fromEnv, STATE_KEY_ENV);
    return loadKeyFile(file, (text) => StateKey.parse(text, file), {
      create: opts.create,
      bytes: KEY_BYTES,
      missing: () =>
        new StateKeyError(
          `state key file ${file} is missing but the state store holds values sealed with a key: ` +
            `restore the file (or set ${STATE_KEY_ENV})`,
        ),
    });
  }

  /** A fresh random key that is never written anywhere (an in-memory store's). */
  static ephemeral(): StateKey {
    return new StateKey(randomBytes(KEY_BYTES), "an ephemeral key");
  }

  /**
   * HMAC-SHA-256 of `data` under a key derived from the state key (base64url): where a bearer value
   * is looked up by, so that a copy of the store can neither be searched for a known value nor have
   * guesses checked against it.
   */
  digest(data: string | Uint8Array): string {
    return createHmac("sha256", this.index).update(data).digest("base64url");
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.aead, iv) as CipherGCM;
    cipher.setAAD(Buffer.from(context, "utf8"));
    const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    return `${PREFIX}${this.id}:${Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64url")}`;
  }

  /** The plaintext of a sealed value; a StateKeyError naming `context` when it does not open. */
  open(sealed: string, context: string): string {
    if (!isSealed(sealed))
      throw new StateKeyError(`${context}: stored in plaintext where a sealed value belongs`);
    const [id, data] = sealed.slice(PREFIX.length).split(":", 2);
    if (id !== this.id) {
      throw new StateKeyError(
        `${context}: sealed with another state key (id ${id}) than the one from ${this.source} (id ${this.id})`,
      );
    }
    const raw = Buffer.from(data ?? "", "base64url");
    if (raw.length < IV_BYTES + TAG_BYTES) throw new StateKeyError(`${context}: sealed value is damaged`);
    try {
      const decipher = createDecipheriv("aes-256-gcm", this.aead, raw.subarray(0, IV_BYTES)) as DecipherGCM;
      decipher.setAAD(Buffer.from(context, "utf8"));
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
      return Buffer.concat([
        decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)),
        decipher.final(),
      ]).toString("utf8");
    } catch {
      throw new StateKeyError(
        `${context}: sealed value fails authentication (tampered, or moved from another row)`,
      );
    }
  }
}
