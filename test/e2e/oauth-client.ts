// A small scripted OAuth client for the embedded authorization server's tests: PKCE, dynamic
// registration, token requests, and a form-following "browser" (cookie jar, redirects, the login
// and consent forms with their CSRF tokens) for flows that do not need real Chromium.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import { hashPassword } from "../../src/auth/passwords.js";
import { recorderStdio } from "../helpers/configs.js";
import { makeTempDir } from "../helpers/paths.js";

export const USERS = {
  alice: { password: "alice-correct-horse-battery", scopes: ["demo:use"] },
  bob: { password: "bob-staple-orbit-lantern", scopes: ["demo:use", "demo:admin"] },
  // Only the sign-in throttle test uses carol (it locks her out for a while).
  carol: { password: "carol-quiet-meadow-violin", scopes: ["demo:use"] },
} as const;
export type UserName = keyof typeof USERS;

export const ROBOT = { id: "robot", secret: "robot-secret-6f1c2d9e8a7b", scopes: ["demo:use"] };

/**
 * A gateway that requires a token (no anonymous scopes) in front of the recorder fixture, whose
 * `echo` needs demo:use and `admin_tool` demo:admin; alice holds demo:use, bob both.
 */
export async function authGatewayConfig(
  opts: { stateFile?: string; recordFile?: string } = {},
): Promise<Record<string, unknown>> {
  const dir = makeTempDir("warden-as-");
  const users = [];
  for (const [name, u] of Object.entries(USERS)) {
    users.push({ name, password_hash: await hashPassword(u.password), scopes: [...u.scopes] });
  }
  return {
    gateway: { listen: "127.0.0.1:0" },
    state: { sqlite: opts.stateFile ?? join(dir, "state.db") },
    auth: {
      anonymous: [],
      users,
      clients: [
        {
          client_id: ROBOT.id,
          client_secret: ROBOT.secret,
          scopes: ROBOT.scopes,
          grant_types: ["client_credentials"],
        },
      ],
      access_token_ttl: "5m",
    },
    servers: [
      recorderStdio("recorder", opts.recordFile ?? join(dir, "recorder.jsonl"), {
        echo: ["demo:use"],
        admin_tool: ["demo:admin"],
      }),
    ],
  };
}

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

export function decodeJwt(token: string): {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
} {
  const [h, p] = token.split(".");
  assert.ok(h && p, "not a JWT");
  return {
    header: JSON.parse(Buffer.from(h, "base64url").toString("utf8")) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(p, "base64url").toString("utf8")) as Record<string, unknown>,
  };
}

export interface Registered {
  client_id: string;
  client_secret?: string;
  redirect_uris: string[];
  [k: string]: unknown;
}

export async function registerClient(
  base: string,
  metadata: Record<string, unknown>,
): Promise<{ status: number; body: Registered & { error?: string; error_description?: string } }> {
  const res = await fetch(`${base}/oauth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(metadata),
  });
  return { status: res.status, body: (await res.json()) as Registered };
}

/** Registers a public client (no secret) with one loopback redirect URI. */
export async function registerPublicClient(base: string, redirectUri: string, name = "Test Agent") {
  const { status, body } = await registerClient(base, {
    client_name: name,
    redirect_uris: [redirectUri],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "none",
  });
  assert.equal(status, 201, `registration failed: ${JSON.stringify(body)}`);
  return body;
}

export interface TokenResponse {
  status: number;
  body: {
    access_token?: string;
    refresh_token?: string;
    scope?: string;
    expires_in?: number;
    token_type?: string;
    error?: string;
    error_description?: string;
  };
}

export async function tokenRequest(
  base: string,
  params: Record<string, string>,
  basic?: { id: string; secret: string },
): Promise<TokenResponse> {
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" };
  if (basic) {
    const cred = `${encodeURIComponent(basic.id)}:${encodeURIComponent(basic.secret)}`;
    headers.authorization = `Basic ${Buffer.from(cred).toString("base64")}`;
  }
  const res = await fetch(`${base}/oauth/token`, {
    method: "POST",
    headers,
    body: new URLSearchParams(params).toString(),
  });
  return { status: res.status, body: (await res.json()) as TokenResponse["body"] };
}

export async function revoke(
  base: string,
  params: Record<string, string>,
): Promise<{ status: number; text: string }> {
  const res = await fetch(`${base}/oauth/revoke`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(params).toString(),
  });
  return { status: res.status, text: await res.text() };
}

export function authorizeUrl(
  base: string,
  params: {
    clientId: string;
    redirectUri: string;
    scope?: string;
    resource?: string;
    challenge?: string;
    method?: string;
    state?: string;
    extra?: Record<string, string>;
  },
): string {
  const q = new URLSearchParams({
    response_type: "code",
    client_id: params.clientId,
    redirect_uri: params.redirectUri,
  });
  if (params.scope !== undefined) q.set("scope", params.scope);
  if (params.resource !== undefined) q.set("resource", params.resource);
  if (params.challenge !== undefined) q.set("code_challenge", params.challenge);
  if (params.method !== undefined) q.set("code_challenge_method", params.method);
  q.set("state", params.state ?? randomBytes(8).toString("hex"));
  for (const [k, v] of Object.entries(params.extra ?? {})) q.set(k, v);
  return `${base}/oauth/authorize?${q}`;
}

interface Cookie {
  name: string;
  value: string;
  path: string;
}

export interface Page {
  status: number;
  url: string;
  headers: Headers;
  html: string;
}

export interface Form {
  action: string;
  fields: Record<string, string>;
}

/** A cookie-keeping client that follows redirects on the issuer's origin and stops at any other. */
export class FormBrowser {
  private cookies: Cookie[] = [];
  readonly origin: string;

  constructor(readonly base: string) {
    this.origin = new URL(base).origin;
  }

  /** Loads `url`, following same-origin redirects; a redirect elsewhere ends it (`redirect`). */
  async navigate(
    url: string,
    init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {},
  ) {
    let target = new URL(url, this.base);
    let method = init.method ?? "GET";
    let body: string | undefined = init.form ? new URLSearchParams(init.form).toString() : undefined;
    for (let hops = 0; hops < 10; hops++) {
      const headers: Record<string, string> = { accept: "text/html" };
      const cookie = this.cookieHeader(target.pathname);
      if (cookie) headers.cookie = cookie;
      if (body !== undefined) {
        headers["content-type"] = "application/x-www-form-urlencoded";
        headers.origin = this.origin;
        Object.assign(headers, init.headers);
      }
      const res = await fetch(target, { method, headers, body, redirect: "manual" });
      this.store(res.headers.getSetCookie(), target.pathname);
      const location = res.headers.get("location");
      if (res.status >= 300 && res.status < 400 && location) {
        await res.arrayBuffer();
        const next = new URL(location, target);
        if (next.origin !== this.origin) return { redirect: next, page: undefined };
        target = next;
        method = "GET";
        body = undefined;
        continue;
      }
      const page: Page = {
        status: res.status,
        url: target.href,
        headers: res.headers,
        html: await res.text(),
      };
      return { redirect: undefined, page };
    }
    throw new Error(`too many redirects from ${url}`);
  }

  /** The value of a cookie the browser holds (what a test looks for in the state store). */
  cookie(name: string): string | undefined {
    return this.cookies.find((c) => c.name === name)?.value;
  }

  async submit(form: Form, extra: Record<string, string> = {}) {
    return this.navigate(form.action, { method: "POST", form: { ...form.fields, ...extra } });
  }

  private cookieHeader(path: string): string {
    return this.cookies
      .filter((c) => path === c.path || path.startsWith(c.path.endsWith("/") ? c.path : `${c.path}/`))
      .map((c) => `${c.name}=${c.value}`)
      .join("; ");
  }

  private store(setCookies: string[], requestPath: string): void {
    for (const line of setCookies) {
      const [pair, ...attrs] = line.split(";");
      const eq = (pair ?? "").indexOf("=");
      if (eq <= 0) continue;
      const name = (pair as string).slice(0, eq).trim();
      const value = (pair as string).slice(eq + 1).trim();
      let path = requestPath.slice(0, requestPath.lastIndexOf("/")) || "/";
      let expired = false;
      for (const attr of attrs) {
        const [k, v] = attr.split("=").map((s) => s.trim());
        if (k?.toLowerCase() === "path" && v) path = v;
        if (k?.toLowerCase() === "expires" && v && Date.parse(v) < Date.now()) expired = true;
        if (k?.toLowerCase() === "max-age" && Number(v) <= 0) expired = true;
      }
      this.cookies = this.cookies.filter((c) => !(c.name === name && c.path === path));
      if (!expired && value !== "") this.cookies.push({ name, value, path });
    }
  }
}

const ENTITY = /&#(\d+);|&amp;|&lt;|&gt;|&quot;/g;
function unescape(s: string): string {
  return s.replace(ENTITY, (m, code: string | undefined) =>
    code
      ? String.fromCharCode(Number(code))
      : ({ "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"' }[m] ?? m),
  );
}

/** The page's POST forms, with their hidden fields. */
export function formsOf(page: Page): Form[] {
  const forms: Form[] = [];
  for (const m of page.html.matchAll(/<form method="post" action="([^"]+)">([\s\S]*?)<\/form>/g)) {
    const fields: Record<string, string> = {};
    for (const input of (m[2] as string).matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
      fields[input[1] as string] = unescape(input[2] as string);
    }
    forms.push({ action: new URL(unescape(m[1] as string), page.url).href, fields });
  }
  return forms;
}

export function formEndingWith(page: Page, suffix: string): Form {
  const form = formsOf(page).find((f) => new URL(f.action).pathname.endsWith(suffix));
  assert.ok(
    form,
    `no form posting to …${suffix} on ${page.url} (HTTP ${page.status}):\n${page.html.slice(0, 600)}`,
  );
  return form;
}

export interface AuthorizeOutcome {
  /** Where the server finally sent the browser (the client's redirect URI), if it did. */
  redirect: URL | undefined;
  code: string | undefined;
  error: string | undefined;
  /** The interaction pages shown, in order: "login", "consent". */
  pages: string[];
  /** The last page, when the flow stopped on one (an error page). */
  page: Page | undefined;
}

/** Runs an authorization request through the login and consent pages as `user`. */
export async function authorize(
  browser: FormBrowser,
  url: string,
  opts: { user?: UserName; password?: string; consent?: "allow" | "deny" } = {},
): Promise<AuthorizeOutcome> {
  const pages: string[] = [];
  let step = await browser.navigate(url);
  for (let i = 0; i < 6 && step.page; i++) {
    const page = step.page;
    const actions = formsOf(page).map((f) => new URL(f.action).pathname);
    if (actions.some((a) => a.endsWith("/login"))) {
      // A second sign-in page means the previous attempt failed: stop there.
      if (!opts.user || pages.includes("login")) {
        pages.push("login");
        break;
      }
      pages.push("login");
      step = await browser.submit(formEndingWith(page, "/login"), {
        username: opts.user,
        password: opts.password ?? USERS[opts.user].password,
      });
    } else if (actions.some((a) => a.endsWith("/abort"))) {
      pages.push("consent");
      const allow = opts.consent !== "deny" && actions.some((a) => a.endsWith("/confirm"));
      step = await browser.submit(formEndingWith(page, allow ? "/confirm" : "/abort"));
    } else {
      break;
    }
  }
  const redirect = step.redirect;
  return {
    redirect,
    code: redirect?.searchParams.get("code") ?? undefined,
    error: redirect?.searchParams.get("error") ?? undefined,
    pages,
    page: step.page,
  };
}
