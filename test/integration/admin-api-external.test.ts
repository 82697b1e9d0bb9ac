// The admin API behind an external IdP: only a token whose audience is the gateway's base URL
// itself is an admin token. One whose audience is an `auth.issuer.audience` entry (accepted on MCP
// routes) or an MCP route is refused 401, whatever its scopes, and nothing it asks for happens.
// The IdP is an in-process fixture on 127.0.0.1 (metadata and JWKS).
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from "jose";
import { recorderStdio } from "../helpers/configs.js";
import { makeTempDir, startGateway, type Gateway } from "../helpers/gateway.js";
import { initializeRequest, mcpHeaders } from "../helpers/http.js";
import { freePort } from "../helpers/upstreams.js";

type Json = Record<string, unknown>;
const EXTRA_AUDIENCE = "api://warden";

describe("admin API with an external IdP", () => {
  let idp: Server;
  let idpUrl: string;
  let key: CryptoKey;
  let gw: Gateway;
  let base: string;

  before(async () => {
    const pair = await generateKeyPair("ES256");
    key = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256", use: "sig" };
    idp = createServer((req, res) => {
      const send = (status: number, body: unknown) =>
        res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
      if (req.url === "/.well-known/oauth-authorization-server")
        return send(200, {
          issuer: idpUrl,
          jwks_uri: `${idpUrl}/jwks`,
          token_endpoint: `${idpUrl}/token`,
          authorization_endpoint: `${idpUrl}/authorize`,
        });
      if (req.url === "/jwks") return send(200, { keys: [jwk] });
      send(404, {});
    });
    await new Promise<void>((r) => idp.listen(0, "127.0.0.1", r));
    idpUrl = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
    const dir = makeTempDir("warden-admin-idp-");
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    gw = await startGateway({
      gateway: { listen: `127.0.0.1:${port}` },
      state: { sqlite: join(dir, "state.db") },
      auth: { issuer: { url: idpUrl, audience: [EXTRA_AUDIENCE] } },
      servers: [recorderStdio("rec", join(dir, "rec.jsonl"), { echo: ["demo:use"] })],
    });
  });

  after(async () => {
    await gw?.stop();
    idp?.close();
  });

  const jwt = (aud: string, scope = "warden:admin demo:use") => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: idpUrl, sub: "ops", aud, scope, iat: now, exp: now + 300 })
      .setProtectedHeader({ alg: "ES256", kid: "k1" })
      .sign(key);
  };
  const api = async (method: "GET" | "POST", path: string, token: string, body?: unknown) => {
    const res = await fetch(`${base}/admin/api/${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Json };
  };
  const mcpStatus = async (token: string) => {
    const res = await fetch(`${base}/mcp`, {
      method: "POST",
      headers: mcpHeaders({ authorization: `Bearer ${token}` }),
      body: JSON.stringify(initializeRequest()),
    });
    await res.arrayBuffer();
    return res.status;
  };

  test("a token for the base URL is an admin token", async () => {
    const me = await api("GET", "me", await jwt(base));
    assert.equal(me.status, 200, JSON.stringify(me.body));
    assert.deepEqual(me.body, { sub: "ops", auth: "bearer", scopes: ["warden:admin", "demo:use"] });
  });

  test("a token for an extra audience or an MCP route is refused 401 and kills nothing", async () => {
    const admin = await jwt(base);
    for (const aud of [EXTRA_AUDIENCE, `${base}/mcp`]) {
      const token = await jwt(aud);
      // Valid where it belongs: the MCP route takes it.
      assert.equal(await mcpStatus(token), 200, aud);
      assert.equal((await api("GET", "me", token)).status, 401, aud);
      const kill = await api("POST", "kill", token, { scope: "all", target: "", reason: "wrong audience" });
      assert.equal(kill.status, 401, aud);
      assert.deepEqual((await api("GET", "kills", admin)).body, { kills: [] }, aud);
    }
    const denied = (await api("GET", "audit?event=denied", admin)).body.events as Json[];
    assert.ok(
      denied.filter((e) => e.method === "POST /admin/api/kill" && e.reason === "authentication").length >= 2,
      JSON.stringify(denied),
    );
  });

  test("config: no console client without admin.client_id, no bootstrap token", async () => {
    const config = (await (await fetch(`${base}/admin/api/config`)).json()) as Json;
    assert.deepEqual(config, {
      issuer: idpUrl,
      authorization_endpoint: null,
      token_endpoint: null,
      client_id: null,
      redirect_uri: `${base}/admin/`,
      resource: base,
      scope: "warden:admin",
      bootstrap: false,
    });
  });
});
