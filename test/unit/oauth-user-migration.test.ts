// An oauth_user server that moves to another authorization server (SEP-2352), in-process against
// a real HTTP server that plays the MCP server (401 with `resource_metadata`), its protected-resource
// metadata and two authorization servers' metadata. What a 401 may make the gateway fetch again
// (past the discovery cache, at most once per interval however many calls are refused), and which
// authorization server a configured client (`auth.client_id`) is ever presented to: its own only,
// `auth.issuer` or the first one discovered, recorded in the state store so a restart keeps it.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { after, before, describe, test } from "node:test";
import pino from "pino";
import { StateKey } from "../../src/state/sealed.js";
import { StateStore } from "../../src/state/store.js";
import {
  UpstreamAuthError,
  type OAuthUserAuth,
  type ServerInfo,
} from "../../src/upstreams/oauth-user/authorization.js";
import { SqliteConnectionStore, type ConnectionStore } from "../../src/upstreams/oauth-user/store.js";
import { serverInfo, upstreamAuthorization } from "../helpers/oauth-user.js";

describe("an oauth_user server's authorization server", () => {
  let server: Server;
  let origin: string;
  /** Which authorization server the metadata names; "fail" answers 500. */
  let names: "as1" | "as2" | "fail" = "as1";
  let metadataReads = 0;

  before(async () => {
    server = createServer((req, res) => {
      const path = new URL(req.url ?? "/", origin).pathname;
      const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { "content-type": "application/json", ...headers });
        res.end(JSON.stringify(body));
      };
      if (path === "/mcp")
        return json(
          401,
          { error: "invalid_token" },
          {
            "www-authenticate": `Bearer resource_metadata="${origin}/.well-known/oauth-protected-resource/mcp"`,
          },
        );
      if (path === "/.well-known/oauth-protected-resource/mcp") {
        metadataReads++;
        if (names === "fail") return json(500, { error: "down" });
        return json(200, { resource: `${origin}/mcp`, authorization_servers: [`${origin}/${names}`] });
      }
      const as = /^\/\.well-known\/oauth-authorization-server\/(as[12])$/.exec(path)?.[1];
      if (as)
        return json(200, {
          issuer: `${origin}/${as}`,
          authorization_endpoint: `${origin}/${as}/authorize`,
          token_endpoint: `${origin}/${as}/token`,
          response_types_supported: ["code"],
          code_challenge_methods_supported: ["S256"],
          client_id_metadata_document_supported: true,
        });
      json(404, { error: "not_found" });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(() => server.close());

  const key = StateKey.ephemeral();
  const warnings: string[] = [];
  const log = pino({ level: "warn" }, { write: (line: string) => void warnings.push(line) });
  const authorization = (auth: Partial<OAuthUserAuth>, store?: ConnectionStore, clientMetadataUrl?: string) =>
    upstreamAuthorization({
      origin,
      key,
      log,
      base: "https://gw.example",
      auth,
      ...(store ? { store } : {}),
      ...(clientMetadataUrl ? { clientMetadataUrl } : {}),
    });
  const info = (as: "as1" | "as2"): ServerInfo =>
    serverInfo(origin, as, {
      client_id_metadata_document_supported: true,
      authorization_response_iss_parameter_supported: true,
    });

  test("the user's browser is sent only to an https (or loopback http) authorization endpoint", async () => {
    const a = authorization({});
    const at = (authorization_endpoint: string): ServerInfo => ({
      ...info("as1"),
      metadata: { ...info("as1").metadata, authorization_endpoint },
    });
    const client = {
      client: { client_id: "https://gw.example/connect/client-metadata.json" },
      redirectUri: "https://gw.example/connect/cb/cimd",
      issRequired: true,
    };
    for (const endpoint of [
      "http://10.255.255.1/authorize",
      "http://as.example/authorize",
      "https://user:pass@as.example/authorize",
    ])
      await assert.rejects(a.start(at(endpoint), client, "state-1"), UpstreamAuthError, endpoint);
    for (const endpoint of ["https://as.example/authorize", `${origin}/as1/authorize`]) {
      const { url } = await a.start(at(endpoint), client, "state-2");
      assert.ok(url.startsWith(`${endpoint}?`), url);
    }
  });

  test("a 401 re-reads the metadata past the cache, once per interval however many calls are refused", async () => {
    names = "as1";
    metadataReads = 0;
    const a = authorization({});
    assert.equal((await a.serverInfo()).issuer, `${origin}/as1`);
    assert.equal(metadataReads, 1);
    names = "as2";
    assert.equal(
      (await a.serverInfo()).issuer,
      `${origin}/as1`,
      "the cache serves calls that were not refused",
    );
    assert.equal(metadataReads, 1);
    assert.equal((await a.rediscover()).issuer, `${origin}/as2`);
    assert.equal(metadataReads, 2);
    const many = await Promise.all(Array.from({ length: 20 }, () => a.rediscover()));
    assert.ok(many.every((i) => i.issuer === `${origin}/as2`));
    assert.equal(metadataReads, 2, "a 401 on every call made the gateway fetch metadata for every call");
    assert.equal((await a.serverInfo()).issuer, `${origin}/as2`, "the next connect goes to the new one");
  });

  test("a failed re-read fails the refused calls closed until the interval is over, without fetching again", async () => {
    names = "fail";
    metadataReads = 0;
    const a = authorization({});
    await assert.rejects(a.rediscover(), UpstreamAuthError);
    await assert.rejects(a.rediscover(), UpstreamAuthError);
    await assert.rejects(a.rediscover(), UpstreamAuthError);
    assert.equal(metadataReads, 1);
    names = "as1";
  });

  test("a configured client is presented to the first issuer discovered only, across a restart", async () => {
    warnings.length = 0;
    const store = new SqliteConnectionStore(StateStore.open(":memory:").db);
    const a = authorization({ client_id: "warden", client_secret: "s3cret" }, store);
    assert.deepEqual((await a.client(info("as1"))).client, { client_id: "warden", client_secret: "s3cret" });
    // At the new authorization server the gateway is a client as if none were configured (here CIMD).
    assert.deepEqual((await a.client(info("as2"))).client, {
      client_id: "https://gw.example/connect/client-metadata.json",
    });
    assert.equal(await a.knownClient(`${origin}/as2`, "warden"), undefined);
    assert.deepEqual(await a.knownClient(`${origin}/as1`, "warden"), {
      client_id: "warden",
      client_secret: "s3cret",
    });
    // Logged once per issuer, without the secret.
    await a.client(info("as2"));
    const logged = warnings.filter((l) => l.includes("belongs to another authorization server"));
    assert.equal(logged.length, 1);
    assert.ok(!warnings.join("\n").includes("s3cret"));

    // A restart (a new instance on the same store) that meets the new one first still withholds it.
    const restarted = authorization({ client_id: "warden", client_secret: "s3cret" }, store);
    assert.equal((await restarted.client(info("as2"))).client.client_secret, undefined);
    assert.equal((await restarted.client(info("as1"))).client.client_secret, "s3cret");
  });

  test("auth.issuer names the configured client's issuer outright", async () => {
    const a = authorization({ client_id: "warden", client_secret: "s3cret", issuer: `${origin}/as2` });
    assert.equal(
      (await a.client(info("as1"))).client.client_id,
      "https://gw.example/connect/client-metadata.json",
    );
    assert.deepEqual((await a.client(info("as2"))).client, { client_id: "warden", client_secret: "s3cret" });
    assert.equal(await a.knownClient(`${origin}/as1`, "warden"), undefined);
  });

  test("gateway.client_metadata_url is the client id where CIMD is taken", async () => {
    const a = authorization({}, undefined, "https://static.example/warden/client.json");
    const choice = await a.client(info("as1"));
    assert.deepEqual(choice.client, { client_id: "https://static.example/warden/client.json" });
    assert.equal(a.clientMetadataUrl, "https://static.example/warden/client.json");
    // The redirect URI stays the gateway's own, the one the CIMD document names.
    assert.equal(choice.redirectUri, "https://gw.example/connect/cb/cimd");
    assert.deepEqual(a.cimdDocument().redirect_uris, ["https://gw.example/connect/cb/cimd"]);
    assert.equal(a.cimdDocument().client_id, "https://static.example/warden/client.json");
  });
});
