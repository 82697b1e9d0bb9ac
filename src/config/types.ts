import type { UpstreamAuth } from "./schema.js";
import type { TrustedProxies } from "../transports/source.js";

export type { UpstreamAuth };

/** The compiled, frozen configuration the gateway runs on. */
export interface Config {
  readonly file: string;
  readonly gateway: GatewayConfig;
  readonly state: StateConfig;
  readonly killSwitch: KillSwitchConfig;
  readonly scopes: ScopesConfig;
  /** Defaults for every server; each server's `protect` is these with its own keys applied. */
  readonly protect: ProtectConfig;
  readonly auth: AuthConfig;
  readonly audit: AuditConfig;
  readonly supplyChain: SupplyChainConfig;
  readonly observability: ObservabilityConfig;
  readonly admin: AdminConfig;
  readonly servers: readonly ServerConfig[];
  /** `policy`: undefined when no Cedar policy files are configured (no Cedar step, no engine loaded). */
  readonly policy: PolicyConfig | undefined;
  /** Curated endpoints at `/v/{name}/mcp` (docs/virtual-servers.md). */
  readonly virtualServers: readonly VirtualServerConfig[];
}

export interface PolicyConfig {
  /** Absolute file patterns (`*` in the last segment only), in the order written. */
  readonly cedar: readonly string[];
  /** Token claims copied to `principal.claims`. */
  readonly claims: readonly string[];
  readonly groupsClaim: string;
}

/** One curated endpoint: which tools (renamed, re-described, with arguments fixed), prompts and resources it serves. */
export interface VirtualServerConfig {
  readonly name: string;
  readonly tools: readonly VirtualToolConfig[];
  /** Prompts by `server/name-or-glob`, shown under their own names. */
  readonly prompts: readonly VirtualSelector[];
  /** Servers whose resources the endpoint serves. */
  readonly resources: readonly string[];
  /** List `search_tools` and `call_tool` instead of the catalog. */
  readonly search: boolean;
}

/** `server/pattern` as written; `glob` when the pattern selects by glob rather than by name. */
export interface VirtualSelector {
  readonly selector: string;
  readonly server: string;
  readonly pattern: string;
  readonly glob: boolean;
}

export interface VirtualToolConfig extends VirtualSelector {
  readonly name: string | undefined;
  readonly title: string | undefined;
  readonly description: string | undefined;
  readonly fixed: Readonly<Record<string, unknown>>;
  readonly defaults: Readonly<Record<string, unknown>>;
  readonly hide: readonly string[];
  readonly annotations: Readonly<Record<string, unknown>> | undefined;
}

export interface AdminConfig {
  /** The console's client at an external issuer; the embedded issuer has its own built in. */
  readonly clientId: string | undefined;
  /** Whether a bootstrap token may be made when nobody holds `warden:admin` (default true). */
  readonly bootstrap: boolean;
}

export interface StateConfig {
  readonly sqlite: string;
  /** Absolute: the state key's file (default `<state dir>/state.key`); `WARDEN_STATE_KEY` overrides it. */
  readonly keyFile: string;
  readonly redis: string | undefined;
  readonly redisPrefix: string;
  readonly postgres: string | undefined;
}

export interface KillRule {
  readonly when: "denied" | "rate_limited" | "redacted" | "injection" | "upstream_error" | "upstream_crash";
  readonly count: number;
  readonly withinMs: number;
  /** `user_on_server`: that user on the server the events came from. */
  readonly kill: "user" | "user_on_server" | "server" | "tool";
  /** How many distinct callers (users) the window's events must come from: 1 for a user rule. */
  readonly distinctCallers: number;
}

export interface KillSwitchConfig {
  /** Absolute path of the sentinel file. */
  readonly file: string | undefined;
  readonly rules: readonly KillRule[];
}

/** `points` calls per `durationS` seconds. */
export interface Rate {
  readonly points: number;
  readonly durationS: number;
  readonly text: string;
}

export interface RateLimitConfig {
  readonly perCaller: Rate | undefined;
  readonly burst: number;
  readonly total: Rate | undefined;
  /** Tool or prompt name → per-caller rate. */
  readonly tools: ReadonlyMap<string, Rate>;
}

export type AuditSinkConfig =
  | { readonly kind: "sqlite" }
  | { readonly kind: "stdout" }
  | { readonly kind: "jsonl"; readonly path: string; readonly maxBytes: number; readonly keep: number }
  | { readonly kind: "postgres"; readonly url: string };

/** Where copies of the checkpoints go, apart from the gateway's machine (docs/audit.md). */
export type AuditCheckpointCopyConfig =
  { readonly kind: "file"; readonly path: string } | { readonly kind: "postgres"; readonly url: string };

export interface AuditConfig {
  readonly sinks: readonly AuditSinkConfig[];
  /** Absolute paths (resolved against the config file's directory). */
  readonly keyFile: string;
  readonly checkpointFile: string;
  readonly checkpointEvery: number;
  readonly checkpointIntervalMs: number;
  readonly checkpointCopies: readonly AuditCheckpointCopyConfig[];
  readonly spool: string | undefined;
  readonly maxArgsBytes: number;
}

export interface ObservabilityConfig {
  readonly otlpEndpoint: string | undefined;
  readonly serviceName: string;
  readonly metrics: boolean;
}

export interface AuthConfig {
  readonly issuer: "embedded" | ExternalIssuer;
  /** Absolute path of a private JWK set shared by instances; else keys live in the state store. */
  readonly signingKeyFile: string | undefined;
  readonly anonymous: readonly string[];
  readonly users: readonly AuthUser[];
  readonly clients: readonly AuthClient[];
  readonly accessTokenTtlS: number;
  readonly refreshTokenTtlS: number;
  readonly grantTtlS: number;
}

export interface ExternalIssuer {
  readonly url: string;
  readonly audience: readonly string[];
  readonly jwksUri: string | undefined;
  readonly introspection:
    { readonly url: string; readonly clientId: string; readonly clientSecret: string } | undefined;
  /** The gateway's own client for signing users in on its connect pages (per-user upstream OAuth). */
  readonly connectClient:
    { readonly clientId: string; readonly clientSecret: string | undefined } | undefined;
}

export interface AuthUser {
  readonly name: string;
  readonly passwordHash: string;
  readonly scopes: readonly string[];
}

export interface AuthClient {
  readonly clientId: string;
  readonly clientSecret: string | undefined;
  readonly scopes: readonly string[];
  readonly grantTypes: readonly ("authorization_code" | "refresh_token" | "client_credentials")[];
  readonly redirectUris: readonly string[];
}

export interface GatewayConfig {
  readonly host: string;
  readonly port: number;
  /** Explicit `public_url`; when absent the listening address is used. */
  readonly publicUrl: string | undefined;
  /** `client_metadata_url`: the gateway's CIMD client id upstream; default `<public_url>/connect/client-metadata.json`. */
  readonly clientMetadataUrl: string | undefined;
  readonly allowedOrigins: readonly string[];
  readonly allowedHosts: readonly string[];
  readonly maxBodyBytes: number;
  readonly maxJsonDepth: number;
  readonly maxJsonWidth: number;
  readonly maxJsonValues: number;
  /** `max_upstream_message_bytes`: a remote upstream's largest JSON body or server-sent event. */
  readonly maxUpstreamMessageBytes: number;
  /** Headers and body must arrive within this (ms); else 408 and the connection is closed. */
  readonly requestTimeoutMs: number;
  readonly sourceLimits: SourceLimitsConfig;
  /** `trusted_proxies`, compiled: peers whose forwarding header names the request's source. */
  readonly trustedProxies: TrustedProxies;
  readonly maxSessions: number;
  readonly maxSessionsPerCaller: number;
  readonly maxUpstreamProcesses: number;
  readonly sessionIdleMs: number;
  readonly upstreamTimeoutMs: number;
  readonly shutdownGraceMs: number;
  readonly instanceId: string | undefined;
}

/** Per source address, before any work is done for the request; undefined: no limit. */
export interface SourceLimitsConfig {
  /** Requests to MCP routes refused 401 (no or bad token). */
  readonly failedAuth: Rate | undefined;
  /** Requests to the embedded issuer's authorization endpoint. */
  readonly authorize: Rate | undefined;
  /** Sign-in form posts, whatever the user name. */
  readonly signIn: Rate | undefined;
  /** Dynamic client registrations. */
  readonly register: Rate | undefined;
  /** Per caller, not per source: bodies refused for a JSON limit or their size. */
  readonly refusedBodies: Rate | undefined;
}

export interface ScopesConfig {
  readonly implies: ReadonlyMap<string, readonly string[]>;
  readonly dangerous: readonly string[];
}

/** Tool name (or `*`) → every scope the caller must hold. */
export type ToolScopes = ReadonlyMap<string, readonly string[]>;

export type ArgumentKind = "path" | "url" | "command" | "none";

interface ServerBase {
  readonly name: string;
  readonly tools: ToolScopes;
  /** Undefined: prompts need the `tools` entry for `*`. */
  readonly prompts: ToolScopes | undefined;
  /** URI pattern → scopes, in config order; undefined: resources need the `tools` entry for `*`. */
  readonly resources: ReadonlyArray<readonly [string, readonly string[]]> | undefined;
  /** A ceiling on the scopes that count on this server. */
  readonly scopeCeiling: readonly string[] | undefined;
  readonly allowedPaths: readonly string[] | undefined;
  readonly deniedPaths: readonly string[] | undefined;
  readonly allowedDomains: readonly string[] | undefined;
  readonly allowedNetworks: readonly string[] | undefined;
  readonly allowedCommands: readonly string[] | undefined;
  /** Tool → argument name → kind, declared in config. */
  readonly arguments: ReadonlyMap<string, Readonly<Record<string, ArgumentKind>>>;
  /** The effective protection for this server (defaults merged with its own block). */
  readonly protect: ProtectConfig;
  /** Undefined: no limit on this server. */
  readonly rateLimit: RateLimitConfig | undefined;
  /** Which callers share an upstream connection (docs/isolation.md). */
  readonly isolation: Isolation;
}

export type Isolation = "shared" | "per_user" | "per_session";

export interface InjectionClassifierConfig {
  readonly url: string;
  readonly timeoutMs: number;
  readonly onError: "block" | "allow";
  readonly token: string | undefined;
}

export interface ProtectConfig {
  readonly redactResults: boolean;
  readonly redactArguments: "off" | "redact" | "block";
  readonly injection: "off" | "annotate" | "block";
  /** An external guardrail service asked about results after the local detector (docs/protect.md). */
  readonly classifier: InjectionClassifierConfig | undefined;
  readonly replacements: Readonly<Record<string, "redact" | "partial" | "hash">>;
  readonly disabledTypes: readonly string[];
  readonly customPatterns: ReadonlyArray<{ readonly name: string; readonly pattern: string }>;
  readonly maxResultBytes: number;
}

export interface SandboxConfig {
  /** Absolute paths. */
  readonly readable: readonly string[];
  readonly writable: readonly string[];
  readonly network: boolean;
  readonly memoryBytes: number | undefined;
  readonly cpuSeconds: number | undefined;
  readonly processes: number | undefined;
}

export interface StdioServerConfig extends ServerBase {
  readonly kind: "stdio";
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string | undefined;
  readonly sandbox: SandboxConfig | undefined;
  /** Absolute path → lowercase hex SHA-256. */
  readonly integrity: ReadonlyMap<string, string>;
  /** Set: `command` is the gateway's Node.js and the package's bin, from the cache, runs first. */
  readonly package: PackagePin | undefined;
}

/** An npm package pinned by exact version and registry integrity. */
export interface PackagePin {
  readonly name: string;
  readonly version: string;
  /** The registry's `dist.integrity` (sha512-…). */
  readonly integrity: string;
  readonly bin: string | undefined;
  /** Absolute: the cache entry `npm install --prefix` writes. */
  readonly dir: string;
}

export interface SupplyChainConfig {
  /** Undefined: no allowlist. */
  readonly allow: readonly string[] | undefined;
  readonly toolPinning: "off" | "warn" | "enforce";
  readonly poisoning: "off" | "warn" | "block";
  /** Under `enforce`: what a definition first seen after its server's first listing gets. */
  readonly newTools: "hold" | "trust";
}

export interface HttpServerConfig extends ServerBase {
  readonly kind: "streamable_http" | "sse";
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly auth: UpstreamAuth;
  /** `gateway.max_upstream_message_bytes`, applied to this server's responses. */
  readonly maxMessageBytes: number;
}

export type ServerConfig = StdioServerConfig | HttpServerConfig;
