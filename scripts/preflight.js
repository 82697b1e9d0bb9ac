// Run by `npm test` before anything else: the tests run real peers, not mocks, so a machine missing
// one learns it here, all at once, instead of from a timeout deep inside one suite.
import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { connect } from "node:net";
import pg from "pg";

const PG_URL = "postgres://postgres@127.0.0.1:5432/test";
const REDIS = { host: "127.0.0.1", port: 6379 };
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const BWRAP = process.env.WARDEN_BWRAP ?? "/usr/bin/bwrap";
const NGINX = "/usr/sbin/nginx";
const TIMEOUT_MS = 3000;

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return undefined;
  } catch {
    return `${path} not found`;
  }
}

/** bwrap present and able to make a namespace here (some containers forbid it). */
function bubblewrap() {
  const missing = executable(BWRAP);
  if (missing) return missing;
  const r = spawnSync(BWRAP, ["--ro-bind", "/", "/", "--dev", "/dev", "true"], { timeout: TIMEOUT_MS });
  return r.status === 0 ? undefined : `${BWRAP} cannot make a sandbox here: ${String(r.stderr).trim()}`;
}

async function postgres() {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: TIMEOUT_MS });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return undefined;
  } catch (err) {
    return `${PG_URL}: ${err.message}`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function redis() {
  return new Promise((resolve) => {
    const socket = connect(REDIS);
    const done = (problem) => {
      socket.destroy();
      resolve(problem);
    };
    socket.setTimeout(TIMEOUT_MS, () => done(`redis://${REDIS.host}:${REDIS.port}: no answer`));
    socket.on("error", (err) => done(`redis://${REDIS.host}:${REDIS.port}: ${err.message}`));
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (d) =>
      done(String(d).startsWith("+PONG") ? undefined : `redis answered ${String(d).trim()}`),
    );
  });
}

const needs = [
  { what: "bubblewrap (sandbox tests)", how: "apt-get install bubblewrap", check: bubblewrap },
  {
    what: "Chromium (console and sign-in pages)",
    how: "apt-get install chromium, or set CHROMIUM_PATH",
    check: () => executable(CHROMIUM),
  },
  {
    what: "nginx (the load-balancer test)",
    how: "apt-get install nginx-light",
    check: () => executable(NGINX),
  },
  {
    what: "Postgres on 127.0.0.1:5432, user postgres without a password, database test",
    how: "apt-get install postgresql, allow trust on 127.0.0.1, createdb test",
    check: postgres,
  },
  { what: "Redis on 127.0.0.1:6379", how: "apt-get install redis-server", check: redis },
];

const problems = (await Promise.all(needs.map(async (n) => ({ ...n, problem: await n.check() })))).filter(
  (n) => n.problem !== undefined,
);
if (problems.length > 0) {
  process.stderr.write("npm test: the tests need these, and this machine lacks them:\n");
  for (const p of problems) process.stderr.write(`  - ${p.what}: ${p.problem}\n      get it: ${p.how}\n`);
  process.stderr.write("(.ci/run installs the packages on Debian; Postgres and Redis must be running)\n");
  process.exit(1);
}
