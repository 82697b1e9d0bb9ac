// The embedded OAuth 2.1 authorization server, run inside the real gateway: metadata, dynamic
// registration policy, the authorization code flow through the login and consent pages (a scripted
// cookie-keeping client; the Chromium run is test/e2e/authserver-browser.test.ts), PKCE, redirect
// URIs, resource indicators, refresh rotation and reuse detection, revocation, client credentials,
// CSRF, sign-in failures, and state kept across a restart.
import assert from "node:assert/strict";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { connectClient, textOf } from "../helpers/client.js";
import { makeTempDir, startGateway, type Gateway } from "../helpers/gateway.js";
import { waitFor } from "../helpers/wait.js";
import {
  FormBrowser,
  ROBOT,
  USERS,
  authGatewayConfig,
  authorize,
  authorizeUrl,
  decodeJwt,
  formEndingWith,
  pkcePair,
  registerClient,
  registerPublicClient,
  revoke,
  tokenRequest,
  type Registered,
  type UserName,
} from "../e2e/oauth-client.js";

// Never contacted: the scripted browser stops at the first redirect off the issuer's origin.
const CALLBACK = "http://127.0.0.1:9/callback";

describe("embedded authorization server", () => {
  let gw: Gateway;
  let base: string;
  let resource: string;
  let client: Registered;

  /** A full authorization as `user`, exchanged for tokens. */
  async function signIn(user: UserName, scope = "demo:use demo:admin", c: Registered = client) {
    const { verifier, challenge } = pkcePair();
    const out = await authorize(
      new FormBrowser(base),
      authorizeUrl(base, {
        clientId: c.client_id,
        redirectUri: CALLBACK,
        scope,
        resource,
        challenge,
        method: "S256",
      }),
      { user },
    );
    assert.ok(out.code, `no code: ${JSON.stringify({ ...out, page: out.page?.html.slice(0, 300) })}`);
    const tokens = await tokenRequest(base, {
      grant_type: "authorization_code",
      code: out.code,
      code_verifier: verifier,
      redirect_uri: CALLBACK,
      client_id: c.client_id,
      resource,
    });
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    return tokens.body as Required<Pick<typeof tokens.body, "access_token" | "refresh_token">> &
      typeof tokens.body;
  }

  function refresh(refreshToken: string, c: Registered = client) {
    return tokenRequest(base, {
      grant_type: "refresh_token",
      refresh_token: refreshToken,
      client_id: c.client_id,
      resource,
    });
  }

  let stateFile: string;
  before(async () => {
    stateFile = join(makeTempDir("warden-as-state-"), "state.db");
    gw = await startGateway(await authGatewayConfig({ stateFile }));
    base = gw.url;
    resource = gw.mcpUrl;
    client = await registerPublicClient(base, CALLBACK);
  });

  after(async () => {
    await gw?.stop();
  });

  test("publishes RFC 8414 metadata with S256 as the only PKCE method", async () => {
    const res = await fetch(`${base}/.well-known/oauth-authorization-server`);
    assert.equal(res.status, 200);
    const meta = (await res.json()) as Record<string, unknown>;
    assert.equal(meta.issuer, base);
    assert.deepEqual(meta.code_challenge_methods_supported, ["S256"]);
    assert.deepEqual(meta.response_types_supported, ["code"]);
    for (const key of [
      "authorization_endpoint",
      "token_endpoint",
      "registration_endpoint",
      "revocation_endpoint",
      "jwks_uri",
    ]) {
      assert.ok(String(meta[key]).startsWith(`${base}/oauth/`), `${key} = ${String(meta[key])}`);
    }
    assert.deepEqual([...(meta.grant_types_supported as string[])].sort(), [
      "authorization_code",
      "client_credentials",
      "refresh_token",
    ]);
    assert.equal(meta.client_id_metadata_document_supported, true);
    assert.equal(meta.authorization_response_iss_parameter_supported, true);
    const oidc = await fetch(`${base}/.well-known/openid-configuration`);
    assert.equal(oidc.status, 200);
    // The gateway's own 401 leads a client here (RFC 9728).
    const prm = (await (await fetch(`${base}/.well-known/oauth-protected-resource/mcp`)).json()) as {
      authorization_servers: string[];
    };
    assert.deepEqual(prm.authorization_servers, [base]);
  });

  test("the issuer's URLs come from its configuration, not from the request's Host header", async () => {
    const res = await fetch(`${base}/.well-known/oauth-authorization-server`, {
      headers: { "x-forwarded-host": "evil.example", "x-forwarded-proto": "https" },
    });
    const meta = (await res.json()) as { token_endpoint: string };
    assert.equal(meta.token_endpoint, `${base}/oauth/token`);
  });

  describe("dynamic client registration", () => {
    test("a public client with a loopback redirect URI is registered; a requested scope is ignored", async () => {
      const { status, body } = await registerClient(base, {
        client_name: "Loopback",
        redirect_uris: ["http://127.0.0.1:33333/cb", "http://localhost/cb", "https://app.example.com/cb"],
        token_endpoint_auth_method: "none",
        scope: "demo:admin",
      });
      assert.equal(status, 201, JSON.stringify(body));
      assert.ok(body.client_id);
      assert.equal(body.client_secret, undefined);
      assert.equal(body.token_endpoint_auth_method, "none");
      assert.equal(body.scope, undefined);
    });

    for (const [what, metadata] of [
      ["an http redirect URI off loopback", { redirect_uris: ["http://app.example.com/cb"] }],
      ["a custom-scheme redirect URI", { redirect_uris: ["myapp://cb"] }],
      ["a redirect URI with credentials", { redirect_uris: ["https://user:pw@app.example.com/cb"] }],
      ["no redirect URI", { redirect_uris: [] }],
      [
        "the client_credentials grant",
        {
          redirect_uris: ["https://app.example.com/cb"],
          grant_types: ["client_credentials"],
          response_types: [],
        },
      ],
      ["the implicit flow", { redirect_uris: ["https://app.example.com/cb"], response_types: ["token"] }],
    ] as const) {
      test(`refuses ${what}`, async () => {
        const { status, body } = await registerClient(base, {
          ...metadata,
          token_endpoint_auth_method: "none",
        });
        assert.equal(status, 400, JSON.stringify(body));
        assert.match(String(body.error), /^invalid_(client_metadata|redirect_uri)$/);
      });
    }
  });

  describe("authorization code with PKCE", () => {
    test("a user signs in, consents, and gets a JWT bound to the resource with only the scopes they hold", async () => {
      const { verifier, challenge } = pkcePair();
      const out = await authorize(
        new FormBrowser(base),
        authorizeUrl(base, {
          clientId: client.client_id,
          redirectUri: CALLBACK,
          scope: "demo:use demo:admin",
          resource,
          challenge,
          method: "S256",
          state: "xyz-state",
        }),
        { user: "alice" },
      );
      assert.deepEqual(out.pages, ["login", "consent"]);
      assert.ok(out.code);
      assert.equal(out.redirect?.searchParams.get("state"), "xyz-state");
      assert.equal(out.redirect?.searchParams.get("iss"), base);

      const tokens = await tokenRequest(base, {
        grant_type: "authorization_code",
        code: out.code,
        code_verifier: verifier,
        redirect_uri: CALLBACK,
        client_id: client.client_id,
        resource,
      });
      assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
      assert.equal(tokens.body.token_type, "Bearer");
      assert.equal(tokens.body.scope, "demo:use");
      assert.ok(tokens.body.refresh_token);
      const { header, payload } = decodeJwt(tokens.body.access_token as string);
      assert.equal(header.alg, "RS256");
      assert.equal(header.typ, "at+jwt");
      assert.ok(header.kid);
      assert.equal(payload.iss, base);
      assert.equal(payload.aud, resource);
      assert.equal(payload.sub, "alice");
      assert.equal(payload.scope, "demo:use", "alice does not hold demo:admin: it must not be granted");
      assert.equal(payload.client_id, client.client_id);
      assert.equal((payload.exp as number) - (payload.iat as number), 300);

      const mcp = await connectClient(resource, {
        headers: { authorization: `Bearer ${tokens.body.access_token}` },
      });
      try {
        const r = await mcp.client.callTool({ name: "recorder__echo", arguments: { message: "via oauth" } });
        assert.equal(textOf(r), "recorder: via oauth");
        const names = (await mcp.client.listTools()).tools.map((t) => t.name);
        assert.deepEqual(names, ["recorder__echo"]);
      } finally {
        await mcp.close();
      }
    });

    test("a user holding both scopes gets both", async () => {
      const tokens = await signIn("bob");
      assert.equal(decodeJwt(tokens.access_token).payload.scope, "demo:use demo:admin");
    });

    test("the consent page names the client, its id, the redirect URI and the scopes", async () => {
      const other = await registerPublicClient(base, CALLBACK, "Consent <Inspector>");
      const browser = new FormBrowser(base);
      const { challenge } = pkcePair();
      const first = await browser.navigate(
        authorizeUrl(base, {
          clientId: other.client_id,
          redirectUri: CALLBACK,
          scope: "demo:use demo:admin",
          resource,
          challenge,
          method: "S256",
        }),
      );
      assert.ok(first.page);
      const consent = await browser.submit(formEndingWith(first.page, "/login"), {
        username: "alice",
        password: "alice-correct-horse-battery",
      });
      const html = consent.page?.html ?? "";
      assert.match(html, /Authorize Consent &#60;Inspector&#62;/, "the client name is shown, escaped");
      assert.ok(html.includes(other.client_id));
      assert.ok(html.includes(CALLBACK));
      assert.ok(html.includes(resource));
      assert.match(html, /<li><code>demo:use<\/code><\/li>/);
      assert.match(html, /not granted \(you do not hold them\): <code>demo:admin<\/code>/);
      assert.match(html, /self-registered/);
    });

    test("consent is remembered per user and client, across browser sessions", async () => {
      const c = await registerPublicClient(base, CALLBACK, "Remembered");
      const url = () =>
        authorizeUrl(base, {
          clientId: c.client_id,
          redirectUri: CALLBACK,
          scope: "demo:use",
          resource,
          challenge: pkcePair().challenge,
          method: "S256",
        });
      const browser = new FormBrowser(base);
      assert.deepEqual((await authorize(browser, url(), { user: "alice" })).pages, ["login", "consent"]);
      // Same browser session: straight back with a code.
      const again = await authorize(browser, url(), { user: "alice" });
      assert.deepEqual(again.pages, []);
      assert.ok(again.code);
      // A new browser session: sign in again, but no consent page.
      const fresh = await authorize(new FormBrowser(base), url(), { user: "alice" });
      assert.deepEqual(fresh.pages, ["login"]);
      assert.ok(fresh.code);
      // Another user, or another client, is asked.
      assert.deepEqual((await authorize(new FormBrowser(base), url(), { user: "bob" })).pages, [
        "login",
        "consent",
      ]);
      const c2 = await registerPublicClient(base, CALLBACK, "Another");
      const other = await authorize(
        new FormBrowser(base),
        authorizeUrl(base, {
          clientId: c2.client_id,
          redirectUri: CALLBACK,
          scope: "demo:use",
          resource,
          challenge: pkcePair().challenge,
          method: "S256",
        }),
        { user: "alice" },
      );
      assert.deepEqual(other.pages, ["login", "consent"]);
    });

    test("denying consent sends access_denied back to the client", async () => {
      const out = await authorize(
        new FormBrowser(base),
        authorizeUrl(base, {
          clientId: client.client_id,
          redirectUri: CALLBACK,
          scope: "demo:use",
          resource,
          challenge: pkcePair().challenge,
          method: "S256",
          extra: { prompt: "consent" },
        }),
        { user: "alice", consent: "deny" },
      );
      assert.equal(out.error, "access_denied");
      assert.equal(out.code, undefined);
    });

    test("response_mode=form_post: the auto-submit page may run exactly its own script", async () => {
      const out = await authorize(
        new FormBrowser(base),
        authorizeUrl(base, {
          clientId: client.client_id,
          redirectUri: CALLBACK,
          scope: "demo:use",
          resource,
          challenge: pkcePair().challenge,
          method: "S256",
          extra: { response_mode: "form_post" },
        }),
        { user: "alice" },
      );
      const page = out.page;
      assert.ok(page, "form_post answers with a page");
      assert.match(page.html, new RegExp(`<form method="post" action="${CALLBACK}">`));
      assert.match(page.html, /name="code"/);
      const csp = page.headers.get("content-security-policy") ?? "";
      assert.match(csp, /script-src 'sha256-[A-Za-z0-9+/=]+'(;|$)/);
      assert.doesNotMatch(csp, /'none' 'sha256/);
      assert.match(csp, /frame-ancestors 'none'/);
    });

    test("PKCE with the plain method is refused", async () => {
      const { verifier } = pkcePair();
      const out = await authorize(
        new FormBrowser(base),
        authorizeUrl(base, {
          clientId: client.client_id,
          redirectUri: CALLBACK,
          scope: "demo:use",
          resource,
          challenge: verifier,
          method: "plain",
        }),
        { user: "alice" },
      );
      assert.deepEqual(out.pages, [], "no sign-in page for a refused request");
      assert.equal(out.error, "invalid_request");
      assert.equal(out.code, undefined);
    });

    test("an authorization request without PKCE is refused", async () => {
      const out = await authorize(
        new FormBrowser(base),
        authorizeUrl(base, {
          clientId: client.client_id,
          redirectUri: CALLBACK,
          scope: "demo:use",
          resource,
        }),
        { user: "alice" },
      );
      assert.deepEqual(out.pages, []);
      assert.equal(out.error, "invalid_request");
    });

    test("a code_verifier that does not match the challenge gets no token", async () => {
      const { challenge } = pkcePair();
      const out = await authorize(
        new FormBrowser(base),
        authorizeUrl(base, {
          clientId: client.client_id,
          redirectUri: CALLBACK,
          scope: "demo:use",
          resource,
          challenge,
          method: "S256",
        }),
        { user: "alice" },
      );
      assert.ok(out.code);
      const tokens = await tokenRequest(base, {
        grant_type: "authorization_code",
        code: out.code,
        code_verifier: pkcePair().verifier,
        redirect_uri: CALLBACK,
        client_id: client.client_id,
        resource,
      });
      assert.equal(tokens.status, 400);
      assert.equal(tokens.body.error, "invalid_grant");
    });

    test("an unregistered redirect URI is refused without redirecting", async () => {
      for (const redirectUri of [
        "http://127.0.0.1:9/other",
        "http://127.0.0.1:10/callback",
        "https://evil.example/callback",
      ]) {
        const browser = new FormBrowser(base);
        const step = await browser.navigate(
          authorizeUrl(base, {
            clientId: client.client_id,
            redirectUri,
            scope: "demo:use",
            resource,
            challenge: pkcePair().challenge,
            method: "S256",
          }),
        );
        assert.equal(step.redirect, undefined, `redirected to ${String(step.redirect)}`);
        assert.equal(step.page?.status, 400);
        assert.match(step.page?.html ?? "", /redirect_uri/);
        assert.match(step.page?.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/);
      }
    });

    test("the token request must repeat the authorization's redirect URI", async () => {
      const c = await registerPublicClient(base, CALLBACK, "Two URIs");
      const { verifier, challenge } = pkcePair();
      const out = await authorize(
        new FormBrowser(base),
        authorizeUrl(base, {
          clientId: c.client_id,
          redirectUri: CALLBACK,
          scope: "demo:use",
          resource,
          challenge,
          method: "S256",
        }),
        { user: "alice" },
      );
      assert.ok(out.code);
      const tokens = await tokenRequest(base, {
        grant_type: "authorization_code",
        code: out.code,
        code_verifier: verifier,
        redirect_uri: "http://127.0.0.1:9/elsewhere",
        client_id: c.client_id,
        resource,
      });
      assert.equal(tokens.body.error, "invalid_grant");
    });

    test("a reused authorization code is refused and revokes what the first use issued", async () => {
      const { verifier, challenge } = pkcePair();
      const out = await authorize(
        new FormBrowser(base),
        authorizeUrl(base, {
          clientId: client.client_id,
          redirectUri: CALLBACK,
          scope: "demo:use",
          resource,
          challenge,
          method: "S256",
        }),
        { user: "alice" },
      );
      assert.ok(out.code);
      const params = {
        grant_type: "authorization_code",
        code: out.code,
        code_verifier: verifier,
        redirect_uri: CALLBACK,
        client_id: client.client_id,
        resource,
      };
      const first = await tokenRequest(base, params);
      assert.equal(first.status, 200);
      const second = await tokenRequest(base, params);
      assert.equal(second.status, 400);
      assert.equal(second.body.error, "invalid_grant");
      const refreshed = await refresh(first.body.refresh_token as string);
      assert.equal(
        refreshed.body.error,
        "invalid_grant",
        "the refresh token of the first exchange is revoked",
      );
      assertRevoked(decodeJwt(first.body.access_token as string).payload.jti as string);
    });

    test("the resource parameter is required and must be one of the gateway's MCP endpoints", async () => {
      for (const [what, res] of [
        ["missing", undefined],
        ["unknown", `${base}/not-mcp`],
        ["another origin", "https://other.example/mcp"],
      ] as const) {
        const out = await authorize(
          new FormBrowser(base),
          authorizeUrl(base, {
            clientId: client.client_id,
            redirectUri: CALLBACK,
            scope: "demo:use",
            ...(res ? { resource: res } : {}),
            challenge: pkcePair().challenge,
            method: "S256",
          }),
          { user: "alice" },
        );
        assert.equal(out.error, "invalid_target", `${what} resource`);
        assert.deepEqual(out.pages, []);
      }
    });

    test("a token for one route cannot be exchanged for another audience", async () => {
      const { verifier, challenge } = pkcePair();
      const out = await authorize(
        new FormBrowser(base),
        authorizeUrl(base, {
          clientId: client.client_id,
          redirectUri: CALLBACK,
          scope: "demo:use",
          resource,
          challenge,
          method: "S256",
        }),
        { user: "alice" },
      );
      const tokens = await tokenRequest(base, {
        grant_type: "authorization_code",
        code: out.code as string,
        code_verifier: verifier,
        redirect_uri: CALLBACK,
        client_id: client.client_id,
        resource: gw.serverUrl("recorder"),
      });
      assert.equal(tokens.body.error, "invalid_target");
    });
  });

  describe("refresh tokens", () => {
    test("rotate on every use; reusing an old one revokes the whole family", async () => {
      const first = await signIn("alice", "demo:use");
      const r1 = await refresh(first.refresh_token);
      assert.equal(r1.status, 200, JSON.stringify(r1.body));
      assert.ok(
        r1.body.refresh_token && r1.body.refresh_token !== first.refresh_token,
        "a new refresh token",
      );
      assert.notEqual(r1.body.access_token, first.access_token);
      const r2 = await refresh(r1.body.refresh_token as string);
      assert.equal(r2.status, 200);
      assert.equal(decodeJwt(r2.body.access_token as string).payload.aud, resource);

      const reuse = await refresh(first.refresh_token);
      assert.equal(reuse.status, 400);
      assert.equal(reuse.body.error, "invalid_grant");
      const latest = await refresh(r2.body.refresh_token as string);
      assert.equal(latest.body.error, "invalid_grant", "the newest refresh token is revoked with its family");
      assertRevoked(decodeJwt(r2.body.access_token as string).payload.jti as string);
      await waitFor(() => gw.logs().some((l) => l.event === "token_reuse"), {
        what: "the token_reuse log line",
      });
      for (const line of gw.stderrLines) {
        assert.ok(
          !line.includes(first.refresh_token) && !line.includes(first.access_token),
          "a token reached the log",
        );
      }
      // The audit log has the issuance and the reuse, by ids only.
      await waitFor(() => auditBodies().some((b) => b.includes('"reason":"token_reuse"')), {
        what: "the token_reuse audit event",
      });
      const bodies = auditBodies();
      assert.ok(bodies.some((b) => b.includes('"reason":"token_issued"') && b.includes('"sub":"alice"')));
      for (const b of bodies) {
        for (const token of [first.refresh_token, first.access_token, r1.body.refresh_token as string]) {
          assert.ok(!b.includes(token), "a token reached the audit log");
        }
      }
    });

    test("two concurrent uses of one refresh token cannot both get a working token", async () => {
      const tokens = await signIn("alice", "demo:use");
      const results = await Promise.all([refresh(tokens.refresh_token), refresh(tokens.refresh_token)]);
      assert.ok(results.filter((r) => r.status === 200).length <= 1, "at most one wins");
      for (const r of results) {
        if (r.status !== 200) assert.equal(r.body.error, "invalid_grant");
        else if (results.some((x) => x.status !== 200)) {
          // The loser revoked the family: the winner's new refresh token is dead too.
          assert.equal((await refresh(r.body.refresh_token as string)).body.error, "invalid_grant");
          assertRevoked(decodeJwt(r.body.access_token as string).payload.jti as string);
        }
      }
    });

    test("a refresh token only works for the client it was issued to", async () => {
      const tokens = await signIn("alice", "demo:use");
      const other = await registerPublicClient(base, CALLBACK, "Thief");
      const stolen = await refresh(tokens.refresh_token, other);
      assert.equal(stolen.body.error, "invalid_grant");
    });
  });

  describe("revocation (RFC 7009)", () => {
    test("revoking a refresh token ends the grant", async () => {
      const tokens = await signIn("alice", "demo:use");
      const res = await revoke(base, {
        token: tokens.refresh_token,
        token_type_hint: "refresh_token",
        client_id: client.client_id,
      });
      assert.equal(res.status, 200);
      assert.equal((await refresh(tokens.refresh_token)).body.error, "invalid_grant");
      assertRevoked(decodeJwt(tokens.access_token).payload.jti as string);
    });

    test("a JWT access token is recorded revoked for its own client only", async () => {
      const tokens = await signIn("alice", "demo:use");
      const jti = decodeJwt(tokens.access_token).payload.jti as string;
      const other = await registerPublicClient(base, CALLBACK, "Other revoker");
      const foreign = await revoke(base, { token: tokens.access_token, client_id: other.client_id });
      assert.equal(foreign.status, 200);
      assert.equal(revokedAt(jti), null, "another client cannot revoke it");
      const own = await revoke(base, {
        token: tokens.access_token,
        token_type_hint: "access_token",
        client_id: client.client_id,
      });
      assert.equal(own.status, 200);
      assertRevoked(jti);
      // Revoking the access token alone leaves the refresh token working.
      assert.equal((await refresh(tokens.refresh_token)).status, 200);
    });
  });

  describe("client credentials", () => {
    test("a configured confidential client gets a JWT for the resource, within its own scopes", async () => {
      const res = await tokenRequest(
        base,
        { grant_type: "client_credentials", scope: "demo:use demo:admin", resource },
        { id: ROBOT.id, secret: ROBOT.secret },
      );
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.refresh_token, undefined);
      const { payload } = decodeJwt(res.body.access_token as string);
      assert.equal(payload.sub, ROBOT.id);
      assert.equal(payload.client_id, ROBOT.id);
      assert.equal(payload.aud, resource);
      assert.equal(payload.iss, base);
      assert.equal(payload.scope, "demo:use");
      const mcp = await connectClient(resource, {
        headers: { authorization: `Bearer ${res.body.access_token}` },
      });
      try {
        const r = await mcp.client.callTool({ name: "recorder__echo", arguments: { message: "machine" } });
        assert.equal(textOf(r), "recorder: machine");
      } finally {
        await mcp.close();
      }
    });

    test("is refused with a wrong secret, without a resource, and for registered clients", async () => {
      const wrong = await tokenRequest(
        base,
        { grant_type: "client_credentials", scope: "demo:use", resource },
        { id: ROBOT.id, secret: `${ROBOT.secret}x` },
      );
      assert.equal(wrong.status, 401);
      assert.equal(wrong.body.error, "invalid_client");
      const noResource = await tokenRequest(
        base,
        { grant_type: "client_credentials", scope: "demo:use" },
        { id: ROBOT.id, secret: ROBOT.secret },
      );
      assert.equal(noResource.body.error, "invalid_target");
      const publicClient = await tokenRequest(base, {
        grant_type: "client_credentials",
        scope: "demo:use",
        resource,
        client_id: client.client_id,
      });
      assert.ok(publicClient.status >= 400);
      assert.equal(publicClient.body.access_token, undefined);
    });
  });

  describe("login and consent pages", () => {
    async function loginPage() {
      const browser = new FormBrowser(base);
      const step = await browser.navigate(
        authorizeUrl(base, {
          clientId: client.client_id,
          redirectUri: CALLBACK,
          scope: "demo:use",
          resource,
          challenge: pkcePair().challenge,
          method: "S256",
        }),
      );
      assert.ok(step.page, "expected the sign-in page");
      return { browser, page: step.page, form: formEndingWith(step.page, "/login") };
    }

    test("carry a strict CSP, no framing, and no caching", async () => {
      const { page } = await loginPage();
      const csp = page.headers.get("content-security-policy") ?? "";
      assert.match(csp, /frame-ancestors 'none'/);
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /script-src 'none'/);
      assert.match(csp, /form-action 'self' http:\/\/127\.0\.0\.1:9(;|$)/);
      assert.equal(page.headers.get("x-frame-options"), "DENY");
      assert.equal(page.headers.get("cache-control"), "no-store");
      assert.ok(!/<script/i.test(page.html), "no script on the page");
      assert.ok(!/(src|href)="https?:/i.test(page.html), "no third-party asset");
    });

    test("a form post without the CSRF token, with a wrong one, or from another origin is refused", async () => {
      const { browser, form } = await loginPage();
      const creds = { username: "alice", password: "alice-correct-horse-battery" };
      for (const fields of [{ ...creds }, { ...creds, csrf: "forged" }]) {
        const res = await browser.navigate(form.action, { method: "POST", form: fields });
        assert.equal(res.page?.status, 403);
      }
      const crossSite: Record<string, string>[] = [
        { origin: "https://evil.example" },
        { "sec-fetch-site": "cross-site" },
      ];
      for (const headers of crossSite) {
        const res = await browser.navigate(form.action, {
          method: "POST",
          form: { ...form.fields, ...creds },
          headers,
        });
        assert.equal(res.page?.status, 403, JSON.stringify(headers));
      }
      // The genuine form still works afterwards.
      const ok = await browser.submit(form, creds);
      // alice already consented to this client (an earlier test): straight back with a code.
      assert.ok(
        ok.redirect?.searchParams.get("code") ?? ok.page?.html.includes("/confirm"),
        "the flow goes on",
      );
    });

    test("an unknown user and a wrong password get the same answer; repeated failures end the request", async () => {
      const { browser, form } = await loginPage();
      const unknown = await browser.submit(form, { username: "mallory", password: "whatever" });
      const wrong = await browser.submit(form, { username: "alice", password: "wrong-password" });
      assert.equal(unknown.page?.status, 401);
      assert.equal(wrong.page?.status, 401);
      const message = (html: string) => /<p class="error" role="alert">([^<]*)<\/p>/.exec(html)?.[1];
      assert.equal(message(unknown.page?.html ?? ""), "Invalid user name or password.");
      assert.equal(message(wrong.page?.html ?? ""), message(unknown.page?.html ?? ""));
      let last = wrong;
      for (let i = 0; i < 3; i++)
        last = await browser.submit(form, { username: "alice", password: `nope-${i}` });
      assert.equal(last.redirect?.searchParams.get("error"), "access_denied");
      await waitFor(() => gw.logs().some((l) => l.event === "login_failed" && l.user === undefined), {
        what: "a login_failed line without the unknown user name",
      });
      assert.ok(!gw.stderrLines.some((l) => l.includes("wrong-password")), "a password reached the log");
    });

    test("repeated failures for one user from one address lock that user out there for a while", async () => {
      for (let round = 0; round < 2; round++) {
        const { browser, form } = await loginPage();
        for (let i = 0; i < 5; i++) await browser.submit(form, { username: "carol", password: `bad-${i}` });
      }
      const { browser, form } = await loginPage();
      const locked = await browser.submit(form, { username: "carol", password: USERS.carol.password });
      assert.equal(locked.page?.status, 429, "even the right password is refused now");
      assert.match(locked.page?.html ?? "", /Too many failed sign-in attempts/);
      // Logs are written asynchronously: wait for the line rather than race it.
      await waitFor(() => gw.logs().some((l) => l.event === "login_throttled" && l.user === "carol"), {
        what: "the login_throttled log line",
      });
      // Another user on the same page is not affected.
      const other = await browser.submit(form, { username: "alice", password: USERS.alice.password });
      assert.ok(other.redirect?.searchParams.get("code"), "alice signs in");
    });

    test("an interaction page without its browser cookie is refused", async () => {
      const { page } = await loginPage();
      const res = await fetch(page.url);
      assert.equal(res.status, 400);
      assert.match(await res.text(), /expired/);
    });
  });

  test("a Client ID Metadata Document is never fetched from a loopback or private address", async () => {
    const step = await new FormBrowser(base).navigate(
      authorizeUrl(base, {
        clientId: `https://127.0.0.1:${new URL(base).port}/client.json`,
        redirectUri: CALLBACK,
        scope: "demo:use",
        resource,
        challenge: pkcePair().challenge,
        method: "S256",
      }),
    );
    assert.equal(step.redirect, undefined);
    assert.equal(step.page?.status, 400);
    assert.match(step.page?.html ?? "", /invalid_client/);
  });

  function auditBodies(): string[] {
    const db = new Database(stateFile, { readonly: true, fileMustExist: true });
    try {
      return (
        db.prepare("SELECT body FROM audit_events WHERE event = 'auth'").all() as { body: string }[]
      ).map((r) => r.body);
    } finally {
      db.close();
    }
  }

  function revokedAt(jti: string): number | null | undefined {
    const db = new Database(stateFile, { readonly: true, fileMustExist: true });
    try {
      const row = db.prepare("SELECT revoked_at FROM oauth_access_tokens WHERE jti = ?").get(jti) as
        { revoked_at: number | null } | undefined;
      return row?.revoked_at;
    } finally {
      db.close();
    }
  }

  function assertRevoked(jti: string): void {
    assert.ok(typeof revokedAt(jti) === "number", `access token ${jti} is not recorded revoked`);
  }
});

describe("embedded authorization server state across a restart", () => {
  let gw: Gateway | undefined;

  after(async () => {
    await gw?.stop();
  });

  test("clients, grants, remembered consent and refresh tokens survive; the signing key too", async () => {
    const stateFile = join(makeTempDir("warden-as-restart-"), "state.db");
    const port = await freePort();
    const config = async () => {
      const c = await authGatewayConfig({ stateFile });
      (c.gateway as Record<string, unknown>).listen = `127.0.0.1:${port}`;
      return c;
    };
    gw = await startGateway(await config());
    const base = gw.url;
    const resource = gw.mcpUrl;
    const c = await registerPublicClient(base, CALLBACK, "Survivor");
    const url = (challenge: string) =>
      authorizeUrl(base, {
        clientId: c.client_id,
        redirectUri: CALLBACK,
        scope: "demo:use",
        resource,
        challenge,
        method: "S256",
      });
    const { verifier, challenge } = pkcePair();
    const out = await authorize(new FormBrowser(base), url(challenge), { user: "alice" });
    assert.deepEqual(out.pages, ["login", "consent"]);
    const tokens = await tokenRequest(base, {
      grant_type: "authorization_code",
      code: out.code as string,
      code_verifier: verifier,
      redirect_uri: CALLBACK,
      client_id: c.client_id,
      resource,
    });
    assert.equal(tokens.status, 200);

    await gw.stop();
    gw = await startGateway(await config());
    assert.equal(gw.url, base);

    const refreshed = await tokenRequest(base, {
      grant_type: "refresh_token",
      refresh_token: tokens.body.refresh_token as string,
      client_id: c.client_id,
      resource,
    });
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    const mcp = await connectClient(resource, {
      headers: { authorization: `Bearer ${refreshed.body.access_token}` },
    });
    try {
      assert.equal(
        textOf(
          await mcp.client.callTool({ name: "recorder__echo", arguments: { message: "after restart" } }),
        ),
        "recorder: after restart",
      );
    } finally {
      await mcp.close();
    }
    // The token issued before the restart still verifies: the signing key lives in the state store.
    const before = await connectClient(resource, {
      headers: { authorization: `Bearer ${tokens.body.access_token}` },
    });
    await before.close();
    // Remembered consent: a new browser session signs in and goes straight back with a code.
    const again = await authorize(new FormBrowser(base), url(pkcePair().challenge), { user: "alice" });
    assert.deepEqual(again.pages, ["login"]);
    assert.ok(again.code);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}
