import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { parse } from "yaml";
import * as z from "zod";
import { anonymousPrincipal, tokenPrincipal, type Principal } from "../auth/principal.js";
import { ConfigError } from "../config/errors.js";
import type { ItemKind } from "../policy/access.js";
import { configOrExit } from "./run.js";

const name = z.string().min(1).max(1000);
const principal = z.union([
  z.strictObject({
    sub: name,
    client: z.string().max(1000).optional(),
    scopes: z.array(z.string()).default([]),
    groups: z.array(z.string()).default([]),
    claims: z.record(z.string(), z.unknown()).default({}),
    method: z.enum(["bearer", "api_key"]).default("bearer"),
  }),
  z.strictObject({ anonymous: name, scopes: z.array(z.string()).default([]) }),
]);
const resource = z.union([
  z.strictObject({ server: name, tool: name, annotations: z.record(z.string(), z.unknown()).optional() }),
  z.strictObject({ server: name, prompt: name }),
  z.strictObject({ server: name, uri: name }),
]);
const testCase = z.strictObject({
  name: z.string().max(500).optional(),
  principal,
  action: z.enum(["tools/call", "prompts/get", "resources/read"]),
  resource,
  args: z.record(z.string(), z.unknown()).optional(),
  protocol: z.string().default("2025-11-25"),
  /** ISO 8601: `context.time` for the case (default: now). */
  time: z.iso.datetime({ offset: true }).optional(),
  expect: z.enum(["allow", "deny"]),
  /** When given: exactly these policies decided (the permits that allowed, the forbids or errors that denied). */
  policies: z.array(z.string()).optional(),
  reason: z.enum(["cedar_denied", "cedar_error", "argument_type_mismatch"]).optional(),
});
const caseFile = z.strictObject({
  /** Policy files, relative to the case file; absent: the config's `policy.cedar`. */
  policies: z.array(name).min(1).optional(),
  claims: z.array(z.string()).optional(),
  groups_claim: z.string().optional(),
  cases: z.array(testCase).min(1).max(100_000),
});
type Case = z.output<typeof testCase>;

const KIND: Record<Case["action"], ItemKind> = {
  "tools/call": "tool",
  "prompts/get": "prompt",
  "resources/read": "resource",
};

export interface PolicyTestOptions {
  file: string;
  config?: string;
  json?: boolean;
}

/**
 * `policy test FILE`: each case (principal, action, resource, arguments → expected decision) decided
 * by the policies, as the gateway would; exit 1 when any case differs, 2 when the case file or the
 * policies cannot be loaded.
 */
export async function policyTestCommand(opts: PolicyTestOptions): Promise<void> {
  const file = resolve(opts.file);
  let doc: z.output<typeof caseFile>;
  try {
    const parsed = caseFile.safeParse(parse(await readFile(file, "utf8")));
    if (!parsed.success)
      throw new ConfigError(
        file,
        parsed.error.issues.map((i) => `${i.path.join(".") || "(file)"}: ${i.message}`),
      );
    doc = parsed.data;
  } catch (err) {
    return fail(err instanceof ConfigError ? err.problems : [`${file}: ${(err as Error).message}`]);
  }
  let policy;
  let base = file;
  if (doc.policies) {
    policy = {
      cedar: doc.policies.map((p) => resolve(dirname(file), p)),
      claims: doc.claims ?? [],
      groupsClaim: doc.groups_claim ?? "groups",
    };
  } else {
    const config = await configOrExit(opts.config);
    if (!config.policy) return fail([`${file}: no "policies" here and no policy.cedar in ${config.file}`]);
    policy = config.policy;
    base = config.file;
  }
  const { loadAuthorizer } = await import("../policy/cedar/policy-set.js");
  let authorizer;
  try {
    authorizer = await loadAuthorizer(policy, base);
  } catch (err) {
    return fail(err instanceof ConfigError ? err.problems : [(err as Error).message]);
  }
  let failed = 0;
  for (const [i, c] of doc.cases.entries()) {
    const target = c.resource;
    const name = "tool" in target ? target.tool : "prompt" in target ? target.prompt : target.uri;
    const d = authorizer.decide({
      principal: principalOf(c, policy.groupsClaim),
      kind: KIND[c.action],
      server: target.server,
      name,
      args: c.args,
      protocol: c.protocol,
      annotations: "annotations" in target ? target.annotations : undefined,
      now: c.time ? new Date(c.time) : undefined,
    });
    const got = d.allowed ? "allow" : "deny";
    const mismatches: string[] = [];
    if (got !== c.expect) mismatches.push(`expected ${c.expect}, got ${got}`);
    if (c.reason && (d.allowed || d.reason !== c.reason))
      mismatches.push(`expected reason ${c.reason}, got ${d.allowed ? "none" : d.reason}`);
    if (c.policies && !sameSet(c.policies, d.policies))
      mismatches.push(`expected policies [${c.policies.join(", ")}], got [${d.policies.join(", ")}]`);
    const label = c.name ?? `cases[${i}]`;
    const why = d.allowed ? `allow by ${d.policies.join(", ")}` : `deny (${d.reason}: ${d.detail})`;
    if (mismatches.length > 0) failed++;
    if (opts.json)
      process.stdout.write(
        `${JSON.stringify({ case: label, ok: mismatches.length === 0, decision: got, policies: d.policies, ...(d.allowed ? {} : { reason: d.reason, detail: d.detail }), mismatches })}\n`,
      );
    else if (mismatches.length > 0)
      process.stdout.write(`FAIL ${label}: ${mismatches.join("; ")} [${why}]\n`);
    else process.stdout.write(`ok   ${label}: ${why}\n`);
  }
  if (!opts.json)
    process.stdout.write(
      `${doc.cases.length - failed} passed, ${failed} failed (${authorizer.policies.size} policies)\n`,
    );
  process.exitCode = failed > 0 ? 1 : 0;
}

function principalOf(c: Case, groupsClaim: string): Principal {
  const p = c.principal;
  if ("anonymous" in p) return anonymousPrincipal(p.scopes, p.anonymous);
  return tokenPrincipal(
    { subject: p.sub, clientId: p.client, scopes: p.scopes, method: p.method },
    undefined,
    { ...p.claims, [groupsClaim]: p.groups },
  );
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const x = new Set(a);
  return x.size === new Set(b).size && b.every((v) => x.has(v));
}

function fail(problems: readonly string[]): void {
  for (const p of problems) process.stderr.write(`${p}\n`);
  process.exitCode = 2;
}
