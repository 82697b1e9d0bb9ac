import { ApiKeys, type ApiKeyStore } from "../auth/api-keys.js";
import { PostgresApiKeys } from "../auth/api-keys-postgres.js";
import { ConfigError } from "../config/errors.js";
import { configPath, loadConfig } from "../config/load.js";
import type { Config } from "../config/types.js";
import { createLogger, type Logger } from "../log.js";
import { RedisKillStore, SqliteKillStore, type KillStore } from "../ops/kill-store.js";
import { PostgresState } from "../state/postgres.js";
import { RedisState } from "../state/redis.js";
import { openAuditLog } from "../audit/index.js";
import { Gateway } from "../gateway/gateway.js";
import { SqlitePinStore } from "../supply/pins.js";
import { SharedPinStore } from "../supply/pins-shared.js";
import { PostgresPinChannel } from "../supply/pins-postgres.js";
import { RedisPinChannel } from "../supply/pins-redis.js";
import { redactionHashKey } from "../protect/key.js";
import type { StateKey } from "../state/sealed.js";
import type { StateStore } from "../state/store.js";

/**
 * Loads the config for a command, printing problems and exiting 2 when it is invalid. The listening
 * address is `--listen` (start), else `WARDEN_LISTEN`, else the file's: every command reads the
 * variable, so `token` mints for the address the gateway was moved to.
 */
export async function loadOrExit(
  option: string | undefined,
  listenFlag?: string,
): Promise<{ config: Config; log: Logger }> {
  const file = configPath(option);
  const envListen = process.env.WARDEN_LISTEN;
  const listen =
    listenFlag !== undefined
      ? { value: listenFlag, from: "--listen" }
      : envListen
        ? { value: envListen, from: "WARDEN_LISTEN" }
        : undefined;
  try {
    const config = await loadConfig(file, process.env, listen ? { listen } : {});
    const log = createLogger();
    // A stray rejection is a bug to log, not a reason to drop every client's session.
    process.on("unhandledRejection", (err) => log.error({ err: String(err) }, "unhandled rejection"));
    return { config, log };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`mcp-warden: invalid config ${file}\n`);
    for (const problem of err.problems) process.stderr.write(`  ${problem}\n`);
    process.exit(2);
  }
}

/** Runs `stop` once on SIGTERM or SIGINT, then exits 0 (or 1 if stopping failed). */
export function onShutdown(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    stop().then(
      () => {
        log.info("stopped");
        log.flush();
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err: String(err) }, "shutdown failed");
        log.flush();
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => handler("SIGTERM"));
  process.on("SIGINT", () => handler("SIGINT"));
}

/**
 * The shared Redis state when `state.redis` is set. A gateway that is configured to share state
 * and cannot reach it does not start: running alone would silently split rate limits and kills.
 */
export async function openRedis(config: Config, log: Logger): Promise<RedisState | undefined> {
  if (config.state.redis === undefined) return undefined;
  const redis = new RedisState(config.state.redis, config.state.redisPrefix, log);
  try {
    await redis.ready(10_000);
  } catch (err) {
    await redis.close();
    log.error({ err: (err as Error).message }, "state.redis is not reachable");
    log.flush();
    process.stderr.write(`mcp-warden: state.redis is not reachable: ${(err as Error).message}\n`);
    process.exit(1);
  }
  return redis;
}

/** Where kills live: Redis when the instances share state, else the state store's table. */
export function openKillStore(state: StateStore, redis: RedisState | undefined): KillStore {
  return redis ? new RedisKillStore(redis) : new SqliteKillStore(state.db);
}

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
  );
  await gateway.start();
  return gateway;
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
