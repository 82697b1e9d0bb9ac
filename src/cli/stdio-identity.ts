import { KeyStore } from "../auth/keys.js";
import { anonymousPrincipal, type Principal } from "../auth/principal.js";
import { PublicUrls } from "../auth/urls.js";
import { TokenVerifier } from "../auth/verifier.js";
import { createRevocationCheck } from "../authserver/access-tokens.js";
import type { Config } from "../config/types.js";
import type { PostgresState } from "../state/postgres.js";
import type { StateStore } from "../state/store.js";
import { openApiKeys } from "./run.js";

/** The environment variable a desktop client sets to give `stdio` callers an identity. */
export const STDIO_TOKEN_VARIABLE = "WARDEN_TOKEN";

/**
 * Who calls through `stdio`: the holder of `WARDEN_TOKEN` (an API key, or an access token from the
 * embedded or external issuer, checked like a bearer token on `/mcp`), else an anonymous caller
 * with `auth.anonymous`. `check` verifies the token again (revocation, expiry) before each request.
 */
export interface StdioCaller {
  readonly principal: Principal;
  readonly check?: () => Promise<Principal>;
  /** One line for stderr at start: who the caller is and why. */
  readonly describe: string;
}

/** The caller, or a StdioIdentityError naming what to set: a config nobody can call through. */
export async function stdioCaller(
  config: Config,
  state: StateStore,
  postgres: PostgresState | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<StdioCaller> {
  const token = env[STDIO_TOKEN_VARIABLE];
  if (!token) {
    if (config.auth.anonymous.length === 0) {
      throw new StdioIdentityError(
        `auth.anonymous is empty and ${STDIO_TOKEN_VARIABLE} is not set: set it to an API key ` +
          "(`mcp-warden apikey create`) or an access token (`mcp-warden token`) in the client's " +
          "server entry, or every call would be refused",
      );
    }
    return {
      principal: anonymousPrincipal(config.auth.anonymous),
      describe: `calling anonymously, with auth.anonymous: ${config.auth.anonymous.join(" ")}`,
    };
  }
  const host = config.gateway.host.includes(":") ? `[${config.gateway.host}]` : config.gateway.host;
  const urls = new PublicUrls(config.gateway.publicUrl, `http://${host}:${config.gateway.port}`);
  const keys =
    config.auth.issuer === "embedded"
      ? await KeyStore.load({ file: config.auth.signingKeyFile, state })
      : undefined;
  const verifier = new TokenVerifier({
    auth: config.auth,
    base: urls.base,
    issuer: config.auth.issuer === "embedded" ? urls.base : config.auth.issuer.url,
    keys,
    apiKeys: openApiKeys(state, postgres),
    ...(keys ? { isRevoked: createRevocationCheck(state, postgres) } : {}),
  });
  const check = () => verifier.authenticate(`Bearer ${token}`, urls.route("/mcp"));
  let principal: Principal;
  try {
    principal = await check();
  } catch (err) {
    throw new StdioIdentityError(`${STDIO_TOKEN_VARIABLE}: ${(err as Error).message}`);
  }
  const scopes = [...principal.scopes].join(" ") || "(none)";
  return {
    principal,
    check,
    describe: `calling as ${principal.subject} (${STDIO_TOKEN_VARIABLE}, ${principal.method}), with ${scopes}`,
  };
}

export class StdioIdentityError extends Error {
  override name = "StdioIdentityError";
}
