import { operator, withAdminAudit } from "../audit/index.js";
import type { KillScope } from "../ops/kill-store.js";
import { createLogger } from "../log.js";
import { StateStore } from "../state/store.js";
import { loadOrExit, openKillStore, openRedis } from "./run.js";

export interface KillOptions {
  config?: string;
  server?: string;
  tool?: string;
  user?: string;
  client?: string;
  reason?: string;
  list?: boolean;
  json?: boolean;
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
  const { config } = await loadOrExit(o.config);
  const log = createLogger(process.env.WARDEN_LOG_LEVEL ?? "warn");
  let scope: { scope: KillScope; target: string };
  try {
    if (o.list) scope = { scope: "all", target: "" };
    else {
      scope = scopeOf(o);
      const reason = (o.reason ?? "").trim();
      if (reason === "") throw new UsageError(`--reason is required: say why you ${action}`);
      if (reason.length > 500) throw new UsageError("--reason: at most 500 characters");
    }
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`mcp-warden ${action}: ${err.message}\n`);
    process.exitCode = 2;
    return;
  }
  const state = StateStore.open(config.state.sqlite);
  const redis = await openRedis(config, log);
  try {
    const store = openKillStore(state, redis);
    if (o.list) {
      const kills = await store.list();
      for (const k of kills) {
        process.stdout.write(
          o.json
            ? `${JSON.stringify(k)}\n`
            : `${k.scope}\t${k.target || "*"}\t${k.at}\t${k.by}\t${k.reason}\n`,
        );
      }
      return;
    }
    const reason = (o.reason as string).trim();
    const detail = { ...scope, why: reason };
    // Refused unless the audit log can record it; recorded before this command reports success.
    const done = await withAdminAudit(config, state, log, action, async () => {
      if (action === "kill") {
        await store.put({ ...scope, reason, by: operator(), at: new Date().toISOString() });
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
    process.stdout.write(
      `${action === "kill" ? "killed" : "revived"} ${scope.scope} ${scope.target || "(everything)"}\n`,
    );
  } finally {
    await redis?.close();
    state.close();
  }
}

export const killCommand = (o: KillOptions) => run(o, "kill");
export const reviveCommand = (o: KillOptions) => run(o, "revive");
