import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { HttpServerConfig } from "../config/types.js";
import type { ConnectionCredentials, UpstreamCredentials } from "./credentials.js";

/**
 * A remote streamable-HTTP server. Requests carry the configured headers and the server's own
 * credential, set by `connection.fetch` on every POST, GET and DELETE; never the client's token.
 */
export function streamableHttpTransport(
  server: HttpServerConfig,
  credentials: UpstreamCredentials,
  connection: ConnectionCredentials,
): Transport {
  return new StreamableHTTPClientTransport(new URL(server.url), {
    requestInit: { headers: credentials.configuredHeaders() },
    fetch: connection.fetch,
  });
}
