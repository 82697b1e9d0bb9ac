const TIMEOUT_MS = 5_000;

/** The fields of an issuer's metadata the gateway uses. */
export interface IssuerMetadata {
  readonly jwks_uri?: unknown;
  readonly authorization_endpoint?: unknown;
  readonly token_endpoint?: unknown;
}

/**
 * The `jwks_uri` of an external issuer from its RFC 8414 metadata (or OIDC discovery), checking
 * that the document names the same issuer (a mix-up defence).
 */
export async function discoverJwksUri(issuer: string): Promise<string> {
  const doc = await discoverIssuer(issuer);
  if (typeof doc.jwks_uri !== "string")
    throw new Error(`cannot discover ${issuer}: metadata has no jwks_uri`);
  return doc.jwks_uri;
}

/** An external issuer's RFC 8414 metadata (or OIDC discovery), naming the same issuer. */
export async function discoverIssuer(issuer: string): Promise<IssuerMetadata> {
  const url = new URL(issuer);
  const path = url.pathname === "/" ? "" : url.pathname.replace(/\/+$/, "");
  const candidates = [
    `${url.origin}/.well-known/oauth-authorization-server${path}`,
    `${url.origin}/.well-known/openid-configuration${path}`,
    `${url.origin}${path}/.well-known/openid-configuration`,
  ];
  const problems: string[] = [];
  for (const candidate of candidates) {
    try {
      const res = await fetch(candidate, {
        signal: AbortSignal.timeout(TIMEOUT_MS),
        redirect: "error",
        headers: { accept: "application/json" },
      });
      if (!res.ok) {
        problems.push(`${candidate}: HTTP ${res.status}`);
        continue;
      }
      const doc = (await res.json()) as IssuerMetadata & { issuer?: unknown };
      if (typeof doc !== "object" || doc === null) throw new Error("metadata is not an object");
      if (doc.issuer !== issuer) throw new Error(`metadata names issuer ${String(doc.issuer)}`);
      return doc;
    } catch (err) {
      problems.push(`${candidate}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  throw new Error(`cannot discover ${issuer}: ${problems.join("; ")}`);
}
