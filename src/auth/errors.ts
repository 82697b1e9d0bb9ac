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
