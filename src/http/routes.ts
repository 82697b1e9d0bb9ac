import type { IncomingMessage, ServerResponse } from "node:http";
import type { AdminApi } from "../admin/api.js";
import { serveAdminConsole } from "../admin/console.js";
import type { AuthServer } from "../authserver/index.js";
import type { ConnectPages } from "../connect/routes.js";
import { ErrorCode } from "../errors.js";
import type { Gateway } from "../gateway/gateway.js";
import type { Route } from "../gateway/route.js";
import { errorResponse } from "../jsonrpc.js";
import type { FailedAuthGuard } from "../ops/failed-auth.js";
import type { RequestGuard } from "../transports/guard.js";
import { bindSource } from "../transports/source.js";
import type { EndpointAuth, StreamableHttpEndpoint } from "../transports/streamable-http.js";

/** What the routes answer with, built once the gateway listens (the public URL may need its port). */
export interface Surface {
  readonly auth: EndpointAuth;
  readonly authServer: AuthServer | undefined;
  readonly admin: AdminApi;
  /** The DNS-rebinding guard (Host, Origin) of the listening address. */
  readonly guard: RequestGuard;
  readonly mcp: StreamableHttpEndpoint;
  /** Refused tokens per source: one budget for the MCP routes and the admin API. */
  readonly failedAuth: FailedAuthGuard;
  /** The connect pages, when a server takes per-user OAuth. */
  readonly connect?: ConnectPages | undefined;
}

/** One entry of the surface: the paths it answers (as the docs name them), and how. */
interface HttpRoute {
  readonly paths: string;
  readonly matches: (path: string) => boolean;
  readonly serve: (req: IncomingMessage, res: ServerResponse, path: string) => unknown;
}

/**
 * Answered from the moment the gateway listens, with no source worked out: probes and scrapers
 * hold no token (docs/observability.md).
 */
function probes(gateway: Gateway): readonly HttpRoute[] {
  return [
    { paths: "/healthz", matches: is("/healthz"), serve: (_req, res) => json(res, 200, { status: "ok" }) },
    { paths: "/readyz", matches: is("/readyz"), serve: (_req, res) => readiness(gateway, res) },
    { paths: "/metrics", matches: is("/metrics"), serve: (_req, res) => metrics(gateway, res) },
  ];
}

/** The rest of the surface, in the order it is matched; anything else is 404. */
function routes(gateway: Gateway, s: Surface): readonly HttpRoute[] {
  return [
    // Someone who opens the base URL in a browser, or points a client at it, learns where to go.
    { paths: "/", matches: is("/"), serve: (req, res) => index(s, req, res) },
    // The embedded issuer first (`auth.issuer: embedded`): its RFC 8414 and OpenID metadata,
    // /oauth/* and the sign-in pages, under the issuer's path when it has one.
    {
      paths: "/.well-known/oauth-authorization-server, /.well-known/openid-configuration, /oauth/*",
      matches: (path) => s.authServer?.serves(path) === true,
      serve: (req, res) => s.authServer?.handle(req, res),
    },
    // RFC 9728: one document per MCP route, one for the base URL.
    {
      paths: "/.well-known/oauth-protected-resource, /.well-known/oauth-protected-resource/{route}",
      matches: (path) => s.auth.metadata.document(path) !== undefined,
      serve: (_req, res, path) => s.auth.metadata.serve(res, path),
    },
    // The console's static files, behind the Host and Origin check; its data comes from /admin/api/.
    {
      paths: "/admin, /admin/* (but /admin/api/*)",
      matches: (path) => path === "/admin" || (path.startsWith("/admin/") && !path.startsWith("/admin/api/")),
      serve: (req, res, path) => {
        const refused = s.guard.refuse(req);
        if (refused) return json(res, 403, { error: `forbidden: ${refused}` });
        return serveAdminConsole(gateway.config, req, res, path);
      },
    },
    // Per-user upstream OAuth: the connect pages, the user's connections, the gateway's client
    // metadata document (docs/upstream-credentials.md). Only when a server takes `oauth_user`.
    {
      paths: "/connect/*, /connections",
      matches: (path) => s.connect?.serves(path) === true,
      serve: (req, res, path) => s.connect?.handle(req, res, path, s.guard.refuse(req)),
    },
    // The guard's verdict goes with the request: the admin API answers and audits its refusals.
    {
      paths: "/admin/api/*",
      matches: (path) => path.startsWith("/admin/api/"),
      serve: (req, res, path) => s.admin.handle(req, res, path, s.guard.refuse(req), s.failedAuth),
    },
    // MCP over streamable HTTP: the aggregate route, one per server and one per virtual server.
    {
      paths: "/mcp, /servers/{name}/mcp, /v/{name}/mcp",
      matches: (path) => gateway.routes.has(path),
      serve: (req, res, path) => {
        const refused = s.guard.refuse(req);
        if (refused) {
          res.writeHead(403, { "content-type": "application/json" });
          res.end(JSON.stringify(errorResponse(null, ErrorCode.InvalidRequest, `forbidden: ${refused}`)));
          return;
        }
        return s.mcp.handle(gateway.routes.get(path) as Route, req, res);
      },
    },
  ];
}

/**
 * The whole HTTP surface. Until `mount` (the gateway listens but its parts are being built) only
 * the probes answer, everything else 503.
 */
export class HttpRoutes {
  private readonly probes: readonly HttpRoute[];
  private routes: readonly HttpRoute[] | undefined;

  constructor(private readonly gateway: Gateway) {
    this.probes = probes(gateway);
  }

  mount(surface: Surface): void {
    this.routes = routes(this.gateway, surface);
  }

  async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = pathOf(req.url);
    const probe = this.probes.find((r) => r.matches(path));
    if (probe) return void (await probe.serve(req, res, path));
    if (!this.routes) return json(res, 503, { error: "starting" });
    // Before any handler runs: the embedded issuer rewrites the forwarding headers it reads.
    bindSource(req, this.gateway.config.gateway.trustedProxies);
    const route = this.routes.find((r) => r.matches(path));
    if (!route) return json(res, 404, { error: "not_found" });
    await route.serve(req, res, path);
  }
}

/** No server names: what the gateway fronts is told only to callers allowed to see it. */
function index(s: Surface, req: IncomingMessage, res: ServerResponse): void {
  const base = s.auth.urls.base;
  const body = {
    name: "mcp-warden",
    mcp: `${base}/mcp`,
    servers: `${base}/servers/{name}/mcp`,
    virtual_servers: `${base}/v/{name}/mcp`,
    resource_metadata: s.auth.urls.resourceMetadata("/mcp"),
    admin: `${base}/admin/`,
    health: `${base}/healthz`,
  };
  if (req.method === "GET" || req.method === "HEAD") return json(res, 200, body);
  res.setHeader("allow", "GET, HEAD");
  json(res, 405, { error: "method_not_allowed", ...body });
}

function readiness(gateway: Gateway, res: ServerResponse): void {
  const { ready, upstreams, audit } = gateway.readiness();
  json(res, ready ? 200 : 503, { status: ready ? "ready" : "not_ready", upstreams, audit });
}

async function metrics(gateway: Gateway, res: ServerResponse): Promise<void> {
  if (!gateway.config.observability.metrics) return json(res, 404, { error: "not_found" });
  const { contentType, body } = await gateway.metrics.render();
  res.writeHead(200, { "content-type": contentType, "cache-control": "no-store" }).end(body);
}

function is(expected: string): (path: string) => boolean {
  return (path) => path === expected;
}

function pathOf(url: string | undefined): string {
  const q = (url ?? "/").indexOf("?");
  return q >= 0 ? (url as string).slice(0, q) : (url ?? "/");
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}
