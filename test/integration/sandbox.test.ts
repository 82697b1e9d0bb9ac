// The bubblewrap sandbox, through the real gateway: a sandboxed probe server cannot read outside
// `readable`, write outside `writable`, reach the network or pass its limits; the same server
// unsandboxed can (the control). A server whose sandbox cannot be built is never started.
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connectClient, mcpError, reasonOf, textOf, type ConnectedClient } from "../helpers/client.js";
import { gatewayConfig } from "../helpers/configs.js";
import { ROOT, fixture, makeTempDir, startGateway, type Gateway } from "../helpers/gateway.js";
import { waitFor } from "../helpers/wait.js";

const SECRET = "the-contents-of-a-file-no-sandbox-mounts";
const BASE_ENV = new Set(["HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER"]);

function probe(name: string, extra: Record<string, unknown> = {}) {
  return {
    name,
    command: process.execPath,
    args: [fixture("sandbox-probe-server.mjs")],
    env: { PROBE_VAR: "configured" },
    tools: { "*": ["demo:use"] },
    ...extra,
  };
}

describe("sandbox", () => {
  let gw: Gateway;
  let c: ConnectedClient;
  let listener: Server;
  let port: number;
  let connections = 0;
  let secretFile: string;
  let readableDir: string;
  let writableDir: string;
  let outsideDir: string;

  before(async () => {
    secretFile = join(makeTempDir("warden-secret-"), "secret.txt");
    writeFileSync(secretFile, SECRET);
    readableDir = makeTempDir("warden-readable-");
    writeFileSync(join(readableDir, "data.txt"), "readable data");
    writableDir = makeTempDir("warden-writable-");
    outsideDir = makeTempDir("warden-outside-");
    listener = createServer((socket) => {
      connections++;
      socket.end();
    });
    await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
    port = (listener.address() as { port: number }).port;
    // The repository is readable: the fixture and its node_modules. Node itself is under /usr.
    const sandbox = { readable: [ROOT, readableDir], writable: [writableDir], memory: "3g" };
    gw = await startGateway(
      gatewayConfig([
        probe("boxed", { sandbox }),
        probe("spinner", { sandbox: { readable: [ROOT], cpu_seconds: 1 } }),
        probe("online", { sandbox: { readable: [ROOT], network: true } }),
        probe("open"),
      ]),
    );
    c = await connectClient(gw.mcpUrl);
  });

  after(async () => {
    await c?.close();
    await gw?.stop();
    await new Promise((resolve) => listener?.close(resolve));
  });

  const call = async (tool: string, args: Record<string, unknown>) =>
    textOf(await c.client.callTool({ name: tool, arguments: args }));

  test("reading outside `readable` fails; the control reads it", async () => {
    assert.equal(await call("boxed__read_file", { path: secretFile }), "error: ENOENT");
    assert.match(await call("boxed__read_file", { path: "/etc/shadow" }), /^error: (ENOENT|EACCES)$/);
    assert.match(
      await call("boxed__read_file", { path: join(ROOT, "..", "..", "root", ".bashrc") }),
      /^error:/,
    );
    assert.equal(await call("open__read_file", { path: secretFile }), SECRET);
    if (process.getuid?.() === 0)
      assert.doesNotMatch(await call("open__read_file", { path: "/etc/shadow" }), /^error:/);
  });

  test("`readable` is readable and read-only", async () => {
    assert.equal(await call("boxed__read_file", { path: join(readableDir, "data.txt") }), "readable data");
    const target = join(readableDir, "new.txt");
    assert.equal(await call("boxed__write_file", { path: target, text: "x" }), "error: EROFS");
    assert.equal(existsSync(target), false);
  });

  test("writing outside `writable` fails; the control writes", async () => {
    const target = join(outsideDir, "boxed.txt");
    assert.match(
      await call("boxed__write_file", { path: target, text: "x" }),
      /^error: (ENOENT|EROFS|EACCES)$/,
    );
    assert.equal(existsSync(target), false, "nothing written on the host");
    assert.equal(await call("boxed__write_file", { path: "/escape.txt", text: "x" }), "error: EROFS");
    const control = join(outsideDir, "open.txt");
    assert.equal(await call("open__write_file", { path: control, text: "x" }), "written");
    assert.equal(readFileSync(control, "utf8"), "x");
  });

  test("inside `writable` writing works, and lands on the host", async () => {
    const target = join(writableDir, "out.txt");
    assert.equal(await call("boxed__write_file", { path: target, text: "from the sandbox" }), "written");
    assert.equal(readFileSync(target, "utf8"), "from the sandbox");
  });

  test("no network without `network: true`; the control connects", async () => {
    assert.match(await call("boxed__connect", { host: "127.0.0.1", port }), /^error: /);
    assert.equal(connections, 0, "the listener saw a connection from the sandbox");
    assert.equal(await call("open__connect", { host: "127.0.0.1", port }), "connected");
    await waitFor(() => connections === 1, { what: "the control's connection" });
  });

  test("`network: true` shares the host's network", async () => {
    const before = connections;
    assert.equal(await call("online__connect", { host: "127.0.0.1", port }), "connected");
    await waitFor(() => connections === before + 1, { what: "the sandboxed connection" });
  });

  test("the environment is exactly the configured one", async () => {
    const env = JSON.parse(await call("boxed__env", {})) as Record<string, string>;
    assert.equal(env.PROBE_VAR, "configured");
    // bwrap sets PWD (the working directory) and nothing else.
    const extra = Object.keys(env).filter((k) => !BASE_ENV.has(k) && k !== "PROBE_VAR" && k !== "PWD");
    assert.deepEqual(extra, []);
  });

  test("the memory limit holds: 3 GiB of address space cannot take 4 GiB more", async () => {
    const limits = await call("boxed__read_file", { path: "/proc/self/limits" });
    assert.match(limits, /^Max address space\s+3221225472\s+3221225472\s+bytes/m);
    assert.match(await call("boxed__allocate", { mb: 4096 }), /^error: /);
    assert.match(await call("open__allocate", { mb: 4096 }), /^allocated /);
  });

  test("the CPU limit kills a server that passes it", async () => {
    const err = await mcpError(() => c.client.callTool({ name: "spinner__spin", arguments: { ms: 10_000 } }));
    assert.equal(err.code, -32005, err.message);
    assert.equal(reasonOf(err), "upstream_unavailable");
  });
});

describe("a sandbox that cannot be built", () => {
  let gw: Gateway;
  let noBwrap: Gateway;

  before(async () => {
    const missing = join(makeTempDir("warden-sandbox-"), "not-there");
    gw = await startGateway(gatewayConfig([probe("nomount", { sandbox: { readable: [ROOT, missing] } })]), {
      waitReady: false,
    });
    noBwrap = await startGateway(gatewayConfig([probe("nobwrap", { sandbox: { readable: [ROOT] } })]), {
      waitReady: false,
      env: { WARDEN_BWRAP: "/nonexistent/bwrap" },
    });
  });

  after(async () => {
    await gw?.stop();
    await noBwrap?.stop();
  });

  const blocked = (g: Gateway, server: string) =>
    waitFor(
      async () => {
        const r = await g.readyz();
        return r.body.upstreams?.[server]?.state === "blocked" ? r : undefined;
      },
      { what: `${server} blocked` },
    );

  test("without bubblewrap the server stays down; it never runs unsandboxed", async () => {
    const r = await blocked(noBwrap, "nobwrap");
    assert.equal(r.status, 503);
    assert.equal(
      r.body.upstreams?.nobwrap?.error,
      "sandbox unavailable: bubblewrap (bwrap) not found at /nonexistent/bwrap",
    );
    const err = await mcpError(async () => {
      const client = await connectClient(noBwrap.mcpUrl);
      try {
        return await client.client.callTool({ name: "nobwrap__env", arguments: {} });
      } finally {
        await client.close();
      }
    });
    assert.equal(err.code, -32005);
    assert.equal(reasonOf(err), "sandbox_unavailable");
  });

  test("a mount that does not exist: the server stays down, saying which", async () => {
    const r = await blocked(gw, "nomount");
    assert.match(
      String(r.body.upstreams?.nomount?.error),
      /^sandbox unavailable: mount path does not exist: .*not-there$/,
    );
  });
});
