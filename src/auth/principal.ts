/** Who is calling: an anonymous caller, a verified bearer token, or an API key. */
export interface Principal {
  readonly subject: string;
  readonly clientId: string | undefined;
  readonly method: "anonymous" | "bearer" | "api_key";
  readonly scopes: ReadonlySet<string>;
}

// The caller's raw token, for RFC 8693 token exchange only. Kept off the principal object so that
// no log line or serialised context can ever carry it.
const subjectTokens = new WeakMap<Principal, string>();

export function anonymousPrincipal(scopes: readonly string[]): Principal {
  return Object.freeze({
    subject: "anonymous",
    clientId: undefined,
    method: "anonymous",
    scopes: new Set(scopes),
  });
}

export function tokenPrincipal(
  fields: {
    subject: string;
    clientId: string | undefined;
    scopes: Iterable<string>;
    method: "bearer" | "api_key";
  },
  rawToken?: string,
): Principal {
  const principal: Principal = Object.freeze({
    subject: fields.subject,
    clientId: fields.clientId,
    method: fields.method,
    scopes: new Set(fields.scopes),
  });
  if (rawToken !== undefined && fields.method === "bearer") subjectTokens.set(principal, rawToken);
  return principal;
}

/** The token the caller presented, when it was a bearer token (for token exchange upstream). */
export function subjectToken(principal: Principal): string | undefined {
  return subjectTokens.get(principal);
}

/** Sessions are bound to the principal that opened them; another caller cannot ride on one. */
export function samePrincipal(a: Principal, b: Principal): boolean {
  return a.subject === b.subject && a.clientId === b.clientId && a.method === b.method;
}
