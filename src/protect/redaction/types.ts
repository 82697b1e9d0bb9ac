import type { Gate } from "./gate.js";

/** One span to replace: `[start, end)` in UTF-16 code units, and the type it is reported as. */
export interface Finding {
  start: number;
  end: number;
  type: string;
}

/**
 * A detector: a regex prefilter by keyword or shape, then validation. `scan` appends what it
 * finds to `out`; it holds no state between calls beyond its compiled regexes (reset per call).
 * `patterns`: its global regexes that scan the whole text, which a gate (gate.ts) may try only
 * where they can start; without a gate each scans the whole text, as it did before gates.
 */
export interface Detector {
  readonly types: readonly string[];
  readonly patterns?: readonly RegExp[];
  scan(text: string, out: Finding[], gate?: Gate): void;
}

/** Options are invalid: thrown by `compileRedactor` at start-up, never at redaction time. */
export class RedactorConfigError extends Error {
  readonly code = "ERR_REDACTOR_CONFIG";
  constructor(
    /** Where in the options, e.g. `custom[1].pattern`: the config loader prefixes its YAML path. */
    readonly option: string,
    message: string,
  ) {
    super(`${option}: ${message}`);
    this.name = "RedactorConfigError";
  }
}

export type RedactionFailure = "invalid_input" | "input_too_large" | "too_many_findings" | "internal_error";

/**
 * The only thing `redact` throws. The caller must treat it as "could not check": refuse the
 * message (fail closed), never pass the original text on.
 */
export class RedactionError extends Error {
  readonly code = "ERR_REDACTION";
  constructor(
    readonly reason: RedactionFailure,
    message: string,
  ) {
    super(message);
    this.name = "RedactionError";
  }
}
