import { openAuditLog } from "../audit/index.js";
import { Gateway } from "../gateway/gateway.js";
import { serveStdio } from "../transports/stdio.js";
import { StateStore } from "../state/store.js";
import { redactionHashKey } from "../protect/key.js";
import { loadOrExit, onShutdown, openKillStore, openRedis } from "./run.js";

/** Waits for upstreams before reading stdin, so a desktop client's first call finds them up. */
const READY_WAIT_MS = 30_000;

export async function stdioCommand(option: string | undefined): Promise<void> {
  const { config, log } = await loadOrExit(option);
  if (config.audit.sinks.some((s) => s.kind === "stdout")) {
    // Standard output is the MCP channel here: audit lines would corrupt it.
    process.stderr.write(`${config.file}: audit.sinks: stdout cannot be used with the stdio command\n`);
    process.exit(2);
  }
  const state = StateStore.open(config.state.sqlite);
  const redis = await openRedis(config, log);
  const audit = openAuditLog(config, state, log);
  const gateway = new Gateway(
    config,
    log,
    redactionHashKey(state),
    audit,
    redis,
    openKillStore(state, redis),
  );
  await gateway.start();
  await gateway.whenReady(READY_WAIT_MS);
  const { closed } = await serveStdio(gateway);
  onShutdown(log, () => gateway.stop());
  await closed;
  await gateway.stop();
  state.close();
  log.flush();
  process.exit(0);
}
