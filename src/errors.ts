/** Stable JSON-RPC error codes of the gateway's contract (DESIGN.md). */
export const ErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  PolicyDenied: -32001,
  RateLimited: -32002,
  Killed: -32003,
  ToolQuarantined: -32004,
  UpstreamUnavailable: -32005,
  SensitiveDataBlocked: -32006,
  /** The caller has not connected their own account at this server's authorization server (docs/upstream-credentials.md). */
  UpstreamAuthRequired: -32007,
  /** Rate limited, as told to a 2026-07-28 caller: that era forbids -32002 (its "resource not found"). */
  RateLimitedModern: -32008,
  // The codes MCP 2026-07-28 defines in its reserved range.
  HeaderMismatch: -32020,
  MissingRequiredClientCapability: -32021,
  UnsupportedProtocolVersion: -32022,
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Every refusal the gateway makes: a stable code, a short message, and a machine-readable reason. */
export class GatewayError extends Error {
  constructor(
    readonly code: ErrorCodeValue,
    readonly reason: string,
    message: string,
    readonly data: Readonly<Record<string, unknown>> = {},
    /** HTTP status to answer with when nothing has been streamed yet (e.g. 401, 403); JSON-RPC otherwise. */
    readonly httpStatus?: number,
  ) {
    super(message);
    this.name = "GatewayError";
  }

  toJsonRpc(): { code: number; message: string; data: Record<string, unknown> } {
    return { code: this.code, message: this.message, data: { reason: this.reason, ...this.data } };
  }
}

/** A request whose id is taken by one in flight (or, for a 2026-07-28 caller, waiting for input). */
export function duplicateRequestId(detail = "a request with this id is already in flight") {
  return new GatewayError(ErrorCode.InvalidRequest, "duplicate_request_id", detail);
}

export function policyDenied(reason: string, message: string, data: Record<string, unknown> = {}) {
  return new GatewayError(ErrorCode.PolicyDenied, reason, message, data);
}

export function upstreamUnavailable(server: string, reason = "upstream_unavailable", detail?: string) {
  return new GatewayError(
    ErrorCode.UpstreamUnavailable,
    reason,
    `upstream ${server} is unavailable${detail ? `: ${detail}` : ""}`,
    { server },
  );
}

/**
 * The calling user has no usable connection to an `oauth_user` server (or one without the scopes
 * the server asks for): `url` is the gateway's connect page for it (never the upstream's
 * authorization URL), absent for an anonymous caller; `extra` adds to `data` (step-up: `scopes`).
 */
export function upstreamAuthRequired(
  server: string,
  reason: string,
  detail: string,
  url?: string,
  extra: Readonly<Record<string, unknown>> = {},
) {
  return new GatewayError(
    ErrorCode.UpstreamAuthRequired,
    reason,
    `connect your account at ${server} first: ${detail}`,
    url === undefined ? { ...extra, server } : { ...extra, server, url },
  );
}

export function invalidParams(message: string) {
  return new GatewayError(ErrorCode.InvalidParams, "invalid_params", message);
}

export function methodNotFound(method: string) {
  return new GatewayError(
    ErrorCode.MethodNotFound,
    "method_not_found",
    `method not supported: ${method.slice(0, 100)}`,
  );
}

/** An error a peer (upstream or client) returned: relayed to the other side as it was, not a gateway refusal. */
export class PeerRpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = "PeerRpcError";
  }
}
