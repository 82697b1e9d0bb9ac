import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { anonymousPrincipal } from "../auth/principal.js";
import { ErrorCode } from "../errors.js";
import type { Gateway } from "../gateway/gateway.js";
import type { Session } from "../gateway/session.js";
import { depthExceeds, errorResponse, isNotification, isRequest, type Message } from "../jsonrpc.js";
import { rpcError } from "../upstreams/connection.js";

/**
 * The aggregate endpoint over stdio, for desktop clients that launch their servers. The caller is
 * whoever launched the process, with the scopes of `auth.anonymous`. Framing is the SDK's.
 */
export async function serveStdio(gateway: Gateway): Promise<{ closed: Promise<void> }> {
  const transport = new StdioServerTransport();
  const route = gateway.routes.get("/mcp");
  if (!route) throw new Error("no aggregate route");
  const principal = anonymousPrincipal(gateway.config.auth.anonymous);
  const write = (m: Message) => void transport.send(m as JSONRPCMessage).catch(() => {});
  let session: Session | undefined;
  let closedResolve: () => void = () => {};
  const closed = new Promise<void>((resolve) => (closedResolve = resolve));

  transport.onmessage = (raw) => {
    const message = raw as Message;
    if (depthExceeds(message, gateway.config.gateway.maxJsonDepth)) {
      if (isRequest(message))
        write(errorResponse(message.id, ErrorCode.InvalidRequest, "message nested too deeply"));
      return;
    }
    if (isRequest(message) && message.method === "initialize") {
      if (session) return write(errorResponse(message.id, ErrorCode.InvalidRequest, "already initialized"));
      const s = gateway.createSession(route, principal, { send: (m) => write(m), close: () => {} });
      session = s;
      s.initialize(message.params).then(
        (result) => write({ jsonrpc: "2.0", id: message.id, result }),
        (err: unknown) => write({ jsonrpc: "2.0", id: message.id, error: rpcError(err) }),
      );
      return;
    }
    if (!session) {
      if (isRequest(message)) write(errorResponse(message.id, ErrorCode.InvalidRequest, "not initialized"));
      return;
    }
    if (isRequest(message)) {
      session.handle(message).then(
        (result) => write({ jsonrpc: "2.0", id: message.id, result }),
        (err: unknown) => {
          if (!(err instanceof Error && "reason" in err && err.reason === "cancelled")) {
            write({ jsonrpc: "2.0", id: message.id, error: rpcError(err) });
          }
        },
      );
    } else if (isNotification(message)) {
      session.onNotification(message);
    } else {
      session.onResponse(
        message.id as string | number,
        "result" in message ? message.result : undefined,
        "error" in message ? message.error : undefined,
      );
    }
  };
  transport.onclose = () => closedResolve();
  process.stdin.on("end", () => closedResolve());
  await transport.start();
  return { closed };
}
