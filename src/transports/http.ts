import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { ErrorCode } from "../errors.js";
import type { Gateway } from "../gateway/gateway.js";
import { errorResponse } from "../jsonrpc.js";
import { RequestGuard } from "./guard.js";
import { StreamableHttpEndpoint, type EndpointAuth } from "./streamable-http.js";
import type { AuthServer } from "../authserver/index.js";
import type { AdminApi } from "../admin/api.js";
import { serveAdminConsole } from "../admin/console.js";
import { FailedAuthGuard } from "../ops/failed-auth.js";
import { SourceGuard, SourceLimits } from "../ops/source-limits.js";
import { RefusedBodies } from "../ops/refused-bodies.js";
import { bindSource } from "./source.js";

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
}

/**
 * The HTTP surface: health, readiness, the embedded issuer's paths, RFC 9728 metadata and the MCP
 * routes, each MCP route behind the DNS-rebinding guard and bearer authentication. `setup` gets
 * the gateway's one SourceGuard, for the embedded issuer's per-source limits.
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
  // Set once listening; until then only health answers.
  const parts: { guard?: RequestGuard; endpoint?: StreamableHttpEndpoint; http?: HttpParts } = {};
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
    route(req, res).catch((err: unknown) => {
      gateway.log.error(
        { err: err instanceof Error ? err.message : String(err), path: req.url },
        "request failed",
      );
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      if (!res.writableEnded)
        res.end(JSON.stringify(errorResponse(null, ErrorCode.InternalError, "internal error")));
    });
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = pathOf(req.url);
    if (path === "/healthz") return json(res, 200, { status: "ok" });
    if (path === "/readyz") {
      const { ready, upstreams, audit } = gateway.readiness();
      return json(res, ready ? 200 : 503, { status: ready ? "ready" : "not_ready", upstreams, audit });
    }
    // Like health, before authentication: scrapers hold no token (docs/observability.md).
    if (path === "/metrics") {
      if (!config.observability.metrics) return json(res, 404, { error: "not_found" });
      const { contentType, body } = await gateway.metrics.render();
      res.writeHead(200, { "content-type": contentType, "cache-control": "no-store" }).end(body);
      return;
    }
    const { guard, endpoint, http } = parts;
    if (!guard || !endpoint || !http) return json(res, 503, { error: "starting" });
    // Before any handler runs: the embedded issuer rewrites the forwarding headers it reads.
    bindSource(req, config.gateway.trustedProxies);
    if (http.authServer && (await http.authServer.handle(req, res))) return;
    const metadata = http.auth.metadata.document(path);
    if (metadata !== undefined) {
      // Public, cacheable, and read by browser-based clients from other origins.
      res.writeHead(200, {
        "content-type": "application/json",
        "access-control-allow-origin": "*",
        "cache-control": "max-age=300",
      });
      res.end(metadata);
      return;
    }
    const mcpRoute = gateway.routes.get(path);
    if (path === "/admin" || (path.startsWith("/admin/") && !path.startsWith("/admin/api/"))) {
      // The console's static files, behind the same Host check; the data comes from /admin/api/.
      const refusedConsole = guard.refuse(req);
      if (refusedConsole) return json(res, 403, { error: `forbidden: ${refusedConsole}` });
      return serveAdminConsole(config, req, res, path);
    }
    if (path.startsWith("/admin/api/")) {
      // The DNS-rebinding guard's verdict goes with it: the admin API answers and audits refusals.
      await http.admin.handle(req, res, path, guard.refuse(req), failedAuth);
      return;
    }
    if (!mcpRoute) return json(res, 404, { error: "not_found" });
    const refused = guard.refuse(req);
    if (refused) {
      res.writeHead(403, { "content-type": "application/json" });
      res.end(JSON.stringify(errorResponse(null, ErrorCode.InvalidRequest, `forbidden: ${refused}`)));
      return;
    }
    await endpoint.handle(mcpRoute, req, res);
  }

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
  parts.guard = new RequestGuard(config.gateway, url);
  try {
    parts.http = await setup(url, sources);
  } catch (err) {
    sources.close();
    bodies.close();
    server.close();
    throw err;
  }
  parts.endpoint = new StreamableHttpEndpoint(gateway, parts.http.auth, failedAuth, bodies);

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
      await parts.http?.authServer?.close();
      server.closeAllConnections();
      await closed;
    },
  };
}

function pathOf(url: string | undefined): string {
  const q = (url ?? "/").indexOf("?");
  return q >= 0 ? (url as string).slice(0, q) : (url ?? "/");
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}
