import type { Principal } from "../../auth/principal.js";
import type { ItemKind } from "../access.js";
import { addReads, emptyReads, scopeMatches, type Reads } from "./analysis.js";
import {
  addCompared,
  comparedMismatch,
  comparesArguments,
  emptyCompared,
  type Compared,
} from "./compared-types.js";
import { declaredMismatch } from "./declared-types.js";
import type { Cedar, EntityJson } from "./engine.js";
import {
  ACTION_OF,
  principalEntity,
  resourceEntity,
  resourceUid,
  timeRecord,
  type ClaimMapping,
} from "./entities.js";
import type { LoadedPolicy } from "./files.js";
import { argumentsRecord, CedarValueError, type CedarValue } from "./values.js";

/** What the Cedar step is asked: who, which item, with which arguments. */
export interface CedarQuery {
  readonly principal: Principal;
  readonly kind: ItemKind;
  readonly server: string;
  /** A tool or prompt name, or a resource URI. */
  readonly name: string;
  /** The call's arguments (tools and prompts); ignored by `mayAllow`. */
  readonly args?: unknown;
  readonly protocol: string;
  /** The tool's annotations as its server lists them (read only when a policy reads them). */
  readonly annotations?: unknown;
  /** The tool's inputSchema as its server lists it: arguments of another JSON type are refused. */
  readonly inputSchema?: unknown;
  readonly now?: Date;
}

export type CedarDecision =
  | { readonly allowed: true; readonly policies: readonly string[] }
  | {
      readonly allowed: false;
      readonly reason: "cedar_denied" | "cedar_error" | "argument_type_mismatch";
      /**
       * The forbid policies that matched, or the policies that erred, or those comparing an argument
       * of the wrong type; empty: no permit matched (or the input schema refused the argument).
       */
      readonly policies: readonly string[];
      readonly detail: string;
    };

/** The policies whose scope can match one (action, resource): preparsed once, with what they read. */
interface Subset {
  readonly ids: readonly string[];
  readonly setId: string | undefined;
  readonly permits: boolean;
  readonly reads: Reads;
  /** What the subset's policies compare arguments with (compared-types.ts); undefined: nothing. */
  readonly compared: Compared | undefined;
  readonly text: Readonly<Record<string, string>>;
}

const SUBSETS_MAX = 4096;
const LIST_CACHE_MAX = 10_000;
const LIST_CACHE_MS = 60_000;
const MEMO_MAX = 10_000;
const MEMO_KEY_MAX = 2048;
const NOT_PERMITTED: CedarDecision = Object.freeze({
  allowed: false,
  reason: "cedar_denied",
  policies: Object.freeze([]) as readonly string[],
  detail: "no policy permits it",
});
const UNKNOWN_ARGUMENTS = { __extn: { fn: "unknown", arg: "arguments" } };
/** MCP prompt arguments are strings (GetPromptRequest): anything else is refused. */
const PROMPT_ARGUMENTS = Object.freeze({ type: "object", additionalProperties: { type: "string" } });
let generations = 0;

/**
 * One loaded policy set, decided with the Cedar engine. Each (action, resource) is decided by the
 * policies whose scope can match it only, preparsed once per distinct subset; a subset without a
 * permit denies without calling the engine (Cedar's default deny). Any error denies: an engine
 * failure, an argument the model cannot carry, a policy that errs on this request (Cedar would skip
 * it, which for a forbid would allow).
 */
export class CedarAuthorizer {
  readonly generation = ++generations;
  readonly policies: ReadonlyMap<string, LoadedPolicy>;
  /** Whether a policy reads `resource.annotations` (the tool's definition is then fetched per call). */
  readonly readsAnnotations: boolean;
  private readonly subsets = new Map<string, Subset>();
  private readonly preparsed = new Map<string, string>();
  private readonly listCache = new Map<string, { until: number; shown: boolean }>();
  private readonly memo = new Map<string, CedarDecision>();

  constructor(
    private readonly cedar: Cedar,
    policies: readonly LoadedPolicy[],
    private readonly mapping: ClaimMapping,
    /** The files the set came from (for reload's watch and for explain). */
    readonly files: readonly string[] = [],
    /** What the files held (files.ts): a reload with the same digest changes nothing. */
    readonly digest = "",
  ) {
    this.policies = new Map(policies.map((p) => [p.id, p]));
    this.readsAnnotations = policies.some((p) => addReads(p.json, emptyReads()).annotations);
  }

  /** The decision on one call. Never throws. */
  decide(q: CedarQuery): CedarDecision {
    const action = ACTION_OF[q.kind];
    const uid = resourceUid(q.kind, q.server, q.name);
    const subset = this.subset(action, uid.type, uid.id);
    if (!subset.permits) return NOT_PERMITTED;
    if (subset.setId === undefined) return errored([], "the policy set could not be prepared");
    if (q.kind !== "resource") {
      const refused = mistyped(q, subset);
      if (refused) return refused;
    }
    let context: { [k: string]: CedarValue };
    try {
      context = this.context(
        q,
        subset.reads,
        q.kind === "resource" ? {} : argumentsRecord(readArgs(q.args, subset.reads)),
      );
    } catch (err) {
      if (!(err instanceof CedarValueError)) throw err;
      const at = err.pointer ? ` at ${err.pointer}` : "";
      return { allowed: false, reason: "cedar_error", policies: [], detail: `argument${at}: ${err.message}` };
    }
    const entities = this.entities(q, subset.reads);
    // Cedar is deterministic: the same request to the same set gets the same answer. Remembered
    // when what the engine would see is small (a call whose policies read only who calls, or a few
    // short arguments), keyed by all of it.
    const key = JSON.stringify([principalUid(q.principal), action, uid, entities, context]);
    if (key.length > MEMO_KEY_MAX) return this.evaluate(q.principal, action, uid, subset, context, entities);
    const hit = this.memo.get(key);
    if (hit) return hit;
    const d = this.evaluate(q.principal, action, uid, subset, context, entities);
    if (this.memo.size >= MEMO_MAX) this.memo.clear();
    this.memo.set(key, d);
    return d;
  }

  private evaluate(
    principal: Principal,
    action: string,
    uid: { type: string; id: string },
    subset: Subset,
    context: { [k: string]: CedarValue },
    entities: EntityJson[],
  ): CedarDecision {
    try {
      const answer = this.cedar.statefulIsAuthorized({
        principal: principalUid(principal),
        action: { type: "Action", id: action },
        resource: uid,
        context,
        entities,
        preparsedPolicySetId: subset.setId as string,
      });
      if (answer.type === "failure")
        return errored([], answer.errors.map((e) => e.message).join("; ") || "engine failure");
      const { decision, diagnostics } = answer.response;
      if (diagnostics.errors.length > 0)
        return errored(
          diagnostics.errors.map((e) => e.policyId),
          diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`).join("; "),
        );
      if (decision === "allow") return { allowed: true, policies: diagnostics.reason };
      const detail = diagnostics.reason.length > 0 ? "forbidden" : "no policy permits it";
      return { allowed: false, reason: "cedar_denied", policies: diagnostics.reason, detail };
    } catch (err) {
      return errored([], (err as Error).message);
    }
  }

  /**
   * Whether some call to an item could be allowed for this principal (list filtering): exact when
   * no policy of its subset reads `context.arguments`; otherwise Cedar's partial evaluation with the
   * arguments unknown, shown unless the answer is a definite deny. Never throws; an error hides.
   */
  mayAllow(q: CedarQuery): boolean {
    const action = ACTION_OF[q.kind];
    const uid = resourceUid(q.kind, q.server, q.name);
    const subset = this.subset(action, uid.type, uid.id);
    if (!subset.permits || subset.setId === undefined) return false;
    const readsArguments = subset.reads.context.has("arguments") || subset.reads.context.has("*");
    if (!readsArguments) return this.decide({ ...q, args: undefined }).allowed;
    const entities = this.entities(q, subset.reads);
    const key = JSON.stringify([principalUid(q.principal), action, uid, entities, q.protocol]);
    const now = Date.now();
    const hit = this.listCache.get(key);
    if (hit && hit.until > now) return hit.shown;
    let shown = false;
    try {
      const answer = this.cedar.isAuthorizedPartial({
        principal: principalUid(q.principal),
        action: { type: "Action", id: action },
        resource: uid,
        context: { ...this.context(q, subset.reads, {}), arguments: UNKNOWN_ARGUMENTS },
        entities,
        policies: { staticPolicies: subset.text },
      });
      shown = answer.type === "residuals" && answer.response.decision !== "deny";
    } catch {
      shown = false;
    }
    if (key.length <= MEMO_KEY_MAX * 4) {
      if (this.listCache.size >= LIST_CACHE_MAX) this.listCache.clear();
      this.listCache.set(key, { until: now + LIST_CACHE_MS, shown });
    }
    return shown;
  }

  /** Frees the engine's copies of this set's subsets (after a reload replaced it). */
  release(): void {
    for (const id of this.preparsed.values())
      try {
        this.cedar.preparsePolicySet(id, { staticPolicies: "" });
      } catch {
        // Nothing to free.
      }
    this.preparsed.clear();
    this.subsets.clear();
    this.memo.clear();
    this.listCache.clear();
  }

  private subset(action: string, type: string, id: string): Subset {
    const key = `${action}\u0000${type}\u0000${id}`;
    const hit = this.subsets.get(key);
    if (hit) return hit;
    const ids: string[] = [];
    const reads = emptyReads();
    let permits = false;
    const text: Record<string, string> = {};
    const compared = emptyCompared();
    for (const p of this.policies.values())
      if (scopeMatches(p.json, action, type, id)) {
        ids.push(p.id);
        addReads(p.json, reads);
        addCompared(p.id, p.json, compared);
        text[p.id] = p.text;
        if (p.json.effect === "permit") permits = true;
      }
    const signature = JSON.stringify(ids);
    let setId = this.preparsed.get(signature);
    if (setId === undefined && permits) {
      setId = `g${this.generation}s${this.preparsed.size}`;
      let prepared = false;
      try {
        prepared = this.cedar.preparsePolicySet(setId, { staticPolicies: text }).type === "success";
      } catch {
        // Decided as an error below (fail closed).
      }
      if (prepared) this.preparsed.set(signature, setId);
      else setId = undefined;
    }
    const subset = {
      ids,
      setId,
      permits,
      reads,
      text,
      compared: comparesArguments(compared) ? compared : undefined,
    };
    if (this.subsets.size >= SUBSETS_MAX) this.subsets.delete(this.subsets.keys().next().value as string);
    this.subsets.set(key, subset);
    return subset;
  }

  private context(
    q: CedarQuery,
    reads: Reads,
    args: { [k: string]: CedarValue },
  ): { [k: string]: CedarValue } {
    // Only the members some policy reads (analysis.ts: `context` read whole reads them all): each
    // one the engine parses costs it time, and one no policy reads cannot change the decision.
    const all = reads.context.has("*");
    const context: { [k: string]: CedarValue } = {};
    if (all || reads.context.has("arguments")) context.arguments = args;
    if (all || reads.context.has("protocol")) context.protocol = q.protocol;
    if (all || reads.context.has("time")) context.time = timeRecord(q.now ?? new Date());
    return context;
  }

  /** The entities whose attributes some policy reads, with those attributes only: less for the engine to parse. */
  private entities(q: CedarQuery, reads: Reads): EntityJson[] {
    const out: EntityJson[] = [];
    if (reads.principal.size > 0) out.push(only(principalEntity(q.principal, this.mapping), reads.principal));
    if (reads.resource.size > 0)
      out.push(only(resourceEntity(q.kind, q.server, q.name, q.annotations), reads.resource));
    return out;
  }
}

/**
 * A call whose arguments contradict the tool's declared types (its inputSchema; a prompt's are
 * strings), or the type a policy in scope compares one with: refused before Cedar, which would
 * compare across types as simply unequal and so skip a forbid.
 */
function mistyped(q: CedarQuery, subset: Subset): CedarDecision | undefined {
  const declared = declaredMismatch(q.kind === "prompt" ? PROMPT_ARGUMENTS : q.inputSchema, q.args);
  const m = declared
    ? { ...declared, policies: [] }
    : subset.compared && comparedMismatch(subset.compared, q.args, q.principal);
  if (!m) return undefined;
  const at = m.pointer ? `argument ${m.pointer}` : "the arguments";
  return {
    allowed: false,
    reason: "argument_type_mismatch",
    policies: m.policies,
    detail: `${at}: ${m.detail}`.slice(0, 500),
  };
}

/** Only the arguments some policy reads by name (all when one reads them otherwise): less to convert and send. */
function readArgs(args: unknown, reads: Reads): unknown {
  if (reads.args.has("*") || args === null || typeof args !== "object" || Array.isArray(args)) return args;
  const out: Record<string, unknown> = {};
  for (const name of reads.args)
    if (Object.hasOwn(args, name))
      Object.defineProperty(out, name, {
        value: (args as Record<string, unknown>)[name],
        enumerable: true,
        writable: true,
        configurable: true,
      });
  return out;
}

function only(entity: EntityJson, attrs: ReadonlySet<string>): EntityJson {
  if (attrs.has("*")) return entity;
  const kept: EntityJson["attrs"] = {};
  for (const a of attrs) if (Object.hasOwn(entity.attrs, a)) kept[a] = entity.attrs[a] as never;
  return { uid: entity.uid, attrs: kept, parents: entity.parents };
}

function principalUid(p: Principal): { type: string; id: string } {
  return p.method === "anonymous"
    ? { type: "Anonymous", id: p.source ?? "unknown" }
    : { type: "User", id: p.subject };
}

function errored(policies: string[], detail: string): CedarDecision {
  return { allowed: false, reason: "cedar_error", policies, detail: detail.slice(0, 500) };
}
