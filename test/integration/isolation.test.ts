// Each client session has its own upstream process: one client's roots, log level and
// server→client requests can never reach another's, and a session's process ends with it.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connectClient, textOf } from "../helpers/client.js";
import { gatewayConfig, recorderStdio } from "../helpers/configs.js";
import { makeTempDir, startGateway, type Gateway } from "../helpers/gateway.js";
import { isAlive } from "../helpers/processes.js";
import { waitFor } from "../helpers/wait.js";
import { initializeRequest, mcpHeaders, openRawSession, raw } from "../helpers/http.js";

describe("session isolation", () => {
  let gw: Gateway;

  before(async () => {
    const dir = makeTempDir("warden-iso-");
    gw = await startGateway(
      gatewayConfig([recorderStdio("recorder", join(dir, "rec.jsonl"), { pid: ["demo:use"] })]),
    );
  });

  after(async () => {
    await gw?.stop();
  });

  test("two sessions get two upstream processes; each process ends with its session", async () => {
    const a = await connectClient(gw.mcpUrl);
    const b = await connectClient(gw.mcpUrl);
    const pidA = Number(textOf(await a.client.callTool({ name: "recorder__pid", arguments: {} })));
    const pidB = Number(textOf(await b.client.callTool({ name: "recorder__pid", arguments: {} })));
    assert.ok(pidA > 0 && pidB > 0);
    assert.notEqual(pidA, pidB, "two client sessions shared one upstream process");
    // The same session keeps its process from call to call.
    assert.equal(Number(textOf(await a.client.callTool({ name: "recorder__pid", arguments: {} }))), pidA);
    await a.close();
    await waitFor(() => !isAlive(pidA), { what: `session A's upstream ${pidA} to exit` });
    assert.ok(isAlive(pidB), "closing one session stopped another session's upstream");
    await b.close();
    await waitFor(() => !isAlive(pidB), { what: `session B's upstream ${pidB} to exit` });
  });
});

describe("session caps", () => {
  let gw: Gateway;

  before(async () => {
    const dir = makeTempDir("warden-cap-");
    gw = await startGateway(
      gatewayConfig([recorderStdio("recorder", join(dir, "rec.jsonl"), { pid: ["demo:use"] })], {
        gateway: { max_sessions_per_caller: 2, max_sessions: 3 },
      }),
    );
  });

  after(async () => {
    await gw?.stop();
  });

  const ping = { jsonrpc: "2.0", id: 7, method: "ping" };

  test("a caller past its cap loses its least recently used session, not a newer one", async () => {
    const first = await openRawSession(gw.mcpUrl);
    const second = await openRawSession(gw.mcpUrl);
    assert.equal((await second.post(ping)).status, 200);
    const third = await openRawSession(gw.mcpUrl);
    await waitFor(async () => (await first.post(ping)).status === 404, {
      what: "the oldest session to be evicted",
    });
    assert.equal((await second.post(ping)).status, 200);
    assert.equal((await third.post(ping)).status, 200);
  });
});

describe("the gateway-wide session cap", () => {
  let gw: Gateway;

  before(async () => {
    const dir = makeTempDir("warden-cap2-");
    gw = await startGateway(
      gatewayConfig([recorderStdio("recorder", join(dir, "rec.jsonl"), { pid: ["demo:use"] })], {
        gateway: { max_sessions_per_caller: 5, max_sessions: 2 },
      }),
    );
  });

  after(async () => {
    await gw?.stop();
  });

  test("past max_sessions a new session is refused with 503, and existing ones keep working", async () => {
    const ping = { jsonrpc: "2.0", id: 7, method: "ping" };
    const a = await openRawSession(gw.mcpUrl);
    const b = await openRawSession(gw.mcpUrl);
    const res = await raw(gw.mcpUrl, { headers: mcpHeaders(), body: JSON.stringify(initializeRequest()) });
    assert.equal(res.status, 503);
    assert.equal(res.headers["mcp-session-id"], undefined);
    assert.equal((await a.post(ping)).status, 200);
    assert.equal((await b.post(ping)).status, 200);
  });
});
