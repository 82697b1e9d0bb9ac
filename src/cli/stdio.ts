import { serveStdio } from "../transports/stdio.js";
import { StateStore } from "../state/store.js";
import { loadOrExit, onShutdown, openGateway, openPostgres } from "./run.js";
import { stdioCaller, StdioIdentityError } from "./stdio-identity.js";

/** Waits for upstreams before reading stdin, so a desktop client's first call finds them up. */
const READY_WAIT_MS = 30_000;

export async function stdioCommand(option: string | undefined): Promise<void> {
  const { config, log } = await loadOrExit(option);
  if (config.audit.sinks.some((s) => s.kind === "stdout")) {
    // Standard output is the MCP channel here: audit lines would corrupt it.
    process.stderr.write(`${config.file}: audit.sinks: stdout cannot be used with the stdio command\n`);
    process.exit(2);
  }
  const state = StateStore.openWithKey(config.state);
  const postgres = openPostgres(config, log, state.stateKey);
  let caller;
  try {
    caller = await stdioCaller(config, state, postgres);
  } catch (err) {
    if (!(err instanceof StdioIdentityError)) throw err;
    // Said before any client call: a desktop client shows a server's stderr when it fails to start.
    process.stderr.write(`mcp-warden stdio: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`mcp-warden stdio: ${caller.describe}\n`);
  const gateway = await openGateway(config, log, state, postgres);
  await gateway.whenReady(READY_WAIT_MS);
  const { closed } = await serveStdio(gateway, caller);
  onShutdown(log, () => gateway.stop());
  await closed;
  await gateway.stop();
  await postgres?.close();
  state.close();
  log.flush();
  process.exit(0);
}
