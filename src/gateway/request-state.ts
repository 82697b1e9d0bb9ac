import { createHash, hkdfSync } from "node:crypto";
import * as jcs from "canonicalize";
import { EncryptJWT, jwtDecrypt } from "jose";
import type { Json } from "../jsonrpc.js";

const canonicalize = (jcs as unknown as { default: (value: unknown) => string | undefined }).default;

/** What a `requestState` the gateway hands out is bound to; all of it is checked on the retry. */
export interface StateClaims {
  /** The parked call (gateway/parked-calls.ts). */
  readonly call: string;
  /** The attempt this state answers: each state is good for the next attempt only. */
  readonly attempt: number;
  /** callerId of the principal it was given to. */
  readonly caller: string;
  readonly route: string;
  readonly method: string;
  /** The tool or prompt name, or the resource URI, as the caller named it. */
  readonly name: string;
  /** SHA-256 of the call's arguments (JCS), so a retry cannot change what it asks for. */
  readonly digest: string;
}

/**
 * The gateway's `requestState` envelopes (MCP 2026-07-28, multi round-trip requests). The spec
 * makes the state attacker-controlled input, so it is sealed: an encrypted JWT (`dir` +
 * A256GCM, jose) under a key derived from the deployment's key, expiring with the call's
 * timeout. The caller learns nothing from it and cannot alter, extend or move it to another
 * caller, tool or set of arguments. An upstream's own `requestState` never reaches the caller at
 * all: the gateway keeps the round trip with the upstream itself.
 */
export class RequestStates {
  private readonly key: Uint8Array;

  constructor(
    deploymentKey: Uint8Array,
    private readonly ttlMs: number,
  ) {
    this.key = new Uint8Array(hkdfSync("sha256", deploymentKey, "", "mcp-warden requestState v1", 32));
  }

  seal(claims: StateClaims): Promise<string> {
    return new EncryptJWT({ ...claims })
      .setProtectedHeader({ alg: "dir", enc: "A256GCM" })
      .setIssuedAt()
      .setExpirationTime(Math.ceil((Date.now() + this.ttlMs) / 1000))
      .encrypt(this.key);
  }

  /** The claims of a state the gateway sealed and that has not expired; undefined otherwise. */
  async open(state: unknown): Promise<StateClaims | undefined> {
    if (typeof state !== "string" || state.length === 0 || state.length > 4096) return undefined;
    // Only the very bytes handed out: five base64url parts, each in canonical form (a decoder
    // would take padding, spaces or spare low bits as the same token).
    const parts = state.split(".");
    if (parts.length !== 5 || !parts.every(canonicalBase64url)) return undefined;
    try {
      const { payload } = await jwtDecrypt(state, this.key, {
        keyManagementAlgorithms: ["dir"],
        contentEncryptionAlgorithms: ["A256GCM"],
      });
      return payload as unknown as StateClaims;
    } catch {
      return undefined;
    }
  }
}

function canonicalBase64url(part: string): boolean {
  return /^[A-Za-z0-9_-]*$/.test(part) && Buffer.from(part, "base64url").toString("base64url") === part;
}

/** What a retry must ask for again: the call's arguments (or a prompt's), digested. */
export function argumentsDigest(args: Json | undefined): string {
  return createHash("sha256")
    .update(canonicalize(args ?? null) ?? "null")
    .digest("hex");
}
