import type { VirtualServer } from "./virtual/server.js";

/** Which servers a list method of a route gathers from. */
export type ListKind = "tools" | "prompts" | "resources" | "resourceTemplates";

/** An MCP endpoint: which servers it fronts and how names are shown to its clients. */
export class Route {
  constructor(
    readonly path: string,
    readonly servers: readonly string[],
    /** Aggregate routes show tools and prompts as `server__name`; one-server routes keep names. */
    readonly prefixed: boolean,
    /** A virtual server's route (`/v/{name}/mcp`): its curated mapping names what it shows. */
    readonly virtual?: VirtualServer,
  ) {}

  /** Several servers behind one endpoint (aggregate or virtual): a failing server is skipped in lists. */
  get aggregate(): boolean {
    return this.prefixed || this.virtual !== undefined;
  }

  /** The servers a list (or a resource URI lookup) of `kind` draws on. */
  serversFor(kind: ListKind): readonly string[] {
    const v = this.virtual;
    if (!v) return this.servers;
    if (kind === "tools") return v.toolServers;
    if (kind === "prompts") return v.promptServers;
    return v.resourceServers;
  }

  exposeName(server: string, name: string): string {
    return this.prefixed ? `${server}__${name}` : name;
  }

  /** The server and original name behind an exposed name, or undefined when no server owns it. */
  resolveName(exposed: string): { server: string; name: string } | undefined {
    // A virtual route's names resolve through its mapping and its servers' lists (plan.ts).
    if (this.virtual) return undefined;
    if (!this.prefixed) {
      const only = this.servers[0];
      return only === undefined ? undefined : { server: only, name: exposed };
    }
    // Server names cannot contain "__", so the first separator ends the server name.
    const at = exposed.indexOf("__");
    if (at <= 0) return undefined;
    const server = exposed.slice(0, at);
    return this.servers.includes(server) ? { server, name: exposed.slice(at + 2) } : undefined;
  }
}
