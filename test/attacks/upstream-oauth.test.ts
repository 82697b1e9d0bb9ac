/* eslint-disable @typescript-eslint/no-explicit-any -- fixture records are read loosely in assertions */
// Issue 19 attacks (per-user upstream OAuth), visible half: one gateway in front of
// fixtures/oauth-upstream.mjs (remote MCP servers each protected by its own authorization server,
// some of them hostile). Classes: cross-user token use (concurrent, shared isolation, forged `sub`
// spellings, another user's session), connect/callback CSRF (another user's state, replay, forged
// state, missing/mismatched `iss`, a state for another server), a connect URL opened by another
// signed-in user, open redirects, hostile authorization servers, token passthrough, tokens in
// logs/audit/CLI/admin API, the vault (raw DB and WAL, rows moved between users), revocation and
// invalid_grant. Until issue 19 lands these fail at the first -32007 assertion.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { FormBrowser } from "../e2e/oauth-client.js";
import { errorFor, jwtClaims, signWith, type AttackSession } from "./fixtures/attack-lib.js";
import {
  AUTH_REQUIRED,
  approveAtUpstream,
  call,
  connectAs,
  connectUrlOf,
  issuedSecrets,
  leaks,
  looksConnected,
  okText,
  requestsCarrying,
  startOauthGateway,
  startOauthUpstream,
  userSession,
  walk,
  type Bed,
  type Upstream,
} from "./fixtures/upstream-oauth-lib.js";

/**
 * The one place this file spells issue 19's config (DESIGN.md: `servers[].auth: { type: oauth_user }`;
 * everything else discovered from the upstream's 401). Adjust here when the docs land.
 */
function oauthUserServer(name: string, url: string, extra: Record<string, unknown> = {}) {
  return { name, url, auth: { type: "oauth_user" }, tools: { "*": ["demo:use"] }, ...extra };
}

const HOSTILE: Record<string, Record<string, unknown>> = {
  jsauth: { meta: { authorization_endpoint: "javascript:alert(document.cookie)//" } },
  nopkce: { meta: { code_challenge_methods_supported: null } },
  metaip: { meta: { token_endpoint: "http://169.254.169.254/latest/meta-data/iam/token" } },
  hugemeta: { metaBytes: 64 * 1024 * 1024 },
  bigexp: { tokenExpiresIn: 2 ** 53 + 1 },
  zeroexp: { tokenExpiresIn: 0 },
};

describe("issue 19 attacks: per-user upstream OAuth", () => {
  let up: Upstream;
  let bed: Bed;
  const tokens: Record<string, string> = {};
  const sessions: Record<string, Record<string, AttackSession>> = {};
  const browsers: Record<string, FormBrowser> = {};

  async function sessionOf(user: string, server: string): Promise<AttackSession> {
    sessions[user] ??= {};
    sessions[user][server] ??= await userSession(bed.gw.serverUrl(server), tokens[user]!);
    return sessions[user][server];
  }

  /** The upstream identity a user's call of whoami on `server` reaches, or the -32007 it gets. */
  async function whoami(user: string, server: string): Promise<{ identity?: string; code?: number }> {
    const res = await call(await sessionOf(user, server), "whoami");
    const err = errorFor(res);
    if (err) return { code: err.code };
    const m = /"upstream_user":"([^"]*)"/.exec(okText(res, `${user} whoami on ${server}`));
    return { identity: m?.[1] };
  }

  before(async () => {
    up = await startOauthUpstream(HOSTILE);
    const servers = [
      oauthUserServer("gh", up.url("gh"), { isolation: "shared" }),
      oauthUserServer("lin", up.url("lin"), { isolation: "per_user" }),
      oauthUserServer("jira", up.url("jira")),
      oauthUserServer("notion", up.url("notion")),
      ...Object.keys(HOSTILE).map((t) => oauthUserServer(t, up.url(t))),
    ];
    bed = await startOauthGateway("warden-oauth-attack-", servers);
    for (const u of ["alice", "bob", "mallory"]) {
      tokens[u] = await bed.token(u);
      browsers[u] = new FormBrowser(bed.gw.url);
    }
    // Alice connects gh (shared isolation) as her upstream account.
    await connectAs(bed, await sessionOf("alice", "gh"), "whoami", "alice", "alice-gh", browsers.alice);
  });

  after(async () => {
    await bed?.gw.stop();
    await up?.stop();
  });

  test("Alice's call reaches the upstream as her; Bob gets his own connect URL, never her identity", async () => {
    assert.deepEqual(await whoami("alice", "gh"), { identity: "alice-gh" });
    const res = await call(await sessionOf("bob", "gh"), "whoami");
    connectUrlOf(res, bed.gw, "Bob's first call of gh");
    assert.ok(!res.text.includes("alice-gh"), "Bob's answer names Alice's upstream account");
  });

  test("concurrent calls of Alice and Bob on a shared upstream never cross", async () => {
    const before = (await up.requests()).filter((r) => r.kind === "call" && r.tenant === "gh").length;
    const users = Array.from({ length: 24 }, (_, i) => (i % 2 ? "bob" : "alice"));
    const answers = await Promise.all(users.map(async (u) => ({ u, r: await whoami(u, "gh") })));
    for (const { u, r } of answers) {
      if (u === "bob")
        assert.deepEqual(r, { code: AUTH_REQUIRED }, "Bob got an upstream answer with no connection");
      else assert.deepEqual(r, { identity: "alice-gh" });
    }
    const calls = (await up.requests()).filter((r) => r.kind === "call" && r.tenant === "gh").slice(before);
    assert.equal(calls.length, 12, "the upstream saw exactly Alice's 12 calls");
    assert.ok(calls.every((c) => c.user === "alice-gh"));
  });

  test("forged spellings of Alice's subject get no connection of hers", async () => {
    const keyFile = join(bed.dir, "signing.jwk");
    const forged = [
      await bed.token("Alice"),
      await bed.token("alice "),
      await bed.token("ａｌｉｃｅ"),
      await signWith(keyFile, tokens.alice!, { sub: "alice\u0000" }),
      await signWith(keyFile, tokens.alice!, { sub: "alice\u200b" }),
    ];
    for (const [i, t] of forged.entries()) {
      if (jwtClaims(t).sub === "alice") continue; // the CLI normalised the spelling to Alice herself
      const s = await userSession(bed.gw.serverUrl("gh"), t).catch(() => undefined);
      if (!s) continue; // refused at the door: fine
      const res = await call(s, "whoami");
      assert.ok(!res.text.includes("alice-gh"), `forged subject #${i} reached Alice's upstream account`);
      assert.equal(errorFor(res)?.code, AUTH_REQUIRED, `forged subject #${i}: ${res.text.slice(0, 300)}`);
    }
  });

  test("Bob's token on Alice's session id never reaches Alice's upstream account", async () => {
    const alice = await sessionOf("alice", "gh");
    const res = await alice.post(
      { jsonrpc: "2.0", id: 77, method: "tools/call", params: { name: "whoami", arguments: {} } },
      { headers: { authorization: `Bearer ${tokens.bob}` } },
    );
    assert.ok(!res.text.includes("alice-gh"), `Bob rode Alice's session: ${res.text.slice(0, 300)}`);
  });

  test("the gateway's own tokens never reach the upstream (no passthrough)", async () => {
    const reqs = await up.requests();
    for (const [u, t] of Object.entries(tokens)) {
      assert.deepEqual(requestsCarrying(reqs, t), [], `${u}'s gateway token reached the upstream`);
      assert.deepEqual(
        requestsCarrying(reqs, t.split(".")[2] ?? t),
        [],
        `${u}'s token signature reached the upstream`,
      );
    }
  });

  test("the client the gateway presents upstream: its own redirect URI, PKCE S256, no secret in a metadata document", async () => {
    const reqs = await up.requests();
    const auths = reqs.filter((r) => r.kind === "authorize" && r.tenant === "gh");
    assert.ok(auths.length > 0, "Alice's flow reached the upstream's authorize endpoint");
    const gwOrigin = new URL(bed.gw.url).origin;
    for (const a of auths) {
      assert.equal(new URL(a.params.redirect_uri).origin, gwOrigin, `redirect_uri ${a.params.redirect_uri}`);
      assert.equal(a.params.code_challenge_method, "S256");
      assert.ok(!("client_secret" in a.params), "a client secret in the browser's URL");
      for (const t of Object.values(tokens))
        assert.ok(!JSON.stringify(a.params).includes(t), "a gateway token in the authorize URL");
      if (/^https?:/.test(a.params.client_id ?? "")) {
        // A Client ID Metadata Document: under public_url, redirect URIs on the gateway, no secret.
        assert.ok(
          a.params.client_id.startsWith(bed.gw.url),
          `client_id ${a.params.client_id} is not under public_url`,
        );
        const doc = (await fetch(a.params.client_id).then((r) => r.json())) as Record<string, any>;
        assert.equal(doc.client_id, a.params.client_id);
        assert.ok(!("client_secret" in doc), "the metadata document carries a secret");
        for (const u of doc.redirect_uris ?? [])
          assert.equal(new URL(u).origin, gwOrigin, `redirect URI ${u}`);
      }
    }
    for (const r of reqs.filter((x) => x.kind === "register")) {
      for (const u of r.body.redirect_uris ?? [])
        assert.equal(new URL(u).origin, gwOrigin, `registered redirect URI ${u}`);
    }
  });

  test("a callback carrying Mallory's code and state, opened by Alice, connects nobody as Mallory", async () => {
    const m = await connectUrlOf(
      await call(await sessionOf("mallory", "lin"), "whoami"),
      bed.gw,
      "Mallory lin",
    );
    const mw = await walk(browsers.mallory!, m, "mallory");
    assert.ok(mw.redirect, "Mallory's walk reached the upstream");
    const malloryCallback = await approveAtUpstream(mw.redirect, "mallory-lin");
    // Alice is signed in to the gateway (her own lin walk, stopped before the upstream).
    const a = connectUrlOf(await call(await sessionOf("alice", "lin"), "whoami"), bed.gw, "Alice lin");
    await walk(browsers.alice!, a, "alice");
    const landed = await browsers.alice!.navigate(malloryCallback.href);
    assert.ok(!looksConnected(landed.page), "Alice's browser was told it connected Mallory's account");
    assert.deepEqual(
      await whoami("alice", "lin"),
      { code: AUTH_REQUIRED },
      "Alice now uses Mallory's account",
    );
    assert.notEqual((await whoami("mallory", "lin")).identity, "alice-lin");
  });

  test("forged, replayed, iss-less, wrong-iss and other-server callbacks are refused", async () => {
    const bob = browsers.bob!;
    const start = async (server: string) => {
      const url = connectUrlOf(await call(await sessionOf("bob", server), "whoami"), bed.gw, `Bob ${server}`);
      const w = await walk(bob, url, "bob");
      assert.ok(w.redirect, `Bob's ${server} walk reached the upstream`);
      return approveAtUpstream(w.redirect, `bob-${server}`);
    };
    const exchanged = async (code: string | null) =>
      (await up.requests()).filter((r) => r.kind === "token" && r.params.code === code).length;
    const variants: [string, (cb: URL) => Promise<URL>][] = [
      ["no iss", async (cb) => (cb.searchParams.delete("iss"), cb)],
      ["another issuer's iss", async (cb) => (cb.searchParams.set("iss", up.issuer("lin")), cb)],
      ["forged state", async (cb) => (cb.searchParams.set("state", `${cb.searchParams.get("state")}x`), cb)],
      [
        "jira's code under gh's state",
        async (cb) => {
          const other = await start("jira");
          cb.searchParams.set("code", other.searchParams.get("code")!);
          cb.searchParams.set("iss", other.searchParams.get("iss") ?? "");
          return cb;
        },
      ],
    ];
    for (const [what, mangle] of variants) {
      const cb = await mangle(await start("gh"));
      const landed = await bob.navigate(cb.href);
      assert.ok(!looksConnected(landed.page), `${what}: the callback said connected`);
      assert.deepEqual(await whoami("bob", "gh"), { code: AUTH_REQUIRED }, `${what}: Bob got connected`);
      if (what !== "jira's code under gh's state") {
        assert.equal(
          await exchanged(cb.searchParams.get("code")),
          0,
          `${what}: the code was exchanged anyway`,
        );
      }
    }
    // The genuine flow still works, and its callback cannot be replayed by anyone.
    const good = await start("gh");
    assert.ok(looksConnected((await bob.navigate(good.href)).page), "Bob's genuine callback");
    assert.deepEqual(await whoami("bob", "gh"), { identity: "bob-gh" });
    const replay = await browsers.mallory!.navigate(good.href);
    assert.ok(!looksConnected(replay.page), "Mallory replayed Bob's callback");
    assert.notEqual((await whoami("mallory", "gh")).identity, "bob-gh");
    assert.ok((await exchanged(good.searchParams.get("code"))) <= 1, "a replayed code was exchanged twice");
  });

  test("Alice's connect URL opened by Bob never binds Bob's upstream account to Alice", async () => {
    const aliceUrl = connectUrlOf(
      await call(await sessionOf("alice", "jira"), "whoami"),
      bed.gw,
      "Alice jira",
    );
    const fresh = new FormBrowser(bed.gw.url);
    const w = await walk(fresh, aliceUrl, "bob");
    if (w.redirect && w.redirect.origin === new URL(up.base).origin) {
      const cb = await approveAtUpstream(w.redirect, "bob-jira-account");
      await fresh.navigate(cb.href);
    }
    assert.deepEqual(
      await whoami("alice", "jira"),
      { code: AUTH_REQUIRED },
      "Alice now acts as Bob's upstream account",
    );
  });

  test("redirect parameters on the connect and callback URLs never send the browser elsewhere", async () => {
    const url = new URL(
      connectUrlOf(await call(await sessionOf("mallory", "notion"), "whoami"), bed.gw, "notion"),
    );
    for (const k of ["return_to", "redirect_uri", "next", "redirect", "continue"])
      url.searchParams.set(k, "https://evil.example/");
    const b = new FormBrowser(bed.gw.url);
    const w = await walk(b, url.href, "mallory");
    assert.ok(w.redirect, "the walk reached the upstream");
    assert.equal(w.redirect.origin, new URL(up.base).origin, `the walk left for ${w.redirect.href}`);
    assert.ok(
      !w.redirect.searchParams.get("redirect_uri")?.includes("evil.example"),
      "redirect_uri taken from the query",
    );
    const cb = await approveAtUpstream(w.redirect, "mallory-notion");
    cb.searchParams.set("return_to", "https://evil.example/");
    cb.searchParams.set("next", "//evil.example/");
    const done = await b.navigate(cb.href);
    assert.ok(
      !done.redirect || done.redirect.hostname !== "evil.example",
      `callback redirected to ${done.redirect?.href}`,
    );
  });

  test("hostile authorization servers: javascript:, no PKCE methods, metadata IP, 64 MiB metadata", async () => {
    for (const server of ["jsauth", "nopkce", "metaip", "hugemeta"]) {
      const res = await call(await sessionOf("mallory", server), "whoami");
      assert.ok(errorFor(res), `${server}: a call without a connection got a result`);
      const url = (errorFor(res)!.data as any)?.url;
      if (typeof url !== "string") continue; // refused before offering a connect URL: fine
      assert.equal(
        new URL(url).origin,
        new URL(bed.gw.url).origin,
        `${server}: data.url is not the gateway's`,
      );
      const b = new FormBrowser(bed.gw.url);
      const w = await walk(b, url, "mallory");
      const to = w.redirect;
      assert.ok(!to || ["http:", "https:"].includes(to.protocol), `${server}: browser sent to ${to?.href}`);
      assert.ok(!/href="\s*javascript:/i.test(w.page?.html ?? ""), `${server}: page links to javascript:`);
      if (server === "nopkce") {
        assert.ok(
          !to || !to.pathname.endsWith("/authorize"),
          "nopkce: the gateway used an AS that lacks S256",
        );
      }
      if (server === "metaip" && to?.pathname.endsWith("/authorize")) {
        const done = await b.navigate((await approveAtUpstream(to, "x")).href);
        assert.ok(!looksConnected(done.page), "metaip: connected through a metadata-IP token endpoint");
      }
      assert.ok(!to || to.hostname !== "169.254.169.254", `${server}: browser sent to the metadata IP`);
    }
    const auth = (await up.requests()).filter((r) => r.kind === "authorize" && r.tenant === "nopkce");
    assert.equal(auth.length, 0, "an authorization request reached the AS without S256 support");
    assert.equal(bed.gw.proc.exitCode, null, "the gateway survived the hostile authorization servers");
    assert.deepEqual(await whoami("alice", "gh"), { identity: "alice-gh" }, "the gateway still serves Alice");
  });

  test("token answers with an expires_in past 2^53 or of zero neither crash nor live forever", async () => {
    for (const server of ["bigexp", "zeroexp"]) {
      const url = connectUrlOf(await call(await sessionOf("mallory", server), "whoami"), bed.gw, server);
      const b = new FormBrowser(bed.gw.url);
      const w = await walk(b, url, "mallory");
      if (!w.redirect) continue; // refused up front: fine
      await b.navigate((await approveAtUpstream(w.redirect, `mallory-${server}`)).href);
      for (let i = 0; i < 2; i++) {
        const r = await whoami("mallory", server);
        assert.ok(
          r.code !== undefined || r.identity === `mallory-${server}`,
          `${server}: ${JSON.stringify(r)}`,
        );
      }
    }
    const list = await bed.cli("connections", "list", "--user", "mallory");
    assert.ok(!/NaN|Invalid Date|Infinity|275760/.test(list.stdout), `odd expiry shown: ${list.stdout}`);
    assert.equal(bed.gw.proc.exitCode, null);
  });

  test("no upstream token in logs, audit, the JSONL sink, connections list or the admin API", async () => {
    const secrets = await issuedSecrets(up);
    assert.ok(secrets.length >= 4, "the upstream issued tokens");
    const list = await bed.cli("connections", "list");
    assert.equal(list.code, 0, `connections list: ${list.stderr}`);
    assert.match(list.stdout, /alice/, "connections list names Alice's connection");
    const listJson = await bed.cli("connections", "list", "--json");
    const adminToken = await bed.token("admin", "warden:admin");
    const admin = await fetch(`${bed.gw.url}/admin/api/connections`, {
      headers: { authorization: `Bearer ${adminToken}` },
    }).then((r) => r.text());
    const jsonl = join(bed.dir, "audit.jsonl");
    const places: Record<string, string> = {
      stderr: bed.gw.stderrLines.join("\n"),
      stdout: bed.gw.stdoutLines.join("\n"),
      audit: await bed.audit(),
      jsonl: existsSync(jsonl) ? readFileSync(jsonl, "utf8") : "",
      "connections list": list.stdout + list.stderr,
      "connections list --json": listJson.stdout + listJson.stderr,
      "admin api": admin,
    };
    for (const [where, text] of Object.entries(places)) {
      assert.deepEqual(leaks(text, secrets), [], `upstream tokens in ${where}`);
    }
  });

  test("the vault: no token bytes in the DB or WAL; a row moved to Mallory or another server does not decrypt", async () => {
    const secrets = await issuedSecrets(up);
    for (const f of [bed.stateFile, `${bed.stateFile}-wal`]) {
      if (!existsSync(f)) continue;
      const bytes = readFileSync(f).toString("latin1");
      assert.deepEqual(leaks(bytes, secrets), [], `token bytes in ${f}`);
    }
    const db = new Database(bed.stateFile);
    try {
      const moved = copyRows(db, (row) => rowNames(row, "alice", "gh"), { alice: "mallory", gh: "gh" });
      const movedServer = copyRows(db, (row) => rowNames(row, "alice", "gh"), {
        alice: "alice",
        gh: "notion",
      });
      assert.ok(moved + movedServer > 0, "found Alice's gh connection row in the state store");
    } finally {
      db.close();
    }
    const mallory = await whoami("mallory", "gh");
    assert.notEqual(mallory.identity, "alice-gh", "Mallory decrypted a row copied from Alice");
    const notion = await whoami("alice", "notion");
    assert.notEqual(notion.identity, "alice-gh", "Alice's gh token was used for notion");
    const mismatched = (await up.requests()).filter((r) => r.kind === "mcp" && r.mismatch);
    assert.deepEqual(mismatched, [], "a token issued for one upstream was sent to another");
  });

  test("revocation stops use and calls the upstream's revocation endpoint", async () => {
    const aliceTokens = (await up.issued())
      .filter((e) => e.tenant === "gh" && e.user === "alice-gh")
      .map((e) => e.access);
    const r = await bed.cli("connections", "revoke", "--user", "alice", "--server", "gh");
    assert.equal(r.code, 0, `connections revoke: ${r.stderr}`);
    const mark = Date.now();
    assert.deepEqual(await whoami("alice", "gh"), { code: AUTH_REQUIRED }, "Alice's gh call after revoke");
    const reqs = await up.requests();
    assert.ok(
      reqs.some((x) => x.kind === "revoke" && x.tenant === "gh"),
      "the upstream's revocation endpoint was called",
    );
    const after = reqs.filter(
      (x) => x.kind === "mcp" && x.at >= mark && aliceTokens.some((t) => (x.authorization ?? "").includes(t)),
    );
    assert.deepEqual(after, [], "a revoked token was sent upstream");
  });

  test("a refresh answered invalid_grant asks the user to reconnect", async () => {
    assert.deepEqual(await whoami("bob", "gh"), { identity: "bob-gh" });
    await up.setTenant("gh", { refresh: "invalid_grant" });
    await up.expire("gh");
    let last: { identity?: string; code?: number } = {};
    for (let i = 0; i < 3 && last.code !== AUTH_REQUIRED; i++) last = await whoami("bob", "gh");
    assert.deepEqual(last, { code: AUTH_REQUIRED }, "after invalid_grant the call must ask to reconnect");
    await up.setTenant("gh", { refresh: "ok" });
  });
});

/** True when a row names `user` and `server` in some text column. */
function rowNames(row: Record<string, unknown>, user: string, server: string): boolean {
  const texts = Object.values(row).filter((v): v is string => typeof v === "string");
  return texts.includes(user) && texts.includes(server);
}

/**
 * Copies every row (of any table) that `match` accepts, replacing text columns equal to a key of
 * `rename` by its value and leaving blobs (the ciphertext) as they are. Returns how many it copied.
 */
function copyRows(
  db: Database.Database,
  match: (row: Record<string, unknown>) => boolean,
  rename: Record<string, string>,
) {
  let copied = 0;
  const tables = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    .all() as { name: string }[];
  for (const { name } of tables) {
    if (/audit/i.test(name)) continue;
    const cols = db.prepare(`PRAGMA table_info("${name}")`).all() as { name: string; pk: number }[];
    const rows = db.prepare(`SELECT * FROM "${name}"`).all() as Record<string, unknown>[];
    for (const row of rows.filter(match)) {
      const copy = Object.fromEntries(
        cols.map((c) => {
          const v = row[c.name];
          if (c.pk && cols.filter((x) => x.pk).length === 1 && typeof v === "number") return [c.name, null];
          if (typeof v === "string" && Object.hasOwn(rename, v)) return [c.name, rename[v]];
          if (typeof v === "string" && /^[0-9a-f-]{36}$/.test(v) && c.pk)
            return [c.name, crypto.randomUUID()];
          return [c.name, v];
        }),
      );
      try {
        const names = cols.map((c) => `"${c.name}"`).join(", ");
        db.prepare(
          `INSERT OR REPLACE INTO "${name}" (${names}) VALUES (${cols.map(() => "?").join(", ")})`,
        ).run(...cols.map((c) => copy[c.name] as never));
        copied++;
      } catch {
        // a constraint this generic copy cannot meet: not a row of the vault
      }
    }
  }
  return copied;
}
