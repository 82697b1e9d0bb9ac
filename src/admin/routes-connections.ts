/** Per-user upstream OAuth: who connected which server, and revoking (never a token value). */
import { who, type AdminHandler } from "./api.js";
import { AdminRefusal, recordedRefusal } from "./http.js";

function text(value: unknown, name: string): string | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string" || value.length > 300) throw new AdminRefusal(400, `${name}: a string`);
  return value;
}

const list: AdminHandler = async (ctx, { query }) => {
  const broker = ctx.gateway.broker;
  if (!broker) return { body: { connections: [], servers: [] } };
  const connections = await broker.list({
    subject: text(query.get("user"), "user"),
    server: text(query.get("server"), "server"),
  });
  return { body: { connections, servers: broker.serverNames() } };
};

/** `{id}`, or `{user?, server?}` with at least one: removes the connections and revokes upstream. */
const revoke: AdminHandler = async (ctx, { caller, body }) => {
  const broker = ctx.gateway.broker;
  if (!broker) throw new AdminRefusal(404, "no server takes per-user OAuth");
  const id = text(body.id, "id");
  const subject = text(body.user, "user");
  const server = text(body.server, "server");
  if (id === undefined && subject === undefined && server === undefined)
    throw new AdminRefusal(400, "name id, user or server");
  await broker.auditReady();
  const revoked = await broker.revoke({ subject, server, ...(id === undefined ? {} : { id }) }, who(caller));
  if (revoked.length === 0) throw recordedRefusal(404, "no such connection");
  return { body: { revoked } };
};

export const connectionRoutes: ReadonlyArray<[string, AdminHandler]> = [
  ["GET connections", list],
  ["POST connections/revoke", revoke],
];
