import { createHash } from "node:crypto";
import type { ExternalIssuer } from "../config/types.js";
import { invalidToken } from "./errors.js";

const CACHE_MS = 30_000;
const CACHE_MAX = 10_000;
const TIMEOUT_MS = 5_000;

export interface IntrospectedToken {
  sub: string;
  client_id?: string;
  scope?: string;
  aud?: string | string[];
  iss?: string;
  exp?: number;
}

/**
 * RFC 7662 introspection for opaque tokens, with a short cache keyed by the token's hash (never the
 * token) and one request in flight per token. Anything but `active: true` is a rejection.
 */
export class Introspector {
  private readonly cache = new Map<string, { until: number; token: Promise<IntrospectedToken> }>();

  constructor(private readonly config: NonNullable<ExternalIssuer["introspection"]>) {}

  introspect(token: string): Promise<IntrospectedToken> {
    const key = createHash("sha256").update(token).digest("base64url");
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && hit.until > now) return hit.token;
    if (this.cache.size >= CACHE_MAX) this.evictExpired(now);
    const pending = this.request(token);
    this.cache.set(key, { until: now + CACHE_MS, token: pending });
    pending.then(
      (t) => {
        // Never cache past the token's own expiry.
        if (t.exp !== undefined)
          this.cache.set(key, { until: Math.min(now + CACHE_MS, t.exp * 1000), token: pending });
      },
      () => this.cache.delete(key),
    );
    return pending;
  }

  private async request(token: string): Promise<IntrospectedToken> {
    const basic = Buffer.from(
      `${encodeURIComponent(this.config.clientId)}:${encodeURIComponent(this.config.clientSecret)}`,
    ).toString("base64");
    let body: Record<string, unknown>;
    try {
      const res = await fetch(this.config.url, {
        method: "POST",
        headers: {
          authorization: `Basic ${basic}`,
          "content-type": "application/x-www-form-urlencoded",
          accept: "application/json",
        },
        body: new URLSearchParams({ token, token_type_hint: "access_token" }),
        signal: AbortSignal.timeout(TIMEOUT_MS),
        redirect: "error",
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      body = (await res.json()) as Record<string, unknown>;
    } catch (err) {
      // Fail closed: an introspection endpoint that cannot answer admits nobody.
      throw invalidToken(`introspection failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (body.active !== true || typeof body.sub !== "string") throw invalidToken("token is not active");
    if (typeof body.exp === "number" && body.exp * 1000 <= Date.now()) throw invalidToken("token expired");
    return body as unknown as IntrospectedToken;
  }

  private evictExpired(now: number): void {
    for (const [k, v] of this.cache) if (v.until <= now) this.cache.delete(k);
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
  }
}
