import type { IncomingMessage, ServerResponse } from "node:http";
import { messagePage, sendPage } from "../authserver/pages.js";
import { readForm, sameSecret } from "../http/forms.js";
import type { Principal } from "../auth/principal.js";
import { principalFields } from "../pipeline/stages/audit.js";
import { CALLBACK_PATHS, CLIENT_METADATA_PATH } from "../upstreams/oauth-user/authorization.js";
import type { OAuthUserBroker } from "../upstreams/oauth-user/broker.js";
import { ConnectRefused } from "../upstreams/oauth-user/connect-flow.js";
import { confirmPage, connectedPage, connectionsPage } from "./pages.js";
import { SignInFailed, type ConnectSignIn } from "./sign-in.js";

const MAX_FORM_BYTES = 4096;
/** The callback's parameters: each at most once (a second `iss` or `code` is someone's addition). */
const CALLBACK_PARAMS = ["state", "code", "iss", "error"] as const;

/**
 * The pages a user's browser sees for per-user upstream OAuth (docs/upstream-credentials.md):
 * `/connect/{server}` (sign in to the gateway, see what is asked, continue to the upstream),
 * `/connect/callback` and `/connect/cb/…` (the upstream's answer, at each authorization server's own
 * redirect URI: authorization.ts CALLBACK_PATHS), `/connect/signed-in` (the gateway's own sign-in),
 * `/connections` (the user's own connections, revocable), and the gateway's Client ID Metadata
 * Document. Forms are POSTs with a per-session CSRF token behind the Origin check.
 */
export class ConnectPages {
  constructor(
    private readonly broker: OAuthUserBroker,
    private readonly signIn: ConnectSignIn,
  ) {}

  serves(path: string): boolean {
    return path === "/connections" || path.startsWith("/connections/") || path.startsWith("/connect/");
  }

  /** `refused`: the Host and Origin check's verdict (everything but the public metadata document heeds it). */
  async handle(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    refused: string | undefined,
  ): Promise<void> {
    try {
      await this.route(req, res, path, refused);
    } catch (err) {
      if (res.headersSent) return void res.destroy();
      if (err instanceof SignInFailed) return sendPage(res, 400, messagePage("Sign-in failed", err.message));
      if (err instanceof ConnectRefused) return sendPage(res, 400, messagePage("Not connected", err.message));
      sendPage(
        res,
        502,
        messagePage("Not connected", "The server's authorization server could not be used right now."),
      );
    }
  }

  private async route(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    refused: string | undefined,
  ): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    const method = req.method ?? "GET";
    if (path === CLIENT_METADATA_PATH && method === "GET") return this.clientMetadata(res);
    if (refused) return sendPage(res, 403, messagePage("Forbidden", refused));
    if (path === "/connect/signed-in" && method === "GET") {
      const back = await this.signIn.finish(req, res, url.searchParams);
      res.writeHead(303, { location: back, "cache-control": "no-store" });
      return void res.end();
    }
    if (CALLBACK_PATHS.test(path) && method === "GET") return this.callback(req, res, url.searchParams, path);
    if (path === "/connections" && method === "GET") return this.connections(req, res);
    const revoke = /^\/connections\/([A-Za-z0-9_-]{1,80})\/revoke$/.exec(path);
    if (revoke && method === "POST") return this.revoke(req, res, revoke[1] as string);
    const connect = /^\/connect\/([^/]+)$/.exec(path);
    if (connect) {
      const server = safeDecode(connect[1] as string);
      if (server === undefined || !this.broker.has(server))
        return sendPage(
          res,
          404,
          messagePage("Unknown server", "No server by that name takes a connected account."),
        );
      if (method === "GET") return this.confirm(req, res, server, path, url.searchParams);
      if (method === "POST") return this.start(req, res, server);
    }
    sendPage(res, 404, messagePage("Not found", "There is no such page."));
  }

  private clientMetadata(res: ServerResponse): void {
    const auth = this.broker.authorization(this.broker.serverNames()[0] as string);
    if (!auth) return sendPage(res, 404, messagePage("Not found", "There is no such page."));
    const doc = auth.cimdDocument();
    res.writeHead(200, { "content-type": "application/json", "cache-control": "public, max-age=300" });
    res.end(JSON.stringify(doc));
  }

  /** The signed-in user, or a redirect to sign in (then back to `back`). */
  private async user(
    req: IncomingMessage,
    res: ServerResponse,
    back: string,
  ): Promise<Principal | undefined> {
    const user = this.signIn.user(req);
    if (user) return user;
    if (!this.signIn.available) {
      sendPage(
        res,
        503,
        messagePage(
          "Sign-in unavailable",
          "The gateway has no client to sign you in with (auth.issuer.connect_client).",
        ),
      );
      return undefined;
    }
    await this.signIn.redirect(res, back);
    return undefined;
  }

  private async confirm(
    req: IncomingMessage,
    res: ServerResponse,
    server: string,
    path: string,
    query: URLSearchParams,
  ): Promise<void> {
    const hint = query.get("for");
    const back = hint ? `${path}?for=${encodeURIComponent(hint)}` : path;
    const user = await this.user(req, res, back);
    if (!user) return;
    // The link an agent was given names (by a keyed digest) the user it was made for.
    if (hint !== null && !sameSecret(hint, this.broker.userHint(user.subject))) {
      await this.broker.auditRefusal("connect_user_mismatch", user, server);
      return sendPage(
        res,
        403,
        messagePage(
          "Another user's link",
          "This link was made for another user of the gateway. Ask your own agent for its link.",
        ),
      );
    }
    const auth = this.broker.authorization(server);
    const info = await auth?.serverInfo();
    if (!info) throw new Error("no authorization");
    const current = (await this.broker.list({ subject: user.subject, server }))[0];
    sendPage(
      res,
      200,
      confirmPage({
        server,
        user: user.subject,
        issuer: info.issuer,
        // What the connect will ask for: with a connection, also what it holds and any step-up.
        scopes: await this.broker.connectScopes(server, user.subject),
        stepUp: current?.step_up_scopes.split(" ").filter(Boolean) ?? [],
        csrf: this.signIn.csrf(req),
        replacing: current !== undefined,
        action: path,
      }),
      // The form's answer redirects to the authorization server: CSP form-action covers redirects.
      [new URL(info.metadata.authorization_endpoint).origin],
    );
  }

  private async start(req: IncomingMessage, res: ServerResponse, server: string): Promise<void> {
    const user = this.signIn.user(req);
    if (!user || !(await this.checkCsrf(req))) {
      if (user) await this.broker.auditRefusal("connect_csrf_failed", user, server);
      return sendPage(res, 403, messagePage("Forbidden", "This form has expired: open the link again."));
    }
    const location = await this.broker.begin(server, user.subject);
    res.writeHead(303, { location, "cache-control": "no-store", "referrer-policy": "no-referrer" });
    res.end();
  }

  private async callback(
    req: IncomingMessage,
    res: ServerResponse,
    query: URLSearchParams,
    path: string,
  ): Promise<void> {
    const user = this.signIn.user(req);
    const param = (name: string) => query.get(name) ?? undefined;
    if (!user) {
      // Not signed in here: the flow is not consumed, and nothing is stored.
      await this.broker.auditRefusal("connect_no_session", undefined, "-");
      return sendPage(
        res,
        403,
        messagePage(
          "Sign in first",
          "Open the connect link from your agent again and sign in to the gateway.",
        ),
      );
    }
    if (CALLBACK_PARAMS.some((name) => query.getAll(name).length > 1)) {
      // Not consumed: the flow's own answer, unaltered, may still arrive.
      await this.broker.auditRefusal("connect_params_repeated", user, "-");
      return sendPage(res, 400, messagePage("Not connected", "The sign-in answer repeats a parameter."));
    }
    const done = await this.broker.complete(
      { state: param("state"), code: param("code"), iss: param("iss"), error: param("error") },
      user,
      path,
    );
    sendPage(res, 200, connectedPage(done.server));
  }

  private async connections(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const user = await this.user(req, res, "/connections");
    if (!user) return;
    const rows = await this.broker.list({ subject: user.subject });
    sendPage(res, 200, connectionsPage(user.subject, rows, this.broker.serverNames(), this.signIn.csrf(req)));
  }

  private async revoke(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    const user = this.signIn.user(req);
    if (!user || !(await this.checkCsrf(req)))
      return sendPage(
        res,
        403,
        messagePage("Forbidden", "This form has expired: open your connections again."),
      );
    // Only the user's own: another user's id matches nothing here.
    await this.broker.revoke({ subject: user.subject, id }, principalFields(user));
    res.writeHead(303, { location: "/connections", "cache-control": "no-store" });
    res.end();
  }

  private async checkCsrf(req: IncomingMessage): Promise<boolean> {
    const form = await readForm(req, MAX_FORM_BYTES);
    return sameSecret(form?.get("csrf"), this.signIn.csrf(req));
  }
}

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}
