import { randomBytes } from "node:crypto";
import type { StateStore } from "../state/store.js";

const KEY = "redaction_hash_key";

/** The key of `hash` replacements: random once per deployment (per state store), then stable. */
export function redactionHashKey(state: StateStore): Uint8Array {
  const stored = state.get(KEY);
  if (stored) return Buffer.from(stored, "base64url");
  const key = randomBytes(32);
  state.set(KEY, key.toString("base64url"));
  return key;
}
