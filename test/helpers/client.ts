import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  McpError,
  type ClientCapabilities,
  type CreateMessageRequest,
  type CreateMessageResult,
  type ElicitRequest,
  type ElicitResult,
  type JSONRPCMessage,
  type Notification,
  type Root,
} from "@modelcontextprotocol/sdk/types.js";
import assert from "node:assert/strict";
import { waitFor } from "./wait.js";

export interface ConnectOptions {
  name?: string;
  /** Extra capabilities; sampling/elicitation/roots are added when their handler is given. */
  capabilities?: ClientCapabilities;
  /** Answers sampling/createMessage; declares the `sampling` capability. */
  sampling?: (request: CreateMessageRequest) => CreateMessageResult | Promise<CreateMessageResult>;
  /** Answers elicitation/create; declares the `elicitation` capability. */
  elicitation?: (request: ElicitRequest) => ElicitResult | Promise<ElicitResult>;
  /** Answers roots/list with these roots; declares the `roots` capability. */
  roots?: Root[];
  /** Extra HTTP headers on every request. */
  headers?: Record<string, string>;
  /** The fetch every request goes through (default: the global one), e.g. from another source address. */
  fetch?: typeof fetch;
}

export interface ConnectedClient {
  client: Client;
  transport: StreamableHTTPClientTransport;
  sessionId: string;
  /** Every notification that has no dedicated handler (logging, list_changed, resources/updated, …). */
  notifications: Notification[];
  /** Every message the client received, in wire order, before the SDK dispatched it. */
  wire: JSONRPCMessage[];
  /** Server→client requests this client answered, by method. */
  requests: { method: string; params: unknown }[];
  /** Resolves once the standalone GET stream (server→client messages outside a call) is open. */
  standaloneStream: Promise<void>;
  /** Waits (bounded) for a notification of `method` matching `match`, and returns it. */
  waitForNotification(
    method: string,
    match?: (n: Notification) => boolean,
    timeoutMs?: number,
  ): Promise<Notification>;
  /** DELETE the session (best effort) and close the transport. */
  close(): Promise<void>;
}

/** Connects the official SDK client to a gateway endpoint over streamable HTTP. */
export async function connectClient(url: string, opts: ConnectOptions = {}): Promise<ConnectedClient> {
  const capabilities: ClientCapabilities = { ...opts.capabilities };
  // A capability given in `capabilities` (elicitation: { form, url }) is kept as given.
  if (opts.sampling) capabilities.sampling ??= {};
  if (opts.elicitation) capabilities.elicitation ??= {};
  if (opts.roots) capabilities.roots = { listChanged: true };

  const client = new Client(
    { name: opts.name ?? "warden-integration-test", version: "1.0.0" },
    { capabilities },
  );
  const notifications: Notification[] = [];
  const requests: { method: string; params: unknown }[] = [];
  client.fallbackNotificationHandler = async (n) => {
    notifications.push(n);
  };
  if (opts.sampling) {
    const answer = opts.sampling;
    client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
      requests.push({ method: req.method, params: req.params });
      return answer(req);
    });
  }
  if (opts.elicitation) {
    const answer = opts.elicitation;
    client.setRequestHandler(ElicitRequestSchema, async (req) => {
      requests.push({ method: req.method, params: req.params });
      return answer(req);
    });
  }
  if (opts.roots) {
    const roots = opts.roots;
    client.setRequestHandler(ListRootsRequestSchema, async (req) => {
      requests.push({ method: req.method, params: req.params });
      return { roots };
    });
  }

  let streamOpened!: () => void;
  const standaloneStream = new Promise<void>((resolve) => (streamOpened = resolve));
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: opts.headers ? { headers: opts.headers } : undefined,
    // Observe the GET that opens the standalone stream, so tests that expect a message on it
    // can wait until the stream exists instead of sleeping.
    fetch: async (input, init) => {
      const res = await (opts.fetch ?? fetch)(input, init);
      if ((init?.method ?? "GET").toUpperCase() === "GET" && res.ok) streamOpened();
      return res;
    },
    reconnectionOptions: {
      initialReconnectionDelay: 100,
      maxReconnectionDelay: 1000,
      reconnectionDelayGrowFactor: 1.5,
      maxRetries: 2,
    },
  });
  await client.connect(transport);
  const wire = tapIncoming(client);
  const sessionId = transport.sessionId;
  assert.ok(sessionId, "the gateway must assign an Mcp-Session-Id on initialize");

  return {
    client,
    transport,
    sessionId,
    notifications,
    wire,
    requests,
    standaloneStream,
    waitForNotification(method, match = () => true, timeoutMs = 15_000) {
      return waitFor(() => notifications.find((n) => n.method === method && match(n)), {
        timeoutMs,
        what: `notification ${method} on session ${sessionId}`,
      });
    },
    async close() {
      try {
        await transport.terminateSession();
      } catch {
        // The gateway may already be gone.
      }
      await client.close().catch(() => {});
    },
  };
}

/** Records every message `client` receives from now on, in wire order, before the SDK dispatches it. */
export function tapIncoming(client: Client): JSONRPCMessage[] {
  const transport = client.transport;
  assert.ok(transport, "tapIncoming needs a connected client");
  const wire: JSONRPCMessage[] = [];
  const deliver = transport.onmessage;
  transport.onmessage = (message, extra) => {
    wire.push(message);
    deliver?.(message, extra);
  };
  return wire;
}

/**
 * Calls a tool with a progress token and returns the result with the progress notifications seen
 * on the wire: those before the response, and any after it (which would be a relay bug). The wire
 * is read instead of `onprogress` because the SDK dispatches notifications a microtask later than
 * responses, so a last progress arriving in the same read as the response never reaches `onprogress`.
 */
export async function callWithProgress(
  client: Client,
  wire: JSONRPCMessage[],
  params: { name: string; arguments?: Record<string, unknown> },
) {
  const start = wire.length;
  const result = await client.callTool(params, undefined, { onprogress: () => {} });
  const seen = wire.slice(start);
  const isProgress = (m: JSONRPCMessage) => "method" in m && m.method === "notifications/progress";
  const first = seen.find(isProgress);
  const token =
    first && "params" in first ? (first.params as { progressToken?: unknown }).progressToken : undefined;
  const responseAt = seen.findIndex((m) => "result" in m && token !== undefined && m.id === token);
  const values = (ms: JSONRPCMessage[]) =>
    ms.filter(isProgress).map((m) => {
      const p = ("params" in m ? m.params : {}) as { progress?: number; total?: number };
      return { progress: p.progress, total: p.total };
    });
  return {
    result,
    progress: values(responseAt < 0 ? seen : seen.slice(0, responseAt)),
    late: responseAt < 0 ? [] : values(seen.slice(responseAt + 1)),
  };
}

/** Runs `fn` and returns the McpError it throws (fails the test if it resolves or throws something else). */
export async function mcpError(fn: () => Promise<unknown>): Promise<McpError> {
  try {
    const value = await fn();
    assert.fail(`expected a JSON-RPC error, got a result: ${JSON.stringify(value).slice(0, 500)}`);
  } catch (err) {
    if (err instanceof McpError) return err;
    throw err;
  }
}

/** The `reason` in a JSON-RPC error's data, if any. */
export function reasonOf(err: McpError): unknown {
  const data = err.data as { reason?: unknown } | undefined;
  return data?.reason;
}

/** Concatenated text of a tool result's text content blocks. */
export function textOf(result: unknown): string {
  const content = (result as { content?: { type: string; text?: string }[] }).content ?? [];
  return content
    .filter((c) => c.type === "text")
    .map((c) => c.text ?? "")
    .join("\n");
}
