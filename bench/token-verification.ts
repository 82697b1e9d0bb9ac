// node --import tsx bench/token-verification.ts [--iterations 20000] [--postgres postgres://…]
// Microbenchmark of bearer-token verification in-process (TokenVerifier.authenticate): an
// embedded-issuer JWT (RS256 signature, claims, audience) with no revocation check, with the
// SQLite revocation lookup, and with the Postgres one when --postgres is given; and an API key
// in SQLite and Postgres. "c=1" is one verification at a time (the added latency of a request);
// "c=16" keeps 16 in flight (throughput of one process). The Postgres tables go in a schema of
// their own, dropped at the end.
import { parseArgs } from "node:util";
import pg from "pg";
import { ApiKeys, type ApiKeyStore } from "../src/auth/api-keys.js";
import { PostgresApiKeys } from "../src/auth/api-keys-postgres.js";
import { KeyStore } from "../src/auth/keys.js";
import { TokenVerifier } from "../src/auth/verifier.js";
import { AccessTokenRegistry, PostgresAccessTokenRegistry } from "../src/authserver/access-tokens.js";
import { parseConfig } from "../src/config/load.js";
import { PostgresState } from "../src/state/postgres.js";
import { StateStore } from "../src/state/store.js";

const { values: opts } = parseArgs({
  options: { iterations: { type: "string", default: "20000" }, postgres: { type: "string" } },
});
const iterations = Number(opts.iterations);
if (!Number.isInteger(iterations) || iterations < 100)
  throw new Error(`bad --iterations: ${opts.iterations}`);

const BASE = "https://gw.example";
const ROUTE = `${BASE}/mcp`;
const auth = parseConfig(
  JSON.stringify({ auth: { anonymous: [] }, servers: [{ name: "s", command: "node" }] }),
  "/bench/warden.yaml",
  {},
).auth;
const state = StateStore.open(":memory:");
const keys = await KeyStore.load({ file: undefined, state });

/** A signed token, recorded in `registry` when given (a live, unrevoked row: the usual lookup). */
async function token(registry?: { record: AccessTokenRegistry["record"] }): Promise<string> {
  const t = await keys.sign(
    { scope: "files:read", client_id: "agent" },
    { issuer: BASE, audience: ROUTE, subject: "alice", ttlS: 3600 },
  );
  const { jti } = JSON.parse(Buffer.from(t.split(".")[1] as string, "base64url").toString()) as {
    jti: string;
  };
  await registry?.record({
    jti,
    grantId: undefined,
    clientId: "agent",
    accountId: "alice",
    expiresAt: Date.now() + 3_600_000,
  });
  return t;
}

function verifier(
  isRevoked: ((jti: string) => boolean | Promise<boolean>) | undefined,
  apiKeys: ApiKeyStore | undefined,
) {
  return new TokenVerifier({
    auth,
    base: BASE,
    issuer: BASE,
    keys,
    apiKeys,
    ...(isRevoked ? { isRevoked } : {}),
  });
}

interface Row {
  credential: string;
  "revocation / key store": string;
  mode: string;
  "wall µs/verification": string;
  "CPU µs/verification": string;
}
const rows: Row[] = [];

async function measure(
  credential: string,
  store: string,
  v: TokenVerifier,
  header: string,
  count: number,
  concurrency: number,
): Promise<void> {
  const run = async (n: number) => {
    let next = 0;
    const worker = async () => {
      while (next++ < n) await v.authenticate(header, ROUTE);
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  };
  await run(Math.min(2000, count));
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await run(count);
  const wall = Number(process.hrtime.bigint() - t0) / 1000 / count;
  const cpu = process.cpuUsage(cpu0);
  rows.push({
    credential,
    "revocation / key store": store,
    mode: `c=${concurrency}`,
    "wall µs/verification": wall.toFixed(1),
    "CPU µs/verification": ((cpu.user + cpu.system) / count).toFixed(1),
  });
}

const sqliteTokens = new AccessTokenRegistry(state.db);
const sqliteKeys = new ApiKeys(state);
const sqliteKey = sqliteKeys.create("bench", ["files:read"], undefined).key;
for (const c of [1, 16]) {
  await measure("JWT", "none", verifier(undefined, undefined), `Bearer ${await token()}`, iterations, c);
  await measure(
    "JWT",
    "sqlite",
    verifier((jti) => sqliteTokens.isRevoked(jti), undefined),
    `Bearer ${await token(sqliteTokens)}`,
    iterations,
    c,
  );
  await measure("API key", "sqlite", verifier(undefined, sqliteKeys), `Bearer ${sqliteKey}`, iterations, c);
}

if (opts.postgres) {
  const schema = `bench_tokens_${process.pid}`;
  const admin = new pg.Client({ connectionString: opts.postgres });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const url = new URL(opts.postgres);
  url.searchParams.set("options", `-c search_path=${schema}`);
  const postgres = new PostgresState(url.href);
  try {
    const pgTokens = new PostgresAccessTokenRegistry(postgres);
    const pgKeys = new PostgresApiKeys(postgres);
    const pgKey = (await pgKeys.create("bench", ["files:read"], undefined)).key;
    // Round trips dominate: fewer iterations give the same precision.
    const n = Math.ceil(iterations / 4);
    for (const c of [1, 16]) {
      await measure(
        "JWT",
        "postgres",
        verifier((jti) => pgTokens.isRevoked(jti), undefined),
        `Bearer ${await token(pgTokens)}`,
        n,
        c,
      );
      await measure("API key", "postgres", verifier(undefined, pgKeys), `Bearer ${pgKey}`, n, c);
    }
  } finally {
    await postgres.close();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  }
}

console.log(`bearer-token verification, ${iterations} per in-process case, node ${process.version}`);
console.table(rows);
state.close();
