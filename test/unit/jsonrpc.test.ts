import { test } from "node:test";
import assert from "node:assert/strict";
import {
  depthExceeds,
  invalidMessage,
  messageJson,
  serialiseResult,
  type JsonObject,
  type Message,
} from "../../src/jsonrpc.js";
import { RequestGuard } from "../../src/transports/guard.js";
import { parseConfig } from "../../src/config/load.js";
import type { IncomingMessage } from "node:http";

test("invalidMessage accepts the four JSON-RPC shapes and rejects the rest", () => {
  assert.equal(invalidMessage({ jsonrpc: "2.0", id: 1, method: "x" }), undefined);
  assert.equal(invalidMessage({ jsonrpc: "2.0", method: "x", params: {} }), undefined);
  assert.equal(invalidMessage({ jsonrpc: "2.0", id: "a", result: {} }), undefined);
  assert.equal(invalidMessage({ jsonrpc: "2.0", id: 1, error: { code: 1, message: "m" } }), undefined);
  for (const bad of [
    null,
    [],
    "x",
    { id: 1, method: "x" },
    { jsonrpc: "2.0", id: 1.5, method: "x" },
    { jsonrpc: "2.0", id: {}, method: "x" },
    { jsonrpc: "2.0", id: 1, method: "" },
    { jsonrpc: "2.0", id: 1, method: "x", params: [1] },
    { jsonrpc: "2.0", id: 1, result: {}, error: { code: 1, message: "m" } },
    { jsonrpc: "2.0", id: 1 },
    { jsonrpc: "2.0", id: 1, error: { code: "x", message: "m" } },
  ]) {
    assert.notEqual(invalidMessage(bad), undefined, JSON.stringify(bad));
  }
});

test("messageJson writes what JSON.stringify writes, reusing a result's text serialised before", () => {
  const result: JsonObject = {
    content: [{ type: "text", text: 'Echo: "quoted" \u2028 \ud800 ü' }],
    isError: false,
  };
  const other: JsonObject = { x: 1 };
  assert.equal(serialiseResult(result), JSON.stringify(result));
  const messages = [
    { jsonrpc: "2.0", id: 7, result },
    { jsonrpc: "2.0", id: 'a"b', result },
    { jsonrpc: "2.0", id: 7, result: other }, // never serialised before
    { id: 7, jsonrpc: "2.0", result }, // another member order
    { jsonrpc: "2.0", id: 7, result, extra: 1 },
    { jsonrpc: "2.0", result, id: 7 },
    { jsonrpc: "2.0", id: null, error: { code: 1, message: "m" } },
    { jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: 1 } },
  ] as unknown as Message[];
  for (const m of messages) assert.equal(messageJson(m), JSON.stringify(m));
  // The text reused is the one the audit stage hashed, even were the object changed afterwards.
  const before = JSON.stringify({ jsonrpc: "2.0", id: 1, result });
  result.isError = true;
  assert.equal(messageJson({ jsonrpc: "2.0", id: 1, result } as Message), before);
});

test("depthExceeds bounds nesting without recursion", () => {
  let deep: unknown = {};
  for (let i = 0; i < 10_000; i++) deep = { a: deep };
  assert.equal(depthExceeds(deep, 64), true);
  assert.equal(depthExceeds({ a: [{ b: 1 }] }, 3), false);
  assert.equal(depthExceeds({ a: [{ b: {} }] }, 3), true);
});

function req(headers: Record<string, string>): IncomingMessage {
  return { headers } as unknown as IncomingMessage;
}

test("request guard: Host must name the gateway, Origin must be its own or allowed", () => {
  const config = parseConfig(
    "gateway:\n  listen: 127.0.0.1:8808\n  public_url: https://mcp.example.com\n  allowed_origins: [https://app.example.com]\nservers:\n  - name: a\n    command: x\n",
    "t.yaml",
    {},
  );
  const guard = new RequestGuard(config.gateway, "http://127.0.0.1:8808");
  assert.equal(guard.refuse(req({ host: "127.0.0.1:8808" })), undefined);
  assert.equal(guard.refuse(req({ host: "localhost:8808" })), undefined);
  assert.equal(guard.refuse(req({ host: "mcp.example.com" })), undefined);
  assert.equal(guard.refuse(req({ host: "127.0.0.1:8808", origin: "https://app.example.com" })), undefined);
  assert.equal(guard.refuse(req({ host: "127.0.0.1:8808", origin: "http://127.0.0.1:8808" })), undefined);
  assert.equal(guard.refuse(req({ host: "evil.example:8808" })), "host not allowed");
  assert.equal(guard.refuse(req({})), "host not allowed");
  assert.equal(
    guard.refuse(req({ host: "127.0.0.1:8808", origin: "http://evil.example" })),
    "origin not allowed",
  );
  assert.equal(guard.refuse(req({ host: "127.0.0.1:8808", origin: "null" })), "origin not allowed");
});
