// An external IdP (auth.issuer: { url, … }): the gateway discovers its metadata and JWKS, checks
// issuer and audience, points clients at it in RFC 9728 metadata, and uses RFC 7662 introspection
// for opaque tokens. The IdP is an in-process fixture on 127.0.0.1. A source past its budget of
// refused tokens costs the IdP nothing more: its tokens are refused before they are introspected.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import { sendFrom, type RawAnswer } from "../helpers/sources.js";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from "jose";
import { connectClient, textOf } from "../helpers/client.js";
import { recorderStdio } from "../helpers/configs.js";
import { makeTempDir, startGateway, type Gateway } from "../helpers/gateway.js";
import { initializeRequest, mcpHeaders, parseMessages, raw, rpcError } from "../helpers/http.js";
import { freePort } from "../helpers/upstreams.js";

interface Idp {
  url: string;
  server: Server;
  key: CryptoKey;
  kid: string;
  introspections: number;
  jwksFetches: number;
  active: Map<string, Record<string, unknown>>;
}

async function startIdp(): Promise<Idp> {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "idp-key-1", alg: "ES256", use: "sig" };
  const idp: Idp = {
    url: "",
    server: undefined as never,
    key: privateKey,
    kid: "idp-key-1",
    introspections: 0,
    jwksFetches: 0,
    active: new Map(),
  };
  idp.server = createServer((req, res) => {
    const send = (status: number, body: unknown) =>
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    if (req.url === "/.well-known/oauth-authorization-server") {
      return send(200, {
        issuer: idp.url,
        jwks_uri: `${idp.url}/jwks`,
        token_endpoint: `${idp.url}/token`,
        authorization_endpoint: `${idp.url}/authorize`,
      });
    }
    if (req.url === "/jwks") {
      idp.jwksFetches++;
      return send(200, { keys: [jwk] });
    }
    if (req.url === "/introspect" && req.method === "POST") {
      idp.introspections++;
      if (req.headers.authorization !== `Basic ${Buffer.from("warden:introspect-secret").toString("base64")}`)
        return send(401, {});
      let body = "";
      req.on("data", (c: Buffer) => (body += c));
      req.on("end", () => {
        const token = new URLSearchParams(body).get("token") ?? "";
        send(200, idp.active.get(token) ?? { active: false });
      });
      return;
    }
    send(404, {});
  });
  await new Promise<void>((r) => idp.server.listen(0, "127.0.0.1", r));
  idp.url = `http://127.0.0.1:${(idp.server.address() as AddressInfo).port}`;
  return idp;
}

describe("external IdP", () => {
  let idp: Idp;
  let gw: Gateway;
  let base: string;

  before(async () => {
    idp = await startIdp();
    const dir = makeTempDir("warden-idp-");
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    gw = await startGateway({
      gateway: { listen: `127.0.0.1:${port}` },
      state: { sqlite: join(dir, "state.db") },
      auth: {
        issuer: {
          url: idp.url,
          audience: ["api://warden"],
          introspection: {
            url: `${idp.url}/introspect`,
            client_id: "warden",
            client_secret: "introspect-secret",
          },
        },
      },
      servers: [recorderStdio("recorder", join(dir, "rec.jsonl"), { echo: ["demo:use"] })],
    });
  });

  after(async () => {
    await gw?.stop();
    idp?.server.close();
  });

  function jwt(claims: Record<string, unknown>, key: CryptoKey = idp.key, kid = idp.kid): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      iss: idp.url,
      sub: "carol",
      aud: `${base}/mcp`,
      scope: "demo:use",
      iat: now,
      exp: now + 300,
      ...claims,
    })
      .setProtectedHeader({ alg: "ES256", kid })
      .sign(key);
  }

  const init = (token: string) =>
    raw(`${base}/mcp`, {
      headers: mcpHeaders({ authorization: `Bearer ${token}` }),
      body: JSON.stringify(initializeRequest()),
    });

  test("the route's metadata points clients at the IdP", async () => {
    const doc = (await (await fetch(`${base}/.well-known/oauth-protected-resource/mcp`)).json()) as Record<
      string,
      unknown
    >;
    assert.deepEqual(doc.authorization_servers, [idp.url]);
    assert.equal(
      (await fetch(`${base}/.well-known/oauth-authorization-server`)).status,
      404,
      "no embedded issuer with an external IdP",
    );
  });

  test("a JWT from the IdP, verified against its discovered JWKS, is served; the keys are cached", async () => {
    const c = await connectClient(`${base}/mcp`, { headers: { authorization: `Bearer ${await jwt({})}` } });
    try {
      assert.match(
        textOf(await c.client.callTool({ name: "recorder__echo", arguments: { message: "idp" } })),
        /idp/,
      );
    } finally {
      await c.close();
    }
    for (let i = 0; i < 5; i++) assert.equal((await init(await jwt({}))).status, 200);
    assert.equal(idp.jwksFetches, 1, "the JWKS was fetched again for every token");
  });

  test("a configured extra audience is accepted", async () => {
    assert.equal((await init(await jwt({ aud: "api://warden" }))).status, 200);
  });

  test("refused: wrong audience, wrong issuer, unknown key, a token the IdP did not sign", async () => {
    const { privateKey } = await generateKeyPair("ES256");
    for (const token of [
      await jwt({ aud: `${base}/servers/recorder/mcp` }),
      await jwt({ iss: "https://other-idp.example" }),
      await jwt({}, idp.key, "unknown-kid"),
      await jwt({}, privateKey),
    ]) {
      const res = await init(token);
      assert.equal(res.status, 401);
      assert.match(String(res.headers["www-authenticate"]), /error="invalid_token"/);
    }
  });

  test("opaque tokens: introspected, cached briefly; inactive or wrong-audience ones refused", async () => {
    idp.active.set("opaque-good", {
      active: true,
      sub: "dave",
      scope: "demo:use",
      aud: `${base}/mcp`,
      iss: idp.url,
      exp: Math.floor(Date.now() / 1000) + 300,
    });
    idp.active.set("opaque-elsewhere", {
      active: true,
      sub: "dave",
      scope: "demo:use",
      aud: "https://other.example/mcp",
    });
    const before = idp.introspections;
    assert.equal((await init("opaque-good")).status, 200);
    assert.equal((await init("opaque-good")).status, 200);
    assert.equal(idp.introspections - before, 1, "a second use within the cache window introspected again");
    assert.equal((await init("opaque-unknown")).status, 401);
    assert.equal((await init("opaque-elsewhere")).status, 401);
  });
});

type Answer = RawAnswer;

const sendAs = (localAddress: string, url: string, opts: Parameters<typeof sendFrom>[1]) =>
  sendFrom(url, { ...opts, localAddress });

describe("external IdP: a flood of made-up tokens from one source", () => {
  const BUDGET = 5;
  const FLOODER = "127.0.0.1";
  const OTHER = "127.0.0.2";
  let idp: Idp;
  let gw: Gateway;
  let base: string;

  before(async () => {
    idp = await startIdp();
    const dir = makeTempDir("warden-idp-flood-");
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    gw = await startGateway({
      gateway: { listen: `127.0.0.1:${port}`, source_limits: { failed_auth: `${BUDGET}/min` } },
      state: { sqlite: join(dir, "state.db") },
      auth: {
        issuer: {
          url: idp.url,
          introspection: {
            url: `${idp.url}/introspect`,
            client_id: "warden",
            client_secret: "introspect-secret",
          },
        },
      },
      servers: [recorderStdio("recorder", join(dir, "rec.jsonl"), { echo: ["demo:use"] })],
    });
    for (const token of ["opaque-agent", "opaque-newcomer"]) {
      idp.active.set(token, {
        active: true,
        sub: token,
        scope: "demo:use",
        aud: `${base}/mcp`,
        iss: idp.url,
        exp: Math.floor(Date.now() / 1000) + 600,
      });
    }
  });

  after(async () => {
    await gw?.stop();
    idp?.server.close();
  });

  const init = (from: string, token: string) =>
    sendAs(from, `${base}/mcp`, {
      headers: mcpHeaders({ authorization: `Bearer ${token}` }),
      body: JSON.stringify(initializeRequest()),
    });
  const madeUp = () => `opaque-${randomBytes(12).toString("hex")}`;
  const limitOf = (a: Answer) =>
    (rpcError({ messages: parseMessages(a.text, "application/json") } as never)?.data as { limit?: string })
      ?.limit;

  test("past failed_auth the IdP gets no more introspection requests; a recent agent is served, a new token waits", async () => {
    // An agent in session from the address that is about to flood.
    assert.equal((await init(FLOODER, "opaque-agent")).status, 200);
    const before = idp.introspections;

    const answers: Answer[] = [];
    for (let i = 0; i < 30; i++) answers.push(await init(FLOODER, madeUp()));
    assert.deepEqual(
      answers.map((a) => a.status),
      [...Array<number>(BUDGET).fill(401), ...Array<number>(30 - BUDGET).fill(429)],
    );
    for (const a of answers.slice(BUDGET)) {
      assert.equal(limitOf(a), "failed_auth");
      assert.ok(Number(a.headers["retry-after"]) >= 1);
    }
    // The refusal that crossed the budget was the last token the IdP was asked about.
    assert.equal(idp.introspections - before, BUDGET + 1, "made-up tokens were introspected past the budget");

    // JWTs and admin API tokens from the cut source cost nothing either: no discovery, no JWKS.
    const { privateKey } = await generateKeyPair("ES256");
    const forged = await new SignJWT({ iss: idp.url, sub: "x", aud: `${base}/mcp` })
      .setProtectedHeader({ alg: "ES256", kid: "made-up" })
      .setExpirationTime("5m")
      .sign(privateKey);
    assert.equal((await init(FLOODER, forged)).status, 429);
    const admin = await sendAs(FLOODER, `${base}/admin/api/me`, {
      method: "GET",
      headers: { authorization: `Bearer ${madeUp()}` },
    });
    assert.equal(admin.status, 429, admin.text);
    assert.equal(idp.jwksFetches, 0, "a cut source's JWT fetched the IdP's keys");
    assert.equal(idp.introspections - before, BUDGET + 1);

    // Verified in the last minute: still served from the cut source.
    assert.equal((await init(FLOODER, "opaque-agent")).status, 200);
    // A good token never seen before waits for the window from there (never asked about), and is
    // served from any other source.
    const newcomer = await init(FLOODER, "opaque-newcomer");
    assert.equal(newcomer.status, 429);
    assert.equal(limitOf(newcomer), "failed_auth");
    assert.equal(idp.introspections - before, BUDGET + 1);
    assert.equal((await init(OTHER, "opaque-newcomer")).status, 200);
    assert.equal(idp.introspections - before, BUDGET + 2);
  });
});
