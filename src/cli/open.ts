// The stores and the gateway a command opens on a config; loaded only by the commands that open them.
import { ApiKeys, type ApiKeyStore } from "../auth/api-keys.js";
import { PostgresApiKeys } from "../auth/api-keys-postgres.js";
import type { Config, HttpServerConfig } from "../config/types.js";
import type { AuditLog } from "../audit/log.js";
import { OAuthUserBroker } from "../upstreams/oauth-user/broker.js";
import { SqliteConnectionStore } from "../upstreams/oauth-user/store.js";
import { PostgresConnectionStore } from "../upstreams/oauth-user/store-postgres.js";
import type { Logger } from "../log.js";
import { PostgresState } from "../state/postgres.js";
import { openKillStore, openRedis } from "./run.js";
import type { RedisState } from "../state/redis.js";
import { openAuditLog } from "../audit/index.js";
import type { CedarPolicySet } from "../policy/cedar/policy-set.js";
import { Gateway } from "../gateway/gateway.js";
import { SqlitePinStore } from "../supply/pins.js";
import { SharedPinStore } from "../supply/pins-shared.js";
import { PostgresPinChannel } from "../supply/pins-postgres.js";
import { RedisPinChannel } from "../supply/pins-redis.js";
import { redactionHashKey } from "../protect/key.js";
import type { StateKey } from "../state/sealed.js";
import type { StateStore } from "../state/store.js";

/**
 * The shared Postgres state when `state.postgres` is set. Unlike Redis, it is not required at
 * start: what needs it (revocation and API-key checks, the authorization server) refuses while it
 * is down, and works again when it is back. Its schema is created now when it can be.
 */
export function openPostgres(config: Config, log: Logger, stateKey?: StateKey): PostgresState | undefined {
  if (config.state.postgres === undefined) return undefined;
  const postgres = new PostgresState(config.state.postgres, log, stateKey);
  postgres.ready().then(
    () => log.info({ postgres: postgres.where }, "postgres state ready"),
    (err: unknown) =>
      log.error(
        { postgres: postgres.where, err: (err as Error).message },
        "state.postgres is not reachable: tokens and API keys that need it are refused until it is",
      ),
  );
  return postgres;
}

/** Where API keys live: Postgres when the instances share it, else the state store's table. */
export function openApiKeys(state: StateStore, postgres: PostgresState | undefined): ApiKeyStore {
  return postgres ? new PostgresApiKeys(postgres) : new ApiKeys(state);
}

/** The gateway on a config, with the state store, shared state and audit log it runs on; started. */
export async function openGateway(
  config: Config,
  log: Logger,
  state: StateStore,
  /** The process's shared Postgres (`openPostgres`), when it has one: pins use its connections. */
  postgres?: PostgresState,
): Promise<Gateway> {
  const redis = await openRedis(config, log);
  const audit = openAuditLog(config, state, log);
  const gateway = new Gateway(
    config,
    log,
    redactionHashKey(state),
    audit,
    redis,
    openKillStore(state, redis),
    await openPinStore(config, state, redis, log, { postgres }),
    openBroker(config, state, postgres, audit, log),
    await openCedar(config, log, audit),
  );
  await gateway.start();
  return gateway;
}

/** The Cedar policies when `policy.cedar` is set (the engine is loaded only then), watched for changes. */
async function openCedar(config: Config, log: Logger, audit: AuditLog): Promise<CedarPolicySet | undefined> {
  if (config.policy === undefined) return undefined;
  const { CedarPolicySet } = await import("../policy/cedar/policy-set.js");
  const set = await CedarPolicySet.open(config.policy, config.file, log.child({ component: "cedar" }), audit);
  set.watch();
  return set;
}

/**
 * Each user's upstream connections (`oauth_user` servers): in Postgres when instances share state,
 * else in the state store. Undefined when no server takes per-user OAuth.
 */
export function openBroker(
  config: Config,
  state: StateStore,
  postgres: PostgresState | undefined,
  audit: AuditLog,
  log: Logger,
): OAuthUserBroker | undefined {
  if (!OAuthUserBroker.needed(config)) return undefined;
  const store =
    config.state.postgres !== undefined
      ? new PostgresConnectionStore(postgres ?? new PostgresState(config.state.postgres, log))
      : new SqliteConnectionStore(state.db);
  const servers = config.servers.filter((s): s is HttpServerConfig => s.kind !== "stdio");
  return new OAuthUserBroker(
    servers,
    store,
    state.stateKey,
    audit,
    log.child({ component: "oauth-user" }),
    config.gateway.clientMetadataUrl,
  );
}

/**
 * Pins: the state store's table, copied to and from every instance through Postgres when
 * `state.postgres` is set (pins then live there), else through Redis when `state.redis` is. Under
 * `tool_pinning: enforce` the shared pins must load before any definition is judged: a gateway
 * that judged without them would trust a changed definition on first use, so a shared store that
 * cannot be read stops the start. Under `warn` or `off` no call depends on them: the gateway starts
 * on its local pins and loads the shared ones when the store is back. `requireShared` (the
 * `tools` commands, whose reads and approvals are about the shared pins) always needs them.
 */
export async function openPinStore(
  config: Config,
  state: StateStore,
  redis: RedisState | undefined,
  log: Logger,
  options: { requireShared?: boolean; postgres?: PostgresState } = {},
): Promise<SqlitePinStore | SharedPinStore> {
  const { requireShared = false, postgres } = options;
  const local = new SqlitePinStore(state.db);
  const channel =
    config.state.postgres !== undefined
      ? postgres
        ? new PostgresPinChannel(postgres, false)
        : new PostgresPinChannel(new PostgresState(config.state.postgres, log), true)
      : redis
        ? new RedisPinChannel(redis)
        : undefined;
  if (!channel) return local;
  const shared = new SharedPinStore(local, channel, log);
  try {
    await shared.start();
  } catch (err) {
    const why = `the tool-definition pins in ${channel.name} could not be loaded: ${(err as Error).message}`;
    if (config.supplyChain.toolPinning === "enforce" || requireShared) {
      await channel.close().catch(() => undefined);
      throw new Error(why);
    }
    log.error({ store: channel.name }, `${why}; judging by this instance's pins until it is back`);
    shared.startLater();
  }
  return shared;
}
