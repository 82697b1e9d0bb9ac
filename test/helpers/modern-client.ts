// Callers of the 2026-07-28 protocol for the tests: the official v2 client pinned to that revision
// (no `initialize`, per-request `_meta`, `server/discover` probe), and a raw-HTTP helper that POSTs
// one JSON-RPC message with the revision's `_meta` fields and routing headers, for adversarial
// tests that need to break what the client would never send (header/body mismatch and the like).
import {
  Client,
  StreamableHTTPClientTransport,
  type CallToolResult,
  type DiscoverResult,
  type ElicitRequest,
  type ElicitResult,
  type GetPromptResult,
  type ListToolsResult,
  type ReadResourceResult,
  type SubscriptionFilter,
} from "@modelcontextprotocol/client";
import { createParser } from "eventsource-parser";

export const MODERN_VERSION = "2026-07-28";
const CLIENT_INFO = { name: "warden-modern-test", version: "1.0.0" };

export type Elicit = (params: ElicitRequest["params"]) => ElicitResult | Promise<ElicitResult>;
type NotificationMethod =
  | "notifications/tools/list_changed"
  | "notifications/prompts/list_changed"
  | "notifications/resources/list_changed"
  | "notifications/resources/updated";
export interface Notice {
  method: NotificationMethod;
  params?: Record<string, unknown>;
}
type McpSubscription = Awaited<ReturnType<Client["listen"]>>;

export interface ModernClientOptions {
  /** Sent as `Authorization: Bearer <token>` on every request. */
  token?: string;
  /** Answers elicitation input requests (form and URL mode); without it none is declared. */
  elicit?: Elicit;
  /** Sees every HTTP exchange the client makes (request headers and body, response status). */
  onExchange?: (exchange: Exchange) => void;
}

export interface Exchange {
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
  status: number;
  responseHeaders: Record<string, string>;
}

export interface ModernClient {
  client: Client;
  discover(): Promise<DiscoverResult>;
  listTools(): Promise<ListToolsResult>;
  /** Options pass through: `onprogress`, `signal` (aborting it closes the call's response stream). */
  call(name: string, args?: Record<string, unknown>, options?: CallOptions): Promise<CallToolResult>;
  readResource(uri: string): Promise<ReadResourceResult>;
  getPrompt(name: string, args?: Record<string, string>): Promise<GetPromptResult>;
  /** Opens a subscriptions/listen stream; `onNotice` sees every change notification on it. */
  listen(filter: SubscriptionFilter, onNotice: (n: Notice) => void): Promise<McpSubscription>;
  close(): Promise<void>;
}
export type CallOptions = Parameters<Client["callTool"]>[1];

/** Connects the v2 client to `url`, pinned to 2026-07-28 (a pin never falls back to `initialize`). */
export async function connectModern(
  url: string | URL,
  opts: ModernClientOptions = {},
): Promise<ModernClient> {
  const capabilities = opts.elicit ? { elicitation: { form: {}, url: {} } } : {};
  const client = new Client(CLIENT_INFO, {
    versionNegotiation: { mode: { pin: MODERN_VERSION } },
    capabilities,
  });
  if (opts.elicit) {
    const elicit = opts.elicit;
    // In 2026-07-28 the client fulfils an input_required result's embedded elicitation requests
    // through this handler, then retries the call with the responses and the requestState.
    client.setRequestHandler("elicitation/create", async (req) => elicit(req.params));
  }
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    ...(opts.token ? { requestInit: { headers: { authorization: `Bearer ${opts.token}` } } } : {}),
    ...(opts.onExchange ? { fetch: recordingFetch(opts.onExchange) } : {}),
  });
  await client.connect(transport);
  return {
    client,
    discover: () => client.discover(),
    listTools: () => client.listTools(),
    call: (name, args = {}, options) => client.callTool({ name, arguments: args }, options),
    readResource: (uri) => client.readResource({ uri }),
    getPrompt: (name, args = {}) => client.getPrompt({ name, arguments: args }),
    async listen(filter, onNotice) {
      const methods: NotificationMethod[] = [];
      if (filter.toolsListChanged) methods.push("notifications/tools/list_changed");
      if (filter.promptsListChanged) methods.push("notifications/prompts/list_changed");
      if (filter.resourcesListChanged) methods.push("notifications/resources/list_changed");
      if (filter.resourceSubscriptions?.length) methods.push("notifications/resources/updated");
      for (const method of methods) {
        client.setNotificationHandler(method, (n: { params?: Record<string, unknown> }) =>
          onNotice({ method, ...(n.params ? { params: n.params } : {}) }),
        );
      }
      return client.listen(filter);
    },
    close: () => client.close(),
  };
}

function recordingFetch(onExchange: (e: Exchange) => void): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    onExchange({
      method: init?.method ?? "GET",
      headers: Object.fromEntries(new Headers(init?.headers).entries()),
      body: typeof init?.body === "string" ? init.body : undefined,
      status: res.status,
      responseHeaders: Object.fromEntries(res.headers.entries()),
    });
    return res;
  };
}

export interface RawMessage {
  id?: string | number;
  method: string;
  params?: Record<string, unknown>;
}

export interface RawOptions {
  token?: string;
  /** Replaces the `_meta` protocol version (`null`: leave it out). */
  protocolVersion?: string | null;
  /** Extra `_meta` entries, merged over the defaults. */
  meta?: Record<string, unknown>;
  /** Header overrides, applied last; a `null` value removes that header. */
  headers?: Record<string, string | null>;
}

export interface RawReply {
  status: number;
  headers: Headers;
  /** The JSON body, or for an SSE response every `data:` payload parsed, in order. */
  messages: unknown[];
  text: string;
}

/** The `Mcp-Name` a 2026-07-28 client sends for a method: the tool or prompt name, or the URI. */
export function mcpNameOf(method: string, params: Record<string, unknown> = {}): string | undefined {
  if (method === "tools/call" || method === "prompts/get") return params["name"] as string | undefined;
  if (method === "resources/read") return params["uri"] as string | undefined;
  return undefined;
}

/**
 * POSTs one JSON-RPC message as a 2026-07-28 client would (the `_meta` protocol version, client
 * info and capabilities; the Mcp-Protocol-Version, Mcp-Method and Mcp-Name headers), with every
 * part overridable, and reads the whole reply (JSON or SSE).
 */
export async function postModern(
  url: string | URL,
  msg: RawMessage,
  opts: RawOptions = {},
): Promise<RawReply> {
  const version = opts.protocolVersion === undefined ? MODERN_VERSION : opts.protocolVersion;
  const meta: Record<string, unknown> = {
    ...(version === null ? {} : { "io.modelcontextprotocol/protocolVersion": version }),
    "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
    "io.modelcontextprotocol/clientCapabilities": {},
    ...opts.meta,
  };
  const params = { ...msg.params, _meta: { ...meta, ...(msg.params?.["_meta"] as object | undefined) } };
  const body = {
    jsonrpc: "2.0",
    ...(msg.id === undefined ? {} : { id: msg.id }),
    method: msg.method,
    params,
  };
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-method": msg.method,
  };
  if (version !== null) headers["mcp-protocol-version"] = version;
  const name = mcpNameOf(msg.method, msg.params);
  if (name !== undefined) headers["mcp-name"] = name;
  if (opts.token) headers["authorization"] = `Bearer ${opts.token}`;
  for (const [k, v] of Object.entries(opts.headers ?? {})) {
    if (v === null) delete headers[k.toLowerCase()];
    else headers[k.toLowerCase()] = v;
  }
  const res = await fetch(url, { method: "POST", headers, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, messages: parseReply(res.headers, text), text };
}

function parseReply(headers: Headers, text: string): unknown[] {
  const type = headers.get("content-type") ?? "";
  if (type.includes("text/event-stream")) {
    const messages: unknown[] = [];
    const parser = createParser({
      onEvent: (event) => {
        if (event.data) messages.push(JSON.parse(event.data));
      },
    });
    parser.feed(text);
    return messages;
  }
  if (type.includes("application/json") && text) return [JSON.parse(text)];
  return [];
}
