/**
 * Secret and PII redaction: compiled once from options, then asked per text. Detectors find
 * candidates by keyword or shape and keep only those that validate (checksums, ranges, entropy);
 * look-alikes are left alone byte for byte. Design notes: README.md beside this file.
 */
import { createHmac } from "node:crypto";
import { CleanTexts } from "../clean-texts.js";
import { loadConfusables } from "../normalise/fold.js";
import { decodedSpans, normalisedViews, originalSpan } from "../normalise/index.js";
import { contextSecrets } from "./context.js";
import { compileCustom } from "./custom.js";
import { disguisedTokens } from "./disguised.js";
import { compileGate, type Gate } from "./gate.js";
import { contextPii } from "./pii-context.js";
import { digitPii, email, IBAN_RUN, iban } from "./pii.js";
import { assignedSecret, awsSecretKey, secretTokens } from "./secrets.js";
import { RedactionError, RedactorConfigError, type Detector, type Finding } from "./types.js";

export { RedactionError, RedactorConfigError, type RedactionFailure } from "./types.js";
export { CUSTOM_MAX_FINDINGS, CUSTOM_MAX_MATCH } from "./custom.js";

export type Replacement = "redact" | "partial" | "hash";

export interface RedactorOptions {
  /** Per type; default "redact". */
  readonly replacements?: Readonly<Record<string, Replacement>>;
  /** Compiled with RE2 (linear time); `name` becomes the type. */
  readonly custom?: ReadonlyArray<{ readonly name: string; readonly pattern: string }>;
  /** Key of the "hash" replacement (HMAC-SHA256), at least 16 bytes; stable per deployment. */
  readonly hashKey: Uint8Array;
  /** Types turned off. */
  readonly disabled?: readonly string[];
}

export interface RedactionResult {
  readonly text: string;
  /** Findings replaced, by type; never the values. */
  readonly counts: Readonly<Record<string, number>>;
}

export interface Redactor {
  /**
   * Replaces every finding and counts them by type. Throws only RedactionError (input not a
   * string, input too large, too many custom matches, an internal fault): the caller must then
   * refuse the message, never pass the original on (fail closed).
   */
  redact(text: string): RedactionResult;
  /**
   * Texts shown one after the other (adjacent content items) redacted as one: only findings that
   * cross from one part into the next are replaced here (each part alone goes through `redact`).
   * The replacement goes where the finding starts; the rest of it is removed from the next parts.
   */
  redactJoined(parts: readonly string[]): {
    readonly parts: string[];
    readonly counts: Readonly<Record<string, number>>;
  };
  /** Every type this redactor reports, built-in and custom. */
  readonly types: readonly string[];
}

/** Longest text redacted in one call (UTF-16 code units); the caller bounds results below it. */
export const MAX_INPUT_LENGTH = 64 * 1024 * 1024;

/** Specific detectors win over the generic keyword-assigned one where they overlap. */
const SPECIFIC: readonly Detector[] = [
  secretTokens,
  awsSecretKey,
  disguisedTokens,
  contextSecrets,
  digitPii,
  iban,
  email,
  contextPii,
];
const GENERIC: readonly Detector[] = [assignedSecret];

/**
 * One scan of a text for every built-in detector's keywords, then each pattern tried only there.
 * Compiled on the first redaction, not at load: its table folds every code unit (a config that is
 * only checked never pays for it).
 */
let compiledGate: ((text: string) => Gate) | undefined;
const gateOf = (text: string): Gate =>
  (compiledGate ??= compileGate(
    [...SPECIFIC, ...GENERIC].flatMap((d) => d.patterns ?? []),
    IBAN_RUN,
  ))(text);

/**
 * Compiles the gate and reads the confusables table now: a gateway calls it at start, so its first
 * caller's result does not wait for them (`check` and the quick CLI verbs never do).
 */
export function warmRedaction(): void {
  gateOf("");
  loadConfusables();
}

export const BUILTIN_TYPES: readonly string[] = Object.freeze([
  ...new Set([...SPECIFIC, ...GENERIC].flatMap((d) => d.types)),
]);
const REPLACEMENTS = new Set<string>(["redact", "partial", "hash"]);

export function compileRedactor(opts: RedactorOptions): Redactor {
  return compile(opts, gateOf);
}

/**
 * The redactor without the keyword gate: every pattern scans the whole text. Only for the test
 * that the gate changes no finding (test/unit/redaction/gate.test.ts).
 */
export function compileUngatedRedactor(opts: RedactorOptions): Redactor {
  return compile(opts, () => undefined);
}

function compile(opts: RedactorOptions, gate: (text: string) => Gate | undefined): Redactor {
  if (typeof opts !== "object" || opts === null)
    throw new RedactorConfigError("(options)", "must be an object");
  if (!(opts.hashKey instanceof Uint8Array) || opts.hashKey.length < 16) {
    throw new RedactorConfigError("hashKey", "must be at least 16 bytes");
  }
  const hashKey = Buffer.from(opts.hashKey); // a copy: the caller's array may change later
  const builtin = new Set(BUILTIN_TYPES);
  const custom = compileCustom(opts.custom ?? [], builtin);
  const known = new Set([...builtin, ...(custom?.types ?? [])]);

  const disabled = new Set<string>();
  (opts.disabled ?? []).forEach((t, i) => {
    if (!known.has(t)) throw new RedactorConfigError(`disabled[${i}]`, `unknown type "${String(t)}"`);
    disabled.add(t);
  });
  const modes = new Map<string, Replacement>();
  for (const [type, mode] of Object.entries(opts.replacements ?? {})) {
    if (!known.has(type)) throw new RedactorConfigError(`replacements.${type}`, "unknown type");
    if (!REPLACEMENTS.has(mode)) {
      throw new RedactorConfigError(`replacements.${type}`, "must be redact, partial or hash");
    }
    modes.set(type, mode);
  }

  const enabled = (d: Detector) => d.types.some((t) => !disabled.has(t));
  const specific = [...SPECIFIC, ...(custom ? [custom] : [])].filter(enabled);
  const generic = GENERIC.filter(enabled);
  const types = Object.freeze([...known].filter((t) => !disabled.has(t)));

  const replace = (type: string, value: string): string => {
    const mode = modes.get(type) ?? "redact";
    if (mode === "hash") {
      const mac = createHmac("sha256", hashKey).update(value, "utf8").digest("hex");
      return `[REDACTED:${type}:${mac.slice(0, 12)}]`;
    }
    if (mode === "partial") {
      // Last four letters or digits, and only of a value long enough that four say little.
      const alnum = value.replace(/[^A-Za-z0-9]/g, "");
      if (alnum.length >= 12) return `[REDACTED:${type}:...${alnum.slice(-4)}]`;
    }
    return `[REDACTED:${type}]`;
  };

  // A redaction depends on the text and this redactor's options only: a short text with no finding
  // has none the next time.
  const clean = new CleanTexts();

  return {
    types,
    redact(text: string): RedactionResult {
      if (typeof text !== "string") throw new RedactionError("invalid_input", "text must be a string");
      if (text.length > MAX_INPUT_LENGTH) {
        throw new RedactionError("input_too_large", `text longer than ${MAX_INPUT_LENGTH} characters`);
      }
      if (clean.has(text)) return { text, counts: Object.create(null) };
      const found = find(text);
      if (found.length === 0) clean.add(text);
      return build(text, found, replace);
    },
    redactJoined(parts: readonly string[]) {
      if (!Array.isArray(parts) || parts.some((p) => typeof p !== "string"))
        throw new RedactionError("invalid_input", "parts must be strings");
      const joined = parts.join("");
      if (joined.length > MAX_INPUT_LENGTH) {
        throw new RedactionError("input_too_large", `text longer than ${MAX_INPUT_LENGTH} characters`);
      }
      const bounds: number[] = [0];
      for (const p of parts) bounds.push((bounds[bounds.length - 1] as number) + p.length);
      const part = (at: number) => {
        let k = 0;
        while ((bounds[k + 1] as number) <= at) k++;
        return k;
      };
      const crossing = find(joined).filter((f) => part(f.start) !== part(f.end - 1));
      const counts: Record<string, number> = Object.create(null) as Record<string, number>;
      if (crossing.length === 0) return { parts: [...parts], counts };
      for (const f of crossing) counts[f.type] = (counts[f.type] ?? 0) + 1;
      const out = parts.map((_, k) => {
        const s = bounds[k] as number;
        const e = bounds[k + 1] as number;
        let piece = "";
        let at = s;
        for (const f of crossing) {
          if (f.end <= s || f.start >= e) continue;
          piece += joined.slice(at, Math.max(f.start, s));
          if (f.start >= s) piece += replace(f.type, joined.slice(f.start, f.end));
          at = Math.min(f.end, e);
        }
        return piece + joined.slice(at, e);
      });
      return { parts: out, counts };
    },
  };

  /** The findings to replace in `text`, selected (no overlaps); throws only RedactionError. */
  function find(text: string): Finding[] {
    try {
      const g = gate(text);
      const found = {
        specific: run(specific, text, disabled, g),
        generic: run(generic, text, disabled, g),
      };
      normalised(text, specific, generic, disabled, found, gate, g);
      return select(found.specific, found.generic);
    } catch (err) {
      if (err instanceof RedactionError) throw err;
      throw new RedactionError("internal_error", `redaction failed: ${(err as Error)?.name ?? "error"}`);
    }
  }
}

/**
 * What normalisation reveals (../normalise): findings in each normalised view (look-alikes folded,
 * invisible characters dropped, escapes decoded), mapped back to exactly the characters sent; and
 * base64 or hex spans that decode to a secret or PII, replaced whole as the type found inside.
 * Decoded text is scanned once, never decoded again.
 */
function normalised(
  text: string,
  specific: readonly Detector[],
  generic: readonly Detector[],
  disabled: ReadonlySet<string>,
  found: { specific: Finding[]; generic: Finding[] },
  gate: (text: string) => Gate | undefined,
  textGate: Gate | undefined,
): void {
  for (const view of normalisedViews(text, textGate?.changes)) {
    const g = gate(view.text);
    for (const [from, into] of [
      [specific, found.specific],
      [generic, found.generic],
    ] as const) {
      for (const f of run(from, view.text, disabled, g)) {
        const [start, end] = originalSpan(view, f.start, f.end);
        into.push({ start, end, type: f.type });
      }
    }
  }
  const known = found.specific;
  for (const span of decodedSpans(text)) {
    // Inside what is replaced already (a JWT's parts, a PEM body): nothing to add.
    if (known.some((f) => f.start <= span.start && span.end <= f.end)) continue;
    const g = gate(span.text);
    const inside = run(specific, span.text, disabled, g);
    if (inside.length === 0) inside.push(...run(generic, span.text, disabled, g));
    const first = inside[0];
    if (first) found.specific.push({ start: span.start, end: span.end, type: first.type });
  }
}

function run(
  detectors: readonly Detector[],
  text: string,
  disabled: ReadonlySet<string>,
  gate: Gate | undefined,
): Finding[] {
  const out: Finding[] = [];
  for (const d of detectors) d.scan(text, out, gate);
  return disabled.size === 0 ? out : out.filter((f) => !disabled.has(f.type));
}

const byStart = (a: Finding, b: Finding) => a.start - b.start || b.end - a.end;

/** Non-overlapping findings: earliest start first, then longest; generic ones only in the gaps. */
function select(specific: Finding[], generic: Finding[]): Finding[] {
  specific.sort(byStart);
  const kept: Finding[] = [];
  let end = -1;
  for (const f of specific) {
    if (f.start >= end) {
      kept.push(f);
      end = f.end;
    }
  }
  if (generic.length === 0) return kept;
  generic.sort(byStart);
  const merged: Finding[] = [];
  let i = 0;
  end = -1;
  for (const g of generic) {
    while (i < kept.length && (kept[i] as Finding).start < g.end) {
      const k = kept[i++] as Finding;
      merged.push(k);
      end = Math.max(end, k.end);
    }
    const nextStart = i < kept.length ? (kept[i] as Finding).start : Infinity;
    if (g.start >= end && g.end <= nextStart) {
      merged.push(g);
      end = g.end;
    }
  }
  while (i < kept.length) merged.push(kept[i++] as Finding);
  return merged;
}

function build(
  text: string,
  findings: readonly Finding[],
  replace: (type: string, value: string) => string,
): RedactionResult {
  const counts: Record<string, number> = Object.create(null) as Record<string, number>;
  if (findings.length === 0) return { text, counts };
  // One push per piece: measurably faster to join than pushing two at a time (bench/redaction.ts).
  const parts: string[] = [];
  let at = 0;
  for (const f of findings) {
    parts.push(text.substring(at, f.start));
    parts.push(replace(f.type, text.substring(f.start, f.end)));
    counts[f.type] = (counts[f.type] ?? 0) + 1;
    at = f.end;
  }
  parts.push(text.substring(at));
  return { text: parts.join(""), counts };
}
