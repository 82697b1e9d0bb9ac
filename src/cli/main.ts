import { Command } from "commander";
import { VERSION } from "../version.js";
import { checkCommand } from "./check.js";
import { hashPasswordCommand } from "./hash-password.js";
import { apikeyCreate, apikeyList, apikeyRevoke } from "./apikey.js";
import { tokenCommand } from "./token.js";
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
  program
    .command("token")
    .description("print an access token from the embedded issuer (automation, tests)")
    .option("-c, --config <file>", "config file")
    .requiredOption("--sub <name>", "the token's subject")
    .option("--scope <scopes>", "space-separated scopes", "")
    .option("--ttl <duration>", "lifetime, e.g. 15m", "15m")
    .option("--resource <url>", "audience: a route URL (default: the public URL, every route)")
    .option("--client-id <id>", "client_id claim", "mcp-warden-cli")
    .action(
      (opts: {
        config?: string;
        sub: string;
        scope?: string;
        ttl: string;
        resource?: string;
        clientId: string;
      }) => tokenCommand(opts),
    );
  const apikey = program.command("apikey").description("API keys for machines (bearer tokens)");
  apikey
    .command("create")
    .option("-c, --config <file>", "config file")
    .requiredOption("--name <name>", "what the key is for")
    .option("--scope <scopes>", "space-separated scopes", "")
    .option("--ttl <duration>", "lifetime, e.g. 90d (default: no expiry)")
    .action((opts: { config?: string; name: string; scope?: string; ttl?: string }) => apikeyCreate(opts));
  apikey
    .command("list")
    .option("-c, --config <file>", "config file")
    .option("--json", "one JSON object per line")
    .action((opts: { config?: string; json?: boolean }) => apikeyList(opts));
  apikey
    .command("revoke <id>")
    .option("-c, --config <file>", "config file")
    .action((id: string, opts: { config?: string }) => apikeyRevoke({ ...opts, id }));
  await program.parseAsync([...argv]);
}
