// The resource server on MCP routes: the negative matrix of bearer tokens (each refused with 401
// and a Bearer challenge, and the upstream never sees the call), audience per route, API keys,
// RFC 9728 metadata, and sessions bound to their caller.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWK } from "jose";
import { connectClient, textOf } from "../helpers/client.js";
import { recorderStdio } from "../helpers/configs.js";
import { makeTempDir, runCli, startGateway, writeConfig, type Gateway } from "../helpers/gateway.js";
import { initializeRequest, mcpHeaders, openRawSession, raw } from "../helpers/http.js";
import { receivedMessages } from "../helpers/records.js";
import { freePort } from "../helpers/upstreams.js";

describe("resource server: bearer tokens on MCP routes", () => {
  let gw: Gateway;
  let base: string;
  let configFile: string;
  let recordFile: string;
  let keyFile: string;

  before(async () => {
    const dir = makeTempDir("warden-rs-");
    recordFile = join(dir, "rec.jsonl");
    keyFile = join(dir, "keys", "signing.jwk");
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const config = {
      gateway: { listen: `127.0.0.1:${port}` },
      state: { sqlite: join(dir, "state.db") },
      auth: { signing_key_file: keyFile },
      servers: [recorderStdio("recorder", recordFile, { echo: ["demo:use"], admin_tool: ["demo:admin"] })],
    };
    configFile = writeConfig(config, dir);
    gw = await startGateway(config);
  });

  after(async () => {
    await gw?.stop();
  });

  async function mint(args: string[]): Promise<string> {
    const r = await runCli(["token", "-c", configFile, ...args]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  }

  function initWith(url: string, token: string | undefined) {
    const headers = mcpHeaders(token === undefined ? {} : { authorization: `Bearer ${token}` });
    return raw(url, { headers, body: JSON.stringify(initializeRequest()) });
  }

  async function privateKey(): Promise<JWK & { kid: string }> {
    return (JSON.parse(readFileSync(keyFile, "utf8")) as { keys: Array<JWK & { kid: string }> }).keys[0]!;
  }

  function challenge(res: { headers: Record<string, unknown> }): string {
    return String(res.headers["www-authenticate"] ?? "");
  }

  test("no token: 401 with resource_metadata and scope, and no error code", async () => {
    const res = await initWith(`${base}/mcp`, undefined);
    assert.equal(res.status, 401);
    const c = challenge(res);
    assert.match(
      c,
      /^Bearer resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"/,
    );
    assert.match(c, /scope="demo:admin demo:use"/);
    assert.doesNotMatch(c, /error=/);
  });

  test("the challenge's metadata URL serves RFC 9728 metadata for exactly that route", async () => {
    for (const path of ["/mcp", "/servers/recorder/mcp"]) {
      const res = await initWith(base + path, undefined);
      const url = /resource_metadata="([^"]+)"/.exec(challenge(res))?.[1];
      assert.ok(url, challenge(res));
      const doc = (await (await fetch(url)).json()) as Record<string, unknown>;
      assert.equal(doc.resource, base + path);
      assert.deepEqual(doc.authorization_servers, [base]);
      assert.deepEqual(doc.scopes_supported, ["demo:admin", "demo:use"]);
    }
    const root = (await (await fetch(`${base}/.well-known/oauth-protected-resource`)).json()) as Record<
      string,
      unknown
    >;
    assert.equal(root.resource, base);
  });

  test("a valid token for the route is served, and lists are filtered by its scopes", async () => {
    const token = await mint(["--sub", "alice", "--scope", "demo:use", "--resource", `${base}/mcp`]);
    const c = await connectClient(`${base}/mcp`, { headers: { authorization: `Bearer ${token}` } });
    try {
      const names = (await c.client.listTools()).tools.map((t) => t.name);
      assert.ok(names.includes("recorder__echo"));
      assert.ok(!names.includes("recorder__admin_tool"), "a tool needing a scope the token lacks was listed");
      const r = await c.client.callTool({ name: "recorder__echo", arguments: { message: "hi" } });
      assert.match(textOf(r), /hi/);
    } finally {
      await c.close();
    }
  });

  test("a token whose audience is the public URL is accepted on every route", async () => {
    const token = await mint(["--sub", "alice", "--scope", "demo:use"]);
    for (const path of ["/mcp", "/servers/recorder/mcp"])
      assert.equal((await initWith(base + path, token)).status, 200, path);
  });

  describe("refused tokens (401 invalid_token; the upstream never sees the call)", () => {
    const cases: Array<[string, () => Promise<string>]> = [
      [
        "audience of another route",
        () => mint(["--sub", "a", "--scope", "demo:use", "--resource", `${base}/servers/recorder/mcp`]),
      ],
      [
        "audience of another resource",
        () => mint(["--sub", "a", "--scope", "demo:use", "--resource", "https://elsewhere.example/mcp"]),
      ],
      ["expired", async () => sign(await privateKey(), { exp: Math.floor(Date.now() / 1000) - 3600 })],
      ["another issuer", async () => sign(await privateKey(), { iss: "https://evil.example" })],
      [
        "signed by another key",
        async () => {
          const { privateKey: k } = await generateKeyPair("RS256", { extractable: true });
          return sign({ ...(await exportJWK(k)), kid: (await privateKey()).kid }, {});
        },
      ],
      ["alg none", async () => unsigned({ alg: "none", typ: "JWT" }, claims({}))],
      [
        "HS256 signed with the public key",
        async () => {
          const pub = { ...(await privateKey()) } as Record<string, unknown>;
          for (const m of ["d", "p", "q", "dp", "dq", "qi"]) delete pub[m];
          const header = b64({ alg: "HS256", typ: "JWT", kid: pub.kid });
          const body = b64(claims({}));
          const mac = createHmac("sha256", JSON.stringify(pub))
            .update(`${header}.${body}`)
            .digest("base64url");
          return `${header}.${body}.${mac}`;
        },
      ],
      [
        "tampered payload",
        async () => {
          const good = await mint(["--sub", "alice", "--scope", "demo:use", "--resource", `${base}/mcp`]);
          const [h, p, s] = good.split(".");
          const payload = JSON.parse(Buffer.from(p!, "base64url").toString()) as Record<string, unknown>;
          payload.scope = "demo:use demo:admin";
          return `${h}.${b64(payload)}.${s}`;
        },
      ],
      ["missing sub", async () => sign(await privateKey(), { sub: undefined })],
      ["garbage", async () => "not-a-token"],
      ["unknown API key", async () => "mwk_AAAAAAAAAAAA_bm90LWEta2V5"],
    ];

    for (const [name, make] of cases) {
      test(name, async () => {
        const before = initializations();
        const res = await initWith(`${base}/mcp`, await make());
        assert.equal(res.status, 401, res.text);
        assert.match(challenge(res), /error="invalid_token"/);
        assert.match(challenge(res), /resource_metadata="/);
        assert.equal(res.headers["mcp-session-id"], undefined);
        assert.equal(initializations(), before, "the upstream saw a session from a refused caller");
      });
    }

    /** Sessions the upstream saw opened by this file's raw initialize requests. */
    function initializations(): number {
      return receivedMessages(recordFile).filter(
        (m) =>
          m.method === "initialize" &&
          (m.params?.clientInfo as { name?: string })?.name === "warden-raw-test",
      ).length;
    }

    function claims(over: Record<string, unknown>): Record<string, unknown> {
      const now = Math.floor(Date.now() / 1000);
      return {
        iss: base,
        aud: `${base}/mcp`,
        sub: "mallory",
        scope: "demo:use demo:admin",
        iat: now,
        exp: now + 600,
        ...over,
      };
    }

    async function sign(key: JWK & { kid: string }, over: Record<string, unknown>): Promise<string> {
      const c = claims(over);
      for (const k of Object.keys(c)) if (c[k] === undefined) delete c[k];
      return new SignJWT(c)
        .setProtectedHeader({ alg: "RS256", kid: key.kid })
        .sign(await importJWK(key, "RS256"));
    }

    function b64(v: unknown): string {
      return Buffer.from(JSON.stringify(v)).toString("base64url");
    }

    function unsigned(header: object, body: object): string {
      return `${b64(header)}.${b64(body)}.`;
    }
  });

  test("a session belongs to the caller that opened it", async () => {
    const alice = await mint(["--sub", "alice", "--scope", "demo:use"]);
    const bob = await mint(["--sub", "bob", "--scope", "demo:use"]);
    const session = await openRawSession(`${base}/mcp`, { headers: { authorization: `Bearer ${alice}` } });
    const ping = { jsonrpc: "2.0", id: 3, method: "ping" };
    assert.equal((await session.post(ping)).status, 200);
    assert.equal((await session.post(ping, { authorization: `Bearer ${bob}` })).status, 404);
    assert.equal((await session.post(ping, { authorization: "" })).status, 401);
  });

  test("API keys: created, listed, usable as bearer tokens, revoked at once, expiring", async () => {
    const created = await runCli([
      "apikey",
      "create",
      "-c",
      configFile,
      "--name",
      "ci-bot",
      "--scope",
      "demo:use",
    ]);
    assert.equal(created.code, 0, created.stderr);
    const key = created.stdout.trim();
    assert.match(key, /^mwk_[0-9a-f]{18}_[A-Za-z0-9_-]{43}$/);
    const list = await runCli(["apikey", "list", "-c", configFile, "--json"]);
    const entry = list.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { id: string; name: string; scopes: string[] })
      .find((k) => k.name === "ci-bot");
    assert.ok(entry);
    assert.deepEqual(entry.scopes, ["demo:use"]);
    assert.ok(!list.stdout.includes(key.slice(20)), "the key's secret was listed");

    const c = await connectClient(`${base}/mcp`, { headers: { authorization: `Bearer ${key}` } });
    try {
      const r = await c.client.callTool({ name: "recorder__echo", arguments: { message: "from a key" } });
      assert.match(textOf(r), /from a key/);
    } finally {
      await c.close();
    }
    const revoked = await runCli(["apikey", "revoke", "-c", configFile, entry.id]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal((await initWith(`${base}/mcp`, key)).status, 401);
    const again = await runCli(["apikey", "revoke", "-c", configFile, entry.id]);
    assert.equal(again.code, 1);

    const short = await runCli([
      "apikey",
      "create",
      "-c",
      configFile,
      "--name",
      "brief",
      "--scope",
      "demo:use",
      "--ttl",
      "1ms",
    ]);
    assert.equal(short.code, 0, short.stderr);
    assert.equal((await initWith(`${base}/mcp`, short.stdout.trim())).status, 401);

    // Each change is an admin event in the audit log, with who did it, and never the key itself.
    const audit = await runCli(["audit", "query", "-c", configFile, "--event", "admin", "--json"]);
    assert.equal(audit.code, 0, audit.stderr);
    const actions = audit.stdout
      .trim()
      .split("\n")
      .map(
        (l) =>
          JSON.parse(l) as {
            reason: string;
            status: string;
            principal: { auth: string };
            detail: { id: string };
          },
      );
    assert.deepEqual(
      actions.map((a) => `${a.reason}:${a.status}`),
      ["apikey_create:ok", "apikey_revoke:ok", "apikey_revoke:not_found", "apikey_create:ok"],
    );
    assert.equal(actions[1]?.detail.id, entry.id);
    assert.ok(actions.every((a) => a.principal.auth === "cli"));
    assert.ok(!audit.stdout.includes(key.slice(20)), "an API key reached the audit log");
  });
});
