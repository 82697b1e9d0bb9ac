import picomatch from "picomatch";
import type { VirtualServerConfig, VirtualToolConfig } from "../../config/types.js";
import { exposedName } from "../../config/virtual.js";
import type { JsonObject } from "../../jsonrpc.js";

/** One tool as a virtual server shows it: the name callers use, and the upstream tool behind it. */
export interface ToolBinding {
  readonly exposed: string;
  readonly server: string;
  /** The upstream's own name: what policy, scopes, guards, limits, kills and pins are about. */
  readonly tool: string;
  readonly entry: VirtualToolConfig;
}

/** A virtual server's tools resolved against its servers' current lists. */
export interface Resolution {
  readonly bindings: ReadonlyMap<string, ToolBinding>;
  /** Names two selections would both show: neither is served (fail closed). */
  readonly clashes: readonly string[];
  /** Selections (`server/tool-or-glob`) that matched no listed tool. */
  readonly unmatched: readonly string[];
}

/** A server's tools by name, or undefined when its list could not be read. */
export type ToolLists = (server: string) => ReadonlyMap<string, JsonObject> | undefined;

const NO_FLAGS = { dot: true, nobrace: false, noextglob: true } as const;

/**
 * A `virtual_servers[]` entry compiled once: which servers it draws on, and how listed tools and
 * prompts map to what its callers see. A tool an exact entry names is curated by that entry only:
 * a glob of the same server never shows it again under its own name with none of the overrides.
 */
export class VirtualServer {
  readonly name: string;
  readonly search: boolean;
  readonly toolServers: readonly string[];
  readonly promptServers: readonly string[];
  readonly resourceServers: readonly string[];
  /** Every server the endpoint opens a connection to. */
  readonly servers: readonly string[];
  private readonly exact = new Map<string, ToolBinding>();
  private readonly curated = new Set<string>();
  private readonly globs: ReadonlyArray<{ entry: VirtualToolConfig; match: (name: string) => boolean }>;
  private readonly prompts: ReadonlyArray<{ server: string; match: (name: string) => boolean }>;

  constructor(readonly config: VirtualServerConfig) {
    this.name = config.name;
    this.search = config.search;
    const globs: Array<{ entry: VirtualToolConfig; match: (name: string) => boolean }> = [];
    for (const entry of config.tools) {
      if (entry.glob) {
        globs.push({ entry, match: picomatch(entry.pattern, NO_FLAGS) });
        continue;
      }
      const exposed = exposedName(entry);
      // Config check refuses two exact entries with one name; the first is kept if it ever got here.
      if (!this.exact.has(exposed))
        this.exact.set(exposed, Object.freeze({ exposed, server: entry.server, tool: entry.pattern, entry }));
      this.curated.add(`${entry.server}\u0000${entry.pattern}`);
    }
    this.globs = globs;
    this.prompts = config.prompts.map((p) => ({
      server: p.server,
      match: p.glob ? picomatch(p.pattern, NO_FLAGS) : (n: string) => n === p.pattern,
    }));
    this.toolServers = unique(config.tools.map((t) => t.server));
    this.promptServers = unique(config.prompts.map((p) => p.server));
    this.resourceServers = unique(config.resources);
    this.servers = unique([...this.toolServers, ...this.promptServers, ...this.resourceServers]);
  }

  /** Servers whose lists a call's name may need (globs): exact names need none. */
  get globServers(): readonly string[] {
    return unique(this.globs.map((g) => g.entry.server));
  }

  /** An exact entry's binding, known without any list. */
  exactBinding(exposed: string): ToolBinding | undefined {
    return this.exact.get(exposed);
  }

  /**
   * Every tool the endpoint shows, given its servers' lists: exact entries whose tool is listed,
   * then each glob's matches in config order (a tool two globs of one server match takes the first
   * one's overrides). A name two different tools would take is a clash: neither is shown.
   */
  resolve(lists: ToolLists): Resolution {
    const bindings = new Map<string, ToolBinding>();
    const clashed = new Set<string>();
    const unmatched: string[] = [];
    for (const b of this.exact.values()) {
      const list = lists(b.server);
      if (!list) continue;
      if (list.has(b.tool)) bindings.set(b.exposed, b);
      else unmatched.push(b.entry.selector);
    }
    const fromExact = new Set(bindings.keys());
    for (const { entry, match } of this.globs) {
      const list = lists(entry.server);
      if (!list) continue;
      let matched = false;
      for (const tool of list.keys()) {
        if (!match(tool) || this.curated.has(`${entry.server}\u0000${tool}`)) continue;
        matched = true;
        const held = bindings.get(tool);
        if (held && held.server === entry.server && held.tool === tool) continue;
        if (held || clashed.has(tool)) {
          clashed.add(tool);
          if (!fromExact.has(tool)) bindings.delete(tool);
          continue;
        }
        bindings.set(tool, Object.freeze({ exposed: tool, server: entry.server, tool, entry }));
      }
      if (!matched) unmatched.push(entry.selector);
    }
    return { bindings, clashes: [...clashed].sort(), unmatched };
  }

  /** Whether the endpoint shows `server`'s prompt `name`. */
  selectsPrompt(server: string, name: string): boolean {
    return this.prompts.some((p) => p.server === server && p.match(name));
  }
}

function unique(values: readonly string[]): readonly string[] {
  return Object.freeze([...new Set(values)]);
}
