// The package as users get it: `npm pack`, installed into an empty folder with nothing of the
// repository around it, then `npx mcp-warden start` there on a config of that folder, moved to a
// free port by WARDEN_LISTEN, and a client call through it.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import { connectClient, textOf, type ConnectedClient } from "../helpers/client.js";
import { launchGateway, makeTempDir, ROOT, writeConfig, type Gateway } from "../helpers/gateway.js";

const run = promisify(execFile);
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const npx = process.platform === "win32" ? "npx.cmd" : "npx";
const quiet = ["--no-audit", "--no-fund", "--loglevel=error"];

const versionOf = (dir: string) =>
  (
    JSON.parse(readFileSync(join(dir, "node_modules", "better-sqlite3", "package.json"), "utf8")) as {
      version: string;
    }
  ).version;

describe("the npm package, installed into an empty folder", () => {
  let gw: Gateway;
  let client: ConnectedClient;
  let folder: string;

  before(async () => {
    // dist/ is what `npm test` (or `npm run build`) has just built; --ignore-scripts skips a rebuild.
    const packed = makeTempDir("warden-pack-");
    const { stdout } = await run(
      npm,
      ["pack", "--ignore-scripts", "--silent", "--pack-destination", packed],
      {
        cwd: ROOT,
      },
    );
    const tarball = join(packed, stdout.trim().split("\n").pop() as string);
    folder = makeTempDir("warden-installed-");
    // Scripts off: better-sqlite3's native build is the one this repository's `npm ci` made (the
    // same version on the same Node); compiling it again takes minutes and tests nothing of ours.
    await run(npm, ["install", "--ignore-scripts", "--prefer-offline", ...quiet, tarball], { cwd: folder });
    if (versionOf(folder) === versionOf(ROOT)) {
      const release = join(folder, "node_modules", "better-sqlite3", "build", "Release");
      mkdirSync(release, { recursive: true });
      copyFileSync(
        join(ROOT, "node_modules", "better-sqlite3", "build", "Release", "better_sqlite3.node"),
        join(release, "better_sqlite3.node"),
      );
    } else {
      await run(npm, ["rebuild", "better-sqlite3", ...quiet], { cwd: folder });
    }
    // The folder's own config, naming a server by the command the package brings with it.
    const configFile = writeConfig(
      {
        auth: { anonymous: ["demo:use"] },
        servers: [
          {
            name: "everything",
            command: "mcp-server-everything",
            args: ["stdio"],
            tools: { "*": ["demo:use"] },
          },
        ],
      },
      folder,
    );
    gw = await launchGateway([npx, "--no-install", "mcp-warden", "start"], {
      dir: folder,
      configFile,
      env: { WARDEN_LISTEN: "127.0.0.1:0" },
      // npx, then the gateway: two Node start-ups before the "listening" line.
      listenTimeoutMs: 60_000,
    });
    client = await connectClient(gw.mcpUrl);
  });

  after(async () => {
    await client?.close();
    await gw?.stop();
  });

  test("runs from the folder's node_modules, not from the repository", () => {
    const listening = gw.logs().find((l) => l.msg === "listening");
    assert.equal(listening?.config, join(folder, "warden.yaml"));
    assert.doesNotMatch(gw.stderrLines.join("\n"), new RegExp(ROOT.replace(/[/.]/g, "\\$&")));
  });

  test("a client lists and calls a tool through it", async () => {
    const names = (await client.client.listTools()).tools.map((t) => t.name);
    assert.ok(names.includes("everything__echo"), names.join(" "));
    const echo = await client.client.callTool({ name: "everything__echo", arguments: { message: "packed" } });
    assert.match(textOf(echo), /packed/);
  });

  test("the admin console's build is in the package", async () => {
    const res = await fetch(`${gw.url}/admin/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /text\/html/);
  });
});
