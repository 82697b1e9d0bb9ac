/** Grants of the embedded issuer and API keys: list, and revoke with a reason. */
import { auditedAction } from "../audit/index.js";
import type { AuthServer } from "../authserver/index.js";
import { who, type AdminContext, type AdminHandler } from "./api.js";
import { AdminRefusal, reasonOf, recordedRefusal, stringField } from "./http.js";

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function authServer(ctx: AdminContext): AuthServer {
  if (!ctx.authServer) throw new AdminRefusal(404, "no embedded authorization server");
  return ctx.authServer;
}

const grants: AdminHandler = async (ctx) => ({
  body: {
    grants: (await authServer(ctx).grants()).map((g) => ({
      id: g.id,
      account_id: g.accountId,
      client_id: g.clientId,
      client_name: g.clientName ?? null,
      scopes: g.scopes,
      resources: g.resources,
      created_at: iso(g.createdAt),
      expires_at: iso(g.expiresAt),
    })),
  },
});

/** As a user's own revocation: the grant and every token it issued; `grant_revoked` is recorded too. */
const revokeGrant: AdminHandler = async (ctx, { caller, body }) => {
  const server = authServer(ctx);
  const id = stringField(body, "id", 200);
  const why = reasonOf(body);
  const revoked = await auditedAction(ctx.gateway.audit, who(caller), "grant_revoke", async () => {
    const r = await server.revokeGrant(id, `revoked by ${caller.sub}: ${why}`.slice(0, 600));
    const detail = r
      ? { id, client_id: r.clientId, user: r.accountId, tokens: r.tokens, access_tokens: r.accessTokens, why }
      : { id, why };
    return { result: r !== undefined, detail, status: r ? "ok" : "not_found" };
  });
  if (!revoked) throw recordedRefusal(404, "no such grant");
  return { body: { revoked: id } };
};

const keys: AdminHandler = async (ctx) => ({
  body: {
    keys: (await ctx.apiKeys.list()).map((k) => ({
      id: k.id,
      name: k.name,
      scopes: k.scopes,
      created_at: k.createdAt,
      expires_at: k.expiresAt,
      revoked_at: k.revokedAt,
    })),
  },
});

/** The same store and `apikey_revoke` event as `mcp-warden apikey revoke`; the key fails from the next request. */
const revokeKey: AdminHandler = async (ctx, { caller, body }) => {
  const id = stringField(body, "id", 100);
  const why = reasonOf(body);
  const revoked = await auditedAction(ctx.gateway.audit, who(caller), "apikey_revoke", async () => {
    const done = await ctx.apiKeys.revoke(id);
    return { result: done, detail: { id, why }, status: done ? "ok" : "not_found" };
  });
  if (!revoked) throw recordedRefusal(404, "no active API key with this id");
  return { body: { revoked: id } };
};

export const authRoutes: ReadonlyArray<[string, AdminHandler]> = [
  ["GET grants", grants],
  ["POST grants/revoke", revokeGrant],
  ["GET keys", keys],
  ["POST keys/revoke", revokeKey],
];
