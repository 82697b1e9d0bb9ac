import { invalidParams, policyDenied } from "../../errors.js";
import type { JsonObject } from "../../jsonrpc.js";
import { isObject } from "../../jsonrpc.js";
import type { VirtualToolConfig } from "../../config/types.js";
import type { ToolBinding } from "./server.js";

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
  const gone = new Set([...Object.keys(e.fixed), ...e.hide]);
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

/**
 * The arguments forwarded for a caller's: a fixed or hidden argument the caller set is refused
 * (-32001, nothing is forwarded), absent ones take their defaults, fixed values are injected.
 */
export function forwardedArguments(b: ToolBinding, given: unknown): JsonObject {
  if (given !== undefined && !isObject(given)) throw invalidParams("arguments must be an object");
  const args = given ?? {};
  const e = b.entry;
  for (const key of Object.keys(e.fixed))
    if (Object.hasOwn(args, key))
      throw policyDenied("fixed_argument", `argument ${key} is fixed by the gateway and may not be set`, {
        argument: key,
      });
  for (const key of e.hide)
    if (Object.hasOwn(args, key))
      throw policyDenied("hidden_argument", `argument ${key} is not offered on this endpoint`, {
        argument: key,
      });
  // fromEntries: a caller's "__proto__" stays an own key, never the object's prototype.
  return Object.fromEntries([
    ...Object.entries(e.defaults).filter(([key]) => !Object.hasOwn(args, key)),
    ...Object.entries(args),
    ...Object.entries(e.fixed),
  ]) as JsonObject;
}
