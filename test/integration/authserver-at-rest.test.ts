// The authorization server's state at rest, through the real gateway and a copy of its SQLite file:
// after a sign-in, a pending sign-in, a code and token flow with a registered confidential client,
// no column of any table (nor the raw file and its WAL) holds the session cookie, an interaction's
// id, a code, a refresh or access token, a code verifier or the client's secret; what the copy
// does hold (digests, sealed payloads) is refused when presented as any of them. The credentials
// still work against the gateway, revocation (RFC 7009, the admin API) still revokes, rows an
// earlier release wrote are rewritten at start and keep working, and a row sealed with another
// state key stops the start naming it.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { ModelsAtRest } from "../../src/authserver/at-rest.js";
import { hashPassword } from "../../src/auth/passwords.js";
import { isSealed, StateKey } from "../../src/state/sealed.js";
import { makeTempDir, runCli, startGateway, type Gateway } from "../helpers/gateway.js";
import { initializeRequest, mcpHeaders } from "../helpers/http.js";
import { freePort } from "../helpers/upstreams.js";
import {
  FormBrowser,
  USERS,
  authGatewayConfig,
  authorize,
  authorizeUrl,
  formEndingWith,
  pkcePair,
  registerClient,
  tokenRequest,
  type Page,
  type Registered,
  type UserName,
} from "../e2e/oauth-client.js";

// Never contacted: the scripted browser stops at the first redirect off the issuer's origin.
const CALLBACK = "http://127.0.0.1:9/callback";
const SESSION = "warden-session";
const INTERACTION = "warden-interaction";
const OPS = { name: "ops", password: "ops-correct-horse-battery" };

type Json = Record<string, unknown>;

/** Copies the database and its WAL as an intruder would; the copy's path. */
function copyState(file: string): string {
  const to = join(makeTempDir("warden-copy-"), "state.db");
  for (const suffix of ["", "-wal", "-shm"]) {
    if (existsSync(file + suffix)) copyFileSync(file + suffix, to + suffix);
  }
  return to;
}

/** Every value of every column of every table in the SQLite file, as text. */
function everyStoredValue(file: string): string[] {
  const db = new Database(file);
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as {
      name: string;
    }[];
    const values: string[] = [];
    for (const { name } of tables) {
      for (const row of db.prepare(`SELECT * FROM "${name.replaceAll('"', '""')}"`).all() as Json[]) {
        for (const v of Object.values(row)) {
          if (Buffer.isBuffer(v)) values.push(v.toString("utf8"), v.toString("hex"));
          else if (v !== null) values.push(String(v));
        }
      }
    }
    return values;
  } finally {
    db.close();
  }
}

/** The raw bytes of the file and its WAL (free pages and old frames included). */
function rawBytes(file: string): Buffer {
  return Buffer.concat([file, `${file}-wal`].filter(existsSync).map((f) => readFileSync(f)));
}

function assertHoldsNone(file: string, secrets: Record<string, string>): void {
  const values = everyStoredValue(file);
  const raw = rawBytes(file);
  for (const [what, secret] of Object.entries(secrets)) {
    assert.ok(secret.length >= 16, `${what} is a real value`);
    const hit = values.find((v) => v.includes(secret));
    assert.equal(hit, undefined, `${what} is stored in a column: ${hit?.slice(0, 200)}`);
    assert.equal(raw.indexOf(secret), -1, `${what} is in the file's bytes`);
  }
}

const sha256 = (value: string) => createHash("sha256").update(value).digest("base64url");

describe("the authorization server's state at rest (SQLite)", () => {
  const stateFile = join(makeTempDir("warden-at-rest-"), "state", "state.db");
  const keyFile = join(makeTempDir("warden-at-rest-key-"), "state.key");
  let config: Json;
  let gw: Gateway;
  let base: string;
  let resource: string;
  let client: Registered & { client_secret: string };
  const basic = () => ({ id: client.client_id, secret: client.client_secret });

  /** An authorization in `browser` as `user` (when a sign-in page comes up), up to the code. */
  async function codeFor(browser: FormBrowser, user?: UserName) {
    const { verifier, challenge } = pkcePair();
    const url = authorizeUrl(base, {
      clientId: client.client_id,
      redirectUri: CALLBACK,
      scope: "demo:use",
      resource,
      challenge,
      method: "S256",
    });
    const out = await authorize(browser, url, user ? { user } : {});
    assert.ok(out.code, `no code: ${JSON.stringify({ ...out, page: out.page?.html.slice(0, 300) })}`);
    return { code: out.code, verifier, pages: out.pages };
  }

  async function exchange(code: string, verifier: string) {
    const t = await tokenRequest(
      base,
      { grant_type: "authorization_code", code, code_verifier: verifier, redirect_uri: CALLBACK, resource },
      basic(),
    );
    assert.equal(t.status, 200, JSON.stringify(t.body));
    return { access: t.body.access_token as string, refresh: t.body.refresh_token as string };
  }

  const refresh = (token: string) =>
    tokenRequest(base, { grant_type: "refresh_token", refresh_token: token, resource }, basic());

  /** What /mcp answers an initialize carrying this access token. */
  async function mcpStatus(access: string): Promise<number> {
    const res = await fetch(`${base}/mcp`, {
      method: "POST",
      headers: mcpHeaders({ authorization: `Bearer ${access}` }),
      body: JSON.stringify(initializeRequest()),
    });
    await res.arrayBuffer();
    return res.status;
  }

  /** Where GET /oauth/authorize sends a browser that presents `sessionCookie`: straight back, or to sign in. */
  async function authorizeWithSession(sessionCookie: string): Promise<"code" | "sign-in"> {
    const { challenge } = pkcePair();
    const url = authorizeUrl(base, {
      clientId: client.client_id,
      redirectUri: CALLBACK,
      scope: "demo:use",
      resource,
      challenge,
      method: "S256",
    });
    const res = await fetch(url, { redirect: "manual", headers: { cookie: `${SESSION}=${sessionCookie}` } });
    await res.arrayBuffer();
    const location = new URL(res.headers.get("location") ?? "/", base);
    if (location.href.startsWith(CALLBACK) && location.searchParams.get("code")) return "code";
    assert.match(location.pathname, /\/oauth\/interaction\//, `went to ${location.href}`);
    return "sign-in";
  }

  before(async () => {
    const port = await freePort();
    const base0 = await authGatewayConfig({ stateFile });
    const auth = base0.auth as Json;
    config = {
      ...base0,
      gateway: { listen: `127.0.0.1:${port}` },
      state: { sqlite: stateFile, key_file: keyFile },
      auth: {
        ...auth,
        users: [
          ...(auth.users as Json[]),
          { name: OPS.name, password_hash: await hashPassword(OPS.password), scopes: ["warden:admin"] },
        ],
      },
    };
    gw = await startGateway(config);
    base = gw.url;
    resource = gw.mcpUrl;
    const reg = await registerClient(base, {
      client_name: "Confidential Agent",
      redirect_uris: [CALLBACK],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    });
    assert.equal(reg.status, 201, JSON.stringify(reg.body));
    assert.ok(typeof reg.body.client_secret === "string" && reg.body.client_secret.length >= 32);
    client = reg.body as Registered & { client_secret: string };
  });

  after(async () => {
    await gw?.stop();
  });

  // Filled by the first test, used by the next ones.
  const handed: {
    browser?: FormBrowser;
    pending?: { browser: FormBrowser; page: Page; uid: string };
    secrets: Record<string, string>;
    verifier?: string;
    refresh?: string;
    access?: string;
  } = { secrets: {} };

  test("a copy of the state database holds none of the credentials handed out", async () => {
    const browser = new FormBrowser(base);
    const first = await codeFor(browser, "alice");
    assert.deepEqual(first.pages, ["login", "consent"]);
    const tokens = await exchange(first.code, first.verifier);
    // A second code from the same browser session (consent remembered), never redeemed.
    const second = await codeFor(browser);
    assert.deepEqual(second.pages, []);
    // A sign-in left pending on its login page: its interaction is stored, waiting.
    const other = new FormBrowser(base);
    const { challenge } = pkcePair();
    const step = await other.navigate(
      authorizeUrl(base, {
        clientId: client.client_id,
        redirectUri: CALLBACK,
        scope: "demo:use",
        resource,
        challenge,
        method: "S256",
      }),
    );
    assert.ok(step.page, "a sign-in page");
    const uid = /\/oauth\/interaction\/([^/?]+)/.exec(step.page.url)?.[1];
    assert.ok(uid && other.cookie(INTERACTION) === uid, `interaction at ${step.page.url}`);

    const session = browser.cookie(SESSION);
    assert.ok(session, "the browser holds a session cookie");
    handed.browser = browser;
    handed.pending = { browser: other, page: step.page, uid };
    handed.verifier = second.verifier;
    handed.refresh = tokens.refresh;
    handed.access = tokens.access;
    handed.secrets = {
      "session cookie": session,
      "interaction id": uid,
      "redeemed code": first.code,
      "unredeemed code": second.code,
      "refresh token": tokens.refresh,
      "access token": tokens.access,
      "code verifier": first.verifier,
      "client secret": client.client_secret,
    };

    const copy = copyState(stateFile);
    const db = new Database(copy);
    const models = db.prepare("SELECT model, COUNT(*) AS n FROM oauth_models GROUP BY model").all() as {
      model: string;
      n: number;
    }[];
    const payloads = db.prepare("SELECT model, payload FROM oauth_models").all() as {
      model: string;
      payload: string;
    }[];
    db.close();
    // What the copy is searched for is there, in some form: the search is not of an empty table.
    for (const model of ["Client", "Grant", "Session", "Interaction", "AuthorizationCode", "RefreshToken"])
      assert.ok(
        models.some((m) => m.model === model && m.n > 0),
        `${model} rows: ${JSON.stringify(models)}`,
      );
    assertHoldsNone(copy, handed.secrets);
    for (const p of payloads) assert.ok(isSealed(p.payload), `${p.model} payload is sealed`);
  });

  test("what the copy holds is refused when presented as a session, an interaction, a code or a token", async () => {
    const db = new Database(copyState(stateFile));
    const rows = db.prepare("SELECT model, key, payload FROM oauth_models").all() as {
      model: string;
      key: string;
      payload: string;
    }[];
    db.close();
    const of = (model: string) => rows.filter((r) => r.model === model);

    // The real cookie is let in; every stored session key is sent to sign in.
    assert.equal(await authorizeWithSession(handed.secrets["session cookie"]!), "code");
    for (const r of of("Session")) assert.equal(await authorizeWithSession(r.key), "sign-in");

    for (const r of [...of("RefreshToken"), ...of("AuthorizationCode")]) {
      for (const guess of [r.key, r.payload]) {
        const t =
          r.model === "RefreshToken"
            ? await refresh(guess)
            : await tokenRequest(
                base,
                {
                  grant_type: "authorization_code",
                  code: guess,
                  code_verifier: handed.verifier!,
                  redirect_uri: CALLBACK,
                  resource,
                },
                basic(),
              );
        assert.equal(t.status, 400, `${r.model}: ${JSON.stringify(t.body)}`);
        assert.equal(t.body.error, "invalid_grant");
      }
    }

    // An interaction's page needs its id in the cookie too: the real pair shows the sign-in form.
    const interactionPage = async (uid: string) => {
      const res = await fetch(`${base}/oauth/interaction/${uid}`, {
        headers: { cookie: `${INTERACTION}=${uid}` },
      });
      return res.text();
    };
    assert.match(await interactionPage(handed.pending!.uid), /name="password"/);
    for (const r of of("Interaction")) assert.doesNotMatch(await interactionPage(r.key), /name="password"/);

    // A stored client payload is no secret either.
    for (const r of of("Client")) {
      const t = await tokenRequest(
        base,
        { grant_type: "refresh_token", refresh_token: handed.refresh!, resource },
        { id: client.client_id, secret: r.payload },
      );
      assert.equal(t.status, 401, JSON.stringify(t.body));
      assert.equal(t.body.error, "invalid_client");
    }
  });

  test("the credentials still work: the session, the pending sign-in, the refresh token, the client secret", async () => {
    assert.equal(await mcpStatus(handed.access!), 200);
    const again = await codeFor(handed.browser!);
    assert.deepEqual(again.pages, [], "the session cookie is still a signed-in session");

    const { browser, page } = handed.pending!;
    let step = await browser.submit(formEndingWith(page, "/login"), {
      username: "alice",
      password: USERS.alice.password,
    });
    if (step.page) step = await browser.submit(formEndingWith(step.page, "/confirm"));
    assert.ok(step.redirect?.searchParams.get("code"), "the pending sign-in completes");

    const rotated = await refresh(handed.refresh!);
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    assert.notEqual(rotated.body.refresh_token, handed.refresh);
    assert.equal(await mcpStatus(rotated.body.access_token!), 200);
    handed.refresh = rotated.body.refresh_token!;
  });

  test("revocation still revokes: a refresh token (RFC 7009), and a grant through the admin API", async () => {
    const res = await fetch(`${base}/oauth/revoke`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString("base64")}`,
      },
      body: new URLSearchParams({ token: handed.refresh!, token_type_hint: "refresh_token" }).toString(),
    });
    assert.equal(res.status, 200, await res.text());
    const refused = await refresh(handed.refresh!);
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error, "invalid_grant");

    const bob = await codeFor(new FormBrowser(base), "bob");
    const tokens = await exchange(bob.code, bob.verifier);
    const admin = await runCli(["token", "-c", gw.configFile, "--sub", OPS.name, "--scope", "warden:admin"], {
      cwd: gw.dir,
    });
    assert.equal(admin.code, 0, admin.stderr);
    const api = (path: string, init: RequestInit = {}) =>
      fetch(`${base}/admin/api/${path}`, {
        ...init,
        headers: {
          authorization: `Bearer ${admin.stdout.trim()}`,
          "content-type": "application/json",
        },
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as Json }));
    const listed = (await api("grants")).body.grants as Json[];
    const grant = listed.find((g) => g.account_id === "bob" && g.client_id === client.client_id);
    assert.ok(grant, JSON.stringify(listed));
    assert.deepEqual(grant.resources, [resource]);
    const r = await api("grants/revoke", {
      method: "POST",
      body: JSON.stringify({ id: grant.id, reason: "at-rest test" }),
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal((await refresh(tokens.refresh)).body.error, "invalid_grant");
    assert.equal(await mcpStatus(tokens.access), 401);
    const after = (await api("grants")).body.grants as Json[];
    assert.ok(!after.some((g) => g.id === grant.id));
  });

  test("rows an earlier release wrote are rewritten at start, and keep working", async () => {
    // A fresh session and refresh token, then the rows as the earlier release stored them: the
    // session under its cookie, the refresh token under its bare SHA-256, payloads in plaintext.
    const browser = new FormBrowser(base);
    const flow = await codeFor(browser, "carol");
    const tokens = await exchange(flow.code, flow.verifier);
    const session = browser.cookie(SESSION)!;
    await gw.stop();

    const key = StateKey.parse(readFileSync(keyFile, "utf8"), keyFile);
    const atRest = new ModelsAtRest(key);
    const known = new Map([
      [`Session:${atRest.storedKey("Session", session)}`, session],
      [`RefreshToken:${atRest.storedKey("RefreshToken", tokens.refresh)}`, tokens.refresh],
    ]);
    const db = new Database(stateFile);
    const rows = db.prepare("SELECT model, key, payload FROM oauth_models").all() as {
      model: string;
      key: string;
      payload: string;
    }[];
    db.transaction(() => {
      for (const row of rows) {
        const payload = JSON.parse(atRest.openPayload(row.model, row.key, row.payload)) as Json;
        let earlierKey = row.key;
        if (row.model !== "Client" && row.model !== "Grant") {
          const id = known.get(`${row.model}:${row.key}`);
          if (id === undefined) {
            db.prepare("DELETE FROM oauth_models WHERE model = ? AND key = ?").run(row.model, row.key);
            continue;
          }
          earlierKey = row.model === "RefreshToken" ? sha256(id) : id;
          if (row.model === "Session") payload.jti = id;
        }
        db.prepare("UPDATE oauth_models SET key = ?, payload = ? WHERE model = ? AND key = ?").run(
          earlierKey,
          JSON.stringify(payload),
          row.model,
          row.key,
        );
      }
    })();
    db.close();
    const earlier = everyStoredValue(stateFile);
    assert.ok(earlier.includes(session), "the earlier layout holds the cookie");
    assert.ok(
      earlier.some((v) => v.includes(client.client_secret)),
      "and the client secret",
    );

    gw = await startGateway(config);
    assert.equal(gw.url, base);
    assertHoldsNone(stateFile, {
      "session cookie": session,
      "client secret": client.client_secret,
      "refresh token's bare SHA-256": sha256(tokens.refresh),
    });
    assert.equal(await authorizeWithSession(session), "code", "the session survives the rewrite");
    const rotated = await refresh(tokens.refresh);
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    assert.equal(await mcpStatus(rotated.body.access_token!), 200);
  });

  test("a row sealed with another state key stops the start, naming it", async () => {
    const copy = copyState(stateFile);
    const db = new Database(copy);
    const row = db.prepare("SELECT key, payload FROM oauth_models WHERE model = 'Client'").get() as {
      key: string;
      payload: string;
    };
    const other = StateKey.ephemeral();
    db.prepare("UPDATE oauth_models SET payload = ? WHERE model = 'Client' AND key = ?").run(
      other.seal("{}", `oauth_models:Client:${row.key}`),
      row.key,
    );
    db.close();
    const port = await freePort();
    let started: Gateway | undefined;
    let refusal = "";
    try {
      started = await startGateway({
        ...config,
        gateway: { listen: `127.0.0.1:${port}` },
        state: { sqlite: copy, key_file: keyFile },
      });
    } catch (err) {
      refusal = (err as Error).message;
    } finally {
      await started?.stop();
    }
    assert.equal(started, undefined, "the gateway started on a row it cannot open");
    assert.match(refusal, /oauth_models:Client:\S+: sealed with another state key/);
  });
});
