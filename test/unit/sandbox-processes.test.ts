// The sandbox's `processes` limit (RLIMIT_NPROC through prlimit), on the real bubblewrap: a shell
// inside the sandbox that starts 20 background processes fails to fork past the limit; the same
// sandbox without the limit starts all 20 (the control). The kernel never applies RLIMIT_NPROC to
// root, so when the tests run as root the sandbox is started as `nobody`, as a gateway running
// under its own user (deploy/Dockerfile) starts it.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import type { StdioServerConfig } from "../../src/config/types.js";
import { sandboxedLaunch } from "../../src/supply/sandbox.js";

const NOBODY = 65534;
const SCRIPT = 'n=0; for i in $(seq 20); do sleep 3 & n=$((n+1)); done; echo "started $n"; wait';

const forker = {
  name: "forker",
  kind: "stdio",
  command: "/bin/sh",
  args: ["-c", SCRIPT],
  env: {},
  cwd: undefined,
  integrity: new Map(),
  package: undefined,
} as unknown as StdioServerConfig;

async function runSandboxed(processes: number | undefined): Promise<{ status: number | null; out: string }> {
  const { command, args } = await sandboxedLaunch(
    forker,
    { readable: [], writable: [], network: false, memoryBytes: undefined, cpuSeconds: undefined, processes },
    { PATH: "/usr/bin:/bin" },
  );
  const asRoot = process.getuid?.() === 0;
  const r = spawnSync(command, args, {
    encoding: "utf8",
    timeout: 30_000,
    ...(asRoot ? { uid: NOBODY, gid: NOBODY } : {}),
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test("the process limit stops a sandboxed server from forking past it; the control forks freely", async () => {
  const limited = await runSandboxed(8);
  assert.match(limited.out, /fork|Resource temporarily unavailable/i, limited.out);
  assert.doesNotMatch(limited.out, /started 20/);
  const control = await runSandboxed(undefined);
  assert.equal(control.status, 0, control.out);
  assert.match(control.out, /started 20/);
});
