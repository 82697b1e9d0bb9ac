import { randomUUID } from "node:crypto";
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { dirname } from "node:path";
// jose's own entry points, not its index: `mcp-warden token` then loads what signing needs, not
// all of JWE and remote key sets (the same modules the index re-exports).
import type { JWK, JWTVerifyGetKey } from "jose";
import { createLocalJWKSet } from "jose/jwks/local";
import { generateKeyPair } from "jose/key/generate/keypair";
import { exportJWK } from "jose/key/export";
import { importJWK } from "jose/key/import";
import { SignJWT } from "jose/jwt/sign";
import type { StateStore } from "../state/store.js";

export const SIGNING_ALG = "RS256";
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "k"] as const;

export interface PrivateJwk extends JWK {
  kid: string;
  alg: string;
}

/**
 * The embedded issuer's signing keys: from `auth.signing_key_file` (shared by instances, created
 * with mode 0600 when missing) or from the state store (created on first start, sealed there with
 * the state key, which is kept outside the store). The newest key signs; every key listed
 * verifies, so a rotated-out key's tokens stay valid until they expire.
 */
export class KeyStore {
  readonly publicJwks: { keys: JWK[] };
  readonly verifyKey: JWTVerifyGetKey;

  private constructor(readonly privateJwks: { keys: PrivateJwk[] }) {
    this.publicJwks = { keys: privateJwks.keys.map(publicPart) };
    this.verifyKey = createLocalJWKSet(this.publicJwks);
  }

  static async load(opts: { file: string | undefined; state: StateStore | undefined }): Promise<KeyStore> {
    if (opts.file) return new KeyStore(await fromFile(opts.file));
    if (!opts.state) throw new Error("signing keys need auth.signing_key_file or a state store");
    return new KeyStore(await fromState(opts.state));
  }

  get current(): PrivateJwk {
    return this.privateJwks.keys[0] as PrivateJwk;
  }

  /** Signs an access token with the current key (used by `mcp-warden token`). */
  async sign(
    claims: Record<string, unknown>,
    opts: { issuer: string; audience: string; subject: string; ttlS: number },
  ) {
    const key = this.current;
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT(claims)
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "at+jwt" })
      .setIssuer(opts.issuer)
      .setAudience(opts.audience)
      .setSubject(opts.subject)
      .setIssuedAt(now)
      .setExpirationTime(now + opts.ttlS)
      .setJti(randomUUID())
      .sign(await importJWK(key, key.alg));
  }
}

export async function generateSigningKey(): Promise<PrivateJwk> {
  const { privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true, modulusLength: 2048 });
  return { ...(await exportJWK(privateKey)), kid: randomUUID(), alg: SIGNING_ALG, use: "sig" } as PrivateJwk;
}

async function fromFile(file: string): Promise<{ keys: PrivateJwk[] }> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    const created = { keys: [await generateSigningKey()] };
    try {
      // "wx": another instance that got there first wins, and this one reads its key.
      await writeFile(file, JSON.stringify(created, null, 2), { mode: 0o600, flag: "wx" });
      return created;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      text = await readFile(file, "utf8");
    }
  }
  return checkKeySet(JSON.parse(text) as unknown, file);
}

/** Keys in the state store, sealed there with the state key (src/state/sealed.ts). */
async function fromState(state: StateStore): Promise<{ keys: PrivateJwk[] }> {
  const rows = state.db
    .prepare("SELECT kid, jwk FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC")
    .all() as Array<{ kid: string; jwk: string }>;
  if (rows.length > 0) {
    const keys = rows.map((r) => JSON.parse(state.stateKey.open(r.jwk, `signing_keys:${r.kid}`)) as unknown);
    const set = checkKeySet({ keys }, "state store");
    // A row's kid column and its sealed key must agree (the AAD already binds them; this says so).
    set.keys.forEach((k, i) => {
      if (k.kid !== rows[i]?.kid)
        throw new Error(`state store: signing key ${rows[i]?.kid} holds kid ${k.kid}`);
    });
    return set;
  }
  const key = await generateSigningKey();
  state.db
    .prepare("INSERT INTO signing_keys (kid, jwk, created_at) VALUES (?, ?, ?)")
    .run(key.kid, state.stateKey.seal(JSON.stringify(key), `signing_keys:${key.kid}`), Date.now());
  return { keys: [key] };
}

function checkKeySet(value: unknown, where: string): { keys: PrivateJwk[] } {
  const keys = (value as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0)
    throw new Error(`${where}: expected a JWK set with at least one key`);
  for (const k of keys as PrivateJwk[]) {
    if (typeof k.kid !== "string" || k.alg !== SIGNING_ALG || k.kty !== "RSA" || typeof k.d !== "string") {
      throw new Error(`${where}: every key needs a kid, alg ${SIGNING_ALG} and its private part`);
    }
  }
  return { keys: keys as PrivateJwk[] };
}

function publicPart(key: PrivateJwk): JWK {
  const pub: JWK = { ...key };
  for (const m of PRIVATE_MEMBERS) delete pub[m];
  return pub;
}
