// Shared by the per-user upstream OAuth end-to-end tests (upstream-oauth.test.ts,
// upstream-oauth-step-up.test.ts): the upstream fixture (test/fixtures/oauth-upstream.mjs, a remote
// MCP server with its own oidc-provider authorization server), the gateway's users and their
// tokens, MCP clients, the audit events the gateway prints, and the connect flow in Chromium.
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import type { BrowserContext, Page } from "playwright-core";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitRequestSchema, McpError } from "@modelcontextprotocol/sdk/types.js";
import type { Gateway } from "../helpers/gateway.js";
import { spawnTracked } from "../helpers/processes.js";
import { fixture } from "../helpers/paths.js";
import { waitFor } from "../helpers/wait.js";
import {
  FormBrowser,
  authorize,
  pkcePair,
  registerPublicClient,
  tokenRequest,
  type UserName,
} from "./oauth-client.js";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export const USERS = {
  alice: { password: "alice-correct-horse-battery", scopes: ["demo:use"] },
  bob: { password: "bob-staple-orbit-lantern", scopes: ["demo:use"] },
  carol: { password: "carol-quiet-meadow-violin", scopes: ["demo:use"] },
} as const;

export interface Upstream {
  as: string;
  /** The second authorization server, the one POST /_migrate moves the MCP server to. */
  as2: string;
  mcp: string;
  origin: string;
  proc: ChildProcess;
}

export async function startUpstream(env: Record<string, string>): Promise<Upstream> {
  const proc = spawnTracked(process.execPath, [fixture("oauth-upstream.mjs")], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const errors: string[] = [];
  createInterface({ input: proc.stderr! }).on("line", (l) => errors.push(l));
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`upstream did not start: ${errors.join("\n")}`)), 15_000);
    createInterface({ input: proc.stdout! }).once("line", (l) => {
      clearTimeout(timer);
      resolve(l);
    });
  });
  const urls = JSON.parse(line) as { as: string; as2: string; mcp: string };
  return { ...urls, origin: new URL(urls.mcp).origin, proc };
}

/** A control endpoint of the fixture (GET, or POST with a JSON body). */
export async function control<T>(up: Upstream, path: string, method = "GET", body?: unknown): Promise<T> {
  const res = await fetch(`${up.origin}${path}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return (await res.json()) as T;
}

/** A gateway token for `user` (the embedded issuer, scripted sign-in and consent). */
export async function gatewayToken(
  gw: Gateway,
  user: UserName,
  resource = gw.serverUrl("remote"),
): Promise<string> {
  const redirect = "http://127.0.0.1:9/cb";
  const client = await registerPublicClient(gw.url, redirect, `agent of ${user}`);
  const { verifier, challenge } = pkcePair();
  const q = new URLSearchParams({
    response_type: "code",
    client_id: client.client_id,
    redirect_uri: redirect,
    code_challenge: challenge,
    code_challenge_method: "S256",
    resource,
    scope: "demo:use",
    state: "s",
  });
  const outcome = await authorize(new FormBrowser(gw.url), `${gw.url}/oauth/authorize?${q}`, {
    user,
    password: USERS[user as keyof typeof USERS].password,
  });
  assert.ok(outcome.code, `no code for ${user}: ${outcome.redirect?.href}`);
  const t = await tokenRequest(gw.url, {
    grant_type: "authorization_code",
    code: outcome.code,
    redirect_uri: redirect,
    code_verifier: verifier,
    client_id: client.client_id,
    resource,
  });
  assert.equal(t.status, 200, JSON.stringify(t.body));
  return t.body.access_token as string;
}

export async function mcpClient(
  gw: Gateway,
  token: string,
  elicitation?: (url: string) => void,
  server = "remote",
): Promise<Client> {
  const client = new Client(
    { name: "agent", version: "1.0.0" },
    elicitation ? { capabilities: { elicitation: { url: {} } } } : {},
  );
  if (elicitation)
    client.setRequestHandler(ElicitRequestSchema, (request) => {
      const params = request.params as { mode?: string; url?: string };
      if (params.mode !== "url" || typeof params.url !== "string") return { action: "decline" };
      elicitation(params.url);
      return { action: "accept" };
    });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(gw.serverUrl(server)), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

export async function callError(client: Client, name = "whoami"): Promise<McpError> {
  try {
    await client.callTool({ name, arguments: {} });
  } catch (err) {
    assert.ok(err instanceof McpError, String(err));
    return err;
  }
  assert.fail("the call succeeded");
}

/** The first audit event matching `match`, waited for: the stdout sink's lines come through a pipe, after the answer. */
export function audited(
  gw: Gateway,
  match: (e: Record<string, unknown>) => boolean,
): Promise<Record<string, unknown>> {
  return waitFor(() => auditEvents(gw).find(match), { what: "the audit event", timeoutMs: 10_000 });
}

export function auditEvents(gw: Gateway): Record<string, unknown>[] {
  return gw.stdoutLines.flatMap((l) => {
    try {
      const e = JSON.parse(l) as Record<string, unknown>;
      return typeof e.event === "string" ? [e] : [];
    } catch {
      return [];
    }
  });
}

/** Signs in to the gateway as `user` on the page `url` leads to, then stops at the confirm page. */
export async function signInAt(context: BrowserContext, url: string, user: UserName): Promise<Page> {
  const page = await context.newPage();
  await page.goto(url);
  // A browser already signed in to the gateway goes straight through; the connect pages' sign-in
  // asks for no consent (the gateway's own client, asking for nothing but who).
  if (new URL(page.url()).pathname.startsWith("/oauth/")) {
    await page.fill("#username", user);
    await page.fill("#password", USERS[user as keyof typeof USERS].password);
    await page.click("button:has-text('Sign in')");
    await page.waitForURL((u) => !u.pathname.startsWith("/oauth/"));
  }
  return page;
}

/** Runs a connect link to the end as `user`, signing in upstream as `upstreamName`. */
export async function connect(
  context: BrowserContext,
  url: string,
  user: UserName,
  upstreamName: string,
  server = "remote",
): Promise<Page> {
  const page = await signInAt(context, url, user);
  await page.click(`button:has-text('Continue to ${server}')`);
  await page.fill("input[name=login]", upstreamName);
  await page.fill("input[name=password]", "any");
  await page.click("button[type=submit]");
  await page.click("button:has-text('Continue')");
  await page.waitForSelector("h1:has-text('Connected')");
  return page;
}
