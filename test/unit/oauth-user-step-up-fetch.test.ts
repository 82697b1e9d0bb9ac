// The fetch an oauth_user connection's transport uses, against a real HTTP server: what a 403
// does. insufficient_scope goes to the broker (its refusal is the answer, and the request is not
// sent again with the same token); a newer token is tried once, and a second insufficient_scope
// with it is refused, never looped on; an unusable challenge never reaches the broker; any other
// 403 is handed to the transport as before. The broker is a stand-in that records what it is told.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { after, before, describe, test } from "node:test";
import type { Principal } from "../../src/auth/principal.js";
import type { HttpServerConfig } from "../../src/config/types.js";
import { GatewayError, upstreamAuthRequired } from "../../src/errors.js";
import { createLogger } from "../../src/log.js";
import { UpstreamCredentials } from "../../src/upstreams/credentials.js";
import type { OAuthUserBroker } from "../../src/upstreams/oauth-user/broker.js";

const STEP_UP = 'Bearer error="insufficient_scope", scope="repo:write"';

describe("a user's token answered 403", () => {
  let server: Server;
  let url: string;
  /** What the server answers next, in order (then 200). */
  let answers: Array<{ status: number; header?: string }> = [];
  let seen: string[] = [];

  before(async () => {
    server = createServer((req, res) => {
      seen.push(req.headers.authorization ?? "");
      const next = answers.shift() ?? { status: 200 };
      res.writeHead(next.status, {
        "content-type": "application/json",
        ...(next.header ? { "www-authenticate": next.header } : {}),
      });
      res.end(JSON.stringify({ jsonrpc: "2.0", id: 1, result: {} }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/mcp`;
  });
  after(() => server.close());

  /** A connection's fetch over a broker stand-in: `stepUp` decides what the broker does. */
  function fetchWith(stepUp: (token: string, scopes: readonly string[]) => Promise<string>) {
    const told: Array<{ token: string; scopes: readonly string[] }> = [];
    const broker = {
      accessToken: async () => "token-1",
      refused: async () => "token-1",
      insufficientScope: async (_s: string, _p: Principal, token: string, scopes: readonly string[]) => {
        told.push({ token, scopes });
        return stepUp(token, scopes);
      },
    } as unknown as OAuthUserBroker;
    const config = {
      name: "remote",
      kind: "streamable_http",
      url,
      headers: {},
      auth: { type: "oauth_user" },
      maxMessageBytes: 1 << 20,
    } as unknown as HttpServerConfig;
    const credentials = new UpstreamCredentials(config, createLogger("silent"), broker);
    const alice = { subject: "alice", method: "jwt" } as unknown as Principal;
    const connection = credentials.forConnection(() => alice);
    const post = () => connection.fetch(url, { method: "POST", body: "{}" });
    return { post, told, connection };
  }

  const refusal = () =>
    upstreamAuthRequired("remote", "insufficient_scope", "more scopes", "http://gw/connect");

  test("insufficient_scope: the broker's refusal is the answer; the request went once", async () => {
    answers = [{ status: 403, header: STEP_UP }];
    seen = [];
    const { post, told, connection } = fetchWith(async () => {
      throw refusal();
    });
    await assert.rejects(
      post(),
      (err: unknown) =>
        err instanceof GatewayError && err.code === -32007 && err.reason === "insufficient_scope",
    );
    assert.deepEqual(told, [{ token: "token-1", scopes: ["repo:write"] }]);
    assert.deepEqual(seen, ["Bearer token-1"]);
    assert.equal(connection.failure?.reason, "insufficient_scope", "the transport can tell what failed");
  });

  test("a newer token is tried once; a second insufficient_scope with it is refused, not looped on", async () => {
    answers = [
      { status: 403, header: STEP_UP },
      { status: 403, header: STEP_UP },
    ];
    seen = [];
    const { post, told } = fetchWith(async (token) => {
      if (token === "token-1") return "token-2";
      throw refusal();
    });
    await assert.rejects(post(), (err: unknown) => err instanceof GatewayError && err.code === -32007);
    assert.deepEqual(seen, ["Bearer token-1", "Bearer token-2"]);
    assert.deepEqual(
      told.map((t) => t.token),
      ["token-1", "token-2"],
    );
    // The newer token passing: its answer is the call's.
    answers = [{ status: 403, header: STEP_UP }];
    seen = [];
    const ok = await fetchWith(async () => "token-2").post();
    assert.equal(ok.status, 200);
    assert.deepEqual(seen, ["Bearer token-1", "Bearer token-2"]);
  });

  test("an unusable challenge fails closed without the broker; another 403 goes to the transport as before", async () => {
    answers = [{ status: 403, header: 'Bearer error="insufficient_scope", scope="a\\"b"' }];
    seen = [];
    const { post, told } = fetchWith(async () => assert.fail("the broker was told"));
    await assert.rejects(
      post(),
      (err: unknown) =>
        err instanceof GatewayError && err.code === -32005 && err.reason === "upstream_auth_failed",
    );
    assert.deepEqual(told, []);
    assert.equal(seen.length, 1);

    answers = [{ status: 403, header: 'Bearer error="invalid_token"' }];
    const res = await fetchWith(async () => assert.fail("the broker was told")).post();
    assert.equal(res.status, 403);
    answers = [{ status: 403 }];
    assert.equal((await fetchWith(async () => assert.fail("the broker was told")).post()).status, 403);
  });
});
