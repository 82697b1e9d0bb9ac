import { escapeHtml, layout } from "../authserver/pages.js";
import type { ConnectionView } from "../upstreams/oauth-user/broker.js";

function csrfField(csrf: string): string {
  return `<input type="hidden" name="csrf" value="${escapeHtml(csrf)}">`;
}

/** What will be connected, for whom, and where the user is sent: one button, a POST. */
export function confirmPage(opts: {
  server: string;
  user: string;
  issuer: string;
  scopes: readonly string[];
  /** Scopes the server has asked for since the current connection was made (step-up). */
  stepUp: readonly string[];
  csrf: string;
  replacing: boolean;
  /** Where the form posts: the page's own path. */
  action: string;
}): string {
  const scopes =
    opts.scopes.length > 0
      ? `<ul class="scopes">${opts.scopes.map((s) => `<li><code>${escapeHtml(s)}</code></li>`).join("")}</ul>`
      : `<p class="muted">The authorization server's default access.</p>`;
  return layout(
    `Connect ${opts.server}`,
    `<h1>Connect ${escapeHtml(opts.server)}</h1>
<p class="lead">Your agent asked to use <strong>${escapeHtml(opts.server)}</strong> as you. You will sign in there and the gateway will keep the access it grants, for you alone.</p>
<dl><dt>Signed in as</dt><dd>${escapeHtml(opts.user)}</dd><dt>Authorization server</dt><dd>${escapeHtml(opts.issuer)}</dd></dl>
<h2>Access asked for</h2>
${scopes}
${opts.stepUp.length > 0 ? `<p class="muted">${escapeHtml(opts.server)} asks for more access than your connection has: ${opts.stepUp.map((s) => `<code>${escapeHtml(s)}</code>`).join(" ")}.</p>` : ""}
${opts.replacing ? `<p class="muted">This replaces your current connection to ${escapeHtml(opts.server)}.</p>` : ""}
<form method="post" action="${escapeHtml(opts.action)}">${csrfField(opts.csrf)}<button class="full" type="submit">Continue to ${escapeHtml(opts.server)}</button></form>
<p class="fine">Not you, or not expected? Close this page: nothing is connected until you continue.</p>`,
  );
}

export function connectedPage(server: string): string {
  return layout(
    "Connected",
    `<h1>Connected</h1>
<p>${escapeHtml(server)} is connected to your account. Return to your agent: its calls to ${escapeHtml(server)} now act as you.</p>
<p class="fine"><a href="../connections">Your connections</a></p>`,
  );
}

/** The user's own connections, each with a revoke button. */
export function connectionsPage(
  user: string,
  rows: readonly ConnectionView[],
  servers: readonly string[],
  csrf: string,
): string {
  const items = rows
    .map(
      (
        c,
      ) => `<li><strong>${escapeHtml(c.server)}</strong> <span class="muted">${escapeHtml(c.status)}; ${escapeHtml(c.scopes || "default access")}; connected ${escapeHtml(c.connected_at)}${c.last_used_at ? `; last used ${escapeHtml(c.last_used_at)}` : ""}</span>${c.step_up_scopes ? ` <a href="connect/${encodeURIComponent(c.server)}">Connect again</a> <span class="muted">(it asks for ${escapeHtml(c.step_up_scopes)})</span>` : ""}
<form method="post" action="connections/${encodeURIComponent(c.id)}/revoke">${csrfField(csrf)}<button class="secondary" type="submit">Revoke</button></form></li>`,
    )
    .join("\n");
  const connected = new Set(rows.map((r) => r.server));
  const offers = servers
    .filter((s) => !connected.has(s))
    .map((s) => `<li><a href="connect/${encodeURIComponent(s)}">Connect ${escapeHtml(s)}</a></li>`)
    .join("\n");
  return layout(
    "Your connections",
    `<h1>Your connections</h1>
<p class="lead">Signed in as ${escapeHtml(user)}.</p>
${items ? `<ul class="scopes">${items}</ul>` : `<p class="muted">No account is connected.</p>`}
${offers ? `<h2>Not connected</h2><ul class="scopes">${offers}</ul>` : ""}`,
  );
}
