import type { Config } from "../config/types.js";
import type { Kill, KillScope } from "../ops/kill-store.js";
import { StateStore } from "../state/store.js";
import type { Seen } from "./kill-wait.js";
import { formatTable } from "./table.js";
import { commandLogger, configOrExit, openRedis, openKillStore } from "./run.js";

export interface KillOptions {
  config?: string;
  server?: string;
  tool?: string;
  user?: string;
  client?: string;
  reason?: string;
  list?: boolean;
  json?: boolean;
  /** `--no-wait`: false; return once the kill is stored, without asking the gateway. */
  wait?: boolean;
}

class UsageError extends Error {}

/** The one scope the flags name: none is everything; --tool needs its server (or `server__tool`). */
export function scopeOf(o: KillOptions): { scope: KillScope; target: string } {
  // --user with --server: that user on that server only.
  if (o.user !== undefined && o.server !== undefined && o.tool === undefined && o.client === undefined)
    return { scope: "user_on_server", target: `${o.server}/${o.user}` };
  const named = [
    o.user !== undefined,
    o.client !== undefined,
    o.server !== undefined || o.tool !== undefined,
  ];
  if (named.filter(Boolean).length > 1)
    throw new UsageError("name one of --server/--tool, --user (with --server: on it only) or --client");
  if (o.user !== undefined) return { scope: "user", target: o.user };
  if (o.client !== undefined) return { scope: "client", target: o.client };
  if (o.tool !== undefined) {
    if (o.server !== undefined) return { scope: "tool", target: `${o.server}/${o.tool}` };
    const at = o.tool.indexOf("__");
    if (at <= 0) throw new UsageError("--tool needs --server, or the aggregate name server__tool");
    return { scope: "tool", target: `${o.tool.slice(0, at)}/${o.tool.slice(at + 2)}` };
  }
  if (o.server !== undefined) return { scope: "server", target: o.server };
  return { scope: "all", target: "" };
}

async function run(o: KillOptions, action: "kill" | "revive"): Promise<void> {
  const config = await configOrExit(o.config);
  if (o.list) return list(config, o.json === true);
  let scope: { scope: KillScope; target: string };
  try {
    scope = scopeOf(o);
    const reason = (o.reason ?? "").trim();
    if (reason === "") throw new UsageError(`--reason is required: say why you ${action}`);
    if (reason.length > 500) throw new UsageError("--reason: at most 500 characters");
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`mcp-warden ${action}: ${err.message}\n`);
    process.exitCode = 2;
    return;
  }
  const log = await commandLogger(process.env.WARDEN_LOG_LEVEL ?? "warn");
  const state = StateStore.open(config.state.sqlite);
  const redis = await openRedis(config, log);
  try {
    const store = openKillStore(state, redis);
    const reason = (o.reason as string).trim();
    const detail = { ...scope, why: reason };
    // Refused unless the audit log can record it; recorded before this command reports success.
    const { operator, withAdminAudit } = await import("../audit/index.js");
    const by = operator();
    const done = await withAdminAudit(config, state, log, action, async () => {
      if (action === "kill") {
        await store.put({ ...scope, reason, by, at: new Date().toISOString() });
        return { result: true, detail };
      }
      const removed = await store.remove(scope.scope, scope.target);
      return { result: removed, detail, status: removed ? "ok" : "not_found" };
    });
    if (action === "revive" && !done) {
      process.stderr.write(
        `mcp-warden revive: no kill on ${scope.scope} ${scope.target || "(everything)"}\n`,
      );
      process.exitCode = 1;
      return;
    }
    const what = `${scope.scope} ${scope.target || "(everything)"}`;
    process.stdout.write(`${action === "kill" ? "killed" : "revived"} ${what}\n`);
    if (o.wait === false) return;
    const held = (kills: readonly Kill[]) =>
      kills.some((k) => k.scope === scope.scope && k.target === scope.target);
    const { waitForGateway } = await import("./kill-wait.js");
    const seen = await waitForGateway(config, by, action === "kill" ? held : (k) => !held(k));
    process.exitCode = report(seen, action, config.state.redis !== undefined);
  } finally {
    await redis?.close();
    state.close();
  }
}

/**
 * The kills in force. Only a change needs the audit log, a logger and the gateway's answer:
 * `--list` loads none of them, and pino only to reach Redis.
 */
async function list(config: Config, json: boolean): Promise<void> {
  const state = StateStore.open(config.state.sqlite);
  const redis =
    config.state.redis === undefined
      ? undefined
      : await openRedis(config, await commandLogger(process.env.WARDEN_LOG_LEVEL ?? "warn"));
  try {
    const kills = await openKillStore(state, redis).list();
    if (json) for (const k of kills) process.stdout.write(`${JSON.stringify(k)}\n`);
    else if (kills.length === 0) process.stdout.write("no kills in force\n");
    else
      process.stdout.write(
        formatTable(
          ["scope", "target", "since", "by", "reason"],
          kills.map((k) => [k.scope, k.target || "(everything)", k.at, k.by, k.reason]),
        ),
      );
  } finally {
    await redis?.close();
    state.close();
  }
}

/** Says whether the gateway enforces the change: exit 1 when it answered but did not apply it in time. */
function report(seen: Seen, action: "kill" | "revive", redis: boolean): number {
  const applied = action === "kill" ? "in force" : "lifted";
  const propagation = redis ? "at once (Redis)" : "within 250 ms (they poll the state store)";
  switch (seen.kind) {
    case "seen":
      process.stdout.write(`${applied} on the gateway at ${seen.url} (after ${seen.ms} ms)\n`);
      return 0;
    case "no_gateway":
      process.stdout.write(
        `no gateway answers at ${seen.url}: one started on this config applies it as it starts\n`,
      );
      return 0;
    case "unconfirmed":
      process.stdout.write(
        `not confirmed (${seen.why}); gateways on this state store apply it ${propagation}\n`,
      );
      return 0;
    case "timeout":
      process.stderr.write(
        `mcp-warden ${action}: the gateway at ${seen.url} has not applied it after ${seen.ms} ms; ` +
          "does it run on this config's state store?\n",
      );
      return 1;
  }
}

export const killCommand = (o: KillOptions) => run(o, "kill");
export const reviveCommand = (o: KillOptions) => run(o, "revive");
