// Cedar policies through the gateway (issue 20): argument-based allow and deny, groups and claims
// from an external IdP's token, type confusion refused (declared types, the policies' compared types), lists filtered on the legacy and the
// 2026-07-28 path, the audit naming the deciding policies, and reloads (file change, SIGHUP) that
// keep the old set when the new one is broken. One gateway, one upstream (the recorder), whose
// record proves that a denied call never reached it.
/* eslint-disable @typescript-eslint/no-explicit-any -- audit lines and wire messages are read loosely in assertions */
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from "jose";
import { connectClient, mcpError, type ConnectedClient } from "../helpers/client.js";
import { recorderStdio } from "../helpers/configs.js";
import { makeTempDir, runCli, startGateway, type Gateway } from "../helpers/gateway.js";
import { answer, modern } from "../helpers/modern-raw.js";
import { receivedToolCalls } from "../helpers/records.js";
import { freePort } from "../helpers/upstreams.js";
import { waitFor } from "../helpers/wait.js";

const POLICIES = `
@id("echo-hello")
permit (principal is User, action == Action::"tools/call", resource == Tool::"recorder/echo")
when { context.arguments has message && context.arguments.message like "hello*" };

@id("echo-no-secret")
forbid (principal, action == Action::"tools/call", resource == Tool::"recorder/echo")
when { context.arguments has message && context.arguments.message like "*secret*" };

// Groups and claims from the IdP's token (policy.groups_claim: roles, policy.claims: [department]).
@id("deep-ops")
permit (principal is User, action == Action::"tools/call", resource == Tool::"recorder/deep")
when {
  principal.groups.contains("ops") &&
  principal.claims has department && principal.claims.department == "infra"
};

// The recorder declares deep's "value" as any JSON and no "target": only this policy types target.
@id("deep-no-prod")
forbid (principal, action == Action::"tools/call", resource == Tool::"recorder/deep")
when { context.arguments has target && context.arguments.target == "prod" };

@id("pid-everyone")
permit (principal, action == Action::"tools/call", resource == Tool::"recorder/pid");

// slow declares label a string: this forbid's \`>\` cannot apply to it (said when slow is listed).
@id("slow-label-number")
forbid (principal, action == Action::"tools/call", resource == Tool::"recorder/slow")
when { context.arguments has label && context.arguments.label > 3 };

@id("sleep-short")
permit (principal is User, action == Action::"tools/call", resource == Tool::"recorder/sleep")
when { context.arguments has ms && context.arguments.ms <= 10 };
`;

async function startIdp(): Promise<{ url: string; server: Server; key: CryptoKey }> {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256", use: "sig" };
  const server = createServer((req, res) => {
    if (req.url === "/jwks")
      return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] }));
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, key: privateKey };
}

describe("Cedar policies", () => {
  let idp: Awaited<ReturnType<typeof startIdp>>;
  let gw: Gateway;
  let base: string;
  let records: string;
  let policyDir: string;
  let alice: ConnectedClient;
  let bob: ConnectedClient;
  let aliceToken: string;
  let bobToken: string;

  const jwt = (sub: string, claims: Record<string, unknown>) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      iss: idp.url,
      sub,
      aud: `${base}/mcp`,
      scope: "demo:use",
      iat: now,
      exp: now + 600,
      ...claims,
    })
      .setProtectedHeader({ alg: "ES256", kid: "k1" })
      .sign(idp.key);
  };
  const call = (c: ConnectedClient, name: string, args: Record<string, unknown>) =>
    c.client.callTool({ name: `recorder__${name}`, arguments: args });
  const denied = async (c: ConnectedClient, name: string, args: Record<string, unknown>) => {
    const before = receivedToolCalls(records, name).length;
    const err: McpError = await mcpError(() => call(c, name, args));
    assert.equal(err.code, -32001, err.message);
    assert.equal(receivedToolCalls(records, name).length, before, `the upstream never saw ${name}`);
    return err.data as { reason: string; policies: string[] };
  };
  const logged = (msg: string) => gw.logs().filter((l) => typeof l.msg === "string" && l.msg.startsWith(msg));

  before(async () => {
    idp = await startIdp();
    const dir = makeTempDir("warden-cedar-");
    policyDir = join(dir, "policies");
    mkdirSync(policyDir);
    writeFileSync(join(policyDir, "main.cedar"), POLICIES);
    records = join(dir, "rec.jsonl");
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    gw = await startGateway({
      gateway: { listen: `127.0.0.1:${port}` },
      state: { sqlite: join(dir, "state.db") },
      auth: { issuer: { url: idp.url, jwks_uri: `${idp.url}/jwks` } },
      policy: { cedar: [join(policyDir, "*.cedar")], claims: ["department"], groups_claim: "roles" },
      // An audit file beside the policies, written on every call: it must not set off reloads.
      audit: { sinks: ["sqlite", { jsonl: join(policyDir, "audit.jsonl") }] },
      servers: [{ ...recorderStdio("recorder", records, { "*": ["demo:use"] }), isolation: "shared" }],
      // echo under fixed messages: one a forbid refuses, one the permit allows, one no permit allows.
      virtual_servers: [
        {
          name: "curated",
          tools: [
            {
              tool: "recorder/echo",
              name: "echo_secret",
              arguments: { fixed: { message: "hello, secret" } },
            },
            { tool: "recorder/echo", name: "echo_hello", arguments: { fixed: { message: "hello there" } } },
            { tool: "recorder/echo", name: "echo_bye", arguments: { fixed: { message: "bye" } } },
          ],
        },
      ],
    });
    aliceToken = await jwt("alice", { roles: ["staff"] });
    bobToken = await jwt("bob", { roles: ["ops"], department: "infra" });
    alice = await connectClient(gw.mcpUrl, { headers: { authorization: `Bearer ${aliceToken}` } });
    bob = await connectClient(gw.mcpUrl, { headers: { authorization: `Bearer ${bobToken}` } });
  });

  after(async () => {
    await alice?.close();
    await bob?.close();
    await gw?.stop();
    idp?.server.close();
  });

  test("arguments decide: a permit allows, a forbid overrides it, no permit denies", async () => {
    const ok = await call(alice, "echo", { message: "hello world" });
    assert.equal(ok.isError, undefined);
    assert.equal(receivedToolCalls(records, "echo").length, 1);
    const forbidden = await denied(alice, "echo", { message: "hello, the secret is…" });
    assert.equal(forbidden.reason, "cedar_denied");
    assert.deepEqual(forbidden.policies, ["echo-no-secret"]);
    const unpermitted = await denied(alice, "echo", { message: "bye" });
    assert.equal(unpermitted.reason, "cedar_denied");
    assert.deepEqual(unpermitted.policies, []);
  });

  test("type confusion is refused: declared types first, then Cedar's own type errors", async () => {
    await call(alice, "sleep", { ms: 5 });
    assert.equal(receivedToolCalls(records, "sleep").length, 1);
    assert.equal((await denied(alice, "sleep", { ms: 50 })).reason, "cedar_denied");
    // sleep declares ms an integer: a string, a fraction, an array, an escape object contradict it.
    for (const ms of ["5", 5.5, [5], { __extn: { fn: "decimal", arg: "1.0" } }]) {
      const d = await denied(alice, "sleep", { ms });
      assert.equal(d.reason, "argument_type_mismatch", JSON.stringify(ms));
      assert.deepEqual(d.policies, []);
    }
    // A whole number past 2^53 fits "integer" but reaches Cedar as text: `<=` on it errs, denied.
    const huge = await denied(alice, "sleep", { ms: 1e300 });
    assert.equal(huge.reason, "cedar_error");
    assert.deepEqual(huge.policies, ["sleep-short"]);
    // echo declares message a string.
    for (const message of [{ __entity: { type: "User", id: "bob" } }, ["hello"], { 0: "hello" }])
      assert.equal((await denied(alice, "echo", { message })).reason, "argument_type_mismatch");
  });

  test("groups and claims come from the external IdP's token", async () => {
    assert.equal((await denied(alice, "deep", { value: 1 })).reason, "cedar_denied");
    const r = await call(bob, "deep", { value: 1 });
    assert.equal(r.isError, undefined);
    assert.equal(receivedToolCalls(records, "deep").length, 1);
    // The same groups without the claim: denied.
    const noClaim = await connectClient(gw.mcpUrl, {
      headers: { authorization: `Bearer ${await jwt("carol", { roles: ["ops"] })}` },
    });
    try {
      assert.equal((await denied(noClaim, "deep", { value: 1 })).reason, "cedar_denied");
    } finally {
      await noClaim.close();
    }
  });

  test("an argument no schema types is judged by the type the policy compares it with", async () => {
    const ok = await call(bob, "deep", { value: 1, target: "staging" });
    assert.equal(ok.isError, undefined);
    assert.equal((await denied(bob, "deep", { value: 1, target: "prod" })).reason, "cedar_denied");
    for (const target of [["prod"], { prod: true }, ["staging", "prod"], null, 7]) {
      const d = await denied(bob, "deep", { value: 1, target });
      assert.equal(d.reason, "argument_type_mismatch", JSON.stringify(target));
      assert.deepEqual(d.policies, ["deep-no-prod"]);
    }
    // Anything may go in "value" (declared as any JSON, compared by no policy).
    assert.equal((await call(bob, "deep", { value: ["prod", { a: null }] })).isError, undefined);
    // The audit record names the policy whose comparison refused the argument.
    const q = await runCli(["audit", "query", "--json", "--limit", "1000", "-c", gw.configFile]);
    const mismatch = q.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, any>)
      .find((e) => e.status === "denied" && e.reason === "argument_type_mismatch" && e.tool === "deep");
    assert.deepEqual(mismatch?.detail?.policies, ["deep-no-prod"]);
  });

  test("lists show what some call could be allowed, on the legacy and the 2026-07-28 path", async () => {
    const names = async (c: ConnectedClient) => (await c.client.listTools()).tools.map((t) => t.name).sort();
    assert.deepEqual(await names(alice), ["recorder__echo", "recorder__pid", "recorder__sleep"]);
    assert.deepEqual(await names(bob), [
      "recorder__deep",
      "recorder__echo",
      "recorder__pid",
      "recorder__sleep",
    ]);
    const r = answer(await modern(gw.mcpUrl, { id: 7, method: "tools/list", token: aliceToken }));
    const listed = (r.result.tools as Array<{ name: string }>).map((t) => t.name).sort();
    assert.deepEqual(listed, ["recorder__echo", "recorder__pid", "recorder__sleep"]);
    const denial = answer(
      await modern(gw.mcpUrl, {
        id: 8,
        method: "tools/call",
        token: aliceToken,
        params: { name: "recorder__echo", arguments: { message: "bye" } },
      }),
    );
    assert.equal(denial.error.code, -32001);
    assert.equal(denial.error.data.reason, "cedar_denied");
    // The policies written for a tool are checked against its listed input schema, once.
    const misfits = logged("cedar policies do not fit the tool's arguments");
    assert.equal(misfits.length, 1, JSON.stringify(misfits));
    assert.equal(misfits[0]?.tool, "slow");
    assert.match(JSON.stringify(misfits[0]?.problems), /main\.cedar:\d+: policy slow-label-number: /);
  });

  test("a virtual tool whose fixed arguments every call is refused for is not listed", async () => {
    const url = `${base}/v/curated/mcp`;
    const token = await jwt("alice", { roles: ["staff"], aud: url });
    const curated = await connectClient(url, { headers: { authorization: `Bearer ${token}` } });
    try {
      const listed = (await curated.client.listTools()).tools.map((t) => t.name);
      assert.deepEqual(listed, ["echo_hello"]);
      // The calls agree with the list: the hidden ones are refused and never reach the upstream.
      const before = receivedToolCalls(records, "echo").length;
      for (const name of ["echo_secret", "echo_bye"]) {
        const err: McpError = await mcpError(() => curated.client.callTool({ name, arguments: {} }));
        assert.equal(err.code, -32001, err.message);
        assert.equal((err.data as { reason: string }).reason, "cedar_denied");
      }
      assert.equal(receivedToolCalls(records, "echo").length, before, "the upstream never saw them");
      assert.equal((await curated.client.callTool({ name: "echo_hello", arguments: {} })).isError, undefined);
      assert.equal(receivedToolCalls(records, "echo").length, before + 1);
    } finally {
      await curated.close();
    }
  });

  test("the audit log names the deciding policies", async () => {
    const q = await runCli(["audit", "query", "--json", "--limit", "1000", "-c", gw.configFile]);
    assert.equal(q.code, 0, q.stderr);
    const events = q.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, any>);
    const deny = events.find((e) => e.status === "denied" && e.detail?.policies?.includes("echo-no-secret"));
    assert.ok(deny, "a denial naming echo-no-secret");
    assert.equal(deny.reason, "cedar_denied");
    const allow = events.find((e) => e.status === "ok" && e.tool === "echo");
    assert.deepEqual(allow?.detail?.policies, ["echo-hello"]);
  });

  test("reload on file change and on SIGHUP; a broken set keeps the old one", async () => {
    assert.equal(
      logged("cedar policies reloaded").length,
      0,
      "audit writes beside the policies reload nothing",
    );
    assert.equal(logged("cedar policies not reloaded").length, 0);
    const seen = receivedToolCalls(records, "echo").length;
    const extra = join(policyDir, "extra.cedar");
    writeFileSync(
      extra,
      `@id("echo-bye")\npermit (principal, action, resource == Tool::"recorder/echo")\nwhen { context.arguments has message && context.arguments.message == "bye" };\n`,
    );
    await waitFor(() => logged("cedar policies reloaded").length >= 1, { what: "reload after a new file" });
    await call(alice, "echo", { message: "bye" });
    assert.equal(receivedToolCalls(records, "echo").length, seen + 1);

    // A broken file: the reload fails, says where, and the old set (with echo-bye) stays.
    writeFileSync(
      extra,
      `@id("echo-bye")\npermit (principal, action, resource == Tool::"recorder/echo")\nwhen { context.arguments.message == };\n`,
    );
    const failure = await waitFor(() => logged("cedar policies not reloaded")[0], { what: "failed reload" });
    assert.match(JSON.stringify(failure.problems), /extra\.cedar:3/);
    await call(alice, "echo", { message: "bye" });
    assert.equal(receivedToolCalls(records, "echo").length, seen + 2);
    const failures = logged("cedar policies not reloaded").length;
    gw.proc.kill("SIGHUP");
    await waitFor(() => logged("cedar policies not reloaded").length > failures, { what: "SIGHUP reload" });
    assert.equal(gw.proc.exitCode, null, "SIGHUP does not stop the gateway");

    // Fixed, then SIGHUP: the new set (without echo-bye) is in force.
    writeFileSync(
      extra,
      `@id("nothing-more")\nforbid (principal, action, resource == Tool::"recorder/secret_tool");\n`,
    );
    const reloads = logged("cedar policies reloaded").length;
    gw.proc.kill("SIGHUP");
    await waitFor(() => logged("cedar policies reloaded").length > reloads, { what: "reload after the fix" });
    assert.equal((await denied(alice, "echo", { message: "bye" })).reason, "cedar_denied");
    const q = await runCli(["audit", "query", "--json", "--limit", "1000", "-c", gw.configFile]);
    const reloadEvents = q.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, any>)
      .filter((e) => e.reason === "policy_reload");
    assert.ok(
      reloadEvents.some((e) => e.status === "failed"),
      "a failed reload is audited",
    );
    assert.ok(reloadEvents.some((e) => e.status === "ok"));
  });
});
