import type { ServerResponse } from "node:http";
import { messageJson, type Message } from "../jsonrpc.js";

/**
 * Server-sent events for MCP messages. The SDK's server transport is not used downstream (see
 * streamable-http.ts); this is its whole framing: one JSON message per `message` event, which
 * cannot contain a raw newline because JSON.stringify escapes them.
 */
export function openEventStream(res: ServerResponse, headers: Record<string, string>): void {
  res.writeHead(200, {
    ...headers,
    "content-type": "text/event-stream",
    "cache-control": "no-cache, no-transform",
    connection: "keep-alive",
  });
  res.flushHeaders();
}

export function writeEvent(res: ServerResponse, message: Message, id?: string): void {
  res.write(`${id === undefined ? "" : `id: ${id}\n`}event: message\ndata: ${messageJson(message)}\n\n`);
}

export function writeComment(res: ServerResponse, text: string): void {
  res.write(`: ${text}\n\n`);
}
