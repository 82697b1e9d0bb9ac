// Redirect URIs per authorization server (RFC 9700 §4.4, the mix-up attack), in-process against a
// real HTTP server that plays authorization servers' registration endpoints. Which client the
// gateway is at each authorization server and which redirect URI goes with it: a registered
// client gets its own per issuer (and is registered again when a stored one lacks it), the CIMD
// client only where the answer names its issuer (RFC 9207 `iss`), a configured client the shared
// one its operator registered.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { after, before, describe, test } from "node:test";
import pino from "pino";
import { StateKey } from "../../src/state/sealed.js";
import { StateStore } from "../../src/state/store.js";
import {
  UpstreamAuthError,
  CALLBACK_PATHS,
  issuerTag,
  type OAuthUserAuth,
  type ServerInfo,
} from "../../src/upstreams/oauth-user/authorization.js";
import { SqliteConnectionStore, type ConnectionStore } from "../../src/upstreams/oauth-user/store.js";
import { serverInfo, upstreamAuthorization } from "../helpers/oauth-user.js";

describe("redirect URIs per authorization server", () => {
  let server: Server;
  let origin: string;
  /** Every registration request: the issuer it went to and the redirect URIs asked for. */
  const registrations: Array<{ as: string; redirect_uris: string[] }> = [];
  /** What the registration endpoint answers with instead of echoing (when set). */
  let registeredInstead: string[] | null | undefined;

  before(async () => {
    server = createServer((req, res) => {
      const as = /^\/(as\d)\/register$/.exec(new URL(req.url ?? "/", "http://x").pathname)?.[1];
      let body = "";
      req.on("data", (c: Buffer) => (body += c));
      req.on("end", () => {
        if (!as || req.method !== "POST") return void res.writeHead(404).end();
        const asked = JSON.parse(body) as { redirect_uris: string[] };
        registrations.push({ as, redirect_uris: asked.redirect_uris });
        const n = registrations.length;
        const answer: Record<string, unknown> = { ...asked, client_id: `${as}-client-${n}` };
        if (registeredInstead === null) delete answer.redirect_uris;
        else if (registeredInstead !== undefined) answer.redirect_uris = registeredInstead;
        res.writeHead(201, { "content-type": "application/json" }).end(JSON.stringify(answer));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(() => server.close());

  const key = StateKey.ephemeral();
  const log = pino({ level: "silent" });
  const authorization = (auth: Partial<OAuthUserAuth> = {}, store?: ConnectionStore) =>
    upstreamAuthorization({
      origin,
      key,
      log,
      base: "https://gw.example/warden",
      auth,
      ...(store ? { store } : {}),
    });
  /** An authorization server's metadata: `dcr` (a registration endpoint), `cimd`, `iss`. */
  const info = (as: string, has: { dcr?: boolean; cimd?: boolean; iss?: boolean }): ServerInfo =>
    serverInfo(origin, as, {
      ...(has.dcr ? { registration_endpoint: `${origin}/${as}/register` } : {}),
      ...(has.cimd ? { client_id_metadata_document_supported: true } : {}),
      ...(has.iss ? { authorization_response_iss_parameter_supported: true } : {}),
    });

  test("each authorization server a client is registered at gets its own redirect URI, and only that one", async () => {
    registrations.length = 0;
    const a = authorization();
    const one = await a.client(info("as1", { dcr: true }));
    const two = await a.client(info("as2", { dcr: true, iss: true }));
    assert.equal(one.redirectUri, `https://gw.example/warden/connect/cb/${issuerTag(`${origin}/as1`)}`);
    assert.equal(two.redirectUri, `https://gw.example/warden/connect/cb/${issuerTag(`${origin}/as2`)}`);
    assert.notEqual(one.redirectUri, two.redirectUri);
    assert.deepEqual(registrations, [
      { as: "as1", redirect_uris: [one.redirectUri] },
      { as: "as2", redirect_uris: [two.redirectUri] },
    ]);
    // `iss` is required where the server says it sends it.
    assert.equal(one.issRequired, false);
    assert.equal(two.issRequired, true);
    // Kept: the next connect registers nothing.
    assert.equal((await a.client(info("as1", { dcr: true }))).client.client_id, one.client.client_id);
    assert.equal(registrations.length, 2);
    // A look-alike issuer is another authorization server: another redirect URI.
    assert.notEqual(issuerTag(`${origin}/as1`), issuerTag(`${origin}/as1/`));
    // None is below another, nor below the shared one a configured client uses: an authorization
    // server that takes redirect URIs "under" a registered one cannot reach another's.
    for (const uri of [one.redirectUri, two.redirectUri, a.cimdRedirectUri])
      for (const other of [one.redirectUri, two.redirectUri, a.cimdRedirectUri, a.redirectUri])
        if (uri !== other) assert.ok(!uri.startsWith(other), `${uri} is under ${other}`);
    // The callback route takes each, and the path it sees (the public URL's path stripped) is exact.
    for (const uri of [one.redirectUri, two.redirectUri, a.cimdRedirectUri, a.redirectUri])
      assert.match(a.routePathOf(uri), CALLBACK_PATHS);
    for (const path of [
      `${a.routePathOf(one.redirectUri)}/`,
      `${a.routePathOf(one.redirectUri)}x`,
      "/connect/callback/cimd",
      "/connect/cb/cimd/",
      "/connect/cb/CIMD",
      "/connect/cb/as-short",
    ])
      assert.doesNotMatch(path, CALLBACK_PATHS);
  });

  test("a client stored with the shared redirect URI is registered again, once; the old one stays known to its connections", async () => {
    registrations.length = 0;
    const store = new SqliteConnectionStore(StateStore.open(":memory:").db);
    const issuer = `${origin}/as1`;
    const old = {
      client_id: "old-client",
      client_secret: "old-secret",
      redirect_uris: ["https://gw.example/warden/connect/callback"],
    };
    await store.saveClient(issuer, key.seal(JSON.stringify(old), `upstream_client:${issuer}`));
    const a = authorization({}, store);
    const choice = await a.client(info("as1", { dcr: true }));
    assert.notEqual(choice.client.client_id, "old-client");
    assert.equal(registrations.length, 1);
    await a.client(info("as1", { dcr: true }));
    assert.equal(registrations.length, 1);
    // A connection made with the old client still refreshes and revokes with its secret.
    assert.deepEqual(await a.knownClient(issuer, "old-client"), old);
    assert.equal((await a.knownClient(issuer, choice.client.client_id))?.client_id, choice.client.client_id);
    assert.equal(await a.knownClient(issuer, "never-registered"), undefined);
    assert.equal(await a.knownClient(`${origin}/as2`, "old-client"), undefined);
    // Stored as the client itself with the earlier ones beside it: what a release before this one
    // reads as its client (and registers again, its redirect URI being another), not a new shape.
    const sealed = (await store.client(issuer)) as string;
    const raw = JSON.parse(key.open(sealed, `upstream_client:${issuer}`)) as Record<string, unknown>;
    assert.equal(raw.client_id, choice.client.client_id);
    assert.deepEqual(raw.previous_clients, [old]);
    assert.ok(
      !("previous_clients" in choice.client),
      "the earlier clients went upstream with the current one",
    );
  });

  test("a stored client with no record of its redirect URIs is registered again", async () => {
    registrations.length = 0;
    const store = new SqliteConnectionStore(StateStore.open(":memory:").db);
    const issuer = `${origin}/as1`;
    await store.saveClient(
      issuer,
      key.seal(JSON.stringify({ client_id: "unknown-redirects" }), `upstream_client:${issuer}`),
    );
    const a = authorization({}, store);
    const choice = await a.client(info("as1", { dcr: true }));
    assert.notEqual(choice.client.client_id, "unknown-redirects");
    assert.equal(registrations.length, 1);
    assert.equal((await a.client(info("as1", { dcr: true }))).client.client_id, choice.client.client_id);
    assert.equal(registrations.length, 1);
  });

  test("an authorization server that registers other redirect URIs than asked, more, or none is refused, and nothing is kept", async () => {
    const own = `https://gw.example/warden/connect/cb/${issuerTag(`${origin}/as1`)}`;
    // Another, none, and the one asked for with another (the shared one: a configured client's).
    for (const instead of [
      ["https://gw.example/warden/connect/callback"],
      null,
      [own, "https://gw.example/warden/connect/callback"],
    ]) {
      const store = new SqliteConnectionStore(StateStore.open(":memory:").db);
      registeredInstead = instead;
      try {
        await assert.rejects(authorization({}, store).client(info("as1", { dcr: true })), UpstreamAuthError);
      } finally {
        registeredInstead = undefined;
      }
      assert.equal(await store.client(`${origin}/as1`), undefined);
    }
  });

  test("the CIMD client is used only where the answer names its issuer; elsewhere registration, else a refusal", async () => {
    registrations.length = 0;
    const a = authorization();
    const cimd = await a.client(info("as1", { cimd: true, iss: true, dcr: true }));
    assert.equal(cimd.client.client_id, "https://gw.example/warden/connect/client-metadata.json");
    assert.equal(cimd.redirectUri, "https://gw.example/warden/connect/cb/cimd");
    assert.equal(cimd.issRequired, true);
    assert.equal(registrations.length, 0);
    // The document names that redirect URI and no other.
    assert.deepEqual(a.cimdDocument().redirect_uris, [cimd.redirectUri]);

    const registered = await a.client(info("as2", { cimd: true, dcr: true }));
    assert.equal(registered.client.client_id, "as2-client-1");
    assert.equal(
      registered.redirectUri,
      `https://gw.example/warden/connect/cb/${issuerTag(`${origin}/as2`)}`,
    );

    await assert.rejects(a.client(info("as3", { cimd: true })), /does not say it sends iss/);
    // Refused before anything went upstream: no registration anywhere but as2's.
    assert.deepEqual(
      registrations.map((r) => r.as),
      ["as2"],
    );
  });

  test("a configured client keeps the shared redirect URI its operator registered", async () => {
    const a = authorization({ client_id: "warden", client_secret: "s3cret", issuer: `${origin}/as1` });
    const choice = await a.client(info("as1", { cimd: true, iss: true, dcr: true }));
    assert.deepEqual(choice.client, { client_id: "warden", client_secret: "s3cret" });
    assert.equal(choice.redirectUri, "https://gw.example/warden/connect/callback");
    assert.equal(choice.issRequired, true);
    assert.equal((await a.client(info("as1", {}))).issRequired, false);
  });
});
