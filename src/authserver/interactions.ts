import { CONNECT_CLIENT_ID } from "../admin/scope.js";
import { createHmac } from "node:crypto";
import { readForm, sameSecret } from "../http/forms.js";
import type { IncomingMessage, ServerResponse } from "node:http";
import type Provider from "oidc-provider";
import { errors, type InteractionResults } from "oidc-provider";
import { PasswordCheckBusy, verifyPassword } from "../auth/passwords.js";
import type { Logger } from "../log.js";
import type { RememberedConsents } from "./consents.js";
import {
  consentPage,
  loginPage,
  messagePage,
  sendPage,
  type ClientView,
  type ResourceView,
} from "./pages.js";
import type { ScopePolicy } from "./policy.js";
import type { SignInThrottle } from "./throttle.js";

const MAX_FORM_BYTES = 16 * 1024;
const MAX_USERNAME = 200;
const MAX_PASSWORD = 1024;
/** Failed sign-ins allowed per authorization request before it is refused outright. */
export const MAX_LOGIN_FAILURES = 5;
const MAX_TRACKED_INTERACTIONS = 10_000;
const UID = /^[A-Za-z0-9_-]{10,64}$/;
const LOGIN_FAILED = "Invalid user name or password.";
const LOGIN_THROTTLED = "Too many failed sign-in attempts. Try again later.";
const SOURCE_THROTTLED = "Too many sign-in attempts from your network. Try again later.";
const BUSY = "The server is busy. Try again in a moment.";

type Interaction = Awaited<ReturnType<Provider["interactionDetails"]>>;

export interface InteractionParts {
  readonly provider: Provider;
  readonly policy: ScopePolicy;
  readonly consents: RememberedConsents;
  readonly log: Logger;
  readonly issuerOrigin: string;
  /** Path of the interaction pages, e.g. /oauth/interaction (with the issuer's path prefix). */
  readonly basePath: string;
  readonly csrfKey: Buffer;
  /** A hash of a random password, verified for unknown users so they take as long as known ones. */
  readonly decoyHash: string;
  /** Per-source and per-user limits checked before any password work. */
  readonly throttle: SignInThrottle;
}

/**
 * The login and consent pages oidc-provider sends the browser to:
 *   GET  <base>/:uid           the page the interaction needs (sign in, or consent)
 *   POST <base>/:uid/login     user name and password
 *   POST <base>/:uid/confirm   consent
 *   POST <base>/:uid/abort     cancel or deny
 * Every POST carries a CSRF token bound to the interaction (and the interaction is bound to the
 * browser by oidc-provider's cookie), and must come from this issuer's origin.
 */
export class InteractionPages {
  private readonly failures = new Map<string, number>();

  constructor(private readonly parts: InteractionParts) {}

  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const rest = path.slice(this.parts.basePath.length + 1).split("/");
    const uid = rest[0] ?? "";
    const action = rest.length === 1 ? "" : rest.length === 2 ? (rest[1] as string) : undefined;
    if (!UID.test(uid) || action === undefined || !["", "login", "confirm", "abort"].includes(action)) {
      return sendPage(res, 404, messagePage("Not found", "There is no such page."));
    }
    const method = req.method ?? "GET";
    if (action === "" ? method !== "GET" && method !== "HEAD" : method !== "POST") {
      res.setHeader("allow", action === "" ? "GET" : "POST");
      return sendPage(res, 405, messagePage("Not allowed", "This page does not accept that method."));
    }

    let interaction: Interaction;
    try {
      interaction = await this.parts.provider.interactionDetails(req, res);
    } catch (err) {
      // No such interaction, or not this browser's. Anything else (the state store failing) is
      // not the user's doing: it goes to the caller, which answers 503.
      if (err instanceof errors.OIDCProviderError) return this.expired(res);
      throw err;
    }
    if (interaction.uid !== uid) return this.expired(res);

    // The connect pages' own sign-in (per-user upstream OAuth) asks for no permission and is the
    // gateway's first-party client: there is nothing to consent to, so consent is not asked.
    if (
      action === "" &&
      interaction.prompt.name === "consent" &&
      interaction.params.client_id === CONNECT_CLIENT_ID
    )
      return this.confirm(req, res, interaction);
    if (action === "") return this.show(res, interaction);
    const form = await readForm(req, MAX_FORM_BYTES);
    if (!form || !this.sameOrigin(req) || !this.csrfMatches(uid, form.get("csrf"))) {
      this.parts.log.warn({ event: "csrf_refused", uid, action }, "authorization form refused (CSRF check)");
      return sendPage(
        res,
        403,
        messagePage("Request refused", "This form did not come from this page. Go back and try again."),
      );
    }
    if (action === "login") return this.login(req, res, interaction, form);
    if (action === "confirm") return this.confirm(req, res, interaction);
    return this.finish(req, res, interaction, {
      error: "access_denied",
      error_description: "the user denied the request",
    });
  }

  private async show(
    res: ServerResponse,
    interaction: Interaction,
    error?: string,
    username?: string,
    status = error ? 401 : 200,
  ) {
    const client = await this.client(interaction);
    if (!client) return this.expired(res);
    const targets = this.formTargets(interaction);
    const base = `${this.parts.basePath}/${interaction.uid}`;
    const csrf = this.csrf(interaction.uid);
    if (interaction.prompt.name === "login") {
      const html = loginPage({
        action: `${base}/login`,
        abortAction: `${base}/abort`,
        csrf,
        client,
        ...(username !== undefined ? { username } : {}),
        ...(error !== undefined ? { error } : {}),
      });
      return sendPage(res, status, html, targets);
    }
    const account = interaction.session?.accountId;
    if (interaction.prompt.name === "consent" && account) {
      const html = consentPage({
        action: `${base}/confirm`,
        abortAction: `${base}/abort`,
        csrf,
        client,
        account,
        redirectUri: String(interaction.params.redirect_uri ?? ""),
        resources: this.resourceViews(interaction, account),
      });
      return sendPage(res, 200, html, targets);
    }
    return sendPage(
      res,
      400,
      messagePage("Cannot continue", "This request needs a step this server does not offer."),
    );
  }

  private async login(
    req: IncomingMessage,
    res: ServerResponse,
    interaction: Interaction,
    form: URLSearchParams,
  ): Promise<void> {
    if (interaction.prompt.name !== "login") return this.show(res, interaction);
    const username = (form.get("username") ?? "").trim();
    const password = form.get("password") ?? "";
    const clientId = String(interaction.params.client_id ?? "");
    const name = username.slice(0, MAX_USERNAME);
    const throttled = await this.parts.throttle.refusal(req, name);
    if (throttled) {
      // A source's flood is recorded by the source guard; a user's lock-out is logged here.
      if (throttled.why === "user") {
        this.parts.log.warn(
          { event: "login_throttled", user: this.parts.policy.user(username)?.name, client_id: clientId },
          "sign-in refused: too many failures",
        );
      }
      res.setHeader("retry-after", String(throttled.retryAfterS));
      const message = throttled.why === "user" ? LOGIN_THROTTLED : SOURCE_THROTTLED;
      return this.show(res, interaction, message, name, 429);
    }
    const user = username.length <= MAX_USERNAME ? this.parts.policy.user(username) : undefined;
    // The same work and the same answer whether the user exists or the password is wrong.
    let verified: boolean;
    try {
      verified = await verifyPassword(
        password.length <= MAX_PASSWORD ? password : "",
        user?.passwordHash ?? this.parts.decoyHash,
      );
    } catch (err) {
      if (!(err instanceof PasswordCheckBusy)) throw err;
      this.parts.log.warn(
        { event: "login_busy", client_id: clientId },
        "sign-in refused: password checks saturated",
      );
      res.setHeader("retry-after", "1");
      return this.show(res, interaction, BUSY, name, 503);
    }
    if (!user || !verified) {
      await this.parts.throttle.failed(req, name);
      const failures = this.countFailure(interaction.uid);
      this.parts.log.warn(
        { event: "login_failed", user: user ? user.name : undefined, client_id: clientId, failures },
        "sign-in failed",
      );
      if (failures >= MAX_LOGIN_FAILURES) {
        return this.finish(req, res, interaction, {
          error: "access_denied",
          error_description: "too many failed sign-in attempts",
        });
      }
      return this.show(res, interaction, LOGIN_FAILED, username.slice(0, MAX_USERNAME));
    }
    this.failures.delete(interaction.uid);
    await this.parts.throttle.succeeded(req, name);
    this.parts.log.info({ event: "login", user: user.name, client_id: clientId }, "user signed in");
    return this.finish(req, res, interaction, {
      login: { accountId: user.name, amr: ["pwd"], remember: false },
    });
  }

  private async confirm(req: IncomingMessage, res: ServerResponse, interaction: Interaction): Promise<void> {
    const accountId = interaction.session?.accountId;
    const clientId = interaction.params.client_id;
    if (interaction.prompt.name !== "consent" || !accountId || typeof clientId !== "string") {
      return this.show(res, interaction);
    }
    const { Grant } = this.parts.provider;
    let grant = interaction.grantId ? await Grant.find(interaction.grantId) : undefined;
    if (!grant || grant.accountId !== accountId || grant.clientId !== clientId) {
      grant = new Grant({ accountId, clientId });
    }
    const details = interaction.prompt.details as {
      missingOIDCScope?: unknown;
      missingResourceScopes?: unknown;
    };
    if (Array.isArray(details.missingOIDCScope) && details.missingOIDCScope.length > 0) {
      // Only `openid` and `offline_access` are OIDC scopes here; neither opens any MCP tool.
      grant.addOIDCScope(details.missingOIDCScope.filter((s) => typeof s === "string").join(" "));
    }
    const granted: Record<string, string[]> = {};
    for (const [resource, scopes] of Object.entries(asRecord(details.missingResourceScopes))) {
      if (!Array.isArray(scopes)) continue;
      const ceiling = this.parts.policy.userCeiling(accountId, clientId, resource);
      const allowed = scopes.filter((s): s is string => typeof s === "string" && ceiling.has(s));
      const withheld = scopes.filter((s): s is string => typeof s === "string" && !ceiling.has(s));
      if (allowed.length > 0) grant.addResourceScope(resource, allowed.join(" "));
      if (withheld.length > 0) grant.rejectResourceScope(resource, withheld.join(" "));
      granted[resource] = allowed;
    }
    const grantId = await grant.save();
    await this.parts.consents.remember(accountId, clientId, grantId);
    this.parts.log.info(
      { event: "consent", user: accountId, client_id: clientId, granted },
      "user granted consent",
    );
    return this.finish(req, res, interaction, { consent: { grantId } });
  }

  private async finish(
    req: IncomingMessage,
    res: ServerResponse,
    interaction: Interaction,
    result: InteractionResults,
  ): Promise<void> {
    this.failures.delete(interaction.uid);
    if ("error" in result) {
      this.parts.log.info(
        {
          event: "authorization_denied",
          client_id: interaction.params.client_id,
          reason: result.error_description,
        },
        "authorization refused by the user",
      );
    }
    const returnTo = await this.parts.provider.interactionResult(req, res, result, {
      mergeWithLastSubmission: !("error" in result) && !result.login,
    });
    res.writeHead(303, { location: returnTo, "cache-control": "no-store", "content-length": "0" });
    res.end();
  }

  private resourceViews(interaction: Interaction, accountId: string): ResourceView[] {
    const clientId = String(interaction.params.client_id);
    const requested = String(interaction.params.scope ?? "")
      .split(" ")
      .filter(Boolean);
    const raw = interaction.params.resource;
    const resources = (Array.isArray(raw) ? raw : [raw]).filter((r): r is string => typeof r === "string");
    return resources.map((url) => {
      const offered = new Set(this.parts.policy.resource(url)?.scopes ?? []);
      const ceiling = this.parts.policy.userCeiling(accountId, clientId, url);
      const asked = requested.filter((s) => offered.has(s));
      return {
        url,
        granted: asked.filter((s) => ceiling.has(s)),
        withheld: asked.filter((s) => !ceiling.has(s)),
      };
    });
  }

  private async client(interaction: Interaction): Promise<ClientView | undefined> {
    const id = interaction.params.client_id;
    if (typeof id !== "string") return undefined;
    const client = await this.parts.provider.Client.find(id);
    if (!client) return undefined;
    return {
      id,
      name: typeof client.clientName === "string" ? client.clientName : undefined,
      selfRegistered: !this.parts.policy.isConfiguredClient(id),
    };
  }

  /** CSP form-action must also allow the redirect that follows a form (to the client). */
  private formTargets(interaction: Interaction): string[] {
    try {
      const origin = new URL(String(interaction.params.redirect_uri)).origin;
      return origin === "null" ? [] : [origin];
    } catch {
      return [];
    }
  }

  private csrf(uid: string): string {
    return createHmac("sha256", this.parts.csrfKey).update(`interaction:${uid}`).digest("base64url");
  }

  private csrfMatches(uid: string, given: string | null): boolean {
    return sameSecret(given, this.csrf(uid));
  }

  private sameOrigin(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== this.parts.issuerOrigin) return false;
    const site = req.headers["sec-fetch-site"];
    return site === undefined || site === "same-origin" || site === "none";
  }

  private countFailure(uid: string): number {
    const n = (this.failures.get(uid) ?? 0) + 1;
    this.failures.delete(uid);
    if (this.failures.size >= MAX_TRACKED_INTERACTIONS) {
      const oldest = this.failures.keys().next().value;
      if (oldest !== undefined) this.failures.delete(oldest);
    }
    this.failures.set(uid, n);
    return n;
  }

  private expired(res: ServerResponse): void {
    sendPage(
      res,
      400,
      messagePage(
        "Sign-in expired",
        "This sign-in request has expired or was started in another browser. Return to the application and try again.",
      ),
    );
  }
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}
