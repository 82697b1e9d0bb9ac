import type { IncomingMessage, ServerResponse } from "node:http";
import type { KeyStore } from "../auth/keys.js";
import type { Config } from "../config/types.js";
import type { Logger } from "../log.js";
import type { StateStore } from "../state/store.js";

/** A protected resource the embedded issuer may mint tokens for: a route's URL and its scopes. */
export interface ProtectedResource {
  readonly url: string;
  readonly scopes: readonly string[];
}

export interface AuthServerOptions {
  readonly config: Config;
  /** The issuer identifier: `gateway.public_url`, else the listening URL. */
  readonly issuer: string;
  readonly keys: KeyStore;
  readonly state: StateStore;
  readonly log: Logger;
  readonly resources: readonly ProtectedResource[];
}

export interface AuthServer {
  /** Serves the issuer's own paths; resolves false for any other path. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  close(): Promise<void>;
}

// Placeholder until the embedded authorization server lands: serves none of its paths.
export async function createAuthServer(_opts: AuthServerOptions): Promise<AuthServer> {
  return { handle: async () => false, close: async () => {} };
}
