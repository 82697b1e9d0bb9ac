import { UriTemplate } from "@modelcontextprotocol/sdk/shared/uriTemplate.js";
import type { JsonObject } from "../jsonrpc.js";
import type { ListOutcome } from "../pipeline/context.js";

/**
 * Which server owns a resource URI in an aggregate route: the URIs and templates each server
 * listed to the session. A URI two servers list goes to the first in config order (the order
 * the items are gathered in): deterministic, whatever answered first.
 */
export class ResourceIndex {
  private readonly uris = new Map<string, string>();
  private templates: Array<{ server: string; raw: string; t: UriTemplate; item: JsonObject }> = [];

  remember(resources: ListOutcome["items"] | undefined, templates: ListOutcome["items"] | undefined): void {
    for (const { server, item } of resources ?? []) {
      if (typeof item.uri === "string" && !this.uris.has(item.uri)) this.uris.set(item.uri, server);
    }
    if (!templates) return;
    this.templates = [];
    for (const { server, item } of templates) {
      if (typeof item.uriTemplate !== "string") continue;
      try {
        this.templates.push({ server, raw: item.uriTemplate, t: new UriTemplate(item.uriTemplate), item });
      } catch {
        // An unparsable template cannot route anything; it is still listed for the client.
      }
    }
  }

  /** The templates of `server` (as listed) that `uri` matches: what a read of it is governed by. */
  templatesMatching(server: string, uri: string): JsonObject[] {
    return this.templates.filter((x) => x.server === server && x.t.match(uri) !== null).map((x) => x.item);
  }

  /** The owner of a URI, or of a template given as written (completion of a template). */
  lookup(uri: string): string | undefined {
    const exact = this.uris.get(uri);
    if (exact) return exact;
    for (const { server, raw, t } of this.templates) if (raw === uri || t.match(uri)) return server;
    return undefined;
  }
}
