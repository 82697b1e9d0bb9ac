/** The admin API, put together when the gateway listens (the public URL is known then). */
import type { ApiKeyStore } from "../auth/api-keys.js";
import type { AuthServer } from "../authserver/index.js";
import type { Gateway } from "../gateway/gateway.js";
import { RequestGuard } from "../transports/guard.js";
import type { EndpointAuth } from "../transports/streamable-http.js";
import { ActivityRecorder } from "./activity.js";
import { AdminApi } from "./api.js";
import { openBootstrap } from "./bootstrap.js";
import { LoginInfo } from "./login.js";
import { ADMIN_SCOPE } from "./scope.js";

export { AdminApi } from "./api.js";
export { ADMIN_SCOPE, CONSOLE_CLIENT_ID } from "./scope.js";

export interface AdminOptions {
  readonly gateway: Gateway;
  readonly auth: EndpointAuth;
  readonly authServer: AuthServer | undefined;
  readonly apiKeys: ApiKeyStore;
  /** The address the gateway listens on; its origin, like the public URL's, is the gateway's own. */
  readonly listeningUrl: string;
}

export async function createAdminApi(opts: AdminOptions): Promise<AdminApi> {
  const { gateway, auth } = opts;
  const activity = new ActivityRecorder();
  gateway.audit.onRecord((e) => activity.observe(e));
  const bootstrap = await openBootstrap(gateway.config, opts.apiKeys, ADMIN_SCOPE, gateway.log);
  return new AdminApi({
    gateway,
    auth,
    authServer: opts.authServer,
    apiKeys: opts.apiKeys,
    activity,
    bootstrap,
    origins: new Set([new URL(auth.urls.base).origin, new URL(opts.listeningUrl).origin]),
    guard: new RequestGuard(gateway.config.gateway, opts.listeningUrl),
    login: new LoginInfo(gateway.config, auth.urls.base, bootstrap !== undefined),
  });
}
