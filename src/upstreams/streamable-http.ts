import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { HttpServerConfig } from "../config/types.js";
import type { Logger } from "../log.js";
import { boundedFetch, closeOnRefusal, upstreamBounds } from "./bounded-fetch.js";
import type { ConnectionCredentials, UpstreamCredentials } from "./credentials.js";

/**
 * A remote streamable-HTTP server. Requests carry the configured headers and the server's own
 * credential, set by `connection.fetch` on every POST, GET and DELETE; never the client's token.
 * Every response body (JSON, or an event stream) is bounded before the SDK parses it; one past
 * its bounds closes the connection (bounded-fetch.ts).
 */
export function streamableHttpTransport(
  server: HttpServerConfig,
  credentials: UpstreamCredentials,
  connection: ConnectionCredentials,
  log: Logger,
): Transport {
  const refused = closeOnRefusal(() => transport, log);
  const transport: Transport = new StreamableHTTPClientTransport(new URL(server.url), {
    requestInit: { headers: credentials.configuredHeaders() },
    fetch: boundedFetch(connection.fetch, server.name, upstreamBounds(server.maxMessageBytes), refused),
  });
  return transport;
}
