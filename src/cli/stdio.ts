import { serveStdio } from "../transports/stdio.js";
import { StateStore } from "../state/store.js";
import { openGateway } from "./open.js";
import { loadOrExit, onShutdown } from "./run.js";

/** Waits for upstreams before reading stdin, so a desktop client's first call finds them up. */
const READY_WAIT_MS = 30_000;

export async function stdioCommand(option: string | undefined): Promise<void> {
  const { config, log } = await loadOrExit(option, { launch: true });
  if (config.audit.sinks.some((s) => s.kind === "stdout")) {
    // Standard output is the MCP channel here: audit lines would corrupt it.
    process.stderr.write(`${config.file}: audit.sinks: stdout cannot be used with the stdio command\n`);
    process.exit(2);
  }
  const state = StateStore.openWithKey(config.state);
  const gateway = await openGateway(config, log, state);
  await gateway.whenReady(READY_WAIT_MS);
  const { closed } = await serveStdio(gateway);
  onShutdown(log, () => gateway.stop());
  await closed;
  await gateway.stop();
  state.close();
  log.flush();
  process.exit(0);
}
