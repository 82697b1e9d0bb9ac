import { createHash } from "node:crypto";
import type { ServerResponse } from "node:http";

// The pages' only stylesheet, inline and allowed by its hash: no script, no third-party asset.
const CSS = `
:root{color-scheme:light;--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--accent:#0b5cad;--accent-fg:#fff;--bad:#b42318;--bg:#f3f5f8}
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{width:min(440px,calc(100vw - 32px));background:#fff;border:1px solid var(--line);border-radius:10px;padding:28px 28px 20px;box-shadow:0 1px 3px rgba(0,0,0,.06)}
.brand{margin:0 0 18px;font-size:13px;font-weight:600;letter-spacing:.04em;text-transform:uppercase;color:var(--muted)}
h1{margin:0 0 8px;font-size:22px;line-height:1.3}
h2{margin:20px 0 8px;font-size:15px}
p{margin:0 0 12px}
.lead{color:var(--muted)}
label{display:block;margin:14px 0 4px;font-weight:600;font-size:14px}
input[type=text],input[type=password]{width:100%;padding:9px 11px;font:inherit;border:1px solid var(--line);border-radius:6px}
input:focus,button:focus{outline:2px solid var(--accent);outline-offset:1px}
button{font:inherit;font-weight:600;padding:9px 16px;border-radius:6px;border:1px solid var(--accent);background:var(--accent);color:var(--accent-fg);cursor:pointer}
button.secondary{background:#fff;color:var(--fg);border-color:var(--line)}
.full{width:100%;margin-top:20px}
.actions{display:flex;gap:10px;margin-top:22px}
.actions form{flex:1}
.actions button{width:100%}
.error{padding:10px 12px;border-radius:6px;background:#fef3f2;border:1px solid #fecdca;color:var(--bad)}
dl{margin:16px 0 0;display:grid;grid-template-columns:max-content 1fr;gap:6px 14px}
dt{color:var(--muted);font-size:14px}
dd{margin:0;overflow-wrap:anywhere}
code{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f6f8fa;border:1px solid #eaeef2;border-radius:4px;padding:1px 5px}
ul.scopes{margin:0;padding:0;list-style:none}
ul.scopes li{padding:6px 0;border-bottom:1px solid #eaeef2}
ul.scopes li:last-child{border-bottom:0}
.badge{display:inline-block;margin-left:6px;padding:0 7px;border-radius:10px;font-size:12px;background:#fff8c5;border:1px solid #eac54f}
.muted{color:var(--muted);font-size:14px}
.fine{margin:18px 0 0;color:var(--muted);font-size:12px;overflow-wrap:anywhere}
`;
const CSS_HASH = `'sha256-${createHash("sha256").update(CSS).digest("base64")}'`;

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`=]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Headers on every page: no framing, no script, forms only to this issuer (and the redirect's origin). */
export function pageHeaders(formTargets: readonly string[]): Record<string, string> {
  const formAction = ["'self'", ...formTargets].join(" ");
  return {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy":
      `default-src 'none'; style-src ${CSS_HASH}; img-src 'none'; script-src 'none'; ` +
      `form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    // Not no-referrer: with it browsers send `Origin: null` on the forms, defeating the origin check.
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
    pragma: "no-cache",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
  };
}

/** The CSP for pages oidc-provider renders itself (errors, form_post); it adds script hashes it needs. */
export const PROVIDER_CSP = `default-src 'none'; style-src ${CSS_HASH}; script-src 'none'; frame-ancestors 'none'; base-uri 'none'`;

export function sendPage(
  res: ServerResponse,
  status: number,
  html: string,
  formTargets: readonly string[] = [],
): void {
  res.writeHead(status, pageHeaders(formTargets));
  res.end(html);
}

/** A page of the gateway's own: the stylesheet, the brand, `body` (already escaped). */
export function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · mcp-warden</title>
<style>${CSS}</style>
</head>
<body>
<main>
<p class="brand">mcp-warden</p>
${body}
</main>
</body>
</html>`;
}

export interface ClientView {
  readonly id: string;
  readonly name: string | undefined;
  /** Registered itself (DCR or a metadata document) rather than configured by the operator. */
  readonly selfRegistered: boolean;
}

function clientLabel(client: ClientView): string {
  return escapeHtml(client.name?.trim() ? client.name : client.id);
}

function csrfField(csrf: string): string {
  return `<input type="hidden" name="csrf" value="${escapeHtml(csrf)}">`;
}

export function loginPage(opts: {
  action: string;
  abortAction: string;
  csrf: string;
  client: ClientView;
  username?: string;
  error?: string;
}): string {
  const error = opts.error ? `<p class="error" role="alert">${escapeHtml(opts.error)}</p>` : "";
  return layout(
    "Sign in",
    `<h1>Sign in</h1>
<p class="lead"><strong>${clientLabel(opts.client)}</strong> wants to use MCP tools through this gateway on your behalf.</p>
${error}
<form method="post" action="${escapeHtml(opts.action)}">
${csrfField(opts.csrf)}
<label for="username">User name</label>
<input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus value="${escapeHtml(opts.username ?? "")}">
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit" class="full">Sign in</button>
</form>
<form method="post" action="${escapeHtml(opts.abortAction)}">
${csrfField(opts.csrf)}
<button type="submit" class="secondary full">Cancel</button>
</form>
<p class="fine">Client ID: <code>${escapeHtml(opts.client.id)}</code></p>`,
  );
}

export interface ResourceView {
  readonly url: string;
  readonly granted: readonly string[];
  readonly withheld: readonly string[];
}

export function consentPage(opts: {
  action: string;
  abortAction: string;
  csrf: string;
  client: ClientView;
  account: string;
  redirectUri: string;
  resources: readonly ResourceView[];
}): string {
  const grantable = opts.resources.some((r) => r.granted.length > 0);
  const badge = opts.client.selfRegistered
    ? `<span class="badge" title="This client registered itself; it is not configured by your administrator">self-registered</span>`
    : "";
  const perResource = opts.resources
    .map((r) => {
      const granted = r.granted.length
        ? `<ul class="scopes">${r.granted.map((s) => `<li><code>${escapeHtml(s)}</code></li>`).join("")}</ul>`
        : `<p class="muted">No permission can be granted on this resource.</p>`;
      const withheld = r.withheld.length
        ? `<p class="muted">Requested but not granted (you do not hold them): ${r.withheld
            .map((s) => `<code>${escapeHtml(s)}</code>`)
            .join(" ")}</p>`
        : "";
      return `<h2>Permissions on <code>${escapeHtml(r.url)}</code></h2>${granted}${withheld}`;
    })
    .join("\n");
  const allow = grantable
    ? `<form method="post" action="${escapeHtml(opts.action)}">${csrfField(opts.csrf)}<button type="submit">Allow</button></form>`
    : "";
  return layout(
    "Authorize",
    `<h1>Authorize ${clientLabel(opts.client)}</h1>
<p class="lead">Signed in as <strong>${escapeHtml(opts.account)}</strong>. Allow this application to act as you?</p>
<dl>
<dt>Client</dt><dd>${clientLabel(opts.client)}${badge}<br><code>${escapeHtml(opts.client.id)}</code></dd>
<dt>Redirects to</dt><dd><code>${escapeHtml(opts.redirectUri)}</code>${loopbackNote(opts.redirectUri)}</dd>
</dl>
${perResource}
<div class="actions">
${allow}
<form method="post" action="${escapeHtml(opts.abortAction)}">${csrfField(opts.csrf)}<button type="submit" class="secondary">Deny</button></form>
</div>
<p class="fine">Only allow applications you started yourself. Access lasts until it expires or is revoked; you will not be asked again for the same permissions.</p>`,
  );
}

function loopbackNote(uri: string): string {
  try {
    const host = new URL(uri).hostname;
    return host === "127.0.0.1" || host === "[::1]" || host === "localhost"
      ? `<br><span class="muted">a program on this computer</span>`
      : "";
  } catch {
    return "";
  }
}

export function messagePage(title: string, message: string): string {
  return layout(title, `<h1>${escapeHtml(title)}</h1>\n<p>${escapeHtml(message)}</p>`);
}
