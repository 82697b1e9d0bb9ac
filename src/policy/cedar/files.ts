import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { basename, dirname, relative } from "node:path";
import { globMatch } from "../glob.js";
import type { Cedar, DetailedError, PolicyJson } from "./engine.js";
import { baseSchema } from "./schema.js";

/** The most policies one gateway loads, and the largest policy file it reads. */
const MAX_POLICIES = 10_000;
const MAX_FILE_BYTES = 4 * 1024 * 1024;

/** One policy as loaded: its id (its `@id` annotation, else `file:line`), where it is written, its AST. */
export interface LoadedPolicy {
  readonly id: string;
  readonly file: string;
  readonly line: number;
  readonly text: string;
  readonly json: PolicyJson;
}

export type PolicyFiles =
  | {
      readonly ok: true;
      readonly files: readonly string[];
      readonly policies: readonly LoadedPolicy[];
      /** SHA-256 over every file's name and text: tells a reload that nothing changed. */
      readonly digest: string;
    }
  | { readonly ok: false; readonly problems: readonly string[] };

/**
 * Reads, parses and validates the policy files `policy.cedar` names (absolute patterns, `*` in the
 * file name only). Every problem is a config problem naming its YAML path, file and line: a file
 * that is missing, a pattern that matches nothing, a parse error, a duplicate id, a policy the
 * schema rejects (schema.ts: paths into `context.arguments` and `principal.claims` excepted).
 */
export async function loadPolicyFiles(
  cedar: Cedar,
  patterns: readonly string[],
  configFile: string,
): Promise<PolicyFiles> {
  const problems: string[] = [];
  const policies: LoadedPolicy[] = [];
  const files: string[] = [];
  const ids = new Map<string, LoadedPolicy>();
  const hash = createHash("sha256");
  const base = dirname(configFile);
  const show = (file: string) => {
    const r = relative(base, file);
    return r === "" || r.startsWith("..") ? file : r;
  };
  for (const [i, pattern] of patterns.entries()) {
    const where = `policy.cedar[${i}]`;
    let matched: string[];
    try {
      matched = await expand(pattern);
    } catch (err) {
      problems.push(`${where}: ${show(pattern)}: ${(err as Error).message}`);
      continue;
    }
    if (matched.length === 0) problems.push(`${where}: ${show(pattern)} matches no file`);
    for (const file of matched) {
      if (files.includes(file)) continue;
      files.push(file);
      let text: string;
      try {
        text = await readFile(file, "utf8");
      } catch (err) {
        problems.push(`${where}: ${show(file)}: ${(err as NodeJS.ErrnoException).code ?? "unreadable"}`);
        continue;
      }
      if (text.length > MAX_FILE_BYTES) {
        problems.push(`${where}: ${show(file)}: larger than ${MAX_FILE_BYTES} bytes`);
        continue;
      }
      hash.update(`${file}\u0000${text}\u0000`);
      const parsed = parseFile(cedar, text, show(file), file);
      if (!parsed.ok) {
        problems.push(...parsed.problems.map((p) => `${where}: ${p}`));
        continue;
      }
      for (const p of parsed.policies) {
        const same = ids.get(p.id);
        if (same) {
          problems.push(
            `${where}: ${show(p.file)}:${p.line}: policy id "${p.id}" is also used at ${show(same.file)}:${same.line}`,
          );
          continue;
        }
        ids.set(p.id, p);
        policies.push(p);
      }
    }
  }
  if (policies.length > MAX_POLICIES) problems.push(`policy.cedar: more than ${MAX_POLICIES} policies`);
  if (problems.length === 0) problems.push(...validate(cedar, policies, show));
  return problems.length > 0
    ? { ok: false, problems }
    : { ok: true, files, policies, digest: hash.digest("hex") };
}

async function expand(pattern: string): Promise<string[]> {
  const name = basename(pattern);
  if (!name.includes("*")) return [pattern];
  if (dirname(pattern).includes("*")) throw new Error("'*' is allowed in the file name only");
  const dir = dirname(pattern);
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && globMatch(name, e.name))
    .map((e) => `${dir}/${e.name}`)
    .sort();
}

function parseFile(
  cedar: Cedar,
  text: string,
  shown: string,
  file: string,
): { ok: true; policies: LoadedPolicy[] } | { ok: false; problems: string[] } {
  const checked = cedar.checkParsePolicySet({ staticPolicies: text });
  if (checked.type === "failure")
    return { ok: false, problems: checked.errors.map((e) => located(shown, text, 0, e)) };
  const parts = cedar.policySetTextToParts(text);
  if (parts.type === "failure")
    return { ok: false, problems: parts.errors.map((e) => located(shown, text, 0, e)) };
  if (parts.policy_templates.length > 0)
    return { ok: false, problems: [`${shown}: policy templates are not supported (no slots)`] };
  // The parts come sorted by Cedar's own ids (policy0, policy1, policy10, …): put them back in file order.
  const taken = new Set<number>();
  const placed = parts.policies.map((part) => {
    let at = text.indexOf(part);
    while (at >= 0 && taken.has(at)) at = text.indexOf(part, at + 1);
    taken.add(at);
    return { part, at: Math.max(at, 0) };
  });
  placed.sort((a, b) => a.at - b.at);
  const policies: LoadedPolicy[] = [];
  const problems: string[] = [];
  for (const { part, at } of placed) {
    const line = lineOf(text, at);
    const json = cedar.policyToJson(part);
    if (json.type === "failure") {
      problems.push(...json.errors.map((e) => located(shown, text, at, e)));
      continue;
    }
    const annotated = json.json.annotations?.id;
    if (annotated !== undefined && (annotated.length === 0 || annotated.length > 200))
      problems.push(`${shown}:${line}: @id must be 1 to 200 characters`);
    policies.push({ id: annotated ?? `${shown}:${line}`, file, line, text: part, json: json.json });
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, policies };
}

// Paths whose attributes the base schema cannot know (schema.ts): the validator's "not found" there
// is expected; anything else it finds is a problem.
export const OPEN_PATHS = /^(context\s*\.\s*arguments|principal\s*\.\s*claims)\s*[.[]/;

function validate(cedar: Cedar, policies: readonly LoadedPolicy[], show: (f: string) => string): string[] {
  return validationProblems(cedar, policies, baseSchema(), show, (snippet) => OPEN_PATHS.test(snippet));
}

/**
 * `policies` validated (strict) against `schema`: each problem with file, line and policy id. A
 * "not found" on a path `expected` says the schema cannot know (its snippet) is not a problem. The
 * validator's "policy is impossible" warnings count for the policies `impossible` names (where the
 * schema is known to be whole).
 */
export function validationProblems(
  cedar: Cedar,
  policies: readonly LoadedPolicy[],
  schema: ReturnType<typeof baseSchema>,
  show: (f: string) => string,
  expected: (snippet: string) => boolean,
  impossible: (policyId: string) => boolean = () => false,
): string[] {
  if (policies.length === 0) return [];
  const byId = new Map(policies.map((p) => [p.id, p]));
  const answer = cedar.validate({
    schema,
    policies: { staticPolicies: Object.fromEntries(policies.map((p) => [p.id, p.text])) },
    validationSettings: { mode: "strict" },
  });
  if (answer.type === "failure") return answer.errors.map((e) => `policy.cedar: schema: ${e.message}`);
  const problems: string[] = [];
  const warnings = answer.validationWarnings.filter(
    (w) => / policy is impossible/.test(w.error.message) && impossible(w.policyId),
  );
  for (const { policyId, error } of [...answer.validationErrors, ...warnings]) {
    const p = byId.get(policyId);
    if (!p) {
      problems.push(`policy.cedar: ${error.message}`);
      continue;
    }
    const span = error.sourceLocations?.[0];
    const snippet = span ? p.text.slice(span.start, span.end) : "";
    if (/ not found$/.test(error.message) && expected(snippet)) continue;
    const line = p.line + (span ? lineOf(p.text, span.start) - 1 : 0);
    const help = error.help ? ` (${error.help})` : "";
    problems.push(`policy.cedar: ${show(p.file)}:${line}: policy ${p.id}: ${strip(error.message)}${help}`);
  }
  return problems;
}

function located(shown: string, text: string, offset: number, e: DetailedError): string {
  const span = e.sourceLocations?.[0];
  const at = offset + (span?.start ?? 0);
  const where = span ? `${shown}:${lineOf(text, at)}:${columnOf(text, at)}` : shown;
  const label = span?.label ? ` (${span.label})` : "";
  return `${where}: ${strip(e.message)}${label}`;
}

function strip(message: string): string {
  return message.replace(/^failed to parse policies from string: /, "").replace(/^for policy `[^`]*`, /, "");
}

function lineOf(text: string, at: number): number {
  let line = 1;
  for (let i = text.indexOf("\n"); i >= 0 && i < at; i = text.indexOf("\n", i + 1)) line++;
  return line;
}

function columnOf(text: string, at: number): number {
  return at - (text.lastIndexOf("\n", at - 1) + 1) + 1;
}
