import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { AdminApi } from "../admin/api.js";
import type { AuthServer } from "../authserver/index.js";
import { ErrorCode } from "../errors.js";
import type { Gateway } from "../gateway/gateway.js";
import { errorResponse } from "../jsonrpc.js";
import { FailedAuthGuard } from "../ops/failed-auth.js";
import { RefusedBodies } from "../ops/refused-bodies.js";
import { SourceGuard, SourceLimits } from "../ops/source-limits.js";
import { RequestGuard } from "../transports/guard.js";
import type { ConnectPages } from "../connect/routes.js";
import { StreamableHttpEndpoint, type EndpointAuth } from "../transports/streamable-http.js";
import { HttpRoutes } from "./routes.js";

export interface HttpGateway {
  readonly server: Server;
  readonly url: string;
  close(graceMs: number): Promise<void>;
}

/** What depends on the public URL, so is built once the gateway listens (the port may be 0). */
export interface HttpParts {
  readonly auth: EndpointAuth;
  readonly authServer: AuthServer | undefined;
  readonly admin: AdminApi;
  readonly connect?: ConnectPages | undefined;
}

/**
 * Listens, and serves the HTTP surface (routes.ts) once `setup` has built what depends on the
 * listening URL. `setup` gets the gateway's one SourceGuard, for the embedded issuer's per-source
 * limits.
 */
export async function listen(
  gateway: Gateway,
  setup: (listeningUrl: string, sources: SourceGuard) => Promise<HttpParts>,
): Promise<HttpGateway> {
  const config = gateway.config;
  // One set of per-source budgets (and one flood recorder) for every route: MCP, the admin API
  // and the embedded issuer; refused tokens on MCP routes and the admin API share one.
  const limits = new SourceLimits(config.gateway.sourceLimits, gateway.redis, gateway.log);
  const sources = new SourceGuard(limits, gateway.refusals);
  const failedAuth = new FailedAuthGuard(sources);
  const bodies = new RefusedBodies(limits, gateway.refusals);
  const routes = new HttpRoutes(gateway);
  let inflight = 0;
  let drained: (() => void) | undefined;

  // A request whose headers and body have not all arrived within `request_timeout` is answered 408
  // by Node and its connection closed (a body trickled in to hold a connection and a handler).
  // Node checks at `connectionsCheckingInterval`: often enough that the bound is near the setting.
  const timeout = config.gateway.requestTimeoutMs;
  const serverOptions = {
    requestTimeout: timeout,
    headersTimeout: timeout,
    connectionsCheckingInterval: Math.min(1000, Math.ceil(timeout / 4)),
  };
  const server = createServer(serverOptions, (req, res) => {
    if (req.method === "POST") {
      inflight++;
      res.on("close", () => {
        if (--inflight === 0) drained?.();
      });
    }
    routes.serve(req, res).catch((err: unknown) => {
      gateway.log.error(
        { err: err instanceof Error ? err.message : String(err), path: req.url },
        "request failed",
      );
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      if (!res.writableEnded)
        res.end(JSON.stringify(errorResponse(null, ErrorCode.InternalError, "internal error")));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.gateway.port, config.gateway.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  const guard = new RequestGuard(config.gateway, url);
  let http: HttpParts;
  try {
    http = await setup(url, sources);
  } catch (err) {
    sources.close();
    bodies.close();
    server.close();
    throw err;
  }
  const mcp = new StreamableHttpEndpoint(gateway, http.auth, failedAuth, bodies);
  routes.mount({ ...http, guard, mcp, failedAuth });

  return {
    server,
    url,
    // Stop accepting; let POSTs in flight finish within `graceMs`; then end sessions (and their GET
    // streams) and upstreams, and cut whatever connection is left.
    close: async (graceMs) => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (inflight > 0) {
        await new Promise<void>((resolve) => {
          drained = resolve;
          setTimeout(resolve, graceMs).unref();
        });
      }
      sources.close();
      bodies.close();
      await gateway.stop();
      await http.authServer?.close();
      server.closeAllConnections();
      await closed;
    },
  };
}
