/**
 * `mcp-warden scan`: starts every configured server as the gateway would (integrity pins and
 * sandbox included), lists its tools, prompts and resource templates, and runs the poisoning scan
 * on every string of every definition and on its `initialize` instructions (kind `instructions`,
 * which the gateway scans and pins like a definition); then reports the posture of the whole config.
 * Exit 1 when anything has a finding, 2 when a server could not be scanned, else 0.
 */
import { anonymousPrincipal } from "../auth/principal.js";
import type { Config, ServerConfig } from "../config/types.js";
import type { JsonObject } from "../jsonrpc.js";
import { createLogger } from "../log.js";
import { scanDefinition, type DefinitionKind, type Finding } from "../supply/poisoning.js";
import { definitionName, INSTRUCTIONS_NAME } from "../supply/pins.js";
import { UpstreamServer } from "../upstreams/server.js";
import { ProcessBudget } from "../upstreams/processes.js";
import type { LinkUser } from "../upstreams/link.js";
import { VERSION } from "../version.js";
import { loadOrExit } from "./run.js";

const READY_MS = 30_000;
const LISTS: ReadonlyArray<[string, string, DefinitionKind, string]> = [
  ["tools/list", "tools", "tool", "tools"],
  ["prompts/list", "prompts", "prompt", "prompts"],
  ["resources/templates/list", "resourceTemplates", "resourceTemplate", "resources"],
];

interface Definition {
  readonly server: string;
  readonly kind: DefinitionKind;
  readonly name: string;
  readonly definition: JsonObject;
}

export interface ScanReport {
  readonly findings: Array<{ server: string; kind: DefinitionKind; name: string } & Finding>;
  readonly posture: Array<{ server?: string; item?: string; issue: string }>;
  readonly unscanned: Array<{ server: string; error: string }>;
}

export async function scanCommand(opts: { config?: string; json?: boolean }): Promise<void> {
  const { config } = await loadOrExit(opts.config);
  const log = createLogger(process.env.WARDEN_LOG_LEVEL ?? "error");
  const report = await scan(config, log);
  print(report, opts.json === true);
  process.exitCode = report.findings.length > 0 ? 1 : report.unscanned.length > 0 ? 2 : 0;
}

export async function scan(config: Config, log: ReturnType<typeof createLogger>): Promise<ScanReport> {
  const definitions: Definition[] = [];
  const unscanned: ScanReport["unscanned"] = [];
  // One server at a time: each may be a process of its own, and a scan is not a hot path.
  for (const s of config.servers) {
    try {
      definitions.push(...(await listDefinitions(s, config, log)));
    } catch (err) {
      unscanned.push({ server: s.name, error: (err as Error).message.slice(0, 300) });
    }
  }
  const servers = config.servers.map((s) => s.name);
  const findings: ScanReport["findings"] = [];
  for (const d of definitions) {
    const otherTools = definitions
      .filter((o) => o.server !== d.server && o.kind === "tool")
      .map((o) => o.name);
    for (const f of scanDefinition(d.kind, d.definition, { server: d.server, servers, otherTools })) {
      findings.push({ server: d.server, kind: d.kind, name: d.name, ...f });
    }
  }
  return { findings, posture: posture(config, definitions), unscanned };
}

async function listDefinitions(s: ServerConfig, config: Config, log: ReturnType<typeof createLogger>) {
  const server = new UpstreamServer(
    s,
    log,
    config.gateway.upstreamTimeoutMs,
    { name: "mcp-warden-scan", version: VERSION },
    new ProcessBudget(2),
    { refused: () => undefined, crashed: () => undefined, unattributable: () => undefined },
  );
  // The scan lists as a caller of its own; a token-exchange server needs a real caller and is refused.
  const scanner: LinkUser = {
    id: "scan",
    principal: anonymousPrincipal([]),
    clientCapabilities: {},
    serverRequest: () => Promise.reject(new Error("the scan answers no server requests")),
    serverNotification: () => undefined,
  };
  server.start();
  try {
    await server.whenReady(READY_MS);
    const link = server.attach(scanner, {
      protocolVersion: "2025-06-18",
      capabilities: {},
      clientInfo: { name: "mcp-warden-scan", version: VERSION },
    });
    const init = await link.initialized();
    const capabilities = (init.capabilities ?? {}) as Record<string, unknown>;
    const out: Definition[] = [];
    // Clients put instructions in the system prompt: scanned as the gateway scans them (definition-guard.ts).
    if (typeof init.instructions === "string" && init.instructions.trim() !== "") {
      const definition: JsonObject = { instructions: init.instructions };
      out.push({ server: s.name, kind: "instructions", name: INSTRUCTIONS_NAME, definition });
    }
    try {
      for (const [method, key, kind, capability] of LISTS) {
        if (capabilities[capability] === undefined) continue;
        let cursor: string | undefined;
        for (let page = 0; page < 100; page++) {
          const result = await link.call(scanner, 0, method, cursor ? { cursor } : undefined);
          const list = result[key];
          if (Array.isArray(list)) {
            for (const item of list) {
              if (typeof item !== "object" || item === null || Array.isArray(item)) continue;
              const d = item as JsonObject;
              const name = definitionName(kind, d) ?? "?";
              out.push({ server: s.name, kind, name, definition: d });
            }
          }
          cursor = typeof result.nextCursor === "string" ? result.nextCursor : undefined;
          if (!cursor) break;
        }
      }
    } finally {
      server.detach(scanner, link);
    }
    return out;
  } finally {
    await server.stop();
  }
}

/** The configuration's weak points, whatever the servers say. */
function posture(config: Config, definitions: readonly Definition[]): ScanReport["posture"] {
  const out: ScanReport["posture"] = [];
  const dangerous = new Set(config.scopes.dangerous);
  for (const s of config.servers) {
    if (s.kind === "stdio") {
      if (s.sandbox === undefined) out.push({ server: s.name, issue: "stdio server without a sandbox" });
      // A package pin covers the bin it runs (its registry integrity, then the file's SHA-256).
      if (s.integrity.size === 0 && s.package === undefined)
        out.push({ server: s.name, issue: "stdio server without an integrity pin" });
    } else {
      if (s.auth.type === "none")
        out.push({ server: s.name, issue: "remote server without upstream credentials" });
      if (s.url.startsWith("http:")) out.push({ server: s.name, issue: "remote server over plain http" });
    }
    for (const [tool, scopes] of s.tools) {
      if (scopes.length === 0)
        out.push({ server: s.name, item: tool, issue: "mapped to no scope: any caller may use it" });
    }
    for (const d of definitions) {
      if (d.server !== s.name || d.kind !== "tool") continue;
      const own = s.tools.get(d.name);
      const scopes = own ?? s.tools.get("*");
      if (scopes === undefined) continue; // hidden and denied: nothing to say
      if (own === undefined) out.push({ server: s.name, item: d.name, issue: 'mapped only through "*"' });
      const a = (d.definition.annotations ?? {}) as Record<string, unknown>;
      const risky =
        a.destructiveHint === true ? "destructive" : a.openWorldHint === true ? "open-world" : undefined;
      if (risky && !scopes.some((sc) => dangerous.has(sc))) {
        out.push({ server: s.name, item: d.name, issue: `${risky} tool without a dangerous scope` });
      }
    }
  }
  return out;
}

function print(r: ScanReport, json: boolean): void {
  if (json) {
    for (const f of r.findings) process.stdout.write(`${JSON.stringify({ type: "finding", ...f })}\n`);
    for (const p of r.posture) process.stdout.write(`${JSON.stringify({ type: "posture", ...p })}\n`);
    for (const u of r.unscanned) process.stdout.write(`${JSON.stringify({ type: "unscanned", ...u })}\n`);
    return;
  }
  const clean = (t: string) => t.replace(/[^\x20-\x7e]/g, "?"); // hidden characters shown, never run
  for (const f of r.findings) {
    process.stdout.write(
      `${f.server}/${f.name} (${f.kind}) ${f.field}: ${f.reason}: "${clean(f.excerpt)}"\n`,
    );
  }
  if (r.findings.length === 0) process.stdout.write("no poisoned definitions found\n");
  for (const u of r.unscanned) process.stdout.write(`${u.server}: not scanned: ${clean(u.error)}\n`);
  if (r.posture.length > 0) process.stdout.write("posture:\n");
  for (const p of r.posture) {
    process.stdout.write(`  ${p.server ?? ""}${p.item ? `/${p.item}` : ""}: ${p.issue}\n`);
  }
}
