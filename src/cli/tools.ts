import { createTwoFilesPatch } from "diff";
import { withAdminAudit } from "../audit/index.js";
import type { Config } from "../config/types.js";
import { createLogger } from "../log.js";
import { StateStore } from "../state/store.js";
import { INSTRUCTIONS_NAME, type Pin, type PinStore } from "../supply/pins.js";
import { approveDefinition } from "../supply/approve.js";
import type { DefinitionKind } from "../supply/poisoning.js";
import { openPinStore } from "./open.js";
import { formatTable } from "./table.js";
import { describeVirtual } from "../gateway/virtual/describe.js";
import { loadOrExit, openRedis } from "./run.js";

export interface ToolsOptions {
  config?: string;
  server?: string;
  /** `tools list --virtual NAME`: a virtual server's resolved tools. */
  virtual?: string;
  tool?: string;
  kind?: string;
  json?: boolean;
}

const KINDS: ReadonlySet<string> = new Set(["tool", "prompt", "resourceTemplate", "instructions"]);

class UsageError extends Error {}

/**
 * The one pin the flags name: --server and --tool, or --tool as the aggregate name server__tool. A
 * server's instructions (`--kind instructions`) need only --server: a server has one set.
 */
function target(o: ToolsOptions): { server: string; kind: DefinitionKind; name: string } {
  const kind = o.kind ?? "tool";
  if (!KINDS.has(kind)) throw new UsageError("--kind must be tool, prompt, resourceTemplate or instructions");
  if (kind === "instructions") {
    if (o.server === undefined || o.server === "") throw new UsageError("--kind instructions needs --server");
    if (o.tool !== undefined && o.tool !== INSTRUCTIONS_NAME)
      throw new UsageError(`a server's instructions are named ${INSTRUCTIONS_NAME}`);
    return { server: o.server, kind, name: INSTRUCTIONS_NAME };
  }
  if (o.tool === undefined || o.tool === "") throw new UsageError("--tool is required");
  if (o.server !== undefined) return { server: o.server, kind: kind as DefinitionKind, name: o.tool };
  const at = o.tool.indexOf("__");
  if (at <= 0) throw new UsageError("--tool needs --server, or the aggregate name server__tool");
  return { server: o.tool.slice(0, at), kind: kind as DefinitionKind, name: o.tool.slice(at + 2) };
}

/** What the gateway does with a pin under the configured modes. */
export function pinState(pin: Pin, config: Config): string {
  const parts: string[] = [];
  if (pin.currentHash !== pin.pinnedHash)
    parts.push(config.supplyChain.toolPinning === "enforce" ? "changed (held)" : "changed (served)");
  if (pin.findings.length > 0)
    parts.push(config.supplyChain.poisoning === "block" ? "poisoned (blocked)" : "poisoned (served)");
  return parts.length > 0 ? parts.join(", ") : "pinned";
}

async function withPins(
  o: ToolsOptions,
  command: string,
  run: (config: Config, state: StateStore, pins: PinStore) => Promise<void>,
): Promise<void> {
  const { config, log } = await loadOrExit(o.config);
  const state = StateStore.open(config.state.sqlite);
  // With state.postgres or state.redis, the pins every instance shares: read them, and share an
  // approval at once.
  const redis = await openRedis(config, log);
  try {
    const pins = await openPinStore(config, state, redis, log, { requireShared: true });
    try {
      await run(config, state, pins);
    } finally {
      await pins.close();
    }
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`mcp-warden tools ${command}: ${err.message}\n`);
    process.exitCode = 2;
    return;
  } finally {
    await redis?.close();
    state.close();
  }
}

/** A virtual server's tools as the last listed definitions resolve them, and what each overrides. */
function virtualList(o: ToolsOptions, config: Config, pins: PinStore): void {
  const report = describeVirtual(config, pins, o.virtual as string);
  if (!report) {
    const known = config.virtualServers.map((v) => v.name).join(", ") || "none configured";
    throw new UsageError(`no virtual server named ${o.virtual} (${known})`);
  }
  const attention =
    report.clashes.length + report.unmatched.length > 0 || report.tools.some((t) => t.problem);
  if (o.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    if (attention) process.exitCode = 1;
    return;
  }
  const out = process.stdout;
  out.write(`${report.path}${report.search ? " (search: lists search_tools and call_tool)" : ""}\n`);
  if (report.tools.length > 0)
    out.write(
      formatTable(
        ["name", "tool", "state", "overrides"],
        report.tools.map((t) => [
          t.name,
          t.tool,
          t.problem ? `${t.state}: ${t.problem}` : t.state,
          t.overrides.join(","),
        ]),
      ),
    );
  for (const c of report.clashes) out.write(`clash: ${c} is selected twice (neither is served)\n`);
  for (const u of report.unmatched) out.write(`unmatched: ${u} matches no listed tool\n`);
  for (const s of report.unlisted)
    out.write(
      `unknown: ${s} has no listed definitions yet (the gateway pins them when it first lists them)\n`,
    );
  if (report.prompts.length > 0) out.write(`prompts: ${report.prompts.join(", ")}\n`);
  if (report.resources.length > 0) out.write(`resources from: ${report.resources.join(", ")}\n`);
  // Like `tools diff`: exit 1 when something needs the operator (a selection shows no tool).
  if (attention) process.exitCode = 1;
}

export function toolsList(o: ToolsOptions): Promise<void> {
  return withPins(o, "list", async (config, _state, pins) => {
    if (o.virtual !== undefined) return virtualList(o, config, pins);
    const list = pins.list(o.server);
    if (o.json) {
      for (const pin of list) {
        const { pinnedDef: _p, currentDef: _c, ...rest } = pin;
        process.stdout.write(`${JSON.stringify({ ...rest, state: pinState(pin, config) })}\n`);
      }
      return;
    }
    if (list.length === 0) {
      process.stdout.write(
        "no pinned definitions (a server's are pinned when the gateway first lists them)\n",
      );
      return;
    }
    const rows = list.map((pin) => [
      pin.server,
      pin.kind,
      pin.name,
      pinState(pin, config),
      pin.pinnedHash.slice(0, 19),
      pin.seenAt,
      [...new Set(pin.findings.map((f) => f.reason))].join(","),
    ]);
    process.stdout.write(
      formatTable(["server", "kind", "name", "state", "pinned", "seen", "findings"], rows),
    );
  });
}

export function toolsDiff(o: ToolsOptions): Promise<void> {
  return withPins(o, "diff", async (_config, _state, pins) => {
    const t = target(o);
    const pin = pins.get(t.server, t.kind, t.name);
    if (!pin) throw new UsageError(`no pin for ${t.kind} ${t.server}/${t.name}`);
    for (const f of pin.findings)
      process.stdout.write(`# poisoning: ${f.reason} at ${f.field}: ${f.excerpt}\n`);
    if (pin.currentHash === pin.pinnedHash) {
      process.stdout.write(
        `${t.server}/${t.name}: the current definition is the pinned one (${pin.pinnedHash})\n`,
      );
      return;
    }
    process.stdout.write(
      createTwoFilesPatch(
        `pinned ${pin.pinnedHash} (${pin.pinnedAt})`,
        `current ${pin.currentHash} (${pin.seenAt})`,
        `${JSON.stringify(pin.pinnedDef, null, 2)}\n`,
        `${JSON.stringify(pin.currentDef, null, 2)}\n`,
        undefined,
        undefined,
        { context: 3 },
      ),
    );
    process.exitCode = 1;
  });
}

export function toolsApprove(o: ToolsOptions): Promise<void> {
  return withPins(o, "approve", async (config, state, pins) => {
    const t = target(o);
    const pin = pins.get(t.server, t.kind, t.name);
    if (!pin) throw new UsageError(`no pin for ${t.kind} ${t.server}/${t.name}`);
    if (pin.currentHash === pin.pinnedHash) {
      process.stdout.write(`${t.server}/${t.name}: nothing to approve (the current definition is pinned)\n`);
      return;
    }
    const log = createLogger(process.env.WARDEN_LOG_LEVEL ?? "warn");
    // Refused unless the audit log can record it; recorded before this command reports success.
    const approved = await withAdminAudit(config, state, log, "tool_approved", () => {
      const { approved: ok, detail } = approveDefinition(pins, pin, pin.currentHash);
      return { result: ok, detail, status: ok ? "ok" : "changed_meanwhile" };
    });
    if (!approved) {
      process.stderr.write(
        `mcp-warden tools approve: ${t.server}/${t.name} changed again meanwhile; diff it again\n`,
      );
      process.exitCode = 1;
      return;
    }
    process.stdout.write(`approved ${t.kind} ${t.server}/${t.name}: pinned ${pin.currentHash}\n`);
    if (pin.findings.length > 0 && config.supplyChain.poisoning === "block")
      process.stdout.write(
        "note: its definition failed the poisoning scan; it stays blocked (poisoning: block)\n",
      );
  });
}
