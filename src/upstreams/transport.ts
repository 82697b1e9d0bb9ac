import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { ServerConfig } from "../config/types.js";
import type { Logger } from "../log.js";
import { stdioTransport } from "./stdio.js";
import { streamableHttpTransport } from "./streamable-http.js";
import { sseTransport } from "./sse.js";

/** The closed set of upstream kinds; adding one means a module here and a case below. */
export function createTransport(server: ServerConfig, log: Logger): Transport {
  switch (server.kind) {
    case "stdio":
      return stdioTransport(server, log);
    case "streamable_http":
      return streamableHttpTransport(server);
    case "sse":
      return sseTransport(server);
  }
}
