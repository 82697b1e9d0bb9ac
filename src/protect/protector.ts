import type { ProtectConfig } from "../config/types.js";
import { ErrorCode, GatewayError, PeerRpcError } from "../errors.js";
import type { Json, JsonObject, Notification } from "../jsonrpc.js";
import { isObject } from "../jsonrpc.js";
import { compileInjectionDetector, type InjectionDetector, type Signal } from "./injection/index.js";
import { compileClassifier, type InjectionClassifier } from "./injection/classifier.js";
import { wrapUntrusted } from "./injection/wrap.js";
import { compileRedactor, type Redactor } from "./redaction/index.js";
import {
  mapRequestTexts,
  mapResultTexts,
  mapServerValue,
  resultTexts,
  mapStrings,
  PROSE_AREAS,
  ResultTooLarge,
} from "./walk.js";

/** What protection found in one call: counts by type (never values) and injection signals. */
export interface Findings {
  redacted: Record<string, number>;
  signals: Signal[];
  binary: string[];
}

export const INJECTION_META = "io.mcp-warden/injection";

/** One server's protection, compiled once: its redactor, the shared injection detector, its options. */
export class Protector {
  private readonly redactor: Redactor;
  /** The external guardrail service, when `protect.injection.classifier` names one. */
  readonly classifier: InjectionClassifier | undefined;

  constructor(
    readonly options: ProtectConfig,
    hashKey: Uint8Array,
    private readonly detector: InjectionDetector,
  ) {
    this.redactor = compileRedactor({
      replacements: options.replacements,
      custom: options.customPatterns,
      disabled: options.disabledTypes,
      hashKey,
    });
    this.classifier =
      options.classifier && options.injection !== "off" ? compileClassifier(options.classifier) : undefined;
  }

  /**
   * Arguments on the way in: `block` refuses a call carrying sensitive data (-32006), `redact`
   * forwards them with the values replaced.
   */
  arguments(args: Json, findings: Findings): Json {
    return this.outbound(args, findings, "the call's arguments carry sensitive data");
  }

  /**
   * The client's answer to a server's request (a sampling result, what the user typed into an
   * elicitation, its roots) on its way to that server: judged like arguments.
   */
  clientAnswer(result: JsonObject, findings: Findings): JsonObject {
    return this.outbound(result, findings, "the client's answer carries sensitive data") as JsonObject;
  }

  private outbound(value: Json, findings: Findings, what: string): Json {
    if (this.options.redactArguments === "off") return value;
    const out = mapStrings(value, this.options.maxResultBytes, (t) => this.redactText(t, findings));
    if (this.options.redactArguments === "block" && Object.keys(findings.redacted).length > 0) {
      throw new GatewayError(ErrorCode.SensitiveDataBlocked, "sensitive_data_blocked", what, {
        types: { ...findings.redacted },
      });
    }
    return out;
  }

  /**
   * Arguments as the audit log records them: every string redacted whatever `redact_arguments`
   * says, as JSON cut to `maxBytes`. Never throws: what cannot be inspected is not recorded.
   * `clean`: these arguments already passed `arguments` here and nothing was redacted, so a second
   * pass would find nothing and change nothing; they are recorded as they are.
   */
  auditArguments(args: Json, maxBytes: number, clean = false): string | undefined {
    if (maxBytes === 0) return undefined;
    try {
      const findings: Findings = { redacted: {}, signals: [], binary: [] };
      const text = JSON.stringify(
        clean ? args : mapStrings(args, this.options.maxResultBytes, (t) => this.redactText(t, findings)),
      );
      if (text.length <= maxBytes / 3 || Buffer.byteLength(text) <= maxBytes) return text;
      // Cut on a character boundary, by bytes.
      let cut = Buffer.from(text).subarray(0, maxBytes).toString("utf8");
      if (cut.endsWith("\uFFFD")) cut = cut.slice(0, -1);
      return `${cut}…[truncated]`;
    } catch {
      return "[not recorded: arguments could not be inspected]";
    }
  }

  /** A result on the way out: hidden Unicode stripped, injection signals found, secrets and PII replaced. */
  result(
    method: string,
    result: JsonObject,
    context: { source: string; toolNames: readonly string[] },
    findings: Findings,
  ): JsonObject {
    const { out, binary } = resultTexts(
      method,
      result,
      this.options.maxResultBytes,
      (text) => this.inbound(text, context.toolNames, findings),
      this.options.redactResults ? (parts) => this.redactJoined(parts, findings) : undefined,
    );
    if (binary.length > 0) findings.binary.push(...binary);
    if (findings.signals.length > 0 && this.options.injection === "block") {
      throw new GatewayError(
        ErrorCode.PolicyDenied,
        "injection_detected",
        "the result carries instructions and was withheld",
        { signals: findings.signals.map((s) => s.kind) },
      );
    }
    if (findings.signals.length > 0 && this.options.injection === "annotate")
      this.annotate(method, out, context.source, findings);
    return out;
  }

  /**
   * The external classifier's say on a result `result` passed (no local signal): flagged, it is
   * withheld (`block`) or annotated like a local finding; a failure withholds it unless
   * `on_error: allow` (then `error` says what failed, for the log).
   */
  async classified(
    method: string,
    result: JsonObject,
    source: string,
    findings: Findings,
  ): Promise<{ result: JsonObject; error?: string }> {
    const classifier = this.classifier;
    if (!classifier || findings.signals.length > 0) return { result };
    const texts: string[] = [];
    // What the model reads as prose: not keys, not structured fields (the walk visits those too).
    resultTexts(method, result, this.options.maxResultBytes, (t, place) => {
      if (t.length > 0 && PROSE_AREAS.has(place.area)) texts.push(t);
      return t;
    });
    if (texts.length === 0) return { result };
    const verdict = await classifier.classify(texts, source);
    if (!verdict.ok) {
      if (classifier.onError === "allow") return { result, error: verdict.error };
      throw new GatewayError(
        ErrorCode.SensitiveDataBlocked,
        "classifier_unavailable",
        "the result could not be checked for injected instructions and was withheld",
        { detail: verdict.error },
      );
    }
    if (!verdict.flagged) return { result };
    const what = verdict.categories.length > 0 ? verdict.categories.join(", ") : "injection";
    const score = verdict.score === undefined ? "" : ` (score ${verdict.score.toFixed(2)})`;
    findings.signals.push({ kind: "classifier", detail: `classifier: ${what}${score}`.slice(0, 80) });
    if (this.options.injection === "block") {
      throw new GatewayError(
        ErrorCode.PolicyDenied,
        "injection_detected",
        "the result carries instructions and was withheld",
        { signals: ["classifier"] },
      );
    }
    const out: JsonObject = { ...result };
    this.annotate(method, out, source, findings);
    return { result: out };
  }

  /** Marked as data for the model, with the evidence for the client under _meta. Structured
   * content and completion values are machine-read: their shape is left as it is. */
  private annotate(method: string, out: JsonObject, source: string, findings: Findings): void {
    mapResultTexts(method, out, Number.MAX_SAFE_INTEGER, (t, place) =>
      PROSE_AREAS.has(place.area) ? wrapUntrusted(t, source) : t,
    );
    const meta =
      typeof out._meta === "object" && out._meta !== null && !Array.isArray(out._meta) ? out._meta : {};
    out._meta = { ...meta, [INJECTION_META]: evidence(findings) };
  }

  /**
   * A server→client request (sampling, elicitation) on its way to the client: every string
   * checked for injected instructions and redacted like a result. Under `block` a flagged request
   * is refused (the caller answers the server with the error); under `annotate` its prose is wrapped.
   */
  serverRequest(
    params: JsonObject,
    context: { source: string; toolNames: readonly string[] },
    findings: Findings,
  ): JsonObject {
    this.checkRequestRouting(params, findings);
    const out = mapRequestTexts(params, this.options.maxResultBytes, (t) =>
      this.inbound(t, context.toolNames, findings),
    );
    if (findings.signals.length === 0 || this.options.injection === "off") return out;
    if (this.options.injection === "block") {
      throw new GatewayError(
        ErrorCode.PolicyDenied,
        "injection_detected",
        "the server's request carries instructions and was refused",
        { signals: kinds(findings.signals) },
      );
    }
    const wrapped = mapRequestTexts(out, Number.MAX_SAFE_INTEGER, (t, place) =>
      place.area === "prose" ? wrapUntrusted(t, context.source) : t,
    );
    wrapped._meta = {
      ...(isObject(wrapped._meta) ? wrapped._meta : {}),
      [INJECTION_META]: evidence(findings),
    };
    return wrapped;
  }

  /**
   * The fields that route a server→client request and that the walk leaves as they are (it cannot
   * rewrite them without misrouting the request): `mode` must be `form` or `url`, `elicitationId` a
   * string and `_meta.progressToken` a string or a number, each string clean as a routing text. A
   * field that is not is refused (-32001 `routing_field_refused`), never relayed unchecked.
   */
  private checkRequestRouting(params: JsonObject, findings: Findings): void {
    const refuse = (field: string): never => {
      throw new GatewayError(
        ErrorCode.PolicyDenied,
        "routing_field_refused",
        `the server's request was refused: its ${field} cannot be relayed`,
        { field },
      );
    };
    if (Object.hasOwn(params, "mode") && params.mode !== "form" && params.mode !== "url") refuse("mode");
    if (Object.hasOwn(params, "elicitationId") && !this.routingValue(params.elicitationId, false, findings))
      refuse("elicitationId");
    const meta = params._meta;
    if (
      isObject(meta) &&
      Object.hasOwn(meta, "progressToken") &&
      !this.routingValue(meta.progressToken, true, findings)
    )
      refuse("_meta.progressToken");
  }

  /** A routing value: a clean string, or (when `numbers`) any number. */
  private routingValue(value: Json | undefined, numbers: boolean, findings: Findings): boolean {
    if (typeof value === "number") return numbers;
    return typeof value === "string" && this.cleanRoutingText(value, findings);
  }

  /**
   * A server's `serverInfo` (name, title, version, description, website, icons): every string at
   * any depth checked and redacted like a result's text. Undefined when it carries instructions and
   * `injection` is not `off` (a name or title cannot usefully be wrapped: the gateway's own is sent).
   */
  serverInfo(info: JsonObject, findings: Findings): JsonObject | undefined {
    const out = mapServerValue(info, this.options.maxResultBytes, (t) => this.inbound(t, [], findings));
    return findings.signals.length > 0 && this.options.injection !== "off" ? undefined : (out as JsonObject);
  }

  /**
   * A free text a server sends outside a result (its `initialize` instructions): checked and
   * redacted like a result's text. Undefined when `block` withholds it.
   */
  text(text: string, context: { source: string; toolNames: readonly string[] }, findings: Findings) {
    const out = this.inbound(text, context.toolNames, findings);
    if (findings.signals.length === 0 || this.options.injection === "off") return out;
    return this.options.injection === "block" ? undefined : wrapUntrusted(out, context.source);
  }

  /**
   * An upstream's error, relayed with its message and data redacted like a result and checked for
   * injected instructions: under `block` a flagged message and data are replaced by a neutral
   * message (the code stays); under `annotate` the message (and data, when it is a text) are wrapped.
   */
  error(err: PeerRpcError, findings: Findings, source = "upstream error"): PeerRpcError {
    const before = findings.signals.length;
    const message = this.inbound(err.message, [], findings);
    const data =
      err.data === undefined
        ? undefined
        : mapServerValue(err.data as Json, this.options.maxResultBytes, (t) => this.inbound(t, [], findings));
    if (findings.signals.length === before || this.options.injection === "off")
      return new PeerRpcError(err.code, message, data);
    if (this.options.injection === "block")
      return new PeerRpcError(err.code, WITHHELD_ERROR, { reason: "injection_detected" });
    return new PeerRpcError(
      err.code,
      wrapUntrusted(message, source),
      typeof data === "string" ? wrapUntrusted(data, source) : data,
    );
  }

  /**
   * What an upstream sends outside a result (log messages, progress, cancellations, resource
   * updates, list changes): every string of the params, at any depth and under any key, is checked
   * and redacted like a result, `_meta` included. Under `block` a flagged notification's texts are
   * replaced by a neutral one; under `annotate` they are wrapped. The fields that route it (a
   * progress token, a request id, a level, a resource URI, an elicitation id) cannot be rewritten
   * without misrouting it: one that is not a scalar of its type (a level of RFC 5424's, a string URI or elicitation
   * id, a string or number token or id), or that carries a secret, hidden characters or
   * instructions, drops the whole notification. Undefined when it must be dropped or cannot be
   * inspected.
   */
  notification(
    n: Notification,
    findings: Findings = freshFindings(),
    source = "upstream",
  ): Notification | undefined {
    const params = n.params;
    if (!params) return n;
    try {
      const routed: JsonObject = {};
      const rest: JsonObject = {};
      for (const [key, value] of Object.entries(params)) {
        const routing = ROUTING_FIELDS.get(key);
        if (routing) {
          if (!routing(value)) return undefined;
          if (typeof value === "string" && !this.cleanRoutingText(value, findings)) return undefined;
          routed[key] = value;
        } else if (key === "__proto__") {
          return undefined;
        } else {
          rest[key] = value;
        }
      }
      // Every other member, its key included (a secret may be a key), under any notification method.
      const inspected = mapServerValue(rest, this.options.maxResultBytes, (t) =>
        this.inbound(t, [], findings),
      ) as JsonObject;
      const texts = Object.keys(inspected);
      const out: JsonObject = { ...inspected, ...routed };
      if (findings.signals.length > 0 && this.options.injection !== "off") {
        for (const key of texts) {
          out[key] =
            this.options.injection === "block"
              ? key === "logger"
                ? "withheld"
                : mapStrings(out[key] as Json, Number.MAX_SAFE_INTEGER, () => WITHHELD_TEXT)
              : mapStrings(out[key] as Json, Number.MAX_SAFE_INTEGER, (t) => wrapUntrusted(t, source));
        }
      }
      return { ...n, params: out };
    } catch {
      return undefined;
    }
  }

  /**
   * Whether a text that routes a message (and cannot be rewritten) is clean as written and as a
   * server or client would decode it: no secret, no hidden character, no instructions.
   */
  private cleanRoutingText(text: string, findings: Findings): boolean {
    const signals = findings.signals.length;
    if (this.inbound(text, [], findings) !== text || findings.signals.length > signals) return false;
    let decoded = text;
    try {
      decoded = decodeURIComponent(text);
    } catch {
      // Not percent-encoded text: as written is all there is.
    }
    if (decoded === text) return true;
    const seen = freshFindings();
    this.inbound(decoded, [], seen);
    findings.signals.push(...seen.signals);
    return seen.signals.length === 0 && Object.keys(seen.redacted).length === 0;
  }

  /** A text from a server on its way to the client: hidden Unicode stripped, signals found, redacted. */
  private inbound(text: string, toolNames: readonly string[], findings: Findings): string {
    let t = text;
    if (this.options.injection !== "off") {
      const inspected = this.detector.inspect(t, { toolNames });
      t = inspected.text;
      if (inspected.signals.length > 0) findings.signals.push(...inspected.signals);
    }
    return this.options.redactResults ? this.redactText(t, findings) : t;
  }

  /**
   * A tool, prompt, resource or template as a list gives it to the client: every text redacted
   * (descriptions, titles, annotations, `_meta`, schemas' values). Its name, URI or URI template
   * identify it and cannot be rewritten: undefined (leave it out) when one of them carries a secret.
   */
  listItem(item: JsonObject): JsonObject | undefined {
    if (!this.options.redactResults) return item;
    const findings = freshFindings();
    for (const key of IDENTIFIERS) {
      const v = item[key];
      if (typeof v === "string" && this.redactText(v, findings) !== v) return undefined;
    }
    return mapServerValue(item, this.options.maxResultBytes, (t) =>
      this.redactText(t, findings),
    ) as JsonObject;
  }

  private redactJoined(parts: readonly string[], findings: Findings): string[] {
    const { parts: out, counts } = this.redactor.redactJoined(parts);
    addCounts(findings, counts);
    return out;
  }

  private redactText(text: string, findings: Findings): string {
    const { text: out, counts } = this.redactor.redact(text);
    addCounts(findings, counts);
    return out;
  }
}

export { ResultTooLarge };

/** What replaces a flagged text under `block` when the message itself must still go out. */
export const WITHHELD_TEXT = "[withheld by mcp-warden: the text carried instructions]";
export const WITHHELD_ERROR = "the upstream's error message was withheld: it carried instructions";

/** What identifies a listed item: checked, never rewritten. */
const IDENTIFIERS = ["name", "uri", "uriTemplate"] as const;

/** RFC 5424's severities: the only log levels MCP defines. */
const LOG_LEVELS: ReadonlySet<unknown> = new Set([
  "debug",
  "info",
  "notice",
  "warning",
  "error",
  "critical",
  "alert",
  "emergency",
]);
const isString = (v: Json) => typeof v === "string";
const isId = (v: Json) => typeof v === "string" || typeof v === "number";

/**
 * Notification params that route it to its request, resource or elicitation, each with the type it
 * must have: checked, never rewritten. Anything else there (an object, a list) would be relayed
 * uninspected, so it drops the notification.
 */
const ROUTING_FIELDS: ReadonlyMap<string, (v: Json) => boolean> = new Map([
  ["level", (v: Json) => LOG_LEVELS.has(v)],
  ["uri", isString],
  ["elicitationId", isString],
  ["progressToken", isId],
  ["requestId", isId],
]);

/** The refusal when protection itself failed (fail closed): too large to inspect, or an error. */
export function protectionError(err: unknown): GatewayError {
  if (err instanceof ResultTooLarge)
    return new GatewayError(ErrorCode.SensitiveDataBlocked, "too_large_to_inspect", err.message);
  return new GatewayError(
    ErrorCode.SensitiveDataBlocked,
    "protection_failed",
    "the data could not be inspected and was withheld",
  );
}

/** A redaction's counts added to the findings (for…in: no array of entries a text; the counts have no prototype). */
function addCounts(findings: Findings, counts: Readonly<Record<string, number>>): void {
  for (const type in counts) {
    if (Object.hasOwn(counts, type))
      findings.redacted[type] = (findings.redacted[type] ?? 0) + (counts[type] as number);
  }
}

export function freshFindings(): Findings {
  return { redacted: {}, signals: [], binary: [] };
}

function kinds(signals: readonly Signal[]): string[] {
  return [...new Set(signals.map((s) => s.kind))];
}

function evidence(findings: Findings): JsonObject {
  return { signals: findings.signals.map((s) => ({ kind: s.kind, detail: s.detail })) };
}

let detector: InjectionDetector | undefined;
/** The injection detector has no per-server options: compiled once per process. */
export function sharedInjectionDetector(): InjectionDetector {
  return (detector ??= compileInjectionDetector());
}
