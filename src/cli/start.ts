import { ADMIN_SCOPE, createAdminApi } from "../admin/index.js";
import { KeyStore } from "../auth/keys.js";
import { ResourceMetadata } from "../auth/metadata.js";
import { RevocationFeed } from "../auth/revocation-feed.js";
import { PublicUrls } from "../auth/urls.js";
import { TokenVerifier } from "../auth/verifier.js";
import { createAuthServer, createRevocationCheck, type AuthServer } from "../authserver/index.js";
import { configWarnings } from "../config/owned-files.js";
import type { Config } from "../config/types.js";
import type { Gateway } from "../gateway/gateway.js";
import type { Logger } from "../log.js";
import type { SourceGuard } from "../ops/source-limits.js";
import type { PostgresState } from "../state/postgres.js";
import { StateKeyError } from "../state/sealed.js";
import { StateStore } from "../state/store.js";
import { listen, type HttpParts } from "../http/server.js";
import { ConnectPages } from "../connect/routes.js";
import { ConnectSignIn } from "../connect/sign-in.js";
import { startBanner } from "./banner.js";
import { openApiKeys, openGateway, openPostgres } from "./open.js";
import { loadOrExit, onShutdown } from "./run.js";

export async function startCommand(option: string | undefined, listenAt?: string): Promise<void> {
  const { config, log } = await loadOrExit(option, { launch: true, listen: listenAt });
  for (const warning of configWarnings(config)) log.warn({ config: config.file }, warning);
  const state = StateStore.openWithKey(config.state);
  const postgres = openPostgres(config, log, state.stateKey);
  // Postgres may be down at start (what needs it refuses until it is back), but an instance whose
  // state key does not open the shared settings must not serve at all, nor seal anything new.
  await postgres?.ready().catch((err: unknown) => {
    if (err instanceof StateKeyError) throw err;
  });
  const keys =
    config.auth.issuer === "embedded"
      ? await KeyStore.load({ file: config.auth.signingKeyFile, state })
      : undefined;
  const gateway = await openGateway(config, log, state, postgres);
  // Without Postgres each instance's issuer has its own SQLite: revocations reach the others
  // through Redis (with Postgres every instance already reads the same records).
  const feed = keys && gateway.redis && !postgres ? new RevocationFeed(gateway.redis, log) : undefined;
  await feed?.start();
  let parts: HttpParts | undefined;
  const http = await listen(gateway, async (url, sources) => {
    parts = await httpParts(config, gateway, state, postgres, keys, feed, log, url, sources);
    return parts;
  });
  log.info({ url: http.url, config: config.file, servers: config.servers.map((s) => s.name) }, "listening");
  if (process.stderr.isTTY && parts) {
    const facts = {
      config,
      base: parts.auth.urls.base,
      routes: [...gateway.routes.keys()],
      bootstrap: parts.admin.hasBootstrapToken,
    };
    process.stderr.write(startBanner(facts));
  }
  onShutdown(log, async () => {
    await http.close(config.gateway.shutdownGraceMs);
    feed?.stop();
    await postgres?.close();
    state.close();
  });
}

async function httpParts(
  config: Config,
  gateway: Gateway,
  state: StateStore,
  postgres: PostgresState | undefined,
  keys: KeyStore | undefined,
  feed: RevocationFeed | undefined,
  log: Logger,
  listeningUrl: string,
  sources: SourceGuard,
): Promise<HttpParts> {
  const urls = new PublicUrls(config.gateway.publicUrl, listeningUrl);
  const issuer = config.auth.issuer === "embedded" ? urls.base : config.auth.issuer.url;
  const apiKeys = openApiKeys(state, postgres);
  const verifier = new TokenVerifier({
    auth: config.auth,
    base: urls.base,
    issuer,
    keys,
    apiKeys,
    ...(keys ? { isRevoked: revocationCheck(state, postgres, feed) } : {}),
  });
  const metadata = new ResourceMetadata(urls, issuer, gateway.routes.values(), config.servers);
  let authServer: AuthServer | undefined;
  if (keys) {
    const resources = [
      ...[...gateway.routes.values()].map((route) => ({
        url: urls.route(route.path),
        scopes: metadata.scopesFor(route),
      })),
      // The admin API: tokens for the base URL carry warden:admin, and only for users holding it.
      { url: urls.base, scopes: [ADMIN_SCOPE] },
    ];
    authServer = await createAuthServer({
      config,
      issuer,
      keys,
      state,
      postgres,
      log,
      resources,
      audit: gateway.audit,
      revocationFeed: feed,
      sources,
      redis: gateway.redis,
    });
  }
  const auth = { verifier, metadata, urls };
  const admin = await createAdminApi({ gateway, auth, authServer, apiKeys, listeningUrl });
  let connect: ConnectPages | undefined;
  if (gateway.broker) {
    gateway.broker.setBase(urls.base);
    connect = new ConnectPages(
      gateway.broker,
      new ConnectSignIn(config, urls.base, verifier, state.stateKey),
    );
  }
  return { auth, authServer, admin, connect };
}

/** This instance's record of revoked tokens, or (with the feed) any instance's. */
function revocationCheck(
  state: StateStore,
  postgres: PostgresState | undefined,
  feed: RevocationFeed | undefined,
): (jti: string) => boolean | Promise<boolean> {
  if (!feed) return createRevocationCheck(state, postgres);
  const local = createRevocationCheck(state);
  return (jti) => local(jti) || feed.has(jti);
}
