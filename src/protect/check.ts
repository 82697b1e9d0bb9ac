import type { Config } from "../config/types.js";
import { compileRedactor, RedactorConfigError } from "./redaction/index.js";

const CHECK_KEY = new Uint8Array(32);

/** Problems with each server's protection options (custom patterns, types), with YAML paths. */
export function protectProblems(config: Pick<Config, "servers">): string[] {
  const problems: string[] = [];
  config.servers.forEach((server, i) => {
    const p = server.protect;
    try {
      compileRedactor({
        replacements: p.replacements,
        custom: p.customPatterns,
        disabled: p.disabledTypes,
        hashKey: CHECK_KEY,
      });
    } catch (err) {
      // Options come from the top-level `protect` or the server's own: name the server's, which wins.
      const option = err instanceof RedactorConfigError ? err.option : "(options)";
      const message = (err instanceof Error ? err.message : String(err)).replace(`${option}: `, "");
      problems.push(`servers[${i}].protect.${yamlKey(option)}: ${message}`);
    }
  });
  return [...new Set(problems)];
}

function yamlKey(option: string): string {
  return option.replace(/^custom/, "custom_patterns").replace(/^disabled/, "disabled_types");
}
