import picomatch from "picomatch";
import type { VirtualServerDocument } from "./schema-virtual.js";
import type { Config, VirtualSelector, VirtualServerConfig, VirtualToolConfig } from "./types.js";

/** The two tools a `search: true` endpoint lists; no curated tool may take their names. */
export const SEARCH_TOOL = "search_tools";
export const CALL_TOOL = "call_tool";

function selectorOf(text: string): VirtualSelector {
  const at = text.indexOf("/");
  const pattern = text.slice(at + 1);
  return Object.freeze({
    selector: text,
    server: text.slice(0, at),
    pattern,
    glob: picomatch.scan(pattern).isGlob,
  });
}

export function compileVirtualServers(
  docs: readonly VirtualServerDocument[],
): readonly VirtualServerConfig[] {
  return Object.freeze(
    docs.map((v) =>
      Object.freeze({
        name: v.name,
        search: v.search,
        resources: Object.freeze([...v.resources]),
        prompts: Object.freeze(v.prompts.map(selectorOf)),
        tools: Object.freeze(
          v.tools.map((t): VirtualToolConfig =>
            Object.freeze({
              ...selectorOf(t.tool),
              name: t.name,
              title: t.title,
              description: t.description,
              fixed: Object.freeze({ ...t.arguments.fixed }),
              defaults: Object.freeze({ ...t.arguments.defaults }),
              hide: Object.freeze([...t.arguments.hide]),
              annotations: t.annotations === undefined ? undefined : Object.freeze({ ...t.annotations }),
            }),
          ),
        ),
      }),
    ),
  );
}

/** The name callers see an exact (non-glob) entry as. */
export function exposedName(t: VirtualToolConfig): string {
  return t.name ?? t.pattern;
}

/**
 * What `check` can know offline, each with its YAML path: unknown servers, a rename or a new text
 * on a glob, an argument both fixed and hidden, two entries shown under one name, a name the search
 * tools take, an endpoint that selects nothing. What needs the servers' lists (a glob that matches
 * nothing, a fixed argument the tool does not take) is reported when they are known
 * (docs/virtual-servers.md, "What is checked when").
 */
export function virtualProblems(config: Config): string[] {
  const servers = new Set(config.servers.map((s) => s.name));
  const problems: string[] = [];
  const names = new Set<string>();
  config.virtualServers.forEach((v, i) => {
    const at = `virtual_servers[${i}]`;
    if (names.has(v.name)) problems.push(`${at}.name: duplicate virtual server name ${v.name}`);
    names.add(v.name);
    if (v.tools.length === 0 && v.prompts.length === 0 && v.resources.length === 0)
      problems.push(`${at}: selects nothing (give tools, prompts or resources)`);
    const exposed = new Map<string, number>();
    v.tools.forEach((t, j) => {
      const here = `${at}.tools[${j}]`;
      if (!servers.has(t.server)) problems.push(`${here}.tool: no server named ${t.server}`);
      if (t.glob) {
        for (const key of ["name", "title", "description"] as const)
          if (t[key] !== undefined)
            problems.push(
              `${here}.${key}: only for one tool (${t.selector} is a glob: list the tool by name)`,
            );
      } else {
        const name = exposedName(t);
        const other = exposed.get(name);
        if (other !== undefined)
          problems.push(`${here}: ${name} is also the name of ${at}.tools[${other}] (name clash)`);
        else exposed.set(name, j);
        if (v.search && (name === SEARCH_TOOL || name === CALL_TOOL))
          problems.push(`${here}: ${name} is the search endpoint's own tool (rename it)`);
      }
      const seen = new Map<string, string>();
      const claim = (key: string, how: string) => {
        const before = seen.get(key);
        if (before !== undefined)
          problems.push(`${here}.arguments: ${key} is both ${before} and ${how} (choose one)`);
        seen.set(key, how);
      };
      for (const key of Object.keys(t.fixed)) claim(key, "fixed");
      for (const key of Object.keys(t.defaults)) claim(key, "defaults");
      for (const key of t.hide) claim(key, "hide");
    });
    v.prompts.forEach((p, j) => {
      if (!servers.has(p.server)) problems.push(`${at}.prompts[${j}]: no server named ${p.server}`);
    });
    v.resources.forEach((r, j) => {
      if (!servers.has(r)) problems.push(`${at}.resources[${j}]: no server named ${r}`);
    });
  });
  return problems;
}
