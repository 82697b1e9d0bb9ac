#!/usr/bin/env node
// The gateway as the client of the MCP conformance suite's client scenarios:
//
//   conformance client --command "node tools/conformance/gateway-client.mjs" --requirements 2026-07-28
//
// The suite starts a mock server for a scenario and runs this command with the mock's URL as the
// last argument (MCP_CONFORMANCE_SCENARIO, MCP_CONFORMANCE_PROTOCOL_VERSION and, for some,
// MCP_CONFORMANCE_CONTEXT in the environment). This script starts mcp-warden with that URL as its
// one upstream, then drives the gateway with the official v2 SDK client doing what the scenario
// asks of a client; the mock judges what reached it, which is what the gateway sent as a client.
//
// Several 2026-07-28 mocks implement only the methods a scenario needs and answer neither
// `server/discover` nor a usable `initialize`, so no client can learn their era from them (the
// SDK's own conformance client answers `server/discover` locally for those). Here a small relay in
// front of the mock answers `server/discover` the same way and passes everything else through
// unchanged; the gateway probes through it like any upstream.
import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, URL } from "node:url";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { Browser, connectAccount, gatewayToken, USER } from "./gateway-auth.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const WARDEN = join(ROOT, "bin", "mcp-warden.js");
const MODERN = "2026-07-28";

const mockUrl = process.argv.at(-1);
const scenario = process.env.MCP_CONFORMANCE_SCENARIO ?? "";
const modern = process.env.MCP_CONFORMANCE_PROTOCOL_VERSION === MODERN;
const context = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT ?? "{}");
const log = (...args) => process.stderr.write(`[gateway-client] ${args.join(" ")}\n`);

/** Scenarios whose mock cannot tell a client its era (see above). */
const NO_DISCOVER = new Set([
  "http-standard-headers",
  "http-custom-headers",
  "http-invalid-tool-headers",
  "sep-2322-client-request-state",
]);

/**
 * auth/* extension scenarios whose grant or token type the gateway does not speak as a per-user
 * client (client credentials, JWT client auth, DPoP, ID-JAG, workload identity): answered at once,
 * as a failure, rather than left to run into the suite's timeout.
 */
const AUTH_UNSUPPORTED = new Set([
  "auth/client-credentials-basic",
  "auth/client-credentials-jwt",
  "auth/dpop",
  "auth/dpop-nonce",
  "auth/enterprise-managed-authorization",
  "auth/wif-jwt-bearer",
]);

/**
 * auth/basic-cimd: the suite's mock authorization server takes Client ID Metadata Documents but
 * accepts only the client id its own client uses, without fetching it. The gateway's client id is
 * its document's URL, by default under its public URL (http on loopback here); an operator who
 * publishes the document elsewhere says where with `gateway.client_metadata_url`, as done here.
 */
const CIMD_URLS = { "auth/basic-cimd": "https://conformance-test.local/client-metadata.json" };

/** A relay to `target` that answers `server/discover` itself (2026-07-28, tools, resources, prompts). */
async function discoverRelay(target) {
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks);
    if (req.method === "POST") {
      let message;
      try {
        message = JSON.parse(body.toString("utf8"));
      } catch {
        // not JSON: the mock answers it
      }
      if (message?.method === "server/discover") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(
          JSON.stringify({
            jsonrpc: "2.0",
            id: message.id,
            result: {
              supportedVersions: [MODERN],
              capabilities: { tools: { listChanged: true }, resources: {}, prompts: {} },
              _meta: { "io.modelcontextprotocol/serverInfo": { name: "conformance-mock", version: "1.0.0" } },
            },
          }),
        );
        return;
      }
    }
    const headers = { ...req.headers };
    delete headers.host;
    delete headers["content-length"];
    const upstream = await globalThis
      .fetch(target, {
        method: req.method,
        headers,
        body: req.method === "GET" || req.method === "HEAD" ? undefined : body,
      })
      .catch((err) => err);
    if (upstream instanceof Error) {
      res.writeHead(502).end(String(upstream));
      return;
    }
    const out = {};
    upstream.headers.forEach((v, k) => {
      if (k !== "content-length" && k !== "transfer-encoding" && k !== "content-encoding") out[k] = v;
    });
    res.writeHead(upstream.status, out);
    if (!upstream.body) return void res.end();
    for await (const c of upstream.body) res.write(c);
    res.end();
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${server.address().port}/mcp`, close: () => server.close() };
}

/**
 * mcp-warden with `upstream` as server `conf`: every tool open to an anonymous caller, or with
 * `upstreamAuth` (an auth/* scenario) to USER, a user of the embedded issuer, whose own account at
 * the upstream the gateway connects (per-user OAuth).
 */
async function startGateway(upstream, upstreamAuth) {
  const dir = mkdtempSync(join(tmpdir(), "warden-conformance-client-"));
  const config = join(dir, "warden.yaml");
  let auth = "auth: { anonymous: [conf:use] }";
  if (upstreamAuth) {
    const { hashPassword } = await import(join(ROOT, "dist", "auth", "passwords.js"));
    const user = { name: USER.name, password_hash: await hashPassword(USER.password), scopes: ["conf:use"] };
    auth = `auth: ${JSON.stringify({ anonymous: [], users: [user] })}`;
  }
  writeFileSync(
    config,
    [
      `gateway: ${JSON.stringify({
        listen: "127.0.0.1:0",
        ...(Object.hasOwn(CIMD_URLS, scenario) ? { client_metadata_url: CIMD_URLS[scenario] } : {}),
      })}`,
      `state: { sqlite: ${JSON.stringify(join(dir, "state.db"))} }`,
      auth,
      "servers:",
      "  - name: conf",
      `    url: ${JSON.stringify(upstream)}`,
      ...(upstreamAuth ? [`    auth: ${JSON.stringify(upstreamAuth)}`] : []),
      '    tools: { "*": [conf:use] }',
      '    prompts: { "*": [conf:use] }',
      '    resources: { "**": [conf:use] }',
      "",
    ].join("\n"),
  );
  const child = spawn(process.execPath, [WARDEN, "start", "-c", config], {
    cwd: dir,
    stdio: ["ignore", "ignore", "pipe"],
  });
  const lines = [];
  const listening = new Promise((resolve, reject) => {
    createInterface({ input: child.stderr }).on("line", (line) => {
      lines.push(line);
      try {
        const rec = JSON.parse(line);
        if (rec.msg === "listening" && typeof rec.url === "string") resolve(new URL(rec.url));
      } catch {
        // not a JSON line
      }
    });
    child.once("exit", (code) => reject(new Error(`mcp-warden exited (${code})\n${lines.join("\n")}`)));
  });
  const base = await listening;
  return {
    base,
    url: new URL("/servers/conf/mcp", base),
    stop: async (failed) => {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await new Promise((resolve) => child.once("exit", resolve));
      }
      rmSync(dir, { recursive: true, force: true });
      if (failed || process.env.GATEWAY_CLIENT_LOG) log(`the gateway's log:\n${lines.slice(-80).join("\n")}`);
    },
  };
}

async function connect(url, capabilities = {}, setup = () => {}, token = undefined) {
  const options = modern ? { capabilities, versionNegotiation: { mode: "auto" } } : { capabilities };
  const client = new Client({ name: "gateway-conformance-client", version: "1.0.0" }, options);
  setup(client);
  const requestInit = token ? { headers: { authorization: `Bearer ${token}` } } : undefined;
  await client.connect(new StreamableHTTPClientTransport(url, { requestInit }));
  return client;
}

/** -32007 upstream_auth_required: the gateway's connect link, else undefined. */
function connectLink(err) {
  return err?.code === -32007 && typeof err.data?.url === "string" ? err.data.url : undefined;
}

/**
 * An auth/* scenario: USER's agent lists and calls the mock's tools through the gateway; each time
 * the gateway answers -32007 with its connect link, USER walks the connect flow in the scripted
 * browser, and the agent tries again (a few rounds: step-up asks again).
 */
async function authScenario(gateway) {
  const browser = new Browser(gateway.base.href);
  const token = await gatewayToken(browser, gateway.base.origin, gateway.url.href, "conf:use");
  const client = await connect(gateway.url, {}, () => {}, token);
  const withConnect = async (what, call) => {
    for (let round = 0; ; round++) {
      try {
        return await call();
      } catch (err) {
        const link = connectLink(err);
        if (!link || round >= 3) throw err;
        log(`${what}: -32007 (${err.data?.reason ?? err.message}): connecting at ${link}`);
        await connectAccount(browser, link, log);
      }
    }
  };
  const { tools } = await withConnect("tools/list", () => client.listTools());
  for (const tool of tools)
    await withConnect(tool.name, () => client.callTool({ name: tool.name, arguments: {} }));
  await client.close();
}

/** What each scenario asks of a client, done through the gateway. */
const scenarios = {
  async initialize(url) {
    const client = await connect(url);
    await client.listTools();
    await client.close();
  },
  async tools_call(url) {
    const client = await connect(url);
    const { tools } = await client.listTools();
    if (tools.some((t) => t.name === "add_numbers"))
      await client.callTool({ name: "add_numbers", arguments: { a: 5, b: 3 } });
    await client.close();
  },
  async "request-metadata"(url) {
    const client = await connect(url, { roots: { listChanged: true }, sampling: {}, elicitation: {} });
    await client.listTools().catch(() => undefined);
    await client.close();
  },
  async "http-standard-headers"(url) {
    const client = await connect(url);
    const { tools } = await client.listTools();
    if (tools[0]) await client.callTool({ name: tools[0].name, arguments: {} });
    const { resources } = await client.listResources();
    if (resources[0]) await client.readResource({ uri: resources[0].uri });
    const { prompts } = await client.listPrompts();
    if (prompts[0]) await client.getPrompt({ name: prompts[0].name, arguments: {} });
    await client.close();
  },
  async "http-custom-headers"(url) {
    const client = await connect(url);
    await client.listTools();
    for (const call of context.toolCalls ?? []) await client.callTool(call);
    await client.close();
  },
  async "http-invalid-tool-headers"(url) {
    const client = await connect(url);
    const { tools } = await client.listTools();
    for (const tool of tools)
      await client
        .callTool({ name: tool.name, arguments: { region: "us-west1" } })
        .catch((err) => log(`${tool.name} refused: ${err}`));
    await client.close();
  },
  async "sep-2322-client-request-state"(url) {
    const client = await connect(url, { elicitation: {} }, (c) =>
      c.setRequestHandler("elicitation/create", async () => ({
        action: "accept",
        content: { confirmed: true },
      })),
    );
    for (const name of [
      "test_mrtr_echo_state",
      "test_mrtr_no_state",
      "test_mrtr_unrelated",
      "test_mrtr_no_result_type",
    ])
      await client.callTool({ name, arguments: {} }).catch((err) => log(`${name}: ${err}`));
    await client.close();
  },
  async "elicitation-sep1034-client-defaults"(url) {
    const client = await connect(url, { elicitation: { form: { applyDefaults: true } } }, (c) =>
      c.setRequestHandler("elicitation/create", async () => ({ action: "accept", content: {} })),
    );
    await client.listTools();
    await client.callTool({ name: "test_client_elicitation_defaults", arguments: {} });
    await client.close();
  },
  async "sse-retry"(url) {
    const client = await connect(url);
    await client.listTools();
    await client.callTool({ name: "test_reconnection", arguments: {} });
    await client.close();
  },
  async "json-schema-2020-12-preservation"(url) {
    const client = await connect(url);
    const { tools } = await client.listTools();
    const focal = tools.find((t) => t.name === "json_schema_2020_12_tool");
    if (!focal) throw new Error("json_schema_2020_12_tool is not listed through the gateway");
    await client.callTool({ name: "json_schema_echo", arguments: { schema: focal.inputSchema } });
    await client.close();
  },
  async "json-schema-ref-no-deref"(url) {
    const client = await connect(url);
    await client.listTools();
    await client.close();
  },
};

/** The server's `auth` for an auth/* scenario: per-user OAuth, with what the scenario gives a client. */
function authConfig() {
  const auth = { type: "oauth_user" };
  if (typeof context.client_id === "string") auth.client_id = context.client_id;
  if (typeof context.client_secret === "string") auth.client_secret = context.client_secret;
  return auth;
}

async function main() {
  const upstreamAuth =
    scenario.startsWith("auth/") && !AUTH_UNSUPPORTED.has(scenario) ? authConfig() : undefined;
  const run = upstreamAuth ? authScenario : scenarios[scenario];
  if (!run) {
    log(`no client steps for scenario ${scenario || "(none)"}; known: ${Object.keys(scenarios).join(", ")}`);
    process.exit(1);
  }
  const relay = modern && NO_DISCOVER.has(scenario) ? await discoverRelay(mockUrl) : undefined;
  const gateway = await startGateway(relay?.url ?? mockUrl, upstreamAuth);
  let failed = true;
  try {
    await run(upstreamAuth ? gateway : gateway.url);
    failed = false;
  } finally {
    await gateway.stop(failed);
    relay?.close();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    log(describe(err));
    process.exit(1);
  },
);

/**
 * An error with its chain of causes: undici's "fetch failed" says nothing until its `cause` does
 * (ECONNREFUSED, a timeout, a reset), which is what a flaky run needs to be told apart.
 */
function describe(err) {
  const parts = [];
  const seen = new Set();
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 5; e = e.cause, depth++) {
    if (seen.has(e)) break;
    seen.add(e);
    if (!(e instanceof Error)) {
      parts.push(`${depth ? "caused by: " : ""}${String(e)}`);
      break;
    }
    const code = typeof e.code === "string" ? ` [${e.code}]` : "";
    parts.push(depth ? `caused by: ${e.name}${code}: ${e.message}` : `${e.stack ?? e}${code}`);
    if (e instanceof AggregateError)
      for (const inner of e.errors.slice(0, 5)) parts.push(`  and: ${inner?.message ?? String(inner)}`);
  }
  return parts.join("\n");
}
