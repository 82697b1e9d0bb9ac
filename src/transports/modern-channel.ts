import type { ClientChannel } from "../gateway/relay.js";
import { LOG_LEVELS } from "../gateway/relay.js";
import { META } from "../gateway/modern.js";
import type { Id, JsonObject, Message, Notification, Request } from "../jsonrpc.js";
import { isObject } from "../jsonrpc.js";
import type { ResponseStream } from "./http-channel.js";

const KEEPALIVE_MS = 25_000;

/**
 * One client operation of a modern caller: a request and its retries (multi round-trip). The
 * answer goes to the stream of the latest attempt; what a server asks meanwhile waits here until
 * the attempt answers with `input_required`.
 */
interface Exchange {
  stream: ResponseStream | undefined;
  /** The lowest log level the attempt asked for (`_meta` logLevel); none: no log messages. */
  logLevel: number | undefined;
  /** What the attempt's client said it can be asked (its `_meta` clientCapabilities). */
  capabilities: JsonObject;
  /** Server→client requests waiting for the caller's input, by the gateway's own ids, with their keys. */
  readonly asks: Map<number, { readonly request: Request; readonly key: string }>;
  waiter: (() => void) | undefined;
}

/** A `subscriptions/listen` stream and what it asked for. */
interface Listen {
  readonly stream: ResponseStream;
  readonly id: Id;
  readonly filter: JsonObject;
  readonly keepalive: NodeJS.Timeout;
}

/** The client capability each server→client request needs. */
const CAPABILITY_OF: Readonly<Record<string, string>> = {
  "elicitation/create": "elicitation",
  "sampling/createMessage": "sampling",
  "roots/list": "roots",
};

const LIST_FILTERS: Readonly<Record<string, string>> = {
  "notifications/tools/list_changed": "toolsListChanged",
  "notifications/prompts/list_changed": "promptsListChanged",
  "notifications/resources/list_changed": "resourcesListChanged",
};

/**
 * A modern (2026-07-28) caller's way back, for the gateway's session of that caller (docs/
 * protocol-eras.md). There is no standing stream: what belongs to a request (progress, log lines
 * it asked for) rides that request's response stream; a server's request to the client becomes an
 * input request of that request's `input_required` answer (the session parks the call, see
 * gateway/input-required.ts); change notifications go to the caller's `subscriptions/listen`
 * streams that asked for them, tagged with the subscription's id. Anything else has nowhere to go
 * and is dropped: 2026-07-28 has no resumable stream to queue it for.
 */
export class ModernChannel implements ClientChannel {
  private readonly exchanges = new Map<Id, Exchange>();
  private readonly listens = new Set<Listen>();

  /**
   * `refuse` answers a server's request the caller cannot be asked: nothing in flight to carry it,
   * or (`missing`) the request's client did not declare the capability it needs.
   */
  constructor(private readonly refuse: (id: number, missing: boolean) => void) {}

  /** The attempt of `related` now answering on `stream` (a first attempt, or a retry of a parked call). */
  bind(related: Id, stream: ResponseStream, logLevel: string | undefined, capabilities: JsonObject): void {
    const level = logLevel === undefined ? undefined : LOG_LEVELS.indexOf(logLevel);
    const held = this.exchanges.get(related);
    if (held) {
      held.stream = stream;
      held.logLevel = level;
      held.capabilities = capabilities;
      return;
    }
    this.exchanges.set(related, {
      stream,
      logLevel: level,
      capabilities,
      asks: new Map(),
      waiter: undefined,
    });
  }

  /** Whether a request `related` is in flight or waiting for input: its id is taken. */
  holds(related: Id): boolean {
    return this.exchanges.has(related);
  }

  /** The attempt answered; the exchange stays while its call is parked (`end` forgets it). */
  unbind(related: Id): void {
    const held = this.exchanges.get(related);
    if (held) held.stream = undefined;
  }

  end(related: Id): void {
    const held = this.exchanges.get(related);
    this.exchanges.delete(related);
    for (const id of held?.asks.keys() ?? []) this.refuse(id, false);
  }

  /** Resolves once a server asked something of the caller during `related` (asks made together are collected). */
  inputNeeded(related: Id): Promise<void> {
    const held = this.exchanges.get(related);
    if (!held) return new Promise(() => {});
    if (held.asks.size > 0) return Promise.resolve();
    return new Promise((resolve) => {
      held.waiter = () => setImmediate(resolve);
    });
  }

  /** The asks waiting under `related`, as `inputRequests` (keyed by the gateway's ids). */
  inputRequests(related: Id): JsonObject {
    const out: JsonObject = {};
    for (const { request, key } of this.exchanges.get(related)?.asks.values() ?? []) {
      const entry: JsonObject = { method: request.method };
      if (request.params) entry.params = request.params;
      out[key] = entry;
    }
    return out;
  }

  /**
   * The caller's `inputResponses` for the asks of `related`: each answered ask is handed to
   * `deliver` (the session's relay, which protects the answer) and leaves the waiting set.
   * Responses to keys nobody asked are ignored, as the spec asks.
   */
  answer(related: Id, responses: JsonObject, deliver: (id: number, result: JsonObject) => void): void {
    const held = this.exchanges.get(related);
    if (!held) return;
    for (const [id, ask] of [...held.asks]) {
      const value = Object.hasOwn(responses, ask.key) ? responses[ask.key] : undefined;
      if (!isObject(value)) continue;
      held.asks.delete(id);
      deliver(id, value);
    }
  }

  send(message: Message, related?: Id, key?: string): void {
    if ("id" in message && "method" in message) return this.ask(message, related, key);
    const n = message as Notification;
    const held = related === undefined ? undefined : this.exchanges.get(related);
    if (n.method === "notifications/cancelled") {
      // The server withdrew a request it made: it is no longer the caller's to answer.
      const id = n.params?.requestId;
      for (const e of this.exchanges.values()) if (typeof id === "number") e.asks.delete(id);
      return;
    }
    if (held) {
      if (n.method === "notifications/message" && !this.wantsLog(held, n.params?.level)) return;
      held.stream?.push(n);
      return;
    }
    this.fanOut(n);
  }

  /** A `subscriptions/listen` stream: acknowledged at once, then fed what its filter asked for. */
  listen(id: Id, stream: ResponseStream, honoured: JsonObject): () => void {
    const keepalive = setInterval(() => stream.comment(), KEEPALIVE_MS);
    keepalive.unref();
    const entry: Listen = { stream, id, filter: honoured, keepalive };
    this.listens.add(entry);
    stream.push({
      jsonrpc: "2.0",
      method: "notifications/subscriptions/acknowledged",
      params: { _meta: { [META.subscriptionId]: id }, notifications: honoured },
    });
    return () => {
      clearInterval(keepalive);
      this.listens.delete(entry);
    };
  }

  /** The caller's open listen streams. */
  get listenCount(): number {
    return this.listens.size;
  }

  get listening(): boolean {
    return this.listens.size > 0;
  }

  close(): void {
    for (const related of [...this.exchanges.keys()]) this.end(related);
    for (const l of this.listens) {
      clearInterval(l.keepalive);
      // A graceful end: the listen request's own response, then the stream closes.
      l.stream.finish({
        jsonrpc: "2.0",
        id: l.id,
        result: { resultType: "complete", _meta: { [META.subscriptionId]: l.id } },
      });
    }
    this.listens.clear();
  }

  private ask(request: Request, related: Id | undefined, key: string | undefined): void {
    const held = related === undefined ? undefined : this.exchanges.get(related);
    const id = request.id;
    if (!held || typeof id !== "number") {
      if (typeof id === "number") queueMicrotask(() => this.refuse(id, false));
      return;
    }
    // Never ask a client for what this request did not say it can do (its own capabilities, not
    // those its session opened with): the server is refused instead (-32021).
    const needs = Object.hasOwn(CAPABILITY_OF, request.method) ? CAPABILITY_OF[request.method] : undefined;
    if (!needs || !isObject(held.capabilities[needs])) {
      queueMicrotask(() => this.refuse(id, true));
      return;
    }
    // The server's own key when it has one and it is not taken (an aggregate route's servers may
    // pick the same), else the gateway's id.
    const taken = new Set([...held.asks.values()].map((a) => a.key));
    const name = key !== undefined && key.length <= 200 && !taken.has(key) ? key : String(id);
    held.asks.set(id, { request, key: name });
    const waiter = held.waiter;
    held.waiter = undefined;
    waiter?.();
  }

  private wantsLog(held: Exchange, level: unknown): boolean {
    return held.logLevel !== undefined && LOG_LEVELS.indexOf(String(level)) >= held.logLevel;
  }

  private fanOut(n: Notification): void {
    const flag = Object.hasOwn(LIST_FILTERS, n.method) ? LIST_FILTERS[n.method] : undefined;
    for (const l of this.listens) {
      if (flag) {
        if (l.filter[flag] !== true) continue;
      } else if (n.method === "notifications/resources/updated") {
        const uris = l.filter.resourceSubscriptions;
        if (!Array.isArray(uris) || !uris.includes(n.params?.uri ?? null)) continue;
      } else continue;
      const meta = isObject(n.params?._meta) ? n.params._meta : {};
      l.stream.push({
        jsonrpc: "2.0",
        method: n.method,
        params: { ...n.params, _meta: { ...meta, [META.subscriptionId]: l.id } },
      });
    }
  }
}
