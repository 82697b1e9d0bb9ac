// The user side of per-user upstream OAuth for gateway-client.mjs's auth/* scenarios: a scripted,
// cookie-keeping browser that signs a user in to the gateway's embedded issuer, gets that user's
// gateway token (an agent's token, as any MCP client would), and walks the gateway's connect flow
// (/connect/{server} → sign in → confirm form → the upstream's authorization endpoint → the
// gateway's callback, /connect/callback or /connect/cb/…) when a call answers -32007
// upstream_auth_required.
import { createHash, randomBytes } from "node:crypto";
import { URL, URLSearchParams } from "node:url";

const fetch = globalThis.fetch;

export const USER = { name: "conformance-user", password: "conformance-correct-horse-battery" };

/** Follows redirects on the gateway's origin; a redirect elsewhere stops there (`redirect`). */
export class Browser {
  #cookies = new Map();

  constructor(base) {
    this.origin = new URL(base).origin;
  }

  async navigate(url, form) {
    let target = new URL(url, this.origin);
    let method = form ? "POST" : "GET";
    let body = form ? new URLSearchParams(form).toString() : undefined;
    for (let hops = 0; hops < 10; hops++) {
      const headers = { accept: "text/html" };
      if (this.#cookies.size) headers.cookie = [...this.#cookies].map(([k, v]) => `${k}=${v}`).join("; ");
      if (body !== undefined) {
        headers["content-type"] = "application/x-www-form-urlencoded";
        headers.origin = this.origin;
      }
      const res = await fetch(target, { method, headers, body, redirect: "manual" });
      for (const line of res.headers.getSetCookie()) {
        const [pair] = line.split(";");
        const eq = pair.indexOf("=");
        if (eq <= 0) continue;
        const value = pair.slice(eq + 1).trim();
        if (value === "" || /max-age=0/i.test(line)) this.#cookies.delete(pair.slice(0, eq).trim());
        else this.#cookies.set(pair.slice(0, eq).trim(), value);
      }
      const location = res.headers.get("location");
      if (res.status >= 300 && res.status < 400 && location) {
        await res.arrayBuffer();
        const next = new URL(location, target);
        if (next.origin !== this.origin) return { redirect: next };
        target = next;
        method = "GET";
        body = undefined;
        continue;
      }
      return { page: { status: res.status, url: target.href, html: await res.text() } };
    }
    throw new Error(`too many redirects from ${url}`);
  }
}

const unescape = (s) =>
  s.replace(/&#(\d+);|&amp;|&lt;|&gt;|&quot;/g, (m, code) =>
    code ? String.fromCharCode(Number(code)) : { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"' }[m],
  );

/** The page's POST forms with their hidden fields. */
function forms(page) {
  return [...page.html.matchAll(/<form method="post" action="([^"]+)">([\s\S]*?)<\/form>/g)].map((m) => ({
    action: new URL(unescape(m[1]), page.url).href,
    fields: Object.fromEntries(
      [...m[2].matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((i) => [
        i[1],
        unescape(i[2]),
      ]),
    ),
  }));
}

/**
 * Loads `url` and answers the embedded issuer's pages (login, consent) as USER until the browser
 * is sent off the gateway's origin, or a page it does not know (returned) is shown.
 */
async function signedIn(browser, url, until = () => false) {
  let step = await browser.navigate(url);
  for (let i = 0; i < 6 && step.page && !until(step.page); i++) {
    const all = forms(step.page);
    const login = all.find((f) => new URL(f.action).pathname.endsWith("/login"));
    const confirm = all.find((f) => new URL(f.action).pathname.endsWith("/confirm"));
    if (login)
      step = await browser.navigate(login.action, {
        ...login.fields,
        username: USER.name,
        password: USER.password,
      });
    else if (confirm) step = await browser.navigate(confirm.action, confirm.fields);
    else break;
  }
  return step;
}

/** USER's gateway token for `resource` (a public client of the embedded issuer, PKCE). */
export async function gatewayToken(browser, base, resource, scope) {
  const redirect = "http://127.0.0.1:9/cb";
  const reg = await fetch(`${base}/oauth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      client_name: "conformance agent",
      redirect_uris: [redirect],
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code"],
      response_types: ["code"],
    }),
  });
  if (!reg.ok) throw new Error(`registration at the gateway: ${reg.status} ${await reg.text()}`);
  const { client_id } = await reg.json();
  const verifier = randomBytes(32).toString("base64url");
  const q = new URLSearchParams({
    response_type: "code",
    client_id,
    redirect_uri: redirect,
    code_challenge: createHash("sha256").update(verifier).digest("base64url"),
    code_challenge_method: "S256",
    resource,
    scope,
    state: "s",
  });
  const step = await signedIn(browser, `${base}/oauth/authorize?${q}`);
  const code = step.redirect?.searchParams.get("code");
  if (!code) throw new Error(`no gateway code: ${step.redirect ?? step.page?.html.slice(0, 400)}`);
  const res = await fetch(`${base}/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: redirect,
      code_verifier: verifier,
      client_id,
      resource,
    }).toString(),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`gateway token: ${res.status} ${JSON.stringify(body)}`);
  return body.access_token;
}

/**
 * The connect flow from the gateway's link: sign in, continue on the confirm page, go to the
 * upstream's authorization endpoint (the suite's mocks answer at once with a redirect), and hand
 * its answer to the gateway's callback. Returns the last page the gateway showed.
 */
export async function connectAccount(browser, link, log) {
  const confirmPage = (page) => forms(page).some((f) => new URL(f.action).pathname.startsWith("/connect/"));
  let step = await signedIn(browser, link, confirmPage);
  if (!step.page || !confirmPage(step.page))
    throw new Error(`no confirm page at ${link}: ${step.redirect ?? step.page?.html.slice(0, 400)}`);
  const form = forms(step.page).find((f) => new URL(f.action).pathname.startsWith("/connect/"));
  step = await browser.navigate(form.action, form.fields);
  if (!step.redirect) throw new Error(`the confirm form led nowhere: ${step.page?.html.slice(0, 400)}`);
  log(`authorization request: ${step.redirect.href}`);
  // The upstream's authorization server: no cookies of the gateway's go there.
  let at = step.redirect;
  for (let hops = 0; hops < 5 && at.origin !== browser.origin; hops++) {
    const res = await fetch(at, { redirect: "manual" });
    const location = res.headers.get("location");
    await res.arrayBuffer();
    if (!location) throw new Error(`the authorization server answered ${res.status} without a redirect`);
    at = new URL(location, at);
  }
  log(`callback: ${at.href}`);
  step = await browser.navigate(at.href);
  const page = step.page;
  const text = page?.html.replace(/<[^>]+>/g, " ").replace(/\s+/g, " ") ?? String(step.redirect);
  log(`the gateway's answer: ${page?.status} ${text.slice(0, 300)}`);
  return page;
}
