import { randomBytes, randomUUID } from "node:crypto";
import type { OAuthClientInformationMixed } from "@modelcontextprotocol/client";
import { auditEvent, type AuditPrincipal } from "../../audit/event.js";
import type { AuditLog } from "../../audit/log.js";
import type { Principal } from "../../auth/principal.js";
import { principalFields } from "../../pipeline/stages/audit.js";
import type { StateKey } from "../../state/sealed.js";
import { UpstreamAuthError, type ServerInfo, type UpstreamAuthorization } from "./authorization.js";
import type { ConnectionRow, ConnectionStore } from "./store.js";
import { fromResponse, sealTokens, type VaultTokens } from "./vault.js";

/** A connect flow's `state` is good for this long, once. */
const FLOW_TTL_MS = 10 * 60_000;

/** What a connect flow keeps between the redirect and the callback (sealed in the store). */
interface FlowData {
  readonly verifier: string;
  readonly issuer: string;
  readonly client: OAuthClientInformationMixed;
  /** What the authorization request asked for (absent in flows begun before step-up existed). */
  readonly scopes?: readonly string[];
  /**
   * The redirect URI the authorization request named, and whether the answer must carry `iss`
   * (authorization.ts `client`); absent in flows begun before redirect URIs were per issuer,
   * which used the shared one.
   */
  readonly redirectUri?: string;
  readonly issRequired?: boolean;
}

/** The callback's parameters; each must have come once (connect/routes.ts refuses repeats). */
export interface CallbackParams {
  readonly state?: string | undefined;
  readonly code?: string | undefined;
  readonly iss?: string | undefined;
  readonly error?: string | undefined;
}

/** A connect callback or start the gateway refused: shown to the user, audited by the broker. */
export class ConnectRefused extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** Audit events of per-user upstream OAuth, with who they are about. */
export function authEvent(
  reason: string,
  who: AuditPrincipal,
  server: string,
  status: string,
  detail: Record<string, unknown>,
) {
  return auditEvent({ event: "auth", principal: who, server, status, reason, detail });
}

/** What a connect flow needs of the broker. */
export interface FlowHost {
  /** The server's authorization, or ConnectRefused. */
  server(name: string): UpstreamAuthorization;
  /** What a connect of `row`'s user asks for (broker.ts `scopesFor`). */
  scopes(info: ServerInfo, row: ConnectionRow | undefined): readonly string[];
  /** A connection was made: remembered for the call's audit event, waiting calls woken. */
  connected(row: ConnectionRow): void;
}

/**
 * The connect flow of per-user upstream OAuth (connect/routes.ts drives it): the authorization
 * request with PKCE and a single-use `state`, and the callback, which must come back for the
 * flow's own user, at the flow's own redirect URI, from the flow's own authorization server.
 */
export class ConnectFlows {
  constructor(
    private readonly store: ConnectionStore,
    private readonly key: StateKey,
    private readonly audit: AuditLog,
    private readonly host: FlowHost,
  ) {}

  /** Starts a connect of `server` for `subject`: the upstream authorization URL to redirect to. */
  async begin(server: string, subject: string): Promise<string> {
    const auth = this.host.server(server);
    const info = await auth.serverInfo();
    const choice = await auth.client(info);
    const scopes = this.host.scopes(info, await this.store.get(subject, server));
    const state = randomBytes(32).toString("base64url");
    const { url, verifier } = await auth.start(info, choice, state, scopes);
    const digest = this.key.digest(`upstream_flow:${state}`);
    const data: FlowData = {
      verifier,
      issuer: info.issuer,
      client: choice.client,
      scopes,
      redirectUri: choice.redirectUri,
      issRequired: choice.issRequired,
    };
    await this.store.sweepFlows(Date.now());
    await this.store.saveFlow({
      stateDigest: digest,
      subject,
      server,
      data: this.key.seal(JSON.stringify(data), flowContext(digest, server, subject)),
      expiresAt: Date.now() + FLOW_TTL_MS,
    });
    return url;
  }

  /**
   * The callback: the flow its `state` names (used up here, whatever happens next), checked against
   * the signed-in user, the path it arrived at (the flow's own redirect URI, RFC 9700 §4.4), the
   * authorization server's `iss`, then the code exchanged and stored. Throws ConnectRefused
   * (audited) for anything that does not add up.
   */
  async complete(
    params: CallbackParams,
    signedIn: Principal,
    path: string,
  ): Promise<{ server: string; connection: string }> {
    const who = principalFields(signedIn);
    const refuse = async (
      reason: string,
      message: string,
      server = "",
      detail: Record<string, unknown> = {},
    ) => {
      await this.audit.record(authEvent(reason, who, server || "-", "denied", detail)).catch(() => undefined);
      return new ConnectRefused(reason, message);
    };
    if (!params.state) throw await refuse("connect_state_missing", "The sign-in answer carries no state.");
    const flow = await this.store.takeFlow(this.key.digest(`upstream_flow:${params.state}`));
    if (!flow)
      throw await refuse("connect_state_invalid", "This sign-in link was already used, or never issued.");
    const server = flow.server;
    if (flow.expiresAt < Date.now())
      throw await refuse("connect_state_expired", "This sign-in took too long: start again.", server);
    if (flow.subject !== signedIn.subject)
      throw await refuse("connect_user_mismatch", "This sign-in was started by another user.", server, {
        started_by: flow.subject,
      });
    if (params.error)
      throw await refuse("connect_declined", "The authorization server did not grant access.", server, {
        error: params.error.slice(0, 100),
      });
    if (!params.code)
      throw await refuse("connect_code_missing", "The sign-in answer carries no code.", server);
    const auth = this.host.server(server);
    let data: FlowData;
    let expected: string;
    try {
      data = JSON.parse(
        this.key.open(flow.data, flowContext(flow.stateDigest, server, flow.subject)),
      ) as FlowData;
      expected = auth.routePathOf(data.redirectUri ?? auth.redirectUri);
    } catch {
      throw await refuse("connect_state_invalid", "This sign-in could not be read.", server);
    }
    // A code that came back at another authorization server's redirect URI was issued there: it
    // is never sent to this flow's token endpoint (the mix-up attack).
    if (path !== expected)
      throw await refuse(
        "connect_redirect_mismatch",
        "The answer came back for another authorization server.",
        server,
        { path: path.slice(0, 200) },
      );
    let info: ServerInfo;
    try {
      info = await auth.serverInfo();
    } catch (err) {
      throw await refuse("connect_exchange_failed", "This sign-in could not be completed.", server, {
        error: err instanceof UpstreamAuthError ? err.message : "discovery failed",
      });
    }
    if (info.issuer !== data.issuer)
      throw await refuse(
        "connect_issuer_changed",
        "The server's authorization server changed: start again.",
        server,
      );
    if (params.iss !== undefined && params.iss !== info.issuer)
      throw await refuse(
        "connect_iss_mismatch",
        "The answer came from another authorization server.",
        server,
        {
          iss: params.iss.slice(0, 200),
        },
      );
    // Required when the flow began (metadata changed since by a hostile server does not waive it),
    // or by the metadata now (the SDK's rule at the exchange).
    const issRequired =
      data.issRequired === true || info.metadata.authorization_response_iss_parameter_supported === true;
    if (params.iss === undefined && issRequired)
      throw await refuse(
        "connect_iss_missing",
        "The answer does not say which authorization server it came from.",
        server,
      );
    let tokens: VaultTokens;
    let granted: string | undefined;
    try {
      const response = await auth.exchange(
        info,
        data.client,
        params.code,
        data.verifier,
        params.iss,
        data.redirectUri ?? auth.redirectUri,
      );
      if (response.token_type && response.token_type.toLowerCase() !== "bearer")
        throw new UpstreamAuthError(`token type ${response.token_type} is not supported`);
      tokens = fromResponse(response);
      granted = response.scope;
    } catch (err) {
      throw await refuse(
        "connect_exchange_failed",
        "The authorization server's answer could not be used.",
        server,
        { error: err instanceof UpstreamAuthError ? err.message : "exchange failed" },
      );
    }
    const now = Date.now();
    const requested = (data.scopes ?? info.scopes).join(" ");
    const row: ConnectionRow = {
      id: randomUUID(),
      subject: signedIn.subject,
      server,
      status: "connected",
      issuer: info.issuer,
      clientId: data.client.client_id,
      // RFC 6749 §5.1: a response without `scope` granted what was asked for.
      scopes: granted ?? requested,
      requestedScopes: requested,
      stepUpScopes: "",
      tokens: sealTokens(this.key, server, signedIn.subject, tokens),
      expiresAt: tokens.expires_at ?? null,
      version: 1,
      createdAt: now,
      updatedAt: now,
      lastUsedAt: null,
    };
    const old = await this.store.get(signedIn.subject, server);
    await this.audit.record(
      authEvent("upstream_connected", who, server, "ok", {
        connection: row.id,
        issuer: info.issuer,
        scopes: row.scopes,
        ...(old ? { replaced: old.id } : {}),
      }),
    );
    await this.store.replace(row);
    this.host.connected(row);
    return { server, connection: row.id };
  }
}

function flowContext(digest: string, server: string, subject: string): string {
  return `upstream_flow:${JSON.stringify([digest, server, subject])}`;
}
