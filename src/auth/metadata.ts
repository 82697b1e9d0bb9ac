import type { ServerResponse } from "node:http";
import type { ServerConfig } from "../config/types.js";
import type { Route } from "../gateway/route.js";
import type { AuthError } from "./errors.js";
import type { PublicUrls } from "./urls.js";

const WELL_KNOWN = "/.well-known/oauth-protected-resource";

/**
 * RFC 9728 protected-resource metadata, one document per MCP route (path-inserted well-known
 * URL) plus the root document for the public base URL, and the matching 401 challenges.
 * Built once at start-up.
 */
export class ResourceMetadata {
  private readonly documents = new Map<string, string>();
  private readonly challenges = new Map<string, string>();
  private readonly scopes = new Map<string, readonly string[]>();

  constructor(urls: PublicUrls, issuer: string, routes: Iterable<Route>, servers: readonly ServerConfig[]) {
    const all = new Set<string>();
    for (const route of routes) {
      const scopes = routeScopes(route, servers);
      this.scopes.set(route.path, scopes);
      for (const s of scopes) all.add(s);
      this.documents.set(
        `${WELL_KNOWN}${route.path}`,
        document(urls.route(route.path), issuer, scopes, route.path),
      );
      const scope = scopes.length > 0 ? `, scope="${scopes.join(" ")}"` : "";
      this.challenges.set(
        route.path,
        `Bearer resource_metadata="${urls.resourceMetadata(route.path)}"${scope}`,
      );
    }
    this.documents.set(WELL_KNOWN, document(urls.base, issuer, [...all].sort(), "all routes"));
  }

  /** The JSON text of the document at `path`, or undefined when `path` is not one. */
  document(path: string): string | undefined {
    return this.documents.get(path);
  }

  /** Answers with the document at `path`: public, cacheable, read by browser clients of other origins. */
  serve(res: ServerResponse, path: string): void {
    res.writeHead(200, {
      "content-type": "application/json",
      "access-control-allow-origin": "*",
      "cache-control": "max-age=300",
    });
    res.end(this.documents.get(path));
  }

  /** Every scope some tool of the route needs: what a client should ask for. */
  scopesFor(route: Route): readonly string[] {
    return this.scopes.get(route.path) ?? [];
  }

  /** The 403 step-up challenge (MCP authorization, RFC 6750 §3.1): every scope the call needs. */
  stepUp(route: Route, scopes: readonly string[]): string {
    const metadata = /resource_metadata="[^"]*"/.exec(this.challenges.get(route.path) as string)?.[0];
    return `Bearer error="insufficient_scope", scope="${scopes.join(" ")}", ${metadata}`;
  }

  challenge(route: Route, err: AuthError): string {
    const base = this.challenges.get(route.path) as string;
    if (!err.error) return base;
    return `${base}, error="${err.error}", error_description="${err.message.replace(/["\\]/g, "")}"`;
  }
}

/** A virtual route's: every scope its servers' mappings name (a glob may select any of their tools). */
function routeScopes(route: Route, servers: readonly ServerConfig[]): string[] {
  const scopes = new Set<string>();
  for (const server of servers) {
    if (!route.servers.includes(server.name)) continue;
    const maps = [
      server.tools.values(),
      server.prompts?.values() ?? [],
      (server.resources ?? []).map(([, v]) => v),
    ];
    for (const map of maps) for (const needed of map) for (const s of needed) scopes.add(s);
  }
  return [...scopes].sort();
}

function document(resource: string, issuer: string, scopes: string[], name: string): string {
  return JSON.stringify({
    resource,
    authorization_servers: [issuer],
    scopes_supported: scopes,
    bearer_methods_supported: ["header"],
    resource_name: `mcp-warden (${name})`,
  });
}
