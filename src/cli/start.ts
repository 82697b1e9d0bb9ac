import { Gateway } from "../gateway/gateway.js";
import { listen } from "../transports/http.js";
import { loadOrExit, onShutdown } from "./run.js";

export async function startCommand(option: string | undefined): Promise<void> {
  const { config, log } = await loadOrExit(option);
  const gateway = new Gateway(config, log);
  gateway.start();
  const http = await listen(gateway);
  log.info({ url: http.url, config: config.file, servers: config.servers.map((s) => s.name) }, "listening");
  onShutdown(log, () => http.close(config.gateway.shutdownGraceMs));
}
