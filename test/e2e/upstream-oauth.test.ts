// Per-user upstream OAuth end to end (issue 19), with Debian's Chromium on every page: a remote MCP
// server protected by its own authorization server (test/fixtures/oauth-upstream.mjs, a separate
// process and issuer), discovered from its 401. Alice calls a tool → -32007 with the gateway's
// connect URL → signs in to the gateway → consents at the upstream (which fetched the gateway's
// Client ID Metadata Document) → her call acts as her upstream identity. Bob gets his own link,
// never Alice's identity. Refresh on every call (short-lived tokens), invalid_grant → reconnect,
// revoke → reconnect, callbacks replayed / for another user / with a forged `iss` refused and
// audited, and the vault: a row moved to another user does not open, no token in the database.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { chromium, type Browser, type BrowserContext } from "playwright-core";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { BOOTSTRAP_FILE } from "../../src/admin/bootstrap.js";
import { hashPassword } from "../../src/auth/passwords.js";
import { issuerTag } from "../../src/upstreams/oauth-user/authorization.js";
import { textOf } from "../helpers/client.js";
import { makeTempDir, runCli, startGateway, type Gateway } from "../helpers/gateway.js";
import { stopChild } from "../helpers/processes.js";
import type { UserName } from "./oauth-client.js";
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

describe("per-user upstream OAuth through Chromium", { timeout: 240_000 }, () => {
  let upstream: Upstream;
  /** A second server whose authorization server offers dynamic registration only (no CIMD). */
  let dcrUpstream: Upstream;
  let gw: Gateway;
  let browser: Browser;
  let stateFile: string;
  const tokens: Partial<Record<UserName, string>> = {};
  const clients: Partial<Record<UserName, Client>> = {};

  before(async () => {
    // Access tokens live 30 s: every use is within the gateway's refresh margin, so every call
    // refreshes (and rotates the refresh token) first.
    upstream = await startUpstream({ TOKEN_TTL_S: "30", REGISTRATION: "both" });
    dcrUpstream = await startUpstream({ REGISTRATION: "dcr" });
    const dir = makeTempDir("warden-oauth-user-");
    stateFile = join(dir, "state.db");
    const users = [];
    for (const [name, u] of Object.entries(USERS))
      users.push({ name, password_hash: await hashPassword(u.password), scopes: [...u.scopes] });
    gw = await startGateway({
      gateway: { listen: "127.0.0.1:0" },
      state: { sqlite: stateFile },
      auth: { anonymous: [], users },
      audit: { sinks: ["sqlite", "stdout"] },
      servers: [
        { name: "remote", url: upstream.mcp, auth: { type: "oauth_user" }, tools: { "*": ["demo:use"] } },
        { name: "dcr", url: dcrUpstream.mcp, auth: { type: "oauth_user" }, tools: { "*": ["demo:use"] } },
      ],
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    for (const user of ["alice", "bob"] as const) {
      tokens[user] = await gatewayToken(gw, user);
      clients[user] = await mcpClient(gw, tokens[user] as string);
    }
  });

  after(async () => {
    for (const c of Object.values(clients)) await c?.close().catch(() => undefined);
    await browser?.close();
    await gw?.stop();
    if (upstream) await stopChild(upstream.proc, "SIGTERM", 5_000);
    if (dcrUpstream) await stopChild(dcrUpstream.proc, "SIGTERM", 5_000);
  });

  /**
   * Runs a connect link as `user` up to the upstream's consent, then consents through the
   * context's own request client (same cookies) and keeps the redirect to the gateway's callback
   * instead of following it: the flow stays unused, for the test to deliver.
   */
  async function capturedCallback(context: BrowserContext, url: string, user: UserName): Promise<string> {
    const page = await signInAt(context, url, user);
    await page.click("button:has-text('Continue to remote')");
    await page.fill("input[name=login]", `${user}-upstream`);
    await page.fill("input[name=password]", "any");
    await page.click("button[type=submit]");
    await page.waitForSelector("button:has-text('Continue')");
    let next = new URL((await page.getAttribute("form", "action")) as string, page.url()).href;
    let response = await context.request.post(next, { form: { prompt: "consent" }, maxRedirects: 0 });
    for (let hops = 0; hops < 5; hops++) {
      const location = response.headers()["location"];
      assert.ok(location, `the authorization server stopped at ${next} (${response.status()})`);
      next = new URL(location, next).href;
      if (/^\/connect\/(callback|cb\/)/.test(new URL(next).pathname)) return next;
      response = await context.request.get(next, { maxRedirects: 0 });
    }
    assert.fail("the upstream never redirected back");
  }

  test("a user who has not connected gets -32007 with the gateway's own connect URL; nothing reached the upstream", async () => {
    const err = await callError(clients.alice as Client);
    assert.equal(err.code, -32007);
    const data = err.data as { reason: string; url: string; server: string };
    assert.equal(data.reason, "not_connected");
    assert.equal(data.server, "remote");
    assert.ok(data.url.startsWith(`${gw.url}/connect/remote?for=`), data.url);
    assert.ok(!data.url.includes(upstream.as), "the upstream's authorization URL is never handed out");
    // At most the gateway's own unauthenticated probes (the 401 that starts discovery): no token
    // of any kind, the caller's gateway token least of all, and so no call.
    const seen = await control<Array<{ none?: boolean }>>(upstream, "/_seen");
    assert.deepEqual(
      seen.filter((s) => s.none !== true),
      [],
      "a credential reached the upstream before the user connected",
    );
  });

  test("Alice connects through the pages and her calls act as her upstream identity; CIMD was used", async () => {
    const err = await callError(clients.alice as Client);
    const context = await browser.newContext();
    const page = await connect(context, (err.data as { url: string }).url, "alice", "alice-upstream");
    assert.match((await page.textContent("main")) ?? "", /Return to your agent/);
    const result = await (clients.alice as Client).callTool({ name: "whoami", arguments: {} });
    assert.match(textOf(result), /^sub=alice-upstream /);
    const fetched = await control<string[]>(upstream, "/_cimd");
    assert.ok(fetched.includes(`${gw.url}/connect/client-metadata.json`), JSON.stringify(fetched));
    const seen = await control<Array<{ sub?: string; iss?: string; client_id?: string }>>(upstream, "/_seen");
    assert.ok(
      seen.every((s) => s.iss !== gw.url),
      "a gateway token reached the upstream",
    );
    assert.ok(
      seen.some(
        (s) => s.sub === "alice-upstream" && s.client_id === `${gw.url}/connect/client-metadata.json`,
      ),
    );
    const connected = await audited(gw, (e) => e.reason === "upstream_connected");
    assert.equal((connected?.principal as { sub: string }).sub, "alice");
    const use = await audited(gw, (e) => e.event === "tool_call" && e.status === "ok");
    assert.match(String((use?.detail as { connection?: string }).connection), /^[0-9a-f-]{36}$/);
    await context.close();
  });

  test("an authorization server without CIMD gets a dynamically registered client, kept for the next user", async () => {
    const alice = new Client({ name: "agent", version: "1.0.0" });
    await alice.connect(
      // Through the aggregate route this time: the tool is `dcr__whoami` there.
      new StreamableHTTPClientTransport(new URL(gw.mcpUrl), {
        requestInit: { headers: { authorization: `Bearer ${await gatewayToken(gw, "alice", gw.mcpUrl)}` } },
      }),
    );
    const err = await callError(alice, "dcr__whoami");
    const context = await browser.newContext();
    await connect(context, (err.data as { url: string }).url, "alice", "alice-dcr", "dcr");
    assert.match(textOf(await alice.callTool({ name: "dcr__whoami", arguments: {} })), /^sub=alice-dcr /);
    const seen = await control<Array<{ client_id?: string }>>(dcrUpstream, "/_seen");
    const used = seen.filter((s) => s.client_id).map((s) => s.client_id as string);
    assert.ok(used.length > 0 && used.every((c) => !c.startsWith("http")), JSON.stringify(used));
    assert.deepEqual(await control<string[]>(dcrUpstream, "/_cimd"), []);
    await alice.close();
    await context.close();
  });

  test("Bob gets his own link, cannot use Alice's, and never her identity", async () => {
    const err = await callError(clients.bob as Client);
    const bobUrl = (err.data as { url: string }).url;
    const context = await browser.newContext();
    // Alice's link opened by Bob (signed in as Bob) is refused and audited.
    const aliceLink = bobUrl.replace(/for=[^&]+/, "for=AAAAAAAAAAAAAAAAAAAAAA");
    const page = await signInAt(context, aliceLink, "bob");
    assert.match((await page.textContent("h1")) ?? "", /Another user's link/);
    await audited(gw, (e) => e.reason === "connect_user_mismatch");
    await connect(context, bobUrl, "bob", "bob-upstream");
    const calls = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        (clients[i % 2 === 0 ? "alice" : "bob"] as Client).callTool({ name: "whoami", arguments: {} }),
      ),
    );
    calls.forEach((r, i) =>
      assert.match(textOf(r), i % 2 === 0 ? /^sub=alice-upstream / : /^sub=bob-upstream /),
    );
    await context.close();
  });

  test("a client that takes URL elicitation is asked to open the connect page, and the call goes through once connected", async () => {
    const context = await browser.newContext();
    let asked: string | undefined;
    let flow: Promise<unknown> | undefined;
    // The "user" opens the link the agent shows, in a browser, and finishes connecting.
    const carol = await mcpClient(gw, await gatewayToken(gw, "carol"), (url) => {
      asked = url;
      flow = connect(context, url, "carol", "carol-upstream");
    });
    const result = await carol.callTool({ name: "whoami", arguments: {} });
    assert.match(textOf(result), /^sub=carol-upstream /);
    assert.ok(asked?.startsWith(`${gw.url}/connect/remote?for=`), asked);
    await flow;
    await carol.close();
    await context.close();
  });

  test("a replayed callback, another user's callback and a forged iss are refused and audited", async () => {
    const context = await browser.newContext();
    // Alice reconnects: her flow's callback is captured instead of delivered.
    const aliceLink = `${gw.url}/connect/remote`;
    const callback = await capturedCallback(context, aliceLink, "alice");
    // Bob's browser delivers Alice's callback: refused (it was Alice's flow), and the flow is used up.
    const bobContext = await browser.newContext();
    const bobPage = await signInAt(bobContext, `${gw.url}/connections`, "bob");
    const bobResponse = await bobPage.goto(callback);
    assert.equal(bobResponse?.status(), 400);
    await audited(gw, (e) => e.reason === "connect_user_mismatch" && e.status === "denied");
    // Alice's own browser then replays it: the state was single use.
    const replay = await (await context.newPage()).goto(callback);
    assert.equal(replay?.status(), 400);
    await audited(gw, (e) => e.reason === "connect_state_invalid");
    // A fresh flow (in a fresh browser: no upstream session to skip its pages) claiming another issuer.
    const third = await browser.newContext();
    const second = await capturedCallback(third, aliceLink, "alice");
    const forged = new URL(second);
    forged.searchParams.set("iss", "https://evil.example");
    const forgedResponse = await (await third.newPage()).goto(forged.href);
    assert.equal(forgedResponse?.status(), 400);
    await audited(gw, (e) => e.reason === "connect_iss_mismatch");
    // Through all of it Alice's own connection stayed hers.
    assert.match(
      textOf(await (clients.alice as Client).callTool({ name: "whoami", arguments: {} })),
      /^sub=alice-upstream /,
    );
    await context.close();
    await bobContext.close();
    await third.close();
  });

  test("a code that comes back at another authorization server's redirect URI, or without iss, is never exchanged (mix-up)", async () => {
    const tokenRequests = async () =>
      (await control<{ as1: { tokenRequests: number } }>(upstream, "/_as")).as1.tokenRequests;
    const aliceLink = `${gw.url}/connect/remote`;
    const attempts: Array<{ reason: string; url: (u: URL) => string; keepsFlow?: boolean }> = [
      // The shared redirect URI (a configured client's) and a registered client's at another issuer.
      { reason: "connect_redirect_mismatch", url: (u) => `${gw.url}/connect/callback${u.search}` },
      {
        reason: "connect_redirect_mismatch",
        url: (u) => `${gw.url}/connect/cb/${issuerTag(upstream.as2)}${u.search}`,
      },
      // A second iss, before the authorization server's own: refused, whichever would be read.
      {
        reason: "connect_params_repeated",
        url: (u) => `${gw.url}${u.pathname}?iss=${encodeURIComponent(upstream.as2)}&${u.search.slice(1)}`,
        keepsFlow: true,
      },
      // At its own redirect URI but without iss: the CIMD client is used only where iss is sent.
      {
        reason: "connect_iss_missing",
        url: (u) => {
          const stripped = new URL(u);
          stripped.searchParams.delete("iss");
          return stripped.href;
        },
      },
    ];
    for (const attempt of attempts) {
      const context = await browser.newContext();
      const callback = new URL(await capturedCallback(context, aliceLink, "alice"));
      assert.equal(callback.pathname, "/connect/cb/cimd");
      const before = await tokenRequests();
      const response = await (await context.newPage()).goto(attempt.url(callback));
      assert.equal(response?.status(), 400, attempt.reason);
      await audited(gw, (e) => e.reason === attempt.reason && e.status === "denied");
      assert.equal(await tokenRequests(), before, `${attempt.reason}: the code reached a token endpoint`);
      // The flow was used up, and the right callback finds nothing; except after a refusal that
      // read no flow (the unaltered answer may still come).
      const right = await (await context.newPage()).goto(callback.href);
      assert.equal(right?.status(), attempt.keepsFlow ? 200 : 400, `${attempt.reason}: the right callback`);
      await context.close();
    }
    assert.match(
      textOf(await (clients.alice as Client).callTool({ name: "whoami", arguments: {} })),
      /^sub=alice-upstream /,
    );
  });

  test("the vault: no token in the database or WAL, and a row moved to another user does not open", async () => {
    const seen = await control<Array<{ token?: string }>>(upstream, "/_seen");
    const used = seen.map((s) => s.token).filter((t): t is string => typeof t === "string");
    assert.ok(used.length > 0);
    const dir = join(stateFile, "..");
    for (const file of readdirSync(dir).filter((f) => f.startsWith("state.db"))) {
      const bytes = readFileSync(join(dir, file)).toString("latin1");
      for (const t of used) assert.ok(!bytes.includes(t.slice(-40)), `${file} holds an upstream token`);
    }
    // Alice's sealed tokens written into Bob's row: Bob's next call cannot use them.
    const db = new Database(stateFile);
    const alice = db.prepare("SELECT tokens FROM upstream_connections WHERE subject = 'alice'").get() as {
      tokens: string;
    };
    db.prepare("UPDATE upstream_connections SET tokens = ? WHERE subject = 'bob'").run(alice.tokens);
    db.close();
    const err = await callError(clients.bob as Client);
    assert.equal(err.code, -32007);
    assert.equal((err.data as { reason: string }).reason, "reconnect_required");
  });

  test("a user sees and revokes their own connections at /connections, and only theirs", async () => {
    const context = await browser.newContext();
    const page = await signInAt(context, `${gw.url}/connections`, "bob");
    const text = (await page.textContent("main")) ?? "";
    assert.match(text, /Signed in as bob/);
    assert.match(text, /remote/);
    assert.doesNotMatch(text, /alice|carol|eyJ/);
    await page.click("button:has-text('Revoke')");
    await page.waitForSelector("text=No account is connected");
    const err = await callError(clients.bob as Client);
    assert.equal((err.data as { reason: string }).reason, "not_connected");
    // Alice's connection was not touched.
    const listed = await runCli(["connections", "list", "-c", gw.configFile, "--json", "--user", "alice"], {
      cwd: gw.dir,
    });
    assert.match(listed.stdout, /"server":"remote"/);
    await context.close();
  });

  test("refresh refused (invalid_grant) asks to reconnect; revoke removes the connection and revokes upstream", async () => {
    await control(upstream, "/_break-refresh", "POST");
    const before = (await control<unknown[]>(upstream, "/_seen")).length;
    const err = await callError(clients.alice as Client);
    // The refresh was refused before anything was sent: the upstream saw no request for this call.
    assert.equal(
      (await control<unknown[]>(upstream, "/_seen")).length,
      before,
      "the refused call reached the upstream",
    );
    assert.equal(err.code, -32007);
    assert.equal((err.data as { reason: string }).reason, "reconnect_required");
    await audited(gw, (e) => e.reason === "upstream_refresh_failed");
    // Reconnect, then revoke from the CLI.
    const context = await browser.newContext();
    await connect(context, (err.data as { url: string }).url, "alice", "alice-upstream");
    assert.match(
      textOf(await (clients.alice as Client).callTool({ name: "whoami", arguments: {} })),
      /alice-upstream/,
    );
    const listed = await runCli(["connections", "list", "-c", gw.configFile, "--json"], { cwd: gw.dir });
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /"user":"alice"/);
    assert.doesNotMatch(listed.stdout, /eyJ/, "a token in the listing");
    const revoked = await runCli(
      ["connections", "revoke", "-c", gw.configFile, "--user", "alice", "--server", "remote"],
      {
        cwd: gw.dir,
      },
    );
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.ok((await control<string[]>(upstream, "/_revoked")).includes("grant"));
    const after = await callError(clients.alice as Client);
    assert.equal(after.code, -32007);
    assert.equal((after.data as { reason: string }).reason, "not_connected");
    for (const line of [...gw.stdoutLines, ...gw.stderrLines])
      assert.doesNotMatch(line, /eyJ[\w-]+\.eyJ/, "a JWT in a log or audit line");
    await context.close();
  });

  test("the admin API lists connections without token values and revokes one", async () => {
    const token = readFileSync(join(stateFile, "..", BOOTSTRAP_FILE), "utf8").trim();
    const admin = (path: string, body?: unknown) =>
      fetch(`${gw.url}/admin/api/${path}`, {
        method: body === undefined ? "GET" : "POST",
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const listed = await admin("connections");
    assert.equal(listed.status, 200);
    const text = await listed.text();
    const body = JSON.parse(text) as {
      connections: Array<{ user: string; server: string }>;
      servers: string[];
    };
    assert.deepEqual(body.servers, ["remote", "dcr"]);
    assert.ok(
      body.connections.some((c) => c.user === "carol" && c.server === "remote"),
      text,
    );
    assert.doesNotMatch(text, /eyJ|access_token|refresh_token/);
    const revoked = await admin("connections/revoke", {
      user: "carol",
      server: "remote",
      reason: "offboarding",
    });
    assert.equal(revoked.status, 200, await revoked.text());
    await audited(
      gw,
      (e) => e.reason === "upstream_revoked" && (e.detail as { user?: string }).user === "carol",
    );
  });
});
