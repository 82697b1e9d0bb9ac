import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { HttpServerConfig } from "../config/types.js";
import type { ConnectionCredentials, UpstreamCredentials } from "./credentials.js";

/**
 * A remote server on the legacy HTTP+SSE transport (2024-11-05). The SDK sends both the event
 * stream's GET and each message POST through `connection.fetch`, which sets the credential.
 */
export function sseTransport(
  server: HttpServerConfig,
  credentials: UpstreamCredentials,
  connection: ConnectionCredentials,
): Transport {
  return new SSEClientTransport(new URL(server.url), {
    requestInit: { headers: credentials.configuredHeaders() },
    fetch: connection.fetch,
  });
}
