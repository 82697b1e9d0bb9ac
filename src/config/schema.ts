import * as z from "zod";
import { isPasswordHash } from "../auth/passwords.js";
import { parseAddressRange } from "../transports/source.js";
import { safeForCredentials } from "../upstreams/origin.js";
import { durationMs } from "./duration.js";
import { virtualServerSchema } from "./schema-virtual.js";

// Server names become tool-name prefixes (`server__tool`) and URL path segments.
const serverName = z
  .string()
  .regex(/^[a-z0-9](?:[a-z0-9-]{0,62})$/, "lowercase letters, digits and '-', at most 63 characters")
  .refine((s) => !s.includes("__"), "must not contain '__'");

const scope = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\x21-\x7e]+$/, "printable ASCII without spaces");

export const durationText = z
  .string()
  .regex(/^\d+(ms|s|m|h|d)$/, "a duration such as 500ms, 30s, 15m, 1h, 7d");

const auditSink = z.union([
  z.literal("sqlite"),
  z.literal("stdout"),
  z.strictObject({
    jsonl: z.string().min(1),
    /** Rotate when the file passes this size; rotated files are kept as `<file>.1`, `.2`, … */
    max_bytes: z
      .number()
      .int()
      .min(64 * 1024)
      .default(100 * 1024 * 1024),
    keep: z.number().int().min(1).max(1000).default(10),
  }),
  z.strictObject({ postgres: z.string().regex(/^postgres(ql)?:\/\//, "a postgres:// URL") }),
]);

const scopeMap = z.record(z.string().min(1).max(1000), z.array(scope));

export const rateText = z
  .string()
  .regex(/^[1-9]\d{0,8}\/(sec|min|hour)$/, "a rate such as 10/sec, 100/min or 1000/hour");

/** A rate, or `off` (no limit). */
const rateOrOff = z.union([z.literal("off"), rateText]);

/** `100/min` (per caller on this server) or the long form. */
const rateLimitSchema = z.union([
  rateText,
  z.strictObject({
    /** Per caller on this server. */
    per_caller: rateText.optional(),
    /** Calls a caller may make at once above its rate before it is held to the rate. */
    burst: z.number().int().min(0).max(1_000_000).default(0),
    /** Every caller together, on this server. */
    total: rateText.optional(),
    /** Per caller per tool (or prompt), on top of the others. */
    tools: z.record(z.string().min(1), rateText).default({}),
  }),
]);

const injectionMode = z.enum(["off", "annotate", "block"]);

/** Data protection: redaction and injection defence. Every key optional, so a server's block overrides only what it names. */
const protectFields = {
  redact_results: z.boolean().optional(),
  redact_arguments: z.enum(["off", "redact", "block"]).optional(),
  /** A mode, or `{ mode, classifier }` to also ask an external guardrail service (docs/protect.md). */
  injection: z
    .union([
      injectionMode,
      z.strictObject({
        mode: injectionMode.optional(),
        classifier: z
          .strictObject({
            /** POST endpoint of the guardrail service (http or https). */
            url: z
              .string()
              .url()
              .refine((u) => /^https?:\/\//i.test(u), "an http or https URL"),
            timeout: durationText
              .refine((t) => durationMs(t) >= 10 && durationMs(t) <= 60_000, "between 10ms and 60s")
              .default("2s"),
            /** What a failure (timeout, an error status, an answer not of the documented shape) does: `block` withholds the result. */
            on_error: z.enum(["block", "allow"]).default("block"),
            /** Sent as `Authorization: Bearer …` when set (use `${VAR}`). */
            token: z.string().min(1).optional(),
          })
          .optional(),
      }),
    ])
    .optional(),
  /** Per detector type: how a finding is replaced. */
  replacements: z.record(z.string().min(1), z.enum(["redact", "partial", "hash"])).optional(),
  /** Detector types turned off. */
  disabled_types: z.array(z.string().min(1)).optional(),
  /** Extra patterns, compiled with a linear-time engine; `name` becomes the finding's type. */
  custom_patterns: z
    .array(
      z.strictObject({
        name: z.string().regex(/^[a-z][a-z0-9_]{0,31}$/),
        pattern: z.string().min(1).max(1000),
      }),
    )
    .optional(),
  /** A result whose text adds up to more than this is refused. */
  max_result_bytes: z
    .number()
    .int()
    .min(1024)
    .max(256 * 1024 * 1024)
    .optional(),
};
const protectSchema = z.strictObject(protectFields);

/** What callers may do on a server: scope mappings, the ceiling, and argument guards. */
const policyFields = {
  /** Tool name (or `*`) → every scope it needs. */
  tools: scopeMap.default({}),
  /** Prompt name (or `*`) → scopes; absent: prompts need the `tools` entry for `*`. */
  prompts: scopeMap.optional(),
  /** Resource URI pattern (`*` matches any run of characters) → scopes; absent: the `tools` `*` entry. */
  resources: scopeMap.optional(),
  /** A ceiling: on this server a token's other scopes are ignored. */
  scopes: z.array(scope).optional(),
  allowed_paths: z.array(z.string().min(1)).optional(),
  /** Sensitive names refused even inside allowed_paths, added to the built-in list. */
  denied_paths: z.array(z.string().min(1)).optional(),
  allowed_domains: z.array(z.string().min(1)).optional(),
  /** CIDRs allowed for URL arguments although not public (cloud metadata addresses never are). */
  allowed_networks: z.array(z.string().min(1)).optional(),
  /** Programs a command-running tool may start (after the built-in deny rules). */
  allowed_commands: z.array(z.string().min(1)).optional(),
  /** Per tool: argument name → what it holds, beyond what is detected from the input schema. */
  arguments: z
    .record(z.string().min(1), z.record(z.string().min(1), z.enum(["path", "url", "command", "none"])))
    .default({}),
  protect: protectSchema.optional(),
  rate_limit: rateLimitSchema.optional(),
  /**
   * Which callers share an upstream connection (docs/isolation.md): one for everyone, one per
   * user, or one per client session (the default).
   */
  isolation: z.enum(["shared", "per_user", "per_session"]).optional(),
};

/** Bubblewrap around a stdio server: what it may read and write, network, limits. */
const sandboxSchema = z.strictObject({
  /** Extra paths mounted read-only (the system directories always are). */
  readable: z.array(z.string().min(1)).default([]),
  /** The only paths it may write (besides a private /tmp). */
  writable: z.array(z.string().min(1)).default([]),
  network: z.boolean().default(false),
  /** Address-space limit, e.g. 1g or 512m. */
  memory: z
    .string()
    .regex(/^\d+[kmg]$/, "a size such as 512m or 2g")
    .optional(),
  cpu_seconds: z.number().int().min(1).max(1_000_000).optional(),
  processes: z.number().int().min(1).max(100_000).optional(),
});

const sha256Pin = z.string().regex(/^sha256:[0-9a-f]{64}$/, "sha256:<64 hex digits>");

/** An npm package installed by `mcp-warden install` into the gateway's cache and launched from there. */
const packagePin = z.strictObject({
  name: z
    .string()
    .max(214)
    .regex(/^(@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/, "an npm package name"),
  /** Exact: no ranges or tags, so the pin names one tarball. */
  version: z
    .string()
    .regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/, "an exact version such as 1.2.3"),
  /** The registry's `dist.integrity` of that version. */
  integrity: z
    .string()
    .regex(/^sha512-[A-Za-z0-9+/]{86}==$/, "sha512-<base64>, the registry's dist.integrity"),
  /** Which of the package's `bin` entries to run, when it has several. */
  bin: z
    .string()
    .regex(/^[A-Za-z0-9@._-]+$/)
    .optional(),
});

const stdioServer = z.strictObject({
  name: serverName,
  /** Exactly one of `command` and `package`. */
  command: z.string().min(1).optional(),
  package: packagePin.optional(),
  args: z.array(z.string()).default([]),
  env: z.record(z.string(), z.string()).default({}),
  cwd: z.string().min(1).optional(),
  /** Run inside bubblewrap; a server that asks for a sandbox is never started without one. */
  sandbox: sandboxSchema.optional(),
  /** Files (the script, the binary) and their digests, checked before every launch. */
  integrity: z.record(z.string().min(1), sha256Pin).optional(),
  /** Never valid here: accepted only to say why (below). */
  auth: z.unknown().optional(),
  ...policyFields,
});

const stdioServerChecked = stdioServer.superRefine((server, ctx) => {
  if (server.auth !== undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["auth"],
      message:
        "a stdio server takes no auth: upstream credentials, per-user OAuth (oauth_user) included, need a url: server",
    });
  }
  if ((server.command === undefined) === (server.package === undefined)) {
    ctx.addIssue({
      code: "custom",
      path: server.command === undefined ? ["command"] : ["package"],
      message: "a stdio server needs exactly one of command and package",
    });
  }
});

const secret = z.string().min(1);
const RESERVED_HEADERS = new Set([
  "host",
  "content-length",
  "content-type",
  "accept",
  "mcp-session-id",
  "mcp-protocol-version",
  "last-event-id",
  "connection",
  "transfer-encoding",
]);
const httpsOrLoopback = z.url({ protocol: /^https?$/ });

/** What the gateway sends a token endpoint, for client credentials and for token exchange alike. */
const tokenRequest = {
  token_url: httpsOrLoopback,
  client_id: z.string().min(1),
  client_secret: secret,
  scope: z.string().optional(),
  audience: z.string().optional(),
  resource: z.string().optional(),
};

/** How the gateway authenticates to a remote upstream: its own credentials, never the client's token. */
export const upstreamAuthSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("none") }),
  z.strictObject({
    type: z.literal("api_key"),
    header: z
      .string()
      .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, "a header name")
      .refine((h) => !RESERVED_HEADERS.has(h.toLowerCase()), "a header the gateway sets itself")
      .default("X-Api-Key"),
    key: secret,
  }),
  z.strictObject({ type: z.literal("bearer"), token: secret }),
  z.strictObject({ type: z.literal("oauth2_client_credentials"), ...tokenRequest }),
  z.strictObject({ type: z.literal("token_exchange"), ...tokenRequest }),
  // Each user's own account at the server's authorization server (docs/upstream-credentials.md). Every
  // key is an override: without them all is discovered from the server's 401, as MCP clients do.
  z.strictObject({
    type: z.literal("oauth_user"),
    /** A client registered at the upstream's authorization server: used before CIMD and DCR. */
    client_id: z.string().min(1).optional(),
    client_secret: secret.optional(),
    /** The authorization server's issuer, when its metadata cannot be discovered (checked as RFC 9207 `iss`). */
    issuer: httpsOrLoopback.optional(),
    authorization_endpoint: httpsOrLoopback.optional(),
    token_endpoint: httpsOrLoopback.optional(),
    revocation_endpoint: httpsOrLoopback.optional(),
    /** Scopes asked for; default: the server's challenge, else its metadata's `scopes_supported`. */
    scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, "an OAuth scope")).optional(),
    /** The RFC 8707 resource; default: the protected-resource metadata's, else the server URL. */
    resource: httpsOrLoopback.optional(),
    /** Extra authorization request parameters (e.g. `prompt`, `audience`); the flow's own are refused. */
    authorize_params: z.record(z.string().min(1), z.string()).default({}),
  }),
]);

const remoteServer = z
  .strictObject({
    name: serverName,
    url: z.url({ protocol: /^https?$/ }),
    transport: z.enum(["streamable_http", "sse"]).default("streamable_http"),
    headers: z.record(z.string(), z.string()).default({}),
    auth: upstreamAuthSchema.default({ type: "none" }),
    ...policyFields,
  })
  .superRefine((server, ctx) => {
    // Credentials travel encrypted, or not beyond this machine (the same rule the gateway enforces at run time).
    if (server.auth.type !== "none" && !safeForCredentials(server.url)) {
      ctx.addIssue({
        code: "custom",
        path: ["url"],
        message: "credentials need https (or http to a loopback address)",
      });
    }
    if (server.auth.type === "token_exchange" && server.isolation === "shared") {
      ctx.addIssue({
        code: "custom",
        path: ["isolation"],
        message: "a token-exchange server acts for each caller: per_user or per_session, not shared",
      });
    }
    if (server.auth.type === "oauth_user") oauthUserProblems(server.auth, ctx);
    if ("token_url" in server.auth && !safeForCredentials(server.auth.token_url)) {
      ctx.addIssue({
        code: "custom",
        path: ["auth", "token_url"],
        message: "needs https (or http to a loopback address)",
      });
    }
  });

/** Flow parameters the gateway sets itself: `authorize_params` may not replace them. */
const OWN_AUTHORIZE_PARAMS = new Set([
  "response_type",
  "client_id",
  "redirect_uri",
  "state",
  "code_challenge",
  "code_challenge_method",
  "scope",
  "resource",
]);

function oauthUserProblems(
  auth: Extract<z.infer<typeof upstreamAuthSchema>, { type: "oauth_user" }>,
  ctx: z.RefinementCtx,
): void {
  if ((auth.authorization_endpoint === undefined) !== (auth.token_endpoint === undefined))
    ctx.addIssue({
      code: "custom",
      path: ["auth", auth.token_endpoint === undefined ? "token_endpoint" : "authorization_endpoint"],
      message: "authorization_endpoint and token_endpoint go together",
    });
  if (auth.client_secret !== undefined && auth.client_id === undefined)
    ctx.addIssue({ code: "custom", path: ["auth", "client_secret"], message: "needs client_id" });
  for (const name of Object.keys(auth.authorize_params))
    if (OWN_AUTHORIZE_PARAMS.has(name))
      ctx.addIssue({
        code: "custom",
        path: ["auth", "authorize_params", name],
        message: "a parameter the gateway sets itself",
      });
  for (const key of ["issuer", "authorization_endpoint", "token_endpoint", "revocation_endpoint"] as const) {
    const url = auth[key];
    if (url !== undefined && !safeForCredentials(url))
      ctx.addIssue({
        code: "custom",
        path: ["auth", key],
        message: "needs https (or http to a loopback address)",
      });
  }
}

const externalIssuer = z.strictObject({
  url: httpsOrLoopback,
  /** Accepted `aud` values besides the route URLs and public_url (some IdPs cannot set a URL audience). */
  audience: z.array(z.string().min(1)).default([]),
  jwks_uri: httpsOrLoopback.optional(),
  introspection: z
    .strictObject({ url: httpsOrLoopback, client_id: z.string().min(1), client_secret: secret })
    .optional(),
  /**
   * The client the gateway signs users in with on its connect pages (per-user upstream OAuth,
   * docs/upstream-credentials.md): registered at this issuer with the redirect URI `<public_url>/connect/signed-in`.
   */
  connect_client: z
    .strictObject({ client_id: z.string().min(1), client_secret: secret.optional() })
    .optional(),
});

const authUser = z.strictObject({
  name: z.string().min(1).max(200),
  // Never echoed: a value that is not a hash may well be the password itself.
  password_hash: z
    .string()
    .min(1)
    .refine(
      isPasswordHash,
      "not a password hash (scrypt$…); make one with `mcp-warden hash-password` (a plain password never signs in)",
    ),
  scopes: z.array(scope).default([]),
});

const authClient = z.strictObject({
  client_id: z.string().min(1).max(200),
  client_secret: secret.optional(),
  scopes: z.array(scope).default([]),
  grant_types: z
    .array(z.enum(["authorization_code", "refresh_token", "client_credentials"]))
    .default(["client_credentials"]),
  redirect_uris: z.array(z.url()).default([]),
});

// Chosen by shape (a `url` key means remote) so errors name the fields of the kind the user meant,
// instead of zod's "matched neither branch".
export const serverSchema = z.unknown().transform((value, ctx) => {
  const remote = typeof value === "object" && value !== null && Object.hasOwn(value, "url");
  const result = (remote ? remoteServer : stdioServerChecked).safeParse(value);
  if (!result.success) {
    for (const issue of result.error.issues) ctx.addIssue({ ...issue });
    return z.NEVER;
  }
  return result.data as StdioServerDocument | RemoteServerDocument;
});

export type StdioServerDocument = z.output<typeof stdioServer>;
export type RemoteServerDocument = z.output<typeof remoteServer>;

/**
 * A Client ID Metadata Document's URL, as the CIMD draft (draft-ietf-oauth-client-id-metadata-document
 * §3) has a client id be: https, a path, no dot segments, no fragment, no user name or password.
 */
const clientMetadataUrl = z
  .url({ protocol: /^https$/ })
  .refine((u) => !u.includes("#"), "no fragment")
  .refine((u) => new URL(u).username === "" && new URL(u).password === "", "no user name or password")
  .refine((u) => new URL(u).pathname.length > 1, "needs a path (…/client-metadata.json)")
  .refine(
    (u) => !/\/(\.|%2e){1,2}(?=\/|$)/i.test((u.split("?")[0] as string).slice(u.indexOf("//") + 2)),
    "no . or .. path segments",
  );

/** `gateway.listen`, and the `--listen` / `WARDEN_LISTEN` that override it. */
export const listenAddress = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, "host:port")
  .refine((s) => Number(s.slice(s.lastIndexOf(":") + 1)) <= 65535, "port out of range");

export const configSchema = z.strictObject({
  gateway: z
    .strictObject({
      listen: listenAddress.default("127.0.0.1:8808"),
      public_url: z.url({ protocol: /^https?$/ }).optional(),
      /**
       * The gateway's client id at upstream authorization servers that take Client ID Metadata
       * Documents (per-user upstream OAuth): where its document is published. Default
       * `<public_url>/connect/client-metadata.json`.
       */
      client_metadata_url: clientMetadataUrl.optional(),
      allowed_origins: z.array(z.url()).default([]),
      allowed_hosts: z.array(z.string().min(1)).default([]),
      max_body_bytes: z
        .number()
        .int()
        .min(1024)
        .max(64 * 1024 * 1024)
        .default(4 * 1024 * 1024),
      max_json_depth: z.number().int().min(4).max(1000).default(64),
      /** Elements of any one array, or members of any one object, in a message. */
      max_json_width: z.number().int().min(16).max(10_000_000).default(10_000),
      /** Values (scalars, arrays, objects) in one message. */
      max_json_values: z.number().int().min(64).max(100_000_000).default(100_000),
      /** Largest JSON body, or server-sent event, a remote upstream may send (bounded-fetch.ts). */
      max_upstream_message_bytes: z
        .number()
        .int()
        .min(64 * 1024)
        .max(256 * 1024 * 1024)
        .default(16 * 1024 * 1024),
      /** Headers and body of a request must arrive within this; else 408 and the connection closed. */
      request_timeout: durationText
        .refine((t) => durationMs(t) >= 1000 && durationMs(t) <= 3_600_000, "between 1s and 1h")
        .default("30s"),
      /** Per source address (IPv4, or an IPv6 /64): unauthenticated work allowed before 429. */
      source_limits: z
        .strictObject({
          failed_auth: rateOrOff.default("120/min"),
          authorize: rateOrOff.default("120/min"),
          sign_in: rateOrOff.default("60/min"),
          register: rateOrOff.default("30/hour"),
          /** Per caller (user, or anonymous source): bodies refused for a JSON or size limit. */
          refused_bodies: rateOrOff.default("30/min"),
        })
        .prefault({}),
      /** Peers whose forwarding header names the source (docs/operations.md#what-a-source-is). */
      trusted_proxies: z
        .array(
          z
            .string()
            .refine(
              (s) => parseAddressRange(s) !== undefined,
              "a CIDR range or one address (10.0.0.0/8, 2001:db8::/48, 192.0.2.7)",
            ),
        )
        .max(1000)
        .default([]),
      max_sessions: z.number().int().min(1).max(1_000_000).default(10_000),
      /** Per user (any client) or anonymous source address; `max_sessions_per_caller` is its old name. */
      max_sessions_per_user: z.number().int().min(1).max(100_000).optional(),
      max_sessions_per_caller: z.number().int().min(1).max(100_000).optional(),
      /** Every stdio process the gateway runs (all servers, all isolation modes, the spares). */
      max_upstream_processes: z.number().int().min(1).max(100_000).default(256),
      session_idle_timeout: durationText.default("15m"),
      upstream_timeout: durationText.default("5m"),
      shutdown_grace: durationText.default("10s"),
      /** Put in front of every session id (`<id>.<random>`), so a load balancer can route a session home. */
      instance_id: z
        .string()
        .regex(/^[a-z0-9][a-z0-9-]{0,31}$/, "lowercase letters, digits and '-', at most 32 characters")
        .optional(),
    })
    .superRefine((gateway, ctx) => {
      if (gateway.max_sessions_per_user !== undefined && gateway.max_sessions_per_caller !== undefined)
        ctx.addIssue({
          code: "custom",
          path: ["max_sessions_per_caller"],
          message: "the old name of max_sessions_per_user: set one of them",
        });
    })
    .prefault({}),
  scopes: z
    .strictObject({
      /** scope → scopes it implies (transitively). */
      implies: z.record(scope, z.array(scope)).default({}),
      /** Never granted through a wildcard or an implication: held by name only. */
      dangerous: z.array(scope).default([]),
    })
    .prefault({}),
  protect: protectSchema.prefault({}),
  state: z
    .strictObject({
      /** Relative to the config file's directory. */
      sqlite: z.string().min(1).default(".warden/state.db"),
      /** Seals the key material in the store (AES-256-GCM); created 0600 when absent; `WARDEN_STATE_KEY` wins. */
      key_file: z.string().min(1).optional(),
      /** Shared by instances: rate limits, kill switch, revocations; changes pushed over pub/sub. */
      redis: z
        .string()
        .regex(/^rediss?:\/\//, "a redis:// or rediss:// URL")
        .optional(),
      /** Prefix of every key and channel: deployments sharing one Redis keep apart. */
      redis_prefix: z
        .string()
        .regex(/^[A-Za-z0-9:_.-]{1,64}$/)
        .default("warden:"),
      /** Shared by instances: the audit log (a postgres sink is added when none is configured). */
      postgres: z
        .string()
        .regex(/^postgres(ql)?:\/\//, "a postgres:// URL")
        .optional(),
    })
    .prefault({}),
  kill_switch: z
    .strictObject({
      /** While this file exists, every call is refused. */
      file: z.string().min(1).optional(),
      /** Automatic kills: `count` events of a kind within `within` kill what they came from. */
      rules: z
        .array(
          z
            .strictObject({
              when: z.enum([
                "denied",
                "rate_limited",
                "redacted",
                "injection",
                "upstream_error",
                "upstream_crash",
              ]),
              count: z.number().int().min(1).max(1_000_000),
              within: durationText,
              /** `user_on_server`: that user on the server the events came from, and nowhere else. */
              kill: z.enum(["user", "user_on_server", "server", "tool"]),
              /** Server and tool rules: the events come from at least this many users (default 3). */
              distinct_callers: z
                .number()
                .int()
                .min(2, "at least 2: one caller alone must never kill a server or tool for everyone")
                .max(10_000)
                .optional(),
            })
            .superRefine((rule, ctx) => {
              if (
                (rule.kill === "user" || rule.kill === "user_on_server") &&
                rule.distinct_callers !== undefined
              )
                ctx.addIssue({
                  code: "custom",
                  path: ["distinct_callers"],
                  message: "only for kill: server or tool (a user rule counts that user's own events)",
                });
            }),
        )
        .default([]),
    })
    .prefault({}),
  supply_chain: z
    .strictObject({
      /** `npm:<package glob>[@version]`, `command:<absolute path>`, `url:<glob>`; absent: no allowlist. */
      allow: z.array(z.string().regex(/^(npm|command|url):.+$/, "npm:…, command:… or url:…")).optional(),
      /** Tool, prompt and resource-template definitions hashed and held when they change. */
      tool_pinning: z.enum(["off", "warn", "enforce"]).default("warn"),
      /** Instructions hidden in definitions (descriptions, parameters, enums, defaults). */
      poisoning: z.enum(["off", "warn", "block"]).default("warn"),
      /** A tool, prompt or template that appears after its server's first listing: held for approval under `enforce` (`hold`), or pinned on first use (`trust`). */
      new_tools: z.enum(["hold", "trust"]).default("hold"),
    })
    .prefault({}),
  audit: z
    .strictObject({
      /** Every event goes to each sink; a sink that fails refuses calls unless `spool` is set. */
      sinks: z.array(auditSink).min(1).default(["sqlite"]),
      /** HMAC key of the hash chain, kept apart from the log; created (0600) when absent. */
      key_file: z.string().min(1).optional(),
      /** Signed checkpoints of each sink's chain head, apart from the log: a cut tail shows. */
      checkpoint_file: z.string().min(1).optional(),
      checkpoint_every: z.number().int().min(1).max(1_000_000).default(256),
      checkpoint_interval: durationText.default("60s"),
      /** Every checkpoint is also written here (a file, or a Postgres table): verify compares the log with each. */
      checkpoint_copies: z
        .array(
          z.union([
            z.string().min(1),
            z.strictObject({ postgres: z.string().regex(/^postgres(ql)?:\/\//, "a postgres:// URL") }),
          ]),
        )
        .max(8)
        .default([]),
      /** Where events for a failing sink wait (fsync'd) until it recovers, instead of refusing calls. */
      spool: z.string().min(1).optional(),
      /** Arguments are recorded redacted, as JSON cut to this many bytes. */
      max_args_bytes: z
        .number()
        .int()
        .min(0)
        .max(1024 * 1024)
        .default(4096),
    })
    .prefault({}),
  observability: z
    .strictObject({
      /** OTLP/HTTP traces endpoint (e.g. http://collector:4318/v1/traces); absent: ids only, no export. */
      otlp_endpoint: z.url({ protocol: /^https?$/ }).optional(),
      service_name: z.string().min(1).max(100).default("mcp-warden"),
      /** Serve Prometheus metrics on /metrics. */
      metrics: z.boolean().default(true),
    })
    .prefault({}),
  auth: z
    .strictObject({
      issuer: z.union([z.literal("embedded"), externalIssuer]).default("embedded"),
      signing_key_file: z.string().min(1).optional(),
      anonymous: z.array(scope).default([]),
      users: z.array(authUser).default([]),
      clients: z.array(authClient).default([]),
      // Common clients refresh a token that expires within a minute before every call.
      access_token_ttl: durationText
        .refine(
          (t) => durationMs(t) > 60_000,
          "more than 60s (clients refresh a shorter-lived token before every call)",
        )
        .default("15m"),
      refresh_token_ttl: durationText.default("30d"),
      grant_ttl: durationText.default("30d"),
    })
    .prefault({}),
  admin: z
    .strictObject({
      /** With an external issuer: the client the admin console signs in with (a public PKCE client). */
      client_id: z.string().min(1).max(200).optional(),
      /** `false`: never make the loopback-only bootstrap token (docs/admin.md). */
      bootstrap: z.boolean().default(true),
    })
    .prefault({}),
  /** Policy as code (docs/authorization.md, "Cedar"): absent, no Cedar step at all. */
  policy: z
    .strictObject({
      /** Cedar policy files; `*` in a file name matches many (e.g. `policies/*.cedar`). */
      cedar: z.array(z.string().min(1).max(1000)).min(1).max(256),
      /** Token claims copied onto the principal as `principal.claims.<name>`. */
      claims: z
        .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, "a claim name (letters, digits, '_')"))
        .max(64)
        .default([]),
      /** The token claim whose strings are `principal.groups`. */
      groups_claim: z.string().min(1).max(200).default("groups"),
    })
    .optional(),
  servers: z.array(serverSchema).min(1, "at least one server is required"),
  /** Curated endpoints over the servers' tools, prompts and resources (docs/virtual-servers.md). */
  virtual_servers: z.array(virtualServerSchema).max(1_000).default([]),
});

export type ConfigInput = z.input<typeof configSchema>;
export type ConfigDocument = z.output<typeof configSchema>;
export type UpstreamAuth = z.output<typeof upstreamAuthSchema>;
export type ProtectDocument = z.output<typeof protectSchema>;
