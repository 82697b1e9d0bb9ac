// Scope step-up for per-user upstream OAuth, end to end with Debian's Chromium: the upstream
// (test/fixtures/oauth-upstream.mjs, its own oidc-provider authorization server) names only `repo`
// in its 401 and metadata, and answers its `write` tool with 403 `Bearer error="insufficient_scope",
// scope="repo:write"` until the token holds repo:write. Alice's call of `write` gets -32007
// insufficient_scope with the gateway's connect link (the upstream saw that one request, never a
// retry with the same token); her connection keeps serving her other calls; her next connect asks
// the authorization server for the union (repo, offline_access, repo:write); then `write` works.
// Hostile challenges (quotes, control characters, non-ASCII, over a thousand scopes, a header past
// the bound, URL syntax inside a scope) are refused or encoded, never remembered half-read.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { chromium, type Browser } from "playwright-core";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { hashPassword } from "../../src/auth/passwords.js";
import { textOf } from "../helpers/client.js";
import { makeTempDir, runCli, startGateway, type Gateway } from "../helpers/gateway.js";
import { stopChild } from "../helpers/processes.js";
import {
  CHROMIUM,
  USERS,
  audited,
  callError,
  connect,
  control,
  gatewayToken,
  mcpClient,
  signInAt,
  startUpstream,
  type Upstream,
} from "./upstream-oauth-lib.js";

interface Call {
  tool: string;
  sub: string;
  scope: string;
  token: string;
  status: number;
}

describe("scope step-up at a per-user upstream, through Chromium", { timeout: 240_000 }, () => {
  let upstream: Upstream;
  let gw: Gateway;
  let browser: Browser;
  let alice: Client;

  before(async () => {
    upstream = await startUpstream({ REGISTRATION: "both" });
    const dir = makeTempDir("warden-oauth-step-up-");
    const users = [];
    for (const [name, u] of Object.entries(USERS))
      users.push({ name, password_hash: await hashPassword(u.password), scopes: [...u.scopes] });
    gw = await startGateway({
      gateway: { listen: "127.0.0.1:0" },
      state: { sqlite: join(dir, "state.db") },
      auth: { anonymous: [], users },
      audit: { sinks: ["sqlite", "stdout"] },
      servers: [
        { name: "remote", url: upstream.mcp, auth: { type: "oauth_user" }, tools: { "*": ["demo:use"] } },
      ],
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    alice = await mcpClient(gw, await gatewayToken(gw, "alice"));
  });

  after(async () => {
    await alice?.close().catch(() => undefined);
    await browser?.close();
    await gw?.stop();
    if (upstream) await stopChild(upstream.proc, "SIGTERM", 5_000);
  });

  const calls = () => control<Call[]>(upstream, "/_calls");
  const authorizations = async () =>
    (await control<[string, string][][]>(upstream, "/_authorizations")).map((pairs) => ({
      scopes: new Set(pairs.find(([k]) => k === "scope")?.[1].split(" ") ?? []),
      pairs,
    }));
  const stepUpScopes = async () => {
    const listed = await runCli(["connections", "list", "-c", gw.configFile, "--json", "--user", "alice"], {
      cwd: gw.dir,
    });
    assert.equal(listed.code, 0, listed.stderr);
    return (JSON.parse(listed.stdout.trim()) as { step_up_scopes: string }).step_up_scopes;
  };
  const deny = (tool: string, status?: number, header?: string) =>
    control(upstream, "/_deny", "POST", { tool, status, header });

  test("a 403 insufficient_scope answers -32007 with the connect link and the reason; the upstream saw one request and the old token keeps serving other calls", async () => {
    // Alice connects the first time: the authorization server is asked for what the 401 named.
    const first = await callError(alice);
    assert.equal(first.code, -32007);
    const context = await browser.newContext();
    await connect(context, (first.data as { url: string }).url, "alice", "alice-upstream");
    await context.close();
    const [initial] = await authorizations();
    assert.ok(initial?.scopes.has("repo"), JSON.stringify(initial?.pairs));
    assert.ok(!initial?.scopes.has("repo:write"), "the first connect asked for more than the 401 named");
    assert.match(textOf(await alice.callTool({ name: "whoami", arguments: {} })), /^sub=alice-upstream /);

    const err = await callError(alice, "write");
    assert.equal(err.code, -32007);
    const data = err.data as { reason: string; url: string; server: string; scopes: string[] };
    assert.equal(data.reason, "insufficient_scope");
    assert.equal(data.server, "remote");
    assert.deepEqual(data.scopes, ["repo:write"]);
    assert.ok(data.url.startsWith(`${gw.url}/connect/remote?for=`), data.url);
    assert.ok(!data.url.includes(upstream.as), "the upstream's authorization URL is never handed out");

    // One request of `write` reached the upstream, refused; the gateway did not try it again.
    const writes = (await calls()).filter((c) => c.tool === "write");
    assert.deepEqual(
      writes.map((c) => c.status),
      [403],
    );
    // The connection stays in use for what it can do, with the same token.
    assert.match(textOf(await alice.callTool({ name: "whoami", arguments: {} })), /^sub=alice-upstream /);
    const whoamis = (await calls()).filter((c) => c.tool === "whoami");
    assert.equal(whoamis.at(-1)?.token, writes[0]?.token, "the step-up replaced or dropped the token");
    assert.equal(await stepUpScopes(), "repo:write");

    // Audited as the other -32007 answers are (the call's event), and the step-up itself.
    await audited(
      gw,
      (e) =>
        e.event === "denied" &&
        e.tool === "write" &&
        e.reason === "insufficient_scope" &&
        (e.detail as { code?: number }).code === -32007,
    );
    const stepUp = await audited(gw, (e) => e.event === "auth" && e.reason === "upstream_step_up");
    assert.equal((stepUp.principal as { sub: string }).sub, "alice");
    assert.equal((stepUp.detail as { scopes: string }).scopes, "repo:write");
  });

  test("the next connect asks for the union of what was asked, granted and challenged; then the call succeeds", async () => {
    const err = await callError(alice, "write");
    assert.equal((err.data as { reason: string }).reason, "insufficient_scope");
    const before = (await authorizations()).length;
    const context = await browser.newContext();
    const page = await signInAt(context, (err.data as { url: string }).url, "alice");
    const confirm = (await page.textContent("main")) ?? "";
    assert.match(confirm, /repo:write/, "the confirm page says what more is asked for");
    await page.close();
    await connect(context, (err.data as { url: string }).url, "alice", "alice-upstream");
    await context.close();

    const asked = (await authorizations()).slice(before);
    assert.equal(asked.length, 1, "one authorization request for the step-up");
    const union = asked[0]!;
    for (const s of ["repo", "offline_access", "repo:write"])
      assert.ok(union.scopes.has(s), `${s} missing from ${JSON.stringify(union.pairs)}`);
    assert.equal(union.pairs.filter(([k]) => k === "redirect_uri").length, 1);

    assert.match(
      textOf(await alice.callTool({ name: "write", arguments: {} })),
      /^written by alice-upstream$/,
    );
    assert.match(
      textOf(await alice.callTool({ name: "whoami", arguments: {} })),
      /scope=.*repo:write/,
      "the new grant holds the added scope",
    );
    assert.equal(await stepUpScopes(), "", "nothing is pending once the new grant replaced the old");
  });

  test("a 403 that is not insufficient_scope stays an upstream error; hostile challenges are refused and bounded, nothing is remembered", async () => {
    const cases: Array<{ header: string; why: RegExp | undefined }> = [
      // Not a step-up at all: the upstream's error, as before.
      { header: 'Bearer error="invalid_token"', why: undefined },
      // A header past the bound is not read.
      { header: `Bearer error="insufficient_scope", scope="${"a".repeat(12_000)}"`, why: undefined },
      // Read, but its scope cannot be asked for.
      {
        header: 'Bearer error="insufficient_scope", scope="repo:x\\"injected"',
        why: /not an OAuth scope token/,
      },
      { header: 'Bearer error="insufficient_scope", scope="repo:a\tb"', why: /not an OAuth scope token/ },
      { header: 'Bearer error="insufficient_scope", scope="caf\u00e9"', why: /not an OAuth scope token/ },
      {
        header: `Bearer error="insufficient_scope", scope="${Array.from({ length: 1200 }, (_, i) => `s${i}`).join(" ")}"`,
        why: /more than 64 scopes/,
      },
      { header: 'Bearer error="insufficient_scope"', why: /names no scope/ },
      // Every scope asked for is granted already: connecting again would not help.
      { header: 'Bearer error="insufficient_scope", scope="repo"', why: /scopes it was granted/ },
    ];
    for (const { header, why } of cases) {
      await deny("echo", 403, header);
      const err = await callError(alice, "echo");
      assert.equal(err.code, -32005, `${header.slice(0, 60)}: ${err.message}`);
      const reason = (err.data as { reason: string }).reason;
      if (why) {
        assert.equal(reason, "upstream_auth_failed");
        assert.match(err.message, why);
      } else assert.equal(reason, "upstream_unavailable", "not the upstream error it was before");
      assert.ok(err.message.length < 400, "the upstream's text is cut");
      assert.equal(await stepUpScopes(), "", `${header.slice(0, 60)} was remembered`);
    }
    await audited(
      gw,
      (e) =>
        e.event === "denied" &&
        e.tool === "echo" &&
        e.reason === "upstream_auth_failed" &&
        (e.detail as { code?: number }).code === -32005,
    );
    await deny("echo");
    // The gateway and Alice's connection are unharmed.
    assert.match(
      textOf(await alice.callTool({ name: "write", arguments: {} })),
      /^written by alice-upstream$/,
    );
  });

  test("URL syntax inside a scope-token is encoded in the authorization request, never parsed as its parameters", async () => {
    const hostile = "repo:admin&redirect_uri=https://evil.example/cb#frag";
    await deny("echo", 403, `Bearer error="insufficient_scope", scope="${hostile}"`);
    const err = await callError(alice, "echo");
    await deny("echo");
    assert.equal(err.code, -32007);
    assert.deepEqual((err.data as { scopes: string[] }).scopes, [hostile]);
    assert.equal(await stepUpScopes(), hostile);
    const before = (await authorizations()).length;
    // Only as far as the authorization server, which records the request.
    const context = await browser.newContext();
    const page = await signInAt(context, (err.data as { url: string }).url, "alice");
    await page.click("button:has-text('Continue to remote')");
    await page.waitForURL((u) => u.origin === new URL(upstream.as).origin);
    await context.close();
    const [request] = (await authorizations()).slice(before);
    assert.ok(request, "no authorization request reached the authorization server");
    assert.deepEqual(
      request.pairs.filter(([k]) => k === "redirect_uri").map(([, v]) => v),
      // The CIMD client's redirect URI (the fixture's authorization server takes CIMD and sends iss).
      [`${gw.url}/connect/cb/cimd`],
    );
    assert.ok(request.scopes.has(hostile), JSON.stringify(request.pairs));
    assert.ok(request.scopes.has("repo:write"), "the union lost what was granted before");
    // Alice's calls still work meanwhile.
    assert.match(textOf(await alice.callTool({ name: "whoami", arguments: {} })), /^sub=alice-upstream /);
  });
});
