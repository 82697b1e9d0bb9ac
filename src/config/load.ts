import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseDocument } from "yaml";
import type { z } from "zod";
import {
  configSchema,
  listenAddress,
  type ConfigDocument,
  type ProtectDocument,
  type StdioServerDocument,
} from "./schema.js";
import { ConfigError } from "./errors.js";
import { packageFile } from "../package/root.js";
import { interpolate } from "./interpolate.js";
import { ownedPathProblems } from "./owned-files.js";
import { durationMs } from "./duration.js";
import { compileVirtualServers, virtualProblems } from "./virtual.js";
import { ScopeAlgebra } from "../policy/scopes.js";
import { ArgumentPolicy } from "../policy/argument-policy.js";
import { configuredClientProblems } from "../authserver/client-rules.js";
import { protectProblems } from "../protect/check.js";
import { allowlistProblems } from "../supply/allowlist.js";
import { parseAddressRange, TrustedProxies, type AddressRange } from "../transports/source.js";
import type {
  AuditConfig,
  AuditSinkConfig,
  AuthConfig,
  Config,
  Isolation,
  ProtectConfig,
  PackagePin,
  Rate,
  RateLimitConfig,
  SandboxConfig,
  ServerConfig,
} from "./types.js";

/** `gateway.max_sessions_per_user` when neither it nor its old name is set. */
const DEFAULT_SESSIONS_PER_USER = 64;
/** A server or tool rule without `distinct_callers`: events from this many users kill it. */
export const DEFAULT_DISTINCT_CALLERS = 3;
export const DEMO_CONFIG = packageFile("config", "demo.yaml");

/** `-c FILE` if given, else `./warden.yaml` if it exists, else the bundled demo config. */
export function configPath(option: string | undefined): string {
  if (option) return resolve(option);
  const local = resolve("warden.yaml");
  return existsSync(local) ? local : DEMO_CONFIG;
}

/** What the command line or the environment sets over the file: `from` names it in problems. */
export interface ConfigOverrides {
  readonly listen?: { readonly value: string; readonly from: string };
}

export async function loadConfig(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
  overrides: ConfigOverrides = {},
): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : String(code ?? err);
    throw new ConfigError(file, [`(file): cannot read ${file}: ${why}`]);
  }
  return parseConfig(text, file, env, overrides);
}

export function parseConfig(
  text: string,
  file: string,
  env: NodeJS.ProcessEnv = process.env,
  overrides: ConfigOverrides = {},
): Config {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => `(yaml): ${e.message.split("\n")[0]}`),
    );
  }
  const problems: string[] = [];
  const missing = new Set<string>();
  const raw = interpolate(doc.toJS({ maxAliasCount: 100 }) ?? {}, env, problems, missing);
  if (overrides.listen) overrideListen(raw, overrides.listen, problems);
  const parsed = configSchema.safeParse(raw);
  // A value that named a missing variable is reported once, as that: not again for being empty.
  if (!parsed.success)
    problems.push(...parsed.error.issues.filter((i) => !missing.has(yamlPath(i.path))).map(formatIssue));
  problems.push(...duplicateNames(raw));
  if (problems.length > 0 || !parsed.success) throw new ConfigError(file, problems);
  const config = compile(parsed.data, file);
  const semanticProblems = [
    ...ScopeAlgebra.problems(config),
    ...ArgumentPolicy.problems(config.servers),
    ...configuredClientProblems(config.auth.clients),
    ...(config.admin.clientId !== undefined && config.auth.issuer === "embedded"
      ? [
          "admin.client_id: only with an external auth.issuer (the embedded one has the console's client built in)",
        ]
      : []),
    ...connectClientProblems(config),
    ...protectProblems(config),
    ...allowlistProblems(config),
    ...ownedPathProblems(config),
    ...virtualProblems(config),
  ];
  if (semanticProblems.length > 0) throw new ConfigError(file, semanticProblems);
  return config;
}

/** Users sign in to the gateway before they connect an account: an external issuer needs a client for it. */
function connectClientProblems(config: Config): string[] {
  const issuer = config.auth.issuer;
  if (issuer === "embedded" || issuer.connectClient !== undefined) return [];
  const server = config.servers.find((s) => s.kind !== "stdio" && s.auth.type === "oauth_user");
  return server
    ? [
        `auth.issuer.connect_client: needed by servers with auth oauth_user (${server.name}): the client users sign in to the gateway with before they connect their account, registered at the issuer with the redirect URI <public_url>/connect/signed-in`,
      ]
    : [];
}

export function yamlPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out || "(root)";
}

function formatIssue(issue: z.core.$ZodIssue): string {
  const where = yamlPath(issue.path);
  switch (issue.code) {
    case "invalid_type":
      return `${where}: expected ${issue.expected}`;
    case "unrecognized_keys":
      return issue.keys.map((k) => `${yamlPath([...issue.path, k])}: unknown key`).join("\n  ");
    default:
      return `${where}: ${issue.message}`;
  }
}

/** Checked on the raw document so it is reported together with the schema's problems. */
function duplicateNames(raw: unknown): string[] {
  const servers = (raw as { servers?: unknown } | null)?.servers;
  if (!Array.isArray(servers)) return [];
  const problems: string[] = [];
  const seen = new Set<string>();
  servers.forEach((server: unknown, i) => {
    const name = (server as { name?: unknown } | null)?.name;
    if (typeof name !== "string") return;
    if (seen.has(name)) problems.push(`servers[${i}].name: duplicate server name ${name}`);
    seen.add(name);
  });
  return problems;
}

/** Moves the listening address without copying the config (`--listen`, `WARDEN_LISTEN`). */
function overrideListen(raw: unknown, listen: { value: string; from: string }, problems: string[]): void {
  const checked = listenAddress.safeParse(listen.value);
  if (!checked.success) {
    problems.push(`${listen.from}: ${checked.error.issues[0]?.message ?? "host:port"}`);
    return;
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return;
  const doc = raw as { gateway?: unknown };
  const gateway = doc.gateway && typeof doc.gateway === "object" ? doc.gateway : {};
  doc.gateway = { ...gateway, listen: checked.data };
}

function splitHostPort(listen: string): [string, string] {
  const at = listen.lastIndexOf(":");
  const host = listen.slice(0, at).replace(/^\[(.*)\]$/, "$1");
  return [host, listen.slice(at + 1)];
}

function compile(doc: ConfigDocument, file: string): Config {
  const [host, port] = splitHostPort(doc.gateway.listen);
  const protect = compileProtect(PROTECT_DEFAULTS, doc.protect);
  const servers: ServerConfig[] = doc.servers.map((s) => {
    const policy = {
      ...compilePolicyFields(s, file),
      protect: compileProtect(protect, s.protect ?? {}),
      // One user's own token opens their connection: per user, unless the operator says per session.
      isolation: s.isolation ?? ("url" in s && s.auth.type === "oauth_user" ? "per_user" : DEFAULT_ISOLATION),
    };
    if (!("url" in s)) {
      const pkg = s.package === undefined ? undefined : compilePackage(s.package, file, doc.state.sqlite);
      // A package runs on the gateway's own Node.js; inside a sandbox its cache entry is mounted read-only.
      const sandbox =
        s.sandbox === undefined
          ? undefined
          : compileSandbox(
              pkg ? { ...s.sandbox, readable: [...s.sandbox.readable, pkg.dir] } : s.sandbox,
              file,
            );
      return Object.freeze({
        ...policy,
        kind: "stdio" as const,
        name: s.name,
        command: pkg ? process.execPath : (s.command as string),
        args: Object.freeze([...s.args]),
        env: Object.freeze({ ...s.env }),
        cwd: s.cwd === undefined ? undefined : resolve(dirname(file), s.cwd),
        sandbox,
        package: pkg,
        integrity: new Map(
          Object.entries(s.integrity ?? {}).map(([path, pin]) => [
            resolve(dirname(file), path),
            pin.slice(7),
          ]),
        ),
      });
    }
    return Object.freeze({
      ...policy,
      kind: s.transport,
      name: s.name,
      url: s.url,
      headers: Object.freeze({ ...s.headers }),
      auth: Object.freeze({ ...s.auth }),
      maxMessageBytes: doc.gateway.max_upstream_message_bytes,
    });
  });
  return Object.freeze({
    file,
    gateway: Object.freeze({
      host,
      port: Number(port),
      publicUrl: doc.gateway.public_url?.replace(/\/+$/, ""),
      clientMetadataUrl: doc.gateway.client_metadata_url,
      allowedOrigins: Object.freeze(doc.gateway.allowed_origins.map((o) => new URL(o).origin)),
      allowedHosts: Object.freeze(doc.gateway.allowed_hosts.map((h) => h.toLowerCase())),
      maxBodyBytes: doc.gateway.max_body_bytes,
      maxJsonDepth: doc.gateway.max_json_depth,
      maxJsonWidth: doc.gateway.max_json_width,
      maxJsonValues: doc.gateway.max_json_values,
      maxUpstreamMessageBytes: doc.gateway.max_upstream_message_bytes,
      requestTimeoutMs: durationMs(doc.gateway.request_timeout),
      sourceLimits: Object.freeze({
        failedAuth: rateOrOff(doc.gateway.source_limits.failed_auth),
        authorize: rateOrOff(doc.gateway.source_limits.authorize),
        signIn: rateOrOff(doc.gateway.source_limits.sign_in),
        register: rateOrOff(doc.gateway.source_limits.register),
        refusedBodies: rateOrOff(doc.gateway.source_limits.refused_bodies),
      }),
      trustedProxies: new TrustedProxies(
        doc.gateway.trusted_proxies.map((r) => parseAddressRange(r) as AddressRange),
      ),
      maxSessions: doc.gateway.max_sessions,
      maxSessionsPerCaller:
        doc.gateway.max_sessions_per_user ?? doc.gateway.max_sessions_per_caller ?? DEFAULT_SESSIONS_PER_USER,
      maxUpstreamProcesses: doc.gateway.max_upstream_processes,
      sessionIdleMs: durationMs(doc.gateway.session_idle_timeout),
      upstreamTimeoutMs: durationMs(doc.gateway.upstream_timeout),
      shutdownGraceMs: durationMs(doc.gateway.shutdown_grace),
      instanceId: doc.gateway.instance_id,
    }),
    state: Object.freeze({
      sqlite: resolve(dirname(file), doc.state.sqlite),
      keyFile: resolve(dirname(file), doc.state.key_file ?? join(dirname(doc.state.sqlite), "state.key")),
      redis: doc.state.redis,
      redisPrefix: doc.state.redis_prefix,
      postgres: doc.state.postgres,
    }),
    killSwitch: Object.freeze({
      file: doc.kill_switch.file === undefined ? undefined : resolve(dirname(file), doc.kill_switch.file),
      rules: Object.freeze(
        doc.kill_switch.rules.map((r) =>
          Object.freeze({
            when: r.when,
            count: r.count,
            withinMs: durationMs(r.within),
            kill: r.kill,
            distinctCallers:
              r.kill === "user" || r.kill === "user_on_server"
                ? 1
                : (r.distinct_callers ?? DEFAULT_DISTINCT_CALLERS),
          }),
        ),
      ),
    }),
    protect,
    scopes: Object.freeze({
      implies: new Map(Object.entries(doc.scopes.implies).map(([k, v]) => [k, Object.freeze([...v])])),
      dangerous: Object.freeze([...doc.scopes.dangerous]),
    }),
    auth: compileAuth(doc.auth, file),
    supplyChain: Object.freeze({
      allow: doc.supply_chain.allow === undefined ? undefined : Object.freeze([...doc.supply_chain.allow]),
      toolPinning: doc.supply_chain.tool_pinning,
      poisoning: doc.supply_chain.poisoning,
      newTools: doc.supply_chain.new_tools,
    }),
    audit: compileAudit(doc.audit, file, resolve(dirname(file), doc.state.sqlite), doc.state.postgres),
    observability: Object.freeze({
      otlpEndpoint: doc.observability.otlp_endpoint,
      serviceName: doc.observability.service_name,
      metrics: doc.observability.metrics,
    }),
    admin: Object.freeze({ clientId: doc.admin.client_id, bootstrap: doc.admin.bootstrap }),
    servers: Object.freeze(servers),
    policy:
      doc.policy === undefined
        ? undefined
        : Object.freeze({
            cedar: Object.freeze(doc.policy.cedar.map((p) => resolve(dirname(file), p))),
            claims: Object.freeze([...doc.policy.claims]),
            groupsClaim: doc.policy.groups_claim,
          }),
    virtualServers: compileVirtualServers(doc.virtual_servers),
  });
}

/** Audit files default to the state store's directory: the key beside the log it protects, not in it. */
function compileAudit(
  audit: ConfigDocument["audit"],
  file: string,
  sqlite: string,
  postgres: string | undefined,
): AuditConfig {
  const base = dirname(file);
  const stateDir = dirname(sqlite);
  const at = (p: string | undefined, fallback: string) => (p === undefined ? fallback : resolve(base, p));
  // With state.postgres the instances share the audit log there, unless sinks name one already.
  const sinks =
    postgres !== undefined && !audit.sinks.some((s) => typeof s === "object" && "postgres" in s)
      ? [...audit.sinks, { postgres }]
      : audit.sinks;
  return Object.freeze({
    sinks: Object.freeze(
      sinks.map((s): AuditSinkConfig => {
        if (s === "sqlite" || s === "stdout") return Object.freeze({ kind: s });
        if ("jsonl" in s)
          return Object.freeze({
            kind: "jsonl",
            path: resolve(base, s.jsonl),
            maxBytes: s.max_bytes,
            keep: s.keep,
          });
        return Object.freeze({ kind: "postgres", url: s.postgres });
      }),
    ),
    keyFile: at(audit.key_file, resolve(stateDir, "audit.key")),
    checkpointFile: at(audit.checkpoint_file, resolve(stateDir, "audit-checkpoints.jsonl")),
    checkpointEvery: audit.checkpoint_every,
    checkpointIntervalMs: durationMs(audit.checkpoint_interval),
    checkpointCopies: Object.freeze(
      audit.checkpoint_copies.map((c) =>
        Object.freeze(
          typeof c === "string"
            ? { kind: "file" as const, path: resolve(base, c) }
            : { kind: "postgres" as const, url: c.postgres },
        ),
      ),
    ),
    spool: audit.spool === undefined ? undefined : resolve(base, audit.spool),
    maxArgsBytes: audit.max_args_bytes,
  });
}

function compileAuth(auth: ConfigDocument["auth"], file: string): AuthConfig {
  const issuer = auth.issuer;
  return Object.freeze({
    issuer:
      issuer === "embedded"
        ? "embedded"
        : Object.freeze({
            url: issuer.url.replace(/\/+$/, ""),
            audience: Object.freeze([...issuer.audience]),
            jwksUri: issuer.jwks_uri,
            introspection: issuer.introspection
              ? Object.freeze({
                  url: issuer.introspection.url,
                  clientId: issuer.introspection.client_id,
                  clientSecret: issuer.introspection.client_secret,
                })
              : undefined,
            connectClient: issuer.connect_client
              ? Object.freeze({
                  clientId: issuer.connect_client.client_id,
                  clientSecret: issuer.connect_client.client_secret,
                })
              : undefined,
          }),
    signingKeyFile:
      auth.signing_key_file === undefined ? undefined : resolve(dirname(file), auth.signing_key_file),
    anonymous: Object.freeze([...auth.anonymous]),
    users: Object.freeze(
      auth.users.map((u) =>
        Object.freeze({ name: u.name, passwordHash: u.password_hash, scopes: Object.freeze([...u.scopes]) }),
      ),
    ),
    clients: Object.freeze(
      auth.clients.map((c) =>
        Object.freeze({
          clientId: c.client_id,
          clientSecret: c.client_secret,
          scopes: Object.freeze([...c.scopes]),
          grantTypes: Object.freeze([...c.grant_types]),
          redirectUris: Object.freeze([...c.redirect_uris]),
        }),
      ),
    ),
    accessTokenTtlS: durationMs(auth.access_token_ttl) / 1000,
    refreshTokenTtlS: durationMs(auth.refresh_token_ttl) / 1000,
    grantTtlS: durationMs(auth.grant_ttl) / 1000,
  });
}

type ServerDocument = ConfigDocument["servers"][number];

/**
 * `per_session`: what a server keeps per connection (a memory graph, a browser, roots, log level)
 * stays one session's unless the operator says the server may be shared (docs/isolation.md).
 */
const DEFAULT_ISOLATION: Isolation = "per_session";

function compilePolicyFields(s: ServerDocument, file: string) {
  const scopeMap = (m: Record<string, string[]>) =>
    new Map(Object.entries(m).map(([k, v]) => [k, Object.freeze([...v])]));
  const list = (l: string[] | undefined) => (l === undefined ? undefined : Object.freeze([...l]));
  return {
    tools: scopeMap(s.tools),
    prompts: s.prompts === undefined ? undefined : scopeMap(s.prompts),
    resources:
      s.resources === undefined
        ? undefined
        : Object.freeze(
            Object.entries(s.resources).map(([k, v]) => Object.freeze([k, Object.freeze([...v])] as const)),
          ),
    scopeCeiling: list(s.scopes),
    allowedPaths:
      s.allowed_paths === undefined
        ? undefined
        : Object.freeze(s.allowed_paths.map((p) => resolve(dirname(file), p))),
    deniedPaths: list(s.denied_paths),
    allowedDomains: list(s.allowed_domains),
    allowedNetworks: list(s.allowed_networks),
    allowedCommands: list(s.allowed_commands),
    arguments: new Map(Object.entries(s.arguments).map(([tool, args]) => [tool, Object.freeze({ ...args })])),
    rateLimit: compileRateLimit(s.rate_limit),
  };
}

const SIZE_UNITS: Readonly<Record<string, number>> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** The cache entry is `<state dir>/packages/<name>@<version>`, beside the state store. */
function compilePackage(
  p: NonNullable<StdioServerDocument["package"]>,
  file: string,
  sqlite: string,
): PackagePin {
  const stateDir = dirname(resolve(dirname(file), sqlite));
  return Object.freeze({
    name: p.name,
    version: p.version,
    integrity: p.integrity,
    bin: p.bin,
    dir: join(stateDir, "packages", `${p.name}@${p.version}`),
  });
}

function compileSandbox(sb: NonNullable<StdioServerDocument["sandbox"]>, file: string): SandboxConfig {
  const abs = (p: string) => resolve(dirname(file), p);
  return Object.freeze({
    readable: Object.freeze(sb.readable.map(abs)),
    writable: Object.freeze(sb.writable.map(abs)),
    network: sb.network,
    memoryBytes:
      sb.memory === undefined
        ? undefined
        : Number(sb.memory.slice(0, -1)) * (SIZE_UNITS[sb.memory.slice(-1)] as number),
    cpuSeconds: sb.cpu_seconds,
    processes: sb.processes,
  });
}

const RATE_UNITS: Readonly<Record<string, number>> = { sec: 1, min: 60, hour: 3600 };

function rate(text: string): Rate {
  const [points, unit] = text.split("/") as [string, string];
  return Object.freeze({ points: Number(points), durationS: RATE_UNITS[unit] as number, text });
}

function rateOrOff(text: string): Rate | undefined {
  return text === "off" ? undefined : rate(text);
}

function compileRateLimit(r: ServerDocument["rate_limit"]): RateLimitConfig | undefined {
  if (r === undefined) return undefined;
  if (typeof r === "string") {
    return Object.freeze({ perCaller: rate(r), burst: 0, total: undefined, tools: new Map() });
  }
  return Object.freeze({
    perCaller: r.per_caller === undefined ? undefined : rate(r.per_caller),
    burst: r.burst,
    total: r.total === undefined ? undefined : rate(r.total),
    tools: new Map(Object.entries(r.tools).map(([tool, t]) => [tool, rate(t)])),
  });
}

const PROTECT_DEFAULTS: ProtectConfig = Object.freeze({
  redactResults: true,
  redactArguments: "block",
  injection: "annotate",
  classifier: undefined,
  replacements: Object.freeze({}),
  disabledTypes: Object.freeze([]),
  customPatterns: Object.freeze([]),
  maxResultBytes: 8 * 1024 * 1024,
});

/** `base` with the keys `doc` names applied (maps and lists replace, they do not merge). */
function compileProtect(base: ProtectConfig, doc: ProtectDocument): ProtectConfig {
  return Object.freeze({
    redactResults: doc.redact_results ?? base.redactResults,
    redactArguments: doc.redact_arguments ?? base.redactArguments,
    injection: (typeof doc.injection === "object" ? doc.injection.mode : doc.injection) ?? base.injection,
    // A server's `injection: { classifier }` replaces the default's; a bare mode keeps it.
    classifier:
      typeof doc.injection === "object"
        ? doc.injection.classifier
          ? {
              url: doc.injection.classifier.url,
              timeoutMs: durationMs(doc.injection.classifier.timeout),
              onError: doc.injection.classifier.on_error,
              token: doc.injection.classifier.token,
            }
          : base.classifier
        : base.classifier,
    replacements: Object.freeze({ ...base.replacements, ...doc.replacements }),
    disabledTypes: Object.freeze([...(doc.disabled_types ?? base.disabledTypes)]),
    customPatterns: Object.freeze([...(doc.custom_patterns ?? base.customPatterns)]),
    maxResultBytes: doc.max_result_bytes ?? base.maxResultBytes,
  });
}
