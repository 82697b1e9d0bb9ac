// The kill switch in process: kills match their scope; a store that cannot be read at start stops
// the start (no call admitted without the kills), while a later failed reload keeps the kills known.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { AuditLog } from "../../../src/audit/log.js";
import { createLogger } from "../../../src/log.js";
import type { Kill, KillStore } from "../../../src/ops/kill-store.js";
import { KillSwitch, killMatches } from "../../../src/ops/kill-switch.js";

const log = createLogger("silent");
const audit = { record: () => Promise.resolve(), ready: () => Promise.resolve() } as unknown as AuditLog;
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
    ready: () => Promise.resolve(),
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

/** A store whose writes and reads fail while `down` is set; `watcher` announces changes. */
function flakyStore() {
  const saved = new Map<string, Kill>();
  const state = { down: false, watcher: undefined as (() => void) | undefined, lists: 0 };
  const fail = () => Promise.reject(new Error("store down"));
  const store: KillStore = {
    list: () => (state.down ? fail() : (state.lists++, Promise.resolve([...saved.values()]))),
    put: (k) => (state.down ? fail() : (saved.set(`${k.scope}:${k.target}`, k), Promise.resolve())),
    remove: (scope, target) => (state.down ? fail() : Promise.resolve(saved.delete(`${scope}:${target}`))),
    watch: (onChange) => {
      state.watcher = onChange;
      return Promise.resolve(() => undefined);
    },
  };
  return { store, saved, state };
}

const settle = () => new Promise((r) => setTimeout(r, 20));

test("a kill the store cannot take is in force here at once, said to the caller, and written later", async () => {
  const { store, saved, state } = flakyStore();
  const events: Array<{ status?: string }> = [];
  const recording = {
    record: (e: { status?: string }) => (events.push(e), Promise.resolve()),
    ready: () => Promise.resolve(),
  };
  const ks = new KillSwitch(store, undefined, recording as unknown as AuditLog, log);
  await ks.start();
  state.down = true;
  await assert.rejects(ks.kill("user", "eve", "incident", { sub: "ops" }), /killed on this instance only/);
  assert.equal(ks.check({ subject: "eve" })?.target, "eve", "the kill is in force here");
  assert.equal(events.at(-1)?.status, "local_only");
  state.watcher?.(); // a reload while the store is still down keeps it
  await settle();
  assert.equal(ks.check({ subject: "eve" })?.target, "eve");
  state.down = false;
  state.watcher?.();
  await settle();
  assert.ok(saved.has("user:eve"), "written to the store once it is back");
  assert.equal(ks.check({ subject: "eve" })?.target, "eve");
  ks.stop();
});

test("a revive is refused, and the kill kept, while the audit log cannot record it", async () => {
  const { store } = flakyStore();
  let writable = true;
  const gated = {
    record: () => Promise.resolve(),
    ready: () => (writable ? Promise.resolve() : Promise.reject(new Error("audit down"))),
  };
  const ks = new KillSwitch(store, undefined, gated as unknown as AuditLog, log);
  await ks.start();
  await ks.kill("server", "files", "incident", { sub: "ops" });
  writable = false;
  await assert.rejects(ks.revive("server", "files", "resolved", { sub: "ops" }), /audit down/);
  assert.equal(ks.check({ server: "files", subject: "x" })?.scope, "server");
  ks.stop();
});

test("a change announced while a reload is reading is read again, not answered with the older read", async () => {
  const { store, saved, state } = flakyStore();
  const ks = new KillSwitch(store, undefined, audit, log);
  await ks.start();
  const before = state.lists;
  state.watcher?.(); // a reload starts reading
  saved.set("tool:files/write", { scope: "tool", target: "files/write", reason: "r", by: "b", at: "" });
  state.watcher?.(); // announced while it reads
  await settle();
  assert.equal(state.lists - before, 2);
  assert.equal(ks.check({ server: "files", name: "write", subject: "x" })?.scope, "tool");
  ks.stop();
});

test("check finds the same kill as matching each one, broadest first", async () => {
  const all = [
    kill("tool", "files/write"),
    kill("user", "alice"),
    kill("client", "agent"),
    kill("server", "files"),
  ];
  const store: KillStore = {
    list: () => Promise.resolve(all),
    put: () => Promise.resolve(),
    remove: () => Promise.resolve(true),
    watch: () => Promise.resolve(() => undefined),
  };
  const ks = new KillSwitch(store, undefined, audit, log);
  await ks.start();
  const targets = [
    { server: "files", name: "write", subject: "bob" },
    { server: "files", name: "read", subject: "bob" },
    { server: "mail", name: "write", subject: "bob" },
    { server: "mail", name: "send", subject: "alice" },
    { server: "mail", name: "send", subject: "bob", clientId: "agent" },
    { server: "mail", name: "send", subject: "bob", clientId: "other" },
    { subject: "bob" },
    { subject: "alice" },
  ];
  const order = ["all", "server", "tool", "user", "client"];
  for (const t of targets) {
    const expected = all
      .filter((k) => killMatches(k, t))
      .sort((a, b) => order.indexOf(a.scope) - order.indexOf(b.scope))[0];
    assert.deepEqual(ks.check(t), expected, JSON.stringify(t));
  }
  ks.stop();
});
