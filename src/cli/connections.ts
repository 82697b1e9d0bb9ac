import { openAuditLog, operator } from "../audit/index.js";
import { StateStore } from "../state/store.js";
import type { ConnectionView, OAuthUserBroker } from "../upstreams/oauth-user/broker.js";
import { openBroker, openPostgres } from "./open.js";
import { loadOrExit } from "./run.js";
import { formatTable } from "./table.js";

export interface ConnectionsOptions {
  config?: string;
  user?: string;
  server?: string;
  json?: boolean;
}

/** The broker on the config's state (Postgres when instances share it), with an audit log that every sink answers. */
async function withBroker<T>(
  opts: ConnectionsOptions,
  fn: (broker: OAuthUserBroker) => Promise<T>,
): Promise<T> {
  const { config, log } = await loadOrExit(opts.config);
  const state = StateStore.openWithKey(config.state);
  const postgres = openPostgres(config, log, state.stateKey);
  const audit = openAuditLog(config, state, log, { withoutStdout: true });
  try {
    const broker = openBroker(config, state, postgres, audit, log);
    if (!broker)
      throw new Error("no server in this config takes per-user OAuth (auth: { type: oauth_user })");
    if (config.gateway.publicUrl !== undefined) broker.setBase(config.gateway.publicUrl.replace(/\/+$/, ""));
    return await fn(broker);
  } finally {
    await audit.close();
    await postgres?.close();
    state.close();
  }
}

function print(rows: readonly ConnectionView[], json: boolean | undefined): void {
  if (json) {
    for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  if (rows.length === 0) return void process.stderr.write("no connections\n");
  process.stdout.write(
    formatTable(
      ["ID", "USER", "SERVER", "STATUS", "SCOPES", "STEP-UP", "EXPIRES", "LAST USED"],
      rows.map((r) => [
        r.id,
        r.user,
        r.server,
        r.status,
        r.scopes,
        r.step_up_scopes || "-",
        r.expires_at ?? "-",
        r.last_used_at ?? "-",
      ]),
    ),
  );
}

/** `connections list [--user U] [--server S]`: who connected what (never a token). */
export async function connectionsList(opts: ConnectionsOptions): Promise<void> {
  const rows = await withBroker(opts, (b) => b.list({ subject: opts.user, server: opts.server }));
  print(rows, opts.json);
}

/**
 * `connections revoke [--user U] [--server S]`: removes the matching connections (at least one of
 * the two is required) and revokes their tokens at the upstream where it can; audited.
 */
export async function connectionsRevoke(opts: ConnectionsOptions): Promise<void> {
  if (opts.user === undefined && opts.server === undefined)
    throw new Error(
      "connections revoke: name --user, --server or both (revoking every connection takes both spelled out)",
    );
  const done = await withBroker(opts, async (b) => {
    await b.auditReady();
    return b.revoke({ subject: opts.user, server: opts.server }, { sub: operator(), auth: "cli" });
  });
  print(done, opts.json);
  process.stderr.write(`revoked ${done.length} connection${done.length === 1 ? "" : "s"}\n`);
}
