import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { ServerConfig } from "../config/types.js";

/** How a call ended, for the latency histogram: answered, refused by the gateway, or failed. */
export type CallOutcome = "ok" | "denied" | "error";

export interface MetricsSources {
  /** Every upstream's name and state (`starting`, `ready`, `restarting`, `blocked`, `stopped`), read at scrape time. */
  readonly upstreams: () => Iterable<readonly [name: string, state: string]>;
  /** Audit events accepted but not yet written, read at scrape time. */
  readonly auditQueue: () => number;
  /** Upstream processes running now (`max_upstream_processes` counts them), read at scrape time. */
  readonly upstreamProcesses?: () => number;
  /** Tool and prompt names the config maps explicitly: labelled by name from the first call on. */
  readonly names?: Iterable<readonly [server: string, name: string]>;
  /** Also export the process's own metrics (CPU, memory, event loop, GC), prefixed `warden_`. */
  readonly process?: boolean;
}

export interface MetricsLimits {
  /** Distinct tool names labelled per server; later ones count as `(other)`. */
  readonly toolsPerServer: number;
  /** Distinct values of any other label (server, method, status, reason, type, kind). */
  readonly valuesPerLabel: number;
  /** Longer label values are cut to this many characters. */
  readonly valueLength: number;
}

const DEFAULT_LIMITS: MetricsLimits = { toolsPerServer: 200, valuesPerLabel: 100, valueLength: 64 };

/** The label of a name the gateway never routed: a client's made-up tool names share it. */
export const UNMAPPED = "(unmapped)";
/** The label of values past a label's cap. */
export const OTHER = "(other)";

const UPSTREAM_STATES = ["starting", "ready", "restarting", "blocked", "stopped"] as const;
// From a cache hit to a five-minute upstream timeout.
const DURATION_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
];

interface CallSeries {
  readonly calls: { inc(value?: number): void };
  readonly durations: Partial<Record<CallOutcome, { observe(value: number): void }>>;
}

/**
 * The gateway's Prometheus metrics, in a registry of their own. Label values are bounded: a tool
 * name is a label only once the config names it or its server has answered a call to it; anything
 * else a client invents counts as `(unmapped)`, and every label has a cap on values and length.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly limits: MetricsLimits;
  private readonly callsTotal: Counter<"server" | "tool" | "method" | "status">;
  private readonly duration: Histogram<"server" | "tool" | "method" | "outcome">;
  private readonly denials: Counter<"reason">;
  private readonly redactions: Counter<"type">;
  private readonly injections: Counter<"kind">;
  private readonly tools = new Map<string, Set<string>>();
  private readonly labels: Readonly<
    Record<"server" | "method" | "status" | "reason" | "type" | "kind", LabelValues>
  >;
  /** server → tool → method → status → that label set's series, so a call builds no label objects. */
  private readonly series = new Map<string, Map<string, Map<string, Map<string, CallSeries>>>>();

  constructor(sources: MetricsSources, limits: Partial<MetricsLimits> = {}) {
    const bounds = (this.limits = { ...DEFAULT_LIMITS, ...limits });
    const values = () => new LabelValues(bounds);
    this.labels = {
      server: values(),
      method: values(),
      status: values(),
      reason: values(),
      type: values(),
      kind: values(),
    };
    const registers = [this.registry];
    this.callsTotal = new Counter({
      name: "warden_calls_total",
      help: "Client requests through the pipeline, by server, tool (or prompt), method and status",
      labelNames: ["server", "tool", "method", "status"],
      registers,
    });
    this.duration = new Histogram({
      name: "warden_call_duration_seconds",
      help: "Time from a request entering the pipeline to its answer, by outcome (ok, denied, error)",
      labelNames: ["server", "tool", "method", "outcome"],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.denials = new Counter({
      name: "warden_denials_total",
      help: "Requests the gateway refused, by reason",
      labelNames: ["reason"],
      registers,
    });
    this.redactions = new Counter({
      name: "warden_redactions_total",
      help: "Sensitive values found in arguments and results (redacted, or refused), by detector type",
      labelNames: ["type"],
      registers,
    });
    this.injections = new Counter({
      name: "warden_injection_signals_total",
      help: "Prompt-injection signals found in results, by kind",
      labelNames: ["kind"],
      registers,
    });
    new Gauge({
      name: "warden_upstream_up",
      help: "1 while the upstream server is ready, else 0",
      labelNames: ["server"],
      registers,
      collect() {
        for (const [server, state] of sources.upstreams()) this.set({ server }, state === "ready" ? 1 : 0);
      },
    });
    new Gauge({
      name: "warden_upstream_state",
      help: "1 for the upstream server's current state, 0 for the others",
      labelNames: ["server", "state"],
      registers,
      collect() {
        for (const [server, current] of sources.upstreams())
          for (const state of UPSTREAM_STATES) this.set({ server, state }, state === current ? 1 : 0);
      },
    });
    new Gauge({
      name: "warden_audit_queue_depth",
      help: "Audit events accepted but not yet written by every sink",
      registers,
      collect() {
        this.set(sources.auditQueue());
      },
    });
    new Gauge({
      name: "warden_upstream_processes",
      help: "Upstream processes the gateway runs now, of every server (spares included)",
      registers,
      collect() {
        this.set(sources.upstreamProcesses?.() ?? 0);
      },
    });
    for (const [server, name] of sources.names ?? []) this.admitTool(this.labels.server.of(server), name);
    if (sources.process) collectDefaultMetrics({ register: this.registry, prefix: "warden_" });
  }

  /**
   * One request's outcome. `status` is `ok`, `tool_error`, `upstream_error` or the gateway's refusal
   * reason; a tool name becomes a label of its own only with status `ok`.
   */
  call(server: string, tool: string, method: string, status: string, outcome: CallOutcome, seconds: number) {
    const s = this.labels.server.of(server);
    const t = this.toolLabel(s, tool, status === "ok");
    const m = this.labels.method.of(method);
    const series = this.seriesOf(s, t, m, this.labels.status.of(status));
    series.calls.inc();
    (series.durations[outcome] ??= this.duration.labels(s, t, m, outcome)).observe(seconds);
  }

  denied(reason: string): void {
    this.denials.inc({ reason: this.labels.reason.of(reason) });
  }

  redacted(type: string, count: number): void {
    if (count > 0) this.redactions.inc({ type: this.labels.type.of(type) }, count);
  }

  injection(kind: string): void {
    this.injections.inc({ kind: this.labels.kind.of(kind) });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** Keyed by label values, which are bounded, so the cache is too. */
  private seriesOf(server: string, tool: string, method: string, status: string): CallSeries {
    let byTool = this.series.get(server);
    if (!byTool) this.series.set(server, (byTool = new Map()));
    let byMethod = byTool.get(tool);
    if (!byMethod) byTool.set(tool, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (!byStatus) byMethod.set(method, (byStatus = new Map()));
    let series = byStatus.get(status);
    if (!series) {
      series = { calls: this.callsTotal.labels(server, tool, method, status), durations: {} };
      byStatus.set(status, series);
    }
    return series;
  }

  /** The tool's own name once it is known (configured, or answered), else `(unmapped)`. */
  private toolLabel(server: string, tool: string, answered: boolean): string {
    const known = this.tools.get(server);
    if (known?.has(tool)) return tool;
    return answered ? this.admitTool(server, tool) : UNMAPPED;
  }

  private admitTool(server: string, tool: string): string {
    let known = this.tools.get(server);
    if (!known) this.tools.set(server, (known = new Set()));
    if (known.has(tool)) return tool;
    // Past the cap, a name is neither labelled nor remembered, so memory stays bounded too.
    if (known.size >= this.limits.toolsPerServer || tool.length > this.limits.valueLength) return OTHER;
    known.add(tool);
    return tool;
  }
}

/** The values one label has taken: at most `valuesPerLabel`, each at most `valueLength` long. */
class LabelValues {
  private readonly seen = new Set<string>();

  constructor(private readonly limits: MetricsLimits) {}

  of(value: string): string {
    if (this.seen.has(value)) return value;
    const cut = value.length > this.limits.valueLength ? value.slice(0, this.limits.valueLength) : value;
    if (this.seen.has(cut)) return cut;
    if (this.seen.size >= this.limits.valuesPerLabel) return OTHER;
    this.seen.add(cut);
    return cut;
  }
}

/** The tool and prompt names a config maps explicitly (not `*`), by server. */
export function configuredNames(servers: readonly ServerConfig[]): Array<readonly [string, string]> {
  const out: Array<readonly [string, string]> = [];
  for (const s of servers) {
    for (const name of s.tools.keys()) if (name !== "*") out.push([s.name, name]);
    for (const name of s.prompts?.keys() ?? []) if (name !== "*") out.push([s.name, name]);
  }
  return out;
}
