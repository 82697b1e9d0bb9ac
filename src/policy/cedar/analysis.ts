import type { PolicyJson } from "./engine.js";

/** What a policy's conditions read: which entities' attributes, which context members. */
export interface Reads {
  /** The principal's attributes read by name; `*` when the principal is used otherwise. */
  principal: Set<string>;
  /** The resource's attributes, likewise. */
  resource: Set<string>;
  /** Context members by name; `*` when the context is read as a whole. */
  context: Set<string>;
  /** Whether `resource.annotations` is read (a tool's definition is then needed for each call). */
  annotations: boolean;
  /** The arguments read by name (`context.arguments.path`, `has path`); `*` when read otherwise. */
  args: Set<string>;
}

export function emptyReads(): Reads {
  return {
    principal: new Set(),
    resource: new Set(),
    context: new Set(),
    annotations: false,
    args: new Set(),
  };
}

/** Adds what `policy`'s conditions read to `into` (a walk of its JSON form: cheap, done once at load). */
export function addReads(policy: PolicyJson, into: Reads): Reads {
  for (const clause of policy.conditions) walk(clause.body, into);
  return into;
}

function walk(node: unknown, reads: Reads): void {
  if (Array.isArray(node)) {
    for (const n of node) walk(n, reads);
    return;
  }
  if (node === null || typeof node !== "object") return;
  const obj = node as Record<string, unknown>;
  const isHas = obj["."] === undefined;
  const access = (obj["."] ?? obj.has) as { left?: unknown; attr?: unknown } | undefined;
  if (access && typeof access === "object" && isArgumentsRecord(access.left)) {
    // `context.arguments.<name>` or `context.arguments has <name>`: that one argument.
    const attrs = Array.isArray(access.attr) ? access.attr : [access.attr];
    reads.context.add("arguments");
    reads.args.add(typeof attrs[0] === "string" ? attrs[0] : "*");
    return;
  }
  if (access && typeof access === "object" && isVar(access.left)) {
    const v = access.left.Var;
    const attrs = Array.isArray(access.attr) ? access.attr : [access.attr];
    if (v === "context") {
      reads.context.add(typeof attrs[0] === "string" ? attrs[0] : "*");
      // `context has arguments.path` names one argument; `context.arguments` read whole, all of them.
      if (attrs[0] === "arguments" && attrs.length > 1)
        reads.args.add(typeof attrs[1] === "string" ? attrs[1] : "*");
      else if (attrs[0] === "arguments" && !isHas) reads.args.add("*");
    } else mark(v, reads, typeof attrs[0] === "string" ? attrs[0] : "*");
    if (v === "resource" && attrs[0] === "annotations") reads.annotations = true;
    return;
  }
  if (isVar(obj)) {
    mark(obj.Var, reads, "*");
    if (obj.Var === "context") {
      reads.context.add("*");
      reads.args.add("*");
    }
    return;
  }
  // `resource.annotations` reached through `resource["annotations"]` or a nested access.
  if (obj.attr === "annotations") reads.annotations = true;
  for (const key of Object.keys(obj)) walk(obj[key], reads);
}

function mark(v: unknown, reads: Reads, attr: string): void {
  if (v === "principal") reads.principal.add(attr);
  if (v === "resource") reads.resource.add(attr);
}

function isArgumentsRecord(n: unknown): boolean {
  if (n === null || typeof n !== "object") return false;
  const get = (n as Record<string, unknown>)["."] as { left?: unknown; attr?: unknown } | undefined;
  return get !== undefined && isVar(get.left) && get.left.Var === "context" && get.attr === "arguments";
}

function isVar(n: unknown): n is { Var: string } {
  return n !== null && typeof n === "object" && typeof (n as { Var?: unknown }).Var === "string";
}

type Uid = { type: string; id: string };

/** An entity reference in a policy's JSON form (`{type, id}` or `{__entity: {type, id}}`). */
export function uidOf(e: unknown): Uid | undefined {
  if (e === null || typeof e !== "object") return undefined;
  const inner = (e as { __entity?: unknown }).__entity ?? e;
  const { type, id } = inner as { type?: unknown; id?: unknown };
  return typeof type === "string" && typeof id === "string" ? { type, id } : undefined;
}

const same = (a: Uid | undefined, type: string, id: string) =>
  a !== undefined && a.type === type && a.id === id;

/**
 * Whether a policy's scope can match a request on `action` and resource `type::id`. The gateway's
 * entities have no parents, so `in` is equality here; anything not understood counts as a match
 * (the policy is then evaluated and Cedar decides).
 */
export function scopeMatches(policy: PolicyJson, action: string, type: string, id: string): boolean {
  const a = policy.action;
  if (a.op === "==" && "entity" in a && !same(uidOf(a.entity), "Action", action)) return false;
  if (a.op === "in") {
    const list = "entities" in a ? a.entities : "entity" in a ? [a.entity] : undefined;
    if (list && !list.some((e) => same(uidOf(e), "Action", action))) return false;
  }
  const r = policy.resource;
  if ((r.op === "==" || r.op === "in") && "entity" in r && !same(uidOf(r.entity), type, id)) return false;
  if (r.op === "is") {
    if (r.entity_type !== type) return false;
    if (r.in && "entity" in r.in && !same(uidOf(r.in.entity), type, id)) return false;
  }
  return true;
}
