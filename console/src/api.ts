// The admin API (docs/admin.md): bearer token from the session, JSON both ways, errors as
// `{ error }`. A 401 means the token is gone or expired: the app signs out.
import { forgetToken, readToken } from "./auth";

export interface AdminConfig {
  issuer: string | null;
  authorization_endpoint: string | null;
  token_endpoint: string | null;
  client_id: string | null;
  /** The console client's redirect URI as the gateway registers it (`<public base>/admin/`). */
  redirect_uri: string;
  resource: string;
  scope: string;
  /** A bootstrap token is active (told only to a browser on the gateway's machine). */
  bootstrap: boolean;
}

export interface Me {
  sub: string;
  auth: string;
  scopes: string[];
}

export type KillScope = "all" | "server" | "tool" | "user" | "client";

export interface Kill {
  scope: KillScope;
  target: string;
  reason: string;
  by: string;
  at: string;
}

export interface Minute {
  t: string;
  calls: number;
  denied: number;
  errors: number;
}

export interface Summary {
  instance: string;
  started_at: string;
  uptime_s: number;
  calls_per_s: number;
  totals: { calls: number; denied: number; errors: number; redacted: number; injection: number };
  denials_by_reason: Record<string, number>;
  minutes: Minute[];
  upstreams: { name: string; state: string; reason?: string }[];
  audit: "ok" | "failing";
  kills: Kill[];
}

export interface Server {
  name: string;
  transport: string;
  state: string;
  reason?: string;
  route: string;
  /** Tool definitions the server offered (pinned), and how many of them the mapping exposes. */
  tools: number | null;
  exposed: number | null;
  held: number;
  poisoned: number;
  sandbox: boolean;
  integrity: boolean;
  killed: boolean;
}

export interface Finding {
  kind: string;
  field: string;
  reason: string;
  excerpt?: string;
}

export interface ToolItem {
  server: string;
  kind: "tool" | "prompt" | "resourceTemplate";
  name: string;
  state: "pinned" | "held" | "poisoned";
  /** No caller is shown it: the server's mapping leaves it out. */
  hidden: boolean;
  pinned_hash: string;
  current_hash: string;
  findings: Finding[];
  pinned_at: string;
  seen_at: string;
}

export interface DiffLine {
  op: "same" | "removed" | "added";
  text: string;
}

export interface ToolDiff {
  server: string;
  kind: string;
  name: string;
  pinned_hash: string;
  current_hash: string;
  lines: DiffLine[];
}

export interface AuditEvent {
  seq: number;
  id: string;
  ts: string;
  event: string;
  principal?: { sub: string; client_id?: string; auth?: string };
  server?: string;
  tool?: string;
  method?: string;
  status?: string;
  reason?: string;
  duration_ms?: number;
  detail?: Record<string, unknown>;
  [field: string]: unknown;
}

export interface AuditPage {
  sink: string;
  events: AuditEvent[];
  last_seq: number;
}

export interface Grant {
  id: string;
  account_id: string;
  client_id: string;
  /** The name the client registered with (self-chosen: shown beside its id, never instead of it). */
  client_name: string | null;
  scopes: string[];
  resources: string[];
  created_at: string;
  expires_at: string | null;
}

export interface ApiKey {
  id: string;
  name: string;
  scopes: string[];
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

/** A refusal or failure of the admin API, with its HTTP status and the server's message. */
export interface VirtualToolRow {
  name: string;
  tool: string;
  state: string;
  overrides: string[];
  problem?: string;
  description?: string;
}

export interface VirtualReport {
  name: string;
  path: string;
  search: boolean;
  tools: VirtualToolRow[];
  clashes: string[];
  unmatched: string[];
  unlisted: string[];
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

const BASE = "/admin/api/";
let onUnauthorized: () => void = () => {};

/** What the app does when the API says the token is no good (sign out). */
export function whenUnauthorized(handler: () => void): void {
  onUnauthorized = handler;
}

async function request<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  const token = readToken();
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(BASE + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
  let parsed: unknown;
  try {
    parsed = await res.json();
  } catch {
    parsed = undefined;
  }
  if (!res.ok) {
    const error = (parsed as { error?: unknown } | undefined)?.error;
    const message = typeof error === "string" ? error : `${res.status} ${res.statusText}`;
    if (res.status === 401 && token) {
      forgetToken();
      onUnauthorized();
    }
    throw new ApiError(res.status, message);
  }
  return parsed as T;
}

function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

export const api = {
  config: () => request<AdminConfig>("GET", "config"),
  me: () => request<Me>("GET", "me"),
  summary: () => request<Summary>("GET", "summary"),
  servers: () => request<{ servers: Server[] }>("GET", "servers"),
  tools: (server?: string) => request<{ items: ToolItem[] }>("GET", `tools${query({ server })}`),
  virtual: () => request<{ items: VirtualReport[] }>("GET", "virtual"),
  diff: (item: Pick<ToolItem, "server" | "kind" | "name">) =>
    request<ToolDiff>("GET", `tools/diff${query({ server: item.server, kind: item.kind, name: item.name })}`),
  approve: (item: Pick<ToolItem, "server" | "kind" | "name">, hash: string, reason: string) =>
    request<{ approved: unknown }>("POST", "tools/approve", { ...pick(item), hash, reason }),
  audit: (filters: Record<string, string | number | undefined>) =>
    request<AuditPage>("GET", `audit${query(filters)}`),
  kills: () => request<{ kills: Kill[] }>("GET", "kills"),
  kill: (scope: KillScope, target: string, reason: string) =>
    request<{ killed: Kill }>("POST", "kill", { scope, target, reason }),
  revive: (scope: KillScope, target: string, reason: string) =>
    request<unknown>("POST", "revive", { scope, target, reason }),
  grants: () => request<{ grants: Grant[] }>("GET", "grants"),
  revokeGrant: (id: string, reason: string) => request<unknown>("POST", "grants/revoke", { id, reason }),
  keys: () => request<{ keys: ApiKey[] }>("GET", "keys"),
  revokeKey: (id: string, reason: string) => request<unknown>("POST", "keys/revoke", { id, reason }),
  connections: () => request<{ connections: Connection[]; servers: string[] }>("GET", "connections"),
  revokeConnection: (id: string, reason: string) =>
    request<unknown>("POST", "connections/revoke", { id, reason }),
};

/** A user's own account at an oauth_user server (per-user upstream OAuth); never a token. */
export interface Connection {
  id: string;
  user: string;
  server: string;
  status: string;
  issuer: string;
  scopes: string;
  /** Scopes the server has asked for since (a 403 step-up), for the user's next connect; "" when none. */
  step_up_scopes: string;
  expires_at: string | null;
  connected_at: string;
  last_used_at: string | null;
}

function pick(item: Pick<ToolItem, "server" | "kind" | "name">) {
  return { server: item.server, kind: item.kind, name: item.name };
}

/** The message to show for a failed call. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
