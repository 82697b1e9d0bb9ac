import type { JsonObject } from "../../jsonrpc.js";
import type { Logger } from "../../log.js";
import type { Resolution, ToolBinding, VirtualServer } from "./server.js";

/** Where a session's virtual tools come from: its catalog's lists of each server's tools. */
export interface ToolListSource {
  toolList(server: string): Promise<ReadonlyMap<string, JsonObject> | undefined>;
}

/**
 * One session's view of its virtual server's tools: resolved against the lists its catalog holds,
 * again whenever one of them changed (list_changed, a new list). Clashes and selections that match
 * nothing are logged when a resolution finds them.
 */
export class VirtualTools {
  private lists = new Map<string, ReadonlyMap<string, JsonObject> | undefined>();
  private resolved: Resolution | undefined;

  constructor(
    readonly server: VirtualServer,
    private readonly source: ToolListSource,
    private readonly log: Logger,
  ) {}

  async resolution(): Promise<Resolution> {
    const lists = new Map<string, ReadonlyMap<string, JsonObject> | undefined>();
    for (const s of this.server.toolServers) lists.set(s, await this.source.toolList(s));
    const same = this.resolved && [...lists].every(([s, l]) => this.lists.get(s) === l);
    if (same) return this.resolved as Resolution;
    const resolved = this.server.resolve((s) => lists.get(s));
    if (resolved.clashes.length > 0 || resolved.unmatched.length > 0)
      this.log.warn(
        { virtual_server: this.server.name, clashes: resolved.clashes, unmatched: resolved.unmatched },
        "virtual server: some selections show no tool (name clash: neither is served; or nothing listed matches)",
      );
    this.lists = lists;
    this.resolved = resolved;
    return resolved;
  }

  /** The tool a caller named: an exact entry needs no list; a glob's tool must be listed now. */
  async binding(exposed: string): Promise<ToolBinding | undefined> {
    return this.server.exactBinding(exposed) ?? (await this.resolution()).bindings.get(exposed);
  }

  /** Names this session's callers may see, for the detectors that look for tool names in text. */
  names(): readonly string[] {
    return this.resolved ? [...this.resolved.bindings.keys()] : [];
  }
}
