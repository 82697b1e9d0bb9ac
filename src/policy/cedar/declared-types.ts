// A tool call's arguments against the JSON types its input schema declares, before Cedar decides:
// Cedar's `==` across types is simply false, so `database: ["prod"]` would slip past
// `forbid … when { context.arguments.database == "prod" }` to an upstream that reads it as "prod".
// Only types are judged (`type`, and the types of `enum`/`const` when `type` is absent), through
// `properties`, `additionalProperties`, `items`, `prefixItems`, `allOf`, `anyOf`, `oneOf` and local
// `$ref`s; every other keyword is ignored (value checks are the upstream's), and so are boolean
// schemas.

/** Where an argument contradicts what is declared, and how. */
export interface TypeMismatch {
  /** JSON pointer into the arguments (`""`: the arguments themselves). */
  readonly pointer: string;
  readonly detail: string;
}

const TYPES = new Set(["string", "number", "integer", "boolean", "array", "object", "null"]);
/** Schema steps followed (nesting and `$ref` hops) before the call is refused as unjudgeable. */
const MAX_DEPTH = 64;
/** Schema nodes visited per call (an `anyOf` inside an `anyOf` multiplies): past it, refused. */
const MAX_STEPS = 50_000;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === "object" && !Array.isArray(v);

/** The JSON type of a value, as JSON Schema names it (`integer` for whole numbers). */
export function jsonType(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function fits(type: string, v: unknown): boolean {
  if (type === "number") return typeof v === "number";
  if (type === "integer") return typeof v === "number" && Number.isInteger(v);
  if (type === "object") return isObj(v);
  return jsonType(v) === type;
}

export function escapePointer(key: string): string {
  return key.replace(/~/g, "~0").replace(/\//g, "~1");
}

/** The first argument whose JSON type contradicts `schema` (a tool's inputSchema), or undefined. */
export function declaredMismatch(schema: unknown, args: unknown): TypeMismatch | undefined {
  if (schema === undefined) return undefined;
  const walk = new Walk(schema);
  return walk.check(schema, args ?? {}, "", 0);
}

class Walk {
  private steps = 0;
  constructor(private readonly root: unknown) {}

  check(schema: unknown, value: unknown, pointer: string, depth: number): TypeMismatch | undefined {
    // `true`/`false` make no type claim: an undeclared argument (additionalProperties: false) is the
    // upstream's to refuse, and the policies' own comparisons still type it.
    if (!isObj(schema)) return undefined;
    if (depth > MAX_DEPTH || ++this.steps > MAX_STEPS)
      return { pointer, detail: "the input schema is too deep or too complex to check" };
    const here = (s: unknown, v: unknown, p: string) => this.check(s, v, p, depth + 1);
    if (typeof schema.$ref === "string") {
      const target = resolveRef(this.root, schema.$ref);
      const m = target === undefined ? undefined : here(target, value, pointer);
      if (m) return m;
    }
    const types = declaredTypes(schema);
    if (types && !types.some((t) => fits(t, value)))
      return { pointer, detail: `declared ${types.join(" or ")}, got ${jsonType(value)}` };
    if (Array.isArray(schema.allOf))
      for (const s of schema.allOf) {
        const m = here(s, value, pointer);
        if (m) return m;
      }
    for (const key of ["anyOf", "oneOf"] as const) {
      const branches = schema[key];
      if (!Array.isArray(branches) || branches.length === 0) continue;
      let first: TypeMismatch | undefined;
      let matched = false;
      for (const s of branches) {
        const m = here(s, value, pointer);
        if (!m) {
          matched = true;
          break;
        }
        first ??= m;
      }
      if (!matched) return first;
    }
    if (isObj(value)) return this.members(schema, value, pointer, depth);
    if (Array.isArray(value)) return this.elements(schema, value, pointer, depth);
    return undefined;
  }

  private members(schema: Obj, value: Obj, pointer: string, depth: number): TypeMismatch | undefined {
    const props = isObj(schema.properties) ? schema.properties : {};
    // Keys a pattern may claim are not judged by additionalProperties (patterns are not run: an
    // upstream's regular expression is never applied to a caller's keys).
    const extra = schema.patternProperties === undefined ? schema.additionalProperties : undefined;
    for (const key of Object.keys(value)) {
      const s = Object.hasOwn(props, key) ? props[key] : extra;
      if (s === undefined) continue;
      const m = this.check(s, value[key], `${pointer}/${escapePointer(key)}`, depth + 1);
      if (m) return m;
    }
    return undefined;
  }

  private elements(schema: Obj, value: unknown[], pointer: string, depth: number): TypeMismatch | undefined {
    const prefix = Array.isArray(schema.prefixItems)
      ? schema.prefixItems
      : Array.isArray(schema.items)
        ? schema.items
        : [];
    const rest = Array.isArray(schema.items) ? schema.additionalItems : schema.items;
    for (let i = 0; i < value.length; i++) {
      const s = i < prefix.length ? prefix[i] : rest;
      if (s === undefined) continue;
      const m = this.check(s, value[i], `${pointer}/${i}`, depth + 1);
      if (m) return m;
    }
    return undefined;
  }
}

/** `type` (one name or a list); absent, the types of `const` or of every `enum` member. Unknown names: no claim. */
function declaredTypes(schema: Obj): string[] | undefined {
  const t = schema.type;
  if (typeof t === "string") return TYPES.has(t) ? [t] : undefined;
  if (Array.isArray(t)) {
    if (t.length === 0 || !t.every((x) => typeof x === "string" && TYPES.has(x))) return undefined;
    return t as string[];
  }
  const members = Object.hasOwn(schema, "const")
    ? [schema.const]
    : Array.isArray(schema.enum) && schema.enum.length > 0
      ? schema.enum
      : undefined;
  if (!members) return undefined;
  // A whole number listed admits 1.0 and 1 alike: `number` covers both.
  return [...new Set(members.map((m) => (typeof m === "number" ? "number" : jsonType(m))))];
}

/** A local reference (`#`, `#/$defs/x`, `#/definitions/x`, any JSON pointer into the schema); others: none. */
function resolveRef(root: unknown, ref: string): unknown {
  if (ref === "#") return root;
  if (!ref.startsWith("#/")) return undefined;
  let node: unknown = root;
  for (const raw of ref.slice(2).split("/")) {
    let seg: string;
    try {
      seg = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
    } catch {
      return undefined;
    }
    if (Array.isArray(node) && /^\d+$/.test(seg)) node = node[Number(seg)];
    else if (isObj(node) && Object.hasOwn(node, seg)) node = node[seg];
    else return undefined;
  }
  return node;
}
