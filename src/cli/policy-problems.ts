import type { Config } from "../config/types.js";

/**
 * Problems of the Cedar policy files (`policy.cedar`), each naming file and line, for `check` and
 * start. The engine and its WebAssembly are loaded only when such files are configured.
 */
export async function policyProblems(config: Config): Promise<string[]> {
  if (config.policy === undefined) return [];
  const { cedarProblems } = await import("../policy/cedar/policy-set.js");
  return cedarProblems(config.policy, config.file);
}
