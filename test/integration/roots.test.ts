// A client's roots cannot widen what a server may touch. The real server-filesystem asks the client
// for its roots when the client declares the capability, and replaces the folders it serves with
// them; through the gateway it gets only the roots inside its `allowed_paths` that neither are, sit
// inside nor contain the gateway's own files. Here the official SDK client answers with an outside
// folder, the gateway's state folder, folders above it, symlinks to both, encoded `..` escapes and
// forms a server reads differently; the server (test/fixtures/fs-from-env.mjs records what it
// receives) gets none of them, its `list_allowed_directories` shows what it ended up with, and
// every drop is audited as a `server_request` event with its reason.
import assert from "node:assert/strict";
import { mkdirSync, realpathSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, test } from "node:test";
import type { Root } from "@modelcontextprotocol/sdk/types.js";
import { connectClient, textOf, type ConnectedClient } from "../helpers/client.js";
import { gatewayConfig } from "../helpers/configs.js";
import { fixture, makeTempDir, startGateway, type Gateway } from "../helpers/gateway.js";
import { receivedMessages } from "../helpers/records.js";
import { auditEvents } from "../helpers/supply.js";
import { waitFor } from "../helpers/wait.js";

const uri = (p: string) => pathToFileURL(p).href;
const root = (p: string, name = "root"): Root => ({ uri: uri(p), name });

describe("the client's roots are judged before a server gets them", () => {
  let gw: Gateway;
  const clients: ConnectedClient[] = [];
  let base: string;
  let project: string;
  let inside: string;
  let outside: string;
  let records: { fs: string; open: string };

  /** The real filesystem server on `roots`, recording what it receives. */
  const fsServer = (name: string, roots: string[], record: string, extra: Record<string, unknown>) => ({
    name,
    command: process.execPath,
    args: [fixture("fs-from-env.mjs")],
    env: { FS_ROOTS: JSON.stringify(roots), RECORD_FILE: record },
    tools: { list_allowed_directories: ["files:read"], list_directory: ["files:read"] },
    ...extra,
  });

  before(async () => {
    base = realpathSync(makeTempDir("warden-roots-"));
    project = join(base, "project");
    inside = join(project, "inside");
    outside = join(base, "outside");
    mkdirSync(join(inside, "deeper"), { recursive: true });
    mkdirSync(outside);
    records = { fs: join(base, "fs.jsonl"), open: join(base, "open.jsonl") };
    gw = await startGateway({
      ...gatewayConfig(
        [
          fsServer("fs", [project], records.fs, { allowed_paths: [project] }),
          // No allowed_paths: only the gateway's own files limit what its roots may be.
          fsServer("open", [project], records.open, {}),
        ],
        { anonymous: ["files:read"] },
      ),
      audit: { sinks: ["sqlite", "stdout"] },
    });
    // The attacker's links, made after start (nothing `check` could see).
    symlinkSync(outside, join(project, "escape"));
    symlinkSync(join(gw.dir, ".warden"), join(outside, "state-link"));
    symlinkSync(gw.dir, join(outside, "gateway-link"));
  });

  after(async () => {
    for (const c of clients) await c.close();
    await gw?.stop();
  });

  /** The roots the server received in its answers since `from` messages. */
  function rootsReceived(record: string, from: number): string[][] {
    return receivedMessages(record)
      .slice(from)
      .flatMap((m) => {
        const result = (m as { result?: { roots?: Array<{ uri: string }> } }).result;
        return !("method" in m) && Array.isArray(result?.roots) ? [result.roots.map((r) => r.uri)] : [];
      });
  }

  /**
   * Connects a client declaring `roots` to one server's route, waits until the server has asked
   * for them and had its answer, and returns that answer's URIs and the client.
   */
  async function offer(server: "fs" | "open", roots: Root[]) {
    const record = records[server];
    const from = receivedMessages(record).length;
    const c = await connectClient(gw.serverUrl(server), { roots });
    clients.push(c);
    const received = await waitFor(() => rootsReceived(record, from)[0], {
      what: `${server} to receive the client's roots`,
    });
    assert.equal(c.requests.filter((r) => r.method === "roots/list").length, 1, "the client was asked");
    return { received, c };
  }

  async function allowedDirectories(c: ConnectedClient): Promise<string[]> {
    const text = textOf(await c.client.callTool({ name: "list_allowed_directories", arguments: {} }));
    return text
      .split("\n")
      .slice(1)
      .filter((l) => l !== "");
  }

  /** The server_request event of the latest roots/list relayed to `server`. */
  async function lastRootsEvent(server: string): Promise<Record<string, unknown>> {
    const events = await auditEvents(gw, "--event", "server_request", "--server", server);
    const roots = events.filter((e) => e.method === "roots/list");
    assert.ok(roots.length > 0, "no server_request event for roots/list");
    return roots.at(-1) as Record<string, unknown>;
  }

  test("with allowed_paths: only the root inside them reaches the server", async () => {
    const state = join(gw.dir, ".warden");
    const hostile: Root[] = [
      root(outside, "outside"),
      root(state, "state"),
      root(gw.dir, "gateway folder"),
      root("/", "everything"),
      root(join(project, "escape"), "symlink out"),
      { uri: `${uri(project)}/%2e%2e/outside`, name: "encoded dot-dot" },
      { uri: `${uri(project)}/%252e%252e/outside`, name: "double-encoded dot-dot" },
      { uri: `${uri(project)}/../outside`, name: "dot-dot" },
      { uri: `file://localhost${outside}`, name: "localhost" },
      { uri: `file://${project}/inside%00/../../outside`, name: "NUL" },
      root(join(outside, "state-link"), "symlink to the state folder"),
    ];
    const { received, c } = await offer("fs", [...hostile, root(inside, "inside")]);
    assert.deepEqual(received, [uri(inside)], "the server received a root it may not have");
    const dirs = await waitFor(
      async () => {
        const d = await allowedDirectories(c);
        return d.includes(inside) ? d : undefined;
      },
      { what: "the server to take the kept root" },
    );
    assert.deepEqual(dirs, [inside]);
    const listing = textOf(await c.client.callTool({ name: "list_directory", arguments: { path: inside } }));
    assert.match(listing, /\[DIR\] deeper/);

    const event = await lastRootsEvent("fs");
    assert.equal(event.status, "filtered");
    assert.equal(event.reason, "path_not_allowed");
    const detail = (event.detail as { roots: { received: number; kept: number; dropped: unknown[] } }).roots;
    assert.equal(detail.received, hostile.length + 1);
    assert.equal(detail.kept, 1);
    assert.equal(detail.dropped.length, hostile.length);
    // The audit says why, never which path.
    assert.ok(!JSON.stringify(event).includes(outside), "the audit event carries a dropped root's path");
  });

  test("when nothing is left the server gets an empty list and keeps its own folders", async () => {
    const { received, c } = await offer("fs", [root(outside), root(join(gw.dir, ".warden"))]);
    assert.deepEqual(received, []);
    assert.deepEqual(await allowedDirectories(c), [project]);
  });

  test("without allowed_paths: the gateway's own files, folders above them and links to them are dropped", async () => {
    const state = join(gw.dir, ".warden");
    const hostile: Root[] = [
      root(state, "state"),
      root(join(state, "packages"), "inside the state folder"),
      root(gw.dir, "holds the state folder and the config"),
      root(base.split("/").slice(0, 2).join("/") || "/", "far above"),
      root("/", "everything"),
      root(join(outside, "state-link"), "symlink to the state folder"),
      root(join(outside, "gateway-link"), "symlink to the gateway folder"),
      { uri: `${uri(gw.dir)}/%2Ewarden`, name: "encoded dot" },
      { uri: `${uri(gw.dir)}/.WARDEN`, name: "case variant" },
      // The kernel follows the link before `..`: a server that strips `file://` lands on its parent.
      { uri: `${uri(outside)}/gateway-link/..`, name: "link/.." },
      { uri: `file://localhost${state}`, name: "localhost" },
    ];
    const { received, c } = await offer("open", [...hostile, root(outside, "outside")]);
    assert.deepEqual(received, [uri(outside)]);
    const dirs = await waitFor(
      async () => {
        const d = await allowedDirectories(c);
        return d.includes(outside) ? d : undefined;
      },
      { what: "the server to take the kept root" },
    );
    assert.deepEqual(dirs, [outside]);
    const event = await lastRootsEvent("open");
    assert.equal(event.status, "filtered");
    const detail = (event.detail as { roots: { kept: number; dropped: Array<{ why: string }> } }).roots;
    assert.equal(detail.kept, 1);
    assert.equal(detail.dropped.length, hostile.length);
    assert.ok(
      detail.dropped.some((d) => /owns/.test(d.why)),
      JSON.stringify(detail.dropped),
    );
  });

  test("roots that are all allowed pass unchanged, audited ok", async () => {
    const roots = [root(inside, "inside"), root(join(inside, "deeper"), "deeper")];
    const { received } = await offer("fs", roots);
    assert.deepEqual(received, [uri(inside), uri(join(inside, "deeper"))]);
    const event = await lastRootsEvent("fs");
    assert.equal(event.status, "ok");
    assert.equal(event.reason, undefined);
    assert.deepEqual((event.detail as { roots: unknown }).roots, { received: 2, kept: 2 });
  });

  test("a changed list (notifications/roots/list_changed) is judged again", async () => {
    const roots = [root(inside, "inside")];
    const { c } = await offer("fs", roots);
    const from = receivedMessages(records.fs).length;
    roots.push(root(outside, "outside"), root(join(gw.dir, ".warden"), "state"));
    await c.client.sendRootsListChanged();
    const received = await waitFor(() => rootsReceived(records.fs, from)[0], {
      what: "the server to ask for the roots again",
    });
    assert.deepEqual(received, [uri(inside)]);
    assert.deepEqual(await allowedDirectories(c), [inside]);
  });
});
