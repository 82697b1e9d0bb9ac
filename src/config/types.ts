/** The compiled, frozen configuration the gateway runs on. */
export interface Config {
  readonly file: string;
  readonly gateway: GatewayConfig;
  readonly auth: { readonly anonymous: readonly string[] };
  readonly servers: readonly ServerConfig[];
}

export interface GatewayConfig {
  readonly host: string;
  readonly port: number;
  /** Explicit `public_url`; when absent the listening address is used. */
  readonly publicUrl: string | undefined;
  readonly allowedOrigins: readonly string[];
  readonly allowedHosts: readonly string[];
  readonly maxBodyBytes: number;
  readonly maxJsonDepth: number;
  readonly maxSessions: number;
  readonly maxSessionsPerCaller: number;
  readonly sessionIdleMs: number;
  readonly upstreamTimeoutMs: number;
  readonly shutdownGraceMs: number;
}

/** Tool name (or `*`) → every scope the caller must hold. */
export type ToolScopes = ReadonlyMap<string, readonly string[]>;

interface ServerBase {
  readonly name: string;
  readonly tools: ToolScopes;
}

export interface StdioServerConfig extends ServerBase {
  readonly kind: "stdio";
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string | undefined;
}

export interface HttpServerConfig extends ServerBase {
  readonly kind: "streamable_http" | "sse";
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
}

export type ServerConfig = StdioServerConfig | HttpServerConfig;
