// Runs every test file under test/ with node's test runner, three at a time, the longest first (a
// long file started last would be the run's tail). Three at a time suits two cores: most of a
// test's time is spent waiting on the processes it starts (gateways, upstreams, Chromium,
// Postgres), not computing. TEST_CONCURRENCY overrides it. Named files run two at a time, as given.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

/** The longest files, longest first (seconds measured on two cores, December 2026). */
const LONGEST = [
  // The two conformance files are the heaviest on CPU (a second Node, the suite's mocks): they
  // start after the first wave, not beside the package installs.
  "test/integration/package-pinning.test.ts", // 150
  "test/integration/own-secrets.test.ts", // 117
  "test/integration/channels.test.ts", // 117
  "test/conformance.test.ts", // 124
  "test/conformance-client.test.ts", // 118
  "test/integration/audit-tamper.test.ts", // 108
  "test/integration/fairness.test.ts", // 64
  "test/integration/kill-switch.test.ts", // 63
  "test/integration/scan.test.ts", // 62
  "test/attacks/fairness.test.ts", // 56
  "test/e2e/upstream-oauth.test.ts", // 54
  "test/integration/rate-limit.test.ts", // 53
  "test/integration/authserver-postgres.test.ts", // 50
  "test/attacks/modern-protocol.test.ts", // 49
  "test/attacks/isolation.test.ts", // 48
  "test/integration/admin-api.test.ts", // 48
  "test/integration/lifecycle.test.ts", // 46
];

function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? find(p) : p.endsWith(".test.ts") ? [p] : [];
  });
}

function run(files, concurrency) {
  if (files.length === 0) return 0;
  const args = [
    "--import",
    "tsx",
    "--test",
    `--test-concurrency=${concurrency}`,
    "--test-timeout=180000",
    ...files,
  ];
  return spawnSync(process.execPath, args, { stdio: "inherit" }).status ?? 1;
}

const only = process.argv.slice(2);
if (only.length > 0) process.exit(run(only, 2));

const concurrency = Number(process.env.TEST_CONCURRENCY ?? 3);
const all = find("test").sort();
const rank = (f) => {
  const i = LONGEST.indexOf(f);
  return i === -1 ? LONGEST.length : i;
};
const ordered = all.sort((a, b) => rank(a) - rank(b));
process.exit(run(ordered, concurrency));
