import { randomBytes } from "node:crypto";
import { callerId, principalKey, type Principal } from "../auth/principal.js";
import type { Config, ServerConfig } from "../config/types.js";
import { GatewayError, ErrorCode } from "../errors.js";
import type { JsonObject } from "../jsonrpc.js";
import type { Logger } from "../log.js";
import type { AuditLog } from "../audit/log.js";
import { auditEvent } from "../audit/event.js";
import type { RedisState } from "../state/redis.js";
import type { KillStore } from "../ops/kill-store.js";
import { KillRules } from "../ops/kill-rules.js";
import { RedisRuleCounter } from "../ops/kill-rules-redis.js";
import { KillSwitch, killMatches } from "../ops/kill-switch.js";
import { killedError, killSwitch } from "../pipeline/stages/kill-switch.js";
import { configuredNames, Metrics } from "../observability/metrics.js";
import { Tracing } from "../observability/tracing.js";
import { buildPipeline } from "../pipeline/phases.js";
import { audit as auditStage, principalFields } from "../pipeline/stages/audit.js";
import { telemetry } from "../pipeline/stages/telemetry.js";
import { rateLimit } from "../pipeline/stages/rate-limit.js";
import { supplyChain } from "../pipeline/stages/supply-chain.js";
import { cedar as cedarStage } from "../pipeline/stages/cedar.js";
import type { CedarPolicySet } from "../policy/cedar/policy-set.js";
import { curate } from "../pipeline/stages/curate.js";
import { DefinitionGuard } from "../supply/definition-guard.js";
import type { PinStore } from "../supply/pins.js";
import { RateLimits } from "../ops/rate-limit.js";
import { AccessPolicy } from "../policy/access.js";
import { ArgumentPolicy } from "../policy/argument-policy.js";
import { Protector, sharedInjectionDetector } from "../protect/protector.js";
import { warmRedaction } from "../protect/redaction/index.js";
import { ProcessBudget } from "../upstreams/processes.js";
import { UpstreamServer, type ServerEvents } from "../upstreams/server.js";
import type { OAuthUserBroker } from "../upstreams/oauth-user/broker.js";
import { VERSION } from "../version.js";
import { ClientRequestGuard } from "./client-requests.js";
import { CallerSessions } from "./caller-sessions.js";
import { Refusals } from "./refusals.js";
import { Route } from "./route.js";
import { VirtualServer } from "./virtual/server.js";
import { describeVirtual } from "./virtual/describe.js";
import { ServerTexts } from "./server-texts.js";
import type { ClientChannel } from "./relay.js";
import { Session, type SessionDeps } from "./session.js";
import type { ModernMeta } from "./modern.js";
import { RequestStates } from "./request-state.js";
import { TaskOwners } from "./tasks.js";
import { ModernChannel } from "../transports/modern-channel.js";

const SWEEP_MS = 30_000;

/** The gateway's parts, built once from a compiled config: upstreams, routes, pipeline, sessions. */
export class Gateway {
  readonly servers: ReadonlyMap<string, UpstreamServer>;
  readonly routes: ReadonlyMap<string, Route>;
  readonly metrics: Metrics;
  readonly tracing: Tracing;
  readonly kills: KillSwitch;
  /** Every stdio process of every server counts here (`max_upstream_processes`). */
  readonly processes: ProcessBudget;
  /** Records refusals made before the pipeline: audited, counted and logged in one place. */
  readonly refusals: Refusals;
  private readonly sessions = new Map<string, Session>();
  /** Modern callers' sessions by route, caller and capabilities (modernSession). */
  private readonly modern = new Map<string, { session: Session; channel: ModernChannel }>();
  private readonly modernKeys = new Map<Session, string>();
  /** The same sessions by caller, for the caps. */
  private readonly callers: CallerSessions<Session>;
  private readonly deps: SessionDeps;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    readonly config: Config,
    readonly log: Logger,
    /** The deployment's key for `hash` redactions (from the state store). */
    hashKey: Uint8Array,
    /** Where every call's outcome and every refusal is recorded before its response leaves. */
    readonly audit: AuditLog,
    /** With `state.redis`: what instances share (rate limits, kill switch, revocations). */
    readonly redis: RedisState | undefined,
    /** Where kills persist: the state store's table, or Redis shared by every instance. */
    killStore: KillStore,
    /** Where tool-definition pins persist: the state store's table, shared through Postgres or Redis. */
    readonly pins: PinStore,
    /** Each user's own upstream tokens, when a server takes per-user OAuth (`oauth_user`). */
    readonly broker?: OAuthUserBroker,
    /** The Cedar policies in force (`policy.cedar`); undefined: no Cedar step. */
    readonly cedar?: CedarPolicySet,
  ) {
    this.callers = new CallerSessions(config.gateway.maxSessions, config.gateway.maxSessionsPerCaller);
    this.kills = new KillSwitch(killStore, config.killSwitch.file, audit, log);
    // A kill from anywhere (CLI, another instance, a rule, the file) cancels the calls it covers.
    this.kills.onKill((kill) => {
      const error = killedError(kill);
      for (const s of this.sessions.values()) s.abortMatching((t) => killMatches(kill, t), error);
    });
    const rules = new KillRules(
      config.killSwitch.rules,
      (scope, target, reason) => this.kills.kill(scope, target, reason, { sub: "rule", auth: "rule" }),
      log,
      // With shared state, events on every instance count toward one rule.
      redis ? new RedisRuleCounter(redis, log) : undefined,
    );
    audit.onRecord((e) => rules.observe(e));
    const clientInfo: JsonObject = { name: "mcp-warden", version: VERSION };
    this.processes = new ProcessBudget(config.gateway.maxUpstreamProcesses);
    this.servers = new Map(
      config.servers.map((s) => [
        s.name,
        new UpstreamServer(
          s,
          log,
          config.gateway.upstreamTimeoutMs,
          clientInfo,
          this.processes,
          serverEvents(s, audit, log),
          broker,
        ),
      ]),
    );
    const names = config.servers.map((s) => s.name);
    const routes: Array<[string, Route]> = [["/mcp", new Route("/mcp", names, true)]];
    for (const name of names)
      routes.push([`/servers/${name}/mcp`, new Route(`/servers/${name}/mcp`, [name], false)]);
    // Virtual servers: curated endpoints, each with its own metadata and audience like any route.
    for (const v of config.virtualServers) {
      const path = `/v/${v.name}/mcp`;
      const virtual = new VirtualServer(v);
      routes.push([path, new Route(path, virtual.servers, false, virtual)]);
    }
    this.routes = new Map(routes);
    const servers = this.servers;
    this.metrics = new Metrics({
      upstreams: function* () {
        for (const [name, server] of servers) yield [name, server.state] as const;
      },
      auditQueue: () => this.auditQueueDepth(),
      upstreamProcesses: () => this.processes.count,
      names: configuredNames(config.servers),
      process: config.observability.metrics,
    });
    this.refusals = new Refusals(audit, this.metrics, log);
    this.tracing = new Tracing(config.observability, log);
    const protectors = new Map(
      config.servers.map((s) => [s.name, new Protector(s.protect, hashKey, sharedInjectionDetector())]),
    );
    // What redaction builds on first use (its gate, the confusables table), built now: not on the
    // path of the first caller's result.
    warmRedaction();
    // One guard for listed definitions and for each server's initialize instructions.
    const definitions = new DefinitionGuard(
      config.supplyChain,
      names,
      pins,
      audit,
      log.child({ component: "supply" }),
    );
    this.deps = {
      servers: this.servers,
      kills: this.kills,
      pipeline: buildPipeline({
        access: new AccessPolicy(config),
        arguments: new ArgumentPolicy(config),
        protectors,
        telemetry: telemetry(this.metrics, this.tracing, config.servers),
        audit: auditStage(
          audit,
          protectors,
          config.audit.maxArgsBytes,
          broker && ((server, p) => broker.connectionOf(server, p)),
        ),
        rateLimit: rateLimit(new RateLimits(config.servers, redis, log)),
        killSwitch: killSwitch(this.kills),
        supplyChain: supplyChain(definitions),
        cedar: cedar ? cedarStage(cedar) : undefined,
        curate: curate(log.child({ component: "virtual" }), config.virtualServers.length > 0),
      }),
      protectors,
      clientRequests: new ClientRequestGuard(config, protectors, audit, log),
      serverTexts: new ServerTexts(protectors, definitions, audit, log),
      audit,
      refusals: this.refusals,
      version: VERSION,
      timeoutMs: config.gateway.upstreamTimeoutMs,
      requestStates: new RequestStates(hashKey, config.gateway.upstreamTimeoutMs),
      broker,
      tasks: new TaskOwners(),
      definitions,
    };
  }

  /** Loads the kills before anything else: no call is admitted before they are known. */
  async start(): Promise<void> {
    await this.kills.start();
    // Every sink answers before the first call, or /readyz says the audit log is failing.
    await this.audit.ready().catch((err: unknown) => {
      this.log.error({ err: (err as Error).message }, "audit log not writable: calls are refused");
    });
    for (const server of this.servers.values()) server.start();
    this.reportVirtualServers();
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  /**
   * What the definitions last listed (pins) say of each virtual server at start: a selection that
   * matches nothing, a clash, an entry that does not fit its tool (a fixed argument the schema
   * lacks). Logged, not fatal: the servers' lists may have changed; each session resolves again.
   */
  private reportVirtualServers(): void {
    for (const v of this.config.virtualServers) {
      const report = describeVirtual(this.config, this.pins, v.name);
      if (!report) continue;
      const problems = report.tools.flatMap((t) => (t.problem ? [`${t.name}: ${t.problem}`] : []));
      if (report.unmatched.length + report.clashes.length + problems.length === 0) continue;
      this.log.warn(
        { virtual_server: v.name, unmatched: report.unmatched, clashes: report.clashes, problems },
        "virtual server: some selections show no tool (from the definitions last listed)",
      );
    }
  }

  /** Ready when every upstream is: a route with a server down still answers, but /readyz says so. */
  readiness(): { ready: boolean; upstreams: JsonObject; audit: string } {
    const upstreams: JsonObject = {};
    let ready = true;
    for (const [name, server] of this.servers) {
      upstreams[name] = server.status();
      if (server.state !== "ready") ready = false;
    }
    // A gateway that cannot audit refuses every call: not ready. Asking also re-pings the sink.
    if (this.audit.failing) void this.audit.ready().catch(() => undefined);
    const audit = this.audit.failing ? "failing" : "ok";
    return { ready: ready && audit === "ok", upstreams, audit };
  }

  whenReady(ms: number): Promise<unknown> {
    return Promise.allSettled([...this.servers.values()].map((s) => s.whenReady(ms)));
  }

  /**
   * A new session for `principal`, within the caps (docs/operations.md, "Sessions"): a caller at
   * `max_sessions_per_user` loses its own least recently used session; a full gateway closes idle
   * sessions, then takes one from the caller holding the most (CallerSessions); else 503
   * `too_many_sessions`.
   */
  createSession(route: Route, principal: Principal, channel: ClientChannel, modern?: ModernChannel): Session {
    const caller = callerId(principal);
    const own = this.callers.overCap(caller);
    if (own) this.evict(own, "session evicted: caller at its session cap");
    if (this.callers.full) this.sweep();
    if (this.callers.full) {
      const other = this.callers.yieldingTo(caller);
      if (other) this.evict(other, "session evicted: the gateway is full and its caller holds the most");
    }
    if (this.callers.full) {
      const refusal = new GatewayError(
        ErrorCode.UpstreamUnavailable,
        "too_many_sessions",
        "the gateway has too many sessions",
        {},
        503,
      );
      this.refuseSession(principal, refusal);
      throw refusal;
    }
    // 192 random bits, URL-safe: well past the spec's "cryptographically secure" floor. With
    // several instances, the instance's id in front lets the load balancer route the session home.
    const random = randomBytes(24).toString("base64url");
    const instance = this.config.gateway.instanceId;
    const id = instance === undefined ? random : `${instance}.${random}`;
    const session = new Session(
      id,
      route,
      principal,
      channel,
      this.deps,
      this.log.child({ session: id }),
      modern,
    );
    this.sessions.set(id, session);
    this.callers.add(caller, session);
    return session;
  }

  session(id: string): Session | undefined {
    const s = this.sessions.get(id);
    // A modern caller's session is the gateway's own bookkeeping: never reachable by a session id.
    return s && !s.isClosed && !s.modern ? s : undefined;
  }

  /**
   * The session the gateway keeps for a modern (2026-07-28) caller: one per route and principal
   * (user, client and credential kind, as `samePrincipal` has it: one user's clients never share
   * one, nor its principal), whatever capabilities each request claims (a key on them would let one caller open sessions,
   * and upstream processes, without end), made on first use within the same caps as legacy
   * sessions, and closed when idle like them (docs/protocol-eras.md). Each request's own
   * capabilities still decide what it may be asked (ModernChannel) and go with it to a 2026-07-28
   * server.
   */
  modernSession(
    route: Route,
    principal: Principal,
    meta: ModernMeta,
  ): { session: Session; channel: ModernChannel } {
    const key = `${route.path}\u0000${principalKey(principal)}`;
    const held = this.modern.get(key);
    if (held && !held.session.isClosed) {
      held.session.lastSeen = Date.now();
      held.session.refreshPrincipal(principal);
      return held;
    }
    const refuse = { to: undefined as Session | undefined };
    const channel = new ModernChannel((id, missing) =>
      refuse.to?.onResponse(
        id,
        undefined,
        missing
          ? {
              code: ErrorCode.MissingRequiredClientCapability,
              message: "the caller's request did not declare the capability this needs",
            }
          : { code: ErrorCode.InternalError, message: "no request of the caller is in flight to carry this" },
      ),
    );
    const session = this.createSession(route, principal, channel, channel);
    refuse.to = session;
    session.adopt(meta.clientCapabilities, meta.clientInfo);
    const entry = { session, channel };
    this.modern.set(key, entry);
    this.modernKeys.set(session, key);
    return entry;
  }

  async closeSession(id: string): Promise<void> {
    const s = this.sessions.get(id);
    if (!s) return;
    // Out of both registries at once: the caps count it free before its close completes.
    this.sessions.delete(id);
    this.callers.delete(s);
    const key = this.modernKeys.get(s);
    if (key !== undefined) {
      this.modernKeys.delete(s);
      if (this.modern.get(key)?.session === s) this.modern.delete(key);
    }
    await s.close();
  }

  async stop(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    await Promise.all([...this.sessions.keys()].map((id) => this.closeSession(id)));
    await Promise.all([...this.servers.values()].map((s) => s.stop()));
    this.kills.stop();
    await this.pins.close();
    await this.audit.close();
    await this.redis?.close();
    await this.tracing.shutdown();
  }

  /** Audit events waiting to be written or being written, for `warden_audit_queue_depth`. */
  auditQueueDepth(): number {
    return this.audit.pending;
  }

  /** Closes a session its client did not end; its client gets 404 and may initialize again. */
  private evict(s: Session, why: string): void {
    this.log.info({ session: s.id, sub: s.principal.subject, source: s.principal.source }, why);
    void this.closeSession(s.id);
  }

  /** A refused session is audited like any refusal (it never counts toward a kill rule). */
  private refuseSession(principal: Principal, refusal: GatewayError): void {
    this.refusals
      .record(refusal, { principal, method: "initialize" })
      .catch((err: unknown) =>
        this.log.error({ err: (err as Error).message }, "session refusal not audited"),
      );
  }

  private sweep(): void {
    const cutoff = Date.now() - this.config.gateway.sessionIdleMs;
    for (const [id, s] of this.sessions) if (s.lastSeen < cutoff || s.isClosed) void this.closeSession(id);
  }
}

/**
 * What a server's connections report, into the audit log: a refused launch, every crash with the
 * caller it is attributed to (or none: `attributed: false`, which no kill rule counts), and a
 * server→client request refused for want of a single caller.
 */
function serverEvents(s: ServerConfig, audit: AuditLog, log: Logger): ServerEvents {
  const record = (event: Parameters<typeof auditEvent>[0], what: string) =>
    audit
      .record(auditEvent(event))
      .catch((err: unknown) =>
        log.error({ server: s.name, err: (err as Error).message }, `${what} not audited`),
      );
  return {
    refused: (refusal) =>
      void record(
        {
          event: "supply_chain",
          server: s.name,
          status: "blocked",
          reason: refusal.reason,
          detail: refusal.detail,
        },
        "launch refusal",
      ),
    crashed: (crash) =>
      void record(
        {
          event: "upstream_crash",
          server: s.name,
          principal: crash.caller ? principalFields(crash.caller) : undefined,
          session: crash.session,
          tool: crash.tool,
          status: "error",
          reason: "upstream_crash",
          detail: {
            isolation: s.isolation,
            in_flight: crash.inFlight,
            attributed: crash.caller !== undefined,
          },
        },
        "crash",
      ),
    unattributable: (method) =>
      void record(
        {
          event: "server_request",
          server: s.name,
          method,
          status: "denied",
          reason: "unattributable",
          detail: { isolation: s.isolation },
        },
        "server request refusal",
      ),
  };
}
