import { Gateway } from "../gateway/gateway.js";
import { serveStdio } from "../transports/stdio.js";
import { StateStore } from "../state/store.js";
import { redactionHashKey } from "../protect/key.js";
import { loadOrExit, onShutdown } from "./run.js";

/** Waits for upstreams before reading stdin, so a desktop client's first call finds them up. */
const READY_WAIT_MS = 30_000;

export async function stdioCommand(option: string | undefined): Promise<void> {
  const { config, log } = await loadOrExit(option);
  const state = StateStore.open(config.state.sqlite);
  const gateway = new Gateway(config, log, redactionHashKey(state));
  gateway.start();
  await gateway.whenReady(READY_WAIT_MS);
  const { closed } = await serveStdio(gateway);
  onShutdown(log, () => gateway.stop());
  await closed;
  await gateway.stop();
  state.close();
  log.flush();
  process.exit(0);
}
