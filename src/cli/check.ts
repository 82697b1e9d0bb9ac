import { ConfigError } from "../config/errors.js";
import { configPath, loadConfig } from "../config/load.js";
import { configWarnings } from "../config/owned-files.js";
import { commandProblems } from "../upstreams/command.js";
import { policyProblems } from "./policy-problems.js";

export async function checkCommand(option: string | undefined): Promise<void> {
  const file = configPath(option);
  try {
    const config = await loadConfig(file);
    const problems = [...(await commandProblems(config)), ...(await policyProblems(config))];
    if (problems.length > 0) throw new ConfigError(file, problems);
    process.stdout.write(`${file}: ok (${config.servers.length} server(s))\n`);
    for (const warning of configWarnings(config)) process.stderr.write(`warning: ${warning}\n`);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const problem of err.problems) process.stderr.write(`${problem}\n`);
    process.exitCode = 2;
  }
}
