import type { IncomingMessage } from "node:http";
import type { GatewayConfig } from "../config/types.js";

/** Why the guard refuses a request: a stable code, and the short text clients are answered with. */
export interface GuardRefusal {
  readonly code: "host_not_allowed" | "origin_not_allowed";
  readonly message: string;
}

const HOST_REFUSED: GuardRefusal = Object.freeze({ code: "host_not_allowed", message: "host not allowed" });
const ORIGIN_REFUSED: GuardRefusal = Object.freeze({
  code: "origin_not_allowed",
  message: "origin not allowed",
});

const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "::1"];
const WILDCARD_HOSTS = new Set(["0.0.0.0", "::", ""]);

/**
 * DNS-rebinding defence for MCP routes: the Host header must name this gateway, and a browser
 * Origin must be the gateway's own or one the operator allowed. Built once per listening address.
 */
export class RequestGuard {
  private readonly hosts: ReadonlySet<string>;
  private readonly origins: ReadonlySet<string>;

  constructor(gateway: GatewayConfig, listeningUrl: string) {
    const hosts = new Set(gateway.allowedHosts);
    const listening = new URL(listeningUrl);
    const bound = gateway.host.toLowerCase();
    if (!WILDCARD_HOSTS.has(bound)) hosts.add(bound);
    if (isLoopback(bound) || WILDCARD_HOSTS.has(bound)) for (const n of LOOPBACK_NAMES) hosts.add(n);
    const origins = new Set(gateway.allowedOrigins);
    origins.add(listening.origin);
    if (gateway.publicUrl) {
      const pub = new URL(gateway.publicUrl);
      hosts.add(stripBrackets(pub.hostname.toLowerCase()));
      origins.add(pub.origin);
    }
    this.hosts = hosts;
    this.origins = origins;
  }

  /** A reason to refuse with 403, or undefined when the request may proceed. */
  refuse(req: IncomingMessage): string | undefined {
    return this.verdict(req)?.message;
  }

  /** The refusal, with its code, or undefined when the request may proceed. */
  verdict(req: IncomingMessage): GuardRefusal | undefined {
    const host = req.headers.host;
    if (!host || !this.hosts.has(hostname(host))) return HOST_REFUSED;
    const origin = req.headers.origin;
    if (origin !== undefined && !this.origins.has(origin)) return ORIGIN_REFUSED;
    return undefined;
  }
}

function hostname(hostHeader: string): string {
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith("[")) return h.slice(1, h.indexOf("]"));
  const colon = h.indexOf(":");
  return colon >= 0 ? h.slice(0, colon) : h;
}

function stripBrackets(h: string): string {
  return h.startsWith("[") ? h.slice(1, -1) : h;
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}
