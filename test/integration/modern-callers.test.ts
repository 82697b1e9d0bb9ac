// MCP 2026-07-28 callers (issue 16) on the gateway's usual endpoints, in front of legacy upstreams
// (the recorder fixture, server-everything, the changing fixture): the wire rules (discover,
// resultType, cache hints, headers checked against the body, the new error codes), a server's
// request to the caller as `input_required` with a sealed requestState that cannot be tampered
// with, replayed or moved, denials the upstream never sees, cancellation by closing the response
// stream, progress on it, and list changes on a `subscriptions/listen` stream. Raw HTTP, so every
// byte on the wire is the test's own; the official v2 client is in modern-sdk.test.ts.
/* eslint-disable @typescript-eslint/no-explicit-any -- wire messages are read loosely in assertions */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { changingStdio, everythingStdio, recorderStdio } from "../helpers/configs.js";
import { fixture } from "../helpers/paths.js";
import type { Gateway } from "../helpers/gateway.js";
import { answer, modern, openModern } from "../helpers/modern-raw.js";
import { receivedMessages, receivedToolCalls, readRecords } from "../helpers/records.js";
import { gatewayWithUsers, type AuditLine } from "../helpers/users.js";
import { waitFor } from "../helpers/wait.js";

const ELICIT = "trigger-elicitation-request";
const ANSWER = {
  action: "accept",
  content: { name: "Ada", check: true, integer: 5, number: 3 },
};

describe("2026-07-28 callers through the gateway", () => {
  let gw: Gateway;
  let records: string;
  let jobRecords: string;
  let audit: () => Promise<AuditLine[]>;
  let alice: string;
  let bob: string;
  const recorder = () => gw.serverUrl("recorder");
  const everything = () => gw.serverUrl("everything");

  before(async () => {
    const g = await gatewayWithUsers("warden-modern-", (dir) => {
      records = join(dir, "recorder.jsonl");
      jobRecords = join(dir, "jobs.jsonl");
      return {
        gateway: { upstream_timeout: "8s" },
        servers: [
          // Shared: one process each, started with the gateway, so no call waits for a launch.
          {
            ...recorderStdio("recorder", records, {
              echo: ["demo:use"],
              slow: ["demo:use"],
              admin_tool: ["admin"],
            }),
            isolation: "shared",
          },
          everythingStdio("everything", { isolation: "shared" }),
          { ...changingStdio("changing"), isolation: "shared" },
          {
            name: "jobs",
            command: process.execPath,
            args: [fixture("tasks-server.mjs")],
            env: { RECORD_FILE: jobRecords },
            tools: { "*": ["demo:use"] },
          },
        ],
      };
    });
    gw = g.gw;
    audit = g.audit;
    const token = async (sub: string, scope: string) => {
      const r = await g.cli("token", "--sub", sub, "--scope", scope);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim();
    };
    alice = await token("alice", "demo:use admin");
    bob = await token("bob", "demo:use");
  });

  after(async () => {
    await gw?.stop();
  });

  test("server/discover on /mcp: every version served, merged capabilities, no handshake", async () => {
    const r = await modern(gw.mcpUrl, { id: 1, method: "server/discover", token: bob });
    assert.equal(r.status, 200);
    const result = answer(r).result;
    assert.deepEqual(result.supportedVersions, ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"]);
    assert.equal(result.resultType, "complete");
    assert.ok(result.capabilities.tools, "tools offered");
    assert.equal(result.cacheScope, "private");
    assert.equal(r.headers["mcp-session-id"], undefined, "no session is minted");
  });

  test("lists are filtered per caller and marked private; each caller gets its own", async () => {
    const ownR = await modern(recorder(), { id: 2, method: "tools/list", token: alice });
    const otherR = await modern(recorder(), { id: 2, method: "tools/list", token: bob });
    const own = answer(ownR).result;
    const other = answer(otherR).result;
    assert.ok(own && other, `${ownR.text}\n${otherR.text}`);
    const names = (r: any) => r.tools.map((t: { name: string }) => t.name).sort();
    assert.deepEqual(names(own), ["admin_tool", "echo", "slow"]);
    assert.deepEqual(names(other), ["echo", "slow"], "bob never sees alice's admin tool");
    for (const r of [own, other]) {
      assert.equal(r.resultType, "complete");
      assert.equal(r.cacheScope, "private");
      assert.equal(r.ttlMs, 0);
    }
  });

  test("a call answers with resultType complete; audit records the protocol version", async () => {
    const r = await modern(recorder(), {
      id: "c1",
      method: "tools/call",
      params: { name: "echo", arguments: { message: "modern-hello" } },
      token: bob,
    });
    assert.equal(r.status, 200);
    const result = answer(r).result;
    assert.equal(result.resultType, "complete");
    assert.equal(result.content[0].text, "recorder: modern-hello");
    const events = await audit();
    const call = events.find(
      (e) => e.event === "tool_call" && e.method === "tools/call" && e.principal?.sub === "bob",
    );
    assert.equal(call?.detail?.protocol_version, "2026-07-28");
  });

  test("headers that say something else than the body: 400 -32020, audited, never forwarded", async () => {
    const cases: Array<Record<string, string>> = [
      { "mcp-name": "admin_tool" },
      { "mcp-method": "tools/list" },
      { "mcp-name": "" },
      { "mcp-protocol-version": "2025-11-25" },
      { "mcp-name": "=?base64?not base64?=" },
    ];
    for (const [i, headers] of cases.entries()) {
      const r = await modern(recorder(), {
        id: `h${i}`,
        method: "tools/call",
        params: { name: "echo", arguments: { message: `mismatch-${i}` } },
        token: bob,
        headers,
      });
      assert.equal(r.status, 400, JSON.stringify(headers));
      assert.equal(answer(r).error?.code, -32020, r.text);
    }
    // The base64 sentinel is decoded before comparing: an encoded name that matches is fine.
    const encoded = `=?base64?${Buffer.from("echo").toString("base64")}?=`;
    const ok = await modern(recorder(), {
      id: "h-ok",
      method: "tools/call",
      params: { name: "echo", arguments: { message: "encoded-ok" } },
      token: bob,
      headers: { "mcp-name": encoded },
    });
    assert.equal(ok.status, 200, ok.text);
    const forwarded = receivedToolCalls(records, "echo").map((m) => (m.params?.arguments as any)?.message);
    assert.ok(forwarded.includes("encoded-ok"));
    assert.ok(
      !forwarded.some((m) => String(m).startsWith("mismatch-")),
      "no mismatched call reached the upstream",
    );
    const refused = (await audit()).filter((e) => e.reason === "header_mismatch");
    assert.ok(refused.length >= cases.length - 1, "each refusal is audited");
  });

  test("an unknown version: 400 -32022 with the versions served; a removed method: 404 -32601", async () => {
    const old = await modern(recorder(), {
      id: "v",
      method: "tools/list",
      params: { _meta: { "io.modelcontextprotocol/protocolVersion": "1999-01-01" } },
      token: bob,
      headers: { "mcp-protocol-version": "1999-01-01" },
    });
    assert.equal(old.status, 400);
    assert.equal(answer(old).error.code, -32022);
    assert.ok(answer(old).error.data.supported.includes("2026-07-28"));
    const ping = await modern(recorder(), { id: "p", method: "ping", token: bob });
    assert.equal(ping.status, 404);
    assert.equal(answer(ping).error.code, -32601);
    const get = await fetch(recorder(), {
      headers: { accept: "text/event-stream", authorization: `Bearer ${bob}` },
    });
    assert.equal(get.status, 405, "no GET stream in 2026-07-28");
  });

  test("a denial is a 403 step-up with -32001, and the upstream never sees the call", async () => {
    const r = await modern(recorder(), {
      id: "d1",
      method: "tools/call",
      params: { name: "admin_tool", arguments: {} },
      token: bob,
    });
    assert.equal(r.status, 403);
    assert.equal(answer(r).error.code, -32001);
    assert.match(String(r.headers["www-authenticate"]), /insufficient_scope/);
    assert.equal(receivedToolCalls(records, "admin_tool").length, 0);
  });

  test("a server's elicitation becomes input_required; the retry with the answer completes", async () => {
    const first = answer(
      await modern(everything(), {
        id: "e1",
        method: "tools/call",
        params: { name: ELICIT, arguments: {} },
        token: bob,
      }),
    ).result;
    assert.equal(first.resultType, "input_required");
    const [key, asked] = Object.entries(first.inputRequests)[0] as [string, any];
    assert.equal(asked.method, "elicitation/create");
    assert.equal(typeof first.requestState, "string");
    const done = answer(
      await modern(everything(), {
        id: "e2",
        method: "tools/call",
        params: {
          name: ELICIT,
          arguments: {},
          inputResponses: { [key]: ANSWER },
          requestState: first.requestState,
        },
        token: bob,
      }),
    ).result;
    assert.equal(done.resultType, "complete");
    assert.match(JSON.stringify(done.content), /Ada/);
  });

  test("a tampered, foreign, replayed or re-aimed requestState is refused and audited", async () => {
    const start = async (id: string) =>
      answer(
        await modern(everything(), {
          id,
          method: "tools/call",
          params: { name: ELICIT, arguments: {} },
          token: bob,
        }),
      ).result;
    const retry = (id: string, state: string, token: string, name = ELICIT, args: object = {}) =>
      modern(everything(), {
        id,
        method: "tools/call",
        params: { name, arguments: args, inputResponses: { "1": ANSWER }, requestState: state },
        token,
      });
    const first = await start("t1");
    const s: string = first.requestState;
    const flipped = s.slice(0, -3) + (s.at(-3) === "A" ? "B" : "A") + s.slice(-2);
    for (const [what, r] of [
      ["tampered", await retry("t2", flipped, bob)],
      ["suffixed", await retry("t3", `${s}-TAMPERED`, bob)],
      ["foreign caller", await retry("t4", s, alice)],
      ["other tool", await retry("t5", s, bob, "echo", { message: "x" })],
      ["other arguments", await retry("t6", s, bob, ELICIT, { extra: 1 })],
    ] as const) {
      assert.equal(answer(r).error?.code, -32602, `${what}: ${r.text}`);
      assert.equal(answer(r).error?.data?.reason, "invalid_request_state", what);
    }
    // The genuine retry still works once; using its state again is a replay.
    const key = Object.keys(first.inputRequests)[0] as string;
    const ok = await modern(everything(), {
      id: "t7",
      method: "tools/call",
      params: { name: ELICIT, arguments: {}, inputResponses: { [key]: ANSWER }, requestState: s },
      token: bob,
    });
    assert.equal(answer(ok).result?.resultType, "complete", ok.text);
    const replay = await retry("t8", s, bob);
    assert.equal(answer(replay).error?.data?.reason, "invalid_request_state");
    const refused = (await audit()).filter((e) => e.reason === "invalid_request_state");
    assert.ok(refused.length >= 6, `each refusal is audited (${refused.length})`);
  });

  test("a requestState past the call's timeout is refused", async () => {
    const first = answer(
      await modern(everything(), {
        id: "x1",
        method: "tools/call",
        params: { name: ELICIT, arguments: {} },
        token: bob,
      }),
    ).result;
    // upstream_timeout is 8 s here: the parked call and its state lapse after it.
    await new Promise((r) => setTimeout(r, 9_000));
    const late = await modern(everything(), {
      id: "x2",
      method: "tools/call",
      params: {
        name: ELICIT,
        arguments: {},
        inputResponses: { "1": ANSWER },
        requestState: first.requestState,
      },
      token: bob,
    });
    assert.equal(answer(late).error?.data?.reason, "invalid_request_state", late.text);
  });

  test("closing the response stream cancels the call upstream", async () => {
    const stream = openModern(recorder(), {
      id: "slow-1",
      method: "tools/call",
      params: { name: "slow", arguments: { label: "modern-cancel" } },
      token: bob,
    });
    await waitFor(() => readRecords(records).some((r) => r.event === "tool" && r.label === "modern-cancel"), {
      what: "the slow call to start upstream",
    });
    stream.close();
    await waitFor(
      () => readRecords(records).some((r) => r.event === "aborted" && r.label === "modern-cancel"),
      {
        what: "the upstream to see the cancellation",
      },
    );
    const cancelled = receivedMessages(records).filter((m) => m.method === "notifications/cancelled");
    assert.ok(cancelled.length > 0);
  });

  test("progress rides the call's own response stream", async () => {
    const stream = openModern(everything(), {
      id: "pr-1",
      method: "tools/call",
      params: {
        name: "trigger-long-running-operation",
        arguments: { duration: 1, steps: 3 },
        _meta: { progressToken: "tok-1" },
      },
      token: bob,
    });
    const progress = await stream.next((m) => m.method === "notifications/progress");
    assert.equal(progress.params.progressToken, "tok-1");
    const done = await stream.next((m) => m.id === "pr-1");
    assert.equal(done.result.resultType, "complete");
  });

  test("subscriptions/listen: acknowledged, then list changes tagged with the subscription id", async () => {
    const listen = openModern(gw.serverUrl("changing"), {
      id: "sub-1",
      method: "subscriptions/listen",
      params: { notifications: { toolsListChanged: true, promptsListChanged: true } },
      token: bob,
    });
    const ack = await listen.next((m) => m.method === "notifications/subscriptions/acknowledged");
    assert.equal(ack.params._meta["io.modelcontextprotocol/subscriptionId"], "sub-1");
    assert.deepEqual(ack.params.notifications, { toolsListChanged: true, promptsListChanged: true });
    const added = await modern(gw.serverUrl("changing"), {
      id: "add-1",
      method: "tools/call",
      params: { name: "add_tool", arguments: { name: "late_tool" } },
      token: bob,
    });
    assert.equal(answer(added).result?.resultType, "complete", added.text);
    const changed = await listen.next((m) => m.method === "notifications/tools/list_changed");
    assert.equal(changed.params._meta["io.modelcontextprotocol/subscriptionId"], "sub-1");
    listen.close();
  });

  test("subscriptions/listen: at most 8 streams open per caller, the next refused with -32008 and audited", async () => {
    const url = gw.serverUrl("changing");
    const open = [];
    try {
      for (let i = 0; i < 8; i++) {
        const l = openModern(url, {
          id: `cap-${i}`,
          method: "subscriptions/listen",
          params: { notifications: { toolsListChanged: true } },
          token: bob,
        });
        open.push(l);
        await l.next((m) => m.method === "notifications/subscriptions/acknowledged");
      }
      const over = await modern(url, {
        id: "cap-8",
        method: "subscriptions/listen",
        params: { notifications: { toolsListChanged: true } },
        token: bob,
      });
      const error = answer(over).error;
      assert.equal(error?.code, -32008, over.text);
      assert.equal(error?.data?.limit, "listen_streams");
      // Another caller is not counted against bob's streams.
      const other = openModern(url, {
        id: "cap-alice",
        method: "subscriptions/listen",
        params: { notifications: { toolsListChanged: true } },
        token: alice,
      });
      open.push(other);
      await other.next((m) => m.method === "notifications/subscriptions/acknowledged");
      // A closed stream frees its place.
      open.shift()?.close();
      await waitFor(
        async () => {
          const again = openModern(url, {
            id: `cap-again-${Date.now()}`,
            method: "subscriptions/listen",
            params: { notifications: { toolsListChanged: true } },
            token: bob,
          });
          open.push(again);
          const first = await again.next(() => true);
          return first.method === "notifications/subscriptions/acknowledged" ? true : undefined;
        },
        { timeoutMs: 10_000, intervalMs: 200, what: "a listen stream after one closed" },
      );
      const refused = (await audit()).filter(
        (e) => e.method === "subscriptions/listen" && e.reason === "rate_limited",
      );
      assert.ok(refused.length >= 1, "the refused listen is audited");
    } finally {
      for (const l of open) l.close();
    }
  });

  test("tasks: the handle passes; tasks/* reach the server that made it, for its caller only", async () => {
    const jobs = gw.serverUrl("jobs");
    const tasks = { extensions: { "io.modelcontextprotocol/tasks": {} } };
    const discovered = answer(
      await modern(jobs, { id: "tk0", method: "server/discover", token: bob }),
    ).result;
    assert.ok(
      discovered.capabilities.extensions?.["io.modelcontextprotocol/tasks"],
      "the extension is offered",
    );
    const made = answer(
      await modern(jobs, {
        id: "tk1",
        method: "tools/call",
        params: { name: "job", arguments: { label: "nightly" } },
        token: bob,
        capabilities: tasks,
      }),
    ).result;
    assert.equal(made.resultType, "task");
    const taskId = made.taskId as string;
    const upstreamGets = () =>
      readRecords(jobRecords).filter((m) => (m as { method?: string }).method === "tasks/get");
    const foreign = await modern(jobs, { id: "tk2", method: "tasks/get", params: { taskId }, token: alice });
    assert.equal(answer(foreign).error?.code, -32602, "another caller's task is unknown");
    const invented = await modern(jobs, {
      id: "tk3",
      method: "tasks/get",
      params: { taskId: "task-999" },
      token: bob,
    });
    assert.equal(answer(invented).error?.code, -32602, "a task the gateway never saw made is unknown");
    assert.equal(upstreamGets().length, 0, "neither reached the server");
    let status = "";
    let polled: Record<string, any> = {};
    for (let i = 0; i < 5 && status !== "completed"; i++) {
      polled = answer(
        await modern(jobs, { id: `tk4-${i}`, method: "tasks/get", params: { taskId }, token: bob }),
      ).result;
      status = polled.status;
    }
    assert.equal(status, "completed");
    assert.match(JSON.stringify(polled.result), /job nightly: done/);
    const again = answer(
      await modern(jobs, {
        id: "tk5",
        method: "tools/call",
        params: { name: "job", arguments: { label: "second" } },
        token: bob,
        capabilities: tasks,
      }),
    ).result;
    const cancelled = answer(
      await modern(jobs, { id: "tk6", method: "tasks/cancel", params: { taskId: again.taskId }, token: bob }),
    ).result;
    assert.equal(cancelled.status, "cancelled");
    // tasks/update carries the caller's answers to the task's server, never a requestState: one
    // that comes with a state not of the gateway's making is refused before anything is forwarded.
    const taskUpdates = () =>
      readRecords(jobRecords).filter((m) => (m as { method?: string }).method === "tasks/update");
    const forged = await modern(jobs, {
      id: "tk7",
      method: "tasks/update",
      params: {
        taskId: again.taskId,
        inputResponses: { login: { action: "accept" } },
        requestState: "forged",
      },
      token: bob,
    });
    assert.equal(answer(forged).error?.code, -32602, forged.text);
    assert.equal(taskUpdates().length, 0, "the forged update reached the server");
    await modern(jobs, {
      id: "tk8",
      method: "tasks/update",
      params: { taskId: again.taskId, inputResponses: { login: { action: "accept" } } },
      token: bob,
    });
    const updates = taskUpdates();
    assert.equal(updates.length, 1, "the update reached the task's server");
    const params = (updates[0] as { params?: Record<string, unknown> }).params ?? {};
    assert.deepEqual(params.inputResponses, { login: { action: "accept" } });
    assert.equal(params.taskId, again.taskId);
  });
});
