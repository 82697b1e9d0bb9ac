import { invalidParams, methodNotFound, policyDenied } from "../errors.js";
import type { JsonObject, Request } from "../jsonrpc.js";
import { isObject } from "../jsonrpc.js";
import type { Plan } from "../pipeline/context.js";
import type { Catalog } from "./catalog.js";
import type { Route } from "./route.js";
import type { TaskOwner } from "./tasks.js";
import { upstreamParams } from "./modern.js";
import type { VirtualTools } from "./virtual/tools.js";

const LIST_KEYS = {
  "tools/list": "tools",
  "prompts/list": "prompts",
  "resources/list": "resources",
  "resources/templates/list": "resourceTemplates",
} as const;

/**
 * How a client request is carried out, decided before the pipeline runs: which server and item it
 * is for (a name resolved through the route, a URI through the caller's catalog), or a list or
 * broadcast over the route. A request nothing can carry out is refused here: unknown method,
 * unmapped tool (-32001 `tool_not_mapped`, so the caller learns nothing more), bad params.
 */
export async function planRequest(
  request: Request,
  route: Route,
  catalog: Catalog,
  tasks?: (taskId: unknown) => TaskOwner | undefined,
  virtual?: { tools: VirtualTools; via: "call_tool" | undefined },
): Promise<Plan> {
  const method = request.method;
  // tasks/update carries the caller's answers to the task's server: they are its params.
  const params = upstreamParams(request.params, method === "tasks/update");
  // Own keys only: "constructor" or "toString" would find Object.prototype's members.
  const listKey = Object.hasOwn(LIST_KEYS, method) ? LIST_KEYS[method as keyof typeof LIST_KEYS] : undefined;
  if (listKey) return { kind: "list", key: listKey, servers: route.serversFor(listKey) };
  switch (method) {
    case "tools/call":
    case "prompts/get": {
      if (virtual && method === "tools/call") return virtualCall(virtual.tools, params, virtual.via);
      const target = route.virtual
        ? await virtualPrompt(route, catalog, params?.name)
        : byName(route, params?.name, method === "tools/call");
      return {
        kind: "call",
        server: target.server,
        item: method === "tools/call" ? "tool" : "prompt",
        name: target.name,
        params: { ...params, name: target.name },
      };
    }
    case "resources/read":
    case "resources/subscribe":
    case "resources/unsubscribe": {
      if (typeof params?.uri !== "string") throw invalidParams("uri must be a string");
      return {
        kind: "call",
        server: await catalog.serverForUri(params.uri),
        item: "resource",
        name: params.uri,
        params,
      };
    }
    case "completion/complete": {
      const ref = params?.ref;
      if (!isObject(ref)) throw invalidParams("ref must be an object");
      if (ref.type === "ref/prompt") {
        const target = route.virtual
          ? await virtualPrompt(route, catalog, ref.name)
          : byName(route, ref.name);
        return {
          kind: "call",
          server: target.server,
          item: "prompt",
          name: target.name,
          params: { ...params, ref: { ...ref, name: target.name } },
        };
      }
      if (ref.type === "ref/resource" && typeof ref.uri === "string") {
        return {
          kind: "call",
          server: await catalog.serverForUri(ref.uri),
          item: "resource",
          name: ref.uri,
          params,
        };
      }
      throw invalidParams("ref must be ref/prompt or ref/resource");
    }
    case "tasks/get":
    case "tasks/update":
    case "tasks/cancel": {
      // Judged as the tool that made the task, on its server; an unknown task goes nowhere.
      const owner = tasks?.(params?.taskId);
      if (!owner) throw invalidParams("unknown task");
      return { kind: "call", server: owner.server, item: "tool", name: owner.tool, params };
    }
    case "logging/setLevel":
      return { kind: "broadcast", servers: catalog.serversWith("logging"), params };
    default:
      throw methodNotFound(method);
  }
}

function byName(route: Route, name: unknown, tool = false): { server: string; name: string } {
  if (typeof name !== "string" || name.length === 0) throw invalidParams("name must be a non-empty string");
  const target = route.resolveName(name);
  if (target) return target;
  // A tool no server owns is refused like an unmapped one: the caller learns nothing more.
  if (tool) throw policyDenied("tool_not_mapped", `tool ${name.slice(0, 200)} is not available`);
  throw invalidParams(`unknown name: ${name.slice(0, 200)}`);
}

/** A tool called by the name a virtual server shows it as: the upstream tool, with its entry. */
async function virtualCall(
  tools: VirtualTools,
  params: JsonObject | undefined,
  via: "call_tool" | undefined,
): Promise<Plan> {
  const name = params?.name;
  if (typeof name !== "string" || name.length === 0) throw invalidParams("name must be a non-empty string");
  const binding = await tools.binding(name);
  // Unknown, or a name two selections would both show: refused like an unmapped tool.
  if (!binding) throw policyDenied("tool_not_mapped", `tool ${name.slice(0, 200)} is not available`);
  return {
    kind: "call",
    server: binding.server,
    item: "tool",
    name: binding.tool,
    params: { ...params, name: binding.tool },
    virtual: { server: tools.server.name, binding, via },
  };
}

/** A prompt of a virtual server: the one selected server that lists it (two would be a clash). */
async function virtualPrompt(
  route: Route,
  catalog: Catalog,
  name: unknown,
): Promise<{ server: string; name: string }> {
  if (typeof name !== "string" || name.length === 0) throw invalidParams("name must be a non-empty string");
  const v = route.virtual;
  const owners: string[] = [];
  for (const server of v?.promptServers ?? []) {
    if (!v?.selectsPrompt(server, name)) continue;
    const def = await catalog.definition(server, "prompt", name).catch(() => undefined);
    if (def) owners.push(server);
  }
  if (owners.length !== 1) throw invalidParams(`unknown name: ${name.slice(0, 200)}`);
  return { server: owners[0] as string, name };
}
