/**
 * What every argument guard answers. A guard never throws at check time: an unexpected input or an
 * internal error is a denial (fail closed), with a short `detail` for the audit log, never the
 * offending value itself (the caller knows which argument it was and redacts before logging).
 */
export type GuardDenialReason = "path_not_allowed" | "domain_not_allowed" | "command_denied";

export type GuardDecision =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly reason: GuardDenialReason; readonly detail: string };

export const ALLOWED: GuardDecision = Object.freeze({ allowed: true });

export function denied(reason: GuardDenialReason, detail: string): GuardDecision {
  return { allowed: false, reason, detail };
}

/** A guard's options are invalid: thrown by the `compile*` functions at start-up, never at check time. */
export class GuardConfigError extends Error {
  readonly code = "ERR_GUARD_CONFIG";
  constructor(
    /** Where in the options, e.g. `roots[1]` or `allowedDomains[0]`: the config loader prefixes its YAML path. */
    readonly option: string,
    message: string,
  ) {
    super(`${option}: ${message}`);
    this.name = "GuardConfigError";
  }
}

/** Longest argument value a guard looks at; anything longer is refused (bounded work per call). */
export const MAX_VALUE_LENGTH = 8192;

/** C0 and C1 controls, line/paragraph separators and bidi overrides: never legitimate in a path or URL. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
export const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
