/**
 * RFC 8785 canonical JSON exactly as the `canonicalize` package writes it, for plain data: the
 * audit chain serialises every event on every call. The package walks each member in JavaScript
 * (`reduce`, a JSON.stringify per key and per value); here plain data is copied with its members
 * in canonical order and written by one native JSON.stringify, which keeps a copy's order. For a
 * tool_call event that is 1.5 µs instead of 4.4 (bench/audit-canonical.ts).
 *
 * A log written through either must verify through the other, so this covers only what it writes
 * identically and answers `undefined` for the rest, which the caller hands to the package: a
 * number that is not finite, a bigint, a function or a symbol; an object that is not plain or has a
 * `toJSON` function; an array with a hole; a member name that is an array index (objects list those
 * first whatever their order) or a name Object.prototype has (`__proto__` would set the copy's
 * prototype). Members are read once each: getters are not plain data.
 * test/unit/audit-canonical.test.ts holds it to the package's text on generated hostile values.
 */

/** Thrown within this file only: the value is left to the package. */
const OUTSIDE: unique symbol = Symbol("outside plain data");

/** The canonical text of `value`, or undefined when it is not plain data (ask the package). */
export function canonicalData(value: unknown): string | undefined {
  try {
    return JSON.stringify(sorted(value));
  } catch {
    // OUTSIDE, or anything else (a stack overflow): the package gives its own answer or error.
    return undefined;
  }
}

/**
 * The canonical text of the plain object `value` in two halves: its members named before `name`
 * and those after, each as an object's text (`{}` when none). Joined, they are the object's text;
 * with a member `name` between them, that of the object with it. Undefined when `value` is not
 * plain data or already has a member `name`.
 */
export function canonicalHalves(value: object, name: string): [string, string] | undefined {
  try {
    const record = plain(value);
    const before: Record<string, unknown> = {};
    const after: Record<string, unknown> = {};
    for (const k of orderOf(Object.keys(record))) {
      if (k === name) return undefined;
      const v = record[k];
      if (v !== undefined) (k < name ? before : after)[k] = sorted(v);
    }
    return [JSON.stringify(before), JSON.stringify(after)];
  } catch {
    return undefined;
  }
}

/** `{a}` and `{b}` (object texts) as one object's text, with `middle` (`"k":v`, or "") between. */
export function joinMembers(before: string, middle: string, after: string): string {
  let out = before.slice(0, -1);
  const rest = after.slice(1, -1);
  if (middle !== "") out += out.length > 1 ? `,${middle}` : middle;
  if (rest !== "") out += out.length > 1 ? `,${rest}` : rest;
  return `${out}}`;
}

function sorted(value: unknown): unknown {
  switch (typeof value) {
    case "string":
    case "boolean":
    case "undefined":
      return value;
    case "number":
      // Finite numbers: ECMAScript's Number to String, JSON.stringify's and RFC 8785's alike.
      if (!Number.isFinite(value)) throw OUTSIDE;
      return value;
    case "object":
      if (value === null) return null;
      return Array.isArray(value) ? sortedArray(value) : sortedObject(value);
    default:
      throw OUTSIDE;
  }
}

function sortedArray(list: readonly unknown[]): unknown[] {
  if ((list as { toJSON?: unknown }).toJSON !== undefined) throw OUTSIDE;
  const out = new Array<unknown>(list.length);
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    // The package's `reduce` skips a hole, and then writes nothing where it was.
    if (v === undefined && !(i in list)) throw OUTSIDE;
    out[i] = sorted(v);
  }
  return out;
}

function sortedObject(value: object): object {
  const record = plain(value);
  const out: Record<string, unknown> = {};
  for (const k of orderOf(Object.keys(record))) {
    const v = record[k];
    if (v !== undefined) out[k] = sorted(v);
  }
  return out;
}

/** `value` as a record when it is a plain object, else OUTSIDE. */
function plain(value: object): Record<string, unknown> {
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) throw OUTSIDE;
  const record = value as Record<string, unknown>;
  // An own `toJSON` that is not a function is a member like any other, for the package too.
  if (typeof record.toJSON === "function") throw OUTSIDE;
  return record;
}

/**
 * Objects' member names in canonical order, remembered for the few shapes events come in: checking
 * and sorting them is 0.9 µs of an event's 2.4 without this (bench/audit-canonical.ts). Only
 * small shapes are kept, so hostile objects can neither hold much memory here nor cost more than
 * a sort each.
 */
const SHAPES = 16;
const SHAPE_MAX_KEYS = 40;
const SHAPE_MAX_CHARS = 1024;
const shapes: Array<{ readonly keys: readonly string[]; readonly order: readonly string[] }> = [];

function orderOf(keys: string[]): readonly string[] {
  if (keys.length > SHAPE_MAX_KEYS) return ordered(keys);
  for (const s of shapes) if (same(s.keys, keys)) return s.order;
  const order = ordered(keys.slice());
  let chars = 0;
  for (const k of keys) chars += k.length;
  if (chars <= SHAPE_MAX_CHARS) {
    shapes.unshift({ keys, order });
    if (shapes.length > SHAPES) shapes.pop();
  }
  return order;
}

function same(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** `keys` sorted by UTF-16 code units (RFC 8785's order, the default sort's), after checking them. */
function ordered(keys: string[]): string[] {
  for (const k of keys) {
    const first = k.charCodeAt(0);
    if ((first >= 0x30 && first <= 0x39) || k in Object.prototype) throw OUTSIDE;
  }
  return keys.sort();
}
