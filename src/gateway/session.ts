import { auditEvent } from "../audit/event.js";
import type { AuditLog } from "../audit/log.js";
import type { Principal } from "../auth/principal.js";
import {
  ErrorCode,
  GatewayError,
  PeerRpcError,
  invalidParams,
  methodNotFound,
  policyDenied,
  upstreamUnavailable,
} from "../errors.js";
import type { Id, JsonObject, Message, Notification, Request } from "../jsonrpc.js";
import { isObject } from "../jsonrpc.js";
import type { Logger } from "../log.js";
import type { CallContext, Forwarder, ListOutcome, Outcome, Plan } from "../pipeline/context.js";
import type { LinkUser, UpstreamLink } from "../upstreams/link.js";
import type { UpstreamServer } from "../upstreams/server.js";
import type { Protector } from "../protect/protector.js";
import { auditUnavailable, principalFields } from "../pipeline/stages/audit.js";
import { killedError } from "../pipeline/stages/kill-switch.js";
import type { KillSwitch } from "../ops/kill-switch.js";
import { hasCapability, mergeCapabilities, negotiateVersion } from "./capabilities.js";
import type { ClientRequestGuard } from "./client-requests.js";
import type { ServerTexts } from "./server-texts.js";
import { ResourceIndex } from "./resource-index.js";
import type { Route } from "./route.js";

/** Where messages for the client go; `related` names the client request a message belongs to. */
export interface ClientChannel {
  send(message: Message, related?: Id): void;
  /** Ends whatever the transport holds open for the session (a GET stream). */
  close(): void;
}

export interface SessionDeps {
  readonly servers: ReadonlyMap<string, UpstreamServer>;
  readonly pipeline: (ctx: CallContext) => Promise<Outcome>;
  /** Each server's data protection, also applied to what it sends outside a call's result. */
  readonly protectors: ReadonlyMap<string, Protector>;
  readonly version: string;
  readonly timeoutMs: number;
  readonly audit: AuditLog;
  /** Counts a refusal made before the pipeline (metrics). */
  readonly refused: (reason: string) => void;
  /** The kill switch: a killed caller opens no session, a killed server no connection. */
  readonly kills: KillSwitch;
  /** Protects server→client requests and the client's answers (client-requests.ts). */
  readonly clientRequests: ClientRequestGuard;
  /** Protects instructions, notifications and errors outside calls (server-texts.ts). */
  readonly serverTexts: ServerTexts;
}

interface InFlight {
  readonly controller: AbortController;
  server: string | undefined;
  /** The tool or prompt name (or resource URI) on `server`. */
  name: string | undefined;
}

interface Outgoing {
  resolve(result: JsonObject): void;
  reject(err: Error): void;
  readonly server: string;
  readonly upstreamId: Id;
  readonly timer: NodeJS.Timeout;
}

const MAX_LIST_PAGES = 100;
const LIST_KEYS = {
  "tools/list": "tools",
  "prompts/list": "prompts",
  "resources/list": "resources",
  "resources/templates/list": "resourceTemplates",
} as const;
const CLIENT_REQUESTS = new Map([
  ["sampling/createMessage", "sampling"],
  ["elicitation/create", "elicitation"],
  ["roots/list", "roots"],
]);
const RELAYED_NOTIFICATIONS = new Set([
  "notifications/progress",
  "notifications/cancelled",
  "notifications/message",
  "notifications/resources/updated",
  "notifications/tools/list_changed",
  "notifications/prompts/list_changed",
  "notifications/resources/list_changed",
  "notifications/elicitation/complete",
]);

/** Log levels from the least severe: a session's `logging/setLevel` on a shared connection filters here. */
const LOG_LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];

/**
 * One client session: the upstream connection it uses for each server of its route (its own, its
 * user's or a shared one: docs/isolation.md), its requests in flight, and the relay of what the
 * servers send it.
 */
export class Session implements Forwarder, LinkUser {
  lastSeen = Date.now();
  protocolVersion = "2025-03-26";
  private initParams: JsonObject | undefined;
  private readonly links = new Map<string, UpstreamLink>();
  private readonly inflight = new Map<Id, InFlight>();
  /** Per server: the lowest log level this session asked for, on a connection it does not own. */
  private readonly logLevels = new Map<string, number>();
  private readonly outgoing = new Map<number, Outgoing>();
  private nextOutgoing = 1;
  private resources: ResourceIndex | undefined;
  /** Tool and prompt definitions each server listed to this session (key `kind\0server`), for supply-chain checks. */
  private readonly definitions = new Map<string, Map<string, JsonObject>>();
  private closed = false;

  constructor(
    readonly id: string,
    readonly route: Route,
    private _principal: Principal,
    private readonly channel: ClientChannel,
    private readonly deps: SessionDeps,
    readonly log: Logger,
  ) {}

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
    // The brake before any upstream work: a killed caller starts no process and opens no session.
    const caller = { subject: this.principal.subject, clientId: this.principal.clientId };
    const servers = this.route.servers.filter((s) => !this.deps.kills.has("server", s));
    const kill =
      this.deps.kills.check(caller) ??
      (servers.length === 0
        ? this.deps.kills.check({ ...caller, server: this.route.servers[0] })
        : undefined);
    if (kill) {
      const refusal = killedError(kill);
      this.deps.refused("killed");
      await this.deps.audit.record(
        auditEvent({
          event: "denied",
          principal: principalFields(this.principal),
          session: this.id,
          method: "initialize",
          status: "denied",
          reason: "killed",
          detail: { code: refusal.code, scope: kill.scope },
        }),
      );
      throw refusal;
    }
    this.protocolVersion = negotiateVersion(params.protocolVersion);
    this.initParams = { ...params, protocolVersion: this.protocolVersion };
    const opened = await Promise.allSettled(servers.map((s) => this.link(s).initialized()));
    const failed = opened.filter((r) => r.status === "rejected");
    if (failed.length === opened.length) {
      throw (failed[0] as PromiseRejectedResult).reason instanceof GatewayError
        ? (failed[0] as PromiseRejectedResult).reason
        : upstreamUnavailable(this.route.servers.join(","));
    }
    const inits = opened.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    const capabilities = mergeCapabilities(
      inits.map((i) => (isObject(i.capabilities) ? i.capabilities : {})),
    );
    const result: JsonObject = {
      protocolVersion: this.protocolVersion,
      capabilities,
      serverInfo: { name: "mcp-warden", version: this.deps.version },
    };
    const only = this.route.prefixed ? undefined : inits[0];
    const server = this.route.servers[0] as string;
    const info =
      only && isObject(only.serverInfo)
        ? await this.deps.serverTexts.serverInfo(server, only.serverInfo, this.caller())
        : undefined;
    if (info) result.serverInfo = info;
    const instructions = await this.instructions();
    if (instructions) result.instructions = instructions;
    return result;
  }

  /** Runs one client request through the pipeline; resolves with the JSON-RPC result. */
  async handle(request: Request, meta: { traceparent?: string } = {}): Promise<JsonObject> {
    this.lastSeen = Date.now();
    if (request.method === "ping") return {};
    if (request.method === "initialize")
      throw new GatewayError(
        ErrorCode.InvalidRequest,
        "already_initialized",
        "session is already initialized",
      );
    // Checked and the id taken before any await: a second request with the id of one in flight
    // would otherwise replace it in the table, and the first would escape the kill switch.
    if (this.inflight.has(request.id)) {
      const refusal = new GatewayError(
        ErrorCode.InvalidRequest,
        "duplicate_request_id",
        "a request with this id is already in flight on this session",
      );
      await this.refused(request, refusal);
      throw refusal;
    }
    const controller = new AbortController();
    const entry: InFlight = { controller, server: undefined, name: undefined };
    this.inflight.set(request.id, entry);
    try {
      let plan: Plan;
      try {
        plan = await this.plan(request);
      } catch (err) {
        await this.refused(request, err);
        throw err;
      }
      if (plan.kind === "call") {
        entry.server = plan.server;
        entry.name = plan.name;
      }
      const outcome = await this.deps.pipeline({
        session: this,
        principal: this.principal,
        sessionId: this.id,
        request,
        method: request.method,
        plan,
        signal: controller.signal,
        log: this.log,
        startedAt: Date.now(),
        traceparent: meta.traceparent,
      });
      return this.shape(outcome);
    } finally {
      if (this.inflight.get(request.id) === entry) this.inflight.delete(request.id);
    }
  }

  /** A request refused before the pipeline (unknown method, unmapped tool or resource): audited too. */
  private async refused(request: Request, err: unknown): Promise<void> {
    const name = request.params?.name ?? request.params?.uri;
    const event = auditEvent({
      event: "denied",
      principal: principalFields(this.principal),
      session: this.id,
      request_id: request.id,
      method: request.method.slice(0, 100),
      tool: typeof name === "string" ? name.slice(0, 200) : undefined,
      status: "denied",
      reason: err instanceof GatewayError ? err.reason : "invalid_request",
      detail: { code: err instanceof GatewayError ? err.code : (err as { code?: number })?.code },
    });
    this.deps.refused(event.reason ?? "invalid_request");
    try {
      await this.deps.audit.record(event);
    } catch {
      throw auditUnavailable();
    }
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
    return n;
  }

  /** A tool's input schema from the server's current list (the argument guards' map of it). */
  async inputSchema(server: string, tool: string): Promise<unknown> {
    try {
      return (await this.definition(server, "tool", tool))?.inputSchema;
    } catch {
      // Unknown schema: the guards still walk the actual arguments by name.
      return undefined;
    }
  }

  /**
   * An item's definition from the server's current list, fetched when this session has none (or
   * the server announced a change). Undefined only when the server lists no such item, or proved
   * at initialize that it has no such list; a list that could not be read throws the server's own
   * error: unknown must be refused, not waved through.
   */
  async definition(server: string, kind: "tool" | "prompt", name: string): Promise<JsonObject | undefined> {
    const key = `${kind}\u0000${server}`;
    if (!this.definitions.has(key)) {
      // Strict: the server's own error (auth failed, down) is the answer, never "unknown".
      await this.gather(
        kind === "tool" ? "tools/list" : "prompts/list",
        `${kind}s`,
        [server],
        undefined,
        true,
      );
      if (!this.definitions.has(key)) {
        const init = this.links.get(server)?.init;
        if (init && !hasCapability(init, `${kind}s`)) return undefined;
        throw upstreamUnavailable(server, "upstream_unavailable", `its ${kind} list could not be read`);
      }
    }
    return this.definitions.get(key)?.get(name);
  }

  toolNames(): readonly string[] {
    const names: string[] = [];
    for (const [key, tools] of this.definitions) {
      const [kind, server] = key.split("\u0000") as [string, string];
      if (kind !== "tool") continue;
      for (const tool of tools.keys()) names.push(tool, this.route.exposeName(server, tool));
    }
    return names;
  }

  /** The pipeline's terminal step: carries a plan out on this session's upstream connections. */
  async forward(ctx: CallContext): Promise<Outcome> {
    const plan = ctx.plan;
    const related = ctx.request.id;
    switch (plan.kind) {
      case "call": {
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
        return { kind: "result", result };
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
      case "list":
        return {
          kind: "list",
          key: plan.key,
          items: await this.gather(ctx.method, plan.key, plan.servers, ctx.signal, false, related),
        };
    }
  }

  /**
   * A log level for a server whose connection others share: kept for this session (messages below
   * it are not relayed), never sent upstream, where it would change every caller's level.
   */
  private setLevelHere(server: string, params: JsonObject | undefined): boolean {
    if (this.deps.servers.get(server)?.isolation === "per_session") return false;
    const level = LOG_LEVELS.indexOf(String(params?.level));
    if (level < 0) throw invalidParams("level must be one of the syslog levels");
    this.logLevels.set(server, level);
    return true;
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
    const pending = typeof id === "number" ? this.outgoing.get(id) : undefined;
    if (!pending) return;
    this.outgoing.delete(id as number);
    clearTimeout(pending.timer);
    if (error) pending.reject(new PeerRpcError(error.code, error.message, error.data));
    else pending.resolve(result ?? {});
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const entry of this.inflight.values()) entry.controller.abort("session closed");
    for (const [id, o] of this.outgoing) {
      clearTimeout(o.timer);
      o.reject(new GatewayError(ErrorCode.InternalError, "session_closed", "client session closed"));
      this.outgoing.delete(id);
    }
    this.channel.close();
    for (const [server, link] of this.links) this.deps.servers.get(server)?.detach(this, link);
  }

  private async plan(request: Request): Promise<Plan> {
    const params = request.params;
    const method = request.method;
    const listKey = LIST_KEYS[method as keyof typeof LIST_KEYS];
    if (listKey) return { kind: "list", key: listKey, servers: this.route.servers };
    switch (method) {
      case "tools/call":
      case "prompts/get": {
        const target = this.byName(params?.name, method === "tools/call");
        return {
          kind: "call",
          server: target.server,
          item: method === "tools/call" ? "tool" : "prompt",
          name: target.name,
          params: { ...params, name: target.name },
        };
      }
      case "resources/read":
      case "resources/subscribe":
      case "resources/unsubscribe": {
        if (typeof params?.uri !== "string") throw invalidParams("uri must be a string");
        return {
          kind: "call",
          server: await this.serverForUri(params.uri),
          item: "resource",
          name: params.uri,
          params,
        };
      }
      case "completion/complete": {
        const ref = params?.ref;
        if (!isObject(ref)) throw invalidParams("ref must be an object");
        if (ref.type === "ref/prompt") {
          const target = this.byName(ref.name);
          return {
            kind: "call",
            server: target.server,
            item: "prompt",
            name: target.name,
            params: { ...params, ref: { ...ref, name: target.name } },
          };
        }
        if (ref.type === "ref/resource" && typeof ref.uri === "string") {
          return {
            kind: "call",
            server: await this.serverForUri(ref.uri),
            item: "resource",
            name: ref.uri,
            params,
          };
        }
        throw invalidParams("ref must be ref/prompt or ref/resource");
      }
      case "logging/setLevel":
        return { kind: "broadcast", servers: this.serversWith("logging"), params };
      default:
        throw methodNotFound(method);
    }
  }

  private byName(name: unknown, tool = false): { server: string; name: string } {
    if (typeof name !== "string" || name.length === 0) throw invalidParams("name must be a non-empty string");
    const target = this.route.resolveName(name);
    if (target) return target;
    // A tool no server owns is refused like an unmapped one: the caller learns nothing more.
    if (tool) throw policyDenied("tool_not_mapped", `tool ${name.slice(0, 200)} is not available`);
    throw invalidParams(`unknown name: ${name.slice(0, 200)}`);
  }

  private serversWith(capability: string): string[] {
    return this.route.servers.filter((s) => hasCapability(this.links.get(s)?.init, capability));
  }

  private async serverForUri(uri: string): Promise<string> {
    if (!this.route.prefixed) return this.route.servers[0] as string;
    const found = this.lookupUri(uri);
    if (found) return found;
    await this.indexResources();
    const again = this.lookupUri(uri);
    if (again) return again;
    const owners = this.serversWith("resources");
    if (owners.length === 1) return owners[0] as string;
    throw invalidParams(`no server owns resource ${uri.slice(0, 200)}`);
  }

  async resourceTemplatesFor(server: string, uri: string): Promise<readonly JsonObject[]> {
    if (!this.resources) await this.indexResources();
    return this.resources?.templatesMatching(server, uri) ?? [];
  }

  private lookupUri(uri: string): string | undefined {
    return this.resources?.lookup(uri);
  }

  private async indexResources(): Promise<void> {
    const servers = this.serversWith("resources");
    const [resources, templates] = await Promise.all([
      this.gather("resources/list", "resources", servers),
      this.gather("resources/templates/list", "resourceTemplates", servers),
    ]);
    this.remember(resources, templates);
  }

  private remember(
    resources: ListOutcome["items"] | undefined,
    templates: ListOutcome["items"] | undefined,
  ): void {
    (this.resources ??= new ResourceIndex()).remember(resources, templates);
  }

  /** Every page of a list from each server; in an aggregate a server that is down contributes nothing. */
  /**
   * Lists `servers` and records their definitions. A failing server throws on a single-server
   * route, or with `strict` (one server's definitions are needed); an aggregate list skips it.
   */
  private async gather(
    method: string,
    key: string,
    servers: readonly string[],
    signal?: AbortSignal,
    strict = false,
    related?: Id,
  ) {
    const perServer = await Promise.allSettled(
      servers.map(async (server) => {
        const init = this.links.get(server)?.init;
        const capability = key === "resourceTemplates" ? "resources" : key;
        if (init && !hasCapability(init, capability)) return [];
        const link = this.link(server);
        const items: Array<{ server: string; item: JsonObject }> = [];
        let cursor: string | undefined;
        for (let page = 0; page < MAX_LIST_PAGES; page++) {
          const result = await link
            .list(this, related, method, cursor, signal)
            .catch(async (err: unknown) => Promise.reject(await this.upstreamError(server, method, err)));
          const list = result[key];
          if (Array.isArray(list)) for (const item of list) if (isObject(item)) items.push({ server, item });
          cursor = typeof result.nextCursor === "string" ? result.nextCursor : undefined;
          if (!cursor) break;
        }
        if (key === "tools" || key === "prompts") {
          const kind = key === "tools" ? "tool" : "prompt";
          this.definitions.set(
            `${kind}\u0000${server}`,
            new Map(items.map(({ item }) => [String(item.name), item])),
          );
        }
        return items;
      }),
    );
    const out: Array<{ server: string; item: JsonObject }> = [];
    perServer.forEach((r, i) => {
      if (r.status === "fulfilled") out.push(...r.value);
      else if (strict || !this.route.prefixed) throw r.reason;
      else
        this.log.warn(
          { server: servers[i], method, err: String(r.reason?.message ?? r.reason) },
          "list: server skipped",
        );
    });
    return out;
  }

  private shape(outcome: Outcome): JsonObject {
    if (outcome.kind === "result") return outcome.result;
    if (outcome.key === "resources") this.remember(outcome.items, undefined);
    if (outcome.key === "resourceTemplates") this.remember(undefined, outcome.items);
    const rename = outcome.key === "tools" || outcome.key === "prompts";
    const items = outcome.items.map(({ server, item }) =>
      rename && typeof item.name === "string"
        ? { ...item, name: this.route.exposeName(server, item.name) }
        : item,
    );
    return { [outcome.key]: items };
  }

  /** Each server's instructions that pass its checks (server-texts.ts); withheld ones are left out. */
  private async instructions(): Promise<string | undefined> {
    const parts: string[] = [];
    for (const [server, link] of this.links) {
      const raw = link.init?.instructions;
      if (typeof raw !== "string" || !raw.trim()) continue;
      const text = await this.deps.serverTexts.instructions(server, raw, this.caller(), this.toolNames());
      if (text) parts.push(this.route.prefixed ? `[${server}] ${text}` : text);
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

  /**
   * A server→client request: protected both ways (client-requests.ts) and relayed to this
   * session's client under a gateway id.
   */
  serverRequest(server: string, req: Request, related: Id | undefined): Promise<JsonObject> {
    const capability = CLIENT_REQUESTS.get(req.method);
    if (!capability) return Promise.reject(methodNotFound(req.method));
    if (!hasCapability(this.initParams, capability)) {
      return Promise.reject(methodNotFound(`${req.method} (the client did not declare ${capability})`));
    }
    const caller = {
      ...this.caller(),
      related: related === undefined ? undefined : { id: related, tool: this.inflight.get(related)?.name },
      toolNames: this.toolNames(),
      aggregate: this.route.servers.length > 1,
    };
    return this.deps.clientRequests.relay(server, req.method, req.params, caller, (params) =>
      this.askClient(server, req, params, related),
    );
  }

  /** Sends a server's request to the client and resolves with the client's answer. */
  private askClient(
    server: string,
    req: Request,
    params: JsonObject | undefined,
    related: Id | undefined,
  ): Promise<JsonObject> {
    if (this.closed)
      return Promise.reject(
        new GatewayError(ErrorCode.InternalError, "session_closed", "client session closed"),
      );
    const id = this.nextOutgoing++;
    return new Promise<JsonObject>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.outgoing.delete(id);
        this.channel.send({
          jsonrpc: "2.0",
          method: "notifications/cancelled",
          params: { requestId: id, reason: "timeout" },
        });
        reject(
          new GatewayError(ErrorCode.InternalError, "client_timeout", "the client did not answer in time"),
        );
      }, this.deps.timeoutMs);
      timer.unref();
      this.outgoing.set(id, { resolve, reject, server, upstreamId: req.id, timer });
      const message: Request = { jsonrpc: "2.0", id, method: req.method };
      if (params) message.params = params;
      this.channel.send(message, related);
    });
  }

  /** A notification its connection tied to this session (progress carries this client's own token). */
  serverNotification(server: string, raw: Notification, related: Id | undefined): void {
    if (this.closed) return;
    // Methods never relayed are dropped before any inspection: they cost nothing.
    if (!RELAYED_NOTIFICATIONS.has(raw.method)) return;
    if (raw.method === "notifications/message" && this.belowLevel(server, raw.params?.level)) return;
    const n = this.deps.serverTexts.notification(server, raw, this.caller());
    if (!n) {
      this.log.warn({ server, method: raw.method }, "notification withheld: it could not be inspected");
      return;
    }
    const params = n.params;
    if (n.method === "notifications/progress") {
      if (related !== undefined && this.inflight.has(related)) this.channel.send(n, related);
      return;
    }
    if (n.method === "notifications/cancelled") {
      for (const [id, o] of this.outgoing) {
        if (o.server === server && o.upstreamId === params?.requestId) {
          clearTimeout(o.timer);
          this.outgoing.delete(id);
          o.reject(new GatewayError(ErrorCode.InternalError, "cancelled", "cancelled by the server"));
          this.channel.send({ jsonrpc: "2.0", method: n.method, params: { ...params, requestId: id } });
        }
      }
      return;
    }
    if (n.method === "notifications/resources/list_changed") this.resources = undefined;
    // The next call or list fetches the new definitions, and the supply-chain checks judge them.
    if (n.method === "notifications/tools/list_changed") this.definitions.delete(`tool\u0000${server}`);
    if (n.method === "notifications/prompts/list_changed") this.definitions.delete(`prompt\u0000${server}`);
    const stream = related !== undefined && this.inflight.has(related) ? related : undefined;
    this.channel.send(n, n.method === "notifications/message" ? stream : undefined);
  }

  private belowLevel(server: string, level: unknown): boolean {
    const floor = this.logLevels.get(server);
    return floor !== undefined && LOG_LEVELS.indexOf(String(level)) < floor;
  }
}
