/** Who am I, the dashboard, and the servers: what the console shows first. */
import type { AdminContext, AdminHandler } from "./api.js";
import { hiddenByPolicy, pinState } from "./routes-tools.js";

const UPSTREAM_STATE: Readonly<Record<string, string>> = {
  ready: "up",
  starting: "starting",
  restarting: "down",
  stopped: "down",
  blocked: "blocked",
};

const TRANSPORT: Readonly<Record<string, string>> = { stdio: "stdio", streamable_http: "http", sse: "sse" };

function upstreams(ctx: AdminContext) {
  return [...ctx.gateway.servers].map(([name, server]) => {
    const status = server.status();
    const reason = typeof status.error === "string" ? status.error : undefined;
    return { name, state: UPSTREAM_STATE[server.state] ?? server.state, ...(reason ? { reason } : {}) };
  });
}

const me: AdminHandler = (_ctx, { caller }) => ({
  body: { sub: caller.sub, auth: caller.auth, scopes: [...caller.scopes] },
});

const summary: AdminHandler = (ctx) => {
  const gw = ctx.gateway;
  const { audit } = gw.readiness();
  return {
    body: {
      instance: gw.config.gateway.instanceId ?? ctx.auth.urls.base,
      ...ctx.activity.summary(),
      upstreams: upstreams(ctx),
      audit,
      kills: gw.kills.active,
    },
  };
};

const servers: AdminHandler = (ctx) => {
  const gw = ctx.gateway;
  const up = new Map(upstreams(ctx).map((u) => [u.name, u]));
  // Pins exist only while pinning or the scan is on: otherwise nothing is known of the tools.
  const tracked = gw.config.supplyChain.toolPinning !== "off" || gw.config.supplyChain.poisoning !== "off";
  const pins = tracked ? gw.pins.list() : [];
  return {
    body: {
      servers: gw.config.servers.map((s) => {
        const own = pins.filter((p) => p.server === s.name);
        const states = own.map((p) => pinState(p, gw.config));
        const u = up.get(s.name);
        return {
          name: s.name,
          transport: TRANSPORT[s.kind] ?? s.kind,
          state: u?.state ?? "down",
          ...(u?.reason ? { reason: u.reason } : {}),
          route: `/servers/${s.name}/mcp`,
          tools: tracked ? own.filter((p) => p.kind === "tool").length : null,
          // What callers can be shown at all: the rest is hidden by the server's `tools` mapping.
          exposed: tracked
            ? own.filter((p) => p.kind === "tool" && !hiddenByPolicy(p, gw.config)).length
            : null,
          held: states.filter((x) => x === "held").length,
          poisoned: states.filter((x) => x === "poisoned").length,
          sandbox: s.kind === "stdio" && s.sandbox !== undefined,
          integrity: s.kind === "stdio" && (s.integrity.size > 0 || s.package !== undefined),
          killed: gw.kills.active.some(
            (k) => k.scope === "all" || (k.scope === "server" && k.target === s.name),
          ),
        };
      }),
    },
  };
};

export const statusRoutes: ReadonlyArray<[string, AdminHandler]> = [
  ["GET me", me],
  ["GET summary", summary],
  ["GET servers", servers],
];
