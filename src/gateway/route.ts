/** An MCP endpoint: which servers it fronts and how names are shown to its clients. */
export class Route {
  constructor(
    readonly path: string,
    readonly servers: readonly string[],
    /** Aggregate routes show tools and prompts as `server__name`; one-server routes keep names. */
    readonly prefixed: boolean,
  ) {}

  exposeName(server: string, name: string): string {
    return this.prefixed ? `${server}__${name}` : name;
  }

  /** The server and original name behind an exposed name, or undefined when no server owns it. */
  resolveName(exposed: string): { server: string; name: string } | undefined {
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
