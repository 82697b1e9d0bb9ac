// The policies written for one tool, validated against that tool's arguments: its input schema as
// a Cedar record type in place of the open `context.arguments` the policies were loaded against
// (schema.ts). Cedar's own validator then finds what the base schema could not: an argument
// compared with the wrong type (`context.arguments.limit == "10"` for an integer `limit`), `like`
// on a number, `<` on a string, and on a closed schema an argument the tool does not take. Such a
// rule never does what it says (a permit that cannot match, a forbid that errs and so refuses
// every call that sets the argument), so the gateway says so when the tool is listed.
import { uidOf } from "./analysis.js";
import type { Cedar } from "./engine.js";
import { OPEN_PATHS, validationProblems, type LoadedPolicy } from "./files.js";
import { baseSchema } from "./schema.js";

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === "object" && !Array.isArray(v);
const MAX_DEPTH = 16;

/**
 * A JSON Schema as a Cedar type, for what maps one to one: strings, integers (Longs), booleans,
 * arrays (sets, as arguments are carried) and objects (records, their `required` members
 * required). Anything else (fractions, null, unions, references, no type) has no Cedar type and
 * is left out: a policy reading it is judged at call time only.
 */
function cedarType(schema: unknown, depth: number): Obj | undefined {
  if (!isObj(schema) || depth > MAX_DEPTH) return undefined;
  switch (schema.type) {
    case "string":
      return { type: "String" };
    case "integer":
      return { type: "Long" };
    case "boolean":
      return { type: "Boolean" };
    case "array": {
      const element = cedarType(schema.items, depth + 1);
      return element ? { type: "Set", element } : undefined;
    }
    case "object":
      return recordType(schema, depth + 1);
    default:
      return undefined;
  }
}

function recordType(schema: Obj, depth: number): Obj {
  const properties = isObj(schema.properties) ? schema.properties : {};
  const required = new Set(Array.isArray(schema.required) ? schema.required : []);
  const attributes: Obj = {};
  for (const [key, sub] of Object.entries(properties)) {
    const t = cedarType(sub, depth);
    if (t)
      Object.defineProperty(attributes, key, {
        value: { ...t, required: required.has(key) },
        enumerable: true,
      });
  }
  return { type: "Record", attributes };
}

/** The argument a `context.arguments.<name>` or `context.arguments["<name>"]` snippet reads first. */
function firstArgument(snippet: string): string | undefined {
  const m = /^context\s*\.\s*arguments\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*("(?:[^"\\]|\\.)*")\s*\])/.exec(snippet);
  if (!m) return undefined;
  if (m[1] !== undefined) return m[1];
  try {
    return JSON.parse(m[2] as string) as string;
  } catch {
    return undefined;
  }
}

/** The tool a policy's scope names exactly (`resource == Tool::"server/name"`), if any. */
export function toolOf(policy: LoadedPolicy): string | undefined {
  const r = policy.json.resource;
  const uid = r.op === "==" && "entity" in r ? uidOf(r.entity) : undefined;
  return uid?.type === "Tool" ? uid.id : undefined;
}

/**
 * The problems of `policies` (those written for one tool) against the tool's `inputSchema`: each
 * with file, line and policy id, empty when they fit. `reads`: the arguments each policy reads
 * by name (analysis.ts). Never throws (a validator failure is one problem).
 */
export function toolPolicyProblems(
  cedar: Cedar,
  policies: readonly LoadedPolicy[],
  inputSchema: unknown,
  reads: (policyId: string) => ReadonlySet<string> | undefined,
): string[] {
  if (policies.length === 0 || !isObj(inputSchema)) return [];
  const declared = isObj(inputSchema.properties) ? inputSchema.properties : {};
  const closed = inputSchema.additionalProperties === false;
  // A "not found" is expected where the schema types nothing (claims, an untyped or nested
  // argument); on a closed schema, an argument it does not declare is a problem.
  const expected = (snippet: string) => {
    if (!OPEN_PATHS.test(snippet)) return false;
    const name = firstArgument(snippet);
    return !closed || name === undefined || Object.hasOwn(declared, name);
  };
  // "Impossible" (e.g. `has` an argument the schema lacks) is proof only on a closed schema, for a
  // policy reading no declared argument that has no Cedar type (typed as absent here).
  const args = recordType(inputSchema, 0);
  const typed = args.attributes as Obj;
  const impossible = (id: string) => {
    const read = reads(id);
    return (
      closed &&
      read !== undefined &&
      !read.has("*") &&
      [...read].every((a) => Object.hasOwn(typed, a) || !Object.hasOwn(declared, a))
    );
  };
  try {
    return validationProblems(cedar, policies, baseSchema(args), (f) => f, expected, impossible).map((p) =>
      p.replace(/^policy\.cedar: /, ""),
    );
  } catch (err) {
    return [`the tool's input schema could not be checked: ${(err as Error).message}`];
  }
}
