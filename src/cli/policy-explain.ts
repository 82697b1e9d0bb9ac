import { tokenPrincipal } from "../auth/principal.js";
import { Route } from "../gateway/route.js";
import { AccessPolicy } from "../policy/access.js";
import { ArgumentPolicy } from "../policy/argument-policy.js";
import { loadOrExit } from "./run.js";

export interface ExplainOptions {
  config?: string;
  sub: string;
  scope: string;
  tool: string;
  args: string;
  json?: boolean;
}

/**
 * `policy explain`: the decision the gateway would make on a tool call, the rule that made it and
 * the scopes it needs. Offline: arguments are found by name and by declaration; the running
 * gateway also uses the tool's input schema. Exit 0 when allowed, 1 when denied.
 */
export async function policyExplainCommand(opts: ExplainOptions): Promise<void> {
  const { config } = await loadOrExit(opts.config);
  let args: unknown;
  try {
    args = JSON.parse(opts.args);
  } catch {
    throw new Error("--args: not JSON");
  }
  const names = config.servers.map((s) => s.name);
  const target = new Route("/mcp", names, true).resolveName(opts.tool);
  const principal = tokenPrincipal({
    subject: opts.sub,
    clientId: undefined,
    method: "bearer",
    scopes: opts.scope.split(/\s+/).filter(Boolean),
  });
  const access = new AccessPolicy(config);
  const lines: Array<[string, string]> = [];
  const out: Record<string, unknown> = { tool: opts.tool, subject: opts.sub };
  let decision: { allowed: boolean; reason?: string } = { allowed: false, reason: "tool_not_mapped" };
  if (!target) {
    lines.push(["tool", `${opts.tool}: no server of this config is named by its prefix (server__tool)`]);
  } else {
    const index = names.indexOf(target.server);
    const rule = access.rule("tool", target.server, target.name);
    const held = [...access.effectiveScopes(target.server, principal)].sort();
    out.server = target.server;
    out.rule = rule ? `servers[${index}].${rule.key}` : null;
    out.needs = rule?.needed ?? null;
    out.holds = held;
    lines.push(["tool", `${target.name} on server ${target.server}`]);
    lines.push([
      "rule",
      rule ? `servers[${index}].${rule.key} needs [${rule.needed.join(", ")}]` : "none: the tool is hidden",
    ]);
    lines.push(["holds", held.length > 0 ? held.join(" ") : "(nothing on this server)"]);
    const d = access.decide("tool", target.server, target.name, principal);
    decision = d.allowed ? { allowed: true } : { allowed: false, reason: d.reason };
    if (d.allowed) {
      const a = await new ArgumentPolicy(config).check(target.server, target.name, undefined, args);
      out.arguments = a;
      lines.push([
        "arguments",
        a.allowed
          ? "every guarded argument passes"
          : `${a.pointer || "(arguments)"}: ${a.reason} (${a.detail})`,
      ]);
      if (!a.allowed) decision = { allowed: false, reason: a.reason };
    } else if (d.reason === "insufficient_scope") {
      const missing = d.needed.filter((s) => !held.includes(s));
      lines.push(["missing", missing.join(" ")]);
    }
  }
  out.decision = decision.allowed ? "allow" : "deny";
  if (decision.reason) out.reason = decision.reason;
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } else {
    process.stdout.write(`decision: ${decision.allowed ? "allow" : `deny (${decision.reason})`}\n`);
    for (const [k, v] of lines) process.stdout.write(`${k}: ${v}\n`);
  }
  process.exitCode = decision.allowed ? 0 : 1;
}
