import type { CommandGuard } from "./guards/command.js";
import type { PathGuard } from "./guards/path.js";
import { MAX_OWNED_CHECKS, type OwnedPathGuard } from "./guards/path-owned.js";
import { isC0OrSpace, trimEnds } from "./guards/path-owned-words.js";
import { MAX_VALUE_LENGTH } from "./guards/types.js";
import type { GuardDecision } from "./guards/types.js";
import type { UrlGuard } from "./guards/url.js";

/**
 * Which arguments of a tool call the guards check. A plan is compiled once per tool definition from
 * its input schema and the operator's declarations; at call time it walks the *actual* arguments
 * (an attacker controls them, schema or not), bounded in depth and size.
 */

export type ArgumentKind = "path" | "url" | "command";

/**
 * Per tool, from config: a top-level argument name (`target`) or a JSON pointer (`/options/target`,
 * `*` matching any array index or key) → its kind, or `none` to drop a false detection (a `source`
 * that is a news outlet). Declarations win over detection; `file:` URIs are paths even under `none`.
 */
export interface DeclaredArguments {
  readonly [argument: string]: ArgumentKind | "none";
}

export interface ExtractedArgument {
  readonly kind: ArgumentKind;
  /** JSON pointer of the value in the arguments (RFC 6901). */
  readonly pointer: string;
  /** A string; or, for a command given as an array (`["git", "status"]`, or `command` + `args`), its argv. */
  readonly value: string | readonly string[];
}

export type ArgumentProblemCode = "not_a_string" | "too_deep" | "too_large";

/** Something the caller must deny: a guarded argument that is not a string, or arguments too big to walk. */
export interface ArgumentProblem {
  readonly pointer: string;
  readonly kind?: ArgumentKind;
  readonly problem: ArgumentProblemCode;
}

export interface Extraction {
  readonly values: readonly ExtractedArgument[];
  readonly problems: readonly ArgumentProblem[];
  /**
   * Strings under other names that any server could take for a path (`/x`, `~/x`, `./x`, `../x`):
   * only the owned-file guard judges them (a `content` starting with `/` is no path to confine).
   */
  readonly pathLike: readonly ExtractedArgument[];
  /**
   * Every other string under a name no guard classifies: the owned-file guard judges those that,
   * decoded and trimmed, start like a path or name one of its files (`.warden/state.db-wal`).
   */
  readonly unguarded: readonly ExtractedArgument[];
}

export interface ArgumentPlan {
  extract(args: unknown): Extraction;
}

export const MAX_ARGUMENT_DEPTH = 32;
export const MAX_ARGUMENT_NODES = 10_000;
export const MAX_GUARDED_VALUES = 256;
/** Path-like strings under other names: at most this many more (each may cost a realpath). */
export const MAX_PATH_LIKE_VALUES = 256;
const MAX_SCHEMA_DEPTH = 24;

const PATH_NAMES = new Set([
  ...["path", "paths", "file", "files", "filename", "filenames", "filepath", "filepaths", "dir", "dirs"],
  ...["directory", "directories", "folder", "folders", "cwd", "workdir", "root", "roots"],
]);
const PATH_KEYS = new Set(["source", "sources", "destination", "destinations", "src", "dst", "dest"]);
const URL_NAMES = new Set([
  "url",
  "urls",
  "uri",
  "uris",
  "href",
  "hrefs",
  "endpoint",
  "endpoints",
  "link",
  "links",
]);
const COMMAND_NAMES = new Set(["command", "commands", "cmd", "cmdline", "commandline", "script", "shell"]);
const ARGV_SIBLINGS = ["args", "argv", "arguments"];
const URL_FORMATS = new Set(["uri", "url", "iri", "uri-reference", "iri-reference"]);
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;
/** `scheme://…` after what WHATWG URL trims (C0 controls and spaces), so a padded URL is one too. */
// eslint-disable-next-line no-control-regex -- C0 controls are what the URL parser trims
const ABSOLUTE_URL = /^[\u0000-\u0020]*[A-Za-z][A-Za-z0-9+.-]*:\/\//;
/** Absolute, home- or dot-relative, on one line; blanks and quotes around it (some servers strip them). */
const PATH_LIKE = /^[ \t"']*(?:\/|~(?:\/|$)|\.\.?(?:\/|$))[^\n\r]*$/;

/**
 * The readings of `value` to judge as a path when a URL parser would take it for a `file:` URI, else
 * undefined. Decided as WHATWG URL decides (C0 controls and spaces trimmed from both ends, tabs and
 * newlines dropped, scheme case-folded), so ` file:///x` and `fi\tle:///x` are file URIs; the
 * readings are the value as written, as cleaned, and as the parser serialises it.
 */
export function fileUriReadings(value: string): string[] | undefined {
  const trimmed = trimEnds(value, isC0OrSpace);
  // Nothing but a `file` scheme parses to a file: URI (without a base, no scheme is no URL), and a
  // failed parse throws an error whose making costs more than every other check of the call.
  if (!hasFileScheme(trimmed)) return undefined;
  // The scheme as the parser sees it: the first characters once tabs and newlines are dropped.
  const scheme = trimmed.slice(0, 64).replace(/[\t\n\r]/g, "");
  let href: string | undefined;
  // Asked of every value of a guard's size (a huge text cannot be a URI the guards would pass anyway).
  if (value.length <= MAX_VALUE_LENGTH || /^file:/i.test(scheme)) {
    try {
      const url = new URL(value);
      if (url.protocol === "file:") href = url.href;
    } catch {
      // not a URL at all
    }
  }
  if (href === undefined && !/^file:/i.test(scheme)) return undefined;
  const cleaned = trimmed.replace(/[\t\n\r]/g, "");
  return [...new Set([value, cleaned, ...(href !== undefined ? [href] : [])])];
}

const FILE_SCHEME = [0x66, 0x69, 0x6c, 0x65]; // "file", lower case

/** Whether `value` starts with a URL scheme, after what WHATWG URL trims before it. */
function hasScheme(value: string): boolean {
  // eslint-disable-next-line no-control-regex -- what WHATWG URL trims before the scheme
  return SCHEME.test(value.replace(/^[\u0000-\u0020]+/, ""));
}

/**
 * Whether `trimmed` (C0 controls and spaces already trimmed from its ends) starts with `file:` as a
 * WHATWG URL parser reads it: tabs and newlines dropped anywhere, the scheme's ASCII case folded.
 */
function hasFileScheme(trimmed: string): boolean {
  let matched = 0;
  for (let i = 0; i < trimmed.length; i++) {
    const c = trimmed.charCodeAt(i);
    if (c === 0x09 || c === 0x0a || c === 0x0d) continue;
    if (matched === FILE_SCHEME.length) return c === 0x3a;
    // `| 0x20` folds an ASCII capital to its small letter; only F, I, L, E (and f, i, l, e) land on these.
    if ((c | 0x20) !== FILE_SCHEME[matched]) return false;
    matched++;
  }
  return false;
}

/**
 * Names already read (a tool's argument names repeat on every call): bounded, and only short names,
 * so a caller sending endless new names costs memory no more than it costs the reading.
 */
const NAME_KINDS = new Map<string, ArgumentKind | null>();
const MAX_NAME_KINDS = 4096;
const MAX_CACHED_NAME = 64;

/** The kind a property name suggests: its last word (`outputFile`, `base_url`) or its last two joined (`fileName`). */
export function kindFromName(key: string): ArgumentKind | undefined {
  if (key.length > MAX_CACHED_NAME) return readKind(key);
  const known = NAME_KINDS.get(key);
  if (known !== undefined) return known ?? undefined;
  const kind = readKind(key);
  if (NAME_KINDS.size >= MAX_NAME_KINDS) NAME_KINDS.clear();
  NAME_KINDS.set(key, kind ?? null);
  return kind;
}

function readKind(key: string): ArgumentKind | undefined {
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== "");
  const last = words[words.length - 1] ?? "";
  const lastTwo = words.slice(-2).join("");
  if (URL_NAMES.has(last)) return "url";
  if (COMMAND_NAMES.has(last) || COMMAND_NAMES.has(lastTwo)) return "command";
  if (PATH_NAMES.has(last) || PATH_NAMES.has(lastTwo) || PATH_KEYS.has(words.join(""))) return "path";
  return undefined;
}

interface SchemaNode {
  kind?: ArgumentKind;
  types?: Set<string>;
  readonly props: Map<string, SchemaNode>;
  items?: SchemaNode;
  additional?: SchemaNode;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function merge(into: SchemaNode, from: SchemaNode | undefined): SchemaNode {
  if (!from) return into;
  into.kind ??= from.kind;
  if (from.types) into.types = new Set([...(into.types ?? []), ...from.types]);
  for (const [k, v] of from.props)
    into.props.set(k, into.props.has(k) ? merge(into.props.get(k) as SchemaNode, v) : v);
  if (from.items) into.items = merge(into.items ?? { props: new Map() }, from.items);
  if (from.additional) into.additional = merge(into.additional ?? { props: new Map() }, from.additional);
  return into;
}

function resolveRef(root: unknown, ref: string): unknown {
  if (!ref.startsWith("#")) return undefined;
  let node: unknown = root;
  for (const raw of ref.slice(1).split("/").slice(1)) {
    const seg = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
    if (!isRecord(node) || !Object.hasOwn(node, seg)) return undefined;
    node = node[seg];
  }
  return node;
}

function compileSchema(schema: unknown, root: unknown, depth: number): SchemaNode | undefined {
  if (!isRecord(schema) || depth > MAX_SCHEMA_DEPTH) return undefined;
  const node: SchemaNode = { props: new Map() };
  if (typeof schema.$ref === "string")
    merge(node, compileSchema(resolveRef(root, schema.$ref), root, depth + 1));
  const type = schema.type;
  if (typeof type === "string") node.types = new Set([type]);
  else if (Array.isArray(type)) node.types = new Set(type.filter((t): t is string => typeof t === "string"));
  if (typeof schema.format === "string" && URL_FORMATS.has(schema.format)) node.kind = "url";
  if (isRecord(schema.properties)) {
    for (const key of Object.keys(schema.properties)) {
      const child = compileSchema(schema.properties[key], root, depth + 1);
      if (child) node.props.set(key, child);
    }
  }
  const items = Array.isArray(schema.items) ? schema.items : [schema.items];
  for (const item of [...items, ...(Array.isArray(schema.prefixItems) ? schema.prefixItems : [])]) {
    const child = compileSchema(item, root, depth + 1);
    if (child) node.items = merge(node.items ?? { props: new Map() }, child);
  }
  const extra = [
    schema.additionalProperties,
    ...(isRecord(schema.patternProperties) ? Object.values(schema.patternProperties) : []),
  ];
  for (const e of extra) {
    const child = compileSchema(e, root, depth + 1);
    if (child) node.additional = merge(node.additional ?? { props: new Map() }, child);
  }
  for (const key of ["anyOf", "oneOf", "allOf"] as const) {
    const list = schema[key];
    if (Array.isArray(list)) for (const s of list) merge(node, compileSchema(s, root, depth + 1));
  }
  return node;
}

interface Declaration {
  readonly segments: readonly string[];
  readonly kind: ArgumentKind | "none";
}

function compileDeclarations(declared: DeclaredArguments | undefined): Declaration[] {
  if (declared === undefined) return [];
  if (!isRecord(declared)) throw new TypeError("declared arguments must be an object");
  return Object.keys(declared).map((name) => {
    const kind = declared[name];
    if (kind !== "path" && kind !== "url" && kind !== "command" && kind !== "none") {
      throw new TypeError(`argument ${name}: kind must be path, url, command or none`);
    }
    const segments = name.startsWith("/")
      ? name
          .slice(1)
          .split("/")
          .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"))
      : [name];
    return { segments, kind };
  });
}

const escapePointer = (key: string) => key.replace(/~/g, "~0").replace(/\//g, "~1");
const nonString = (node: SchemaNode | undefined) =>
  node?.types !== undefined && [...node.types].some((t) => t !== "string");

/**
 * Compiles the plan for one tool. Detection: property names (at any depth, in the schema or only in
 * the arguments), `format: uri`, any `file:` URI string; a path- or URL-named value that carries a
 * scheme is checked as what it is (`file:` → path, any other → URL, which only http(s) passes).
 * Throws a TypeError on malformed declarations (config errors, reported at load).
 */
export function argumentPlan(inputSchema: unknown, declared?: DeclaredArguments): ArgumentPlan {
  const schema = compileSchema(inputSchema, inputSchema, 0);
  const declarations = compileDeclarations(declared);

  const declaredAt = (segments: readonly string[]): ArgumentKind | "none" | undefined => {
    for (const d of declarations) {
      if (
        d.segments.length === segments.length &&
        d.segments.every((s, i) => s === "*" || s === segments[i])
      ) {
        return d.kind;
      }
    }
    return undefined;
  };

  return Object.freeze({
    extract(args: unknown): Extraction {
      const values: ExtractedArgument[] = [];
      const problems: ArgumentProblem[] = [];
      const pathLike: ExtractedArgument[] = [];
      const unguarded: ExtractedArgument[] = [];
      let nodes = 0;
      let stopped = false;
      const stop = (pointer: string, problem: ArgumentProblemCode) => {
        if (!stopped) problems.push({ pointer, problem });
        stopped = true;
      };
      const emit = (v: ExtractedArgument) => {
        if (values.length >= MAX_GUARDED_VALUES) stop(v.pointer, "too_large");
        else values.push(v);
      };

      const walk = (
        value: unknown,
        node: SchemaNode | undefined,
        pointer: string,
        segments: string[],
        named: ArgumentKind | undefined,
        depth: number,
      ): void => {
        if (stopped) return;
        if (++nodes > MAX_ARGUMENT_NODES) return stop(pointer, "too_large");
        if (depth > MAX_ARGUMENT_DEPTH) return stop(pointer, "too_deep");
        const decl = declarations.length > 0 ? declaredAt(segments) : undefined;
        const kind = decl === "none" ? undefined : (decl ?? node?.kind ?? named);
        if (typeof value === "string") {
          const fileUri = fileUriReadings(value);
          if (fileUri) {
            for (const reading of fileUri) emit({ kind: "path", pointer, value: reading });
            // A URL argument given a file: URI also faces the URL guard, which admits only http(s).
            if (kind === "url") emit({ kind, pointer, value });
          } else if (kind === "command") emit({ kind, pointer, value });
          else if (kind) emit({ kind: hasScheme(value) ? "url" : kind, pointer, value });
          // Whatever its name (`target`, `webhook`, `redirect_to`): an absolute URL is judged as one.
          else if (ABSOLUTE_URL.test(value)) emit({ kind: "url", pointer, value });
          else if (PATH_LIKE.test(value)) {
            if (pathLike.length >= MAX_PATH_LIKE_VALUES) stop(pointer, "too_large");
            else pathLike.push({ kind: "path", pointer, value });
          } else unguarded.push({ kind: "path", pointer, value });
          return;
        }
        if (Array.isArray(value)) {
          if (kind === "command" && value.length > 0 && value.every((v) => typeof v === "string")) {
            return emit({ kind, pointer, value: [...(value as string[])] });
          }
          value.forEach((v, i) =>
            walk(v, node?.items, `${pointer}/${i}`, [...segments, String(i)], kind, depth + 1),
          );
          return;
        }
        if (isRecord(value)) {
          if (kind && (decl !== undefined || (node?.types?.size === 1 && node.types.has("string")))) {
            problems.push({ pointer, kind, problem: "not_a_string" });
          }
          const argv = ARGV_SIBLINGS.find((k) => Object.hasOwn(value, k) && Array.isArray(value[k]));
          for (const key of Object.keys(value)) {
            const child = node?.props.get(key) ?? node?.additional;
            const childPointer = `${pointer}/${escapePointer(key)}`;
            const childKind = kindFromName(key);
            const v = value[key];
            // `{ command: "sh", args: ["-c", "..."] }`: the program and its argv are judged together
            if (
              argv &&
              childKind === "command" &&
              typeof v === "string" &&
              declaredAt([...segments, key]) !== "none"
            ) {
              const rest = value[argv] as unknown[];
              if (rest.every((a) => typeof a === "string")) {
                emit({ kind: "command", pointer: childPointer, value: [v, ...(rest as string[])] });
                continue;
              }
            }
            walk(v, child, childPointer, [...segments, key], childKind, depth + 1);
          }
          return;
        }
        // a number, boolean or null where a guarded string belongs
        if (kind && (decl !== undefined || !nonString(node)))
          problems.push({ pointer, kind, problem: "not_a_string" });
      };

      walk(args, schema, "", [], undefined, 0);
      return { values, problems, pathLike, unguarded };
    },
  });
}

/** The guards configured for one tool (a kind without a guard is not restricted: configure it). */
export interface ArgumentGuards {
  /**
   * The gateway's own files: refused to every path argument, every command word that may be a path,
   * and every string anywhere that starts like a path or names one of them.
   */
  readonly owned?: OwnedPathGuard;
  readonly path?: PathGuard;
  readonly url?: UrlGuard;
  /** Without `url` (no allowed_domains): every URL is still refused a cloud metadata service. */
  readonly metadata?: UrlGuard;
  readonly command?: CommandGuard;
}

export type ArgumentDecision =
  | { readonly allowed: true }
  | {
      readonly allowed: false;
      /** A guard's reason, or `invalid_arguments` when the arguments cannot be walked at all. */
      readonly reason: "path_not_allowed" | "domain_not_allowed" | "command_denied" | "invalid_arguments";
      readonly detail: string;
      readonly pointer: string;
    };

const REASON = { path: "path_not_allowed", url: "domain_not_allowed", command: "command_denied" } as const;

/**
 * Extracts and checks, first denial wins. Problems deny when their kind is guarded (or always, for
 * arguments too large to walk). Never throws: an error is a denial.
 */
export async function checkArguments(
  plan: ArgumentPlan,
  guards: ArgumentGuards,
  args: unknown,
): Promise<ArgumentDecision> {
  try {
    const { values, problems, pathLike, unguarded } = plan.extract(args);
    for (const p of problems) {
      if (p.kind === undefined) {
        return {
          allowed: false,
          reason: "invalid_arguments",
          detail: "arguments too large to inspect",
          pointer: p.pointer,
        };
      }
      if (guards[p.kind]) {
        return {
          allowed: false,
          reason: REASON[p.kind],
          detail: `${p.kind} argument is not a string`,
          pointer: p.pointer,
        };
      }
    }
    const owned = guards.owned;
    // Strings judged for the owned files beyond the guarded values: each costs filesystem calls.
    const budget = { left: MAX_OWNED_CHECKS };
    for (const v of values) {
      let d: GuardDecision | undefined;
      const value = v.value;
      if (owned) {
        if (v.kind === "path" && typeof value === "string") d = await owned.check(value);
        // A URL argument a server reads as a path (no scheme), and every word a command passes on.
        else if (v.kind === "url" && typeof value === "string") d = await owned.checkText(value, budget);
        else if (v.kind === "command") d = await owned.checkCommand(value, budget);
        if (d && !d.allowed) return { ...d, pointer: v.pointer };
      }
      if (v.kind === "command") d = guards.command?.check(v.value);
      else if (v.kind === "url" && typeof v.value === "string")
        d = await (guards.url ?? guards.metadata)?.check(v.value);
      else if (typeof v.value === "string") d = await guards[v.kind]?.check(v.value);
      if (d && !d.allowed) return { ...d, pointer: v.pointer };
    }
    for (const v of owned ? pathLike : []) {
      const d = typeof v.value === "string" ? await owned?.check(v.value) : undefined;
      if (d && !d.allowed) return { ...d, pointer: v.pointer };
    }
    for (const v of owned ? unguarded : []) {
      const d = typeof v.value === "string" ? await owned?.checkText(v.value, budget) : undefined;
      if (d && !d.allowed) return { ...d, pointer: v.pointer };
    }
    return { allowed: true };
  } catch {
    return {
      allowed: false,
      reason: "invalid_arguments",
      detail: "arguments could not be checked",
      pointer: "",
    };
  }
}
