import { errors } from "oidc-provider";
import { ADMIN_SCOPE } from "../admin/scope.js";
import type { AuthClient, AuthUser } from "../config/types.js";
import type { ProtectedResource } from "./index.js";
import { redirectUriProblem } from "./client-rules.js";

export { configuredClientProblems, redirectUriProblem } from "./client-rules.js";

const DYNAMIC_GRANT_TYPES: ReadonlySet<string> = new Set(["authorization_code", "refresh_token"]);
/** Bounds what unauthenticated registration can store; abandoned registrations are swept daily. */
export const MAX_DYNAMIC_CLIENTS = 10_000;
/** The client metadata property whose validator enforces this policy on every client. */
export const POLICY_PROPERTY = "urn:mcp-warden:client-policy";

/**
 * Who may be granted what. A user is granted the intersection of what the client asked for, what
 * the user holds (`auth.users[].scopes`), what the resource offers, and for a configured client
 * its `scopes`; client credentials get what the configured client holds and the resource offers.
 * `warden:admin` goes only through a configured client (the console, an `auth.clients` entry) whose
 * `scopes` list it: through any other client, one click on a consent page would hand an admin's
 * power to whoever registered it.
 */
export class ScopePolicy {
  private readonly users: ReadonlyMap<string, AuthUser>;
  private readonly clients: ReadonlyMap<string, AuthClient>;
  private readonly resources: ReadonlyMap<string, ProtectedResource>;
  private readonly adminResource: ProtectedResource | undefined;

  constructor(
    users: readonly AuthUser[],
    clients: readonly AuthClient[],
    resources: readonly ProtectedResource[],
    /** The admin API's resource (the gateway's base URL), when it is one of `resources`. */
    adminResource?: string,
  ) {
    this.users = new Map(users.map((u) => [u.name, u]));
    this.clients = new Map(clients.map((c) => [c.clientId, c]));
    const byUrl = new Map<string, ProtectedResource>();
    for (const r of resources) {
      byUrl.set(r.url, r);
      byUrl.set(normalise(r.url) ?? r.url, r);
    }
    this.resources = byUrl;
    this.adminResource = adminResource === undefined ? undefined : this.resource(adminResource);
  }

  user(name: string): AuthUser | undefined {
    return this.users.get(name);
  }

  isConfiguredClient(clientId: unknown): boolean {
    return typeof clientId === "string" && this.clients.has(clientId);
  }

  configuredClient(clientId: string): AuthClient | undefined {
    return this.clients.get(clientId);
  }

  /** The configured resource an indicator names: exactly, or the same URL once normalised. */
  resource(indicator: string): ProtectedResource | undefined {
    return this.resources.get(indicator) ?? this.resources.get(normalise(indicator) ?? "");
  }

  /** Whether `clientId` may carry `warden:admin`: a configured client whose `scopes` list it. */
  mayHoldAdmin(clientId: unknown): boolean {
    if (typeof clientId !== "string") return false;
    return this.clients.get(clientId)?.scopes.includes(ADMIN_SCOPE) ?? false;
  }

  /** Whether `indicator` names the admin API's resource (which offers nothing but `warden:admin`). */
  isAdminResource(indicator: string): boolean {
    return this.adminResource !== undefined && this.resource(indicator) === this.adminResource;
  }

  /** The scopes `accountId` may hold on `resource` through `clientId`. */
  userCeiling(accountId: string, clientId: string, resource: string): Set<string> {
    const user = this.users.get(accountId);
    if (!user) return new Set();
    return this.ceiling(user.scopes, clientId, resource);
  }

  /** The scopes a configured confidential client may get for itself on `resource`. */
  clientCeiling(clientId: string, resource: string): Set<string> {
    const client = this.clients.get(clientId);
    if (!client) return new Set();
    return this.ceiling(client.scopes, clientId, resource);
  }

  /**
   * `held` ∩ what the resource offers ∩ a configured client's `scopes`; never `warden:admin`
   * through a client that may not hold it, and nothing at all on the admin resource then.
   */
  private ceiling(held: readonly string[], clientId: string, resource: string): Set<string> {
    const res = this.resource(resource);
    if (!res) return new Set();
    const admin = this.mayHoldAdmin(clientId);
    if (!admin && res === this.adminResource) return new Set();
    const offered = new Set(res.scopes);
    const client = this.clients.get(clientId);
    const clientScopes = client ? new Set(client.scopes) : undefined;
    return new Set(
      held.filter(
        (s) => offered.has(s) && (!clientScopes || clientScopes.has(s)) && (admin || s !== ADMIN_SCOPE),
      ),
    );
  }

  /**
   * The extraClientMetadata validator: runs on every client oidc-provider builds (registration,
   * a stored registration, a Client ID Metadata Document). Configured clients are built by us;
   * every other client may only use the authorization code flow, towards safe redirect URIs, and
   * its requested `scope` is dropped (what it gets is decided per user at consent). The cap on
   * registered clients (MAX_DYNAMIC_CLIENTS) is enforced before registration, in index.ts.
   */
  checkClientMetadata(metadata: Record<string, unknown>): void {
    delete metadata[POLICY_PROPERTY];
    if (this.isConfiguredClient(metadata.client_id)) return;
    delete metadata.scope;
    const grantTypes = (metadata.grant_types ?? ["authorization_code"]) as unknown;
    if (!Array.isArray(grantTypes) || grantTypes.some((g) => !DYNAMIC_GRANT_TYPES.has(g as string))) {
      throw new errors.InvalidClientMetadata(
        "grant_types of a registered client may only be authorization_code and refresh_token",
      );
    }
    const responseTypes = (metadata.response_types ?? ["code"]) as unknown;
    if (!Array.isArray(responseTypes) || responseTypes.some((r) => r !== "code")) {
      throw new errors.InvalidClientMetadata("response_types of a registered client may only be code");
    }
    const uris = metadata.redirect_uris;
    if (!Array.isArray(uris) || uris.length === 0) {
      throw new errors.InvalidClientMetadata("redirect_uris is required");
    }
    for (const uri of uris) {
      const problem = redirectUriProblem(uri);
      if (problem) throw new errors.InvalidClientMetadata(problem);
    }
  }
}

function normalise(url: string): string | undefined {
  try {
    return new URL(url).href;
  } catch {
    return undefined;
  }
}
