import MiniSearch from "minisearch";
import { invalidParams } from "../../errors.js";
import type { JsonObject } from "../../jsonrpc.js";
import { isObject } from "../../jsonrpc.js";
import { CALL_TOOL, SEARCH_TOOL } from "../../config/virtual.js";

export const MAX_QUERY_CHARS = 1_000;
export const DEFAULT_LIMIT = 5;
export const MAX_LIMIT = 50;

/** What a `search: true` endpoint lists instead of its catalog. */
const SEARCH_TOOL_DEF: JsonObject = {
  name: SEARCH_TOOL,
  title: "Search tools",
  description:
    "Finds the tools you may call here for a task, best match first. Describe the task in a few words; " +
    "then call the tool you chose with call_tool.",
  inputSchema: {
    type: "object",
    properties: {
      query: { type: "string", description: "What you want to do, in a few words" },
      limit: { type: "integer", minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT },
    },
    required: ["query"],
  },
  annotations: { readOnlyHint: true, openWorldHint: false },
};
const CALL_TOOL_DEF: JsonObject = {
  name: CALL_TOOL,
  title: "Call a tool",
  description: "Calls a tool that search_tools found, by its name, with its arguments.",
  inputSchema: {
    type: "object",
    properties: {
      name: { type: "string", description: "The tool's name as search_tools gave it" },
      arguments: { type: "object", description: "The tool's arguments, as its inputSchema describes" },
    },
    required: ["name"],
  },
};
export const SEARCH_TOOLS: readonly JsonObject[] = Object.freeze([SEARCH_TOOL_DEF, CALL_TOOL_DEF]);

interface Doc {
  readonly id: number;
  readonly name: string;
  readonly title: string;
  readonly description: string;
  readonly args: string;
}

/** Words of a name or text: `create_issue`, `createIssue` and `create-issue` are "create issue". */
function tokenize(text: string): string[] {
  return text
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .split(/[^\p{L}\p{N}]+/u)
    .filter((t) => t.length > 0);
}

/**
 * Words that say nothing about which tool ("on" would match every "on call" tool): left out of
 * the index and of queries alike.
 */
const STOP_WORDS: ReadonlySet<string> = new Set(
  (
    "a an and are as at be by can do does for from has have how i if in into is it its me my of on " +
    "or our please that the their them then there these this to us was we what when where which who " +
    "why will with you your"
  ).split(" "),
);

/**
 * How people ask for the verbs tools are named by (create, get, list, update, delete, search): a
 * query's "remove" also looks for "delete", at half weight. Generic to CRUD-shaped tools, never
 * tuned to one catalog; the query's own words still count in full.
 */
const VERB_OF: Readonly<Record<string, string>> = {
  add: "create",
  new: "create",
  make: "create",
  open: "create",
  post: "create",
  send: "create",
  write: "create",
  publish: "create",
  upload: "create",
  schedule: "create",
  show: "list",
  display: "list",
  latest: "list",
  recent: "list",
  fetch: "get",
  read: "get",
  view: "get",
  detail: "get",
  download: "get",
  change: "update",
  edit: "update",
  modify: "update",
  move: "update",
  rename: "update",
  scale: "update",
  remove: "delete",
  cancel: "delete",
  drop: "delete",
  destroy: "delete",
  erase: "delete",
  find: "search",
  look: "search",
};

/** The query's words, then the tool verbs they stand for (weighted by `boostTerm`). */
function expand(query: string): { text: string; own: number } {
  const words = tokenize(query)
    .map(processTerm)
    .filter((w): w is string => w !== null);
  const verbs = [...new Set(words.flatMap((w) => (Object.hasOwn(VERB_OF, w) ? [VERB_OF[w] as string] : [])))];
  return { text: [...words, ...verbs.filter((v) => !words.includes(v))].join(" "), own: words.length };
}

/** Lower case, and the plural or third-person `s` off, so "issues" finds "issue" and back. */
function processTerm(term: string): string | null {
  const t = term.toLowerCase();
  if (t.length <= 1 || STOP_WORDS.has(t)) return null;
  if (t.length > 4 && t.endsWith("ies")) return `${t.slice(0, -3)}y`;
  if (t.length > 3 && t.endsWith("s") && !t.endsWith("ss")) return t.slice(0, -1);
  return t;
}

function text(v: unknown): string {
  return typeof v === "string" ? v : "";
}

function argumentNames(tool: JsonObject): string {
  const schema = isObject(tool.inputSchema) ? tool.inputSchema : undefined;
  const props = schema && isObject(schema.properties) ? schema.properties : {};
  return Object.keys(props).join(" ");
}

/**
 * BM25+ ranking (MiniSearch) of the tools one caller may call, over names, titles, descriptions
 * and argument names; no network, no model. An index is kept per distinct list (a hash of it), so
 * a caller's repeated searches reuse it until its servers' lists change.
 */
export class ToolSearch {
  private key = "";
  private index: MiniSearch<Doc> | undefined;
  private tools: readonly JsonObject[] = [];

  rank(tools: readonly JsonObject[], query: string, limit: number): JsonObject[] {
    this.ensure(tools);
    const { text, own } = expand(query);
    const hits = (this.index as MiniSearch<Doc>).search(text, {
      boostTerm: (_term, i) => (i < own ? 1 : 0.5),
      boost: { name: 3, title: 2, description: 1, args: 1 },
      prefix: (term) => term.length >= 4,
      fuzzy: false,
      combineWith: "OR",
    });
    return hits.slice(0, limit).map((h) => this.tools[h.id as number] as JsonObject);
  }

  private ensure(tools: readonly JsonObject[]): void {
    // What is indexed, as one string: the same list again (the usual case) reuses the index.
    const key = tools
      .map(
        (t) => `${text(t.name)}\u0000${text(t.title)}\u0000${text(t.description)}\u0000${argumentNames(t)}`,
      )
      .join("\u0001");
    if (key === this.key && this.index) return;
    const index = new MiniSearch<Doc>({
      fields: ["name", "title", "description", "args"],
      idField: "id",
      tokenize,
      processTerm,
    });
    index.addAll(
      tools.map((t, id) => ({
        id,
        name: text(t.name),
        title: text(t.title),
        description: text(t.description),
        args: argumentNames(t),
      })),
    );
    this.index = index;
    this.tools = tools;
    this.key = key;
  }
}

/** `search_tools` arguments, checked: a query of bounded length and a limit within 1…MAX_LIMIT. */
export function searchArguments(args: unknown): { query: string; limit: number } {
  if (!isObject(args)) throw invalidParams("search_tools needs arguments { query, limit? }");
  const { query, limit } = args;
  if (typeof query !== "string" || query.trim().length === 0)
    throw invalidParams("query must be a non-empty string");
  if (query.length > MAX_QUERY_CHARS)
    throw invalidParams(`query must be at most ${MAX_QUERY_CHARS} characters`);
  if (
    limit !== undefined &&
    (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT)
  )
    throw invalidParams(`limit must be an integer from 1 to ${MAX_LIMIT}`);
  return { query, limit: limit ?? DEFAULT_LIMIT };
}

/** The result of `search_tools`: each tool's definition as a direct list would show it. */
export function searchResult(found: readonly JsonObject[]): JsonObject {
  const tools = found.map((t) => ({ ...t }));
  return {
    content: [
      {
        type: "text",
        text:
          tools.length === 0
            ? "No tool you may call matches."
            : tools.map((t) => JSON.stringify(t)).join("\n"),
      },
    ],
    structuredContent: { tools },
  };
}

/** The request a `call_tool` stands for: the named tool with its arguments, same id. */
export function unwrapCallTool<T extends { params?: JsonObject }>(request: T): T {
  const args = request.params?.arguments;
  if (!isObject(args)) throw invalidParams("call_tool needs arguments { name, arguments? }");
  if (typeof args.name !== "string" || args.name.length === 0)
    throw invalidParams("name must be a non-empty string");
  if (args.name === CALL_TOOL || args.name === SEARCH_TOOL)
    throw invalidParams(`${args.name} cannot call itself`);
  const inner = args.arguments;
  if (inner !== undefined && !isObject(inner)) throw invalidParams("arguments must be an object");
  const params: JsonObject = { ...request.params, name: args.name };
  if (inner === undefined) delete params.arguments;
  else params.arguments = inner;
  return { ...request, params };
}
