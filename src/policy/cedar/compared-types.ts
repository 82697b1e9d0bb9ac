// What types the policies themselves expect of the arguments they compare. Every other Cedar
// operator errs on an operand of the wrong type (`like` on a set, `<` on a string), and an error
// denies; equality does not: `["prod"] == "prod"` is just false, and so is `[["a"]].contains("a")`.
// So wherever a policy compares an argument by `==`, `!=`, `contains`, `containsAll` or
// `containsAny`, the argument must have the type of what it is compared with, or the call is
// refused before Cedar runs. This protects tools whose input schema declares nothing (or `{}`).
import { tokenClaims, type Principal } from "../../auth/principal.js";
import { escapePointer, type TypeMismatch } from "./declared-types.js";
import type { PolicyJson } from "./engine.js";

/** A Cedar value's type as an argument could be judged: entities and extensions never match one. */
type Kind = "string" | "long" | "bool" | "set" | "record" | "entity" | "extension";
/** An operand whose type is known only per request: another argument, or a token claim. */
type Dynamic = { readonly from: "arg" | "claim"; readonly path: readonly string[] };

/** What is expected of one argument (or a member of one), and which policies expect it. */
interface Expect {
  kinds?: Set<Kind>;
  /** Compared with something of unknown type: a string, a whole number or a boolean only. */
  scalar?: boolean;
  fields: Map<string, Expect>;
  elements?: Expect;
  policies: Set<string>;
}

export interface Compared {
  readonly root: Expect;
  /** Pairs whose types must agree when both are present (an argument against another, or a claim). */
  readonly pairs: readonly { path: readonly string[]; other: Dynamic; policy: string }[];
}

const expect = (): Expect => ({ fields: new Map(), policies: new Set() });
const MAX_DEPTH = 32;

export function emptyCompared(): Compared {
  return { root: expect(), pairs: [] };
}

/** Adds what `policy` compares to `into` (a walk of its JSON form, once per subset). */
export function addCompared(id: string, policy: PolicyJson, into: Compared): Compared {
  const pairs = into.pairs as Compared["pairs"][number][];
  const at = (path: readonly string[]): Expect => {
    let e = into.root;
    for (const seg of path) {
      let next = e.fields.get(seg);
      if (!next) e.fields.set(seg, (next = expect()));
      e = next;
    }
    return e;
  };
  /** `operand` (an argument's place) must have the type of `other`. */
  const relate = (operand: Place, other: unknown, depth: number): void => {
    if (depth > MAX_DEPTH) return;
    const e = operand.element ? elementOf(at(operand.path)) : at(operand.path);
    e.policies.add(id);
    const known = kindOf(other);
    if (known === undefined) {
      const dyn = dynamicOf(other);
      if (dyn && !operand.element) pairs.push({ path: operand.path, other: dyn, policy: id });
      else e.scalar = true;
      return;
    }
    (e.kinds ??= new Set()).add(known);
    const o = other as Record<string, unknown>;
    if (known === "record" && isRecord(o.Record) && !operand.element)
      for (const [k, v] of Object.entries(o.Record)) relate({ path: [...operand.path, k] }, v, depth + 1);
    if (known === "set" && Array.isArray(o.Set) && !operand.element)
      for (const v of o.Set) relate({ path: operand.path, element: true }, v, depth + 1);
  };
  /**
   * `a` and `b` are compared for equality: each argument place in one takes the other's type, also
   * inside record and set literals (`{"db": context.arguments.db} == {"db": "prod"}`).
   */
  const unify = (a: unknown, b: unknown, depth: number): void => {
    if (depth > MAX_DEPTH) return;
    for (const p of places(a)) relate(p, b, 0);
    for (const p of places(b)) relate(p, a, 0);
    for (const [x, y] of [
      [a, b],
      [b, a],
    ]) {
      if (!isRecord(x)) continue;
      if (isRecord(x.Record))
        for (const [k, v] of Object.entries(x.Record)) unify(v, fieldOf(y, k), depth + 1);
      if (Array.isArray(x.Set)) for (const v of x.Set) unify(v, { [ELEMENT]: y }, depth + 1);
    }
  };
  const visit = (node: unknown, depth: number): void => {
    if (depth > 200 || node === null || typeof node !== "object") return;
    if (Array.isArray(node)) {
      for (const n of node) visit(n, depth + 1);
      return;
    }
    const obj = node as Record<string, unknown>;
    const operands = (op: string) => obj[op] as { left?: unknown; right?: unknown } | undefined;
    for (const op of ["==", "!="]) {
      const b = operands(op);
      if (b) unify(b.left, b.right, 0);
    }
    // `set.contains(x)`: x has the set's element type; `arg.contains(x)` errs unless arg is a set.
    const c = operands("contains");
    if (c) unify({ [ELEMENT]: c.left }, c.right, 0);
    for (const op of ["containsAll", "containsAny"]) {
      const b = operands(op);
      if (b) unify({ [ELEMENT]: b.left }, { [ELEMENT]: b.right }, 0);
    }
    for (const key of Object.keys(obj)) visit(obj[key], depth + 1);
  };
  for (const clause of policy.conditions) visit(clause.body, 0);
  return into;
}

function elementOf(e: Expect): Expect {
  return (e.elements ??= expect());
}

type Place = { path: readonly string[]; element?: boolean };

/** A pseudo-expression standing for the elements of a set expression (for `contains` and friends). */
const ELEMENT = "element of";

/**
 * The argument places an expression's value comes from: an argument path, either branch of an
 * `if`, or (for the elements of a set) the elements of an argument or of a set literal.
 */
function places(expr: unknown, depth = 0): Place[] {
  const path = argPath(expr);
  if (path) return [{ path }];
  if (depth > MAX_DEPTH || !isRecord(expr)) return [];
  const ite = expr["if-then-else"] as { then?: unknown; else?: unknown } | undefined;
  if (ite) return [...places(ite.then, depth + 1), ...places(ite.else, depth + 1)];
  if (!(ELEMENT in expr)) return [];
  const set = expr[ELEMENT];
  if (isRecord(set) && Array.isArray(set.Set)) return set.Set.flatMap((v) => places(v, depth + 1));
  return places(set, depth + 1)
    .filter((p) => !p.element)
    .map((p) => ({ path: p.path, element: true }));
}

/** The expression for attribute `k` of `expr` (a record literal's field, else `expr.k`). */
function fieldOf(expr: unknown, k: string): unknown {
  if (isRecord(expr) && isRecord(expr.Record)) return expr.Record[k];
  return { ".": { left: expr, attr: k } };
}

/** `context.arguments.a.b` → ["a", "b"]; `context.arguments` → []; otherwise undefined. */
function argPath(expr: unknown): string[] | undefined {
  const path: string[] = [];
  let node = expr;
  for (let i = 0; i < MAX_DEPTH && isRecord(node); i++) {
    const dot = node["."] as { left?: unknown; attr?: unknown } | undefined;
    if (!isRecord(dot) || typeof dot.attr !== "string") return undefined;
    if (isRecord(dot.left) && (dot.left as { Var?: unknown }).Var === "context")
      return dot.attr === "arguments" ? path.reverse() : undefined;
    path.push(dot.attr);
    node = dot.left;
  }
  return undefined;
}

/** `principal.claims.a.b` → ["a", "b"]. */
function claimPath(expr: unknown): string[] | undefined {
  const path: string[] = [];
  let node = expr;
  for (let i = 0; i < MAX_DEPTH && isRecord(node); i++) {
    const dot = node["."] as { left?: unknown; attr?: unknown } | undefined;
    if (!isRecord(dot) || typeof dot.attr !== "string") return undefined;
    if (isRecord(dot.left) && (dot.left as { Var?: unknown }).Var === "principal")
      return dot.attr === "claims" && path.length > 0 ? path.reverse() : undefined;
    path.push(dot.attr);
    node = dot.left;
  }
  return undefined;
}

function dynamicOf(expr: unknown): Dynamic | undefined {
  const a = argPath(expr);
  if (a) return { from: "arg", path: a };
  const c = claimPath(expr);
  return c ? { from: "claim", path: c } : undefined;
}

const BOOLEAN_OPS = [
  "!",
  "==",
  "!=",
  "in",
  "<",
  "<=",
  ">",
  ">=",
  "&&",
  "||",
  "contains",
  "containsAll",
  "containsAny",
  "isEmpty",
  "hasTag",
  "has",
  "like",
  "is",
];
const MODEL: Readonly<Record<string, Kind>> = {
  "principal.groups": "set",
  "principal.scopes": "set",
  "principal.client": "string",
  "principal.method": "string",
  "principal.claims": "record",
  "resource.server": "string",
  "resource.name": "string",
  "resource.uri": "string",
  "resource.annotations": "record",
  "context.protocol": "string",
  "context.time": "record",
};

/** `principal.groups` → "principal.groups" (one attribute of a variable). */
function modelAttr(expr: unknown): string | undefined {
  if (!isRecord(expr)) return undefined;
  const dot = expr["."] as { left?: unknown; attr?: unknown } | undefined;
  if (!isRecord(dot) || typeof dot.attr !== "string" || !isRecord(dot.left)) return undefined;
  const v = (dot.left as { Var?: unknown }).Var;
  if (typeof v === "string") return `${v}.${dot.attr}`;
  const inner = modelAttr(dot.left);
  if (inner === "resource.annotations") return "annotation";
  if (inner === "context.time") return "time";
  return undefined;
}

/** The type of a value expression when it is known from the policy alone; undefined otherwise. */
function kindOf(expr: unknown): Kind | undefined {
  if (!isRecord(expr)) return undefined;
  if (ELEMENT in expr) {
    const set = expr[ELEMENT];
    if (isRecord(set) && Array.isArray(set.Set)) {
      const kinds = new Set(set.Set.map(kindOf));
      return kinds.size === 1 ? [...kinds][0] : undefined;
    }
    const attr = modelAttr(set);
    return attr === "principal.groups" || attr === "principal.scopes" ? "string" : undefined;
  }
  if ("Value" in expr) {
    const v = expr.Value;
    if (typeof v === "string") return "string";
    if (typeof v === "number") return "long";
    if (typeof v === "boolean") return "bool";
    if (Array.isArray(v)) return "set";
    if (isRecord(v)) return "__entity" in v ? "entity" : "__extn" in v ? "extension" : "record";
    return undefined;
  }
  if ("Set" in expr) return "set";
  if ("Record" in expr) return "record";
  if (["+", "-", "*", "neg"].some((k) => k in expr)) return "long";
  if (BOOLEAN_OPS.some((k) => k in expr)) return "bool";
  if ("Var" in expr) return expr.Var === "context" ? "record" : "entity";
  const attr = modelAttr(expr);
  if (attr === "annotation") return "bool";
  if (attr === "time") return "long";
  if (attr !== undefined && !argPath(expr) && !claimPath(expr)) return MODEL[attr];
  const keys = Object.keys(expr);
  // An extension function call (`ip("…")`, `decimal("…")`): `{ name: [args] }`.
  if (keys.length === 1 && Array.isArray(expr[keys[0] as string]) && !("." in expr)) return "extension";
  return undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** A JSON value's type as Cedar would compare it (values.ts: fractions and huge numbers become text). */
function kindOfValue(v: unknown): Kind | "null" | "fraction" {
  if (typeof v === "string") return "string";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "number") return Number.isSafeInteger(v) ? "long" : "fraction";
  if (v === null || v === undefined) return "null";
  return Array.isArray(v) ? "set" : "record";
}

/**
 * The first argument whose type contradicts what a policy compares it with, or undefined. Absent
 * arguments are not judged (reading one errs, or a `has` guard keeps it unread).
 */
export function comparedMismatch(
  compared: Compared,
  args: unknown,
  principal: Principal,
): (TypeMismatch & { policies: string[] }) | undefined {
  const found = checkExpect(compared.root, args ?? {}, "", 0);
  if (found) return found;
  for (const { path, other, policy } of compared.pairs) {
    const a = resolve(args, path);
    const b = other.from === "arg" ? resolve(args, other.path) : resolve(tokenClaims(principal), other.path);
    if (a === undefined || b === undefined) continue;
    if (kindOfValue(a) !== kindOfValue(b))
      return {
        pointer: pointerOf(path),
        detail: `compared with ${other.from === "arg" ? "argument" : "claim"} ${other.path.join(".")} of another type`,
        policies: [policy],
      };
  }
  return undefined;
}

function checkExpect(
  e: Expect,
  value: unknown,
  pointer: string,
  depth: number,
): (TypeMismatch & { policies: string[] }) | undefined {
  if (value === undefined || depth > MAX_DEPTH) return undefined;
  const kind = kindOfValue(value);
  const miss = (detail: string) => ({ pointer, detail, policies: [...e.policies] });
  if (e.kinds && !(e.kinds as Set<string>).has(kind))
    return miss(`policies compare it with a ${[...e.kinds].join(" or ")}, got ${kind}`);
  if (e.scalar && kind !== "string" && kind !== "long" && kind !== "bool")
    return miss(
      `policies compare it with a value of unknown type: a string, whole number or boolean only, got ${kind}`,
    );
  if (kind === "record" && e.fields.size > 0)
    for (const [key, sub] of e.fields) {
      if (!Object.hasOwn(value as object, key)) continue;
      const v = (value as Record<string, unknown>)[key];
      const m = checkExpect(sub, v, `${pointer}/${escapePointer(key)}`, depth + 1);
      if (m) return m;
    }
  if (kind === "set" && e.elements)
    for (const [i, v] of (value as unknown[]).entries()) {
      const m = checkExpect(e.elements, v, `${pointer}/${i}`, depth + 1);
      if (m) return m;
    }
  return undefined;
}

function resolve(value: unknown, path: readonly string[]): unknown {
  let node = value;
  for (const seg of path) {
    if (!isRecord(node) || !Object.hasOwn(node, seg)) return undefined;
    node = node[seg];
  }
  return node;
}

const pointerOf = (path: readonly string[]) => path.map((p) => `/${escapePointer(p)}`).join("");

/** Whether any policy compares an argument (the check is then worth running). */
export function comparesArguments(c: Compared): boolean {
  return c.pairs.length > 0 || c.root.policies.size > 0 || c.root.fields.size > 0;
}
