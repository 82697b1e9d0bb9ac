import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { HttpServerConfig } from "../config/types.js";
import type { Logger } from "../log.js";
import { boundedFetch, closeOnRefusal, upstreamBounds } from "./bounded-fetch.js";
import type { ConnectionCredentials, UpstreamCredentials } from "./credentials.js";

/**
 * A remote server on the legacy HTTP+SSE transport (2024-11-05). The SDK sends both the event
 * stream's GET and each message POST through `connection.fetch`, which sets the credential. The
 * event stream and every response body are bounded before the SDK parses them; a message past its
 * bounds closes the connection (bounded-fetch.ts).
 */
export function sseTransport(
  server: HttpServerConfig,
  credentials: UpstreamCredentials,
  connection: ConnectionCredentials,
  log: Logger,
): Transport {
  const refused = closeOnRefusal(() => transport, log);
  const transport: Transport = new SSEClientTransport(new URL(server.url), {
    requestInit: { headers: credentials.configuredHeaders() },
    fetch: boundedFetch(connection.fetch, server.name, upstreamBounds(server.maxMessageBytes), refused),
  });
  return transport;
}
