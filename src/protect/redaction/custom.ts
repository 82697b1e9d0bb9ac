/**
 * Custom patterns from config, compiled with RE2 (re2-wasm): matching time is linear in the input
 * whatever the pattern, so no configured regex can hang the gateway. re2-wasm copies its whole
 * input into WASM on every call (and its heap is 16 MiB), so the text is searched in bounded
 * pieces: one test per 64 KiB gate (the common case: no match), then 4 KiB windows inside a gate
 * that matched, each extended by CUSTOM_MAX_MATCH so a match near a window's end is found whole.
 */
import { createRequire } from "node:module";
import type { RE2 } from "re2-wasm";
import { RedactionError, RedactorConfigError, type Detector, type Finding } from "./types.js";

/** re2-wasm has a 16 MiB heap and copies its input per call: test 64 KiB gates, match in 4 KiB windows. */
const GATE = 65536;
const WINDOW = 4096;
/** Longest custom match found whole; a longer one is redacted up to its window's end. */
export const CUSTOM_MAX_MATCH = 1024;
/** Matches of all custom patterns in one call; past it the call fails (closed). */
export const CUSTOM_MAX_FINDINGS = 10_000;
const MAX_PATTERN_LENGTH = 1000;

// Loading re2-wasm compiles its WASM: done on the first custom pattern, so a config without any
// (and every quick CLI verb) never pays for it.
let re2: typeof RE2 | undefined;
function loadRe2(): typeof RE2 {
  re2 ??= (createRequire(import.meta.url)("re2-wasm") as { RE2: typeof RE2 }).RE2;
  return re2;
}
export const CUSTOM_NAME = /^[a-z][a-z0-9_]{0,31}$/;

interface CompiledCustom {
  readonly name: string;
  readonly re: RE2;
}

/** Finds the matches that start in [p, p + WINDOW); returns where the next window starts. */
function scanWindow(
  c: CompiledCustom,
  text: string,
  p: number,
  out: Finding[],
  count: { total: number },
): number {
  const q = Math.min(text.length, p + WINDOW);
  const window = text.slice(p, Math.min(text.length, q + CUSTOM_MAX_MATCH));
  let next = q;
  c.re.lastIndex = 0;
  let m: ReturnType<RE2["exec"]>;
  while ((m = c.re.exec(window)) !== null && m.index < q - p) {
    const len = (m[0] as string).length;
    if (len === 0) {
      c.re.lastIndex = m.index + 1;
      continue;
    }
    if (++count.total > CUSTOM_MAX_FINDINGS) {
      throw new RedactionError("too_many_findings", `more than ${CUSTOM_MAX_FINDINGS} custom matches`);
    }
    out.push({ start: p + m.index, end: p + m.index + len, type: c.name });
    next = Math.max(next, p + m.index + len);
  }
  return next;
}

export function compileCustom(
  custom: ReadonlyArray<{ readonly name: string; readonly pattern: string }>,
  builtinTypes: ReadonlySet<string>,
): Detector | undefined {
  if (!Array.isArray(custom)) throw new RedactorConfigError("custom", "must be a list");
  if (custom.length === 0) return undefined;
  const seen = new Set<string>();
  const compiled: CompiledCustom[] = custom.map((entry, i) => {
    const name: unknown = entry?.name;
    const pattern: unknown = entry?.pattern;
    if (typeof name !== "string" || !CUSTOM_NAME.test(name)) {
      throw new RedactorConfigError(`custom[${i}].name`, "must match [a-z][a-z0-9_]{0,31}");
    }
    if (builtinTypes.has(name) || seen.has(name)) {
      throw new RedactorConfigError(`custom[${i}].name`, `duplicate type name "${name}"`);
    }
    seen.add(name);
    if (typeof pattern !== "string" || pattern.length === 0 || pattern.length > MAX_PATTERN_LENGTH) {
      throw new RedactorConfigError(`custom[${i}].pattern`, `must be 1 to ${MAX_PATTERN_LENGTH} characters`);
    }
    let re: RE2;
    try {
      re = new (loadRe2())(pattern, "gu");
    } catch (err) {
      const why = err instanceof Error ? err.message.replace(/^Invalid regular expression: /, "") : "invalid";
      throw new RedactorConfigError(`custom[${i}].pattern`, `not a valid RE2 pattern (${why})`);
    }
    re.lastIndex = 0;
    if (re.test("")) throw new RedactorConfigError(`custom[${i}].pattern`, "matches the empty string");
    return { name, re };
  });

  return {
    types: compiled.map((c) => c.name),
    scan(text: string, out: Finding[]): void {
      const count = { total: 0 };
      for (const c of compiled) {
        let p = 0;
        for (let g = 0; g < text.length; g += GATE) {
          const gEnd = Math.min(text.length, g + GATE);
          if (p >= gEnd) continue;
          c.re.lastIndex = 0;
          if (!c.re.test(text.slice(Math.max(p, g), Math.min(text.length, gEnd + CUSTOM_MAX_MATCH)))) {
            p = gEnd;
            continue;
          }
          while (p < gEnd) p = scanWindow(c, text, Math.max(p, g), out, count);
        }
      }
    },
  };
}
