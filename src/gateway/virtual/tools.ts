import type { JsonObject } from "../../jsonrpc.js";
import type { Logger } from "../../log.js";
import type { ListOutcome } from "../../pipeline/context.js";
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

  /**
   * The route's tool list: each tool it shows, as the upstream tool behind it (the stages on the
   * way back judge and filter by the real name and definition), with the binding that presents
   * it; everything listed goes along to be pinned and scanned.
   */
  async list(listed: Array<{ server: string; item: JsonObject }>): Promise<ListOutcome> {
    const resolution = await this.resolution();
    const bySource = new Map<string, JsonObject>();
    for (const { server, item } of listed) bySource.set(`${server}\u0000${String(item.name)}`, item);
    const items: ListOutcome["items"] = [];
    for (const binding of resolution.bindings.values()) {
      const item = bySource.get(`${binding.server}\u0000${binding.tool}`);
      if (item) items.push({ server: binding.server, item, binding });
    }
    return { kind: "list", key: "tools", items, listed };
  }

  /** The route's prompts: those its selections name, but no name two servers would both show. */
  prompts(listed: ListOutcome["items"]): ListOutcome["items"] {
    const selected = listed.filter(({ server, item }) =>
      this.server.selectsPrompt(server, String(item.name)),
    );
    const count = new Map<string, number>();
    for (const { item } of selected) count.set(String(item.name), (count.get(String(item.name)) ?? 0) + 1);
    return selected.filter(({ item }) => count.get(String(item.name)) === 1);
  }

  /** Names this session's callers may see, for the detectors that look for tool names in text. */
  names(): readonly string[] {
    return this.resolved ? [...this.resolved.bindings.keys()] : [];
  }
}
