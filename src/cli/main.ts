import { Command } from "commander";
import { VERSION } from "../version.js";
import { addPackageBinsToPath } from "./package-path.js";
import type { AuditOptions } from "./audit.js";
import type { ConnectionsOptions } from "./connections.js";
import type { KillOptions } from "./kill.js";
import type { TokenOptions } from "./token.js";
import type { ToolsOptions } from "./tools.js";

// Each command is imported when run: `check` or `token` need not load the authorization server.
export async function main(argv: readonly string[]): Promise<void> {
  addPackageBinsToPath();
  const program = new Command()
    .name("mcp-warden")
    .description("A security gateway for the Model Context Protocol")
    .version(VERSION);
  program
    .command("start")
    .description("run the gateway (default config: ./warden.yaml, else the bundled demo)")
    .option("-c, --config <file>", "config file")
    .option("--listen <host:port>", "listen here instead of gateway.listen (also: WARDEN_LISTEN)")
    .action(async (opts: { config?: string; listen?: string }) =>
      (await import("./start.js")).startCommand(opts.config, opts.listen),
    );
  program
    .command("stdio")
    .description("serve the aggregate endpoint over stdio, for desktop clients")
    .option("-c, --config <file>", "config file")
    .action(async (opts: { config?: string }) => (await import("./stdio.js")).stdioCommand(opts.config));
  program
    .command("check")
    .description("validate a config: exit 0, or 2 with every problem and its YAML path")
    .option("-c, --config <file>", "config file")
    .action(async (opts: { config?: string }) => (await import("./check.js")).checkCommand(opts.config));
  program
    .command("install")
    .description(
      "install package-pinned servers into the gateway's cache (scripts off, integrity and signatures checked)",
    )
    .option("-c, --config <file>", "config file")
    .option("--server <name>", "one server")
    .option("--no-verify-signatures", "skip `npm audit signatures` (recorded; the integrity pin still holds)")
    .action(async (opts: { config?: string; server?: string; verifySignatures: boolean }) =>
      (await import("./install.js")).installCommand(opts),
    );
  program
    .command("hash-password")
    .description("read a password on stdin, print its hash for auth.users[].password_hash")
    .action(async () => (await import("./hash-password.js")).hashPasswordCommand());
  program
    .command("token")
    .description("print an access token from the embedded issuer (automation, tests)")
    .option("-c, --config <file>", "config file")
    .requiredOption("--sub <name>", "the token's subject")
    .option("--scope <scopes>", "space-separated scopes", "")
    .option("--ttl <duration>", "lifetime, e.g. 15m", "15m")
    .option("--resource <url>", "audience: a route URL (default: the public URL, every route)")
    .option("--client-id <id>", "client_id claim", "mcp-warden-cli")
    .action((opts: TokenOptions) => import("./token.js").then((m) => m.tokenCommand(opts)));
  const apikey = program.command("apikey").description("API keys for machines (bearer tokens)");
  apikey
    .command("create")
    .option("-c, --config <file>", "config file")
    .requiredOption("--name <name>", "what the key is for")
    .option("--scope <scopes>", "space-separated scopes", "")
    .option("--ttl <duration>", "lifetime, e.g. 90d (default: no expiry)")
    .action(async (opts: { config?: string; name: string; scope?: string; ttl?: string }) =>
      (await import("./apikey.js")).apikeyCreate(opts),
    );
  apikey
    .command("list")
    .option("-c, --config <file>", "config file")
    .option("--json", "one JSON object per line")
    .action(async (opts: { config?: string; json?: boolean }) =>
      (await import("./apikey.js")).apikeyList(opts),
    );
  apikey
    .command("revoke <id>")
    .option("-c, --config <file>", "config file")
    .action(async (id: string, opts: { config?: string }) =>
      (await import("./apikey.js")).apikeyRevoke({ ...opts, id }),
    );
  const connections = program
    .command("connections")
    .description("users' own accounts at oauth_user servers (per-user upstream OAuth)");
  for (const name of ["list", "revoke"] as const)
    connections
      .command(name)
      .description(
        name === "list"
          ? "who connected which server (never a token)"
          : "remove connections and revoke their tokens upstream",
      )
      .option("-c, --config <file>", "config file")
      .option("--user <subject>", "only this user's")
      .option("--server <name>", "only this server's")
      .option("--json", "one JSON object per line")
      .action(async (opts: ConnectionsOptions) => {
        const m = await import("./connections.js");
        await (name === "list" ? m.connectionsList(opts) : m.connectionsRevoke(opts));
      });
  const policy = program.command("policy").description("inspect and test the policy");
  policy
    .command("test <file>")
    .description("decide each case of a YAML file with the Cedar policies; exit 1 on a mismatch")
    .option("-c, --config <file>", "config file (its policy.cedar, when the case file names no policies)")
    .option("--json", "one JSON object per case")
    .action((file: string, opts: { config?: string; json?: boolean }) =>
      import("./policy-test.js").then((m) => m.policyTestCommand({ ...opts, file })),
    );
  policy
    .command("explain")
    .description("show the decision on a tool call, the rule that made it and the scopes it needs")
    .option("-c, --config <file>", "config file")
    .requiredOption("--sub <name>", "the caller")
    .option("--scope <scopes>", "the caller's scopes, space-separated", "")
    .requiredOption("--tool <server__tool>", "the tool, as the aggregate endpoint names it")
    .option("--args <json>", "the call's arguments", "{}")
    .option("--groups <groups>", "the caller's groups, space-separated (Cedar's principal.groups)", "")
    .option("--claims <json>", "the caller's token claims (Cedar's principal.claims)", "{}")
    .option("--json", "one JSON object")
    .action(
      (opts: {
        config?: string;
        sub: string;
        scope: string;
        tool: string;
        args: string;
        groups: string;
        claims: string;
        json?: boolean;
      }) => import("./policy-explain.js").then((m) => m.policyExplainCommand(opts)),
    );
  program
    .command("scan")
    .description(
      "scan every server's tool, prompt and template definitions for poisoning; report the posture",
    )
    .option("-c, --config <file>", "config file")
    .option("--json", "one JSON object per finding")
    .action(async (opts: { config?: string; json?: boolean }) =>
      (await import("./scan.js")).scanCommand(opts),
    );
  program
    .command("keygen")
    .description("write the keys instances share: the token signing key set, the audit key, the state key")
    .option("--signing <file>", "a new signing JWK set (auth.signing_key_file)")
    .option("--audit <file>", "a new audit chain key (audit.key_file)")
    .option("--state <file>", "a new state key (state.key_file): seals key material in the state store")
    .action(async (opts: { signing?: string; audit?: string; state?: string }) =>
      (await import("./keygen.js")).keygenCommand(opts),
    );
  const scopeFlags = (c: Command) =>
    c
      .option("-c, --config <file>", "config file")
      .option("--server <name>", "one server")
      .option("--tool <name>", "one tool: with --server, or as server__tool")
      .option("--user <sub>", "one caller (token subject)")
      .option("--client <id>", "one OAuth client")
      .option("--reason <text>", "why (required; recorded in the audit log)");
  scopeFlags(
    program
      .command("kill")
      .description("stop everything, or one server, tool, user or client, on every instance"),
  )
    .option("--list", "print the kills in force")
    .option("--json", "with --list: one JSON object per line")
    .option("--no-wait", "return once the kill is stored, without asking the running gateway")
    .action(async (opts: KillOptions) => (await import("./kill.js")).killCommand(opts));
  scopeFlags(program.command("revive").description("lift a kill (the same flags as the kill)"))
    .option("--no-wait", "return once the kill is lifted in the store, without asking the running gateway")
    .action(async (opts: KillOptions) => (await import("./kill.js")).reviveCommand(opts));
  const tools = program.command("tools").description("tool-definition pins: list, diff, approve");
  const pinFlags = (c: Command) =>
    c
      .option("-c, --config <file>", "config file")
      .option("--server <name>", "the server")
      .option("--tool <name>", "the tool (prompt, template): with --server, or as server__tool")
      .option(
        "--kind <kind>",
        "tool, prompt, resourceTemplate or instructions (needs only --server)",
        "tool",
      );
  tools
    .command("list")
    .description("every pinned definition and its state (pinned, changed, poisoned)")
    .option("-c, --config <file>", "config file")
    .option("--server <name>", "one server")
    .option("--virtual <name>", "a virtual server's resolved tools and what each overrides")
    .option("--json", "one JSON object per line")
    .action(async (opts: ToolsOptions) => (await import("./tools.js")).toolsList(opts));
  pinFlags(
    tools
      .command("diff")
      .description("the pinned definition against the current one (exit 1 when they differ)"),
  ).action(async (opts: ToolsOptions) => (await import("./tools.js")).toolsDiff(opts));
  pinFlags(
    tools.command("approve").description("pin the current definition of a changed item (audited)"),
  ).action(async (opts: ToolsOptions) => (await import("./tools.js")).toolsApprove(opts));
  const audit = program.command("audit").description("read, follow, export and verify the audit log");
  const filters = (c: Command) =>
    c
      .option("-c, --config <file>", "config file")
      .option("--sink <sink>", "sqlite, postgres, jsonl or a sink id (default: the first readable sink)")
      .option("--user <sub>", "the caller's subject")
      .option("--server <name>", "server name")
      .option("--tool <name>", "tool or prompt name, or resource URI")
      .option("--status <status>", "ok, denied, error, tool_error, cancelled")
      .option("--event <type>", "tool_call, denied, redacted, injection, admin, auth, …")
      .option("--since <time>", "ISO 8601 time, or a duration back from now (1h, 7d)")
      .option("--until <time>", "ISO 8601 time, or a duration back from now");
  filters(audit.command("query").description("matching events, newest last (a table, or --json)"))
    .option("--json", "one event per line")
    .option("--limit <n>", "at most this many (the newest)", "100")
    .action(async (opts: AuditOptions) => (await import("./audit.js")).auditQuery(opts));
  filters(audit.command("tail").description("the last events; -f follows new ones"))
    .option("-f, --follow", "keep printing new events")
    .option("--json", "one event per line")
    .option("--limit <n>", "how many to show first", "10")
    .action(async (opts: AuditOptions) => (await import("./audit.js")).auditTail(opts));
  filters(audit.command("export").description("every matching event, as JSONL or CSV"))
    .option("--format <format>", "jsonl or csv", "jsonl")
    .action(async (opts: AuditOptions) => (await import("./audit.js")).auditExport(opts));
  audit
    .command("verify")
    .description("walk each sink's chain and checkpoints; exit 1 when anything is missing or tampered with")
    .option("-c, --config <file>", "config file")
    .option("--sink <sink>", "only this sink")
    .option("--checkpoints <file...>", "also check against these checkpoint files kept elsewhere")
    .option("--json", "one report per sink, as JSON")
    .action(async (opts: AuditOptions) => (await import("./audit.js")).auditVerify(opts));
  await program.parseAsync([...argv]);
}
