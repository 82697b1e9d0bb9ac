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
  /** Space-separated: the caller's groups, for Cedar (default none). */
  groups?: string;
  /** JSON: the caller's token claims, for Cedar (default `{}`). */
  claims?: string;
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
  let claims: Record<string, unknown>;
  try {
    claims = JSON.parse(opts.claims ?? "{}") as Record<string, unknown>;
  } catch {
    throw new Error("--claims: not JSON");
  }
  if (claims === null || typeof claims !== "object" || Array.isArray(claims))
    throw new Error("--claims: not a JSON object");
  const groups = (opts.groups ?? "").split(/\s+/).filter(Boolean);
  if (config.policy) claims = { ...claims, [config.policy.groupsClaim]: groups };
  const principal = tokenPrincipal(
    {
      subject: opts.sub,
      clientId: undefined,
      method: "bearer",
      scopes: opts.scope.split(/\s+/).filter(Boolean),
    },
    undefined,
    claims,
  );
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
    if (d.allowed && config.policy) {
      // Cedar, as the gateway runs it: after scopes, before the argument guards.
      const { loadAuthorizer } = await import("../policy/cedar/policy-set.js");
      const c = (await loadAuthorizer(config.policy, config.file)).decide({
        principal,
        kind: "tool",
        server: target.server,
        name: target.name,
        args,
        protocol: "2025-11-25",
      });
      out.cedar = c.allowed
        ? { decision: "allow", policies: c.policies }
        : { decision: "deny", reason: c.reason, policies: c.policies, detail: c.detail };
      lines.push([
        "cedar",
        c.allowed
          ? `allow, permitted by ${c.policies.join(", ")}`
          : `deny (${c.reason}): ${c.detail}${c.policies.length > 0 ? `; policies: ${c.policies.join(", ")}` : ""}`,
      ]);
      if (!c.allowed) decision = { allowed: false, reason: c.reason };
    }
    if (d.allowed) {
      if (!decision.allowed) return finish(opts, out, lines, decision);
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
  finish(opts, out, lines, decision);
}

function finish(
  opts: ExplainOptions,
  out: Record<string, unknown>,
  lines: Array<[string, string]>,
  decision: { allowed: boolean; reason?: string },
): void {
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
