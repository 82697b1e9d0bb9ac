import type { ApiKeyStore } from "../auth/api-keys.js";
import { durationMs } from "../config/duration.js";
import { withAdminAudit } from "../audit/index.js";
import { PostgresState } from "../state/postgres.js";
import { StateStore } from "../state/store.js";
import { openApiKeys } from "./open.js";
import { loadOrExit } from "./run.js";

type Awaitable<T> = T | Promise<T>;

/** The keys where the gateways read them: Postgres with `state.postgres`, else the state store. */
async function withKeys<T>(configOption: string | undefined, fn: (keys: ApiKeyStore) => Awaitable<T>) {
  const { config } = await loadOrExit(configOption);
  const state = StateStore.open(config.state.sqlite);
  const postgres = config.state.postgres === undefined ? undefined : new PostgresState(config.state.postgres);
  try {
    return await fn(openApiKeys(state, postgres));
  } finally {
    await postgres?.close();
    state.close();
  }
}

/** A change to the keys: refused unless the audit log can record it, then recorded. */
async function changeKeys<T>(
  configOption: string | undefined,
  action: string,
  fn: (keys: ApiKeyStore) => Awaitable<{ result: T; detail: Record<string, unknown>; status?: string }>,
): Promise<T> {
  const { config, log } = await loadOrExit(configOption);
  const state = StateStore.open(config.state.sqlite);
  const postgres = config.state.postgres === undefined ? undefined : new PostgresState(config.state.postgres);
  try {
    return await withAdminAudit(config, state, log, action, () => fn(openApiKeys(state, postgres)));
  } finally {
    await postgres?.close();
    state.close();
  }
}

export async function apikeyCreate(opts: {
  config?: string;
  name: string;
  scope?: string;
  ttl?: string;
}): Promise<void> {
  if (opts.ttl !== undefined && !/^\d+(ms|s|m|h|d)$/.test(opts.ttl))
    throw new Error(`--ttl: not a duration: ${opts.ttl}`);
  const scopes = (opts.scope ?? "").split(/\s+/).filter(Boolean);
  const { key, info } = await changeKeys(opts.config, "apikey_create", async (keys) => {
    const created = await keys.create(
      opts.name,
      scopes,
      opts.ttl === undefined ? undefined : durationMs(opts.ttl),
    );
    const { id, name, expiresAt } = created.info;
    return { result: created, detail: { id, name, scopes, expires_at: expiresAt } };
  });
  process.stderr.write(`created API key ${info.id} (${info.name}); it is shown once, store it now\n`);
  process.stdout.write(`${key}\n`);
}

export async function apikeyList(opts: { config?: string; json?: boolean }): Promise<void> {
  const list = await withKeys(opts.config, (keys) => keys.list());
  if (opts.json) {
    for (const k of list) process.stdout.write(`${JSON.stringify(k)}\n`);
    return;
  }
  for (const k of list) {
    const state = k.revokedAt
      ? `revoked ${k.revokedAt}`
      : k.expiresAt
        ? `expires ${k.expiresAt}`
        : "no expiry";
    process.stdout.write(`${k.id}  ${k.name}  [${k.scopes.join(" ")}]  ${state}\n`);
  }
}

export async function apikeyRevoke(opts: { config?: string; id: string }): Promise<void> {
  const revoked = await changeKeys(opts.config, "apikey_revoke", async (keys) => {
    const done = await keys.revoke(opts.id);
    return { result: done, detail: { id: opts.id.slice(0, 100) }, status: done ? "ok" : "not_found" };
  });
  if (!revoked) {
    process.stderr.write(`mcp-warden: no active API key ${opts.id}\n`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(`revoked ${opts.id}\n`);
}
