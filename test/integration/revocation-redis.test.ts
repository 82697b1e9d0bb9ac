// Two gateway processes sharing Redis (and one public URL and signing key) but no Postgres: each
// embedded authorization server keeps its grants in its own SQLite, and the revocation feed in
// Redis carries revocations across. An access token revoked at A, by RFC 7009 or with its grant
// after refresh-token reuse, is refused at B too.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import { makeTempDir, startGateway, type Gateway } from "../helpers/gateway.js";
import { initializeRequest, mcpHeaders, raw } from "../helpers/http.js";
import { freePort } from "../helpers/upstreams.js";
import { waitFor } from "../helpers/wait.js";
import {
  FormBrowser,
  ROBOT,
  authGatewayConfig,
  authorize,
  authorizeUrl,
  pkcePair,
  registerPublicClient,
  tokenRequest,
  type Registered,
} from "../e2e/oauth-client.js";

const REDIS = "redis://127.0.0.1:6379";
// Never contacted: the scripted browser stops at the first redirect off the issuer's origin.
const CALLBACK = "http://127.0.0.1:9/callback";

/** What an instance answers to an MCP initialize with this bearer token: 200 or 401. */
async function access(gw: Gateway, token: string): Promise<number> {
  const authorization = `Bearer ${token}`;
  const res = await raw(gw.mcpUrl, {
    headers: mcpHeaders({ authorization }),
    body: JSON.stringify(initializeRequest()),
  });
  const session = res.headers["mcp-session-id"];
  if (typeof session === "string") {
    await raw(gw.mcpUrl, { method: "DELETE", headers: mcpHeaders({ authorization }, session) });
  }
  return res.status;
}

describe("two instances on one Redis without Postgres: revocations are shared", () => {
  const prefix = `trev${process.pid}_${Date.now()}:`;
  const dir = makeTempDir("warden-rev-redis-");
  let a: Gateway;
  let b: Gateway;
  let resource: string;

  before(async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const instance = async (name: string, port: number) => {
      const config = await authGatewayConfig({
        stateFile: join(dir, `${name}.db`),
        recordFile: join(dir, `${name}.jsonl`),
      });
      return {
        ...config,
        gateway: { listen: `127.0.0.1:${port}`, public_url: `http://127.0.0.1:${portA}` },
        state: { sqlite: join(dir, `${name}.db`), redis: REDIS, redis_prefix: prefix },
        auth: { ...(config.auth as object), signing_key_file: join(dir, "signing.jwk") },
      };
    };
    a = await startGateway(await instance("a", portA));
    b = await startGateway(await instance("b", portB));
    resource = `http://127.0.0.1:${portA}/mcp`;
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    const redis = new Redis(REDIS);
    const keys: string[] = [];
    let cursor = "0";
    do {
      const [next, batch] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== "0");
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  });

  test("a client_credentials token revoked at A (RFC 7009) is refused at B", async () => {
    const basic = `Basic ${Buffer.from(`${ROBOT.id}:${ROBOT.secret}`).toString("base64")}`;
    const issued = await tokenRequest(
      a.url,
      { grant_type: "client_credentials", scope: "demo:use", resource },
      { id: ROBOT.id, secret: ROBOT.secret },
    );
    assert.equal(issued.status, 200, JSON.stringify(issued.body));
    const token = issued.body.access_token!;
    assert.equal(await access(b, token), 200, "B accepts a token A issued");
    assert.equal(await access(a, token), 200);

    const res = await fetch(`${a.url}/oauth/revoke`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic },
      body: new URLSearchParams({ token, token_type_hint: "access_token" }).toString(),
    });
    assert.equal(res.status, 200, await res.text());
    assert.equal(await access(a, token), 401);
    await waitFor(async () => (await access(b, token)) === 401, {
      timeoutMs: 5_000,
      what: "B refuses the token revoked at A",
    });
  });

  test("refresh-token reuse at A revokes the grant's access tokens at B too", async () => {
    const client: Registered = await registerPublicClient(a.url, CALLBACK);
    const { verifier, challenge } = pkcePair();
    const out = await authorize(
      new FormBrowser(a.url),
      authorizeUrl(a.url, {
        clientId: client.client_id,
        redirectUri: CALLBACK,
        scope: "demo:use",
        resource,
        challenge,
        method: "S256",
      }),
      { user: "alice" },
    );
    assert.ok(out.code, "no code");
    const first = await tokenRequest(a.url, {
      grant_type: "authorization_code",
      code: out.code,
      code_verifier: verifier,
      redirect_uri: CALLBACK,
      client_id: client.client_id,
      resource,
    });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const refresh = (token: string) =>
      tokenRequest(a.url, {
        grant_type: "refresh_token",
        refresh_token: token,
        client_id: client.client_id,
        resource,
      });
    const second = await refresh(first.body.refresh_token!);
    assert.equal(second.status, 200, JSON.stringify(second.body));
    const rotated = second.body.access_token!;
    assert.equal(await access(b, rotated), 200);
    assert.equal(await access(b, first.body.access_token!), 200);

    const reuse = await refresh(first.body.refresh_token!);
    assert.equal(reuse.body.error, "invalid_grant");
    assert.equal(await access(a, rotated), 401);
    await waitFor(
      async () => (await access(b, rotated)) === 401 && (await access(b, first.body.access_token!)) === 401,
      { timeoutMs: 5_000, what: "B refuses every access token of the grant revoked at A" },
    );
  });
});
