/** The kill switch: what is killed, kill, revive (the kill switch audits each change itself). */
import type { KillScope } from "../ops/kill-store.js";
import { who, type AdminHandler } from "./api.js";
import { AdminRefusal, reasonOf, recordedRefusal } from "./http.js";

const SCOPES: ReadonlySet<string> = new Set(["all", "server", "tool", "user", "user_on_server", "client"]);

function killOf(body: Record<string, unknown>): { scope: KillScope; target: string; reason: string } {
  const scope = body.scope ?? "all";
  const target = body.target ?? "";
  if (typeof scope !== "string" || !SCOPES.has(scope))
    throw new AdminRefusal(400, "scope: all, server, tool, user, user_on_server or client");
  if (typeof target !== "string" || target.length > 300 || (scope === "all") !== (target === ""))
    throw new AdminRefusal(
      400,
      "target: empty for all, else the server, server/tool, user, server/user or client",
    );
  return { scope: scope as KillScope, target, reason: reasonOf(body) };
}

const kills: AdminHandler = (ctx) => ({ body: { kills: ctx.gateway.kills.active } });

const kill: AdminHandler = async (ctx, { caller, body }) => {
  const k = killOf(body);
  return {
    body: {
      killed: await ctx.gateway.kills.kill(k.scope, k.target, k.reason, who(caller)),
    },
  };
};

const revive: AdminHandler = async (ctx, { caller, body }) => {
  const k = killOf(body);
  // Recorded by the kill switch either way (status not_found when nothing was lifted).
  if (!(await ctx.gateway.kills.revive(k.scope, k.target, k.reason, who(caller))))
    throw recordedRefusal(404, "no such kill");
  return { body: { revived: { scope: k.scope, target: k.target } } };
};

export const killRoutes: ReadonlyArray<[string, AdminHandler]> = [
  ["GET kills", kills],
  ["POST kill", kill],
  ["POST revive", revive],
];
