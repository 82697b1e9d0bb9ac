import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { anonymousPrincipal, type Principal } from "../auth/principal.js";
import { ErrorCode } from "../errors.js";
import type { Gateway } from "../gateway/gateway.js";
import type { Session } from "../gateway/session.js";
import { errorResponse, isNotification, isRequest, type Message } from "../jsonrpc.js";
import { rpcError } from "../upstreams/connection.js";
import { EXCESS_MESSAGES } from "./json-scan.js";
import { scanStdioInput, ScanningReadBuffer } from "./stdio-scan.js";

/** Who calls through stdio, and (a token's holder) how to check again that the token still holds. */
export interface StdioIdentity {
  readonly principal: Principal;
  readonly check?: () => Promise<unknown>;
}

/**
 * The aggregate endpoint over stdio, for desktop clients that launch their servers. The caller is
 * whoever launched the process: by default anonymous, with the scopes of `auth.anonymous`; given a
 * token's holder, the token is checked again before each request (revoked or expired: refused).
 * Framing is the SDK's.
 */
export async function serveStdio(
  gateway: Gateway,
  identity: StdioIdentity = { principal: anonymousPrincipal(gateway.config.auth.anonymous) },
): Promise<{ closed: Promise<void> }> {
  const transport = new StdioServerTransport();
  const route = gateway.routes.get("/mcp");
  if (!route) throw new Error("no aggregate route");
  const { principal } = identity;
  const write = (m: Message) => void transport.send(m as JSONRPCMessage).catch(() => {});
  const g = gateway.config.gateway;
  const limits = { depth: g.maxJsonDepth, width: g.maxJsonWidth, values: g.maxJsonValues };
  // Each line is scanned before the SDK parses it; one past a limit is dropped, audited, and (a
  // request) answered under its id once the line has ended. The client may go on.
  scanStdioInput(
    transport,
    new ScanningReadBuffer(
      limits,
      (excess) => {
        void gateway.refusals
          .record(
            { reason: "json_limit_exceeded", code: ErrorCode.InvalidRequest },
            {
              principal,
              detail: { limit: excess },
              log: { msg: "stdio message refused: past a JSON limit" },
            },
          )
          .catch(() => undefined);
      },
      (excess, id) => {
        // Without an id (a notification, or none found) there is no one waiting for an answer.
        if (id === undefined) return;
        const data = { reason: "json_limit_exceeded", limit: excess };
        write(errorResponse(id, ErrorCode.InvalidRequest, EXCESS_MESSAGES[excess], data));
      },
    ),
  );
  let session: Session | undefined;
  let closedResolve: () => void = () => {};
  const closed = new Promise<void>((resolve) => (closedResolve = resolve));

  // Messages are dispatched in arrival order, each after the check of the one before has ended.
  let gate: Promise<void> = Promise.resolve();
  transport.onmessage = (raw) => {
    const message = raw as Message;
    if (!identity.check) return dispatch(message);
    gate = gate.then(() => checkThenDispatch(message, identity.check as () => Promise<unknown>));
  };
  const checkThenDispatch = async (message: Message, check: () => Promise<unknown>) => {
    if (!isRequest(message)) return dispatch(message);
    try {
      await check();
    } catch (err) {
      const why = (err as Error).message;
      await gateway.refusals
        .record(
          { reason: "invalid_token", code: ErrorCode.PolicyDenied },
          {
            principal,
            method: message.method,
            log: { msg: "stdio caller's token refused", context: { why } },
          },
        )
        .catch(() => undefined);
      write(
        errorResponse(message.id, ErrorCode.PolicyDenied, `token refused: ${why}`, {
          reason: "invalid_token",
        }),
      );
      return;
    }
    dispatch(message);
  };
  const dispatch = (message: Message) => {
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
