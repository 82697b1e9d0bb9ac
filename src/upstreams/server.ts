import { connect as tcpConnect } from "node:net";
import type { Principal } from "../auth/principal.js";
import type { ServerConfig } from "../config/types.js";
import { GatewayError, upstreamUnavailable } from "../errors.js";
import type { JsonObject } from "../jsonrpc.js";
import type { Logger } from "../log.js";
import { UpstreamConnection, type ConnectionHandlers } from "./connection.js";
import { UpstreamCredentials } from "./credentials.js";
import { LaunchRefused } from "../supply/launch-refused.js";
import { createTransport, type RemoteAuth } from "./transport.js";

/** `blocked`: a launch the supply-chain checks refused (integrity, sandbox); re-checked on the backoff. */
export type UpstreamState = "starting" | "ready" | "restarting" | "blocked" | "stopped";

export interface Opened {
  connection: UpstreamConnection;
  /** The upstream's `initialize` result (capabilities, serverInfo, protocolVersion, instructions). */
  init: JsonObject;
}

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** A server that stays up this long after a restart has its backoff reset. */
const STABLE_AFTER_MS = 60_000;
const REACHABILITY_TIMEOUT_MS = 10_000;

const NO_HANDLERS: Omit<ConnectionHandlers, "onClose"> = {
  onRequest: () => Promise.reject(new Error("the gateway's own connection serves no requests")),
  onNotification: () => {},
};

/**
 * One configured server. It keeps a control connection of the gateway's own (readiness, and the
 * definitions later stages pin and scan), and opens a connection per client session so that each
 * session's state (roots, subscriptions, log level, server→client requests) stays its own.
 * An unexpected close anywhere counts as a crash: the server restarts with exponential backoff,
 * and connections are refused (-32005) until it is ready again.
 *
 * A token-exchange server only accepts connections made on behalf of a caller, so the gateway has
 * no control connection to it: readiness is a TCP connect to its host and port (no HTTP request,
 * so nothing unauthenticated ever reaches it), and the MCP handshake happens per session.
 */
export class UpstreamServer {
  private _state: UpstreamState = "starting";
  private lastError: string | undefined;
  /** Why the last start failed: what `open` reports while the server is not ready. */
  private lastReason = "upstream_unavailable";
  private restarts = 0;
  private failures = 0;
  private readySince = 0;
  private control: UpstreamConnection | undefined;
  /** A launched, not yet initialized stdio process, so a new session does not wait for a spawn. */
  private spare: { connection: UpstreamConnection; started: Promise<void> } | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly waiters = new Set<() => void>();
  /** Remote servers only: the server's own credentials, shared by all its connections. */
  private readonly credentials: UpstreamCredentials | undefined;

  constructor(
    readonly config: ServerConfig,
    private readonly log: Logger,
    private readonly timeoutMs: number,
    private readonly clientInfo: JsonObject,
    /** Told once per distinct refusal (audited by the gateway), not on every re-check. */
    private readonly onRefused: (refusal: LaunchRefused) => void = () => {},
  ) {
    this.credentials = config.kind === "stdio" ? undefined : new UpstreamCredentials(config, log);
  }

  get name(): string {
    return this.config.name;
  }

  get state(): UpstreamState {
    return this._state;
  }

  status(): JsonObject {
    const s: JsonObject = { state: this._state, kind: this.config.kind, restarts: this.restarts };
    if (this.lastError) s.error = this.lastError;
    if (this.credentials?.needsCaller) s.readiness = "reachability";
    return s;
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
   * Opens and initializes a connection for one client session. `caller` gives the principal the
   * session acts for: a token-exchange server gets a token obtained for that caller, and a caller
   * without a bearer token is refused (upstream_auth_failed) before anything is sent.
   */
  async open(
    initParams: JsonObject,
    handlers: ConnectionHandlers,
    caller?: () => Principal,
  ): Promise<Opened> {
    if (this._state !== "ready") throw upstreamUnavailable(this.name, this.lastReason, this._state);
    try {
      return await this.connect(
        initParams,
        {
          ...handlers,
          onClose: (expected) => {
            if (!expected) this.crashed("session connection closed");
            handlers.onClose(expected);
          },
        },
        caller,
      );
    } catch (err) {
      if (!(err instanceof LaunchRefused)) throw err;
      // The file changed (or the sandbox broke) while the server ran: no more launches until fixed.
      this.blocked(err);
      throw upstreamUnavailable(this.name, err.reason, "blocked");
    }
  }

  async stop(): Promise<void> {
    this._state = "stopped";
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await Promise.all([this.control?.close(), this.dropSpare()]);
  }

  private async connect(
    initParams: JsonObject,
    handlers: ConnectionHandlers,
    caller?: () => Principal,
  ): Promise<Opened> {
    const auth = this.remoteAuth(caller);
    const spare = this.spare;
    this.spare = undefined;
    let connection: UpstreamConnection;
    let started: Promise<void>;
    if (spare) {
      connection = spare.connection;
      connection.attach(handlers);
      started = spare.started;
    } else {
      connection = new UpstreamConnection(
        this.name,
        createTransport(this.config, this.log, auth),
        handlers,
        this.timeoutMs,
      );
      started = connection.start();
    }
    this.makeSpare();
    try {
      await started;
      const init = await connection.request("initialize", initParams);
      if (typeof init.protocolVersion === "string") connection.setProtocolVersion(init.protocolVersion);
      return { connection, init };
    } catch (err) {
      await connection.close();
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

  private makeSpare(): void {
    if (this.config.kind !== "stdio" || this._state !== "ready" || this.spare) return;
    const connection: UpstreamConnection = new UpstreamConnection(
      this.name,
      createTransport(this.config, this.log, undefined),
      {
        ...NO_HANDLERS,
        onClose: (expected) => {
          if (this.spare?.connection === connection) this.spare = undefined;
          if (!expected) this.crashed("spare process exited");
        },
      },
      this.timeoutMs,
    );
    const started = connection.start();
    started.catch((err: unknown) => {
      if (this.spare?.connection === connection) this.spare = undefined;
      if (err instanceof LaunchRefused) this.blocked(err);
    });
    this.spare = { connection, started };
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
    if (this.credentials?.needsCaller && this.config.kind !== "stdio")
      return this.probeReachability(this.config.url);
    try {
      const { connection } = await this.connect(
        { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: this.clientInfo },
        { ...NO_HANDLERS, onClose: (expected) => !expected && this.crashed("control connection closed") },
      );
      connection.notify("notifications/initialized");
      if ((this._state as UpstreamState) === "stopped") return void (await connection.close());
      this.control = connection;
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
  }

  private failedToStart(err: unknown): void {
    if (err instanceof LaunchRefused) return this.blocked(err);
    this.lastError = err instanceof Error ? err.message.slice(0, 300) : String(err);
    this.lastReason = err instanceof GatewayError ? err.reason : "upstream_unavailable";
    this.log.warn({ server: this.name, err: this.lastError }, "upstream failed to start");
    this.scheduleRestart();
  }

  private crashed(why: string): void {
    if (this._state === "stopped" || this._state === "restarting" || this._state === "blocked") return;
    this.log.warn({ server: this.name, why }, "upstream crashed");
    this.lastError = why;
    this.lastReason = "upstream_unavailable";
    const old = this.control;
    this.control = undefined;
    void old?.close();
    void this.dropSpare();
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
      this.onRefused(refusal);
    }
    const old = this.control;
    this.control = undefined;
    void old?.close();
    void this.dropSpare();
    this.scheduleRestart("blocked");
  }

  private scheduleRestart(state: "restarting" | "blocked" = "restarting"): void {
    if (this._state === "stopped") return;
    if (this.readySince && Date.now() - this.readySince > STABLE_AFTER_MS) this.failures = 0;
    this.readySince = 0;
    this._state = state;
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
