/** The most nested an argument may be before it is refused (a record or set inside another). */
export const MAX_DEPTH = 32;

/** A Cedar value in its JSON form (what the engine reads). */
export type CedarValue = string | number | boolean | CedarValue[] | { [key: string]: CedarValue };

/** A value the model cannot carry faithfully: the call is denied (cedar_error), never decided on a guess. */
export class CedarValueError extends Error {
  constructor(
    readonly pointer: string,
    message: string,
  ) {
    super(message);
    this.name = "CedarValueError";
  }
}

// Cedar's JSON reads an object with one of these keys as an entity or an extension value (an
// `ip(…)`, a `decimal(…)`): a caller's argument must never become one.
const ESCAPES = new Set(["__entity", "__extn", "__expr"]);

/**
 * A JSON value as a Cedar value: strings, booleans and records as they are, arrays as sets, integers
 * within ±2^53 as Longs. Anything else keeps its place with a type no numeric or set operator
 * accepts, so a rule that reads it errs (and the call is denied) instead of skipping it: other
 * numbers (fractions, huge integers) become their decimal text, `null` an empty record. Throws
 * CedarValueError on an object with an escape key or nesting past MAX_DEPTH.
 */
export function toCedarValue(value: unknown, pointer = "", depth = 0): CedarValue {
  if (typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") return Number.isSafeInteger(value) ? value : String(value);
  if (depth >= MAX_DEPTH) throw new CedarValueError(pointer, `nested deeper than ${MAX_DEPTH}`);
  if (value === null || value === undefined) return {};
  if (Array.isArray(value)) return value.map((v, i) => toCedarValue(v, `${pointer}/${i}`, depth + 1));
  if (typeof value === "object") {
    const out: { [key: string]: CedarValue } = {};
    for (const key of Object.keys(value)) {
      const at = `${pointer}/${key.replace(/~/g, "~0").replace(/\//g, "~1")}`;
      if (ESCAPES.has(key)) throw new CedarValueError(at, `the key ${key} is reserved by Cedar`);
      Object.defineProperty(out, key, {
        value: toCedarValue((value as Record<string, unknown>)[key], at, depth + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  throw new CedarValueError(pointer, `a ${typeof value} is not a JSON value`);
}

/** The call's arguments as a Cedar record (absent arguments: an empty record). */
export function argumentsRecord(args: unknown): { [key: string]: CedarValue } {
  if (args === undefined || args === null) return {};
  if (typeof args !== "object" || Array.isArray(args))
    throw new CedarValueError("", "the arguments are not an object");
  return toCedarValue(args) as { [key: string]: CedarValue };
}
