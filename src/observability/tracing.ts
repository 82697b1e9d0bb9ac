import {
  DiagLogLevel,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  defaultTextMapGetter,
  diag,
  propagation,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TextMapSetter,
  type Tracer,
} from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  RandomIdGenerator,
} from "@opentelemetry/sdk-trace-base";
import type { ObservabilityConfig } from "../config/types.js";
import type { Logger } from "../log.js";
import { VERSION } from "../version.js";

/** A valid `traceparent` is 55 characters; longer headers are not worth parsing. */
const MAX_TRACEPARENT = 256;
/** How long stopping waits for the last export: an unreachable collector must not hold shutdown. */
const FLUSH_MS = 5_000;

/** Sets a propagated header on a fetch `Headers` object (the API's default setter writes properties). */
export const headersSetter: TextMapSetter<Headers> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

/**
 * Traces: one server span per client request, the child of the client's `traceparent` when it
 * sent a valid one, else the root of a new trace. Spans are exported over OTLP/HTTP (JSON) when
 * `otlp_endpoint` is set; without it they still carry real trace and span ids, so the trace id
 * can be logged and audited and HTTP upstreams get a `traceparent`, but nothing is recorded:
 * only a caller's sampled trace makes a (discarded) recording span, so its sampled flag passes on.
 */
export class Tracing {
  private readonly provider: BasicTracerProvider;
  private readonly tracer: Tracer;
  private readonly propagator = new W3CTraceContextPropagator();
  private readonly ids = new RandomIdGenerator();
  private stopped: Promise<void> | undefined;
  /** Whether spans go anywhere (`otlp_endpoint`); without, a span is only its trace id. */
  readonly exporting: boolean;

  constructor(config: ObservabilityConfig, log?: Logger) {
    registerGlobals(this.propagator, log);
    this.exporting = config.otlpEndpoint !== undefined && config.otlpEndpoint !== "";
    const resource = defaultResource().merge(
      resourceFromAttributes({ "service.name": config.serviceName, "service.version": VERSION }),
    );
    this.provider = this.exporting
      ? // The sampler comes from OTEL_TRACES_SAMPLER (default: parent-based, always on).
        new BasicTracerProvider({
          resource,
          spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: config.otlpEndpoint }))],
        })
      : new BasicTracerProvider({
          resource,
          sampler: new ParentBasedSampler({ root: new AlwaysOffSampler() }),
        });
    this.tracer = this.provider.getTracer("mcp-warden", VERSION);
  }

  /** The context a request's span descends from: the client's valid `traceparent`, else none. */
  parent(traceparent: string | undefined): Context {
    if (traceparent === undefined || traceparent.length > MAX_TRACEPARENT) return ROOT_CONTEXT;
    return this.propagator.extract(ROOT_CONTEXT, { traceparent }, defaultTextMapGetter);
  }

  /** Starts the server span of one client request. */
  start(name: string, traceparent: string | undefined, attributes: Attributes): Span {
    return this.tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, this.parent(traceparent));
  }

  /**
   * The trace id a request's span would carry, without the span: the client's valid `traceparent`'s,
   * else a new one. For a request whose span nobody would see: nothing is exported and it reaches
   * no HTTP upstream (measured: starting and ending the span was ~1% of a forwarded call's CPU).
   */
  traceId(traceparent: string | undefined): string {
    const parent = trace.getSpanContext(this.parent(traceparent));
    return parent && trace.isSpanContextValid(parent) ? parent.traceId : this.ids.generateTraceId();
  }

  /** Runs `fn` with `span` active, so what it does (an upstream fetch) carries the span on. */
  within<T>(span: Span, fn: () => T): T {
    return context.with(trace.setSpan(context.active(), span), fn);
  }

  /** Ends a request's span: `error` is the status of a request that did not succeed. */
  end(span: Span, error?: string): void {
    if (error !== undefined) {
      span.setAttribute("error.type", error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error });
    }
    span.end();
  }

  /** Exports the spans still buffered (for at most FLUSH_MS) and stops; later calls wait for the same. */
  shutdown(): Promise<void> {
    this.stopped ??= new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, FLUSH_MS);
      timer.unref();
      this.provider
        .shutdown()
        .catch(() => {})
        .finally(() => {
          clearTimeout(timer);
          resolve();
        });
    });
    return this.stopped;
  }
}

let registered = false;

/**
 * The API's globals, once per process: the context manager that makes a request's span follow
 * its async work, and the W3C propagator that the upstream fetch injects with.
 */
function registerGlobals(propagator: W3CTraceContextPropagator, log: Logger | undefined): void {
  if (registered) return;
  registered = true;
  const manager = new AsyncLocalStorageContextManager().enable();
  if (!context.setGlobalContextManager(manager)) manager.disable();
  propagation.setGlobalPropagator(propagator);
  // Export failures would otherwise go unnoticed.
  if (log) {
    const warn = (message: string, ...args: unknown[]) =>
      log.warn({ detail: args.map(String).join(" ").slice(0, 500) }, `opentelemetry: ${message}`);
    diag.setLogger(
      { error: warn, warn, info: () => {}, debug: () => {}, verbose: () => {} },
      { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
    );
  }
}
