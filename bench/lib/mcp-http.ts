// A minimal MCP streamable-HTTP client on fetch: initialize, notifications/initialized,
// tools/call, DELETE. A thousand SDK Clients would cost the measuring process more than the
// gateway under test (and each opens a GET stream); this one holds an id and a header per session.
const PROTOCOL_VERSION = "2025-11-25";
const CLIENT_INFO = { name: "mcp-warden-bench", version: "1.0.0" };

/** A JSON-RPC error from the gateway, or an HTTP status without one. */
export class RpcError extends Error {
  constructor(
    message: string,
    readonly code: number | undefined,
    readonly data: { reason?: string; [k: string]: unknown } | undefined,
    readonly httpStatus: number,
  ) {
    super(message);
  }

  /** A short label for tables: `-32005 upstream_unavailable: <message>`, `HTTP 404: <body>`. */
  get key(): string {
    const text = this.message.slice(0, 70);
    if (this.code === undefined) return text;
    return this.data?.reason ? `${this.code} ${this.data.reason}: ${text}` : `${this.code}: ${text}`;
  }
}

/** A label for any failure: an RpcError's key, or the error's name and message. */
export function errorKey(err: unknown): string {
  if (err instanceof RpcError) return err.key;
  const e = err as Error;
  const cause = (e.cause as Error | undefined)?.message;
  return `${e.name ?? "Error"}: ${e.message}${cause ? ` (${cause})` : ""}`.slice(0, 100);
}

interface Message {
  id?: unknown;
  result?: unknown;
  error?: { code: number; message: string; data?: RpcError["data"] };
}

export interface McpSession {
  readonly id: string;
  /** tools/call; resolves with the result, rejects with RpcError on an error or isError result. */
  callTool(name: string, args: Record<string, unknown>): Promise<unknown>;
  /** DELETE the session (errors ignored). */
  close(): Promise<void>;
}

export interface OpenOptions {
  headers?: Record<string, string>;
  /** Per request. */
  timeoutMs?: number;
}

export async function openSession(url: string, opts: OpenOptions = {}): Promise<McpSession> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const base = {
    accept: "application/json, text/event-stream",
    "content-type": "application/json",
    ...opts.headers,
  };
  let nextId = 1;
  const post = async (body: object, headers: Record<string, string>) => {
    const res = await fetch(url, {
      method: "POST",
      headers: { ...base, ...headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { res, message: await readMessage(res, (body as { id?: unknown }).id) };
  };

  const init = await post(
    {
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: CLIENT_INFO },
    },
    {},
  );
  const id = init.res.headers.get("mcp-session-id");
  if (!id)
    throw new RpcError("initialize answered without a session id", undefined, undefined, init.res.status);
  const version =
    (init.message?.result as { protocolVersion?: string } | undefined)?.protocolVersion ?? PROTOCOL_VERSION;
  const sessionHeaders = { "mcp-session-id": id, "mcp-protocol-version": version };
  await post({ jsonrpc: "2.0", method: "notifications/initialized" }, sessionHeaders);

  return {
    id,
    async callTool(name, args) {
      const { message } = await post(
        { jsonrpc: "2.0", id: nextId++, method: "tools/call", params: { name, arguments: args } },
        sessionHeaders,
      );
      const result = message?.result as { isError?: boolean; content?: { text?: string }[] } | undefined;
      if (result?.isError) {
        throw new RpcError(`tool error: ${result.content?.[0]?.text ?? ""}`, undefined, undefined, 200);
      }
      return result;
    },
    async close() {
      await fetch(url, {
        method: "DELETE",
        headers: { ...opts.headers, ...sessionHeaders },
        signal: AbortSignal.timeout(timeoutMs),
      }).then(
        (r) => r.body?.cancel(),
        () => undefined,
      );
    },
  };
}

/**
 * The answer to request `id` from a POST's response, JSON or an event stream; undefined for a
 * 202. Throws RpcError for a JSON-RPC error or an HTTP error status.
 */
async function readMessage(res: Response, id: unknown): Promise<Message | undefined> {
  const type = res.headers.get("content-type") ?? "";
  const text = await res.text();
  let message: Message | undefined;
  if (type.includes("text/event-stream")) {
    for (const event of text.split(/\r?\n\r?\n/)) {
      const data = event
        .split(/\r?\n/)
        .filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).trimStart())
        .join("\n");
      if (!data) continue;
      const m = JSON.parse(data) as Message;
      if (m.id === id && ("result" in m || "error" in m)) message = m;
    }
  } else if (text.length > 0 && type.includes("application/json")) {
    message = JSON.parse(text) as Message;
  }
  if (message?.error) {
    throw new RpcError(message.error.message, message.error.code, message.error.data, res.status);
  }
  if (!res.ok)
    throw new RpcError(`HTTP ${res.status}: ${text.slice(0, 200)}`, undefined, undefined, res.status);
  if (id !== undefined && !message) {
    throw new RpcError(`no answer to request ${String(id)}`, undefined, undefined, res.status);
  }
  return message;
}
