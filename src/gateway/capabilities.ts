import type { JsonObject } from "../jsonrpc.js";

export const SUPPORTED_VERSIONS: readonly string[] = ["2025-11-25", "2025-06-18", "2025-03-26"];
export const LATEST_VERSION = "2025-11-25";

export function negotiateVersion(requested: unknown): string {
  return typeof requested === "string" && SUPPORTED_VERSIONS.includes(requested) ? requested : LATEST_VERSION;
}

/** The capabilities the gateway can route; others (tasks, experimental) are not offered. */
const ROUTED = ["tools", "prompts", "resources", "logging", "completions"] as const;

/** Extensions the gateway routes (the tasks extension: gateway/tasks.ts). */
const ROUTED_EXTENSIONS = ["io.modelcontextprotocol/tasks"] as const;

/** Capabilities of the route: a capability is offered when any upstream offers it; flags are OR-ed. */
export function mergeCapabilities(upstreams: readonly JsonObject[]): JsonObject {
  const merged: Record<string, Record<string, boolean | JsonObject>> = {};
  for (const caps of upstreams) {
    const extensions = caps.extensions;
    if (typeof extensions === "object" && extensions !== null && !Array.isArray(extensions)) {
      for (const ext of ROUTED_EXTENSIONS) if (ext in extensions) (merged.extensions ??= {})[ext] = {};
    }
    for (const key of ROUTED) {
      const cap = caps[key];
      if (typeof cap !== "object" || cap === null || Array.isArray(cap)) continue;
      const into = (merged[key] ??= {});
      for (const flag of ["listChanged", "subscribe"]) {
        if (cap[flag] === true) into[flag] = true;
      }
    }
  }
  return merged;
}

export function hasCapability(init: JsonObject | undefined, key: string): boolean {
  const caps = init?.capabilities;
  return typeof caps === "object" && caps !== null && !Array.isArray(caps) && Object.hasOwn(caps, key);
}
