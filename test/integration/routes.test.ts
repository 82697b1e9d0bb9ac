// The HTTP surface entry by entry (src/http/routes.ts), against a real gateway with the embedded
// issuer: who answers each path, with which status, headers and body.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { authGatewayConfig } from "../e2e/oauth-client.js";
import { startGateway, type Gateway } from "../helpers/gateway.js";
import { initializeRequest, mcpHeaders, raw } from "../helpers/http.js";

describe("the HTTP surface", () => {
  let gw: Gateway;
  const get = (path: string, headers: Record<string, string> = {}) =>
    raw(`${gw.url}${path}`, { method: "GET", headers });
  const FOREIGN_HOST = { host: "evil.example" };

  before(async () => {
    gw = await startGateway(await authGatewayConfig());
  });

  after(async () => {
    await gw?.stop();
  });

  test("probes: /healthz and /metrics, without a token", async () => {
    const health = await get("/healthz");
    assert.equal(health.status, 200);
    assert.equal(health.headers["content-type"], "application/json");
    assert.deepEqual(JSON.parse(health.text), { status: "ok" });
    const metrics = await get("/metrics");
    assert.equal(metrics.status, 200);
    assert.equal(metrics.headers["cache-control"], "no-store");
    assert.match(metrics.text, /warden_denials_total/);
  });

  test("the embedded issuer answers its metadata and /oauth/*", async () => {
    const meta = await get("/.well-known/oauth-authorization-server");
    assert.equal(meta.status, 200);
    assert.equal((JSON.parse(meta.text) as { issuer: string }).issuer, gw.url);
    const jwks = await get("/oauth/jwks");
    assert.equal(jwks.status, 200);
    assert.ok(Array.isArray((JSON.parse(jwks.text) as { keys: unknown }).keys));
  });

  test("RFC 9728 metadata: public, cacheable, readable from any origin", async () => {
    const res = await get("/.well-known/oauth-protected-resource/mcp");
    assert.equal(res.status, 200);
    assert.equal(res.headers["access-control-allow-origin"], "*");
    assert.equal(res.headers["cache-control"], "max-age=300");
    assert.equal((JSON.parse(res.text) as { resource: string }).resource, gw.mcpUrl);
  });

  test("a foreign Host is refused 403 by the console, the admin API and the MCP routes, each in its form", async () => {
    const page = await get("/admin", FOREIGN_HOST);
    assert.equal(page.status, 403);
    assert.deepEqual(JSON.parse(page.text), { error: "forbidden: host not allowed" });
    const api = await get("/admin/api/me", FOREIGN_HOST);
    assert.equal(api.status, 403);
    assert.equal((JSON.parse(api.text) as { error: string }).error, "forbidden: host not allowed");
    const mcp = await raw(gw.mcpUrl, {
      headers: mcpHeaders(FOREIGN_HOST),
      body: JSON.stringify(initializeRequest()),
    });
    assert.equal(mcp.status, 403);
    const body = JSON.parse(mcp.text) as { error: { code: number; message: string } };
    assert.deepEqual(body.error, { code: -32600, message: "forbidden: host not allowed" });
  });

  test("an MCP route without a token: 401 with the route's challenge", async () => {
    const res = await raw(gw.serverUrl("recorder"), {
      headers: mcpHeaders(),
      body: JSON.stringify(initializeRequest()),
    });
    assert.equal(res.status, 401);
    assert.match(
      String(res.headers["www-authenticate"]),
      /resource_metadata="[^"]*\/\.well-known\/oauth-protected-resource\/servers\/recorder\/mcp"/,
    );
  });

  test("/ points at the MCP endpoint, the metadata and the console, naming no server", async () => {
    const res = await get("/");
    assert.equal(res.status, 200);
    const body = JSON.parse(res.text) as Record<string, string>;
    assert.equal(body.mcp, gw.mcpUrl);
    assert.equal(body.resource_metadata, `${gw.url}/.well-known/oauth-protected-resource/mcp`);
    assert.equal(body.admin, `${gw.url}/admin/`);
    assert.doesNotMatch(res.text, /recorder/);
    const post = await raw(`${gw.url}/`, { method: "POST", headers: mcpHeaders(), body: "{}" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, "GET, HEAD");
  });

  test("anything else is 404 not_found, an unknown server's route too", async () => {
    for (const path of ["/nowhere?x=1", "/servers/nope/mcp", "/.well-known/nothing"]) {
      const res = await get(path);
      assert.equal(res.status, 404, path);
      assert.deepEqual(JSON.parse(res.text), { error: "not_found" }, path);
    }
  });
});
