import { upstreamUnavailable, invalidParams } from "../errors.js";
import type { Id, JsonObject } from "../jsonrpc.js";
import { isObject } from "../jsonrpc.js";
import type { Logger } from "../log.js";
import type { CatalogView, ListOutcome } from "../pipeline/context.js";
import { hasCapability } from "./capabilities.js";
import { ResourceIndex } from "./resource-index.js";
import type { Route } from "./route.js";

const MAX_LIST_PAGES = 100;

/** How the catalog reaches its servers: the session's connections. */
export interface CatalogSource {
  /** One page of a list from `server` (its connection may reuse a page other callers fetched). */
  list(
    server: string,
    method: string,
    cursor: string | undefined,
    signal?: AbortSignal,
    related?: Id,
  ): Promise<JsonObject>;
  /** The server's `initialize` result, once its connection opened. */
  init(server: string): JsonObject | undefined;
  /** An upstream's error to a list, protected like a call's (server-texts.ts). */
  error(server: string, method: string, err: unknown): Promise<unknown>;
}

export type ListItems = ListOutcome["items"];

/**
 * What one caller has been shown of its route's servers: the tool and prompt definitions each
 * server listed (which the supply-chain and argument stages judge calls against), and the resource
 * index that says which server owns a URI. Filled by the caller's own lists and fetched on demand;
 * a server's `list_changed` empties its part.
 */
export class Catalog implements CatalogView {
  private resources: ResourceIndex | undefined;
  /** Key `kind\0server` → name → definition. */
  private readonly definitions = new Map<string, Map<string, JsonObject>>();
  /** `toolNames()`, kept until a tool list is fetched again or forgotten (it is read on every call). */
  private names: readonly string[] | undefined;

  constructor(
    private readonly route: Route,
    private readonly source: CatalogSource,
    private readonly log: Logger,
  ) {}

  /** A tool's input schema from the server's current list (the argument guards' map of it). */
  async inputSchema(server: string, tool: string): Promise<unknown> {
    try {
      return (await this.definition(server, "tool", tool))?.inputSchema;
    } catch {
      // Unknown schema: the guards still walk the actual arguments by name.
      return undefined;
    }
  }

  /**
   * An item's definition from the server's current list, fetched when this caller has none (or the
   * server announced a change). Undefined only when the server lists no such item, or proved at
   * initialize that it has no such list; a list that could not be read throws the server's own
   * error: unknown must be refused, not waved through.
   */
  async definition(server: string, kind: "tool" | "prompt", name: string): Promise<JsonObject | undefined> {
    return (await this.items(server, kind))?.get(name);
  }

  listed(server: string, kind: "tool" | "prompt"): ReadonlyMap<string, JsonObject> | undefined {
    return this.definitions.get(`${kind}\u0000${server}`);
  }

  /** A server's whole current list of `kind` by name, fetched (strictly) when this caller has none. */
  private async items(
    server: string,
    kind: "tool" | "prompt",
  ): Promise<ReadonlyMap<string, JsonObject> | undefined> {
    const key = `${kind}\u0000${server}`;
    if (!this.definitions.has(key)) {
      // Strict: the server's own error (auth failed, down) is the answer, never "unknown".
      await this.gather(
        kind === "tool" ? "tools/list" : "prompts/list",
        `${kind}s`,
        [server],
        undefined,
        true,
      );
      if (!this.definitions.has(key)) {
        const init = this.source.init(server);
        if (init && !hasCapability(init, `${kind}s`)) return undefined;
        throw upstreamUnavailable(server, "upstream_unavailable", `its ${kind} list could not be read`);
      }
    }
    return this.definitions.get(key);
  }

  toolNames(): readonly string[] {
    if (this.names) return this.names;
    const names: string[] = [];
    for (const [key, tools] of this.definitions) {
      const [kind, server] = key.split("\u0000") as [string, string];
      if (kind !== "tool") continue;
      for (const tool of tools.keys()) names.push(tool, this.route.exposeName(server, tool));
    }
    this.names = names;
    return names;
  }

  async resourceTemplatesFor(server: string, uri: string): Promise<readonly JsonObject[]> {
    if (!this.resources) await this.indexResources();
    return this.resources?.templatesMatching(server, uri) ?? [];
  }

  /** The servers of the route (for resources: those the route serves them from) that declared `capability`. */
  serversWith(capability: string): string[] {
    const servers = capability === "resources" ? this.route.serversFor("resources") : this.route.servers;
    return servers.filter((s) => hasCapability(this.source.init(s), capability));
  }

  /**
   * A server's tools by name, as its current list has them (fetched when this caller has none);
   * undefined when the list cannot be read or the server has no tools. A virtual route resolves
   * its names against these.
   */
  toolList(server: string): Promise<ReadonlyMap<string, JsonObject> | undefined> {
    return this.items(server, "tool").catch(() => undefined);
  }

  /** The server that owns a resource URI (an aggregate route asks the servers' lists). */
  async serverForUri(uri: string): Promise<string> {
    if (!this.route.aggregate) return this.route.servers[0] as string;
    const found = this.resources?.lookup(uri);
    if (found) return found;
    await this.indexResources();
    const again = this.resources?.lookup(uri);
    if (again) return again;
    const owners = this.serversWith("resources");
    if (owners.length === 1) return owners[0] as string;
    throw invalidParams(`no server owns resource ${uri.slice(0, 200)}`);
  }

  /** What a list the caller was given adds to what it may be asked about. */
  remember(resources: ListItems | undefined, templates: ListItems | undefined): void {
    (this.resources ??= new ResourceIndex()).remember(resources, templates);
  }

  /** Whether this caller holds `server`'s tool list (fetched, not forgotten since). */
  hasTools(server: string): boolean {
    return this.definitions.has(`tool\u0000${server}`);
  }

  /** A server said its list changed: the next call or list fetches it again, and the checks judge it. */
  forget(server: string, method: string): void {
    if (method === "notifications/resources/list_changed") this.resources = undefined;
    if (method === "notifications/tools/list_changed") {
      this.definitions.delete(`tool\u0000${server}`);
      this.names = undefined;
    }
    if (method === "notifications/prompts/list_changed") this.definitions.delete(`prompt\u0000${server}`);
  }

  /**
   * Every page of a list from each of `servers`, recording their definitions. A failing server
   * throws on a single-server route, or with `strict` (one server's definitions are needed); an
   * aggregate list skips it.
   */
  async gather(
    method: string,
    key: string,
    servers: readonly string[],
    signal?: AbortSignal,
    strict = false,
    related?: Id,
  ): Promise<ListItems> {
    const perServer = await Promise.allSettled(
      servers.map(async (server) => {
        const init = this.source.init(server);
        const capability = key === "resourceTemplates" ? "resources" : key;
        if (init && !hasCapability(init, capability)) return [];
        const items: ListItems = [];
        let cursor: string | undefined;
        for (let page = 0; page < MAX_LIST_PAGES; page++) {
          const result = await this.source
            .list(server, method, cursor, signal, related)
            .catch(async (err: unknown) => Promise.reject(await this.source.error(server, method, err)));
          const list = result[key];
          if (Array.isArray(list)) for (const item of list) if (isObject(item)) items.push({ server, item });
          cursor = typeof result.nextCursor === "string" ? result.nextCursor : undefined;
          if (!cursor) break;
        }
        if (key === "tools" || key === "prompts") {
          const kind = key === "tools" ? "tool" : "prompt";
          if (kind === "tool") this.names = undefined;
          this.definitions.set(
            `${kind}\u0000${server}`,
            new Map(items.map(({ item }) => [String(item.name), item])),
          );
        }
        return items;
      }),
    );
    const out: ListItems = [];
    perServer.forEach((r, i) => {
      if (r.status === "fulfilled") out.push(...r.value);
      else if (strict || !this.route.aggregate) throw r.reason;
      else
        this.log.warn(
          { server: servers[i], method, err: String(r.reason?.message ?? r.reason) },
          "list: server skipped",
        );
    });
    return out;
  }

  private async indexResources(): Promise<void> {
    const servers = this.serversWith("resources");
    const [resources, templates] = await Promise.all([
      this.gather("resources/list", "resources", servers),
      this.gather("resources/templates/list", "resourceTemplates", servers),
    ]);
    this.remember(resources, templates);
  }
}
