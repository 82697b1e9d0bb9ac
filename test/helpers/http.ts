import { request as httpRequest, type IncomingHttpHeaders } from "node:http";

/** The protocol version the raw helpers speak unless told otherwise. */
export const PROTOCOL_VERSION = "2025-11-25";

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** JSON-RPC messages in the body: the JSON body, or the `data:` payloads of an SSE body. */
  messages: Record<string, unknown>[];
}

export interface RawRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  timeoutMs?: number;
}

/**
 * One HTTP request with node:http, which (unlike fetch) lets a test set any header, Host included,
 * and send any body. Reads the whole response.
 */
export function raw(url: string, req: RawRequest = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const r = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        method: req.method ?? "POST",
        headers: req.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text,
            messages: parseMessages(text, String(res.headers["content-type"] ?? "")),
          });
        });
        res.on("error", reject);
      },
    );
    r.setTimeout(req.timeoutMs ?? 20_000, () =>
      r.destroy(new Error(`${req.method ?? "POST"} ${url} timed out`)),
    );
    r.on("error", reject);
    if (req.body !== undefined) r.write(req.body);
    r.end();
  });
}

export function parseMessages(text: string, contentType: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const push = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(push);
    else if (typeof v === "object" && v !== null) out.push(v as Record<string, unknown>);
  };
  if (contentType.includes("text/event-stream")) {
    for (const event of text.split(/\r?\n\r?\n/)) {
      const data = event
        .split(/\r?\n/)
        .filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).replace(/^ /, ""))
        .join("\n");
      if (!data) continue;
      try {
        push(JSON.parse(data));
      } catch {
        // not JSON: ignore
      }
    }
    return out;
  }
  try {
    push(JSON.parse(text));
  } catch {
    // not JSON: no messages
  }
  return out;
}

/** Headers a streamable-HTTP client sends on a POST. */
export function mcpHeaders(extra: Record<string, string> = {}, sessionId?: string): Record<string, string> {
  return {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    ...(sessionId ? { "mcp-session-id": sessionId, "mcp-protocol-version": PROTOCOL_VERSION } : {}),
    ...extra,
  };
}

export function initializeRequest(protocolVersion = PROTOCOL_VERSION, id: number | string = 1) {
  return {
    jsonrpc: "2.0",
    id,
    method: "initialize",
    params: {
      protocolVersion,
      capabilities: {},
      clientInfo: { name: "warden-raw-test", version: "1.0.0" },
    },
  };
}

export interface RawSession {
  sessionId: string;
  protocolVersion: string;
  initialize: RawResponse;
  /** POST one JSON-RPC message (or raw text) on this session. */
  post(message: unknown, headers?: Record<string, string>): Promise<RawResponse>;
}

/**
 * Opens a session by hand: initialize, then notifications/initialized. Throws unless the gateway
 * answers 200 with a session id.
 */
export async function openRawSession(
  mcpUrl: string,
  opts: { protocolVersion?: string; headers?: Record<string, string> } = {},
): Promise<RawSession> {
  const init = await raw(mcpUrl, {
    headers: mcpHeaders(opts.headers),
    body: JSON.stringify(initializeRequest(opts.protocolVersion)),
  });
  const sessionId = init.headers["mcp-session-id"];
  if (init.status !== 200 || typeof sessionId !== "string") {
    throw new Error(`initialize failed: HTTP ${init.status} ${init.text.slice(0, 300)}`);
  }
  const result = init.messages.find((m) => "result" in m)?.result as { protocolVersion?: string } | undefined;
  const protocolVersion = result?.protocolVersion ?? opts.protocolVersion ?? PROTOCOL_VERSION;
  const post = (message: unknown, headers: Record<string, string> = {}) =>
    raw(mcpUrl, {
      headers: mcpHeaders(
        { "mcp-protocol-version": protocolVersion, ...opts.headers, ...headers },
        sessionId,
      ),
      body: typeof message === "string" ? message : JSON.stringify(message),
    });
  const initialized = await post({ jsonrpc: "2.0", method: "notifications/initialized" });
  if (initialized.status >= 300) {
    throw new Error(`notifications/initialized failed: HTTP ${initialized.status} ${initialized.text}`);
  }
  return { sessionId, protocolVersion, initialize: init, post };
}

/** The JSON-RPC error object of the response to request `id` (or the only error in the body). */
export function rpcError(
  res: RawResponse,
  id?: unknown,
): { code: number; message: string; data?: { reason?: string } } | undefined {
  const msg = res.messages.find((m) => "error" in m && (id === undefined || m.id === id));
  return msg?.error as { code: number; message: string; data?: { reason?: string } } | undefined;
}

/**
 * Opens a GET stream and resolves with its status and headers as soon as they arrive; `close()`
 * ends it. A non-2xx response is read to the end and closed.
 */
export function openGetStream(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: IncomingHttpHeaders; close(): void }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const r = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: "GET",
        headers: { accept: "text/event-stream", ...headers },
        agent: false,
      },
      (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, close: () => r.destroy() });
      },
    );
    r.setTimeout(20_000, () => r.destroy(new Error(`GET ${url} timed out`)));
    r.on("error", (err) => {
      if ((err as NodeJS.ErrnoException).code !== "ECONNRESET") reject(err);
    });
    r.end();
  });
}
