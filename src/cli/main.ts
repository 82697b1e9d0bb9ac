import { Command } from "commander";
import { VERSION } from "../version.js";
import { checkCommand } from "./check.js";
import { hashPasswordCommand } from "./hash-password.js";
import { startCommand } from "./start.js";
import { stdioCommand } from "./stdio.js";

export async function main(argv: readonly string[]): Promise<void> {
  const program = new Command()
    .name("mcp-warden")
    .description("A security gateway for the Model Context Protocol")
    .version(VERSION);
  program
    .command("start")
    .description("run the gateway (default config: ./warden.yaml, else the bundled demo)")
    .option("-c, --config <file>", "config file")
    .action((opts: { config?: string }) => startCommand(opts.config));
  program
    .command("stdio")
    .description("serve the aggregate endpoint over stdio, for desktop clients")
    .option("-c, --config <file>", "config file")
    .action((opts: { config?: string }) => stdioCommand(opts.config));
  program
    .command("check")
    .description("validate a config: exit 0, or 2 with every problem and its YAML path")
    .option("-c, --config <file>", "config file")
    .action((opts: { config?: string }) => checkCommand(opts.config));
  program
    .command("hash-password")
    .description("read a password on stdin, print its hash for auth.users[].password_hash")
    .action(() => hashPasswordCommand());
  await program.parseAsync([...argv]);
}
