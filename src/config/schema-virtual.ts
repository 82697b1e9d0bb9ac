import * as z from "zod";

/** A virtual server's name is a URL path segment (`/v/{name}/mcp`), spelled like a server's. */
const virtualName = z
  .string()
  .regex(/^[a-z0-9](?:[a-z0-9-]{0,62})$/, "lowercase letters, digits and '-', at most 63 characters");

/** What MCP allows in a tool name (SEP-986): what a renamed tool may be called. */
const toolName = z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, "letters, digits, '_', '-' and '.', 1 to 128");

/** `server/tool`, the tool part a name or a glob (`*`, `?`, `[…]`, `{a,b}`). */
const selector = z
  .string()
  .max(300)
  .regex(/^[a-z0-9][a-z0-9-]{0,62}\/.+$/, "server/tool (the tool part may be a glob)");

const argumentName = z.string().min(1).max(200);

/** A JSON value as YAML gives it (bounded by the config's own size). */
const jsonValue: z.ZodType<unknown> = z.json();

const virtualTool = z.strictObject({
  /** `server/tool`, or `server/glob` for every tool of the server the glob matches. */
  tool: selector,
  /** What callers see the tool as (one tool only: not with a glob). */
  name: toolName.optional(),
  title: z.string().min(1).max(200).optional(),
  /** Replaces the upstream's description in what callers see (the upstream's is still pinned and scanned). */
  description: z.string().min(1).max(8_000).optional(),
  arguments: z
    .strictObject({
      /** Injected into every call and removed from the schema callers see; a caller who sets one is refused. */
      fixed: z.record(argumentName, jsonValue).default({}),
      /** Fill absent arguments; shown as the schema's `default`. */
      defaults: z.record(argumentName, jsonValue).default({}),
      /** Optional arguments removed from the schema; a caller who sets one is refused. */
      hide: z.array(argumentName).max(200).default([]),
    })
    .prefault({}),
  /** MCP tool annotations shown instead of the upstream's (each key given replaces that key). */
  annotations: z
    .strictObject({
      title: z.string().min(1).max(200).optional(),
      readOnlyHint: z.boolean().optional(),
      destructiveHint: z.boolean().optional(),
      idempotentHint: z.boolean().optional(),
      openWorldHint: z.boolean().optional(),
    })
    .optional(),
});

/** `virtual_servers[]`: curated endpoints at `/v/{name}/mcp` (docs/virtual-servers.md). */
export const virtualServerSchema = z.strictObject({
  name: virtualName,
  tools: z.array(virtualTool).max(10_000).default([]),
  /** `server/prompt-or-glob`: prompts shown under their own names. */
  prompts: z.array(selector).max(1_000).default([]),
  /** Server names whose resources and resource templates the endpoint serves. */
  resources: z.array(z.string().min(1).max(63)).max(1_000).default([]),
  /** List only `search_tools` and `call_tool` instead of the catalog. */
  search: z.boolean().default(false),
});

export type VirtualServerDocument = z.output<typeof virtualServerSchema>;
