/** Who is calling. Anonymous callers get `auth.anonymous`; tokens arrive with the identity issue. */
export interface Principal {
  readonly subject: string;
  readonly clientId: string | undefined;
  readonly method: "anonymous" | "bearer";
  readonly scopes: ReadonlySet<string>;
}

export function anonymousPrincipal(scopes: readonly string[]): Principal {
  return Object.freeze({
    subject: "anonymous",
    clientId: undefined,
    method: "anonymous",
    scopes: new Set(scopes),
  });
}

/** Sessions are bound to the principal that opened them; another caller cannot ride on one. */
export function samePrincipal(a: Principal, b: Principal): boolean {
  return a.subject === b.subject && a.clientId === b.clientId && a.method === b.method;
}
