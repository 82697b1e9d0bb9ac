import { invalidParams, policyDenied } from "../../errors.js";
import type { JsonObject } from "../../jsonrpc.js";
import { isObject } from "../../jsonrpc.js";
import type { VirtualToolConfig } from "../../config/types.js";
import type { ToolBinding } from "./server.js";
import { argumentKey } from "./arguments.js";

export type Presented = { readonly item: JsonObject } | { readonly problem: string };

/**
 * A tool as a virtual server's callers see it: renamed, its title, description and annotations
 * replaced where the entry says, fixed and hidden arguments gone from the input schema, defaults
 * shown as the schema's `default` (and no longer required). An entry that does not fit the tool
 * (an argument it names is not in the schema, a hidden one is required) is a problem: the tool is
 * not served, rather than served with a choice the operator meant to take away.
 */
export function present(b: ToolBinding, def: JsonObject): Presented {
  // The same listed definition and entry always show the same: computed once (calls reuse lists).
  let byEntry = shownOf.get(def);
  if (!byEntry) shownOf.set(def, (byEntry = new Map()));
  // An entry and a definition decide the exposed name too (an exact entry's, or the tool's own).
  let shown = byEntry.get(b.entry);
  if (!shown) {
    shown = presentOnce(b, def);
    if (byEntry.size < 64) byEntry.set(b.entry, shown);
  }
  return shown;
}

const shownOf = new WeakMap<object, Map<VirtualToolConfig, Presented>>();

function presentOnce(b: ToolBinding, def: JsonObject): Presented {
  const e = b.entry;
  const schema = isObject(def.inputSchema) ? def.inputSchema : { type: "object" };
  const properties = isObject(schema.properties) ? schema.properties : {};
  const required = Array.isArray(schema.required) ? schema.required.filter((r) => typeof r === "string") : [];
  const missing = (key: string) => !Object.hasOwn(properties, key);
  for (const key of Object.keys(e.fixed))
    if (missing(key))
      return { problem: `fixed argument ${key} is not in ${b.server}/${b.tool}'s input schema` };
  for (const key of Object.keys(e.defaults))
    if (missing(key))
      return { problem: `default for ${key}, which is not in ${b.server}/${b.tool}'s input schema` };
  for (const key of e.hide) {
    if (missing(key))
      return { problem: `hidden argument ${key} is not in ${b.server}/${b.tool}'s input schema` };
    if (required.includes(key))
      return {
        problem: `hidden argument ${key} is required by ${b.server}/${b.tool} (fix its value instead)`,
      };
  }
  // A property that reads as a fixed or hidden one (another case or spelling of it) goes too: it
  // would be refused (forwardedArguments), so it is not offered.
  const taken = takenKeys(b);
  const gone = new Set(Object.keys(properties).filter((key) => taken.has(argumentKey(key))));
  const shown = Object.fromEntries(
    Object.entries(properties)
      .filter(([key]) => !gone.has(key))
      .map(([key, value]) => [
        key,
        Object.hasOwn(e.defaults, key)
          ? { ...(isObject(value) ? value : {}), default: e.defaults[key] }
          : value,
      ]),
  ) as JsonObject;
  const stillRequired = required.filter((r) => !gone.has(r) && !Object.hasOwn(e.defaults, r));
  const inputSchema: JsonObject = { ...schema, properties: shown };
  if (stillRequired.length > 0) inputSchema.required = stillRequired;
  else delete inputSchema.required;
  const item: JsonObject = { ...def, name: b.exposed, inputSchema };
  if (e.title !== undefined) item.title = e.title;
  if (e.description !== undefined) item.description = e.description;
  if (e.annotations !== undefined)
    item.annotations = {
      ...(isObject(def.annotations) ? def.annotations : {}),
      ...e.annotations,
    } as JsonObject;
  return { item };
}

/** What an entry changes, for the console and `tools list --virtual`. */
export function overrides(b: ToolBinding): string[] {
  const e = b.entry;
  const out: string[] = [];
  if (b.exposed !== b.tool) out.push("name");
  if (e.title !== undefined) out.push("title");
  if (e.description !== undefined) out.push("description");
  if (e.annotations !== undefined) out.push("annotations");
  for (const k of Object.keys(e.fixed)) out.push(`fixed:${k}`);
  for (const k of Object.keys(e.defaults)) out.push(`default:${k}`);
  for (const k of e.hide) out.push(`hide:${k}`);
  return out;
}

/** Each fixed and hidden argument's normalised name (argumentKey), and what it is. */
const takenOf = new WeakMap<object, ReadonlyMap<string, "fixed" | "hidden">>();

function takenKeys(b: ToolBinding): ReadonlyMap<string, "fixed" | "hidden"> {
  let taken = takenOf.get(b.entry);
  if (!taken) {
    const map = new Map<string, "fixed" | "hidden">();
    for (const key of b.entry.hide) map.set(argumentKey(key), "hidden");
    for (const key of Object.keys(b.entry.fixed)) map.set(argumentKey(key), "fixed");
    takenOf.set(b.entry, (taken = map));
  }
  return taken;
}

/**
 * Refuses a key that reads as a fixed (-32001 `fixed_argument`) or hidden (`hidden_argument`)
 * argument once normalised (argumentKey): in the arguments, or beside them in the call's params.
 */
export function refuseTaken(b: ToolBinding, key: string): void {
  const what = takenKeys(b).get(argumentKey(key));
  const argument = key.slice(0, 200);
  if (what === "fixed")
    throw policyDenied("fixed_argument", `argument ${argument} is fixed by the gateway and may not be set`, {
      argument,
    });
  if (what === "hidden")
    throw policyDenied("hidden_argument", `argument ${argument} is not offered on this endpoint`, {
      argument,
    });
}

/**
 * Whether a curated tool's arguments must be exactly those its shown schema lists: when its entry
 * fixes or hides anything (the choices it removed must not come back under a key the schema does
 * not show), or when the upstream's schema says `additionalProperties: false`.
 */
export function exactArguments(b: ToolBinding, def: JsonObject | undefined): boolean {
  if (Object.keys(b.entry.fixed).length > 0 || b.entry.hide.length > 0) return true;
  const schema = def && isObject(def.inputSchema) ? def.inputSchema : undefined;
  return schema?.additionalProperties === false;
}

/**
 * The arguments forwarded for a caller's: a key that reads as a fixed or hidden argument (exactly,
 * or once normalised: case, width, look-alikes, invisible characters, spaces, `_`, `-`) is refused
 * (-32001 `fixed_argument`, `hidden_argument`; nothing is forwarded). With `shown` (the input
 * schema callers see) of a tool whose arguments are exact (exactArguments), a key the schema does
 * not list is refused too (`unknown_argument`). Absent arguments take their defaults and fixed
 * values are injected.
 */
export function forwardedArguments(
  b: ToolBinding,
  given: unknown,
  shown?: { readonly schema: JsonObject },
): JsonObject {
  if (given !== undefined && !isObject(given)) throw invalidParams("arguments must be an object");
  const args = given ?? {};
  const e = b.entry;
  const properties = shown && isObject(shown.schema.properties) ? shown.schema.properties : undefined;
  for (const key of Object.keys(args)) {
    refuseTaken(b, key);
    const argument = key.slice(0, 200);
    if (shown && !(properties && Object.hasOwn(properties, key)))
      throw policyDenied(
        "unknown_argument",
        `argument ${argument} is not in this tool's input schema on this endpoint`,
        { argument },
      );
  }
  // fromEntries: a caller's "__proto__" stays an own key, never the object's prototype.
  return Object.fromEntries([
    ...Object.entries(e.defaults).filter(([key]) => !Object.hasOwn(args, key)),
    ...Object.entries(args),
    ...Object.entries(e.fixed),
  ]) as JsonObject;
}
