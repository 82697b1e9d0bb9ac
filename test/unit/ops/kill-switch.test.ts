// The kill switch in process: kills match their scope; a store that cannot be read at start stops
// the start (no call admitted without the kills), while a later failed reload keeps the kills known.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { AuditLog } from "../../../src/audit/log.js";
import { createLogger } from "../../../src/log.js";
import type { Kill, KillStore } from "../../../src/ops/kill-store.js";
import { KillSwitch, killMatches } from "../../../src/ops/kill-switch.js";

const log = createLogger("silent");
const audit = { record: () => Promise.resolve() } as unknown as AuditLog;
const kill = (scope: Kill["scope"], target: string): Kill => ({
  scope,
  target,
  reason: "r",
  by: "t",
  at: "",
});

test("a kill matches its own scope only", () => {
  const call = { server: "files", name: "write", subject: "alice", clientId: "agent" };
  assert.ok(killMatches(kill("all", ""), call));
  assert.ok(killMatches(kill("server", "files"), call));
  assert.ok(!killMatches(kill("server", "other"), call));
  assert.ok(killMatches(kill("tool", "files/write"), call));
  assert.ok(!killMatches(kill("tool", "files/read"), call));
  assert.ok(killMatches(kill("user", "alice"), call));
  assert.ok(killMatches(kill("client", "agent"), call));
  assert.ok(!killMatches(kill("client", "agent"), { subject: "alice" }));
});

test("a store that cannot be read at start fails the start; a later failure keeps the kills", async () => {
  let fail = true;
  let watcher: (() => void) | undefined;
  const store: KillStore = {
    list: () => (fail ? Promise.reject(new Error("store down")) : Promise.resolve([kill("server", "files")])),
    put: () => Promise.resolve(),
    remove: () => Promise.resolve(true),
    watch: (onChange) => {
      watcher = onChange;
      return Promise.resolve(() => undefined);
    },
  };
  const ks = new KillSwitch(store, undefined, audit, log);
  await assert.rejects(ks.start(), /store down/);
  fail = false;
  await ks.start();
  assert.equal(ks.check({ server: "files", subject: "x" })?.scope, "server");
  fail = true;
  watcher?.();
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(
    ks.check({ server: "files", subject: "x" })?.scope,
    "server",
    "a failed reload revived a kill",
  );
  ks.stop();
});

test("a kill and a revive are audited with the whole caller: subject, method and client", async () => {
  const events: Array<{ principal?: unknown; reason?: string }> = [];
  const recording = {
    record: (e: { principal?: unknown; reason?: string }) => (events.push(e), Promise.resolve()),
  };
  const store: KillStore = {
    list: () => Promise.resolve([]),
    put: () => Promise.resolve(),
    remove: () => Promise.resolve(true),
    watch: () => Promise.resolve(() => undefined),
  };
  const ks = new KillSwitch(store, undefined, recording as unknown as AuditLog, log);
  await ks.start();
  const by = { sub: "ops", auth: "bearer", client_id: "mcp-warden-console" };
  await ks.kill("server", "files", "incident", by);
  await ks.revive("server", "files", "resolved", by);
  assert.deepEqual(
    events.map((e) => [e.reason, e.principal]),
    [
      ["kill", by],
      ["revive", by],
    ],
  );
  ks.stop();
});
