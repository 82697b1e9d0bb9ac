// The MCP conformance suite's client scenarios (`conformance client --requirements <era>`) with
// mcp-warden as the client: for each scenario the suite starts a mock server and runs
// tools/conformance/gateway-client.mjs, which puts the gateway in front of the mock and drives it
// with the official v2 SDK client; the mock judges what the gateway sent upstream. Every scenario
// must pass, except those named in the `client:` list of tools/conformance/expected-failures.<era>.yaml
// (the gateway's known gaps; an entry that starts passing fails the test, so the list only shrinks).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, before, describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { conformanceBin, ensureConformanceTools, NODE22, TOOLS_DIR } from "./helpers/conformance-tools.js";

type Era = "2025-11-25" | "2026-07-28";
type Check = { id: string; status: string; errorMessage?: string };
const ERAS: Era[] = ["2025-11-25", "2026-07-28"];
const HARNESS = join(TOOLS_DIR, "gateway-client.mjs");
const RUN_TIMEOUT_MS = 300_000;

const work = mkdtempSync(join(tmpdir(), "warden-conformance-client-"));
const runs = new Map<Era, { results: Map<string, Check[]>; required: string[]; output: string }>();
/** What the harness printed for each scenario (the gateway's log on failure), for the diagnosis. */
const stderrs = new Map<string, string>();

function expectedFailures(era: Era): Set<string> {
  const doc = parseYaml(readFileSync(join(TOOLS_DIR, `expected-failures.${era}.yaml`), "utf8")) as {
    client?: unknown;
  } | null;
  const list = doc?.client ?? [];
  assert.ok(
    Array.isArray(list) && list.every((s) => typeof s === "string"),
    `bad expected-failures.${era}.yaml`,
  );
  return new Set(list as string[]);
}

/** The CLI's own rule: any FAILURE or WARNING fails a scenario; no checks at all fails it too. */
function failure(checks: Check[] | undefined): string | undefined {
  if (!checks || checks.length === 0) return "no result (scenario did not run)";
  const bad = checks.filter((c) => c.status === "FAILURE" || c.status === "WARNING");
  return bad.length ? bad.map((c) => `${c.status} ${c.id}: ${c.errorMessage ?? ""}`).join("; ") : undefined;
}

async function conformance(args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(NODE22, [conformanceBin(), ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), RUN_TIMEOUT_MS);
  const [code] = (await once(child, "exit")) as [number | null];
  clearTimeout(timer);
  return { code, output };
}

/** Each scenario's checks: <outDir>/<scenario>-<ISO time>/checks.json, auth ones one folder down. */
function results(outDir: string): Map<string, Check[]> {
  const found = new Map<string, Check[]>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (!statSync(path).isDirectory()) continue;
      const checks = join(path, "checks.json");
      if (existsSync(checks)) {
        const scenario = relative(outDir, path).replace(/-\d{4}-\d\d-\d\dT[\d-]+Z$/, "");
        found.set(scenario, JSON.parse(readFileSync(checks, "utf8")) as Check[]);
        const stderr = join(path, "stderr.txt");
        if (existsSync(stderr))
          stderrs.set(`${relative(work, outDir)} ${scenario}`, readFileSync(stderr, "utf8"));
      } else walk(path);
    }
  };
  walk(outDir);
  return found;
}

// The hook runs both eras (each up to RUN_TIMEOUT_MS): not the runner's per-test default.
before(
  async () => {
    await ensureConformanceTools();
    // One era after the other: each scenario starts a gateway of its own.
    for (const era of ERAS) {
      const listed = await conformance(["list", "--client", "--requirements", era]);
      const required: string[] = [];
      let inClient = false;
      for (const line of listed.output.split("\n")) {
        if (/^\S/.test(line)) inClient = line.startsWith("Client scenarios");
        const m = /^ {2}- (\S+)$/.exec(line);
        if (inClient && m) required.push(m[1] as string);
      }
      const outDir = mkdtempSync(join(work, `${era}-`));
      const command = `${process.execPath} ${HARNESS}`;
      // The suite runs an era's scenarios at once, each starting a gateway: on two loaded cores that
      // takes longer than its default 30 s per scenario.
      const run = await conformance([
        "client",
        "--command",
        command,
        "--requirements",
        era,
        "--timeout",
        "150000",
        "-o",
        outDir,
      ]);
      assert.ok(
        run.code === 0 || run.code === 1,
        `conformance client exited ${run.code}\n${run.output.slice(-4000)}`,
      );
      runs.set(era, { results: results(outDir), required, output: run.output });
    }
  },
  { timeout: 2 * RUN_TIMEOUT_MS },
);

after(() => rmSync(work, { recursive: true, force: true }));

for (const era of ERAS) {
  describe(`client scenarios at ${era}, the gateway as the client`, () => {
    test("every required client scenario ran", () => {
      const { results, required } = runs.get(era)!;
      assert.ok(required.length >= 10, `the ${era} requirement set lists client scenarios`);
      const missing = required.filter((s) => !results.has(s));
      assert.deepEqual(missing, [], `scenarios without a result:\n${runs.get(era)!.output.slice(-3000)}`);
    });

    test("every scenario passes but the known gaps", (t) => {
      const { results } = runs.get(era)!;
      const expected = expectedFailures(era);
      const failing: string[] = [];
      for (const [scenario, checks] of [...results].sort(([a], [b]) => a.localeCompare(b))) {
        const why = failure(checks);
        t.diagnostic(`${scenario}: ${why ? "fail" : "pass"}${expected.has(scenario) ? " (expected)" : ""}`);
        if (why && !expected.has(scenario)) {
          const stderr =
            [...stderrs].find(([k]) => k.startsWith(era) && k.endsWith(` ${scenario}`))?.[1] ?? "";
          failing.push(`${scenario}: ${why}\n--- harness stderr ---\n${stderr.slice(-3000)}`);
        }
      }
      assert.deepEqual(failing, [], `client scenarios failing through the gateway:\n${failing.join("\n")}`);
    });

    test(`expected-failures.${era}.yaml names only scenarios that still fail`, () => {
      const { results } = runs.get(era)!;
      const stale = [...expectedFailures(era)].filter((s) => results.has(s) && !failure(results.get(s)));
      assert.deepEqual(stale, [], "these pass now: remove them from the client list");
    });
  });
}
