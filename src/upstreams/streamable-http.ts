import { StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
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
 *
 * The transport is the v2 SDK's, which speaks both eras: a legacy session (session id, GET
 * stream) after `initialize`, and for a 2026-07-28 server the headers each request must carry
 * (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`, derived from the body's `_meta`; the
 * gateway adds `Mcp-Param-*`), with cancellation by closing the request's response stream.
 */
export function streamableHttpTransport(
  server: HttpServerConfig,
  credentials: UpstreamCredentials,
  connection: ConnectionCredentials,
  log: Logger,
): Transport {
  const refused = closeOnRefusal(() => transport, log);
  // The v2 transport's message type is v2's own; on the wire it is the same JSON-RPC.
  const transport = new StreamableHTTPClientTransport(new URL(server.url), {
    requestInit: { headers: credentials.configuredHeaders() },
    fetch: boundedFetch(connection.fetch, server.name, upstreamBounds(server.maxMessageBytes), refused),
  }) as unknown as Transport;
  return transport;
}
