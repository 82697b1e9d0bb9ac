/** A request that cannot be authenticated: answered 401 with a Bearer challenge. */
export class AuthError extends Error {
  constructor(
    /** RFC 6750 error code; undefined when no credentials were presented at all. */
    readonly error: "invalid_token" | "invalid_request" | undefined,
    message: string,
  ) {
    super(message);
    this.name = "AuthError";
  }
}

export const invalidToken = (why: string) => new AuthError("invalid_token", why);

/**
 * Credentials that cannot be checked now: the store that says whether a token was revoked, or
 * which API keys exist, did not answer (Postgres down). Never taken as valid: answered 503 with
 * `Retry-After`, not 401, because the token itself may be fine and the client should retry it
 * rather than throw it away and sign in again.
 */
export class AuthUnavailable extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AuthUnavailable";
  }
}
