import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { ServerConfig } from "../config/types.js";
import type { Logger } from "../log.js";
import type { ConnectionCredentials, UpstreamCredentials } from "./credentials.js";
import { stdioTransport } from "./stdio.js";
import { streamableHttpTransport } from "./streamable-http.js";
import { sseTransport } from "./sse.js";

/** How a remote connection authenticates: the server's credentials, bound to this connection. */
export interface RemoteAuth {
  readonly credentials: UpstreamCredentials;
  readonly connection: ConnectionCredentials;
}

/** The closed set of upstream kinds; adding one means a module here and a case below. */
export function createTransport(server: ServerConfig, log: Logger, auth: RemoteAuth | undefined): Transport {
  switch (server.kind) {
    case "stdio":
      return stdioTransport(server, log);
    case "streamable_http":
    case "sse": {
      // Remote servers always go through the credential-setting fetch, even with `auth: none`:
      // it is also what pins requests to the configured origin and refuses redirects elsewhere.
      if (!auth) throw new Error(`remote server ${server.name} has no credentials object`);
      return server.kind === "sse"
        ? sseTransport(server, auth.credentials, auth.connection, log)
        : streamableHttpTransport(server, auth.credentials, auth.connection, log);
    }
  }
}
