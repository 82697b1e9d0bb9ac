import { hash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { SourceGuard, SourceRefusal } from "./source-limits.js";

/** How long a credential that passed verification still passes a cut source's gate. */
const RECENT_MS = 60_000;
/** Credentials remembered at once; past it the oldest are forgotten first. */
const MAX_RECENT = 4096;
const LIMIT = "failed_auth";

/**
 * `gateway.source_limits.failed_auth` as MCP routes and the admin API apply it (one budget for
 * both): refused authentications count against their source, and a source past its budget is
 * refused **before** its next credential is verified. Verifying costs the gateway a signature
 * check, perhaps a JWKS fetch, an API-key lookup, or an RFC 7662 request to the IdP, which a flood
 * of made-up tokens would otherwise buy with every request.
 *
 * While its source is cut, a credential still passes when it was verified here in the last minute
 * (an agent in session from an address someone else floods); any other waits for the window to
 * end (429). Credentials are remembered by SHA-256, never as they are.
 */
export class FailedAuthGuard {
  /** SHA-256 of a credential → until when it passes a cut source's gate (ms since the epoch). */
  private readonly recent = new Map<string, number>();

  constructor(private readonly sources: SourceGuard) {}

  /** Before `authorization` is verified: the refusal (answered 429) when it may not be. */
  before(req: IncomingMessage, authorization: string | undefined): SourceRefusal | undefined {
    if (authorization === undefined) return undefined; // nothing to verify
    return this.sources.cut(LIMIT, req, () => this.passedRecently(authorization));
  }

  /** `authorization` was verified: it passes a cut source's gate for the next minute. */
  passed(authorization: string | undefined): void {
    if (authorization === undefined) return;
    const key = digest(authorization);
    const now = Date.now();
    const until = this.recent.get(key);
    // Refreshed at most once every half life: a busy caller costs one hash and one lookup.
    if (until !== undefined && until - now > RECENT_MS / 2) return;
    this.recent.delete(key);
    if (this.recent.size >= MAX_RECENT) this.recent.delete(this.recent.keys().next().value as string);
    this.recent.set(key, now + RECENT_MS);
  }

  /** An authentication refused: counted against the source; the refusal (429) past its budget. */
  refused(
    req: IncomingMessage,
    detail: Readonly<Record<string, unknown>>,
  ): Promise<SourceRefusal | undefined> {
    return this.sources.check(LIMIT, req, detail);
  }

  private passedRecently(authorization: string): boolean {
    const until = this.recent.get(digest(authorization));
    return until !== undefined && until > Date.now();
  }
}

function digest(credential: string): string {
  return hash("sha256", credential, "base64url");
}
