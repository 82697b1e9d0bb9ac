// Runs every test file under test/ with node's test runner (Node 20 has no glob for --test).
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? find(p) : p.endsWith(".test.ts") ? [p] : [];
  });
}

const only = process.argv.slice(2);
const files = only.length > 0 ? only : find("test").sort();
const args = ["--import", "tsx", "--test", "--test-concurrency=2", "--test-timeout=180000", ...files];
const res = spawnSync(process.execPath, args, { stdio: "inherit" });
process.exit(res.status ?? 1);
