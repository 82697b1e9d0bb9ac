// A stdio server's answer that is not valid JSON-RPC (the SDK's parse refuses it) fails its call at
// once with -32005, instead of leaving the caller to wait for upstream_timeout; the connection and
// the server's other calls go on.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { connectClient, mcpError, reasonOf, textOf, type ConnectedClient } from "../helpers/client.js";
import { gatewayConfig } from "../helpers/configs.js";
import { startGateway, type Gateway } from "../helpers/gateway.js";
import { fixture } from "../helpers/paths.js";

let gw: Gateway;
let c: ConnectedClient;

before(async () => {
  gw = await startGateway(
    gatewayConfig(
      [
        {
          name: "bad",
          command: process.execPath,
          args: [fixture("malformed-answer-server.mjs")],
          tools: { "*": ["demo:use"] },
        },
      ],
      // A call that waited for its timeout would hang the test instead of passing it.
      { gateway: { upstream_timeout: "10m" } },
    ),
  );
  c = await connectClient(gw.mcpUrl);
});

after(async () => {
  await c?.close();
  await gw?.stop();
});

test("each answer the SDK refuses fails its call with -32005 at once; the next call is served", async () => {
  for (const name of ["array", "meta", "both", "extra"]) {
    const err = await mcpError(() => c.client.callTool({ name: `bad__${name}`, arguments: {} }));
    assert.equal(err.code, -32005, `${name}: ${err.message}`);
    assert.equal(reasonOf(err), "upstream_unavailable", name);
    const ok = await c.client.callTool({ name: "bad__hello", arguments: {} });
    assert.equal(textOf(ok), "hello", `after ${name}`);
  }
});
