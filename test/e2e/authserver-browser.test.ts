// The official MCP SDK client's own OAuth support against the gateway's embedded authorization
// server, with Debian's Chromium (playwright-core) on the login and consent pages: discovery from
// the 401, dynamic registration, PKCE, the browser round trip, finishAuth, a tool call; then the
// SDK's refresh, refresh-token reuse detection, remembered consent, and framing refused.
// Screenshots of both pages land in test-results/ (git-ignored).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { auth, UnauthorizedError, type OAuthClientProvider } from "@modelcontextprotocol/sdk/client/auth.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from "@modelcontextprotocol/sdk/shared/auth.js";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { textOf } from "../helpers/client.js";
import { ROOT, startGateway, type Gateway } from "../helpers/gateway.js";
import { waitFor, within } from "../helpers/wait.js";
import { USERS, authGatewayConfig, decodeJwt, tokenRequest } from "./oauth-client.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SHOTS = join(ROOT, "test-results");

/** An OAuthClientProvider that keeps everything in memory, as an agent would in its own store. */
class MemoryOAuthProvider implements OAuthClientProvider {
  authorizationUrl: URL | undefined;
  private info: OAuthClientInformationMixed | undefined;
  private saved: OAuthTokens | undefined;
  private verifier = "";
  private lastState = "";

  constructor(private readonly redirect: string) {}

  get redirectUrl(): string {
    return this.redirect;
  }

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: "Warden E2E Agent",
      redirect_uris: [this.redirect],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }

  state(): string {
    this.lastState = randomBytes(12).toString("base64url");
    return this.lastState;
  }

  get expectedState(): string {
    return this.lastState;
  }

  clientInformation() {
    return this.info;
  }

  saveClientInformation(info: OAuthClientInformationMixed): void {
    this.info = info;
  }

  tokens() {
    return this.saved;
  }

  saveTokens(tokens: OAuthTokens): void {
    this.saved = tokens;
  }

  redirectToAuthorization(url: URL): void {
    this.authorizationUrl = url;
  }

  saveCodeVerifier(verifier: string): void {
    this.verifier = verifier;
  }

  codeVerifier(): string {
    return this.verifier;
  }

  invalidateCredentials(scope: "all" | "client" | "tokens" | "verifier" | "discovery"): void {
    if (scope === "all" || scope === "client") this.info = undefined;
    if (scope === "all" || scope === "tokens") this.saved = undefined;
  }
}

/** The agent's loopback redirect endpoint: records each callback URL and says "done". */
async function callbackServer(): Promise<{ url: string; next(): Promise<URL>; server: Server }> {
  const waiting: ((u: URL) => void)[] = [];
  const arrived: URL[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (url.pathname !== "/callback") {
      res.writeHead(404).end();
      return;
    }
    const waiter = waiting.shift();
    if (waiter) waiter(url);
    else arrived.push(url);
    res
      .writeHead(200, { "content-type": "text/html" })
      .end("<!doctype html><title>Done</title><p>Authorization complete.</p>");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/callback`,
    server,
    next: () => {
      const ready = arrived.shift();
      return ready
        ? Promise.resolve(ready)
        : within(new Promise((r) => waiting.push(r)), 20_000, "the OAuth callback");
    },
  };
}

describe("the MCP SDK client's OAuth flow in Chromium", () => {
  let gw: Gateway;
  let browser: Browser;
  let callback: Awaited<ReturnType<typeof callbackServer>>;
  const contexts: BrowserContext[] = [];
  const clients: Client[] = [];

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 900, height: 760 } });
    contexts.push(context);
    return context.newPage();
  }

  async function connect(provider: MemoryOAuthProvider): Promise<Client> {
    const client = new Client({ name: "warden-e2e", version: "1.0.0" });
    clients.push(client);
    await client.connect(new StreamableHTTPClientTransport(new URL(gw.mcpUrl), { authProvider: provider }));
    return client;
  }

  /** The SDK's first contact: 401 → discovery → registration → PKCE → authorization URL. */
  async function startAuthorization(provider: MemoryOAuthProvider): Promise<StreamableHTTPClientTransport> {
    const client = new Client({ name: "warden-e2e", version: "1.0.0" });
    const transport = new StreamableHTTPClientTransport(new URL(gw.mcpUrl), { authProvider: provider });
    await assert.rejects(client.connect(transport), UnauthorizedError);
    assert.ok(provider.authorizationUrl, "the SDK asked to open the authorization URL");
    return transport;
  }

  async function signIn(page: Page, user: keyof typeof USERS): Promise<void> {
    await page.fill("#username", user);
    await page.fill("#password", USERS[user].password);
    await page.click("button:has-text('Sign in')");
  }

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    callback = await callbackServer();
    gw = await startGateway(await authGatewayConfig());
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  });

  after(async () => {
    for (const c of clients) await c.close().catch(() => {});
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await gw?.stop();
    callback?.server.close();
  });

  const provider = () => new MemoryOAuthProvider(callback.url);
  let agent: MemoryOAuthProvider;

  test("discovers, registers, signs in and consents in the browser, then calls a tool", async () => {
    agent = provider();
    const transport = await startAuthorization(agent);
    const authUrl = agent.authorizationUrl as URL;
    assert.equal(authUrl.origin + authUrl.pathname, `${gw.url}/oauth/authorize`);
    assert.equal(authUrl.searchParams.get("code_challenge_method"), "S256");
    assert.equal(authUrl.searchParams.get("resource"), gw.mcpUrl);
    assert.equal(authUrl.searchParams.get("scope"), "demo:admin demo:use");
    const clientId = authUrl.searchParams.get("client_id") as string;
    assert.ok(clientId && agent.clientInformation()?.client_id === clientId, "registered dynamically");

    const page = await newPage();
    const login = await page.goto(authUrl.href);
    assert.equal(login?.status(), 200);
    const headers = login?.headers() ?? {};
    assert.match(headers["content-security-policy"] ?? "", /frame-ancestors 'none'/);
    assert.equal(headers["x-frame-options"], "DENY");
    await page.screenshot({ path: join(SHOTS, "authserver-login.png"), fullPage: true });

    await signIn(page, "alice");
    await page.waitForSelector("button:has-text('Allow')");
    const consent = await page.content();
    assert.ok(consent.includes("Warden E2E Agent"));
    assert.ok(consent.includes(clientId));
    assert.ok(consent.includes(callback.url));
    assert.match(consent, /<code>demo:use<\/code>/);
    assert.match(consent, /not granted \(you do not hold them\): <code>demo:admin<\/code>/);
    await page.screenshot({ path: join(SHOTS, "authserver-consent.png"), fullPage: true });

    const arrived = callback.next();
    await page.click("button:has-text('Allow')");
    const redirect = await arrived;
    await page.waitForURL(`${callback.url}*`);
    assert.equal(redirect.searchParams.get("state"), agent.expectedState);
    assert.equal(redirect.searchParams.get("iss"), gw.url);
    const code = redirect.searchParams.get("code");
    assert.ok(code);

    await transport.finishAuth(code);
    const tokens = agent.tokens();
    assert.ok(tokens?.access_token && tokens.refresh_token);
    const { payload } = decodeJwt(tokens.access_token);
    assert.equal(payload.iss, gw.url);
    assert.equal(payload.aud, gw.mcpUrl);
    assert.equal(payload.sub, "alice");
    assert.equal(payload.client_id, clientId);
    assert.equal(payload.scope, "demo:use");

    const client = await connect(agent);
    const result = await client.callTool({
      name: "recorder__echo",
      arguments: { message: "hello from the SDK" },
    });
    assert.equal(textOf(result), "recorder: hello from the SDK");
  });

  test("consent is remembered: a new browser session signs in and goes straight back", async () => {
    assert.ok(agent, "needs the first test's agent");
    // The agent lost its tokens (say, a restart without storage) and authorizes again.
    agent.invalidateCredentials("tokens");
    agent.authorizationUrl = undefined;
    assert.equal(await auth(agent, { serverUrl: gw.mcpUrl }), "REDIRECT");
    const page = await newPage();
    await page.goto((agent.authorizationUrl as URL | undefined)?.href ?? "about:blank");
    const arrived = callback.next();
    await signIn(page, "alice");
    const redirect = await arrived;
    await page.waitForURL(`${callback.url}*`);
    const code = redirect.searchParams.get("code");
    assert.ok(code, "no consent page: the code comes straight back");
    assert.equal(await auth(agent, { serverUrl: gw.mcpUrl, authorizationCode: code }), "AUTHORIZED");
    const client = await connect(agent);
    assert.equal(
      textOf(await client.callTool({ name: "recorder__echo", arguments: { message: "remembered" } })),
      "recorder: remembered",
    );
  });

  test("the SDK refreshes with rotation; reusing an old refresh token revokes the new one too", async () => {
    assert.ok(agent, "needs the previous test's agent");
    const before = agent.tokens() as OAuthTokens;
    assert.equal(await auth(agent, { serverUrl: gw.mcpUrl }), "AUTHORIZED");
    const rotated = agent.tokens() as OAuthTokens;
    assert.ok(rotated.refresh_token && rotated.refresh_token !== before.refresh_token, "rotated");
    assert.notEqual(rotated.access_token, before.access_token);
    const client = await connect(agent);
    assert.equal(
      textOf(await client.callTool({ name: "recorder__echo", arguments: { message: "refreshed" } })),
      "recorder: refreshed",
    );

    // An attacker replays the first refresh token: refused, and the family is revoked.
    const replay = await tokenRequest(gw.url, {
      grant_type: "refresh_token",
      refresh_token: before.refresh_token as string,
      client_id: agent.clientInformation()?.client_id as string,
      resource: gw.mcpUrl,
    });
    assert.equal(replay.body.error, "invalid_grant");
    // The legitimate client's newest refresh token no longer works: the SDK has to sign in again.
    agent.authorizationUrl = undefined;
    assert.equal(await auth(agent, { serverUrl: gw.mcpUrl }), "REDIRECT");
    const again = agent.authorizationUrl as URL | undefined;
    assert.ok(again, "a new authorization is needed");
    // The revoked grant took the remembered consent with it: the user is asked again.
    const page = await newPage();
    await page.goto(again.href);
    await signIn(page, "alice");
    await page.waitForSelector("button:has-text('Allow')");
  });

  test("another site cannot frame the sign-in page", async () => {
    const other = provider();
    await startAuthorization(other);
    const page = await newPage();
    // The callback server's origin plays the hostile site.
    await page.goto(callback.url);
    const blocked = page.waitForResponse((r) => r.url().includes("/oauth/interaction/"));
    await page.setContent(
      `<!doctype html><iframe id="f" src="${(other.authorizationUrl as URL).href}" width="600" height="400"></iframe>`,
    );
    const response = await blocked;
    assert.equal(response.status(), 200, "the server answered; the browser refuses to render it");
    const frame = await waitFor(
      () => page.frames().find((f) => f !== page.mainFrame() && f.url() !== "about:blank" && f.url() !== ""),
      { what: "the iframe to navigate" },
    );
    await frame.waitForLoadState("load").catch(() => {});
    const framed = await frame.content().catch(() => "");
    // Chromium replaces the refused document with its own error page.
    assert.match(frame.url(), /^chrome-error:/, `frame at ${frame.url()}`);
    assert.ok(!framed.includes('name="password"'), "the sign-in form must not render inside a frame");
  });
});
