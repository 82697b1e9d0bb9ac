import ipaddr from "ipaddr.js";

/** Who is calling: an anonymous caller, a verified bearer token, or an API key. */
export interface Principal {
  readonly subject: string;
  readonly clientId: string | undefined;
  readonly method: "anonymous" | "bearer" | "api_key";
  readonly scopes: ReadonlySet<string>;
  /**
   * Where an anonymous caller connects from (`sourceOf`): what tells anonymous callers apart, since
   * they all have the subject `anonymous`. Absent for token and API-key callers.
   */
  readonly source?: string;
}

// The caller's raw token, for RFC 8693 token exchange only. Kept off the principal object so that
// no log line or serialised context can ever carry it.
const subjectTokens = new WeakMap<Principal, string>();
// The verified token's claims, for policy (Cedar's `principal.groups` and `principal.claims`); kept
// off the principal object for the same reason: no log line or audit record carries them.
const tokenClaimSets = new WeakMap<Principal, Readonly<Record<string, unknown>>>();

/** The source of a caller that came over no network (stdio: whoever launched the process). */
export const LOCAL_SOURCE = "local";
/** A socket whose address is gone (closed mid-request): every such caller shares one source. */
const UNKNOWN_SOURCE = "unknown";

export function anonymousPrincipal(scopes: Iterable<string>, source: string = LOCAL_SOURCE): Principal {
  return Object.freeze({
    subject: "anonymous",
    clientId: undefined,
    method: "anonymous",
    // One set for every anonymous principal of a verifier: the scope memo is keyed by its identity.
    scopes: scopes instanceof Set ? (scopes as ReadonlySet<string>) : new Set(scopes),
    source,
  });
}

/**
 * The source an anonymous caller is counted by, from the socket's remote address (never a header a
 * client could write): an IPv4 address as it is, an IPv6 address by its /64 (one subscriber's
 * network: a host picks any address in it at will), an IPv4-mapped IPv6 address as IPv4.
 */
export function sourceOf(remoteAddress: string | undefined): string {
  if (remoteAddress === undefined || !ipaddr.isValid(remoteAddress)) return UNKNOWN_SOURCE;
  const addr = ipaddr.process(remoteAddress);
  if (addr.kind() === "ipv4") return addr.toString();
  const parts = (addr as ipaddr.IPv6).parts;
  return `${new ipaddr.IPv6([...parts.slice(0, 4), 0, 0, 0, 0]).toString()}/64`;
}

/**
 * The identity that session caps, rate limits and kill-rule counts go by: the user (the token's
 * subject), whatever client or credential kind it comes through, or for an anonymous caller its
 * source. The prefixes keep the two apart (a token's subject is anyone's string).
 */
export function callerId(p: Principal): string {
  return p.method === "anonymous" ? `anonymous@${p.source ?? UNKNOWN_SOURCE}` : `user:${p.subject}`;
}

export function tokenPrincipal(
  fields: {
    subject: string;
    clientId: string | undefined;
    scopes: Iterable<string>;
    method: "bearer" | "api_key";
  },
  rawToken?: string,
  /** The verified JWT's payload, for policy that reads claims (`tokenClaims`). */
  claims?: Readonly<Record<string, unknown>>,
): Principal {
  const principal: Principal = Object.freeze({
    subject: fields.subject,
    clientId: fields.clientId,
    method: fields.method,
    scopes: new Set(fields.scopes),
  });
  if (rawToken !== undefined && fields.method === "bearer") subjectTokens.set(principal, rawToken);
  if (claims !== undefined) tokenClaimSets.set(principal, claims);
  return principal;
}

/** The claims of the JWT the caller presented; undefined for API keys, opaque tokens, anonymous callers. */
export function tokenClaims(principal: Principal): Readonly<Record<string, unknown>> | undefined {
  return tokenClaimSets.get(principal);
}

/** The token the caller presented, when it was a bearer token (for token exchange upstream). */
export function subjectToken(principal: Principal): string | undefined {
  return subjectTokens.get(principal);
}

/**
 * What `samePrincipal` compares, as one string: the key of the session the gateway keeps for a
 * 2026-07-28 caller, so that one user's clients never share a session (nor its principal).
 */
export function principalKey(p: Principal): string {
  return JSON.stringify([p.method, p.subject, p.clientId ?? null, p.source ?? null]);
}

/**
 * Sessions are bound to the principal that opened them; another caller cannot ride on one. An
 * anonymous session is bound to its source too: its id is its only credential.
 */
export function samePrincipal(a: Principal, b: Principal): boolean {
  return (
    a.subject === b.subject && a.clientId === b.clientId && a.method === b.method && a.source === b.source
  );
}
