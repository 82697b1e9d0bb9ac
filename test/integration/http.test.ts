// The streamable-HTTP surface: sessions, protocol versions, Origin/Host validation, body size and
// JSON nesting limits, malformed input, health endpoints.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { gatewayConfig, recorderStdio } from "../helpers/configs.js";
import { makeTempDir, startGateway, type Gateway } from "../helpers/gateway.js";
import {
  initializeRequest,
  mcpHeaders,
  openGetStream,
  openRawSession,
  raw,
  rpcError,
  PROTOCOL_VERSION,
  type RawSession,
} from "../helpers/http.js";
import { isAlive } from "../helpers/processes.js";
import { readRecords, receivedMessages, receivedToolCalls } from "../helpers/records.js";
import { waitFor } from "../helpers/wait.js";

const ALLOWED_ORIGIN = "http://allowed.example";

describe("streamable HTTP surface", () => {
  let gw: Gateway;
  let recordFile: string;

  before(async () => {
    recordFile = join(makeTempDir("warden-rec-"), "recorder.jsonl");
    gw = await startGateway(
      gatewayConfig(
        [
          recorderStdio("recorder", recordFile, {
            echo: ["demo:use"],
            deep: ["demo:use"],
            sleep: ["demo:use"],
            pid: ["demo:use"],
          }),
        ],
        {
          gateway: {
            allowed_origins: [ALLOWED_ORIGIN],
            max_body_bytes: 4096,
            max_json_depth: 8,
            upstream_timeout: "5s", // short for the timeout test, long enough to launch a session's server on a busy machine
            allowed_hosts: ["warden.test"],
            public_url: "http://public.warden.test:8808",
          },
        },
      ),
    );
  });

  after(async () => {
    await gw?.stop();
  });

  const init = (headers: Record<string, string> = {}, url = gw.mcpUrl) =>
    raw(url, { headers: mcpHeaders(headers), body: JSON.stringify(initializeRequest()) });

  const echo = (id: number, message: string) => ({
    jsonrpc: "2.0",
    id,
    method: "tools/call",
    params: { name: "recorder__echo", arguments: { message } },
  });

  describe("health", () => {
    test("GET /healthz → 200 {status: ok}", async () => {
      const res = await fetch(`${gw.url}/healthz`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { status: "ok" });
    });

    test("GET /readyz → 200 with every upstream ready", async () => {
      const r = await gw.readyz();
      assert.equal(r.status, 200);
      assert.equal(r.body.status, "ready");
      assert.equal(r.body.upstreams?.recorder?.state, "ready");
    });
  });

  describe("sessions", () => {
    test("Mcp-Session-Id carries at least 128 random bits (≥22 base64url characters) and is unique", async () => {
      const ids = new Set<string>();
      for (let i = 0; i < 3; i++) {
        const s = await openRawSession(gw.mcpUrl);
        assert.match(s.sessionId, /^[A-Za-z0-9_-]{22,}$/, `weak or malformed session id ${s.sessionId}`);
        ids.add(s.sessionId);
      }
      assert.equal(ids.size, 3, "session ids repeat");
    });

    for (const version of ["2025-11-25", "2025-06-18", "2025-03-26"]) {
      test(`protocol version ${version} is negotiated and usable`, async () => {
        const s = await openRawSession(gw.mcpUrl, { protocolVersion: version });
        assert.equal(s.protocolVersion, version);
        const res = await s.post({ jsonrpc: "2.0", id: 2, method: "tools/list" });
        assert.equal(res.status, 200, res.text);
        const result = res.messages.find((m) => m.id === 2)?.result as
          { tools?: { name: string }[] } | undefined;
        assert.deepEqual(result?.tools?.map((t) => t.name).sort(), [
          "recorder__deep",
          "recorder__echo",
          "recorder__pid",
          "recorder__sleep",
        ]);
      });
    }

    test("a non-initialize request without a session id → 400", async () => {
      const res = await raw(gw.mcpUrl, {
        headers: mcpHeaders({ "mcp-protocol-version": PROTOCOL_VERSION }),
        body: JSON.stringify({ jsonrpc: "2.0", id: 5, method: "tools/list" }),
      });
      assert.equal(res.status, 400, res.text);
    });

    test("an unknown session id → 404", async () => {
      const bogus = randomBytes(24).toString("base64url");
      const res = await raw(gw.mcpUrl, {
        headers: mcpHeaders({}, bogus),
        body: JSON.stringify({ jsonrpc: "2.0", id: 6, method: "tools/list" }),
      });
      assert.equal(res.status, 404, res.text);
    });

    test("GET opens the server→client stream; unknown session → 404", async () => {
      const s = await openRawSession(gw.mcpUrl);
      const ok = await openGetStream(gw.mcpUrl, {
        "mcp-session-id": s.sessionId,
        "mcp-protocol-version": s.protocolVersion,
      });
      try {
        assert.equal(ok.status, 200);
        assert.match(String(ok.headers["content-type"]), /^text\/event-stream/);
      } finally {
        ok.close();
      }
      const bad = await openGetStream(gw.mcpUrl, {
        "mcp-session-id": randomBytes(24).toString("base64url"),
        "mcp-protocol-version": PROTOCOL_VERSION,
      });
      bad.close();
      assert.equal(bad.status, 404);
    });

    test("DELETE ends the session: later requests on it → 404", async () => {
      const s = await openRawSession(gw.mcpUrl);
      const before = await s.post({ jsonrpc: "2.0", id: 2, method: "tools/list" });
      assert.equal(before.status, 200);
      const del = await raw(gw.mcpUrl, {
        method: "DELETE",
        headers: { "mcp-session-id": s.sessionId, "mcp-protocol-version": s.protocolVersion },
      });
      assert.ok(del.status >= 200 && del.status < 300, `DELETE → ${del.status} ${del.text}`);
      const afterDelete = await s.post({ jsonrpc: "2.0", id: 3, method: "tools/list" });
      assert.equal(afterDelete.status, 404, afterDelete.text);
    });

    test("DELETE releases what the session held upstream (a stdio process of its own is stopped)", async (t) => {
      const s = await openRawSession(gw.mcpUrl);
      const res = await s.post({
        jsonrpc: "2.0",
        id: 2,
        method: "tools/call",
        params: { name: "recorder__pid" },
      });
      const result = res.messages.find((m) => m.id === 2)?.result as
        { content?: { text?: string }[] } | undefined;
      const pid = Number(result?.content?.[0]?.text);
      assert.ok(pid > 0, res.text);
      // Only a process started for this session (its initialize carried our clientInfo) is ours to end.
      const own = readRecords(recordFile).some(
        (r) =>
          r.pid === pid &&
          r.message?.method === "initialize" &&
          (r.message.params?.clientInfo as { name?: string } | undefined)?.name === "warden-raw-test",
      );
      if (!own) return t.skip("the gateway shares one upstream process between sessions");
      const del = await raw(gw.mcpUrl, {
        method: "DELETE",
        headers: { "mcp-session-id": s.sessionId, "mcp-protocol-version": s.protocolVersion },
      });
      assert.ok(del.status >= 200 && del.status < 300);
      await waitFor(() => !isAlive(pid), {
        what: `the session's upstream process ${pid} to exit after DELETE`,
      });
    });

    test("a session id is only valid on the endpoint that issued it", async () => {
      const s = await openRawSession(gw.mcpUrl);
      const res = await raw(gw.serverUrl("recorder"), {
        headers: mcpHeaders({}, s.sessionId),
        body: JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/list" }),
      });
      assert.equal(res.status, 404, res.text);
    });

    test("2025-03-26 session: a JSON-RPC batch is answered (that version requires receiving batches)", async () => {
      const s = await openRawSession(gw.mcpUrl, { protocolVersion: "2025-03-26" });
      const res = await s.post([{ jsonrpc: "2.0", id: 31, method: "tools/list" }, echo(32, "in a batch")]);
      assert.equal(res.status, 200, res.text);
      const ids = res.messages.filter((m) => "result" in m).map((m) => m.id);
      assert.deepEqual(ids.sort(), [31, 32], res.text);
    });

    test("2025-06-18 session: a JSON-RPC batch is refused (that version removed batching), nothing forwarded", async () => {
      const s = await openRawSession(gw.mcpUrl, { protocolVersion: "2025-06-18" });
      const res = await s.post([echo(41, "batched-after-06-18"), echo(42, "batched-after-06-18")]);
      assert.ok(res.status >= 400 || rpcError(res)?.code === -32600, `${res.status} ${res.text}`);
      assert.ok(
        !receivedToolCalls(recordFile, "echo").some((c) => JSON.stringify(c).includes("batched-after-06-18")),
        "the upstream received a refused batch",
      );
    });

    test("sessions work the same on a per-server endpoint", async () => {
      const s = await openRawSession(gw.serverUrl("recorder"));
      assert.match(s.sessionId, /^[A-Za-z0-9_-]{22,}$/);
      const res = await s.post({
        jsonrpc: "2.0",
        id: 2,
        method: "tools/call",
        params: { name: "echo", arguments: { message: "x" } },
      });
      assert.equal(res.status, 200, res.text);
      const bogus = await raw(gw.serverUrl("recorder"), {
        headers: mcpHeaders({}, randomBytes(24).toString("base64url")),
        body: JSON.stringify({ jsonrpc: "2.0", id: 6, method: "tools/list" }),
      });
      assert.equal(bogus.status, 404);
    });
  });

  describe("DNS rebinding protection", () => {
    test("a foreign Origin → 403", async () => {
      for (const origin of ["http://evil.example", "null", `http://127.0.0.1:1`, "https://allowed.example"]) {
        const res = await init({ origin });
        assert.equal(res.status, 403, `Origin ${origin}: ${res.status} ${res.text}`);
        assert.equal(res.headers["mcp-session-id"], undefined);
      }
      const perServer = await init({ origin: "http://evil.example" }, gw.serverUrl("recorder"));
      assert.equal(perServer.status, 403);
    });

    test("an allowed Origin, the gateway's own origin, or no Origin → 200", async () => {
      const cases: Record<string, string>[] = [
        { origin: ALLOWED_ORIGIN },
        { origin: gw.url },
        { origin: "http://public.warden.test:8808" },
        {},
      ];
      for (const headers of cases) {
        const res = await init(headers);
        assert.equal(res.status, 200, `${JSON.stringify(headers)}: ${res.status} ${res.text}`);
      }
    });

    test("a foreign Origin is refused on an existing session too", async () => {
      const s = await openRawSession(gw.mcpUrl);
      const res = await s.post(echo(9, "from-evil-origin"), { origin: "http://evil.example" });
      assert.equal(res.status, 403);
      assert.ok(
        !receivedToolCalls(recordFile, "echo").some((c) => JSON.stringify(c).includes("from-evil-origin")),
        "the upstream received a call from a refused Origin",
      );
    });

    test("a Host that is not the listen address → 403", async () => {
      const port = new URL(gw.url).port;
      for (const host of ["evil.example", `evil.example:${port}`, `attacker.127.0.0.1.nip.io:${port}`]) {
        const res = await init({ host });
        assert.equal(res.status, 403, `Host ${host}: ${res.status} ${res.text}`);
      }
      for (const host of [gw.host, `warden.test:${port}`, "public.warden.test:8808"]) {
        const ok = await init({ host });
        assert.equal(ok.status, 200, `Host ${host}: ${ok.status} ${ok.text}`);
      }
    });
  });

  describe("limits and malformed input", () => {
    let s: RawSession;

    before(async () => {
      s = await openRawSession(gw.mcpUrl);
    });

    test("a body over max_body_bytes → 413, and nothing is forwarded", async () => {
      const big = "x".repeat(8192);
      const res = await s.post(echo(10, big));
      assert.equal(res.status, 413, res.text.slice(0, 200));
      const noSession = await raw(gw.mcpUrl, {
        headers: mcpHeaders(),
        body: JSON.stringify({ ...initializeRequest(), padding: big }),
      });
      assert.equal(noSession.status, 413);
      // Without a Content-Length the limit must be enforced on the bytes as they arrive.
      const chunked = await raw(gw.mcpUrl, {
        headers: mcpHeaders({ "transfer-encoding": "chunked" }, s.sessionId),
        body: JSON.stringify(echo(14, big)),
      });
      assert.equal(chunked.status, 413);
      assert.ok(
        !receivedToolCalls(recordFile, "echo").some((c) => JSON.stringify(c).includes(big)),
        "the upstream received the oversized call",
      );
    });

    test("a body just under the limit is served", async () => {
      const res = await s.post(echo(11, "y".repeat(2048)));
      assert.equal(res.status, 200, res.text.slice(0, 200));
      assert.equal(rpcError(res), undefined);
    });

    test("JSON nested deeper than max_json_depth → -32600, and nothing is forwarded", async () => {
      let value: unknown = "bottom";
      for (let i = 0; i < 40; i++) value = [value];
      const res = await s.post({
        jsonrpc: "2.0",
        id: 12,
        method: "tools/call",
        params: { name: "recorder__deep", arguments: { value } },
      });
      assert.equal(rpcError(res)?.code, -32600, `${res.status} ${res.text.slice(0, 300)}`);
      assert.deepEqual(receivedToolCalls(recordFile, "deep"), [], "the upstream received the too-deep call");
    });

    test("JSON within max_json_depth is served", async () => {
      const res = await s.post({
        jsonrpc: "2.0",
        id: 13,
        method: "tools/call",
        params: { name: "recorder__deep", arguments: { value: { a: 1 } } },
      });
      assert.equal(res.status, 200, res.text);
      const result = res.messages.find((m) => m.id === 13)?.result as
        { content?: { text?: string }[] } | undefined;
      assert.equal(result?.content?.[0]?.text, "deep: ok");
    });

    test("malformed JSON → -32700 parse error", async () => {
      for (const body of ["{not json", '{"jsonrpc":"2.0","id":1,', "\u0000\u0001"]) {
        const res = await s.post(body);
        assert.equal(
          rpcError(res)?.code,
          -32700,
          `${JSON.stringify(body)} → ${res.status} ${res.text.slice(0, 200)}`,
        );
      }
    });

    test("well-formed JSON that is not JSON-RPC → -32600 invalid request", async () => {
      for (const body of [{ hello: "world" }, { jsonrpc: "1.0", id: 1, method: "tools/list" }, 42]) {
        const res = await s.post(body);
        assert.equal(
          rpcError(res)?.code,
          -32600,
          `${JSON.stringify(body)} → ${res.status} ${res.text.slice(0, 200)}`,
        );
      }
    });

    test("a call past upstream_timeout gets -32005, and the upstream is told to cancel it", async () => {
      const res = await s.post({
        jsonrpc: "2.0",
        id: 15,
        method: "tools/call",
        params: { name: "recorder__sleep", arguments: { ms: 30_000 } },
      });
      assert.equal(rpcError(res, 15)?.code, -32005, res.text);
      const call = receivedToolCalls(recordFile, "sleep").find(
        (c) => (c.params?.arguments as { ms?: number })?.ms === 30_000,
      );
      assert.ok(call, "the call reached the upstream");
      await waitFor(
        () =>
          receivedMessages(recordFile).find(
            (m) => m.method === "notifications/cancelled" && m.params?.requestId === call.id,
          ),
        { what: "notifications/cancelled for the timed-out call to reach the upstream" },
      );
    });

    test("an unknown method → -32601, and it is not forwarded", async () => {
      const res = await s.post({ jsonrpc: "2.0", id: 16, method: "warden/no-such-method", params: {} });
      assert.equal(rpcError(res, 16)?.code, -32601, res.text);
      assert.ok(!receivedMessages(recordFile).some((m) => m.method === "warden/no-such-method"));
    });

    test("the session still works after the refusals", async () => {
      const res = await s.post(echo(20, "still alive"));
      assert.equal(res.status, 200, res.text);
      const result = res.messages.find((m) => m.id === 20)?.result as
        { content?: { text?: string }[] } | undefined;
      assert.equal(result?.content?.[0]?.text, "recorder: still alive");
    });
  });
});
