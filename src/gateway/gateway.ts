import { randomBytes } from "node:crypto";
import { callerId, type Principal } from "../auth/principal.js";
import type { Config } from "../config/types.js";
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
import { DefinitionGuard } from "../supply/definition-guard.js";
import type { PinStore } from "../supply/pins.js";
import { RateLimits } from "../ops/rate-limit.js";
import { AccessPolicy } from "../policy/access.js";
import { ArgumentPolicy } from "../policy/argument-policy.js";
import { Protector, sharedInjectionDetector } from "../protect/protector.js";
import { UpstreamServer } from "../upstreams/server.js";
import { VERSION } from "../version.js";
import { ClientRequestGuard } from "./client-requests.js";
import { Route } from "./route.js";
import { ServerTexts } from "./server-texts.js";
import { Session, type ClientChannel, type SessionDeps } from "./session.js";

const SWEEP_MS = 30_000;

/** The gateway's parts, built once from a compiled config: upstreams, routes, pipeline, sessions. */
export class Gateway {
  readonly servers: ReadonlyMap<string, UpstreamServer>;
  readonly routes: ReadonlyMap<string, Route>;
  readonly metrics: Metrics;
  readonly tracing: Tracing;
  readonly kills: KillSwitch;
  private readonly sessions = new Map<string, Session>();
  /** Caller (`callerId`, fixed when the session opened) → its sessions: the caps count these. */
  private readonly byCaller = new Map<string, Set<Session>>();
  private readonly callerOf = new WeakMap<Session, string>();
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
  ) {
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
    this.servers = new Map(
      config.servers.map((s) => [
        s.name,
        new UpstreamServer(s, log, config.gateway.upstreamTimeoutMs, clientInfo, (refusal) =>
          audit
            .record(
              auditEvent({
                event: "supply_chain",
                server: s.name,
                status: "blocked",
                reason: refusal.reason,
                detail: refusal.detail,
              }),
            )
            .catch((err: unknown) =>
              log.error({ server: s.name, err: (err as Error).message }, "launch refusal not audited"),
            ),
        ),
      ]),
    );
    const names = config.servers.map((s) => s.name);
    const routes: Array<[string, Route]> = [["/mcp", new Route("/mcp", names, true)]];
    for (const name of names)
      routes.push([`/servers/${name}/mcp`, new Route(`/servers/${name}/mcp`, [name], false)]);
    this.routes = new Map(routes);
    const servers = this.servers;
    this.metrics = new Metrics({
      upstreams: function* () {
        for (const [name, server] of servers) yield [name, server.state] as const;
      },
      auditQueue: () => this.auditQueueDepth(),
      names: configuredNames(config.servers),
      process: config.observability.metrics,
    });
    this.tracing = new Tracing(config.observability, log);
    const protectors = new Map(
      config.servers.map((s) => [s.name, new Protector(s.protect, hashKey, sharedInjectionDetector())]),
    );
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
        audit: auditStage(audit, protectors, config.audit.maxArgsBytes),
        rateLimit: rateLimit(new RateLimits(config.servers, redis, log)),
        killSwitch: killSwitch(this.kills),
        supplyChain: supplyChain(definitions),
      }),
      protectors,
      clientRequests: new ClientRequestGuard(config.servers, protectors, audit, log),
      serverTexts: new ServerTexts(protectors, definitions, audit, log),
      audit,
      refused: (reason) => this.metrics.denied(reason),
      version: VERSION,
      timeoutMs: config.gateway.upstreamTimeoutMs,
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
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
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
   * `max_sessions_per_caller` loses its own least recently used session; a full gateway makes room
   * by taking the least recently used session of the caller holding the most, when that caller
   * holds at least two more than this one will; else 503 `too_many_sessions`.
   */
  createSession(route: Route, principal: Principal, channel: ClientChannel): Session {
    const caller = callerId(principal);
    const own = this.byCaller.get(caller);
    if (own && own.size >= this.config.gateway.maxSessionsPerCaller) {
      this.evict(leastRecent(own) as Session, "session evicted: caller at its session cap");
    }
    if (this.sessions.size >= this.config.gateway.maxSessions) this.sweep();
    if (this.sessions.size >= this.config.gateway.maxSessions) this.makeRoomFor(caller);
    if (this.sessions.size >= this.config.gateway.maxSessions) {
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
    const session = new Session(id, route, principal, channel, this.deps, this.log.child({ session: id }));
    this.sessions.set(id, session);
    this.callerOf.set(session, caller);
    if (own) own.add(session);
    else this.byCaller.set(caller, new Set([session]));
    return session;
  }

  session(id: string): Session | undefined {
    const s = this.sessions.get(id);
    return s && !s.isClosed ? s : undefined;
  }

  async closeSession(id: string): Promise<void> {
    const s = this.sessions.get(id);
    if (!s) return;
    this.forget(s);
    await s.close();
  }

  /** Takes a session out of the registry at once (its count frees before its close completes). */
  private forget(s: Session): void {
    this.sessions.delete(s.id);
    const caller = this.callerOf.get(s);
    const own = caller === undefined ? undefined : this.byCaller.get(caller);
    own?.delete(s);
    if (caller !== undefined && own?.size === 0) this.byCaller.delete(caller);
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

  /**
   * At `max_sessions`: the caller holding the most sessions (the one idle longest among equals)
   * gives up its least recently used one, if it holds at least two more than `caller` does (so the
   * two cannot take a session back and forth). So a caller under its cap is refused only while no
   * caller holds more than one session over its own count: the sessions are shared about evenly.
   */
  private makeRoomFor(caller: string): void {
    const mine = this.byCaller.get(caller)?.size ?? 0;
    let top: Set<Session> | undefined;
    let topOldest: Session | undefined;
    for (const [other, held] of this.byCaller) {
      if (other === caller || held.size < mine + 2) continue;
      const oldest = leastRecent(held) as Session;
      if (
        !top ||
        held.size > top.size ||
        (held.size === top.size && oldest.lastSeen < (topOldest as Session).lastSeen)
      ) {
        top = held;
        topOldest = oldest;
      }
    }
    if (topOldest)
      this.evict(topOldest, "session evicted: the gateway is full and its caller holds the most");
  }

  /** Closes a session its client did not end; its client gets 404 and may initialize again. */
  private evict(s: Session, why: string): void {
    this.log.info({ session: s.id, sub: s.principal.subject, source: s.principal.source }, why);
    void this.closeSession(s.id);
  }

  /** A refused session is audited like any refusal (it never counts toward a kill rule). */
  private refuseSession(principal: Principal, refusal: GatewayError): void {
    this.metrics.denied(refusal.reason);
    this.audit
      .record(
        auditEvent({
          event: "denied",
          principal: principalFields(principal),
          method: "initialize",
          status: "denied",
          reason: refusal.reason,
          detail: { code: refusal.code },
        }),
      )
      .catch((err: unknown) =>
        this.log.error({ err: (err as Error).message }, "session refusal not audited"),
      );
  }

  private sweep(): void {
    const cutoff = Date.now() - this.config.gateway.sessionIdleMs;
    for (const [id, s] of this.sessions) if (s.lastSeen < cutoff || s.isClosed) void this.closeSession(id);
  }
}

function leastRecent(sessions: Iterable<Session>): Session | undefined {
  let oldest: Session | undefined;
  for (const s of sessions) if (!oldest || s.lastSeen < oldest.lastSeen) oldest = s;
  return oldest;
}
