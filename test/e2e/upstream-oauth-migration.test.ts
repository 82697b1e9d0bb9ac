// A per-user upstream that moves to another authorization server (SEP-2352), end to end with
// Debian's Chromium: two upstreams (test/fixtures/oauth-upstream.mjs, each a remote MCP server with
// two oidc-provider authorization servers, dynamic registration only). `remote` is one the gateway
// registers itself at; `pinned` has a client configured for its first authorization server
// (`auth.client_id` and `client_secret`). After POST /_migrate the server's metadata names AS2 and
// it answers AS1's tokens 401 `invalid_token`. The user's next call gets -32007 reconnect_required
// with the connect link (the connection broken, `upstream_issuer_changed` audited, the old token
// neither refreshed nor presented anywhere new); the next connect registers at AS2 and AS2 never
// sees AS1's client id (registered or configured) or secret. Every user's refusal rides on one
// re-read of the metadata, and an upstream that refuses every token cannot make the gateway read
// its metadata on every call.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { chromium, type Browser } from "playwright-core";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { McpError } from "@modelcontextprotocol/sdk/types.js";
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

interface SeenAt {
  lookups: string[];
  basic: string[];
  registrations: number;
  tokenRequests: number;
}
interface AsView {
  as1: SeenAt;
  as2: SeenAt;
  metadataReads: number;
}

const PINNED_CLIENT = { id: "warden-at-as1", secret: "as1-secret-never-elsewhere" };

describe(
  "an upstream that moves to another authorization server, through Chromium",
  { timeout: 240_000 },
  () => {
    let remote: Upstream;
    let pinned: Upstream;
    let gw: Gateway;
    let browser: Browser;
    const clients: Client[] = [];

    before(async () => {
      [remote, pinned] = await Promise.all([
        startUpstream({ REGISTRATION: "dcr" }),
        startUpstream({ REGISTRATION: "dcr" }),
      ]);
      const dir = makeTempDir("warden-oauth-migration-");
      const users = [];
      for (const [name, u] of Object.entries(USERS))
        users.push({ name, password_hash: await hashPassword(u.password), scopes: [...u.scopes] });
      gw = await startGateway({
        gateway: { listen: "127.0.0.1:0" },
        state: { sqlite: join(dir, "state.db") },
        auth: { anonymous: [], users },
        audit: { sinks: ["sqlite", "stdout"] },
        servers: [
          { name: "remote", url: remote.mcp, auth: { type: "oauth_user" }, tools: { "*": ["demo:use"] } },
          {
            name: "pinned",
            url: pinned.mcp,
            auth: { type: "oauth_user", client_id: PINNED_CLIENT.id, client_secret: PINNED_CLIENT.secret },
            tools: { "*": ["demo:use"] },
          },
        ],
      });
      // The operator's client at the pinned server's first authorization server.
      await control(pinned, "/_client", "POST", {
        client_id: PINNED_CLIENT.id,
        client_secret: PINNED_CLIENT.secret,
        redirect_uris: [`${gw.url}/connect/callback`],
      });
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    });

    after(async () => {
      for (const c of clients) await c.close().catch(() => undefined);
      await browser?.close();
      await gw?.stop();
      for (const up of [remote, pinned]) if (up) await stopChild(up.proc, "SIGTERM", 5_000);
    });

    const agent = async (user: "alice" | "bob" | "carol", server = "remote") => {
      const client = await mcpClient(
        gw,
        await gatewayToken(gw, user, gw.serverUrl(server)),
        undefined,
        server,
      );
      clients.push(client);
      return client;
    };
    /** Connects `user` through the link a -32007 gave. */
    const connectWith = async (err: McpError, user: "alice" | "bob" | "carol", server = "remote") => {
      assert.equal(err.code, -32007, err.message);
      const context = await browser.newContext();
      await connect(context, (err.data as { url: string }).url, user, `${user}-upstream`, server);
      await context.close();
    };
    const connectVia = async (client: Client, user: "alice" | "bob" | "carol", server = "remote") =>
      connectWith(await callError(client), user, server);
    const seen = (up: Upstream) => control<AsView>(up, "/_as");
    const connection = async (user: string, server: string) => {
      const listed = await runCli(
        ["connections", "list", "-c", gw.configFile, "--json", "--user", user, "--server", server],
        { cwd: gw.dir },
      );
      assert.equal(listed.code, 0, listed.stderr);
      return JSON.parse(listed.stdout.trim()) as { status: string; issuer: string };
    };
    const whoami = async (client: Client) => textOf(await client.callTool({ name: "whoami", arguments: {} }));

    let alice: Client;
    let bob: Client;

    test("after the move, a 401 breaks the connection: -32007 reconnect_required with the link, audited, the old token not refreshed", async () => {
      alice = await agent("alice");
      bob = await agent("bob");
      await connectVia(alice, "alice");
      await connectVia(bob, "bob");
      assert.match(await whoami(alice), /^sub=alice-upstream /);
      const before = await seen(remote);
      assert.equal(before.as1.registrations, 1, "the gateway registers once per authorization server");
      assert.equal((await connection("alice", "remote")).issuer, remote.as);

      await control(remote, "/_migrate", "POST");
      const err = await callError(alice);
      assert.equal(err.code, -32007);
      const data = err.data as { reason: string; url: string; server: string };
      assert.equal(data.reason, "reconnect_required");
      assert.equal(data.server, "remote");
      assert.ok(data.url.startsWith(`${gw.url}/connect/remote?for=`), data.url);
      assert.ok(!data.url.includes(remote.as2), "the upstream's authorization URL is never handed out");

      const changed = await audited(gw, (e) => e.event === "auth" && e.reason === "upstream_issuer_changed");
      assert.equal((changed.principal as { sub: string }).sub, "alice");
      assert.equal(changed.status, "denied");
      assert.deepEqual(
        [(changed.detail as { from: string }).from, (changed.detail as { to: string }).to],
        [remote.as, remote.as2],
      );
      await audited(
        gw,
        (e) =>
          e.event === "denied" &&
          e.tool === "whoami" &&
          e.reason === "reconnect_required" &&
          (e.detail as { code?: number }).code === -32007,
      );
      assert.equal((await connection("alice", "remote")).status, "broken");

      // Bob's refusal rides on the same re-read of the metadata: one for both.
      const bobErr = await callError(bob);
      assert.equal((bobErr.data as { reason: string }).reason, "reconnect_required");
      const now = await seen(remote);
      assert.equal(now.metadataReads - before.metadataReads, 1);
      // The old refresh token went nowhere: no token request at AS1 since, none at AS2, and AS2 was
      // asked about no client.
      assert.equal(now.as1.tokenRequests, before.as1.tokenRequests);
      assert.equal(now.as2.tokenRequests, 0);
      assert.deepEqual(now.as2.lookups, []);
    });

    test("the next connect registers at the new authorization server, which never sees the old client", async () => {
      const err = await callError(alice);
      const context = await browser.newContext();
      const page = await signInAt(context, (err.data as { url: string }).url, "alice");
      assert.ok(((await page.textContent("main")) ?? "").includes(remote.as2), "the confirm page names AS2");
      await page.close();
      await connect(context, (err.data as { url: string }).url, "alice", "alice-upstream");
      await context.close();
      assert.match(await whoami(alice), /^sub=alice-upstream /);
      const seenTokens = await control<Array<{ iss?: string }>>(remote, "/_seen");
      assert.equal(seenTokens.at(-1)?.iss, remote.as2);
      const connected = await connection("alice", "remote");
      assert.deepEqual([connected.status, connected.issuer], ["connected", remote.as2]);

      const view = await seen(remote);
      assert.equal(view.as2.registrations, 1);
      const as1Clients = new Set(view.as1.lookups);
      assert.ok(as1Clients.size > 0);
      for (const id of [...view.as2.lookups, ...view.as2.basic])
        assert.ok(!as1Clients.has(id), `AS2 was presented AS1's client ${id}`);

      // Bob connects again too, on the same registration.
      await connectVia(bob, "bob");
      assert.match(await whoami(bob), /^sub=bob-upstream /);
      assert.equal((await seen(remote)).as2.registrations, 1);
    });

    test("a configured client is presented only to the authorization server it was first used at", async () => {
      const carol = await agent("carol", "pinned");
      await connectVia(carol, "carol", "pinned");
      assert.match(await whoami(carol), /^sub=carol-upstream /);
      let view = await seen(pinned);
      assert.equal(view.as1.registrations, 0, "the configured client was not used");
      assert.ok(view.as1.basic.includes(PINNED_CLIENT.id));

      await control(pinned, "/_migrate", "POST");
      const err = await callError(carol);
      assert.equal((err.data as { reason: string }).reason, "reconnect_required");
      await connectWith(err, "carol", "pinned");
      assert.match(await whoami(carol), /^sub=carol-upstream /);
      view = await seen(pinned);
      assert.equal(view.as2.registrations, 1, "the gateway registered at the new authorization server");
      assert.ok(!view.as2.lookups.includes(PINNED_CLIENT.id), "AS2 was asked about the configured client");
      assert.ok(!view.as2.basic.includes(PINNED_CLIENT.id), "the configured client authenticated at AS2");
      assert.ok(
        gw.stderrLines.some((l) => l.includes("auth.client_id belongs to another authorization server")),
      );
      assert.ok(!gw.stderrLines.join("\n").includes(PINNED_CLIENT.secret));
    });

    test("an upstream that answers every token 401 is not re-read on every call", async () => {
      const header = `Bearer error="invalid_token", resource_metadata="${remote.origin}/.well-known/oauth-protected-resource/mcp"`;
      await control(remote, "/_deny", "POST", { tool: "whoami", status: 401, header });
      try {
        const before = (await seen(remote)).metadataReads;
        for (let i = 0; i < 5; i++) {
          const err = await callError(alice);
          assert.equal(err.code, -32005, err.message);
        }
        assert.ok((await seen(remote)).metadataReads - before <= 1);
        // Refused by the upstream, not moved: the connection stays.
        assert.equal((await connection("alice", "remote")).status, "connected");
      } finally {
        await control(remote, "/_deny", "POST", { tool: "whoami" });
      }
      assert.match(await whoami(alice), /^sub=alice-upstream /);
    });
  },
);
