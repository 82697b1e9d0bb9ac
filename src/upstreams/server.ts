import { connect as tcpConnect } from "node:net";
import { callerId, type Principal } from "../auth/principal.js";
import type { Isolation, ServerConfig } from "../config/types.js";
import { ErrorCode, GatewayError, upstreamUnavailable } from "../errors.js";
import type { OAuthUserBroker } from "./oauth-user/broker.js";
import type { JsonObject } from "../jsonrpc.js";
import type { Logger } from "../log.js";
import { LATEST_VERSION } from "../gateway/capabilities.js";
import { UpstreamConnection, type ConnectionHandlers } from "./connection.js";
import { UpstreamLink, type Crash, type LinkHost, type LinkUser } from "./link.js";
import type { ProcessBudget } from "./processes.js";
import { UpstreamCredentials } from "./credentials.js";
import { LaunchRefused } from "../supply/launch-refused.js";
import { createTransport, type RemoteAuth } from "./transport.js";
import { probe, requestMeta, type Era } from "./era.js";

/** `blocked`: a launch the supply-chain checks refused (integrity, sandbox); re-checked on the backoff. */
export type UpstreamState = "starting" | "ready" | "restarting" | "blocked" | "stopped";

export interface Opened {
  connection: UpstreamConnection;
  /** The upstream's `initialize` result (capabilities, serverInfo, protocolVersion, instructions). */
  init: JsonObject;
}

/** What the gateway hears from a server: audited there. */
export interface ServerEvents {
  /** A launch the supply-chain checks refused; told once per distinct refusal, not on every re-check. */
  refused(refusal: LaunchRefused): void;
  /** A connection died under its callers. */
  crashed(crash: Crash): void;
  /** A server→client request refused: no single caller could be tied to it. */
  unattributable(method: string): void;
}

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** A server that stays up this long after a restart has its backoff reset. */
const STABLE_AFTER_MS = 60_000;
const REACHABILITY_TIMEOUT_MS = 10_000;

/** What a connection of the gateway's own declares: what it relays when one caller can be told. */
const SHARED_CAPABILITIES: JsonObject = { sampling: {}, elicitation: { form: {}, url: {} } };

/**
 * One configured server and its connections (docs/isolation.md). A `shared` server has one
 * connection, which every caller uses and which also tells whether the server is ready; the other
 * modes have a connection per user or per session, opened when the caller first needs it and
 * closed when its last session ends, plus a control connection of the gateway's own for readiness.
 *
 * A crash ends one connection (UpstreamLink): the server stays ready and the others never notice.
 * Server-wide backoff is for a server that cannot start: a launch that fails or exits before
 * `initialize` answers. Then the server is `restarting` (or `blocked`, when the supply-chain
 * checks refused the launch) until its control connection opens again, and new connections are
 * refused (-32005) meanwhile.
 *
 * A token-exchange server only accepts connections made on behalf of a caller, so the gateway has
 * no control connection to it: readiness is a TCP connect to its host and port (no HTTP request,
 * so nothing unauthenticated ever reaches it), and the MCP handshake happens per caller.
 */
export class UpstreamServer implements LinkHost {
  private _state: UpstreamState = "starting";
  private lastError: string | undefined;
  /** Why the last start failed: what new connections are refused with while the server is not ready. */
  private lastReason = "upstream_unavailable";
  private restarts = 0;
  private crashes = 0;
  private failures = 0;
  private readySince = 0;
  /** The shared connection, or the control connection; none for a token-exchange server. */
  private readonly primary: UpstreamLink | undefined;
  /** per_user and per_session connections, by user or session. */
  private readonly links = new Map<string, UpstreamLink>();
  /** A launched, not yet initialized stdio process (per_session only), so a session does not wait for a spawn. */
  private spare: { connection: UpstreamConnection; started: Promise<void>; release: () => void } | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly waiters = new Set<() => void>();
  /** Settles when the first start ends, ready or not: a caller who came early waits for it. */
  private readonly firstStart = settled();
  /** What the server speaks, once its first connection found out (era.ts); legacy is never re-probed. */
  private era: Era | undefined;
  /** Remote servers only: the server's own credentials, shared by all its connections. */
  private readonly credentials: UpstreamCredentials | undefined;

  constructor(
    readonly config: ServerConfig,
    readonly log: Logger,
    readonly timeoutMs: number,
    private readonly clientInfo: JsonObject,
    private readonly processes: ProcessBudget,
    private readonly events: ServerEvents,
    broker?: OAuthUserBroker,
  ) {
    this.credentials = config.kind === "stdio" ? undefined : new UpstreamCredentials(config, log, broker);
    if (!this.credentials?.needsCaller)
      this.primary = new UpstreamLink("primary", this, this.ownInit(), true);
  }

  get name(): string {
    return this.config.name;
  }

  get isolation(): Isolation {
    return this.config.isolation;
  }

  get state(): UpstreamState {
    return this._state;
  }

  status(): JsonObject {
    const s: JsonObject = {
      state: this._state,
      protocol: this.era ?? "unknown",
      kind: this.config.kind,
      isolation: this.isolation,
      restarts: this.restarts,
      crashes: this.crashes,
      connections: this.links.size + (this.primary?.isOpen ? 1 : 0),
    };
    if (this.lastError) s.error = this.lastError;
    if (this.credentials?.needsCaller) s.readiness = "reachability";
    return s;
  }

  /**
   * Whether one connection serves every caller: `shared`, or a 2026-07-28 server, which keeps
   * nothing per connection (every request says who asks and what it can do), whatever the isolation.
   */
  get oneConnection(): boolean {
    return this.isolation === "shared" || this.era === "modern";
  }

  start(): void {
    void this.probe();
  }

  /** Resolves once the server is ready, or rejects after `ms`. */
  whenReady(ms: number): Promise<void> {
    if (this._state === "ready") return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(done);
        reject(upstreamUnavailable(this.name, "upstream_unavailable", `not ready (${this._state})`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.add(done);
    });
  }

  /**
   * The connection `user` uses: the shared one, its user's, or a new one of its own
   * (`initParams`: the client's initialize params, which a per_session connection passes on).
   * Nothing is opened yet: the link opens on first use.
   */
  attach(user: LinkUser, initParams: JsonObject): UpstreamLink {
    if (this.oneConnection && this.primary) {
      this.primary.attach(user);
      return this.primary;
    }
    // A server that acts for each caller (token exchange, per-user OAuth) never shares a connection
    // between users: under `shared` each user gets one, opened and used with that user's token.
    const perUser = this.isolation === "per_user" || (this.isolation === "shared" && !this.primary);
    const key = perUser ? callerId(user.principal) : `session:${user.id}`;
    let link = this.links.get(key);
    if (!link) {
      const params = this.isolation === "per_session" ? initParams : this.ownInit();
      link = new UpstreamLink(key, this, params, false);
      this.links.set(key, link);
    }
    link.attach(user);
    return link;
  }

  /** `user` is done with `link`; a link of a user's or session's own closes with its last session. */
  detach(user: LinkUser, link: UpstreamLink): void {
    if (!link.detach(user) || link === this.primary) return;
    if (this.links.get(link.key) === link) this.links.delete(link.key);
    void link.close();
  }

  async stop(): Promise<void> {
    this._state = "stopped";
    this.firstStart.resolve();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await Promise.all([
      this.primary?.close(),
      ...[...this.links.values()].map((l) => l.close()),
      this.dropSpare(),
    ]);
  }

  // LinkHost: what the links ask of their server.

  /** While the gateway's first start of this server runs: when it ends (then ask `admits` again). */
  starting(): Promise<void> | undefined {
    return this._state === "starting" ? this.firstStart.promise : undefined;
  }

  admits(): GatewayError | undefined {
    return this._state === "ready" ? undefined : upstreamUnavailable(this.name, this.lastReason, this._state);
  }

  /** Opens and initializes a connection for `link`, with the credentials of the caller it acts for. */
  async connect(link: UpstreamLink, handlers: ConnectionHandlers): Promise<Opened> {
    const auth = this.remoteAuth(link === this.primary ? undefined : () => link.caller() as Principal);
    let connection: UpstreamConnection;
    let started: Promise<void>;
    let release: (() => void) | undefined;
    // A restart after a crash launches afresh: the launch is checked again (integrity, sandbox) and
    // a server that can no longer start is found, instead of being hidden by the spare.
    const spare = link === this.primary || link.restarting ? undefined : this.spare;
    if (spare) {
      this.spare = undefined;
      ({ connection, started, release } = spare);
      connection.attach(this.releasing(handlers, release));
    } else {
      if (this.config.kind === "stdio") release = this.processes.require(this.name);
      connection = new UpstreamConnection(
        this.name,
        createTransport(this.config, this.log, auth),
        release ? this.releasing(handlers, release) : handlers,
        this.timeoutMs,
      );
      started = connection.start();
    }
    if (link !== this.primary) this.makeSpare();
    try {
      await started;
      if (this.era !== "legacy") {
        const verdict = await probe(connection, link.initParams);
        if (verdict?.era === "modern") {
          this.era = "modern";
          const meta = requestMeta(link.initParams.capabilities, link.initParams.clientInfo);
          connection.setModern(meta, this.config.kind !== "stdio");
          return { connection, init: verdict.init };
        }
      }
      const init = await connection.request("initialize", link.initParams);
      // It answered `initialize`: a legacy (or dual-era) server, never probed again.
      this.era = "legacy";
      if (typeof init.protocolVersion === "string") connection.setProtocolVersion(init.protocolVersion);
      return { connection, init };
    } catch (err) {
      await connection.close();
      release?.();
      if (err instanceof LaunchRefused) throw err;
      // An auth failure is reported as such even when the transport wrapped it (the SSE stream does).
      const authFailure = auth?.connection.failure;
      if (authFailure) throw authFailure;
      throw err instanceof GatewayError
        ? err
        : upstreamUnavailable(
            this.name,
            "upstream_unavailable",
            err instanceof Error ? err.message : String(err),
          );
    }
  }

  /**
   * A connection could not be opened while the server was ready. A refused launch blocks the
   * server; a failed launch or handshake means it cannot start (server-wide backoff); a caller's
   * own credential failing, or the process budget, is that caller's answer only.
   */
  openFailed(err: unknown): void {
    if (this._state !== "ready") return;
    if (err instanceof LaunchRefused) return this.blocked(err);
    if (
      err instanceof GatewayError &&
      (err.reason === "upstream_auth_failed" ||
        err.reason === "upstream_capacity" ||
        err.code === ErrorCode.UpstreamAuthRequired)
    )
      return;
    this.failedToStart(err);
  }

  crashed(crash: Crash): void {
    if (this._state === "stopped") return;
    this.crashes++;
    this.log.warn(
      { server: this.name, in_flight: crash.inFlight, sub: crash.caller?.subject ?? "unattributed" },
      "upstream crashed",
    );
    this.events.crashed(crash);
  }

  unattributable(method: string): void {
    this.events.unattributable(method);
  }

  /** The params of a connection the gateway opens for several callers (or for itself). */
  private ownInit(): JsonObject {
    return {
      protocolVersion: LATEST_VERSION,
      capabilities: this.isolation === "per_session" ? {} : SHARED_CAPABILITIES,
      clientInfo: this.clientInfo,
    };
  }

  /** The handlers, with the connection's place in the process budget given back when it closes. */
  private releasing(handlers: ConnectionHandlers, release: () => void): ConnectionHandlers {
    return {
      ...handlers,
      onClose: (expected) => {
        release();
        handlers.onClose(expected);
      },
    };
  }

  private makeSpare(): void {
    if (this.config.kind !== "stdio" || this.isolation !== "per_session" || this.era === "modern") return;
    if (this._state !== "ready" || this.spare) return;
    const release = this.processes.take();
    if (!release) return;
    const connection: UpstreamConnection = new UpstreamConnection(
      this.name,
      createTransport(this.config, this.log, undefined),
      {
        onRequest: () => Promise.reject(new Error("a spare process serves no requests")),
        onNotification: () => {},
        onClose: () => {
          release();
          if (this.spare?.connection === connection) this.spare = undefined;
        },
      },
      this.timeoutMs,
    );
    const started = connection.start();
    started.catch((err: unknown) => {
      if (this.spare?.connection === connection) this.spare = undefined;
      void connection.close();
      if (err instanceof LaunchRefused) this.blocked(err);
    });
    this.spare = { connection, started, release };
  }

  private async dropSpare(): Promise<void> {
    const spare = this.spare;
    this.spare = undefined;
    await spare?.connection.close();
  }

  /** This connection's credentials (remote servers); throws upstream_auth_failed when it can have none. */
  private remoteAuth(caller: (() => Principal) | undefined): RemoteAuth | undefined {
    const credentials = this.credentials;
    return credentials ? { credentials, connection: credentials.forConnection(caller) } : undefined;
  }

  private async probe(): Promise<void> {
    if (this._state === "stopped") return;
    if (!this.primary && this.config.kind !== "stdio") return this.probeReachability(this.config.url);
    try {
      await this.primary?.probe();
      if ((this._state as UpstreamState) === "stopped") return;
      this.ready();
    } catch (err) {
      this.failedToStart(err);
    }
  }

  private async probeReachability(url: string): Promise<void> {
    try {
      await reachable(url, REACHABILITY_TIMEOUT_MS);
      if ((this._state as UpstreamState) === "stopped") return;
      this.ready();
    } catch (err) {
      this.failedToStart(err);
    }
  }

  private ready(): void {
    this._state = "ready";
    this.readySince = Date.now();
    this.lastError = undefined;
    this.lastReason = "upstream_unavailable";
    this.log.info({ server: this.name }, "upstream ready");
    this.makeSpare();
    for (const w of this.waiters) w();
    this.waiters.clear();
    this.firstStart.resolve();
  }

  private failedToStart(err: unknown): void {
    if (err instanceof LaunchRefused) return this.blocked(err);
    this.lastError = err instanceof Error ? err.message.slice(0, 300) : String(err);
    this.lastReason = err instanceof GatewayError ? err.reason : "upstream_unavailable";
    this.log.warn({ server: this.name, err: this.lastError }, "upstream failed to start");
    this.scheduleRestart();
  }

  /** Refused by a supply-chain check: down until a re-check on the backoff passes; audited once. */
  private blocked(refusal: LaunchRefused): void {
    if (this._state === "stopped") return;
    const message = refusal.message.slice(0, 300);
    const known = this._state === "blocked" && this.lastError === message;
    this.lastError = message;
    this.lastReason = refusal.reason;
    if (!known) {
      this.log.error(
        { server: this.name, reason: refusal.reason, ...refusal.detail },
        "upstream launch refused",
      );
      this.events.refused(refusal);
    }
    // The file changed (or the sandbox broke) while the server ran: nothing new runs until it is fixed.
    void this.primary?.drop();
    void this.dropSpare();
    this.scheduleRestart("blocked");
  }

  private scheduleRestart(state: "restarting" | "blocked" = "restarting"): void {
    if (this._state === "stopped") return;
    if (this.readySince && Date.now() - this.readySince > STABLE_AFTER_MS) this.failures = 0;
    this.readySince = 0;
    this._state = state;
    this.firstStart.resolve();
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.failures);
    this.failures++;
    this.restarts++;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.probe(), delay);
    this.retryTimer.unref();
  }
}

/** Resolves once a TCP connection to the URL's host and port opens; sends nothing over it. */
function reachable(url: string, timeoutMs: number): Promise<void> {
  const u = new URL(url);
  const port = Number(u.port || (u.protocol === "https:" ? 443 : 80));
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: u.hostname.replace(/^\[|\]$/g, ""), port, timeout: timeoutMs });
    socket.once("connect", () => {
      socket.destroy();
      resolve();
    });
    socket.once("timeout", () => {
      socket.destroy();
      reject(new Error(`no TCP connection to ${u.host} within ${timeoutMs} ms`));
    });
    socket.once("error", (err) => {
      socket.destroy();
      reject(new Error(`no TCP connection to ${u.host}: ${err.message}`));
    });
  });
}

/** A promise and the function that resolves it (Promise.withResolvers, past this build's lib target). */
function settled(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
