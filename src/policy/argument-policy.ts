import { ownedFilesOf, relativeBases } from "../config/owned-files.js";
import type { Config, ServerConfig } from "../config/types.js";
import {
  argumentPlan,
  checkArguments,
  fileUriReadings,
  type ArgumentDecision,
  type ArgumentGuards,
  type ArgumentPlan,
  type DeclaredArguments,
} from "./arguments.js";
import { compileCommandGuard, compilePathGuard, compileUrlGuard, GuardConfigError } from "./guards/index.js";
import { compileMetadataGuard } from "./guards/url.js";
import { compileOwnedPathGuard, type OwnedFiles } from "./guards/path-owned.js";

const PLAN_CACHE_MAX = 2000;

interface ServerArguments {
  readonly guards: ArgumentGuards;
  readonly declared: ReadonlyMap<string, DeclaredArguments>;
}

/**
 * The argument guards of every server, compiled at start-up: the gateway's own files refused to
 * every path argument everywhere, a path guard where `allowed_paths` is set, a URL guard where
 * `allowed_domains` is, and the command guard everywhere (its deny rules hold for any
 * command-running tool; `allowed_commands` narrows it further). Plans are compiled once per tool
 * definition.
 */
export class ArgumentPolicy {
  private readonly servers: ReadonlyMap<string, ServerArguments>;
  private readonly plans = new Map<string, ArgumentPlan>();
  /** The same plans by schema object (a listed definition's), held no longer than the definition is. */
  private readonly plansBySchema = new WeakMap<object, Map<string, ArgumentPlan>>();

  /** `owned`: the gateway's owned files, compiled once for the config (ownedFilesOf). */
  constructor(config: Config, owned: OwnedFiles = ownedFilesOf(config)) {
    this.servers = new Map(config.servers.map((s) => [s.name, compileServer(s, owned, config.file)]));
  }

  /** Problems with the guard options of each server, with their YAML paths (for `check`). */
  static problems(servers: readonly ServerConfig[]): string[] {
    const problems: string[] = [];
    servers.forEach((s, i) => {
      try {
        const compiled = compileServer(s);
        for (const declared of compiled.declared.values()) argumentPlan(undefined, declared);
      } catch (err) {
        const where = err instanceof GuardConfigError ? guardPath(err.option) : "arguments";
        problems.push(`servers[${i}].${where}: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
    return problems;
  }

  /** Every guarded argument of a call, checked; the first denial wins. Never throws. */
  check(server: string, tool: string, inputSchema: unknown, args: unknown): Promise<ArgumentDecision> {
    const compiled = this.servers.get(server);
    if (!compiled)
      return Promise.resolve({
        allowed: false,
        reason: "invalid_arguments",
        detail: "unknown server",
        pointer: "",
      });
    return checkArguments(this.plan(server, tool, inputSchema, compiled), compiled.guards, args);
  }

  /**
   * A resource URI: a `file:` URI (as a URL parser reads one: ` file:///x` is one) is a path,
   * checked like a path argument in each of its readings.
   */
  async checkUri(server: string, uri: string): Promise<ArgumentDecision> {
    const readings = fileUriReadings(uri);
    if (!readings) return { allowed: true };
    const guards = this.servers.get(server)?.guards;
    if (!guards)
      return { allowed: false, reason: "invalid_arguments", detail: "unknown server", pointer: "" };
    for (const reading of readings) {
      for (const guard of [guards.owned, guards.path]) {
        const d = await guard?.check(reading);
        if (d && !d.allowed) return { ...d, pointer: "/uri" };
      }
    }
    return { allowed: true };
  }

  private plan(server: string, tool: string, inputSchema: unknown, compiled: ServerArguments): ArgumentPlan {
    // A session asks with the same schema object on every call until its server lists anew: found
    // by identity first, so that the schema is not serialised for the key on each call.
    const schemaObject = typeof inputSchema === "object" && inputSchema !== null ? inputSchema : undefined;
    const bySchema = schemaObject && this.plansBySchema.get(schemaObject);
    const known = bySchema?.get(`${server}\u0000${tool}`);
    if (known) return known;
    const key = `${server}\u0000${tool}\u0000${inputSchema === undefined ? "" : JSON.stringify(inputSchema)}`;
    let plan = this.plans.get(key);
    if (!plan) {
      plan = argumentPlan(inputSchema, compiled.declared.get(tool) ?? compiled.declared.get("*"));
      if (this.plans.size >= PLAN_CACHE_MAX) this.plans.clear();
      this.plans.set(key, plan);
    }
    if (schemaObject) {
      const map = bySchema ?? new Map<string, ArgumentPlan>();
      if (!bySchema) this.plansBySchema.set(schemaObject, map);
      map.set(`${server}\u0000${tool}`, plan);
    }
    return plan;
  }
}

const METADATA_GUARD = compileMetadataGuard();

/** `owned` absent: for `check`, which compiles the options only. */
function compileServer(s: ServerConfig, owned?: OwnedFiles, configFile?: string): ServerArguments {
  const guards: { -readonly [K in keyof ArgumentGuards]: ArgumentGuards[K] } = {
    command: compileCommandGuard(s.allowedCommands ? { allowPrograms: s.allowedCommands } : {}),
  };
  if (owned && configFile !== undefined)
    guards.owned = compileOwnedPathGuard({ owned, bases: relativeBases(s, configFile) });
  if (s.allowedPaths)
    guards.path = compilePathGuard({
      roots: s.allowedPaths,
      ...(s.deniedPaths ? { deny: s.deniedPaths } : {}),
    });
  if (!s.allowedDomains) guards.metadata = METADATA_GUARD;
  else {
    guards.url = compileUrlGuard({
      allowedDomains: s.allowedDomains,
      ...(s.allowedNetworks ? { allowNetworks: s.allowedNetworks } : {}),
    });
  }
  return { guards, declared: s.arguments as ReadonlyMap<string, DeclaredArguments> };
}

/** A guard option name → the server's YAML key. */
function guardPath(option: string): string {
  return option
    .replace(/^roots/, "allowed_paths")
    .replace(/^deny/, "denied_paths")
    .replace(/^allowedDomains/, "allowed_domains")
    .replace(/^allowNetworks/, "allowed_networks")
    .replace(/^allowPrograms/, "allowed_commands");
}
