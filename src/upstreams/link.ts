import { setTimeout as delay } from "node:timers/promises";
import { callerId, type Principal } from "../auth/principal.js";
import type { Isolation } from "../config/types.js";
import { ErrorCode, GatewayError, methodNotFound, upstreamUnavailable } from "../errors.js";
import type { Id, JsonObject, Notification, Request } from "../jsonrpc.js";
import { isObject } from "../jsonrpc.js";
import { META } from "../gateway/modern.js";
import { paramHeaders, paramHeaderValues } from "../transports/mcp-headers.js";
import type { Logger } from "../log.js";
import type { ConnectionHandlers, UpstreamConnection } from "./connection.js";

/** One caller of a link: a client session. */
export interface LinkUser {
  readonly id: string;
  readonly principal: Principal;
  /** What the caller's client can be asked (its capabilities): sent with its requests to a 2026-07-28 server. */
  readonly clientCapabilities: JsonObject;
  /** A server→client request tied to this caller; `related` is the caller's request it belongs to. */
  serverRequest(server: string, request: Request, related: Id | undefined): Promise<JsonObject>;
  /** A notification for this caller alone (progress with the caller's own token). */
  serverNotification(server: string, notification: Notification, related: Id | undefined): void;
}

/** A connection that died under its callers, and who made it die when that can be told. */
export interface Crash {
  readonly inFlight: number;
  /** The caller of every call in flight, when they were all one caller's; else unattributed. */
  readonly caller: Principal | undefined;
  readonly session: string | undefined;
  readonly tool: string | undefined;
}

/** What a link needs of its server: a connection, and someone to tell about failures. */
export interface LinkHost {
  readonly name: string;
  readonly isolation: Isolation;
  readonly timeoutMs: number;
  readonly log: Logger;
  /** Whether a new connection may be opened now (the server is not in its start-up backoff). */
  admits(): GatewayError | undefined;
  /** While the gateway's first start of the server runs: when it ends, ready or not. */
  starting(): Promise<void> | undefined;
  connect(
    link: UpstreamLink,
    handlers: ConnectionHandlers,
  ): Promise<{ connection: UpstreamConnection; init: JsonObject }>;
  /** Opening failed: whether it means the server cannot start is the server's to judge. */
  openFailed(err: unknown): void;
  crashed(crash: Crash): void;
  /** A server→client request refused because no single caller could be tied to it. */
  unattributable(method: string): void;
}

interface Call {
  readonly user: LinkUser;
  readonly related: Id | undefined;
  readonly name: string | undefined;
}

/** One connection's life: its calls in flight and the server→client requests it made. */
interface Live {
  connection: UpstreamConnection | undefined;
  init: JsonObject | undefined;
  /** Up: initialized. A close before that is a failed start, not a crash. */
  up: boolean;
  readonly openedAt: number;
  readonly calls: Map<number, Call>;
  /** Upstream request id → the caller it was relayed to (to route the server's cancellation). */
  readonly asked: Map<Id, LinkUser>;
}

/** A connection up this long before it crashes starts its link's backoff over. */
const STABLE_MS = 30_000;
const CRASH_DELAY_MAX_MS = 5_000;
/** Shared list results are reused this long, unless the server announces a change first. */
const LIST_CACHE_MS = 5_000;
/** Rounds of `input_required` one call may take with a 2026-07-28 server before it is refused. */
const MAX_INPUT_ROUNDS = 10;
const LIST_CHANGES = ["tools", "prompts", "resources"] as const;

/**
 * One upstream connection and the callers it serves (docs/isolation.md): every caller of a
 * `shared` server, one user's sessions (`per_user`), or one session (`per_session`).
 *
 * Callers never see each other through it. Upstream ids are the connection's own; progress tokens
 * are replaced by the link's and mapped back to the caller that sent them; a notification or a
 * server→client request with no id of a caller's goes to a caller only when exactly one can be
 * meant (the link's only session, or the only call in flight), and is dropped or refused
 * otherwise, never guessed. Resource subscriptions are held once upstream and fanned out to their
 * subscribers.
 *
 * A crash ends this connection only: calls in flight get -32005, and the link reopens at once (a
 * process that keeps dying with no call in flight, after a backoff of its own); calls made
 * meanwhile wait for it. A link
 * nobody uses any more (a closed session's) is not reopened, except the server's own (`keepOpen`).
 */
export class UpstreamLink {
  private live: Live | undefined;
  private opening: Promise<Live> | undefined;
  private readonly users = new Set<LinkUser>();
  private readonly progress = new Map<
    number,
    { user: LinkUser; token: string | number; related: Id | undefined }
  >();
  private nextToken = 1;
  private readonly subscriptions = new Map<string, Set<LinkUser>>();
  /** A 2026-07-28 server's tools that mirror parameters into headers: tool → header → property path. */
  private readonly paramHeaders = new Map<string, ReadonlyMap<string, readonly string[]>>();
  /** A 2026-07-28 server's resource subscriptions: the listen stream held for each URI. */
  private readonly resourceListens = new Map<string, AbortController>();
  private readonly lists = new Map<string, { at: number; result: Promise<JsonObject> }>();
  private crashes = 0;
  private notBefore = 0;
  private closed = false;
  private lastInit: JsonObject | undefined;
  /** Restarted after a crash: a fresh launch then, never the server's spare (see UpstreamServer.connect). */
  private crashedBefore = false;

  constructor(
    readonly key: string,
    private readonly host: LinkHost,
    /** The `initialize` params sent upstream: the session's own (per_session), else the gateway's. */
    readonly initParams: JsonObject,
    private readonly keepOpen: boolean,
  ) {}

  /**
   * Whether several sessions may use this connection: any but a per_session server's, and always a
   * 2026-07-28 server's (the gateway keeps one connection to it, UpstreamServer.attach).
   */
  private get shared(): boolean {
    return this.host.isolation !== "per_session" || this.live?.connection?.isModern === true;
  }

  /** Whether this link's connection died under it before: its reopen is then a fresh launch. */
  get restarting(): boolean {
    return this.crashedBefore;
  }

  /** The upstream's last `initialize` result (capabilities, instructions, serverInfo). */
  get init(): JsonObject | undefined {
    return this.lastInit;
  }

  get isOpen(): boolean {
    return this.live?.connection?.isOpen === true;
  }

  /** A caller the connection acts for, when the server's credentials need one (token exchange). */
  caller(): Principal | undefined {
    let last: LinkUser | undefined;
    for (const u of this.users) last = u;
    return last?.principal;
  }

  attach(user: LinkUser): void {
    this.users.add(user);
  }

  /** Forgets `user` (its subscriptions too); true when the link serves nobody any more. */
  detach(user: LinkUser): boolean {
    this.users.delete(user);
    for (const [token, p] of this.progress) if (p.user === user) this.progress.delete(token);
    for (const [uri, subscribers] of this.subscriptions) {
      if (!subscribers.delete(user) || subscribers.size > 0) continue;
      this.subscriptions.delete(uri);
      const listening = this.resourceListens.get(uri);
      this.resourceListens.delete(uri);
      if (listening) listening.abort("unsubscribed");
      else void this.live?.connection?.request("resources/unsubscribe", { uri }).catch(() => undefined);
    }
    return this.users.size === 0;
  }

  /** The open connection, opened (again) when needed; waits for a restart within the timeout. */
  ready(signal?: AbortSignal): Promise<Live> {
    const live = this.live;
    if (live?.up && live.connection?.isOpen) return Promise.resolve(live);
    if (!this.opening) {
      const refusal = this.host.admits();
      // A caller who came while the gateway was still starting the server waits for that start
      // (within the timeout) instead of being refused; a server in its backoff refuses at once.
      const started = refusal && this.host.starting();
      if (started)
        return within(started, this.host.timeoutMs, signal, this.host.name).then(() => this.ready(signal));
      if (refusal) return Promise.reject(refusal);
      this.opening = this.open().finally(() => {
        this.opening = undefined;
      });
    }
    return within(this.opening, this.host.timeoutMs, signal, this.host.name);
  }

  /** The upstream's `initialize` result, once the connection is open. */
  async initialized(signal?: AbortSignal): Promise<JsonObject> {
    return (await this.ready(signal)).init as JsonObject;
  }

  /** Opens the connection whatever `admits` says: the server's own probe, which decides readiness. */
  probe(): Promise<unknown> {
    if (this.live?.up && this.live.connection?.isOpen) return Promise.resolve();
    this.opening ??= this.open().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  /**
   * One request of `user`'s (its request `related`), with its progress token made the link's own.
   * With a 2026-07-28 server, the server's `input_required` answers are its questions to the
   * caller: each is asked through the caller's session (protected there, and turned into the
   * caller's own `input_required` if the caller is modern too) and the call retried with the
   * answers, the server's `requestState` kept here, never shown to the caller.
   */
  async call(
    user: LinkUser,
    related: Id | undefined,
    method: string,
    params: JsonObject | undefined,
    signal?: AbortSignal,
    name?: string,
    /** The capabilities this request claims (a 2026-07-28 caller's own); else the caller's session's. */
    capabilities?: JsonObject,
  ): Promise<JsonObject> {
    const live = await this.ready(signal);
    const connection = live.connection as UpstreamConnection;
    if (!connection.isModern) return this.send(live, user, related, method, params, signal, name);
    const own = { [META.clientCapabilities]: capabilities ?? user.clientCapabilities };
    let sent: JsonObject = { ...params, _meta: { ...(params?._meta as JsonObject), ...own } };
    for (let round = 0; round < MAX_INPUT_ROUNDS; round++) {
      const result = await this.send(live, user, related, method, sent, signal, name);
      if (result.resultType !== "input_required") return result;
      const asked = isObject(result.inputRequests) ? result.inputRequests : {};
      const answers: JsonObject = {};
      await Promise.all(
        Object.entries(asked).map(async ([key, req]) => {
          if (!isObject(req) || typeof req.method !== "string") return;
          const request: Request = { jsonrpc: "2.0", id: key, method: req.method };
          if (isObject(req.params)) request.params = req.params;
          answers[key] = await user.serverRequest(this.host.name, request, related);
        }),
      );
      sent = { ...sent, inputResponses: answers };
      if (result.requestState !== undefined) sent.requestState = result.requestState;
      else delete sent.requestState;
    }
    throw new GatewayError(ErrorCode.InternalError, "too_many_rounds", "the server kept asking for input");
  }

  private send(
    live: Live,
    user: LinkUser,
    related: Id | undefined,
    method: string,
    params: JsonObject | undefined,
    signal: AbortSignal | undefined,
    name: string | undefined,
  ): Promise<JsonObject> {
    const connection = live.connection as UpstreamConnection;
    const token = progressToken(params);
    let sent = params;
    let mapped: number | undefined;
    if (token !== undefined) {
      mapped = this.nextToken++;
      this.progress.set(mapped, { user, token, related });
      sent = { ...params, _meta: { ...(params?._meta as JsonObject), progressToken: mapped } };
    }
    // Out of the calls in flight as its answer is read: a server request written after the answer
    // (even in the same read) then finds no call to tie it to.
    const headers =
      connection.isModern && method === "tools/call"
        ? paramHeaderValues(this.paramHeaders.get(String(params?.name)), params?.arguments)
        : undefined;
    const { id, result } = connection.send(
      method,
      sent,
      signal,
      () => {
        live.calls.delete(id);
        if (mapped !== undefined) this.progress.delete(mapped);
      },
      headers ? { headers } : undefined,
    );
    live.calls.set(id, { user, related, name });
    return result;
  }

  /**
   * A list page. On a connection several sessions share, the same page is fetched once and reused
   * until the server announces a change (or briefly, for servers that announce nothing); each
   * caller's pipeline still filters and checks it.
   */
  list(
    user: LinkUser,
    related: Id | undefined,
    method: string,
    cursor: string | undefined,
    signal?: AbortSignal,
  ) {
    const params = cursor ? { cursor } : undefined;
    if (!this.shared) return this.call(user, related, method, params, signal);
    const key = `${method}\u0000${cursor ?? ""}`;
    const hit = this.lists.get(key);
    if (hit && Date.now() - hit.at < LIST_CACHE_MS) return hit.result;
    const result = this.call(user, related, method, params).then((page) => this.learn(method, page));
    this.lists.set(key, { at: Date.now(), result });
    result.catch(() => {
      if (this.lists.get(key)?.result === result) this.lists.delete(key);
    });
    return result;
  }

  /** What a 2026-07-28 server's tool list says about headers its calls must carry (`x-mcp-header`). */
  private learn(method: string, page: JsonObject): JsonObject {
    if (method !== "tools/list" || !this.live?.connection?.isModern || !Array.isArray(page.tools))
      return page;
    for (const tool of page.tools) {
      if (!isObject(tool) || typeof tool.name !== "string") continue;
      const annotated = paramHeaders(tool.inputSchema);
      if (annotated.size > 0) this.paramHeaders.set(tool.name, annotated);
      else this.paramHeaders.delete(tool.name);
    }
    return page;
  }

  /** Subscribes upstream for the first subscriber of a URI; later ones only join the fan-out. */
  async subscribe(
    user: LinkUser,
    related: Id | undefined,
    params: JsonObject,
    signal?: AbortSignal,
  ): Promise<JsonObject> {
    const uri = String(params.uri);
    const subscribers = this.subscriptions.get(uri);
    if (subscribers && subscribers.size > 0) {
      subscribers.add(user);
      return {};
    }
    const live = await this.ready(signal);
    const result = live.connection?.isModern
      ? this.listenFor(live.connection, uri)
      : await this.call(user, related, "resources/subscribe", params, signal);
    if (this.users.has(user)) {
      const set = this.subscriptions.get(uri) ?? new Set<LinkUser>();
      set.add(user);
      this.subscriptions.set(uri, set);
    }
    return result;
  }

  /** A 2026-07-28 server's resource subscription: a listen stream of its own. */
  private listenFor(connection: UpstreamConnection, uri: string): JsonObject {
    this.resourceListens.get(uri)?.abort("replaced");
    this.resourceListens.set(uri, this.listen(connection, { resourceSubscriptions: [uri] }));
    return {};
  }

  /** Unsubscribes upstream when the last subscriber of a URI leaves. */
  async unsubscribe(
    user: LinkUser,
    related: Id | undefined,
    params: JsonObject,
    signal?: AbortSignal,
  ): Promise<JsonObject> {
    const uri = String(params.uri);
    const subscribers = this.subscriptions.get(uri);
    if (!subscribers?.delete(user) || subscribers.size > 0) return {};
    this.subscriptions.delete(uri);
    const listening = this.resourceListens.get(uri);
    if (listening) {
      this.resourceListens.delete(uri);
      listening.abort("unsubscribed");
      return {};
    }
    return this.call(user, related, "resources/unsubscribe", params, signal);
  }

  /** A notification of the client's to its server (roots changed), for a link of its own only. */
  notify(method: string): void {
    if (!this.shared) void this.live?.connection?.notify(method);
  }

  /** Closes the connection as the gateway's own decision (no crash); the link may open again. */
  async drop(): Promise<void> {
    await this.live?.connection?.close();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.live?.connection?.close();
  }

  private async open(): Promise<Live> {
    const wait = this.notBefore - Date.now();
    if (wait > 0) await delay(wait, undefined, { ref: false });
    if (this.closed) throw upstreamUnavailable(this.host.name, "upstream_unavailable", "connection closed");
    const live: Live = {
      connection: undefined,
      init: undefined,
      up: false,
      openedAt: Date.now(),
      calls: new Map(),
      asked: new Map(),
    };
    let opened: { connection: UpstreamConnection; init: JsonObject };
    try {
      opened = await this.host.connect(this, {
        onRequest: (request) => this.request(live, request),
        onNotification: (n) => this.notification(live, n),
        onClose: (expected) => this.closedUnder(live, expected),
      });
    } catch (err) {
      this.host.openFailed(err);
      throw err;
    }
    live.connection = opened.connection;
    live.init = opened.init;
    this.lastInit = opened.init;
    // Delivered before any request: a server that registers tools once initialized (server-everything's
    // sampling tools) would otherwise see a call race ahead of the handshake's end. A 2026-07-28
    // server has no handshake to end.
    if (!opened.connection.isModern) await opened.connection.notify("notifications/initialized");
    if (this.closed || !opened.connection.isOpen) {
      void opened.connection.close();
      throw upstreamUnavailable(this.host.name, "upstream_unavailable", "connection closed");
    }
    live.up = true;
    this.live = live;
    this.lists.clear();
    if (opened.connection.isModern) {
      this.listenUpstream(opened.connection, opened.init);
      return live;
    }
    // Subscriptions are held per connection: a new process knows none of them.
    for (const uri of this.subscriptions.keys())
      void opened.connection.request("resources/subscribe", { uri }).catch(() => undefined);
    return live;
  }

  /**
   * A 2026-07-28 server tells of changes only on a `subscriptions/listen` stream: the link holds
   * one for the list changes the server offers (its notifications arrive like any other) and one
   * per subscribed resource, for as long as the connection lives.
   */
  private listenUpstream(connection: UpstreamConnection, init: JsonObject): void {
    const caps = isObject(init.capabilities) ? init.capabilities : {};
    const filter: JsonObject = {};
    for (const kind of LIST_CHANGES) {
      const cap = caps[kind];
      if (isObject(cap) && cap.listChanged === true) filter[`${kind}ListChanged`] = true;
    }
    if (Object.keys(filter).length > 0) this.listen(connection, filter);
    for (const uri of this.subscriptions.keys())
      this.resourceListens.set(uri, this.listen(connection, { resourceSubscriptions: [uri] }));
  }

  /** One upstream `subscriptions/listen`, open until aborted or the connection ends. */
  private listen(connection: UpstreamConnection, notifications: JsonObject): AbortController {
    const stop = new AbortController();
    connection
      .send("subscriptions/listen", { notifications }, stop.signal, undefined, { untimed: true })
      .result.catch(() => undefined);
    return stop;
  }

  private closedUnder(live: Live, expected: boolean): void {
    // A close before `initialize` answered is a failed start, reported by `open`.
    if (!live.up) return;
    live.up = false;
    if (this.live === live) this.live = undefined;
    if (expected || this.closed) return;
    const calls = [...live.calls.values()];
    const callers = new Set(calls.map((c) => callerId(c.user.principal)));
    const only = callers.size === 1 ? calls[calls.length - 1] : undefined;
    this.crashedBefore = true;
    if (Date.now() - live.openedAt > STABLE_MS) this.crashes = 0;
    // A process that dies on its own waits longer each time. One that died under calls restarts at
    // once: its callers owe nothing to a backoff, and a caller who keeps crashing it is the kill
    // rule's to stop, not everyone's to wait for (each such restart needs a call to cause it).
    if (calls.length === 0) this.crashes++;
    this.notBefore = Date.now() + crashDelay(this.crashes);
    this.host.crashed({
      inFlight: calls.length,
      caller: only?.user.principal,
      session: only?.user.id,
      tool: only?.name,
    });
    // Restarted now, not by the next call: one restart for every caller of a shared connection, and
    // a launch the supply-chain checks now refuse is found at once (the server is then blocked).
    if (this.keepOpen || this.users.size > 0) void this.ready().catch(() => undefined);
  }

  /** The caller a message with no caller's id can be meant for: its only session, or only call. */
  private soleCaller(live: Live): { user: LinkUser; related: Id | undefined } | undefined {
    if (!this.shared) {
      const [user] = this.users;
      if (!user) return undefined;
      let related: Id | undefined;
      for (const c of live.calls.values()) related = c.related;
      return { user, related };
    }
    if (live.calls.size !== 1) return undefined;
    const call = live.calls.values().next().value as Call;
    return { user: call.user, related: call.related };
  }

  private request(live: Live, request: Request): Promise<JsonObject> {
    if (request.method === "ping") return Promise.resolve({});
    // Roots are one client's folders: a connection several sessions share has none to ask for.
    if (request.method === "roots/list" && this.shared) return Promise.reject(methodNotFound(request.method));
    const target = this.soleCaller(live);
    if (!target) {
      this.host.unattributable(request.method);
      return Promise.reject(
        new GatewayError(
          ErrorCode.InvalidRequest,
          "unattributable",
          "no single caller this request belongs to: the gateway relays it only during one call",
        ),
      );
    }
    live.asked.set(request.id, target.user);
    return target.user
      .serverRequest(this.host.name, request, target.related)
      .finally(() => live.asked.delete(request.id));
  }

  private notification(live: Live, raw: Notification): void {
    const n = untagged(raw);
    const params = n.params ?? {};
    switch (n.method) {
      case "notifications/progress": {
        const p =
          typeof params.progressToken === "number" ? this.progress.get(params.progressToken) : undefined;
        if (p)
          p.user.serverNotification(
            this.host.name,
            { ...n, params: { ...params, progressToken: p.token } },
            p.related,
          );
        return;
      }
      case "notifications/cancelled": {
        const user = live.asked.get(params.requestId as Id);
        if (user) user.serverNotification(this.host.name, n, undefined);
        return;
      }
      case "notifications/resources/updated": {
        // A session's own connection: what its server says is for it, subscribed or not.
        if (!this.shared) break;
        const subscribers = typeof params.uri === "string" ? this.subscriptions.get(params.uri) : undefined;
        for (const user of subscribers ?? []) user.serverNotification(this.host.name, n, undefined);
        return;
      }
      case "notifications/subscriptions/acknowledged":
        // The gateway's own listen stream upstream (listenUpstream): nothing for a caller.
        return;
      case "notifications/tools/list_changed":
      case "notifications/prompts/list_changed":
      case "notifications/resources/list_changed":
        this.forgetLists(n.method);
        for (const user of this.users) user.serverNotification(this.host.name, n, undefined);
        return;
    }
    const target = this.soleCaller(live);
    if (target) target.user.serverNotification(this.host.name, n, target.related);
    else
      this.host.log.debug(
        { server: this.host.name, method: n.method },
        "notification for no single caller: dropped",
      );
  }

  private forgetLists(changed: string): void {
    const kind = changed.split("/")[1] as string;
    for (const key of this.lists.keys()) if (key.startsWith(`${kind}/`)) this.lists.delete(key);
  }
}

/** Reopen at once, unless the process keeps dying on its own: then longer each time, up to 5 s. */
function crashDelay(crashes: number): number {
  return crashes <= 1 ? 0 : Math.min(CRASH_DELAY_MAX_MS, 250 * 2 ** (crashes - 2));
}

/** `opening` within `ms`, or -32005 `upstream_timeout`; an aborted caller stops waiting. */
function within<T>(
  opening: Promise<T>,
  ms: number,
  signal: AbortSignal | undefined,
  server: string,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(upstreamUnavailable(server, "upstream_timeout", "not restarted in time")),
      ms,
    );
    timer.unref();
    const abort = () => reject(signal?.reason instanceof Error ? signal.reason : new Error("aborted"));
    signal?.addEventListener("abort", abort, { once: true });
    opening.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", abort);
    });
  });
}

/** A notification without the upstream listen stream's tag: the gateway's callers have their own. */
function untagged(n: Notification): Notification {
  const meta = n.params?._meta;
  if (!isObject(meta) || !(META.subscriptionId in meta)) return n;
  const { [META.subscriptionId]: _tag, ...rest } = meta;
  const params: JsonObject = { ...n.params };
  if (Object.keys(rest).length > 0) params._meta = rest;
  else delete params._meta;
  return { ...n, params };
}

function progressToken(params: JsonObject | undefined): string | number | undefined {
  const meta = params?._meta;
  if (!isObject(meta)) return undefined;
  const token = meta.progressToken;
  return typeof token === "string" || typeof token === "number" ? token : undefined;
}
