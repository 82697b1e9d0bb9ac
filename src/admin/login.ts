/** GET /admin/api/config: what the console needs to start a sign-in, before it holds any token. */
import { issuerEndpoints } from "./issuer-endpoints.js";
import type { Config } from "../config/types.js";
import { ADMIN_SCOPE, CONSOLE_CLIENT_ID, consoleRedirectUri } from "./scope.js";

export interface LoginDocument {
  issuer: string | null;
  authorization_endpoint: string | null;
  token_endpoint: string | null;
  client_id: string | null;
  /** Where the issuer sends the code: `<base>/admin/`, the console client's only redirect URI. */
  redirect_uri: string;
  resource: string;
  scope: string;
  bootstrap: boolean;
}

interface Endpoints {
  authorization: string | null;
  token: string | null;
}

export class LoginInfo {
  private readonly issuer: string;
  private readonly clientId: string | null;
  /** The embedded issuer's; an external one's are asked for (issuer-endpoints.ts). */
  private readonly endpoints: Endpoints | undefined;

  constructor(
    config: Config,
    /** The public base URL: the resource (audience) of admin tokens. */
    private readonly base: string,
    private readonly bootstrap: boolean,
  ) {
    const issuer = config.auth.issuer;
    this.issuer = issuer === "embedded" ? base : issuer.url;
    this.clientId = issuer === "embedded" ? CONSOLE_CLIENT_ID : (config.admin.clientId ?? null);
    if (issuer === "embedded")
      this.endpoints = { authorization: `${base}/oauth/authorize`, token: `${base}/oauth/token` };
  }

  /** `local`: the caller could use a bootstrap token (isLocalRequest); only then is one reported. */
  async document(local: boolean): Promise<LoginDocument> {
    // Without a client the console cannot sign in at all: only a pasted token.
    const endpoints = this.clientId === null ? { authorization: null, token: null } : await this.discover();
    return {
      issuer: this.issuer,
      authorization_endpoint: endpoints.authorization,
      token_endpoint: endpoints.token,
      client_id: this.clientId,
      redirect_uri: consoleRedirectUri(this.base),
      resource: this.base,
      scope: ADMIN_SCOPE,
      bootstrap: local && this.bootstrap,
    };
  }

  /** An external issuer's endpoints (shared with the console's CSP); null while they cannot be read. */
  private async discover(): Promise<Endpoints> {
    if (this.endpoints) return this.endpoints;
    return (await issuerEndpoints(this.issuer)) ?? { authorization: null, token: null };
  }
}
