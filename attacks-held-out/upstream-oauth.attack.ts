/* eslint-disable @typescript-eslint/no-explicit-any -- fixture records are read loosely in assertions */
// Held-out attacks, issue 19 (per-user upstream OAuth): variants not in
// test/attacks/upstream-oauth.test.ts. Same fixture (test/attacks/fixtures/oauth-upstream.mjs),
// other payloads: per_session isolation and three users on two servers at once, other subject
// spellings (and a user key that concatenates into another user's), a client whose id is a user's
// name, code injection, parameter pollution, error responses, other `iss` spellings, a flow whose
// sign-in fails, other hostile metadata (data:, plain-only PKCE, a foreign issuer, a hanging
// document, huge or odd token answers), other leak places (/metrics, /readyz, admin servers, the
// caller's own error text), ciphertexts swapped in place, revoke-all.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { FormBrowser } from "../test/e2e/oauth-client.js";
import { errorFor, jwtClaims, signWith, type AttackSession } from "../test/attacks/fixtures/attack-lib.js";
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
  startOauthGateway,
  startOauthUpstream,
  userSession,
  walk,
  type Bed,
  type Upstream,
} from "../test/attacks/fixtures/upstream-oauth-lib.js";

/** The one place this file spells issue 19's config; adjust when the docs land. */
function oauthUserServer(name: string, url: string, extra: Record<string, unknown> = {}) {
  return { name, url, auth: { type: "oauth_user" }, tools: { "*": ["demo:use"] }, ...extra };
}

const HOSTILE: Record<string, Record<string, unknown>> = {
  dataauth: { meta: { authorization_endpoint: "data:text/html,<script>alert(1)</script>" } },
  plainpkce: { meta: { code_challenge_methods_supported: ["plain"] } },
  foreigniss: { meta: { issuer: "https://evil.example/t/foreigniss" } },
  hangmeta: { metaHang: true },
  hugetoken: { tokenBytes: 32 * 1024 * 1024 },
  forever: { tokenExpiresIn: 1e308 },
  stringexp: { tokenExpiresIn: "3600; DROP" },
  negexp: { tokenExpiresIn: -60, refresh: "invalid_grant" },
  // RFC 9728 §3.3: a protected-resource document naming another resource must not be used.
  prmswap: { prm: { resource: "http://127.0.0.1:1/t/gh/mcp" } },
  prmip: { prm: { authorization_servers: ["http://169.254.169.254/latest"] } },
};

describe("held-out issue 19: per-user upstream OAuth", () => {
  let up: Upstream;
  let bed: Bed;
  const tokens: Record<string, string> = {};
  const sessions = new Map<string, AttackSession>();
  const browsers: Record<string, FormBrowser> = {};

  async function sessionOf(user: string, server: string, token = tokens[user]!): Promise<AttackSession> {
    const key = `${user}|${server}|${token.slice(-12)}`;
    if (!sessions.has(key)) sessions.set(key, await userSession(bed.gw.serverUrl(server), token));
    return sessions.get(key)!;
  }

  async function whoami(user: string, server: string, token?: string) {
    const res = await call(await sessionOf(user, server, token), "whoami");
    const err = errorFor(res);
    if (err) return { code: err.code, text: res.text };
    const m = /"upstream_user":"([^"]*)"/.exec(okText(res, `${user} whoami on ${server}`));
    return { identity: m?.[1], text: res.text };
  }

  before(async () => {
    up = await startOauthUpstream(HOSTILE);
    bed = await startOauthGateway("warden-oauth-held-", [
      oauthUserServer("gh", up.url("gh"), { isolation: "per_session" }),
      oauthUserServer("lin", up.url("lin"), { isolation: "shared" }),
      oauthUserServer("h", up.url("h")),
      ...Object.keys(HOSTILE).map((t) => oauthUserServer(t, up.url(t))),
    ]);
    for (const u of ["alice", "bob", "mallory"]) {
      tokens[u] = await bed.token(u);
      browsers[u] = new FormBrowser(bed.gw.url);
    }
    await connectAs(bed, await sessionOf("alice", "gh"), "whoami", "alice", "alice-gh", browsers.alice);
    await connectAs(bed, await sessionOf("alice", "lin"), "whoami", "alice", "alice-lin", browsers.alice);
    await connectAs(bed, await sessionOf("bob", "lin"), "whoami", "bob", "bob-lin", browsers.bob);
  });

  after(async () => {
    await bed?.gw.stop();
    await up?.stop();
  });

  test("three users on two servers at once (per_session and shared) never cross", async () => {
    const plan = Array.from({ length: 36 }, (_, i) => ({
      user: ["alice", "bob", "mallory"][i % 3]!,
      server: i % 2 ? "gh" : "lin",
    }));
    const got = await Promise.all(plan.map(async (p) => ({ ...p, r: await whoami(p.user, p.server) })));
    for (const { user, server, r } of got) {
      const expected =
        user === "alice" ? `alice-${server}` : user === "bob" && server === "lin" ? "bob-lin" : undefined;
      if (expected) assert.equal(r.identity, expected, `${user} on ${server}: ${r.text.slice(0, 200)}`);
      else
        assert.equal(
          r.code,
          AUTH_REQUIRED,
          `${user} on ${server} without a connection: ${r.text.slice(0, 200)}`,
        );
    }
    // A fresh per_session session of Alice still is Alice; Bob opening one never is.
    const fresh = await userSession(bed.gw.serverUrl("gh"), tokens.alice!);
    assert.match(okText(await call(fresh, "whoami"), "fresh Alice"), /alice-gh/);
  });

  test("other subject spellings, a concatenated user key and a client named like a user", async () => {
    const keyFile = join(bed.dir, "signing.jwk");
    const forged: [string, string][] = [
      ["ALICE", await bed.token("ALICE")],
      ["alice\\n", await signWith(keyFile, tokens.alice!, { sub: "alice\n" })],
      ["alice\\t", await signWith(keyFile, tokens.alice!, { sub: "alice\t" })],
      ["alice/", await bed.token("alice/")],
      ["alice%00", await bed.token("alice%00")],
      ["sub array", await signWith(keyFile, tokens.alice!, { sub: ["alice"] })],
      ["no sub", await signWith(keyFile, tokens.alice!, { sub: undefined })],
      ["client alice", await bed.token("robot", "demo:use", ["--client-id", "alice"])],
    ];
    for (const [what, t] of forged) {
      if (what !== "client alice" && jwtClaims(t).sub === "alice") continue; // normalised to Alice herself
      const s = await userSession(bed.gw.serverUrl("gh"), t).catch(() => undefined);
      if (!s) continue;
      const res = await call(s, "whoami");
      assert.ok(!res.text.includes("alice-gh"), `${what} reached Alice's upstream account`);
    }
    // "aliceg" on server "h": a vault key made by concatenation would read Alice's gh row.
    const r = await whoami("aliceg", "h", await bed.token("aliceg"));
    assert.equal(r.code, AUTH_REQUIRED, `aliceg on h: ${r.text.slice(0, 200)}`);
    assert.deepEqual(
      (await up.requests()).filter((x) => x.kind === "mcp" && x.mismatch),
      [],
    );
  });

  test("code injection, parameter pollution and error responses at the callback", async () => {
    const flow = async (user: string, server: string, as: string) => {
      const url = connectUrlOf(
        await call(await sessionOf(user, server), "whoami"),
        bed.gw,
        `${user} ${server}`,
      );
      const w = await walk(browsers[user]!, url, user);
      assert.ok(w.redirect, `${user}'s ${server} walk reached the upstream`);
      return approveAtUpstream(w.redirect, as);
    };
    // Mallory's code (her PKCE, her account) pasted into Bob's callback with Bob's state.
    const mallory = await flow("mallory", "gh", "mallory-gh");
    const bob = await flow("bob", "gh", "bob-gh");
    const injected = new URL(bob);
    injected.searchParams.set("code", mallory.searchParams.get("code")!);
    await browsers.bob!.navigate(injected.href);
    assert.notEqual((await whoami("bob", "gh")).identity, "mallory-gh", "Bob now acts as Mallory upstream");
    // Two states (Mallory's first) and two codes.
    const polluted = new URL(await flow("bob", "gh", "bob-gh"));
    const q = `state=${encodeURIComponent(mallory.searchParams.get("state")!)}&${polluted.search.slice(1)}&code=${mallory.searchParams.get("code")}`;
    await browsers.bob!.navigate(`${polluted.origin}${polluted.pathname}?${q}`);
    assert.notEqual(
      (await whoami("bob", "gh")).identity,
      "mallory-gh",
      "parameter pollution bound Mallory's account",
    );
    // An error response with Bob's state, and iss spellings that are not the issuer.
    for (const mangle of [
      (u: URL) => (u.searchParams.delete("code"), u.searchParams.set("error", "access_denied"), u),
      (u: URL) => (u.searchParams.set("iss", `${up.issuer("gh")}/`), u),
      (u: URL) => (u.searchParams.set("iss", up.base), u),
      (u: URL) => (u.searchParams.set("iss", up.issuer("gh").toUpperCase()), u),
    ]) {
      const cb = mangle(await flow("bob", "gh", "bob-gh"));
      const landed = await browsers.bob!.navigate(cb.href);
      assert.ok(!looksConnected(landed.page), `${cb.search}: said connected`);
      assert.equal((await whoami("bob", "gh")).code, AUTH_REQUIRED, `${cb.search}: Bob got connected`);
    }
    // The same user replays his own successful callback: refused, and the code is exchanged once.
    const good = await flow("bob", "gh", "bob-gh");
    assert.ok(looksConnected((await browsers.bob!.navigate(good.href)).page));
    assert.ok(
      !looksConnected((await browsers.bob!.navigate(good.href)).page),
      "a replayed state said connected",
    );
    const n = (await up.requests()).filter(
      (r) => r.kind === "token" && r.params.code === good.searchParams.get("code"),
    );
    assert.ok(n.length <= 1, "the replayed code was exchanged again");
  });

  test("a connect URL with a failed sign-in, or with no sign-in, never reaches the upstream", async () => {
    const url = connectUrlOf(await call(await sessionOf("mallory", "h"), "whoami"), bed.gw, "mallory h");
    const before = (await up.requests()).filter((r) => r.kind === "authorize").length;
    const wrong = await walk(new FormBrowser(bed.gw.url), url, "nobody-at-all");
    assert.ok(
      !wrong.redirect || new URL(wrong.redirect).origin === new URL(bed.gw.url).origin,
      "left for the upstream without signing in",
    );
    const anon = await fetch(url, { redirect: "manual" });
    const loc = anon.headers.get("location");
    assert.ok(
      !loc || new URL(loc, url).origin === new URL(bed.gw.url).origin,
      `anonymous open redirected to ${loc}`,
    );
    assert.equal((await up.requests()).filter((r) => r.kind === "authorize").length, before);
  });

  test("the authorize request names the gateway's own callback and S256, whatever the query says", async () => {
    const url = new URL(
      connectUrlOf(await call(await sessionOf("mallory", "lin"), "whoami"), bed.gw, "mallory lin"),
    );
    url.searchParams.set("redirect_uri", "https://evil.example/cb");
    url.searchParams.set("code_challenge_method", "plain");
    url.searchParams.set("scope", "admin:org delete_repo");
    const w = await walk(new FormBrowser(bed.gw.url), url.href, "mallory");
    assert.ok(w.redirect);
    const p = w.redirect.searchParams;
    assert.equal(
      new URL(p.get("redirect_uri")!).origin,
      new URL(bed.gw.url).origin,
      "redirect_uri left the gateway",
    );
    assert.equal(p.get("code_challenge_method"), "S256");
    assert.ok(!/delete_repo|admin:org/.test(p.get("scope") ?? ""), "scopes taken from the query");
    assert.ok(
      p.get("resource") === null || p.get("resource") === up.url("lin"),
      `resource ${p.get("resource")}`,
    );
  });

  test("more hostile authorization servers", async () => {
    for (const server of ["dataauth", "plainpkce", "foreigniss", "hangmeta", "prmswap", "prmip"]) {
      const res = await call(await sessionOf("mallory", server), "whoami");
      const err = errorFor(res);
      assert.ok(err, `${server}: got a result`);
      const url = (err.data as any)?.url;
      if (typeof url !== "string") continue;
      const w = await walk(new FormBrowser(bed.gw.url), url, "mallory");
      assert.ok(
        !w.redirect || w.redirect.protocol === "http:" || w.redirect.protocol === "https:",
        `${server}: ${w.redirect?.href}`,
      );
      assert.ok(
        !w.redirect?.pathname.endsWith("/authorize"),
        `${server}: the gateway sent the user to an AS it must refuse`,
      );
    }
    for (const server of ["hugetoken", "forever", "stringexp"]) {
      const url = connectUrlOf(await call(await sessionOf("mallory", server), "whoami"), bed.gw, server);
      const b = new FormBrowser(bed.gw.url);
      const w = await walk(b, url, "mallory");
      if (!w.redirect) continue;
      await b.navigate((await approveAtUpstream(w.redirect, `mallory-${server}`)).href);
      const r = await whoami("mallory", server);
      assert.ok(
        r.code !== undefined || r.identity === `mallory-${server}`,
        `${server}: ${r.text.slice(0, 200)}`,
      );
    }
    const list = await bed.cli("connections", "list", "--user", "mallory");
    assert.ok(!/NaN|Invalid Date|Infinity/.test(list.stdout), `odd expiries shown as ${list.stdout}`);
    assert.equal(bed.gw.proc.exitCode, null, "the gateway survived");
    assert.equal((await whoami("alice", "lin")).identity, "alice-lin");
  });

  test("an already-expired token with a failing refresh asks to reconnect, never loops", async () => {
    const url = connectUrlOf(await call(await sessionOf("bob", "negexp"), "whoami"), bed.gw, "bob negexp");
    const w = await walk(browsers.bob!, url, "bob");
    assert.ok(w.redirect);
    await browsers.bob!.navigate((await approveAtUpstream(w.redirect, "bob-negexp")).href);
    let last: any = {};
    for (let i = 0; i < 3 && last.code !== AUTH_REQUIRED; i++) last = await whoami("bob", "negexp");
    assert.equal(last.code, AUTH_REQUIRED, `after invalid_grant: ${last.text?.slice(0, 200)}`);
    const refreshes = (await up.requests()).filter(
      (r) => r.kind === "token" && r.tenant === "negexp" && r.params.grant_type === "refresh_token",
    );
    assert.ok(refreshes.length <= 6, `${refreshes.length} refresh attempts for three calls`);
  });

  test("no upstream token in /metrics, /readyz, admin servers, the caller's error text or connections list --json", async () => {
    const secrets = await issuedSecrets(up);
    const adminToken = await bed.token("admin", "warden:admin");
    const get = (p: string, auth = false) =>
      fetch(`${bed.gw.url}${p}`, { headers: auth ? { authorization: `Bearer ${adminToken}` } : {} }).then(
        (r) => r.text(),
      );
    const list = await bed.cli("connections", "list", "--user", "alice", "--server", "gh", "--json");
    const places: Record<string, string> = {
      metrics: await get("/metrics"),
      readyz: await get("/readyz"),
      "admin servers": await get("/admin/api/servers", true),
      "admin summary": await get("/admin/api/summary", true),
      "bob's error": (await whoami("bob", "gh")).text,
      "connections list --json": list.stdout + list.stderr,
      "audit export": (await bed.cli("audit", "export")).stdout,
      stderr: bed.gw.stderrLines.join("\n"),
    };
    for (const [where, text] of Object.entries(places))
      assert.deepEqual(leaks(text, secrets), [], `tokens in ${where}`);
    // Every file the gateway wrote (state DB, -wal, -shm, audit sinks, keys): no token bytes.
    for (const file of filesUnder(bed.dir)) {
      assert.deepEqual(leaks(readFileSync(file).toString("latin1"), secrets), [], `token bytes in ${file}`);
    }
    // And the gateway's own tokens (every caller's) never went upstream.
    const upstreamSaw = JSON.stringify(
      (await up.requests()).filter((r) => r.kind === "mcp" || r.kind === "token"),
    );
    for (const t of Object.values(tokens))
      assert.ok(!upstreamSaw.includes(t.split(".")[2]!), "a gateway token went upstream");
  });

  test("ciphertexts swapped in place between Alice's and Bob's rows do not decrypt", async () => {
    const db = new Database(bed.stateFile);
    let swapped = 0;
    try {
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type='table'").all() as {
        name: string;
      }[];
      for (const { name } of tables) {
        const rows = db.prepare(`SELECT rowid AS _rid, * FROM "${name}"`).all() as Record<string, unknown>[];
        const texts = (r: Record<string, unknown>) => Object.values(r).filter((v) => typeof v === "string");
        const a = rows.find((r) => texts(r).includes("alice") && texts(r).includes("lin"));
        const b = rows.find((r) => texts(r).includes("bob") && texts(r).includes("lin"));
        if (!a || !b) continue;
        const blobs = Object.keys(a).filter(
          (k) => Buffer.isBuffer(a[k]) || (typeof a[k] === "string" && (a[k] as string).length > 40),
        );
        for (const k of blobs)
          db.prepare(`UPDATE "${name}" SET "${k}" = ? WHERE rowid = ?`).run(a[k] as never, b._rid as never);
        swapped += blobs.length;
      }
    } finally {
      db.close();
    }
    assert.ok(swapped > 0, "found Alice's and Bob's lin rows with a ciphertext column");
    const r = await whoami("bob", "lin");
    assert.notEqual(r.identity, "alice-lin", "Bob decrypted Alice's ciphertext");
  });

  test("revoke --user alice ends every connection of hers and only hers", async () => {
    const r = await bed.cli("connections", "revoke", "--user", "alice");
    assert.equal(r.code, 0, r.stderr);
    for (const server of ["gh", "lin"])
      assert.equal((await whoami("alice", server)).code, AUTH_REQUIRED, server);
    const list = await bed.cli("connections", "list");
    assert.ok(
      !/alice/.test(list.stdout) || /revoked/i.test(list.stdout),
      `Alice still listed: ${list.stdout}`,
    );
  });
});

/** Every regular file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    const st = statSync(p);
    return st.isDirectory() ? filesUnder(p) : st.isFile() ? [p] : [];
  });
}
