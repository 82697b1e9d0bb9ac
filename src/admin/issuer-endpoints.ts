/**
 * An external issuer's authorization and token endpoints, from its RFC 8414 / OpenID metadata:
 * read once per issuer for the whole process and checked once (http or https URLs only), shared by
 * GET /admin/api/config and the console's `connect-src`, so both always name the same endpoints.
 * After a failure nothing is asked again for a minute.
 */
import { discoverIssuer } from "../auth/discovery.js";

const RETRY_MS = 60_000;

export interface IssuerEndpoints {
  readonly authorization: string | null;
  readonly token: string | null;
}

class Discovery {
  private endpoints: IssuerEndpoints | undefined;
  private pending: Promise<IssuerEndpoints> | undefined;
  private failedAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly issuer: string) {}

  /** The endpoints, or undefined while the metadata cannot be read. */
  async get(): Promise<IssuerEndpoints | undefined> {
    if (this.endpoints) return this.endpoints;
    if (Date.now() - this.failedAt < RETRY_MS) return undefined;
    this.pending ??= discoverIssuer(this.issuer).then((doc) =>
      Object.freeze({ authorization: webUrl(doc.authorization_endpoint), token: webUrl(doc.token_endpoint) }),
    );
    try {
      this.endpoints = await this.pending;
      return this.endpoints;
    } catch {
      this.failedAt = Date.now();
      return undefined;
    } finally {
      this.pending = undefined;
    }
  }
}

const discoveries = new Map<string, Discovery>();

/** The shared endpoints of `issuer`, or undefined while its metadata cannot be read. */
export function issuerEndpoints(issuer: string): Promise<IssuerEndpoints | undefined> {
  let d = discoveries.get(issuer);
  if (!d) {
    d = new Discovery(issuer);
    discoveries.set(issuer, d);
  }
  return d.get();
}

function webUrl(value: unknown): string | null {
  if (typeof value !== "string") return null;
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch {
    return null;
  }
}
