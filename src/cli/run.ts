// What every command needs, and nothing more: a quick verb loads only this and its own modules.
import { ConfigError } from "../config/errors.js";
import { configPath, loadConfig } from "../config/load.js";
import type { Config } from "../config/types.js";
import type { Logger } from "../log.js";
import { commandProblems } from "../upstreams/command.js";
import { policyProblems } from "./policy-problems.js";
import { RedisKillStore, SqliteKillStore, type KillStore } from "../ops/kill-store.js";
import type { RedisState } from "../state/redis.js";
import type { StateStore } from "../state/store.js";

/**
 * Loads the config for a command, printing problems and exiting 2 when it is invalid. `launch`
 * (the serving commands): also refuse a stdio server whose program cannot be found, as `check` does.
 * The listening address is `listen` (start's `--listen`), else `WARDEN_LISTEN`, else the file's:
 * every command reads the variable, so `token` mints for the address the gateway was moved to.
 */
export async function loadOrExit(
  option: string | undefined,
  opts: { launch?: boolean; listen?: string } = {},
): Promise<{ config: Config; log: Logger }> {
  const config = await configOrExit(option, opts);
  return { config, log: await commandLogger() };
}

/**
 * The logger of a command that logs, and the handler of stray rejections. pino is loaded here,
 * not by every command: `token`, `check` and `kill --list` need no logger.
 */
export async function commandLogger(level = process.env.WARDEN_LOG_LEVEL ?? "info"): Promise<Logger> {
  const { createLogger } = await import("../log.js");
  const log = createLogger(level);
  // A stray rejection is a bug to log, not a reason to drop every client's session.
  process.on("unhandledRejection", (err) => log.error({ err: String(err) }, "unhandled rejection"));
  return log;
}

/** The config alone, for a command that logs nothing; problems printed, exit 2, as `loadOrExit`. */
export async function configOrExit(
  option: string | undefined,
  opts: { launch?: boolean; listen?: string } = {},
): Promise<Config> {
  const file = configPath(option);
  const envListen = process.env.WARDEN_LISTEN;
  const listen =
    opts.listen !== undefined
      ? { value: opts.listen, from: "--listen" }
      : envListen
        ? { value: envListen, from: "WARDEN_LISTEN" }
        : undefined;
  try {
    const config = await loadConfig(file, process.env, listen ? { listen } : {});
    if (opts.launch) {
      const problems = [...(await commandProblems(config)), ...(await policyProblems(config))];
      if (problems.length > 0) throw new ConfigError(file, problems);
    }
    return config;
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
  // ioredis is loaded only when a deployment shares state: `kill` on the embedded store stays quick.
  const { RedisState } = await import("../state/redis.js");
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
