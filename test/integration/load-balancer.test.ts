// The reference deployment's load balancer (deploy/nginx.conf, run by Debian's nginx) in front of
// two gateway instances: sessions are spread over both, every request of a session reaches the
// instance that holds it (routed on the instance id that leads the session id), and a session
// whose instance is down gets 404, so its client re-initialises on the other.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { textOf } from "../helpers/client.js";
import { recorderStdio } from "../helpers/configs.js";
import { connectClient, makeTempDir, startGateway, type Gateway } from "../helpers/gateway.js";
import { mcpHeaders, openRawSession, raw } from "../helpers/http.js";
import { startNginx, type Nginx } from "../helpers/nginx.js";
import { freePort } from "../helpers/upstreams.js";

describe("load balancer from deploy/nginx.conf in front of two instances", () => {
  let one: Gateway;
  let two: Gateway;
  let nginx: Nginx | undefined;
  let lb: string;

  before(async () => {
    const dir = makeTempDir("warden-lb-");
    const [lbPort, p1, p2] = [await freePort(), await freePort(), await freePort()];
    lb = `http://127.0.0.1:${lbPort}`;
    const config = (port: number, name: string) => ({
      gateway: { listen: `127.0.0.1:${port}`, public_url: lb, instance_id: name },
      state: { sqlite: join(dir, `${name}.db`) },
      auth: { signing_key_file: join(dir, "signing.jwk"), anonymous: ["demo:use"] },
      servers: [recorderStdio("rec", join(dir, `${name}.jsonl`), { echo: ["demo:use"], pid: ["demo:use"] })],
    });
    one = await startGateway(config(p1, "warden-1"));
    two = await startGateway(config(p2, "warden-2"));
    nginx = await startNginx({ dir, port: lbPort, upstreams: [p1, p2] });
  });

  after(async () => {
    await nginx?.stop();
    await one?.stop();
    await two?.stop();
  });

  test("sessions spread over both instances, and each session's calls all reach its own", async () => {
    const sessions = await Promise.all(Array.from({ length: 6 }, () => openRawSession(`${lb}/mcp`)));
    const homes = new Set(sessions.map((s) => s.sessionId.split(".")[0]));
    assert.deepEqual([...homes].sort(), ["warden-1", "warden-2"]);
    for (const s of sessions) {
      for (let i = 0; i < 5; i++) {
        const r = await s.post({ jsonrpc: "2.0", id: 10 + i, method: "ping" });
        assert.equal(r.status, 200, `session ${s.sessionId}: HTTP ${r.status}`);
      }
    }
    // The SDK client through the balancer: a whole conversation on one session.
    const c = await connectClient(`${lb}/mcp`);
    try {
      for (let i = 0; i < 10; i++) {
        const r = await c.client.callTool({ name: "rec__echo", arguments: { message: `m${i}` } });
        assert.match(textOf(r), new RegExp(`m${i}`));
      }
    } finally {
      await c.close();
    }
  });

  test("a session whose instance is down gets 404, and a new session works", async () => {
    let homed;
    for (let i = 0; i < 10 && !homed; i++) {
      const s = await openRawSession(`${lb}/mcp`);
      if (s.sessionId.startsWith("warden-2.")) homed = s;
    }
    assert.ok(homed, "no session landed on warden-2");
    await two.stop();
    const r = await raw(`${lb}/mcp`, {
      headers: mcpHeaders({ "mcp-protocol-version": homed.protocolVersion }, homed.sessionId),
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
    });
    assert.equal(r.status, 404);
    const fresh = await openRawSession(`${lb}/mcp`);
    assert.ok(fresh.sessionId.startsWith("warden-1."));
    assert.equal((await fresh.post({ jsonrpc: "2.0", id: 2, method: "ping" })).status, 200);
  });
});
