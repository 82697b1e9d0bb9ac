import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { HttpServerConfig } from "../config/types.js";

/** A remote server on the legacy HTTP+SSE transport (2024-11-05). */
export function sseTransport(server: HttpServerConfig): Transport {
  const headers = { ...server.headers };
  return new SSEClientTransport(new URL(server.url), {
    requestInit: { headers },
    eventSourceInit: {
      fetch: (url, init) => fetch(url, { ...init, headers: { ...headers, ...(init?.headers ?? {}) } }),
    },
  });
}
