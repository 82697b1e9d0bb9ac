import type { ServerConfig } from "../config/types.js";
import { GatewayError, upstreamUnavailable } from "../errors.js";
import type { JsonObject } from "../jsonrpc.js";
import type { Logger } from "../log.js";
import { UpstreamConnection, type ConnectionHandlers } from "./connection.js";
import { createTransport } from "./transport.js";

export type UpstreamState = "starting" | "ready" | "restarting" | "stopped";

export interface Opened {
  connection: UpstreamConnection;
  /** The upstream's `initialize` result (capabilities, serverInfo, protocolVersion, instructions). */
  init: JsonObject;
}

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** A server that stays up this long after a restart has its backoff reset. */
const STABLE_AFTER_MS = 60_000;

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
 */
export class UpstreamServer {
  private _state: UpstreamState = "starting";
  private lastError: string | undefined;
  private restarts = 0;
  private failures = 0;
  private readySince = 0;
  private control: UpstreamConnection | undefined;
  /** A launched, not yet initialized stdio process, so a new session does not wait for a spawn. */
  private spare: { connection: UpstreamConnection; started: Promise<void> } | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly config: ServerConfig,
    private readonly log: Logger,
    private readonly timeoutMs: number,
    private readonly clientInfo: JsonObject,
  ) {}

  get name(): string {
    return this.config.name;
  }

  get state(): UpstreamState {
    return this._state;
  }

  status(): JsonObject {
    const s: JsonObject = { state: this._state, kind: this.config.kind, restarts: this.restarts };
    if (this.lastError) s.error = this.lastError;
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

  /** Opens and initializes a connection for one client session. */
  async open(initParams: JsonObject, handlers: ConnectionHandlers): Promise<Opened> {
    if (this._state !== "ready") throw upstreamUnavailable(this.name, "upstream_unavailable", this._state);
    return this.connect(initParams, {
      ...handlers,
      onClose: (expected) => {
        if (!expected) this.crashed("session connection closed");
        handlers.onClose(expected);
      },
    });
  }

  async stop(): Promise<void> {
    this._state = "stopped";
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await Promise.all([this.control?.close(), this.dropSpare()]);
  }

  private async connect(initParams: JsonObject, handlers: ConnectionHandlers): Promise<Opened> {
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
        createTransport(this.config, this.log),
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
      createTransport(this.config, this.log),
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
    started.catch(() => {
      if (this.spare?.connection === connection) this.spare = undefined;
    });
    this.spare = { connection, started };
  }

  private async dropSpare(): Promise<void> {
    const spare = this.spare;
    this.spare = undefined;
    await spare?.connection.close();
  }

  private async probe(): Promise<void> {
    if (this._state === "stopped") return;
    try {
      const { connection } = await this.connect(
        { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: this.clientInfo },
        { ...NO_HANDLERS, onClose: (expected) => !expected && this.crashed("control connection closed") },
      );
      connection.notify("notifications/initialized");
      if ((this._state as UpstreamState) === "stopped") return void (await connection.close());
      this.control = connection;
      this._state = "ready";
      this.readySince = Date.now();
      this.lastError = undefined;
      this.log.info({ server: this.name }, "upstream ready");
      this.makeSpare();
      for (const w of this.waiters) w();
      this.waiters.clear();
    } catch (err) {
      this.lastError = err instanceof Error ? err.message.slice(0, 300) : String(err);
      this.log.warn({ server: this.name, err: this.lastError }, "upstream failed to start");
      this.scheduleRestart();
    }
  }

  private crashed(why: string): void {
    if (this._state === "stopped" || this._state === "restarting") return;
    this.log.warn({ server: this.name, why }, "upstream crashed");
    this.lastError = why;
    const old = this.control;
    this.control = undefined;
    void old?.close();
    void this.dropSpare();
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    if (this._state === "stopped") return;
    if (this.readySince && Date.now() - this.readySince > STABLE_AFTER_MS) this.failures = 0;
    this.readySince = 0;
    this._state = "restarting";
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.failures);
    this.failures++;
    this.restarts++;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.probe(), delay);
    this.retryTimer.unref();
  }
}
