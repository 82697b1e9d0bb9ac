// A subset's policies partially evaluated for one caller and one item, with the arguments unknown
// (Cedar's own partial evaluation), preparsed as a set of its own. A call with fresh arguments is
// then decided by the residuals alone: the policies that cannot match this caller and item are
// gone, and when no residual still reads the principal, the resource or the rest of the context,
// the engine is sent only the arguments. Cedar guarantees that evaluating the residuals with the
// unknown's value gives the original decision; a partial evaluation that erred is not used.
import type { Cedar, EntityJson, PolicyJson } from "./engine.js";
import type { CedarValue } from "./values.js";

export interface Residual {
  /** The preparsed residual set. */
  readonly setId: string;
  /** Whether a residual still reads `principal`, `resource` or `context` (send everything then). */
  readonly readsRequest: boolean;
}

export interface PartialRequest {
  readonly principal: { type: string; id: string };
  readonly action: string;
  readonly resource: { type: string; id: string };
  /** The context the policies read, without `arguments`. */
  readonly context: { [k: string]: CedarValue };
  readonly entities: EntityJson[];
}

const UNKNOWN = "arguments";
const ARGUMENTS = { ".": { left: { Var: "context" }, attr: "arguments" } };

/** Partially evaluates `text` (policies by id) and preparses the residuals as `setId`; undefined when unusable. */
export function prepareResidual(
  cedar: Cedar,
  setId: string,
  req: PartialRequest,
  text: Readonly<Record<string, string>>,
): Residual | undefined {
  try {
    const answer = cedar.isAuthorizedPartial({
      principal: req.principal,
      action: { type: "Action", id: req.action },
      resource: req.resource,
      context: { ...req.context, arguments: { __extn: { fn: "unknown", arg: UNKNOWN } } },
      entities: req.entities,
      policies: { staticPolicies: text },
    });
    if (answer.type !== "residuals" || answer.response.errored.length > 0) return undefined;
    const policies: Record<string, PolicyJson> = {};
    const found = { vars: false, otherUnknown: false };
    for (const [id, p] of Object.entries(answer.response.residuals)) {
      // A residual whose condition is the constant false can neither match nor err.
      const only = p.conditions.length === 1 ? p.conditions[0] : undefined;
      if (only && isFalse(only.kind, only.body)) continue;
      // A scope left in the residual (`principal in …`) may need the entities.
      if (p.principal.op !== "All" || p.action.op !== "All" || p.resource.op !== "All") found.vars = true;
      const rewritten = rewrite(p, found) as PolicyJson;
      policies[id] = {
        ...rewritten,
        conditions: rewritten.conditions.map((c) => ({ ...c, body: withoutTrue(c.body) })),
      } as PolicyJson;
    }
    if (found.otherUnknown) return undefined;
    const prepared = cedar.preparsePolicySet(setId, { staticPolicies: policies });
    return prepared.type === "success" ? { setId, readsRequest: found.vars } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A condition without the `true &&` (and `&& true`) that partial evaluation leaves where a known
 * part was decided: each costs the engine an evaluation per call. Only through a condition's own
 * conjunctions, where every operand must be a boolean (else the policy errs either way), so the
 * same requests match, err or not.
 */
function withoutTrue(node: unknown): unknown {
  const and = (node as { "&&"?: { left: unknown; right: unknown } } | null)?.["&&"];
  if (!and || typeof and !== "object") return node;
  const left = withoutTrue(and.left);
  const right = withoutTrue(and.right);
  if (isTrue(left)) return right;
  if (isTrue(right)) return left;
  return { "&&": { left, right } };
}

function isTrue(node: unknown): boolean {
  return (node as { Value?: unknown } | null)?.Value === true;
}

function isFalse(kind: string, body: unknown): boolean {
  const v = (body as { Value?: unknown } | null)?.Value;
  return (kind === "when" && v === false) || (kind === "unless" && v === true);
}

/** The residual with `unknown("arguments")` back as `context.arguments`; notes any variable read. */
function rewrite(node: unknown, found: { vars: boolean; otherUnknown: boolean }): unknown {
  if (Array.isArray(node)) return node.map((n) => rewrite(n, found));
  if (node === null || typeof node !== "object") return node;
  const obj = node as Record<string, unknown>;
  if (Object.hasOwn(obj, "unknown")) {
    const args = obj.unknown as Array<{ Value?: unknown }> | undefined;
    if (Array.isArray(args) && args.length === 1 && args[0]?.Value === UNKNOWN) return ARGUMENTS;
    found.otherUnknown = true;
    return node;
  }
  if (Object.hasOwn(obj, "Var")) found.vars = true;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(obj)) out[key] = rewrite(obj[key], found);
  return out;
}
