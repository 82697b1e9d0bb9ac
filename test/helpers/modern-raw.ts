/* eslint-disable @typescript-eslint/no-explicit-any -- wire messages are read loosely in assertions */
import { request as httpRequest, type IncomingMessage } from "node:http";
import { raw, type RawResponse } from "./http.js";

/** The 2026-07-28 protocol version, as the raw helpers claim it. */
export const MODERN = "2026-07-28";

export interface ModernCall {
  id: number | string;
  method: string;
  params?: Record<string, unknown>;
  /** Client capabilities claimed in `_meta` (default: elicitation). */
  capabilities?: Record<string, unknown>;
  token?: string;
  /** Header overrides (a value of "" leaves the header out). */
  headers?: Record<string, string>;
}

/** The body and headers of one 2026-07-28 request, as a conforming client would send them. */
export function modernRequest(call: ModernCall): { headers: Record<string, string>; body: string } {
  const params = call.params ?? {};
  const meta = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": call.capabilities ?? { elicitation: {} },
    "io.modelcontextprotocol/clientInfo": { name: "raw-modern", version: "1.0.0" },
    ...(params._meta as object | undefined),
  };
  const body = JSON.stringify({
    jsonrpc: "2.0",
    id: call.id,
    method: call.method,
    params: { ...params, _meta: meta },
  });
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-protocol-version": MODERN,
    "mcp-method": call.method,
  };
  const name =
    call.method === "resources/read"
      ? params.uri
      : call.method.startsWith("tasks/")
        ? params.taskId
        : params.name;
  const named = ["tools/call", "prompts/get", "resources/read", "tasks/get", "tasks/update", "tasks/cancel"];
  if (typeof name === "string" && named.includes(call.method)) headers["mcp-name"] = name;
  if (call.token) headers.authorization = `Bearer ${call.token}`;
  for (const [k, v] of Object.entries(call.headers ?? {})) {
    if (v === "") delete headers[k];
    else headers[k] = v;
  }
  return { headers, body };
}

/** One 2026-07-28 request; the whole response. */
export function modern(url: string, call: ModernCall): Promise<RawResponse> {
  return raw(url, modernRequest(call));
}

/** The last JSON-RPC message of a response (the answer; earlier ones are notifications). */
export function answer(r: RawResponse): Record<string, any> {
  return (r.messages.at(-1) ?? {}) as Record<string, any>;
}

/**
 * A request whose response stream the test reads as it comes (subscriptions/listen, progress) and
 * may close early (cancellation). `messages` fills as SSE events arrive.
 */
export interface OpenStream {
  status: Promise<number>;
  messages: Record<string, any>[];
  /** Resolves with the first message `match` accepts. */
  next(match: (m: Record<string, any>) => boolean, timeoutMs?: number): Promise<Record<string, any>>;
  close(): void;
}

export function openModern(url: string, call: ModernCall): OpenStream {
  const { headers, body } = modernRequest(call);
  const target = new URL(url);
  const messages: Record<string, any>[] = [];
  const waiters = new Set<() => void>();
  let response: IncomingMessage | undefined;
  const req = httpRequest({
    host: target.hostname,
    port: target.port,
    path: target.pathname,
    method: "POST",
    headers,
    agent: false,
  });
  const status = new Promise<number>((resolve, reject) => {
    req.on("response", (res) => {
      response = res;
      resolve(res.statusCode ?? 0);
      let pending = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        pending += chunk;
        let at: number;
        while ((at = pending.indexOf("\n\n")) >= 0) {
          const event = pending.slice(0, at);
          pending = pending.slice(at + 2);
          const data = event
            .split("\n")
            .filter((l) => l.startsWith("data:"))
            .map((l) => l.slice(5).trimStart())
            .join("\n");
          if (data) messages.push(JSON.parse(data) as Record<string, any>);
        }
        for (const w of waiters) w();
      });
      res.on("error", () => undefined);
    });
    req.on("error", reject);
  });
  status.catch(() => undefined);
  req.end(body);
  return {
    status,
    messages,
    next(match, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = messages.find(match);
          if (!found) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching message; got ${JSON.stringify(messages).slice(0, 500)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close() {
      response?.destroy();
      req.destroy();
    },
  };
}
