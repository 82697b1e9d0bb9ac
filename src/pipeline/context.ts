import type { Principal } from "../auth/principal.js";
import type { JsonObject, Request } from "../jsonrpc.js";
import type { Logger } from "../log.js";
import type { ItemKind } from "../policy/access.js";
import type { Findings } from "../protect/protector.js";
import type { ToolBinding } from "../gateway/virtual/server.js";

/** A call made on a virtual server's route: the tool as the caller named it, over the upstream's. */
export interface VirtualCall {
  /** The virtual server's name (`/v/{name}/mcp`). */
  readonly server: string;
  readonly binding: ToolBinding;
  /** Set when the caller went through the search endpoint's `call_tool`. */
  readonly via: "call_tool" | undefined;
}

/** What a list method returns before it is shaped for the client: each item with its server. */
export interface ListOutcome {
  readonly kind: "list";
  readonly key: "tools" | "prompts" | "resources" | "resourceTemplates";
  /** `binding`: on a virtual route, the curated tool a listed upstream tool is shown as. */
  items: Array<{ server: string; item: JsonObject; binding?: ToolBinding }>;
  /**
   * On a virtual route: everything its servers listed, pinned and scanned as any list is (so a
   * tool the endpoint does not show is not "new" when the aggregate route lists it later).
   */
  readonly listed?: ReadonlyArray<{ server: string; item: JsonObject }>;
}
export interface ResultOutcome {
  readonly kind: "result";
  result: JsonObject;
}
export type Outcome = ListOutcome | ResultOutcome;

/**
 * How a request is carried out, decided by the router before the chain runs:
 * - `call`: one server, with the item's original name (tool, prompt) or URI;
 * - `list`: every server of the route, results gathered;
 * - `broadcast`: every server of the route that declared the capability, result `{}`.
 */
export type Plan =
  | {
      readonly kind: "call";
      readonly server: string;
      /** What the call uses, for authorization: `name` is then a tool or prompt name, or a resource URI. */
      readonly item: ItemKind;
      readonly name: string;
      params: JsonObject | undefined;
      /** A tool called through a virtual server's name: its overrides apply (stages/curate.ts). */
      readonly virtual?: VirtualCall;
    }
  | { readonly kind: "list"; readonly servers: readonly string[]; readonly key: ListOutcome["key"] }
  | { readonly kind: "broadcast"; readonly servers: readonly string[]; params: JsonObject | undefined };

/** The session's side of the terminal step; stages never call it. */
export interface Forwarder {
  forward(ctx: CallContext): Promise<Outcome>;
}

/** What the caller has been shown of its servers (gateway/catalog.ts): what stages judge calls against. */
export interface CatalogView {
  /** A tool's input schema as its server listed it to this caller (undefined when unknown). */
  inputSchema(server: string, tool: string): Promise<unknown>;
  /**
   * A tool's or prompt's definition as its server lists it now (listed once per session and after
   * each list_changed); undefined when the server does not list it. Throws when the list cannot be read.
   */
  definition(server: string, kind: "tool" | "prompt", name: string): Promise<JsonObject | undefined>;
  /** The server's list of `kind` as this caller already has it, by name; undefined when not yet read. */
  listed?(server: string, kind: "tool" | "prompt"): ReadonlyMap<string, JsonObject> | undefined;
  /** The tools this caller has seen listed, by their original and exposed names. */
  toolNames(): readonly string[];
  /** The resource templates of `server` a URI matches (its lists fetched once if not yet seen). */
  resourceTemplatesFor(server: string, uri: string): Promise<readonly JsonObject[]>;
}

export interface CallContext {
  readonly session: Forwarder;
  readonly catalog: CatalogView;
  readonly principal: Principal;
  readonly sessionId: string;
  readonly request: Request;
  readonly method: string;
  readonly plan: Plan;
  readonly signal: AbortSignal;
  readonly log: Logger;
  readonly startedAt: number;
  /** The client's W3C `traceparent` header, when it sent one (HTTP only). */
  readonly traceparent: string | undefined;
  /** The MCP version the caller speaks (its session's, or the request's own in 2026-07-28): audited. */
  readonly protocolVersion: string;
  /** Set by the Cedar stage: the policies that decided the call (audited as `detail.policies`). */
  policies?: readonly string[];
  /** Set by the telemetry stage: the trace this call belongs to, recorded in its audit event. */
  traceId?: string;
  /** Set by the protect stage: what it found (counts by type, never values), for audit and metrics. */
  findings?: Findings;
  /**
   * Set by the protect stage when it redacted the arguments and found nothing to redact: the
   * arguments as forwarded are then already as the audit log records them (Protector.auditArguments).
   */
  argumentsClean?: boolean;
}
