import { randomUUID } from "node:crypto";
import type { AuditLog } from "../audit/log.js";
import type { OAuthUserBroker } from "../upstreams/oauth-user/broker.js";
import { principalKey, type Principal } from "../auth/principal.js";
import {
  duplicateRequestId,
  ErrorCode,
  GatewayError,
  invalidParams,
  methodNotFound,
  upstreamUnavailable,
} from "../errors.js";
import type { Id, JsonObject, Notification, Request } from "../jsonrpc.js";
import { isObject } from "../jsonrpc.js";
import type { Logger } from "../log.js";
import type { CallContext, Forwarder, Outcome, Plan } from "../pipeline/context.js";
import type { LinkUser, UpstreamLink } from "../upstreams/link.js";
import type { UpstreamServer } from "../upstreams/server.js";
import { freshFindings, protectionError, type Protector } from "../protect/protector.js";
import { killedError } from "../pipeline/stages/kill-switch.js";
import type { KillSwitch } from "../ops/kill-switch.js";
import { hasCapability, mergeCapabilities, negotiateVersion } from "./capabilities.js";
import { Catalog } from "./catalog.js";
import type { ClientRequestGuard } from "./client-requests.js";
import { planRequest } from "./plan.js";
import type { Refusals } from "./refusals.js";
import { ClientRelay, LOG_LEVELS, type ClientChannel } from "./relay.js";
import {
  ALL_VERSIONS,
  META,
  MODERN_METHODS,
  MODERN_VERSION,
  completeResult,
  modernMeta,
  modernPeerError,
} from "./modern.js";
import { ParkedCalls, type Parked } from "./parked-calls.js";
import type { RequestStates } from "./request-state.js";
import type { TaskOwners } from "./tasks.js";
import type { ModernChannel } from "../transports/modern-channel.js";
import type { ServerTexts } from "./server-texts.js";
import type { Route } from "./route.js";
import { CALL_TOOL, SEARCH_TOOL } from "../config/virtual.js";
import { present } from "./virtual/present.js";
import { SEARCH_TOOLS, ToolSearch, searchArguments, searchResult, unwrapCallTool } from "./virtual/search.js";
import { VirtualTools } from "./virtual/tools.js";
import type { DefinitionGuard } from "../supply/definition-guard.js";

/** How a request reaches `Session.handle`: its trace, a resumed call, who sends it. */
interface HandleMeta {
  traceparent?: string;
  resume?: Parked;
  internal?: boolean;
  principal?: Principal;
  /** A search endpoint's own list of what the caller may call, instead of its two tools. */
  catalog?: boolean;
}

/** How long a call waits for its user to finish connecting their account, once they agreed to. */
const CONNECT_WAIT_MS = 5 * 60_000;

/** What a server a user has not connected yet (per-user OAuth) is taken to offer, until they do. */
const UNCONNECTED_INIT: JsonObject = Object.freeze({ capabilities: { tools: { listChanged: true } } });

export interface SessionDeps {
  readonly servers: ReadonlyMap<string, UpstreamServer>;
  readonly pipeline: (ctx: CallContext) => Promise<Outcome>;
  /** Each server's data protection, also applied to what it sends outside a call's result. */
  readonly protectors: ReadonlyMap<string, Protector>;
  readonly version: string;
  readonly timeoutMs: number;
  readonly audit: AuditLog;
  /** Audits, counts and logs a refusal made before the pipeline. */
  readonly refusals: Refusals;
  /** The kill switch: a killed caller opens no session, a killed server no connection. */
  readonly kills: KillSwitch;
  /** Protects server→client requests and the client's answers (client-requests.ts). */
  readonly clientRequests: ClientRequestGuard;
  /** Protects instructions, notifications and errors outside calls (server-texts.ts). */
  readonly serverTexts: ServerTexts;
  /** Which server and tool made each task, per caller (tasks.ts). */
  readonly tasks: TaskOwners;
  /** Seals the `requestState` of modern callers' parked calls (request-state.ts). */
  readonly requestStates: RequestStates;
  /** Each user's upstream tokens (per-user OAuth), when a server takes them. */
  readonly broker?: OAuthUserBroker | undefined;
  /** Pinning and the scan: a server's announced tool change is reviewed at once (listChanged). */
  readonly definitions: DefinitionGuard;
}

/** How one attempt of a modern caller's call relates to a parked call (parked-calls.ts). */
interface Attempt {
  readonly resume: Parked | undefined;
  parked?: Parked;
}

interface InFlight {
  readonly controller: AbortController;
  server: string | undefined;
  /** The tool or prompt name (or resource URI) on `server`. */
  name: string | undefined;
}

/**
 * One client session: the upstream connection it uses for each server of its route (its own, its
 * user's or a shared one: docs/isolation.md), its requests in flight, and what it has been shown
 * (catalog.ts). A request is planned (plan.ts), run through the pipeline, and carried out here on
 * the session's connections; what servers send it outside a result goes through its relay (relay.ts).
 */
export class Session implements Forwarder, LinkUser {
  lastSeen = Date.now();
  protocolVersion = "2025-03-26";
  private initParams: JsonObject | undefined;
  private readonly links = new Map<string, UpstreamLink>();
  private readonly inflight = new Map<Id, InFlight>();
  /** Modern callers only: their calls waiting for input, and each attempt's part in them. */
  private readonly parked: ParkedCalls | undefined;
  private readonly attempts = new Map<Id, Attempt>();
  readonly catalog: Catalog;
  /** On a virtual server's route: its tools as this caller's lists resolve them. */
  private readonly virtualTools: VirtualTools | undefined;
  /** On a `search: true` route: the index of what this caller may call. */
  private readonly search: ToolSearch | undefined;
  private searches = 0;
  private readonly relay: ClientRelay;
  private closed = false;

  constructor(
    readonly id: string,
    readonly route: Route,
    private _principal: Principal,
    channel: ClientChannel,
    private readonly deps: SessionDeps,
    readonly log: Logger,
    /** A modern (2026-07-28) caller's session: sessionless to its client, kept by the gateway. */
    private readonly modernChannel?: ModernChannel,
  ) {
    this.catalog = new Catalog(
      route,
      {
        list: (server, method, cursor, signal, related) =>
          this.link(server).list(this, related, method, cursor, signal),
        init: (server) => this.links.get(server)?.init,
        error: (server, method, err) => this.upstreamError(server, method, err),
      },
      log,
    );
    if (route.virtual) {
      this.virtualTools = new VirtualTools(route.virtual, this.catalog, log);
      if (route.virtual.search) this.search = new ToolSearch();
    }
    this.relay = new ClientRelay(
      {
        id,
        principal: () => this.principal,
        mayAsk: (capability) =>
          this.modernChannel !== undefined || hasCapability(this.initParams, capability),
        aggregate: route.servers.length > 1,
        inFlight: (related) => this.inflight.get(related) ?? this.parked?.byRelated(related),
        toolNames: () => this.toolNames(),
        listChanged: (server, method) => this.listChanged(server, method),
      },
      channel,
      deps.clientRequests,
      deps.serverTexts,
      deps.timeoutMs,
      log,
    );
    this.channel = channel;
    if (modernChannel) {
      this.parked = new ParkedCalls(
        modernChannel,
        deps.requestStates,
        {
          route: route.path,
          caller: () => principalKey(this.principal),
          deliver: (id, result) => this.relay.response(id, result, undefined),
        },
        deps.timeoutMs,
      );
    }
  }

  /** Whether this is a modern caller's session (no handshake; every request says its version). */
  get modern(): boolean {
    return this.parked !== undefined;
  }

  private readonly channel: ClientChannel;

  /**
   * The same caller with a fresh token (a refreshed access token): later calls are decided on it,
   * and token exchange upstream uses it. Only `samePrincipal` callers may do this.
   */
  refreshPrincipal(principal: Principal): void {
    this._principal = principal;
  }

  get principal(): Principal {
    return this._principal;
  }

  /** The client's capabilities (its `initialize`, or a modern request's `_meta`). */
  get clientCapabilities(): JsonObject {
    const caps = this.initParams?.capabilities;
    return isObject(caps) ? caps : {};
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Opens every upstream of the route with the client's own parameters and merges their answers. */
  async initialize(params: JsonObject | undefined): Promise<JsonObject> {
    if (
      !params ||
      typeof params.protocolVersion !== "string" ||
      !isObject(params.capabilities) ||
      !isObject(params.clientInfo)
    ) {
      throw invalidParams("initialize needs protocolVersion, capabilities and clientInfo");
    }
    await this.refuseKilled("initialize");
    this.protocolVersion = negotiateVersion(params.protocolVersion);
    this.initParams = { ...params, protocolVersion: this.protocolVersion };
    const opened = await this.openAll();
    const result: JsonObject = {
      protocolVersion: this.protocolVersion,
      capabilities: opened.capabilities,
      serverInfo: opened.serverInfo,
    };
    if (opened.instructions) result.instructions = opened.instructions;
    return result;
  }

  /**
   * A modern caller's session takes its client's capabilities and info from the request's `_meta`
   * (no handshake). Upstream connections it opens on their behalf declare those capabilities.
   */
  adopt(clientCapabilities: JsonObject, clientInfo: JsonObject | undefined): void {
    this.protocolVersion = MODERN_VERSION;
    this.initParams = {
      protocolVersion: MODERN_VERSION,
      capabilities: clientCapabilities,
      clientInfo: clientInfo ?? { name: "unknown", version: "0" },
    };
  }

  /**
   * `server/discover` (2026-07-28): every version the gateway serves (it translates between eras,
   * so each upstream can be reached in any of them), the route's merged capabilities, identity and
   * instructions, as `initialize` would give them.
   */
  private async discover(principal: Principal): Promise<JsonObject> {
    // Like initialize: a killed caller learns nothing and starts no process.
    await this.refuseKilled("server/discover", principal);
    const opened = await this.openAll();
    const result: JsonObject = {
      supportedVersions: [...ALL_VERSIONS],
      capabilities: opened.capabilities,
      _meta: { [META.serverInfo]: opened.serverInfo },
    };
    if (opened.instructions) result.instructions = opened.instructions;
    return completeResult("server/discover", result);
  }

  /** The brake before any upstream work: a killed caller starts no process and opens no session. */
  private async refuseKilled(method: string, principal: Principal = this.principal): Promise<void> {
    const caller = { subject: principal.subject, clientId: principal.clientId };
    const servers = this.route.servers.filter((s) => !this.deps.kills.has("server", s));
    const kill =
      this.deps.kills.check(caller) ??
      (servers.length === 0
        ? this.deps.kills.check({ ...caller, server: this.route.servers[0] })
        : undefined);
    if (!kill) return;
    const refusal = killedError(kill);
    await this.deps.refusals.record(refusal, {
      principal,
      session: this.id,
      method,
      detail: { scope: kill.scope, protocol_version: this.protocolVersion },
    });
    throw refusal;
  }

  /** Opens each live upstream of the route; merged capabilities, identity and instructions. */
  private async openAll(): Promise<{
    capabilities: JsonObject;
    serverInfo: JsonObject;
    instructions?: string;
  }> {
    const servers = this.route.servers.filter((s) => !this.deps.kills.has("server", s));
    const opened = (await Promise.allSettled(servers.map((s) => this.link(s).initialized()))).map(
      // A user who has not connected their account (per-user OAuth) still gets a session: its
      // calls answer -32007 with the connect URL, and its lists are asked again once connected.
      (r): PromiseSettledResult<JsonObject> =>
        r.status === "rejected" &&
        r.reason instanceof GatewayError &&
        r.reason.code === ErrorCode.UpstreamAuthRequired
          ? { status: "fulfilled", value: UNCONNECTED_INIT }
          : r,
    );
    const failed = opened.filter((r) => r.status === "rejected");
    if (failed.length === opened.length) {
      throw (failed[0] as PromiseRejectedResult | undefined)?.reason instanceof GatewayError
        ? (failed[0] as PromiseRejectedResult).reason
        : upstreamUnavailable(this.route.servers.join(","));
    }
    const inits = opened.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    const capabilities = mergeCapabilities(
      inits.map((i) => (isObject(i.capabilities) ? i.capabilities : {})),
    );
    let serverInfo: JsonObject = { name: "mcp-warden", version: this.deps.version };
    const only = this.route.aggregate ? undefined : inits[0];
    const server = this.route.servers[0] as string;
    const info =
      only && isObject(only.serverInfo)
        ? await this.deps.serverTexts.serverInfo(server, only.serverInfo, this.caller())
        : undefined;
    if (info) serverInfo = info;
    const instructions = await this.instructions();
    return instructions ? { capabilities, serverInfo, instructions } : { capabilities, serverInfo };
  }

  /**
   * Runs one client request through the pipeline; resolves with the JSON-RPC result. `principal`
   * is the request's own (a modern caller's requests each carry a token): the session's is only
   * the latest, which a concurrent request of the same caller with another token may have replaced.
   */
  async handle(request: Request, meta: HandleMeta = {}): Promise<JsonObject> {
    try {
      return await this.handleOnce(request, meta);
    } catch (err) {
      if (!(await this.connected(err, request, meta.principal ?? this.principal))) throw err;
      return this.handleOnce(request, meta);
    }
  }

  private async handleOnce(request: Request, meta: HandleMeta): Promise<JsonObject> {
    this.lastSeen = Date.now();
    const principal = meta.principal ?? this.principal;
    let via: "call_tool" | undefined;
    if (this.search && request.method === "tools/call") {
      try {
        if (request.params?.name === SEARCH_TOOL) return await this.searchTools(request, meta, principal);
        if (request.params?.name === CALL_TOOL) {
          // The named tool, through the whole pipeline exactly as a direct call of it.
          request = unwrapCallTool(request);
          via = "call_tool";
        }
      } catch (err) {
        if (err instanceof GatewayError && err.reason === "invalid_params")
          await this.refused(request, err, principal);
        throw err;
      }
    }
    if (this.modern && !meta.internal) {
      // ping, logging/setLevel, resources/subscribe and the rest of the legacy set are gone.
      if (!MODERN_METHODS.has(request.method) || request.method === "subscriptions/listen") {
        const refusal = methodNotFound(request.method);
        await this.refused(request, refusal, principal);
        throw refusal;
      }
      if (request.method === "server/discover") return this.discover(principal);
    } else {
      if (request.method === "ping") return {};
      if (request.method === "initialize")
        throw new GatewayError(
          ErrorCode.InvalidRequest,
          "already_initialized",
          "session is already initialized",
        );
    }
    // Checked and the id taken before any await: a second request with the id of one in flight
    // would otherwise replace it in the table, and the first would escape the kill switch.
    if (this.inflight.has(request.id)) {
      const refusal = duplicateRequestId("a request with this id is already in flight on this session");
      await this.refused(request, refusal, principal);
      throw refusal;
    }
    const controller = new AbortController();
    const entry: InFlight = { controller, server: undefined, name: undefined };
    this.inflight.set(request.id, entry);
    const attempt: Attempt = { resume: meta.resume };
    if (this.modern) this.attempts.set(request.id, attempt);
    try {
      let plan: Plan;
      try {
        plan = await planRequest(
          request,
          this.route,
          this.catalog,
          (taskId) => this.deps.tasks.owner(this.taskCaller(), taskId),
          this.virtualTools ? { tools: this.virtualTools, via } : undefined,
        );
      } catch (err) {
        await this.refused(request, err, principal);
        throw err;
      }
      if (plan.kind === "call") {
        entry.server = plan.server;
        entry.name = plan.name;
      }
      const outcome = await this.deps.pipeline({
        session: this,
        catalog: this.catalog,
        principal,
        sessionId: this.id,
        request,
        method: request.method,
        plan,
        signal: controller.signal,
        log: this.log,
        startedAt: Date.now(),
        traceparent: meta.traceparent,
        protocolVersion: this.protocolVersion,
      });
      return await this.shape(outcome, request, attempt, meta.catalog === true);
    } catch (err) {
      // A retry refused before it reached its call (policy, kill switch, limits) ends that call.
      if (attempt.resume && !attempt.parked && this.attempts.has(request.id))
        this.parked?.drop(attempt.resume, err);
      throw err;
    } finally {
      if (this.inflight.get(request.id) === entry) this.inflight.delete(request.id);
      this.attempts.delete(request.id);
      // A first attempt that did not park its call leaves nothing for a retry.
      if (this.modern && !attempt.resume && !attempt.parked) this.modernChannel?.end(request.id);
    }
  }

  /**
   * `search_tools` on a search endpoint: the caller's own list of the curated tools (through the
   * pipeline, so filtered exactly as a list is: scopes, policy, pins and the poisoning scan) ranked
   * for the query. A tool the caller cannot call is never in that list, so never in the results.
   */
  private async searchTools(
    request: Request,
    meta: { traceparent?: string; principal?: Principal },
    principal: Principal,
  ): Promise<JsonObject> {
    const { query, limit } = searchArguments(request.params?.arguments);
    const list: Request = {
      jsonrpc: "2.0",
      id: `search:${String(request.id)}:${++this.searches}`,
      method: "tools/list",
    };
    const listed = await this.handle(list, { ...meta, principal, internal: true, catalog: true });
    const tools = Array.isArray(listed.tools) ? listed.tools.filter(isObject) : [];
    const result = searchResult((this.search as ToolSearch).rank(tools, query, limit));
    return this.modern ? completeResult("tools/call", result) : result;
  }

  /** The parked call a retry's `requestState` names (2026-07-28); refused and audited otherwise. */
  async claimParked(request: Request, principal?: Principal): Promise<Parked> {
    try {
      if (!this.parked) throw methodNotFound(request.method);
      // A call_tool was parked as the call it stands for (handle() unwraps it the same way).
      const asked =
        this.search && request.method === "tools/call" && request.params?.name === CALL_TOOL
          ? unwrapCallTool(request)
          : request;
      return await this.parked.claim(asked);
    } catch (err) {
      await this.refused(request, err, principal);
      throw err;
    }
  }

  /** Whether a parked call's first attempt was `related` (its exchange must outlive the attempt). */
  parkedAt(related: Id): boolean {
    return this.parked?.byRelated(related) !== undefined;
  }

  /** Whose tasks these are: the route and principal, whatever client capabilities each request claims. */
  private taskCaller(): string {
    return `${this.route.path}\u0000${principalKey(this.principal)}`;
  }

  /** Cancels a request in flight (a modern caller closed its response stream). */
  cancel(requestId: Id, reason: string): void {
    this.inflight.get(requestId)?.controller.abort(reason);
  }

  /** A tool's input schema as this caller is shown it, by its exposed name; undefined when unknown. */
  async toolSchema(name: unknown): Promise<unknown> {
    if (typeof name !== "string") return undefined;
    if (this.virtualTools) {
      const b = await this.virtualTools.binding(name).catch(() => undefined);
      const def = b
        ? await this.catalog.definition(b.server, "tool", b.tool).catch(() => undefined)
        : undefined;
      const shown = b && def ? present(b, def) : undefined;
      return shown && "item" in shown ? shown.item.inputSchema : undefined;
    }
    const target = this.route.resolveName(name);
    return target ? this.catalog.inputSchema(target.server, target.name) : undefined;
  }

  /** Attaches the route's upstreams (so their change notifications reach this session); not for a killed caller. */
  async prepare(principal: Principal): Promise<void> {
    await this.refuseKilled("subscriptions/listen", principal);
    const servers = this.route.servers.filter((s) => !this.deps.kills.has("server", s));
    await Promise.allSettled(servers.map((s) => this.link(s).initialized()));
  }

  /**
   * Resource subscriptions of a `subscriptions/listen`: each URI passes the pipeline as a
   * subscription (policy, audit) and is held upstream; the URIs that passed.
   */
  async subscribeFor(listen: Id, uris: readonly string[], principal?: Principal): Promise<string[]> {
    const held: string[] = [];
    for (const [i, uri] of uris.entries()) {
      const request: Request = {
        jsonrpc: "2.0",
        id: `listen:${String(listen)}:${i}`,
        method: "resources/subscribe",
        params: { uri },
      };
      const ok = await this.handle(request, { internal: true, principal }).then(
        () => true,
        () => false,
      );
      if (ok) held.push(uri);
    }
    return held;
  }

  async unsubscribeFor(uris: readonly string[]): Promise<void> {
    for (const [i, uri] of uris.entries()) {
      const request: Request = {
        jsonrpc: "2.0",
        id: `unlisten:${i}:${Date.now()}`,
        method: "resources/unsubscribe",
        params: { uri },
      };
      await this.handle(request, { internal: true }).catch(() => undefined);
    }
  }

  /** A request refused before the pipeline (unknown method, unmapped tool or resource): audited too. */
  refused(request: Request, err: unknown, principal: Principal = this.principal): Promise<void> {
    const name = request.params?.name ?? request.params?.uri;
    const refusal =
      err instanceof GatewayError
        ? err
        : { reason: "invalid_request", code: (err as { code?: number } | undefined)?.code };
    // Why a requestState was refused is the audit log's to know, not the caller's (invalidRequestState).
    const why = (err as { why?: unknown } | undefined)?.why;
    return this.deps.refusals.record(refusal, {
      principal,
      session: this.id,
      request_id: request.id,
      method: request.method.slice(0, 100),
      tool: typeof name === "string" ? name.slice(0, 200) : undefined,
      detail:
        typeof why === "string"
          ? { protocol_version: this.protocolVersion, why }
          : { protocol_version: this.protocolVersion },
    });
  }

  /**
   * Aborts this session's calls in flight that `matches` covers, with `error` as the reason: the
   * upstream gets notifications/cancelled and the client gets `error` (the kill switch's -32003).
   */
  abortMatching(
    matches: (t: { server?: string; name?: string; subject: string; clientId?: string }) => boolean,
    error: GatewayError,
  ): number {
    let n = 0;
    const p = this.principal;
    for (const entry of this.inflight.values()) {
      const t = { server: entry.server, name: entry.name, subject: p.subject, clientId: p.clientId };
      if (!matches(t)) continue;
      entry.controller.abort(error);
      n++;
    }
    n +=
      this.parked?.abortMatching(
        (server, name) => matches({ server, name, subject: p.subject, clientId: p.clientId }),
        error,
      ) ?? 0;
    return n;
  }

  /** The pipeline's terminal step: carries a plan out on this session's upstream connections. */
  async forward(ctx: CallContext): Promise<Outcome> {
    const plan = ctx.plan;
    const related = ctx.request.id;
    switch (plan.kind) {
      case "call": {
        const subscription = ctx.method === "resources/subscribe" || ctx.method === "resources/unsubscribe";
        if (this.parked && !subscription) return this.forwardModern(ctx, plan);
        const link = this.link(plan.server);
        const params = plan.params as JsonObject;
        const sent =
          ctx.method === "resources/subscribe"
            ? link.subscribe(this, related, params, ctx.signal)
            : ctx.method === "resources/unsubscribe"
              ? link.unsubscribe(this, related, params, ctx.signal)
              : link.call(this, related, ctx.method, params, ctx.signal, plan.name);
        const result = await sent.catch(async (err: unknown) =>
          Promise.reject(await this.deps.clientRequests.urlRequired(plan.server, err)),
        );
        return this.screened(ctx, plan.server, { kind: "result", result });
      }
      case "broadcast": {
        await Promise.all(
          plan.servers.map(async (s) => {
            if (ctx.method === "logging/setLevel" && this.setLevelHere(s, plan.params)) return;
            return this.link(s)
              .call(this, related, ctx.method, plan.params, ctx.signal)
              .catch(async (err: unknown) => Promise.reject(await this.upstreamError(s, ctx.method, err)));
          }),
        );
        return { kind: "result", result: {} };
      }
      case "list": {
        const items = await this.catalog.gather(
          ctx.method,
          plan.key,
          plan.servers,
          ctx.signal,
          false,
          related,
        );
        if (this.virtualTools && plan.key === "tools") return this.virtualTools.list(items);
        if (this.virtualTools && plan.key === "prompts")
          return { kind: "list", key: plan.key, items: this.virtualTools.prompts(items) };
        return { kind: "list", key: plan.key, items };
      }
    }
  }

  /** Tool names this caller may have seen (original, exposed and curated), for the detectors. */
  private toolNames(): readonly string[] {
    const names = this.catalog.toolNames();
    return this.virtualTools ? [...names, ...this.virtualTools.names()] : names;
  }

  /**
   * A request that found its user has not connected their account at a server (per-user OAuth,
   * -32007): a client that takes URL-mode elicitation is asked to open the gateway's connect page,
   * and once the user has connected (within CONNECT_WAIT_MS) true is returned and the request is
   * made again. Any other answer, or none in time: false, and the -32007 with its URL stands.
   */
  private async connected(err: unknown, request: Request, principal: Principal): Promise<boolean> {
    const broker = this.deps.broker;
    if (
      !broker ||
      this.modern ||
      !(err instanceof GatewayError) ||
      err.code !== ErrorCode.UpstreamAuthRequired
    )
      return false;
    const url = err.data.url;
    const server = err.data.server;
    const elicitation = this.clientCapabilities.elicitation;
    if (
      typeof url !== "string" ||
      typeof server !== "string" ||
      !isObject(elicitation) ||
      !isObject(elicitation.url)
    )
      return false;
    const elicitationId = randomUUID();
    const answer = await this.relay
      .own(
        "elicitation/create",
        {
          mode: "url",
          elicitationId,
          url,
          message: `Connect your account at ${server} so this agent can use it as you. The page opens at the gateway: you sign in there, then at ${server}'s own sign-in page.`,
        },
        request.id,
      )
      .catch(() => undefined);
    if (answer?.action !== "accept") return false;
    if (!(await broker.waitForConnection(server, principal.subject, CONNECT_WAIT_MS))) return false;
    this.relay.ownNotification({
      jsonrpc: "2.0",
      method: "notifications/elicitation/complete",
      params: { elicitationId },
    });
    return true;
  }

  /**
   * An upstream's result that carries the server's questions for the caller (a task's
   * `inputRequests`) has them judged as the server's requests are (client-requests.ts `screen`)
   * before it goes on. (The gateway's own `input_required` is built from requests it relayed.)
   */
  private async screened(ctx: CallContext, server: string, outcome: Outcome): Promise<Outcome> {
    if (outcome.kind !== "result" || !isObject(outcome.result.inputRequests)) return outcome;
    const caller = {
      principal: ctx.principal,
      session: this.id,
      related: { id: ctx.request.id, tool: ctx.plan.kind === "call" ? ctx.plan.name : undefined },
      toolNames: this.toolNames(),
      aggregate: this.route.servers.length > 1,
    };
    const inputRequests = await this.deps.clientRequests.screen(server, outcome.result.inputRequests, caller);
    return { kind: "result", result: { ...outcome.result, inputRequests } };
  }

  /**
   * A modern caller's call: it may be parked when its server asks the caller something, and taken
   * up again by a retry (parked-calls.ts). The upstream call has its own cancellation, which each
   * attempt holds while it answers.
   */
  private async forwardModern(ctx: CallContext, plan: Extract<Plan, { kind: "call" }>): Promise<Outcome> {
    const parked = this.parked as ParkedCalls;
    const attempt = this.attempts.get(ctx.request.id) as Attempt;
    const resume = attempt.resume;
    let call: { run: Promise<JsonObject>; controller: AbortController; server: string; name: string };
    if (resume) {
      call = resume;
    } else {
      const controller = new AbortController();
      const run = this.link(plan.server)
        .call(
          this,
          ctx.request.id,
          ctx.method,
          this.offeredAnswers(plan.server, ctx.request.params, plan.params),
          controller.signal,
          plan.name,
          modernMeta(ctx.request.params).clientCapabilities,
        )
        .catch(async (err: unknown) =>
          Promise.reject(modernPeerError(await this.deps.clientRequests.urlRequired(plan.server, err))),
        );
      call = { run, controller, server: plan.server, name: plan.name };
    }
    const settled = await parked.settle(ctx.request, ctx.signal, call, resume);
    if (settled.kind === "result") {
      const result = settled.result;
      if (result.resultType === "task" && typeof result.taskId === "string" && ctx.method === "tools/call") {
        const owner = { server: plan.server, tool: plan.name };
        this.deps.tasks.remember(this.taskCaller(), result.taskId, owner, result.ttlMs);
      }
      return this.screened(ctx, plan.server, { kind: "result", result: completeResult(ctx.method, result) });
    }
    attempt.parked = settled.parked;
    return { kind: "result", result: { resultType: "input_required", inputRequests: settled.inputRequests } };
  }

  /**
   * Answers a caller offers with a first attempt (`inputResponses` without a state of the
   * gateway's: 2026-07-28 lets a server take them unasked). Only a 2026-07-28 server can read
   * them, and they reach it protected as any answer of the client's (`redact_arguments`); a
   * legacy server never sees them (plan.ts leaves them out).
   */
  private offeredAnswers(
    server: string,
    asked: JsonObject | undefined,
    params: JsonObject | undefined,
  ): JsonObject | undefined {
    const offered = asked?.inputResponses;
    if (!isObject(offered) || this.links.get(server)?.init?.protocolVersion !== MODERN_VERSION) return params;
    const protector = this.deps.protectors.get(server);
    if (!protector) throw protectionError(new Error("no protection compiled for this server"));
    const answers: JsonObject = {};
    for (const [key, value] of Object.entries(offered))
      if (isObject(value)) answers[key] = protector.clientAnswer(value, freshFindings());
    return { ...params, inputResponses: answers };
  }

  onNotification(n: Notification): void {
    this.lastSeen = Date.now();
    const params = n.params ?? {};
    switch (n.method) {
      case "notifications/cancelled": {
        const entry = this.inflight.get(params.requestId as Id);
        entry?.controller.abort(
          typeof params.reason === "string" ? params.reason.slice(0, 200) : "cancelled by client",
        );
        return;
      }
      case "notifications/roots/list_changed":
        for (const link of this.links.values()) link.notify(n.method);
        return;
      default:
        // notifications/initialized is consumed: the gateway completes each upstream's handshake itself.
        return;
    }
  }

  /** The client's answer to a request the gateway relayed from an upstream. */
  onResponse(
    id: Id,
    result: JsonObject | undefined,
    error: { code: number; message: string; data?: unknown } | undefined,
  ): void {
    this.relay.response(id, result, error);
  }

  // LinkUser: what the session's connections hand it.

  serverRequest(server: string, req: Request, related: Id | undefined): Promise<JsonObject> {
    return this.relay.request(server, req, related);
  }

  /**
   * A server said a list changed: this caller's copy is dropped, and a tool list it had is fetched
   * again and reviewed at once, so a change (a rug pull) is pinned and held for every route and
   * session of the server now, not when this caller next lists (docs/supply-chain.md).
   */
  private listChanged(server: string, method: string): void {
    const had = method === "notifications/tools/list_changed" && this.catalog.hasTools(server);
    this.catalog.forget(server, method);
    if (!had || !this.deps.definitions.enabled || this.reviewing.has(server) || this.closed) return;
    this.reviewing.add(server);
    void (async () => {
      const tools = await this.catalog.toolList(server);
      for (const item of tools?.values() ?? []) await this.deps.definitions.review(server, "tool", item);
    })()
      .catch((err: unknown) =>
        this.log.warn({ server, err: (err as Error).message }, "announced tool change not reviewed"),
      )
      .finally(() => this.reviewing.delete(server));
  }

  private readonly reviewing = new Set<string>();

  serverNotification(server: string, n: Notification, related: Id | undefined): void {
    this.relay.notification(server, n, related);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const entry of this.inflight.values()) entry.controller.abort("session closed");
    this.parked?.close();
    this.relay.close();
    this.channel.close();
    for (const [server, link] of this.links) this.deps.servers.get(server)?.detach(this, link);
  }

  /**
   * A log level for a server whose connection others share, or which speaks 2026-07-28 (no
   * logging/setLevel there): kept for this session (messages below it are not relayed), never sent
   * upstream, where it would change every caller's level.
   */
  private setLevelHere(server: string, params: JsonObject | undefined): boolean {
    // Only a connection of this session's own takes the level upstream: on one serving other
    // callers (or a 2026-07-28 server, which has no logging/setLevel) it is kept per session.
    const upstream = this.deps.servers.get(server);
    if (upstream?.isolation === "per_session" && !upstream.oneConnection) return false;
    const level = LOG_LEVELS.indexOf(String(params?.level));
    if (level < 0) throw invalidParams("level must be one of the syslog levels");
    this.relay.setLevel(server, level);
    return true;
  }

  private async shape(
    outcome: Outcome,
    request: Request,
    attempt: Attempt,
    catalog = false,
  ): Promise<JsonObject> {
    if (outcome.kind === "result") {
      // The caller's next attempt of a parked call: the state is sealed once the pipeline is done
      // with the answer (it is the gateway's own, not something to inspect or redact).
      if (!attempt.parked || !this.parked) return outcome.result;
      return { ...outcome.result, requestState: await this.parked.seal(attempt.parked) };
    }
    if (outcome.key === "resources") this.catalog.remember(outcome.items, undefined);
    if (outcome.key === "resourceTemplates") this.catalog.remember(undefined, outcome.items);
    const rename = outcome.key === "tools" || outcome.key === "prompts";
    const items: JsonObject[] = [];
    if (this.search && outcome.key === "tools" && !catalog) {
      // A search endpoint lists its two tools; the catalog is what search_tools ranks.
      const list = { tools: SEARCH_TOOLS.map((t) => ({ ...t })) };
      return this.modern ? completeResult(request.method, list) : list;
    }
    for (const { server, item: upstream, binding } of outcome.items) {
      let raw = upstream;
      if (binding) {
        const shown = present(binding, upstream);
        if ("problem" in shown) {
          this.log.warn(
            { virtual_server: this.route.virtual?.name, tool: binding.exposed, problem: shown.problem },
            "virtual tool not served",
          );
          continue;
        }
        raw = shown.item;
      }
      // Redacted here, after the supply-chain checks judged and pinned the item as the server sent it.
      const item = this.listed(server, raw);
      if (!item) continue;
      items.push(
        rename && !binding && typeof item.name === "string"
          ? { ...item, name: this.route.exposeName(server, item.name) }
          : item,
      );
    }
    const list = { [outcome.key]: items };
    return this.modern ? completeResult(request.method, list) : list;
  }

  /** A listed item as the client may see it (Protector.listItem); left out when it cannot be. */
  private listed(server: string, item: JsonObject): JsonObject | undefined {
    try {
      const out = this.deps.protectors.get(server)?.listItem(item);
      if (!out) this.log.warn({ server }, "list item left out: its name or URI carries sensitive data");
      return out;
    } catch (err) {
      this.log.warn({ server, err: (err as Error).message }, "list item left out: it could not be inspected");
      return undefined;
    }
  }

  /** Each server's instructions that pass its checks (server-texts.ts); withheld ones are left out. */
  private async instructions(): Promise<string | undefined> {
    const parts: string[] = [];
    for (const [server, link] of this.links) {
      const raw = link.init?.instructions;
      if (typeof raw !== "string" || !raw.trim()) continue;
      const text = await this.deps.serverTexts.instructions(
        server,
        raw,
        this.caller(),
        this.catalog.toolNames(),
      );
      if (text) parts.push(this.route.aggregate ? `[${server}] ${text}` : text);
    }
    return parts.length > 0 ? parts.join("\n\n") : undefined;
  }

  private caller(): { principal: Principal; session: string } {
    return { principal: this.principal, session: this.id };
  }

  /** An upstream's error to a request outside a call's pipeline, protected like a call's. */
  private upstreamError(server: string, method: string, err: unknown): Promise<unknown> {
    return this.deps.serverTexts.error(server, method, err, this.caller());
  }

  /** The connection this session uses for `server` (attached on first use; it opens when needed). */
  private link(server: string): UpstreamLink {
    const attached = this.links.get(server);
    if (attached) return attached;
    const upstream = this.deps.servers.get(server);
    if (!upstream || !this.route.servers.includes(server)) throw upstreamUnavailable(server);
    if (this.closed || !this.initParams)
      throw upstreamUnavailable(server, "upstream_unavailable", "session closed");
    const link = upstream.attach(this, this.initParams);
    this.links.set(server, link);
    return link;
  }
}
