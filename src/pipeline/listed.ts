import type { JsonObject } from "../jsonrpc.js";
import type { ItemKind } from "../policy/access.js";
import type { ToolBinding } from "../gateway/virtual/server.js";
import type { ListOutcome } from "./context.js";

/** Which field of a listed item is its name for a decision. */
const LISTED: Readonly<Record<ListOutcome["key"], { kind: ItemKind; field: string }>> = {
  tools: { kind: "tool", field: "name" },
  prompts: { kind: "prompt", field: "name" },
  resources: { kind: "resource", field: "uri" },
  resourceTemplates: { kind: "resource", field: "uriTemplate" },
};

/**
 * Keeps the items of a list that `keep` allows, asked with each item's kind, server and name (a
 * resource's URI or template, and on a virtual route the curated tool it is shown as); an item
 * without a name is dropped. One rule for every stage that filters lists by the same decision as
 * calls (scopes, Cedar).
 */
export function filterListed(
  outcome: ListOutcome,
  keep: (kind: ItemKind, server: string, name: string, item: JsonObject, binding?: ToolBinding) => boolean,
): void {
  const { kind, field } = LISTED[outcome.key];
  outcome.items = outcome.items.filter(({ server, item, binding }) => {
    const name = item[field];
    return typeof name === "string" && keep(kind, server, name, item, binding);
  });
}
