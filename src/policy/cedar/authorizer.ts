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
import { prepareResidual, type Residual } from "./residuals.js";
import { toolOf, toolPolicyProblems } from "./tool-schema.js";
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
  /**
   * For `mayAllow` on a virtual route: the arguments the gateway fixes (docs/virtual-servers.md),
   * which every call to the item carries whatever its caller sends.
   */
  readonly fixed?: Readonly<Record<string, unknown>>;
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

/** One request as the engine gets it. */
interface Request {
  readonly principal: { type: string; id: string };
  readonly action: string;
  readonly uid: { type: string; id: string };
  readonly context: { [k: string]: CedarValue };
  readonly entities: EntityJson[];
}

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
const RESIDUALS_MAX = 1024;
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
  /** What each policy reads, by id (for judging a virtual tool's fixed arguments in lists). */
  private readonly reads: ReadonlyMap<string, Reads>;
  /** Input schemas already checked against their tool's policies (toolProblems), by object and by text. */
  private readonly checkedSchemas = new WeakSet<object>();
  /** The policies written for one tool that read its arguments, by tool id (server/name). */
  private readonly argumentPolicies = new Map<string, LoadedPolicy[]>();
  private readonly checkedTexts = new Set<string>();
  private readonly preparsed = new Map<string, string>();
  private readonly listCache = new Map<string, { until: number; shown: boolean }>();
  private readonly memo = new Map<string, CedarDecision>();
  /**
   * Per caller attributes and item (everything but the arguments): its residual set once it was
   * asked twice, `null` when partial evaluation is not usable for it, absent when seen once.
   */
  private readonly residuals = new Map<string, Residual | null | "seen">();
  private residualIds = 0;

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
    this.reads = new Map(policies.map((p) => [p.id, addReads(p.json, emptyReads())]));
    this.readsAnnotations = [...this.reads.values()].some((r) => r.annotations);
    for (const p of policies) {
      const tool = toolOf(p);
      if (tool === undefined || (this.reads.get(p.id)?.args.size ?? 0) === 0) continue;
      const list = this.argumentPolicies.get(tool);
      if (list) list.push(p);
      else this.argumentPolicies.set(tool, [p]);
    }
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
    const request: Request = { principal: principalUid(q.principal), action, uid, context, entities };
    // Cedar is deterministic: the same request to the same set gets the same answer. Remembered
    // when what the engine would see is small (a call whose policies read only who calls, or a few
    // short arguments), keyed by all of it.
    // Who and which item, written once: part of this key and of the residual's.
    const caller = JSON.stringify([request.principal, uid, entities]);
    const key = `${action}\u0000${caller}\u0000${JSON.stringify(context)}`;
    if (key.length > MEMO_KEY_MAX) return this.fresh(subset, request, caller);
    const hit = this.memo.get(key);
    if (hit) return hit;
    const d = this.fresh(subset, request, caller);
    if (this.memo.size >= MEMO_MAX) this.memo.clear();
    this.memo.set(key, d);
    return d;
  }

  /**
   * A decision not remembered. When the policies read the arguments and this caller and item were
   * decided before, by the residual set (residuals.ts): fewer policies, and often nothing but the
   * arguments for the engine to parse.
   */
  private fresh(subset: Subset, r: Request, caller: string): CedarDecision {
    const reads = subset.reads;
    // Not worth it when the arguments are not read (remembered whole), nor when the clock is
    // (a residual would last a second).
    if (!reads.context.has("arguments") || reads.context.has("*") || reads.context.has("time"))
      return this.evaluate(r, subset.setId as string, r.context, r.entities);
    const { arguments: args, ...rest } = r.context;
    const rkey = `${subset.setId as string}\u0000${caller}\u0000${JSON.stringify(rest)}`;
    let residual = this.residuals.get(rkey);
    if (residual === undefined || residual === "seen") {
      if (residual === undefined) {
        // Seen once: prepared only when asked again (a one-off caller costs no partial evaluation).
        this.remember(rkey, "seen");
        return this.evaluate(r, subset.setId as string, r.context, r.entities);
      }
      const setId = `g${this.generation}r${this.residualIds++}`;
      residual =
        prepareResidual(
          this.cedar,
          setId,
          { principal: r.principal, action: r.action, resource: r.uid, context: rest, entities: r.entities },
          subset.text,
        ) ?? null;
      // Checked once against the whole set on this very request: a residual set that decides it
      // otherwise is never used (the whole set decides, as for a caller seen once).
      const whole = this.evaluate(r, subset.setId as string, r.context, r.entities);
      if (residual && !same(whole, this.byResidual(r, residual, args))) {
        this.free(residual.setId);
        residual = null;
      }
      this.remember(rkey, residual);
      return whole;
    }
    if (residual === null) return this.evaluate(r, subset.setId as string, r.context, r.entities);
    return this.byResidual(r, residual, args);
  }

  private byResidual(r: Request, residual: Residual, args: CedarValue | undefined): CedarDecision {
    return residual.readsRequest
      ? this.evaluate(r, residual.setId, r.context, r.entities)
      : this.evaluate(r, residual.setId, { arguments: args ?? {} }, []);
  }

  private remember(key: string, value: Residual | null | "seen"): void {
    const old = this.residuals.get(key);
    if (old === undefined && this.residuals.size >= RESIDUALS_MAX) {
      const [first, evicted] = this.residuals.entries().next().value as [string, Residual | null | "seen"];
      this.residuals.delete(first);
      if (evicted !== null && evicted !== "seen") this.free(evicted.setId);
    }
    this.residuals.set(key, value);
  }

  private free(setId: string): void {
    try {
      this.cedar.preparsePolicySet(setId, { staticPolicies: "" });
    } catch {
      // Nothing to free.
    }
  }

  private evaluate(
    r: Request,
    setId: string,
    context: { [k: string]: CedarValue },
    entities: EntityJson[],
  ): CedarDecision {
    try {
      const answer = this.cedar.statefulIsAuthorized({
        principal: r.principal,
        action: { type: "Action", id: r.action },
        resource: r.uid,
        context,
        entities,
        preparsedPolicySetId: setId,
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
   * arguments unknown, shown unless the answer is a definite deny. A virtual tool with fixed
   * arguments is also hidden when those alone decide a deny (fixedDenies). Never throws; an error
   * hides.
   */
  mayAllow(q: CedarQuery): boolean {
    const shown = this.mayAllowAny(q);
    return shown && !(q.fixed && Object.keys(q.fixed).length > 0 && this.fixedDenies(q, q.fixed));
  }

  /**
   * Whether the fixed arguments alone make every call to the item denied, whatever its caller adds:
   * a fixed value of the wrong type for the tool's declared types (`q.inputSchema`, the upstream
   * tool's) or for a policy's comparison; a forbid reading no other argument that matches, or errs,
   * on the fixed ones; or every permit reading no other argument, and none allowing. Policies that
   * read an argument a caller sets are left out of the judgement (they prove nothing), so one of
   * them erring on the fixed values alone does not keep a denied tool listed. Cached like lists.
   */
  private fixedDenies(q: CedarQuery, fixed: Readonly<Record<string, unknown>>): boolean {
    const action = ACTION_OF[q.kind];
    const uid = resourceUid(q.kind, q.server, q.name);
    const subset = this.subset(action, uid.type, uid.id);
    let key: string | undefined;
    try {
      const entities = this.entities(q, subset.reads);
      key = JSON.stringify(["fixed", principalUid(q.principal), action, uid, entities, q.protocol, fixed]);
    } catch {
      key = undefined;
    }
    const now = Date.now();
    const hit = key === undefined ? undefined : this.listCache.get(key);
    if (hit && hit.until > now) return !hit.shown;
    const denied = this.judgeFixed(q, fixed, subset);
    if (key !== undefined && key.length <= MEMO_KEY_MAX * 4) {
      if (this.listCache.size >= LIST_CACHE_MAX) this.listCache.clear();
      this.listCache.set(key, { until: now + LIST_CACHE_MS, shown: !denied });
    }
    return denied;
  }

  private judgeFixed(q: CedarQuery, fixed: Readonly<Record<string, unknown>>, subset: Subset): boolean {
    if (q.kind !== "resource" && mistyped({ ...q, args: fixed }, subset)) return true;
    const onlyFixed = (id: string) => {
      const r = this.reads.get(id);
      return r !== undefined && !r.context.has("*") && [...r.args].every((a) => Object.hasOwn(fixed, a));
    };
    const effect = (id: string) => this.policies.get(id)?.json.effect;
    const forbids = subset.ids.filter((id) => effect(id) === "forbid" && onlyFixed(id));
    if (forbids.length > 0 && this.deniedBy(q, fixed, forbids, true)) return true;
    const permits = subset.ids.filter((id) => effect(id) === "permit");
    return permits.length > 0 && permits.every(onlyFixed) && this.deniedBy(q, fixed, permits, false);
  }

  /**
   * The request with the fixed values as its only arguments, decided by the policies `ids` alone
   * (and a permit of everything when `permitAll`): whether it is denied. An error counts as a
   * deny: these policies read nothing but fixed values, so what errs here errs on every call, and
   * an erring policy denies the call (cedar_error). An engine failure hides too, as in `mayAllow`.
   */
  private deniedBy(
    q: CedarQuery,
    fixed: Readonly<Record<string, unknown>>,
    ids: readonly string[],
    permitAll: boolean,
  ): boolean {
    const reads = emptyReads();
    const text: Record<string, string> = {};
    for (const id of ids) {
      const p = this.policies.get(id) as LoadedPolicy;
      addReads(p.json, reads);
      text[id] = p.text;
    }
    if (permitAll) text["\u0000every call"] = "permit (principal, action, resource);";
    let context: { [k: string]: CedarValue };
    try {
      context = this.context(q, reads, argumentsRecord(readArgs(fixed, reads)));
    } catch {
      // A fixed value these policies read that Cedar cannot carry: every call errs the same way.
      return true;
    }
    try {
      const answer = this.cedar.isAuthorized({
        principal: principalUid(q.principal),
        action: { type: "Action", id: ACTION_OF[q.kind] },
        resource: resourceUid(q.kind, q.server, q.name),
        context,
        entities: this.entities(q, reads),
        policies: { staticPolicies: text },
      });
      if (answer.type === "failure") return true;
      return answer.response.diagnostics.errors.length > 0 || answer.response.decision === "deny";
    } catch {
      return true;
    }
  }

  private mayAllowAny(q: CedarQuery): boolean {
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

  /**
   * The problems of the policies written for one tool (`resource == Tool::"server/name"`) that read
   * its arguments, against its input schema as listed (tool-schema.ts): returned the first time a
   * tool is listed with a given schema, undefined after (and when no such policy exists), so each
   * is reported once. Never throws.
   */
  toolProblems(server: string, name: string, inputSchema: unknown): readonly string[] | undefined {
    const id = `${server}/${name}`;
    const written = this.argumentPolicies.get(id);
    if (written === undefined) return undefined;
    if (inputSchema === null || typeof inputSchema !== "object" || this.checkedSchemas.has(inputSchema))
      return undefined;
    this.checkedSchemas.add(inputSchema);
    let text: string;
    try {
      text = `${id}\u0000${JSON.stringify(inputSchema)}`;
    } catch {
      return undefined;
    }
    if (this.checkedTexts.has(text)) return undefined;
    if (this.checkedTexts.size >= LIST_CACHE_MAX) this.checkedTexts.clear();
    this.checkedTexts.add(text);
    return toolPolicyProblems(this.cedar, written, inputSchema, (pid) => this.reads.get(pid)?.args);
  }

  /** Frees the engine's copies of this set's subsets (after a reload replaced it). */
  release(): void {
    for (const id of this.preparsed.values()) this.free(id);
    for (const r of this.residuals.values()) if (r !== null && r !== "seen") this.free(r.setId);
    this.preparsed.clear();
    this.residuals.clear();
    this.subsets.clear();
    this.memo.clear();
    this.listCache.clear();
    this.checkedTexts.clear();
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

/** Whether two decisions agree (allowed, reason and policies; the detail text may differ). */
function same(a: CedarDecision, b: CedarDecision): boolean {
  const ids = (d: CedarDecision) => [...d.policies].sort().join("\u0000");
  return a.allowed === b.allowed && (a.allowed || b.allowed || a.reason === b.reason) && ids(a) === ids(b);
}

function errored(policies: string[], detail: string): CedarDecision {
  return { allowed: false, reason: "cedar_error", policies, detail: detail.slice(0, 500) };
}
