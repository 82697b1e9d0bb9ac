/* eslint-disable @typescript-eslint/no-explicit-any -- fixture records are read loosely in assertions */
// Held-out attacks on an `oauth_user` server that moves to another authorization server (SEP-2352).
//
// The behaviour under attack (docs/upstream-credentials.md, "When the server moves to another
// authorization server", "A configured client belongs to one authorization server", "Refresh"): a
// 401 to a user's token makes the gateway read the server's protected-resource metadata again (at
// most once a minute per server); when it names another issuer than the connection's, the
// connection is broken, `upstream_issuer_changed` is audited and the call is answered -32007
// `reconnect_required`; the next connect registers at the new authorization server; a configured
// client (auth.client_id / client_secret) is only ever presented to its own issuer; refresh tokens
// and revocation never cross issuers; a flow begun at the old issuer and finished after the move is
// refused (`connect_issuer_changed`); metadata that cannot be read answers -32005 and leaves the
// connection as it was.
//
// The attacker is the upstream: it controls its metadata and the authorization servers it names,
// and every one of them is served by fixtures/as-migration-upstream.mjs, which records every
// request with where it arrived (port, scheme, Host) and the place it belongs to. Classes:
//   1. credential theft: the metadata moves to an attacker's AS, at look-alike issuers too (trailing
//      slash, case, port, path, https for http, userinfo, IDN host and path, fullwidth digits,
//      percent-encoding, a query, a fragment, a forged `issuer`), and back; a new AS without
//      registration or with CIMD only; users who never connected; the operator's revocations (CLI
//      and admin API) during the move; a flow in flight across the move; `auth.issuer` against
//      look-alikes met at the first discovery; a restart that meets the attacker first; a mix-up
//      (the attacker's flow answered by the old AS, RFC 9207 `iss` present or absent). Judged on
//      one invariant over every recorded request: a credential (configured client id and secret,
//      a registered client id and secret, an access or refresh token, an authorization code)
//      reaches no place but the authorization server that owns it (and, for an access token, its
//      own resource); a harness test shows the invariant catches a planted leak.
//   2. flood: every token refused and the metadata flipping on every read, many users, concurrent
//      calls, and a minute and more of it: metadata reads counted against the once-a-minute bound,
//      upstream and token requests per call, a bystander server, and the gateway's heap after a
//      full collection (through its inspector, on a loopback port).
//   3. confusion: several, no, ill-typed, non-URL, metadata-IP authorization servers; malformed,
//      empty, huge, hanging, redirected, failing metadata; a `resource` for something else; a
//      challenge pointing elsewhere; a new AS with unusable metadata: documented codes only.
//   4. isolation: one user's refusal or reconnect never breaks another user's connection, nor the
//      same user's at another server (even one on the same authorization server).
//   5. audit: every refusal with its user and server; issuer changes, revocations, a refused
//      connect; no credential in the audit log or the gateway's log.
// Traffic stays on 127.0.0.1 (169.254.169.254 and 10.255.255.1 appear only as URLs the gateway
// must refuse to use). One test waits out the once-a-minute bound (about 65 s); the file runs in
// about four minutes. The fixture's look-alike https issuer uses a certificate made with openssl
// for the run, trusted by the gateway through NODE_EXTRA_CA_CERTS.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { request as httpGet } from "node:http";
import { request as httpsGet } from "node:https";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, test, type TestContext } from "node:test";
import { hashPassword } from "../src/auth/passwords.js";
import {
  errorFor,
  openSession,
  type AttackSession,
  type HttpResult,
} from "../test/attacks/fixtures/attack-lib.js";
import { FormBrowser, formsOf, type Page } from "../test/e2e/oauth-client.js";
import { makeTempDir, runCli, startGateway, writeConfig, type Gateway } from "../test/helpers/gateway.js";
import { exited, killGroup, spawnTracked, stopChild } from "../test/helpers/processes.js";
import { freePort } from "../test/helpers/upstreams.js";

const FIXTURE = new URL("./fixtures/as-migration-upstream.mjs", import.meta.url).pathname;

/** The JSON-RPC codes the contract documents for a refused or failed call: -32001 … -32007. */
const DOCUMENTED = new Set([-32001, -32002, -32003, -32004, -32005, -32006, -32007]);
const AUTH_REQUIRED = -32007;
const UNAVAILABLE = -32005;
const CALL_TIMEOUT_MS = 60_000;
const MAX_MESSAGE = 1024;
/** The documented bound: one re-read of a server's metadata per minute (per gateway instance). */
const REREAD_EVERY_MS = 60_000;

const PASSWORDS: Record<string, string> = {
  alice: "alice-asmig-3f9a1c",
  bob: "bob-asmig-7d2e4b",
  carol: "carol-asmig-1b8c6f",
  mallory: "mallory-asmig-9e0d2a",
  ops: "ops-asmig-5c3b7e",
  u1: "u1-asmig-a1",
  u2: "u2-asmig-b2",
  u3: "u3-asmig-c3",
  u4: "u4-asmig-d4",
  u5: "u5-asmig-e5",
  u6: "u6-asmig-f6",
};
const FLOODERS = ["u1", "u2", "u3", "u4", "u5", "u6"];

// ---------------------------------------------------------------------------------------------
// The hostile upstream and its authorization servers.

interface Secret {
  value: string;
  owner: string; // the AS id that issued or registered it
  kind: "access" | "refresh" | "client_id" | "client_secret" | "code";
  /** For an access token: the tenant whose resource may see it. */
  tenant?: string;
}

class Upstream {
  proc!: ReturnType<typeof spawnTracked>;
  port = 0;
  altPort = 0;
  private cache: any[] = [];

  get main() {
    return `http://127.0.0.1:${this.port}`;
  }
  get alt() {
    return `http://127.0.0.1:${this.altPort}`;
  }
  url(t: string) {
    return `${this.main}/r/${t}/mcp`;
  }
  as1(t: string) {
    return `${this.main}/as/${t}`;
  }

  async start(tls: { cert: string; key: string }) {
    this.proc = spawnTracked(process.execPath, [FIXTURE], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TLS_CERT: tls.cert, TLS_KEY: tls.key },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const output: string[] = [];
    createInterface({ input: this.proc.stderr! }).on("line", (l) => output.push(l));
    const ports = await new Promise<{ port: number; alt: number }>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`fixture did not start: ${output.join("\n")}`)),
        15_000,
      );
      createInterface({ input: this.proc.stdout! }).once("line", (l) => {
        clearTimeout(timer);
        resolve(JSON.parse(l));
      });
      this.proc.once("exit", (code) =>
        reject(new Error(`fixture exited with ${code}: ${output.join("\n")}`)),
      );
    });
    this.port = ports.port;
    this.altPort = ports.alt;
  }

  async stop() {
    if (!this.proc) return;
    await stopChild(this.proc, "SIGTERM", 5_000);
    killGroup(this.proc);
    await exited(this.proc);
  }

  private async post(path: string, body: unknown) {
    const r = await fetch(`${this.main}${path}`, { method: "POST", body: JSON.stringify(body) });
    const text = await r.text();
    assert.equal(r.status, 200, `${path}: ${text}`);
    return JSON.parse(text);
  }
  defineAs(id: string, issuer: string, opts: Record<string, unknown> = {}) {
    return this.post("/_control/as", { id, issuer, ...opts });
  }
  setTenant(tenant: string, opts: Record<string, unknown>) {
    return this.post("/_control/tenant", { tenant, ...opts });
  }
  addClient(as: string, client_id: string, client_secret: string) {
    return this.post("/_control/client", { as, client_id, client_secret });
  }
  async issued(): Promise<{
    issued: any[];
    clients: any[];
    codes: any[];
    prmReads: Record<string, number>;
    last: number;
  }> {
    return (await fetch(`${this.main}/_control/issued`)).json() as any;
  }
  /** Every request recorded so far (fetched incrementally). */
  async records(): Promise<any[]> {
    const since = this.cache.length ? this.cache[this.cache.length - 1].n : 0;
    const more = (await (await fetch(`${this.main}/_control/requests?since=${since}`)).json()) as any[];
    this.cache.push(...more);
    return this.cache;
  }
  async prmReads(t: string): Promise<number> {
    return (await this.issued()).prmReads[t] ?? 0;
  }

  /** Every credential the fixture's authorization servers issued or registered, with its owner. */
  async secrets(configured: Map<string, { id: string; secret: string; as: string }>): Promise<Secret[]> {
    const { issued, clients, codes } = await this.issued();
    const out: Secret[] = [];
    for (const e of issued) {
      const tenant = String(e.user).split("@")[1];
      out.push({ value: e.access, owner: e.as, kind: "access", tenant });
      out.push({ value: e.refresh, owner: e.as, kind: "refresh" });
    }
    for (const c of clients) {
      if (c.kind !== "dcr") continue;
      out.push({ value: c.client_id, owner: c.as, kind: "client_id" });
      if (c.client_secret) out.push({ value: c.client_secret, owner: c.as, kind: "client_secret" });
    }
    for (const c of configured.values()) {
      out.push({ value: c.id, owner: c.as, kind: "client_id" });
      out.push({ value: c.secret, owner: c.as, kind: "client_secret" });
    }
    for (const c of codes) out.push({ value: c.code, owner: c.as, kind: "code" });
    return out;
  }
}

function placeOf(r: any): string {
  const p = r.place ?? {};
  const where = `${r.method} ${r.scheme}://${r.host}${r.path}`;
  if (p.kind === "as") return `AS ${p.as} ${p.endpoint} (${where})`;
  return `${p.kind ?? "?"} ${p.tenant ?? ""} (${where})`;
}

/**
 * Every credential the fixture issues has a recognisable shape (`at.<as>.<24>`, `rt.…`, `dcr.…`,
 * `dcs.…`, `code.…`; configured clients `cfgclient-…`, `cfgsecret-…`): each request's text (path,
 * query, headers, body, decoded Basic, and the URL-decoded query and body) is scanned once for
 * them, and each found is looked up among the secrets.
 */
const CREDENTIAL =
  /\b(?:(?:at|rt|dcr|dcs|code)\.[a-z0-9-]+\.[a-z0-9]+\.[A-Za-z0-9]{24}|cfg(?:client|secret)-[a-z0-9]+-[a-z0-9]+)/g;

function credentialsIn(r: any): string[] {
  if (r._found) return r._found;
  let hay = JSON.stringify([r.path, r.query, r.headers, r.body ?? "", r.basic ?? null]);
  try {
    hay += ` ${decodeURIComponent(`${r.query ?? ""} ${r.body ?? ""}`.replace(/\+/g, " "))}`;
  } catch {
    /* the raw text is enough */
  }
  r._found = [...new Set(hay.match(CREDENTIAL) ?? [])];
  return r._found;
}

/**
 * Every (credential, request) pair where the credential reached a place that does not own it:
 * another authorization server (any endpoint, any header, the query, the body, Basic auth), a
 * resource that is not the token's, another server's metadata, or nowhere known.
 */
function crossings(records: any[], secrets: Secret[], includeCanary = false): string[] {
  const out = new Set<string>();
  const byValue = new Map(secrets.map((x) => [x.value, x]));
  for (const r of records) {
    if (r.headers?.["x-canary"] && !includeCanary) continue;
    const p = r.place ?? {};
    for (const value of credentialsIn(r)) {
      const s = byValue.get(value);
      if (!s) continue;
      if (p.kind === "as" && p.as === s.owner) continue;
      if (s.kind === "access" && p.kind === "mcp" && p.tenant === s.tenant) continue;
      out.add(`${s.kind} of ${s.owner} (${s.value.slice(0, 14)}…) sent to ${placeOf(r)}`);
    }
  }
  return [...out];
}

// ---------------------------------------------------------------------------------------------
// HTTP outside the gateway (the browser's hop to an authorization server), trusting the test CA.

let CA: Buffer | undefined;

function getNoFollow(url: URL): Promise<{ status: number; location?: string; text: string }> {
  return new Promise((resolve, reject) => {
    const req = (url.protocol === "https:" ? httpsGet : httpGet)(
      url,
      { method: "GET", ca: CA, agent: false, autoSelectFamily: true } as any,
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            location: res.headers.location,
            text: Buffer.concat(chunks).toString("utf8"),
          }),
        );
      },
    );
    req.setTimeout(15_000, () => req.destroy(new Error(`GET ${url.href} timed out`)));
    req.on("error", reject);
    req.end();
  });
}

// ---------------------------------------------------------------------------------------------
// Answers.

interface Answer {
  result?: string;
  code?: number;
  reason?: string;
  url?: string;
  message?: string;
  status: number;
  text: string;
}

function answerOf(res: HttpResult): Answer {
  const ok = res.messages.find((m) => "result" in m);
  if (ok) {
    const content = ((ok.result as any).content ?? []) as { text?: string }[];
    if (!(ok.result as any).isError)
      return { result: content.map((c) => c.text ?? "").join("\n"), status: res.status, text: res.text };
  }
  const err = errorFor(res);
  return {
    code: err?.code,
    reason: typeof err?.data?.reason === "string" ? err.data.reason : undefined,
    url: typeof err?.data?.url === "string" ? err.data.url : undefined,
    message: err?.message,
    status: res.status,
    text: res.text,
  };
}

const brief = (a: Answer) =>
  a.result !== undefined
    ? `result ${a.result.slice(0, 120)}`
    : `${a.code ?? `HTTP ${a.status}`} ${a.reason ?? ""} ${JSON.stringify((a.message ?? a.text).slice(0, 160))}`;

// ---------------------------------------------------------------------------------------------
// The bed: one fixture, one gateway with every scenario's server, users who sign in with passwords.

interface Refusal {
  user: string;
  server: string;
  code: number | undefined;
  reason: string | undefined;
  what: string;
}
interface IssuerChange {
  user: string;
  server: string;
  from: string;
  to: string;
}

interface ServerSpec {
  name: string;
  configured?: boolean;
  issuer?: string;
  isolation?: string;
}

class Bench {
  up = new Upstream();
  gw!: Gateway;
  dir = "";
  configFile = "";
  config: any;
  tls = { cert: "", key: "" };
  readonly tokens: Record<string, string> = {};
  readonly browsers: Record<string, FormBrowser> = {};
  readonly sessions = new Map<string, AttackSession>();
  /** Configured clients by server: id, secret and the AS id they belong to. */
  readonly configured = new Map<string, { id: string; secret: string; as: string }>();
  readonly refusals: Refusal[] = [];
  readonly changes: IssuerChange[] = [];
  /** Connection ids per user|server, as listed after each connect. */
  readonly connectionIds = new Map<string, Set<string>>();
  readonly revoked: { user: string; server: string }[] = [];
  readonly connectRefused: { user: string; server: string }[] = [];
  inspectPort = 0;
  private readonly reported = new Set<string>();
  private nextId = 1;

  async startFixture() {
    const tlsDir = makeTempDir("warden-asmig-tls-");
    this.tls = { cert: join(tlsDir, "cert.pem"), key: join(tlsDir, "key.pem") };
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        this.tls.key,
        "-out",
        this.tls.cert,
        "-days",
        "2",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
      ],
      { stdio: "ignore" },
    );
    CA = readFileSync(this.tls.cert);
    await this.up.start(this.tls);
  }

  serverConfig(s: ServerSpec) {
    const auth: Record<string, unknown> = { type: "oauth_user" };
    if (s.configured) {
      const c = this.configured.get(s.name)!;
      auth.client_id = c.id;
      auth.client_secret = c.secret;
      if (s.issuer) auth.issuer = s.issuer;
    }
    return {
      name: s.name,
      url: this.up.url(s.name),
      auth,
      tools: { "*": ["demo:use"] },
      ...(s.isolation ? { isolation: s.isolation } : {}),
    };
  }

  /** Registers the configured clients at each server's AS1, then starts the gateway. */
  async startGateway(servers: ServerSpec[], port?: number, dir?: string) {
    this.dir = dir ?? makeTempDir("warden-asmig-");
    const gwPort = port ?? (await freePort());
    const publicUrl = `http://127.0.0.1:${gwPort}`;
    for (const s of servers) {
      await this.up.setTenant(s.name, {});
      if (s.configured && !this.configured.has(s.name)) {
        const c = {
          id: `cfgclient-${s.name}-${Math.random().toString(36).slice(2, 10)}`,
          secret: `cfgsecret-${s.name}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`,
          as: `${s.name}.a1`,
        };
        this.configured.set(s.name, c);
        await this.up.addClient(c.as, c.id, c.secret);
      }
    }
    const users = [];
    for (const [name, password] of Object.entries(PASSWORDS)) {
      users.push({
        name,
        password_hash: await hashPassword(password),
        scopes: name === "ops" ? ["demo:use", "warden:admin"] : ["demo:use"],
      });
    }
    this.config = {
      gateway: { listen: `127.0.0.1:${gwPort}`, public_url: publicUrl },
      state: { sqlite: join(this.dir, "state.db") },
      auth: { anonymous: [], signing_key_file: join(this.dir, "signing.jwk"), users },
      audit: { sinks: ["sqlite"] },
      servers: servers.map((s) => this.serverConfig(s)),
    };
    this.configFile = writeConfig(this.config, this.dir);
    const checked = await runCli(["check", "-c", this.configFile], { cwd: this.dir, timeoutMs: 60_000 });
    if (checked.code !== 0)
      throw new Error(`the gateway refuses this config:\n${checked.stdout}${checked.stderr}`);
    this.inspectPort = await freePort();
    this.gw = await startGateway(this.config, {
      env: { NODE_EXTRA_CA_CERTS: this.tls.cert, NODE_OPTIONS: `--inspect=127.0.0.1:${this.inspectPort}` },
      listenTimeoutMs: 60_000,
      readyTimeoutMs: 60_000,
    });
    this.sessions.clear();
    await Promise.all(
      Object.keys(PASSWORDS).map(async (u) => {
        this.tokens[u] = await this.mint(u);
        this.browsers[u] = new FormBrowser(this.gw.url);
      }),
    );
  }

  cli(...args: string[]) {
    return runCli([...args, "-c", this.configFile], {
      cwd: this.dir,
      timeoutMs: 90_000,
      env: { NODE_EXTRA_CA_CERTS: this.tls.cert },
    });
  }

  async mint(sub: string, scope = "demo:use") {
    const r = await this.cli("token", "--sub", sub, "--scope", scope);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  }

  async session(user: string, server: string): Promise<AttackSession> {
    const key = `${user}|${server}`;
    if (!this.sessions.has(key))
      this.sessions.set(key, await openSession(this.gw.serverUrl(server), { token: this.tokens[user]! }));
    return this.sessions.get(key)!;
  }

  /** One tools/call of `whoami`; refusals are remembered for the audit class. */
  async call(user: string, server: string, what: string): Promise<Answer> {
    const send = async () =>
      (await this.session(user, server)).post(
        {
          jsonrpc: "2.0",
          id: `${user}-${server}-${this.nextId++}`,
          method: "tools/call",
          params: { name: "whoami", arguments: {} },
        },
        { timeoutMs: CALL_TIMEOUT_MS },
      );
    let res = await send();
    if (res.status === 404) {
      // An idle session the gateway ended (long tests): open a new one, not an attack outcome.
      this.sessions.delete(`${user}|${server}`);
      res = await send();
    }
    const a = answerOf(res);
    if (a.result === undefined && a.code !== undefined)
      this.refusals.push({ user, server, code: a.code, reason: a.reason, what });
    return a;
  }

  /** Signs in as `user` on any password page, submits any other non-cancel form, until it leaves. */
  async walk(user: string, url: string, browser = this.browsers[user]!) {
    const pages: Page[] = [];
    const submitted = new Set<string>();
    let step = await browser.navigate(url);
    for (let i = 0; i < 8 && step.page; i++) {
      const page = step.page;
      pages.push(page);
      const forms = formsOf(page);
      if (/type="password"/.test(page.html)) {
        if (pages.filter((p) => /type="password"/.test(p.html)).length > 1) break;
        const form = forms.find((f) => /login|sign/i.test(new URL(f.action).pathname)) ?? forms[0];
        if (!form) break;
        step = await browser.submit(form, { username: user, password: PASSWORDS[user] ?? "wrong" });
        continue;
      }
      const go = forms.find(
        (f) =>
          !/(abort|cancel|deny|reject|decline)/i.test(new URL(f.action).pathname) && !submitted.has(f.action),
      );
      if (!go) break;
      submitted.add(go.action);
      step = await browser.submit(go);
    }
    return { redirect: step.redirect, pages, last: pages.at(-1) };
  }

  /** The authorization server approves as `upstreamUser`; the callback URL it sends back. */
  async approve(redirect: URL, upstreamUser: string): Promise<URL | undefined> {
    const sep = redirect.search ? "&" : "?";
    const target = new URL(
      `${redirect.origin}${redirect.pathname}${redirect.search}${sep}upstream_user=${encodeURIComponent(upstreamUser)}`,
    );
    const r = await getNoFollow(target);
    return r.location ? new URL(r.location) : undefined;
  }

  async land(user: string, callback: URL | undefined) {
    if (!callback) return { connected: false, page: undefined as Page | undefined };
    const done = await this.browsers[user]!.navigate(callback.href);
    return { connected: looksConnected(done.page), page: done.page };
  }

  /** The user's first connection at `server`, at whatever AS the server names now. */
  async connect(user: string, server: string) {
    const a = await this.call(user, server, "first call");
    assert.equal(a.code, AUTH_REQUIRED, `${user} at ${server} before connecting: ${brief(a)}`);
    assert.ok(a.url, `${user} at ${server}: -32007 without data.url`);
    const flow = await this.flow(user, server, a.url);
    assert.ok(
      flow.redirect,
      `${user} at ${server}: the connect flow never left the gateway: ${flow.lastText}`,
    );
    assert.ok(flow.connected, `${user} at ${server}: the callback did not say connected: ${flow.lastText}`);
    const me = await this.call(user, server, "whoami after connecting");
    assert.match(
      me.result ?? "",
      new RegExp(`"user":"${user}@${server}"`),
      `${user} at ${server}: ${brief(me)}`,
    );
    await this.rememberConnection(user, server);
    return flow;
  }

  /** Walks `link`, approves at the AS it leads to, lands the callback. */
  async flow(user: string, server: string, link: string) {
    const w = await this.walk(user, link);
    const lastText = textOf(w.last).slice(0, 300);
    if (!w.redirect) return { redirect: undefined, connected: false, lastText, pages: w.pages };
    const callback = await this.approve(w.redirect, `${user}@${server}`);
    const landed = await this.land(user, callback);
    return {
      redirect: w.redirect,
      endpoint: `${w.redirect.origin}${w.redirect.pathname}`,
      clientId: w.redirect.searchParams.get("client_id") ?? undefined,
      connected: landed.connected,
      lastText: textOf(landed.page).slice(0, 300) || lastText,
      pages: w.pages,
    };
  }

  async connectionsOf(user: string, server: string): Promise<any[]> {
    const r = await this.cli("connections", "list", "--user", user, "--server", server, "--json");
    assert.equal(r.code, 0, r.stderr);
    const text = r.stdout.trim();
    if (!text) return [];
    const rows: any[] = text.startsWith("[")
      ? JSON.parse(text)
      : text
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l));
    return rows.flat().filter((x) => x.user === user && x.server === server);
  }

  async rememberConnection(user: string, server: string) {
    const key = `${user}|${server}`;
    const ids = this.connectionIds.get(key) ?? new Set<string>();
    for (const row of await this.connectionsOf(user, server)) if (row.id) ids.add(String(row.id));
    this.connectionIds.set(key, ids);
  }

  async alive(what: string) {
    assert.equal(this.gw.proc.exitCode, null, `${what}: the gateway exited`);
    assert.equal(this.gw.proc.signalCode, null, `${what}: the gateway was killed`);
    const h = await fetch(`${this.gw.url}/healthz`);
    await h.arrayBuffer();
    assert.equal(h.status, 200, `${what}: /healthz`);
  }

  async leaks(): Promise<string[]> {
    return crossings(await this.up.records(), await this.up.secrets(this.configured));
  }

  /** Crossings not reported yet: each test answers for what happened since the last check. */
  async assertNoCrossing(what: string) {
    const fresh = (await this.leaks()).filter((l) => !this.reported.has(l));
    for (const l of fresh) this.reported.add(l);
    assert.deepEqual(fresh, [], `${what}: credentials reached a place that does not own them`);
  }

  /**
   * The gateway's used heap after a full garbage collection, through its inspector (the gateway
   * runs with --inspect on a loopback port for this): without the collection the heap is a saw
   * tooth of some hundred MiB that says nothing about growth.
   */
  async heapAfterGc(): Promise<number> {
    const list = (await (await fetch(`http://127.0.0.1:${this.inspectPort}/json/list`)).json()) as any[];
    const ws = new WebSocket(list[0].webSocketDebuggerUrl);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    const pending = new Map<number, (v: any) => void>();
    ws.onmessage = (m) => {
      const msg = JSON.parse(String(m.data));
      pending.get(msg.id)?.(msg.result);
    };
    let id = 0;
    const send = (method: string) =>
      new Promise<any>((resolve) => {
        pending.set(++id, resolve);
        ws.send(JSON.stringify({ id, method }));
      });
    try {
      await send("HeapProfiler.collectGarbage");
      await send("HeapProfiler.collectGarbage");
      return (await send("Runtime.getHeapUsage")).usedSize as number;
    } finally {
      ws.close();
    }
  }
}

function textOf(page: Page | undefined): string {
  if (!page) return "";
  return page.html
    .replace(/<style[\s\S]*?<\/style>/gi, " ")
    .replace(/<[^>]+>/g, " ")
    .replace(/\s+/g, " ")
    .trim();
}

function looksConnected(page: Page | undefined): boolean {
  if (!page || page.status >= 400) return false;
  const text = textOf(page);
  if (/(error|invalid|refused|denied|expired|failed|not connected|mismatch|changed)/i.test(text))
    return false;
  return /connected/i.test(text);
}

/** The answer to a refused call: never a result, a documented code, a short message, our own link. */
function assertFailClosed(bench: Bench, a: Answer, what: string) {
  assert.equal(a.result, undefined, `${what}: answered as a success: ${a.result?.slice(0, 200)}`);
  assert.ok(
    a.code !== undefined && DOCUMENTED.has(a.code),
    `${what}: expected a documented JSON-RPC error (-32001…-32007), got HTTP ${a.status} ${a.text.slice(0, 300)}`,
  );
  assert.ok(
    (a.message ?? "").length <= MAX_MESSAGE,
    `${what}: a ${(a.message ?? "").length}-character message`,
  );
  if (a.code === AUTH_REQUIRED) {
    assert.ok(a.url, `${what}: -32007 without data.url`);
    assert.equal(
      new URL(a.url).origin,
      new URL(bench.gw.url).origin,
      `${what}: data.url is not the gateway's`,
    );
  }
}

function assertReconnect(bench: Bench, a: Answer, what: string) {
  assertFailClosed(bench, a, what);
  assert.equal(a.code, AUTH_REQUIRED, `${what}: expected -32007 reconnect_required, got ${brief(a)}`);
  assert.equal(a.reason, "reconnect_required", `${what}: reason ${a.reason}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Plays the attacker after a mix-up: if the attacker's token endpoint received a code of
 * `victimAs` with its PKCE verifier, redeem it at `victimAs` with the gateway's client id there.
 * Returns what happened, for the failure message (undefined when nothing reached the attacker).
 */
async function redeemStolenCode(server: string, victimAs: string, attackerAs: string, gwClient: string) {
  const got = (await bench.up.records()).find(
    (r) =>
      r.place?.as === attackerAs &&
      r.place?.endpoint === "token" &&
      String(r.params?.code ?? "").startsWith(`code.${victimAs}.`),
  );
  if (!got) return undefined;
  const p = got.params;
  const res = await fetch(`${bench.up.main}/ep/${victimAs}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", "x-canary": "1" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: p.code,
      code_verifier: p.code_verifier ?? "",
      redirect_uri: p.redirect_uri ?? "",
      client_id: gwClient,
    }).toString(),
  });
  const body = (await res.json().catch(() => ({}))) as { access_token?: string };
  const register = (await bench.up.records()).find(
    (r) => r.place?.as === victimAs && r.place?.endpoint === "register",
  );
  let method = "?";
  try {
    method = JSON.parse(register?.body ?? "{}").token_endpoint_auth_method ?? "none";
  } catch {
    /* unknown */
  }
  return (
    `${server}: the attacker's token endpoint got ${victimAs}'s code with code_verifier=${p.code_verifier ? "yes" : "no"}; ` +
    `the gateway's client at ${victimAs} is ${method}; redeeming it there: HTTP ${res.status}` +
    (body.access_token ? `, an access token for ${victimAs} (${body.access_token.slice(0, 12)}…)` : "")
  );
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

interface Look {
  name: string;
  /** The attacker's issuer as the metadata names it, for tenant `t`. */
  issuer(up: Upstream, t: string): string;
  /** Options of the attacker's AS (meta overrides, dcr, cimd). */
  as?(up: Upstream, t: string): Record<string, unknown>;
  /** The control: a plain move, which must be followed by a working reconnect at the new AS. */
  control?: boolean;
}

const LOOKS: Look[] = [
  { name: "another origin (control)", issuer: (up, t) => `${up.alt}/evil/${t}`, control: true },
  { name: "trailing slash", issuer: (up, t) => `${up.as1(t)}/` },
  { name: "path in upper case", issuer: (up, t) => `${up.main}/AS/${t.toUpperCase()}` },
  { name: "LOCALHOST for 127.0.0.1", issuer: (up, t) => `http://LOCALHOST:${up.port}/as/${t}` },
  { name: "another port, same path", issuer: (up, t) => `${up.alt}/as/${t}` },
  { name: "a longer path", issuer: (up, t) => `${up.as1(t)}/evil` },
  { name: "a sibling path", issuer: (up, t) => `${up.as1(t)}x` },
  { name: "https for http, same port", issuer: (up, t) => `https://127.0.0.1:${up.port}/as/${t}` },
  { name: "userinfo before the host", issuer: (up, t) => `http://evil:pw@127.0.0.1:${up.port}/as/${t}` },
  { name: "IDN host (U+217C for l)", issuer: (up, t) => `http://\u217Cocalhost:${up.port}/as/${t}` },
  { name: "IDN path (Cyrillic a)", issuer: (up, t) => `${up.main}/\u0430s/${t}` },
  {
    name: "fullwidth digits, alt port",
    issuer: (up, t) => `http://\uFF11\uFF12\uFF17.\uFF10.\uFF10.\uFF11:${up.altPort}/as/${t}`,
  },
  {
    name: "percent-encoded letter",
    issuer: (up, t) => `${up.main}/as/%${t.charCodeAt(0).toString(16)}${t.slice(1)}`,
  },
  { name: "a query", issuer: (up, t) => `${up.as1(t)}?evil=1` },
  { name: "a fragment", issuer: (up, t) => `${up.as1(t)}#evil` },
  {
    name: "forged issuer: AS1's name on another origin's metadata",
    issuer: (up, t) => `${up.alt}/evil/${t}`,
    as: (up, t) => ({ meta: { issuer: up.as1(t) } }),
  },
  {
    name: "forged issuer: AS1's name at its trailing-slash look-alike",
    issuer: (up, t) => `${up.as1(t)}/`,
    as: (up, t) => ({ meta: { issuer: up.as1(t) } }),
  },
  {
    name: "attacker offers no registration and no CIMD",
    issuer: (up, t) => `${up.alt}/evil/${t}`,
    as: () => ({ dcr: false, cimd: false }),
  },
  {
    name: "attacker takes CIMD only",
    issuer: (up, t) => `${up.alt}/evil/${t}`,
    as: () => ({ dcr: false, cimd: true }),
  },
];

/** Servers with a configured client and auth.issuer = AS1, whose metadata names a look-alike from the start. */
const PINNED_LOOKS = [1, 2, 3, 7, 11, 12, 16].map((i) => ({
  server: `pl${String(i).padStart(2, "0")}`,
  look: LOOKS[i]!,
}));

const lookTenants = (i: number) => {
  const n = String(i).padStart(2, "0");
  return { d: `l${n}d`, c: `l${n}c` };
};

interface Confusion {
  name: string;
  /** The tenant options that make the confusion (accept: [] refuses Alice's token). */
  tenant(up: Upstream, t: string): Record<string, unknown>;
  /** The attacker AS to define first, if any. */
  as?(up: Upstream, t: string): { issuer: string; opts?: Record<string, unknown> };
  /** Metadata that cannot be read: -32005 and the connection left as it was (documented). */
  unreadable?: boolean;
  /** Paths on the alt port that must never be fetched (a redirect's target). */
  neverFetched?: (up: Upstream, t: string) => string;
  /** At most a handful of authorization server metadata fetches. */
  fewFetches?: boolean;
}

const evilAt = (up: Upstream, t: string) => `${up.alt}/evil/${t}`;
const prmPath = (t: string) => `/.well-known/oauth-protected-resource/r/${t}/mcp`;

const CONFUSIONS: Confusion[] = [
  {
    name: "several: [AS1, attacker]",
    as: (up, t) => ({ issuer: evilAt(up, t) }),
    tenant: (up, t) => ({ servers: [up.as1(t), evilAt(up, t)], accept: [`${t}.evil`] }),
  },
  {
    name: "several: [attacker, AS1]",
    as: (up, t) => ({ issuer: evilAt(up, t) }),
    tenant: (up, t) => ({ servers: [evilAt(up, t), up.as1(t)], accept: [`${t}.evil`] }),
  },
  {
    name: "several: AS1 twice, differently spelled",
    tenant: (up, t) => ({ servers: [up.as1(t), `${up.as1(t)}/`], accept: [] }),
  },
  { name: "none: []", tenant: () => ({ servers: [], accept: [] }) },
  {
    name: "none: the key missing",
    tenant: () => ({ prm: { over: { authorization_servers: null } }, accept: [] }),
  },
  {
    name: "ill-typed: a string",
    tenant: (up, t) => ({ prm: { over: { authorization_servers: up.as1(t) } }, accept: [] }),
  },
  { name: "ill-typed: [42, null, {}]", tenant: () => ({ servers: [42, null, {}], accept: [] }) },
  {
    name: "ill-typed: an object",
    tenant: (up, t) => ({ prm: { over: { authorization_servers: { 0: up.as1(t) } } }, accept: [] }),
  },
  { name: "not a URL: ['']", tenant: () => ({ servers: [""], accept: [] }) },
  { name: "not a URL: ['not a url']", tenant: () => ({ servers: ["not a url"], accept: [] }) },
  { name: "javascript: URL", tenant: () => ({ servers: ["javascript:alert(1)"], accept: [] }) },
  { name: "file: URL", tenant: () => ({ servers: ["file:///etc/passwd"], accept: [] }) },
  {
    name: "cloud metadata IP",
    tenant: () => ({ servers: ["http://169.254.169.254/latest/meta-data"], accept: [] }),
  },
  {
    name: "cloud metadata IP, IPv4-mapped IPv6",
    tenant: () => ({ servers: ["http://[::ffff:a9fe:a9fe]/as"], accept: [] }),
  },
  {
    name: "plain http to a non-loopback host",
    tenant: () => ({ servers: ["http://10.255.255.1/as"], accept: [] }),
  },
  {
    name: "malformed JSON",
    unreadable: true,
    tenant: () => ({ prm: { raw: '{"resource": "x", "authorization_servers": [' }, accept: [] }),
  },
  { name: "empty body", unreadable: true, tenant: () => ({ prm: { raw: "" }, accept: [] }) },
  {
    name: "HTML",
    unreadable: true,
    tenant: () => ({ prm: { raw: "<html><body>moved</body></html>", contentType: "text/html" }, accept: [] }),
  },
  {
    name: "a JSON array",
    unreadable: true,
    tenant: (up, t) => ({
      prm: { raw: JSON.stringify([{ resource: up.url(t), authorization_servers: [evilAt(up, t)] }]) },
      accept: [],
    }),
  },
  { name: "JSON null", unreadable: true, tenant: () => ({ prm: { raw: "null" }, accept: [] }) },
  {
    name: "status 500",
    unreadable: true,
    tenant: () => ({ prm: { status: 500, raw: '{"error":"oops"}' }, accept: [] }),
  },
  {
    name: "status 404",
    unreadable: true,
    tenant: () => ({ prm: { status: 404, raw: '{"error":"gone"}' }, accept: [] }),
  },
  {
    name: "huge: 8 MiB of valid JSON naming the attacker",
    unreadable: true,
    as: (up, t) => ({ issuer: evilAt(up, t) }),
    tenant: (up, t) => ({ servers: [evilAt(up, t)], prm: { bytes: 8 << 20 }, accept: [] }),
  },
  {
    name: "huge: 64 MiB streamed",
    unreadable: true,
    as: (up, t) => ({ issuer: evilAt(up, t) }),
    tenant: (up, t) => ({ servers: [evilAt(up, t)], prm: { bytes: 64 << 20 }, accept: [] }),
  },
  { name: "hangs", unreadable: true, tenant: () => ({ prm: { hang: true }, accept: [] }) },
  {
    name: "redirect 302 to the attacker's metadata",
    unreadable: true,
    as: (up, t) => ({ issuer: evilAt(up, t) }),
    tenant: (up, t) => ({
      prm: { status: 302, location: `${up.alt}${prmPath(t)}` },
      altServers: [evilAt(up, t)],
      accept: [],
    }),
    neverFetched: (_up, t) => prmPath(t),
  },
  {
    name: "redirect 307 to the attacker's metadata",
    unreadable: true,
    as: (up, t) => ({ issuer: evilAt(up, t) }),
    tenant: (up, t) => ({
      prm: { status: 307, location: `${up.alt}${prmPath(t)}` },
      altServers: [evilAt(up, t)],
      accept: [],
    }),
    neverFetched: (_up, t) => prmPath(t),
  },
  {
    name: "resource: another server's",
    as: (up, t) => ({ issuer: evilAt(up, t) }),
    tenant: (up, t) => ({
      servers: [evilAt(up, t)],
      prm: { over: { resource: up.url("cf00") } },
      accept: [],
    }),
  },
  {
    name: "resource: with a trailing slash",
    as: (up, t) => ({ issuer: evilAt(up, t) }),
    tenant: (up, t) => ({
      servers: [evilAt(up, t)],
      prm: { over: { resource: `${up.url(t)}/` } },
      accept: [],
    }),
  },
  {
    name: "resource: missing",
    as: (up, t) => ({ issuer: evilAt(up, t) }),
    tenant: (up, t) => ({ servers: [evilAt(up, t)], prm: { over: { resource: null } }, accept: [] }),
  },
  {
    name: "challenge: resource_metadata on another origin naming the attacker",
    as: (up, t) => ({ issuer: evilAt(up, t) }),
    tenant: (up, t) => ({
      challenge: `Bearer error="invalid_token", resource_metadata="${up.alt}${prmPath(t)}"`,
      altServers: [evilAt(up, t)],
      accept: [],
    }),
  },
  {
    name: "challenge: resource_metadata at the cloud metadata IP",
    tenant: () => ({
      challenge: 'Bearer error="invalid_token", resource_metadata="http://169.254.169.254/latest/meta-data/"',
      accept: [],
    }),
  },
  {
    name: "new AS: no S256",
    as: (up, t) => ({
      issuer: evilAt(up, t),
      opts: { meta: { code_challenge_methods_supported: ["plain"] } },
    }),
    tenant: (up, t) => ({ servers: [evilAt(up, t)], accept: [] }),
  },
  {
    name: "new AS: another issuer in its metadata",
    as: (up, t) => ({ issuer: evilAt(up, t), opts: { meta: { issuer: `${up.alt}/someone-else` } } }),
    tenant: (up, t) => ({ servers: [evilAt(up, t)], accept: [] }),
  },
  {
    name: "new AS: metadata 404",
    as: (up, t) => ({ issuer: evilAt(up, t), opts: { metaStatus: 404, metaRaw: '{"error":"nope"}' } }),
    tenant: (up, t) => ({ servers: [evilAt(up, t)], accept: [] }),
  },
  {
    name: "new AS: metadata not JSON",
    as: (up, t) => ({ issuer: evilAt(up, t), opts: { metaRaw: "{{{{" } }),
    tenant: (up, t) => ({ servers: [evilAt(up, t)], accept: [] }),
  },
  {
    name: "new AS: endpoints at the metadata IP and javascript:",
    as: (up, t) => ({
      issuer: evilAt(up, t),
      opts: {
        meta: {
          token_endpoint: "http://169.254.169.254/token",
          authorization_endpoint: "javascript:alert(1)",
        },
      },
    }),
    tenant: (up, t) => ({ servers: [evilAt(up, t)], accept: [] }),
  },
  {
    name: "new AS: plain http endpoints off loopback",
    as: (up, t) => ({
      issuer: evilAt(up, t),
      opts: {
        meta: {
          token_endpoint: "http://10.255.255.1/token",
          authorization_endpoint: "http://10.255.255.1/authorize",
        },
      },
    }),
    tenant: (up, t) => ({ servers: [evilAt(up, t)], accept: [] }),
  },
];

CONFUSIONS.push(
  {
    name: "new AS: its metadata redirects to AS1's",
    as: (up, t) => ({
      issuer: evilAt(up, t),
      opts: { metaStatus: 302, metaLocation: `${up.main}/.well-known/oauth-authorization-server/as/${t}` },
    }),
    tenant: (up, t) => ({ servers: [evilAt(up, t)], accept: [] }),
  },
  {
    name: "10,000 authorization servers",
    tenant: (up, t) => ({
      servers: Array.from({ length: 10_000 }, (_, i) => `${up.alt}/many/${t}/${i}`),
      accept: [],
    }),
    fewFetches: true,
  },
);

const confTenant = (i: number) => `cf${String(i).padStart(2, "0")}`;

const ISOLATION = ["isoa", "isob", "isou", "isot", "isots"];
const FLOOD = ["flood", "floodsame", "floodlong", "steady"];
const INFLIGHT = ["fld", "flc"];
const PINNED_ISSUER = "pini";

const bench = new Bench();

describe(
  "held-out: an oauth_user server that moves to another authorization server",
  { timeout: 1_800_000 },
  () => {
    before(async () => {
      await bench.startFixture();
      const servers: ServerSpec[] = [];
      LOOKS.forEach((_, i) => {
        const { d, c } = lookTenants(i);
        servers.push({ name: d }, { name: c, configured: true });
      });
      CONFUSIONS.forEach((_, i) => servers.push({ name: confTenant(i) }));
      servers.push(
        ...ISOLATION.map((name) => ({ name, ...(name === "isots" ? { isolation: "shared" } : {}) })),
        ...FLOOD.map((name) => ({ name })),
        { name: "fld" },
        { name: "flc", configured: true },
        { name: PINNED_ISSUER, configured: true, issuer: bench.up.as1(PINNED_ISSUER) },
        { name: "cfx" },
        { name: "mx1" },
        { name: "mx2" },
        { name: "mx3" },
        { name: "mx4" },
        ...PINNED_LOOKS.map(({ server }) => ({
          name: server,
          configured: true,
          issuer: bench.up.as1(server),
        })),
      );
      // isoa and isob are two servers on one authorization server (a shared IdP).
      // The look-alike servers' AS1 tokens expire within the refresh margin: every use refreshes.
      for (const s of servers) await bench.up.setTenant(s.name, {});
      for (let i = 0; i < LOOKS.length; i++) {
        const { d, c } = lookTenants(i);
        for (const t of [d, c]) await bench.up.defineAs(`${t}.a1`, bench.up.as1(t), { expiresIn: 30 });
      }
      for (const t of INFLIGHT) await bench.up.defineAs(`${t}.a1`, bench.up.as1(t), { expiresIn: 30 });
      const shared = `${bench.up.main}/as/isoshared`;
      await bench.up.defineAs("isoshared.a1", shared);
      for (const t of ["isoa", "isob"])
        await bench.up.setTenant(t, { servers: [shared], accept: ["isoshared.a1"] });
      // The pinned-issuer server names the attacker from the very first discovery.
      await bench.up.defineAs(`${PINNED_ISSUER}.evil`, evilAt(bench.up, PINNED_ISSUER));
      await bench.up.setTenant(PINNED_ISSUER, {
        servers: [evilAt(bench.up, PINNED_ISSUER)],
        accept: [`${PINNED_ISSUER}.evil`],
      });
      // mx3's AS1 does not send RFC 9207 `iss` (and says so); mx4 names an attacker's AS (no iss either)
      // from the start.
      await bench.up.defineAs("mx3.a1", bench.up.as1("mx3"), { iss: false });
      await bench.up.defineAs("mx4.evil", evilAt(bench.up, "mx4"), { iss: false });
      await bench.up.setTenant("mx4", { servers: [evilAt(bench.up, "mx4")], accept: ["mx4.evil"] });
      for (const { server, look } of PINNED_LOOKS) {
        const issuer = look.issuer(bench.up, server);
        await bench.up.defineAs(`${server}.evil`, issuer, look.as?.(bench.up, server) ?? {});
        await bench.up.setTenant(server, { servers: [issuer], accept: [`${server}.evil`] });
      }
      await bench.startGateway(servers);
    });

    after(async () => {
      await bench.gw?.stop();
      await bench.up.stop();
    });

    // -------------------------------------------------------------------------------------------
    describe("1. credential theft by a hostile upstream", () => {
      test("harness: the invariant sees a configured secret and a refresh token sent to the wrong AS", async () => {
        const { c } = lookTenants(0);
        const cfg = bench.configured.get(c)!;
        await bench.up.defineAs("canary.evil", `${bench.up.alt}/evil/canary`);
        const basic = Buffer.from(`${encodeURIComponent(cfg.id)}:${encodeURIComponent(cfg.secret)}`).toString(
          "base64",
        );
        const r = await fetch(`${bench.up.alt}/ep/canary.evil/token`, {
          method: "POST",
          headers: {
            "x-canary": "1",
            authorization: `Basic ${basic}`,
            "content-type": "application/x-www-form-urlencoded",
          },
          body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: "not-issued" }).toString(),
        });
        await r.arrayBuffer();
        const found = crossings(await bench.up.records(), await bench.up.secrets(bench.configured), true);
        assert.ok(
          found.some((f) => f.startsWith(`client_secret of ${c}.a1`) && f.includes("canary.evil token")),
          found.join("; "),
        );
        assert.ok(
          found.some((f) => f.startsWith(`client_id of ${c}.a1`)),
          found.join("; "),
        );
        await bench.assertNoCrossing("the canary is excluded from the real check");
      });

      LOOKS.forEach((look, i) => {
        test(`moves to ${look.name}`, async (t: TestContext) => {
          const { d, c } = lookTenants(i);
          await bench.connect("alice", d);
          await bench.connect("bob", d);
          await bench.connect("mallory", d);
          await bench.connect("alice", c);
          await bench.assertNoCrossing(`${look.name}: before the move`);

          for (const tenant of [d, c]) {
            const issuer = look.issuer(bench.up, tenant);
            await bench.up.defineAs(`${tenant}.evil`, issuer, look.as?.(bench.up, tenant) ?? {});
            await bench.up.setTenant(tenant, { servers: [issuer], accept: [`${tenant}.evil`] });
          }
          const issuerD = look.issuer(bench.up, d);
          const issuerC = look.issuer(bench.up, c);

          const a = await bench.call("alice", d, `${look.name}: alice after the move`);
          assertFailClosed(bench, a, `${look.name}: alice at ${d}`);
          // Bob's token is due for refresh: the refresh itself must not go to the new AS.
          const b = await bench.call("bob", d, `${look.name}: bob after the move`);
          assertFailClosed(bench, b, `${look.name}: bob at ${d}`);
          const ac = await bench.call("alice", c, `${look.name}: alice (configured client) after the move`);
          assertFailClosed(bench, ac, `${look.name}: alice at ${c}`);
          if (look.control) {
            assertReconnect(bench, a, `control: alice at ${d}`);
            assertReconnect(bench, b, `control: bob at ${d}`);
            assertReconnect(bench, ac, `control: alice at ${c}`);
          }
          for (const [user, server, ans, to] of [
            ["alice", d, a, issuerD],
            ["bob", d, b, issuerD],
            ["alice", c, ac, issuerC],
          ] as const) {
            if (ans.reason === "reconnect_required")
              bench.changes.push({ user, server, from: bench.up.as1(server), to });
          }

          // The operator revokes Mallory's connection (never refused: the CLI process discovers on
          // its own) and Bob's (broken) through the admin API, while the server names the attacker.
          const rv = await bench.cli("connections", "revoke", "--user", "mallory", "--server", d);
          assert.equal(rv.code, 0, `connections revoke: ${rv.stderr}`);
          bench.revoked.push({ user: "mallory", server: d });
          const admin = await bench.mint("ops", "warden:admin");
          const api = await fetch(`${bench.gw.url}/admin/api/connections/revoke`, {
            method: "POST",
            headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
            body: JSON.stringify({ user: "bob", server: d, reason: "held-out attack" }),
          });
          const apiText = await api.text();
          assert.ok(
            [200, 404].includes(api.status),
            `admin revoke: HTTP ${api.status} ${apiText.slice(0, 200)}`,
          );
          if (api.status === 200) bench.revoked.push({ user: "bob", server: d });

          // Alice follows her links: the flow goes wherever the server now points, never with AS1's
          // client, secret or tokens.
          const outcomes: string[] = [];
          for (const [server, ans] of [
            [d, a],
            [c, ac],
          ] as const) {
            if (!ans.url) {
              outcomes.push(`${server}: ${brief(ans)}; no link`);
              continue;
            }
            const f = await bench.flow("alice", server, ans.url);
            outcomes.push(
              `${server}: ${brief(ans)}; flow → ${f.endpoint ?? "(stayed on the gateway)"} client_id=${f.clientId ?? "-"} ` +
                `connected=${f.connected}${f.redirect ? "" : `; page: ${f.lastText.slice(0, 160)}`}`,
            );
            const cfg = bench.configured.get(server);
            if (f.redirect && f.endpoint && !f.endpoint.includes(`/ep/${server}.a1/`)) {
              assert.notEqual(
                f.clientId,
                cfg?.id,
                `${look.name}: the configured client went to ${f.endpoint}`,
              );
            }
            if (f.connected) {
              await bench.rememberConnection("alice", server);
              const me = await bench.call("alice", server, `${look.name}: alice after reconnecting`);
              assert.match(
                me.result ?? "",
                new RegExp(`"user":"alice@${server}"`),
                `${look.name}: ${brief(me)}`,
              );
            }
            if (look.control) {
              assert.ok(f.connected, `control: alice reconnects at the new AS (${server}): ${f.lastText}`);
              assert.ok(
                f.endpoint?.includes(`/ep/${server}.evil/`),
                `control: the flow went to ${f.endpoint}`,
              );
            }
          }
          // Carol never connected: her first connect after the move, at both servers.
          for (const server of [d, c]) {
            const first = await bench.call(
              "carol",
              server,
              `${look.name}: carol's first call after the move`,
            );
            assertFailClosed(bench, first, `${look.name}: carol at ${server}`);
            if (!first.url) {
              outcomes.push(`carol ${server}: ${brief(first)}`);
              continue;
            }
            const f = await bench.flow("carol", server, first.url);
            outcomes.push(
              `carol ${server}: flow → ${f.endpoint ?? "(stayed)"} client_id=${f.clientId ?? "-"} connected=${f.connected}`,
            );
            const cfg = bench.configured.get(server);
            if (f.endpoint && !f.endpoint.includes(`/ep/${server}.a1/`))
              assert.notEqual(
                f.clientId,
                cfg?.id,
                `${look.name}: carol's flow presented the configured client at ${f.endpoint}`,
              );
            if (f.connected) await bench.rememberConnection("carol", server);
          }
          const revokes = (await bench.up.records())
            .filter(
              (r) => r.place?.endpoint === "revoke" && [d, c].some((x) => r.place.as.startsWith(`${x}.`)),
            )
            .map((r) => r.place.as);
          outcomes.push(`revocation requests at: [${revokes.join(", ")}]`);
          t.diagnostic(outcomes.join(" | "));
          await bench.assertNoCrossing(look.name);
          await bench.alive(look.name);
        });
      });

      const mixups = [
        { server: "mx1", name: "the new AS says it sends iss; AS1's answer carries AS1's iss" },
        { server: "mx2", name: "the new AS says it sends no iss; AS1's answer carries AS1's iss" },
        { server: "mx3", name: "neither AS sends iss (RFC 9207 absent everywhere)" },
      ];
      for (const mx of mixups) {
        test(`mix-up after the move (${mx.name}): AS1's code is never exchanged at the new AS`, async (t) => {
          const server = mx.server;
          await bench.connect("alice", server);
          const as1Client = (await bench.up.issued()).clients.find(
            (x) => x.as === `${server}.a1` && x.kind === "dcr",
          )?.client_id;
          assert.ok(as1Client, "the gateway registered at AS1");
          const evil = evilAt(bench.up, server);
          await bench.up.defineAs(`${server}.evil`, evil, mx.server === "mx1" ? {} : { iss: false });
          await bench.up.setTenant(server, { servers: [evil], accept: [`${server}.evil`] });
          const a = await bench.call("alice", server, "mix-up: refused after the move");
          assertReconnect(bench, a, `alice at ${server}`);
          bench.changes.push({ user: "alice", server, from: bench.up.as1(server), to: evil });
          const w = await bench.walk("alice", a.url!);
          assert.ok(
            w.redirect?.pathname.includes(`/ep/${server}.evil/`),
            `the flow goes to the new AS: ${w.redirect?.href}`,
          );
          // The attacker sends Alice's browser on to AS1 with the gateway's AS1 client id (client ids
          // are not secret to the AS's users), the gateway's redirect URI, state and PKCE challenge.
          const q = w.redirect!.searchParams;
          const at1 = new URL(`${bench.up.main}/ep/${server}.a1/authorize`);
          for (const k of [
            "response_type",
            "redirect_uri",
            "state",
            "code_challenge",
            "code_challenge_method",
            "scope",
            "resource",
          ])
            if (q.get(k) !== null) at1.searchParams.set(k, q.get(k)!);
          at1.searchParams.set("client_id", as1Client);
          at1.searchParams.set("upstream_user", `alice@${server}`);
          const back = await getNoFollow(at1);
          assert.ok(back.location, `AS1 approved: HTTP ${back.status} ${back.text.slice(0, 200)}`);
          const landed = await bench.land("alice", new URL(back.location));
          t.diagnostic(
            `landing AS1's answer on the new AS's flow: HTTP ${landed.page?.status} ${textOf(landed.page).slice(0, 160)}`,
          );
          assert.equal(landed.connected, false, "a code from AS1 completed a flow begun at the new AS");
          const stolen = await redeemStolenCode(server, `${server}.a1`, `${server}.evil`, as1Client);
          if (stolen) t.diagnostic(stolen);
          await bench.assertNoCrossing(`mix-up ${server}${stolen ? ` (${stolen})` : ""}`);
        });
      }

      test("mix-up at a first connect (no move): a server naming the attacker from the start steals a code of another server's AS", async (t) => {
        // mx3's AS1 sends no iss; Alice connected there above (the gateway's client there is known).
        const victimAs = "mx3.a1";
        const gwClient = (await bench.up.issued()).clients.find(
          (x) => x.as === victimAs && x.kind === "dcr",
        )?.client_id;
        assert.ok(gwClient, "the gateway registered at mx3's AS1 (the mix-up test above ran)");
        const server = "mx4";
        const a = await bench.call("alice", server, "mix-up at a first connect");
        assert.equal(a.code, AUTH_REQUIRED, brief(a));
        const w = await bench.walk("alice", a.url!);
        assert.ok(
          w.redirect?.pathname.includes(`/ep/${server}.evil/`),
          `the flow goes to mx4's AS: ${w.redirect?.href}`,
        );
        const q = w.redirect!.searchParams;
        const at1 = new URL(`${bench.up.main}/ep/${victimAs}/authorize`);
        for (const k of [
          "response_type",
          "redirect_uri",
          "state",
          "code_challenge",
          "code_challenge_method",
          "scope",
        ])
          if (q.get(k) !== null) at1.searchParams.set(k, q.get(k)!);
        at1.searchParams.set("resource", bench.up.url("mx3"));
        at1.searchParams.set("client_id", gwClient);
        at1.searchParams.set("upstream_user", "alice@mx3");
        const back = await getNoFollow(at1);
        assert.ok(back.location, `mx3's AS1 approved: HTTP ${back.status}`);
        const landed = await bench.land("alice", new URL(back.location));
        t.diagnostic(`landing: HTTP ${landed.page?.status} ${textOf(landed.page).slice(0, 160)}`);
        assert.equal(landed.connected, false, "a code from another server's AS completed mx4's flow");
        const stolen = await redeemStolenCode(server, victimAs, `${server}.evil`, gwClient);
        if (stolen) t.diagnostic(stolen);
        await bench.assertNoCrossing(`mix-up at a first connect${stolen ? ` (${stolen})` : ""}`);
      });

      test("auth.issuer with look-alike issuers from the first discovery: the configured client stays home", async (t) => {
        const lines: string[] = [];
        for (const { server, look } of PINNED_LOOKS) {
          const a = await bench.call("alice", server, `auth.issuer vs ${look.name}`);
          assertFailClosed(bench, a, `auth.issuer vs ${look.name}`);
          if (!a.url) {
            lines.push(`${look.name}: ${brief(a)}`);
            continue;
          }
          const f = await bench.flow("alice", server, a.url);
          lines.push(
            `${look.name}: flow → ${f.endpoint ?? "(stayed)"} client_id=${f.clientId ?? "-"} connected=${f.connected}`,
          );
          if (f.endpoint && !f.endpoint.includes(`/ep/${server}.a1/`))
            assert.notEqual(
              f.clientId,
              bench.configured.get(server)!.id,
              `${look.name}: the configured client went to ${f.endpoint}`,
            );
        }
        t.diagnostic(lines.join(" | "));
        await bench.assertNoCrossing("auth.issuer look-alikes");
      });

      test("a connect flow begun at AS1 and finished after the move is refused, its code never taken elsewhere", async (t) => {
        for (const server of INFLIGHT) await bench.connect("alice", server);
        const pending: { server: string; callback: URL | undefined }[] = [];
        for (const server of INFLIGHT) {
          const first = await bench.call("carol", server, "carol's first call");
          assert.equal(first.code, AUTH_REQUIRED, brief(first));
          const w = await bench.walk("carol", first.url!);
          assert.ok(
            w.redirect?.pathname.includes(`/ep/${server}.a1/`),
            `carol's flow at ${server} goes to AS1`,
          );
          pending.push({ server, callback: await bench.approve(w.redirect!, `carol@${server}`) });
        }
        for (const server of INFLIGHT) {
          const issuer = evilAt(bench.up, server);
          await bench.up.defineAs(`${server}.evil`, issuer);
          await bench.up.setTenant(server, { servers: [issuer], accept: [`${server}.evil`] });
          const a = await bench.call("alice", server, "alice tells the gateway of the move");
          assertReconnect(bench, a, `alice at ${server}`);
          bench.changes.push({ user: "alice", server, from: bench.up.as1(server), to: issuer });
        }
        for (const { server, callback } of pending) {
          assert.ok(callback, `AS1 approved carol at ${server}`);
          const landed = await bench.land("carol", callback);
          t.diagnostic(
            `${server}: landing after the move: HTTP ${landed.page?.status} ${textOf(landed.page).slice(0, 160)}`,
          );
          assert.equal(landed.connected, false, `${server}: a flow from the old AS connected after the move`);
          bench.connectRefused.push({ user: "carol", server });
          const after = await bench.call("carol", server, "carol after the refused landing");
          assertFailClosed(bench, after, `carol at ${server}`);
        }
        await bench.assertNoCrossing("in-flight flows");
      });

      test("a client configured with auth.issuer is never sent to the AS the server named from the start", async (t) => {
        const a = await bench.call("alice", PINNED_ISSUER, "first call at the pinned-issuer server");
        assert.equal(a.code, AUTH_REQUIRED, brief(a));
        const f = await bench.flow("alice", PINNED_ISSUER, a.url!);
        t.diagnostic(
          `flow → ${f.endpoint ?? "(stayed)"} client_id=${f.clientId ?? "-"} connected=${f.connected}: ${f.lastText.slice(0, 160)}`,
        );
        assert.notEqual(
          f.clientId,
          bench.configured.get(PINNED_ISSUER)!.id,
          "the configured client went to the attacker",
        );
        await bench.assertNoCrossing("auth.issuer");
      });
    });

    // -------------------------------------------------------------------------------------------
    describe("2. flood and amplification", () => {
      test("every token refused, metadata flipping on each read: bounded reads, bystanders fine, heap flat", async (t) => {
        for (const u of FLOODERS) await bench.connect(u, "flood");
        for (const u of ["alice", "bob"]) await bench.connect(u, "steady");
        const evilA = `${bench.up.alt}/evil/flood-a`;
        const evilB = `${bench.up.alt}/evil/flood-b`;
        await bench.up.defineAs("flood.evila", evilA);
        await bench.up.defineAs("flood.evilb", evilB);
        const flips = [
          [evilA],
          [bench.up.as1("flood")],
          [evilB],
          [`${bench.up.as1("flood")}/`],
          [evilA, evilB],
        ];
        const since = (await bench.up.records()).length;
        const readsBefore = await bench.up.prmReads("flood");
        await bench.up.setTenant("flood", { deny401: true, flip: flips });
        const started = Date.now();

        const heap: number[] = [];
        let calls = 0;
        const codes = new Map<string, number>();
        const WAVES = 10;
        const PER_USER = 30;
        for (let w = 0; w < WAVES; w++) {
          const flood = FLOODERS.flatMap((u) =>
            Array.from({ length: PER_USER }, () => bench.call(u, "flood", "flood").then((x) => ({ u, x }))),
          );
          const steady = Array.from({ length: 10 }, (_, i) => {
            const u = i % 2 ? "alice" : "bob";
            return bench.call(u, "steady", "bystander during the flood").then((x) => ({ u, x }));
          });
          const [f, s] = await Promise.all([Promise.all(flood), Promise.all(steady)]);
          calls += f.length;
          for (const { u, x } of f) {
            assertFailClosed(bench, x, "a flooded call");
            if (
              x.reason === "reconnect_required" &&
              !bench.changes.some((c) => c.user === u && c.server === "flood")
            )
              bench.changes.push({ user: u, server: "flood", from: bench.up.as1("flood"), to: evilA });
            const k = `${x.code} ${x.reason ?? ""}`;
            codes.set(k, (codes.get(k) ?? 0) + 1);
          }
          for (const { u, x } of s)
            assert.match(
              x.result ?? "",
              new RegExp(`"user":"${u}@steady"`),
              `bystander ${u} during wave ${w}: ${brief(x)}`,
            );
          if (w === 1 || w === WAVES - 1) heap.push(await bench.heapAfterGc());
        }
        const elapsed = Date.now() - started;
        const reads = (await bench.up.prmReads("flood")) - readsBefore;
        const bound = Math.floor(elapsed / REREAD_EVERY_MS) + 1;
        const recs = (await bench.up.records()).slice(since);
        // A re-read starts with an unauthenticated request for the server's 401: one per read.
        const mcpRequests = recs.filter((r) => r.place?.kind === "mcp" && r.place.tenant === "flood").length;
        const tokenRequests = recs.filter(
          (r) => r.place?.kind === "as" && /^flood\./.test(r.place.as) && r.place.endpoint === "token",
        ).length;
        const evilMeta = recs.filter(
          (r) => r.place?.kind === "as" && /^flood\.evil/.test(r.place.as) && r.place.endpoint === "metadata",
        ).length;
        t.diagnostic(
          `${calls} calls in ${elapsed} ms: ${reads} metadata reads (bound ${bound}), ${mcpRequests} upstream MCP requests, ` +
            `${tokenRequests} token requests, ${evilMeta} attacker metadata reads; answers ${JSON.stringify([...codes])}; ` +
            `heap after GC ${heap.map((h) => (h / 1048576).toFixed(1)).join(" → ")} MiB`,
        );
        assert.ok(reads <= bound, `${reads} metadata re-reads in ${elapsed} ms: more than once a minute`);
        assert.ok(evilMeta <= bound * 2, `${evilMeta} reads of the attacker's AS metadata`);
        assert.ok(
          mcpRequests <= 2 * calls + reads,
          `${mcpRequests} upstream requests for ${calls} calls: amplified`,
        );
        assert.ok(tokenRequests <= calls, `${tokenRequests} token requests for ${calls} calls: amplified`);
        // Waves 3 to 10: 8 × 190 calls. A per-call leak of 2 KiB would show as 3 MiB.
        const growth = heap[1]! - heap[0]!;
        assert.ok(
          growth < 3 * 1048576,
          `the heap (after GC) grew ${(growth / 1048576).toFixed(1)} MiB over ${8 * (FLOODERS.length * PER_USER + 10)} calls`,
        );
        await bench.alive("flood");
        await bench.assertNoCrossing("flood");
      });

      test("every token refused by a server that did not move: -32005, one refresh at most per call, connections kept", async (t) => {
        for (const u of FLOODERS) await bench.connect(u, "floodsame");
        const since = (await bench.up.records()).length;
        const readsBefore = await bench.up.prmReads("floodsame");
        await bench.up.setTenant("floodsame", { deny401: true });
        const started = Date.now();
        const answers: Answer[] = [];
        const heap: number[] = [];
        const ROUNDS = 6;
        for (let round = 0; round < ROUNDS; round++) {
          answers.push(
            ...(await Promise.all(
              FLOODERS.flatMap((u) =>
                Array.from({ length: 25 }, () => bench.call(u, "floodsame", "refused, not moved")),
              ),
            )),
          );
          if (round === 0 || round === ROUNDS - 1) heap.push(await bench.heapAfterGc());
        }
        const elapsed = Date.now() - started;
        for (const x of answers) assertFailClosed(bench, x, "refused, not moved");
        const moved = answers.filter((x) => x.reason === "reconnect_required").length;
        const recs = (await bench.up.records()).slice(since);
        const tokenRequests = recs.filter(
          (r) => r.place?.kind === "as" && r.place.as === "floodsame.a1" && r.place.endpoint === "token",
        ).length;
        const mcpRequests = recs.filter(
          (r) => r.place?.kind === "mcp" && r.place.tenant === "floodsame",
        ).length;
        const reads = (await bench.up.prmReads("floodsame")) - readsBefore;
        t.diagnostic(
          `${answers.length} calls: ${reads} metadata reads, ${tokenRequests} token requests, ${mcpRequests} MCP requests, ` +
            `${moved} said reconnect_required; heap after GC ${heap.map((h) => (h / 1048576).toFixed(1)).join(" → ")} MiB`,
        );
        const growth = heap[1]! - heap[0]!;
        assert.ok(
          growth < 3 * 1048576,
          `the heap (after GC) grew ${(growth / 1048576).toFixed(1)} MiB over ${5 * 150} refused calls`,
        );
        assert.equal(moved, 0, "a server that did not move made the gateway say reconnect_required");
        assert.ok(reads <= Math.floor(elapsed / REREAD_EVERY_MS) + 1, `${reads} metadata re-reads`);
        assert.ok(
          tokenRequests <= answers.length,
          `${tokenRequests} token requests for ${answers.length} calls`,
        );
        assert.ok(
          mcpRequests <= 2 * answers.length + reads,
          `${mcpRequests} MCP requests for ${answers.length} calls`,
        );
        await bench.up.setTenant("floodsame", { deny401: null });
        await bench.alive("refused, not moved");
        await bench.assertNoCrossing("refused, not moved");
      });

      test("a minute and more of refused calls while the metadata flips: one re-read per minute, and the move is then seen", async (t) => {
        const users = FLOODERS.slice(0, 3);
        for (const u of users) await bench.connect(u, "floodlong");
        const evil = `${bench.up.alt}/evil/floodlong`;
        await bench.up.defineAs("floodlong.evil", evil);
        const readsBefore = await bench.up.prmReads("floodlong");
        await bench.up.setTenant("floodlong", { deny401: true, flip: [[bench.up.as1("floodlong")], [evil]] });
        const started = Date.now();
        const seen: { at: number; u: string; a: Answer }[] = [];
        while (Date.now() - started < REREAD_EVERY_MS + 6_000) {
          const round = await Promise.all(
            users.map(async (u) => ({
              at: Date.now() - started,
              u,
              a: await bench.call(u, "floodlong", "refused for a minute"),
            })),
          );
          seen.push(...round);
          await sleep(250);
        }
        const elapsed = Date.now() - started;
        const reads = (await bench.up.prmReads("floodlong")) - readsBefore;
        const moved = seen.filter((x) => x.a.reason === "reconnect_required");
        t.diagnostic(
          `${seen.length} calls in ${elapsed} ms: ${reads} metadata reads; first reconnect_required at ` +
            `${moved[0]?.at ?? "-"} ms; answers ${JSON.stringify([...new Set(seen.map((x) => `${x.a.code} ${x.a.reason}`))])}`,
        );
        for (const x of seen) assertFailClosed(bench, x.a, "refused for a minute");
        assert.ok(
          reads <= Math.floor(elapsed / REREAD_EVERY_MS) + 1,
          `${reads} metadata re-reads in ${elapsed} ms`,
        );
        assert.ok(
          seen
            .filter((x) => x.at < REREAD_EVERY_MS - 5_000)
            .every((x) => x.a.reason !== "reconnect_required"),
          "a move was seen before the minute was out (the metadata was read more than once)",
        );
        for (const u of users) {
          const last = seen.filter((x) => x.u === u).at(-1)!;
          assert.equal(
            last.a.reason,
            "reconnect_required",
            `${u}: after the minute, the next refusal re-reads and sees the move: ${brief(last.a)}`,
          );
          bench.changes.push({ user: u, server: "floodlong", from: bench.up.as1("floodlong"), to: evil });
        }
        await bench.alive("refused for a minute");
        await bench.assertNoCrossing("refused for a minute");
      });
    });

    // -------------------------------------------------------------------------------------------
    describe("3. confused metadata fails closed", () => {
      test("control: a first connect to an AS whose endpoints are plain http off loopback is refused", async (t) => {
        const tenant = "cfx";
        await bench.up.defineAs(`${tenant}.a1`, bench.up.as1(tenant), {
          meta: {
            token_endpoint: "http://10.255.255.1/token",
            authorization_endpoint: "http://10.255.255.1/authorize",
          },
        });
        const a = await bench.call("alice", tenant, "first call, off-loopback http endpoints");
        assertFailClosed(bench, a, "off-loopback endpoints");
        if (!a.url) return;
        const w = await bench.walk("alice", a.url);
        t.diagnostic(`${brief(a)}; link → ${w.redirect?.href.slice(0, 80) ?? textOf(w.last).slice(0, 120)}`);
        assert.ok(
          !w.redirect || !/^http:\/\/10\./.test(w.redirect.href),
          `the first connect led to ${w.redirect?.href}`,
        );
      });

      CONFUSIONS.forEach((cf, i) => {
        test(`confused: ${cf.name}`, async (t) => {
          const tenant = confTenant(i);
          await bench.connect("alice", tenant);
          const before = await bench.connectionsOf("alice", tenant);
          if (cf.as) {
            const { issuer, opts } = cf.as(bench.up, tenant);
            await bench.up.defineAs(`${tenant}.evil`, issuer, opts ?? {});
          }
          if (/hangs/.test(cf.name) && !bench.connectionIds.has("bob|steady"))
            await bench.connect("bob", "steady");
          await bench.up.setTenant(tenant, cf.tenant(bench.up, tenant));
          const since = (await bench.up.records()).length;
          // While Alice's call waits on the hostile metadata, Bob's call at another server answers.
          let aliceDone = false;
          const pendingAlice = bench
            .call("alice", tenant, `confused: ${cf.name}`)
            .finally(() => (aliceDone = true));
          if (/hangs/.test(cf.name)) {
            await sleep(200);
            const bob = await bench.call("bob", "steady", `bystander while ${cf.name}`);
            assert.match(
              bob.result ?? "",
              /"user":"bob@steady"/,
              `Bob at steady while ${cf.name}: ${brief(bob)}`,
            );
            assert.equal(aliceDone, false, "the hanging read ended before Bob's call (harness: no overlap)");
          }
          const a = await pendingAlice;
          assertFailClosed(bench, a, cf.name);
          let walked = "";
          if (a.url) {
            // Wherever the link leads, it is never a javascript:, metadata-IP or off-loopback http URL.
            const w = await bench.walk("alice", a.url);
            walked = w.redirect
              ? ` link → ${w.redirect.origin}${w.redirect.pathname}`
              : ` link page: ${textOf(w.last).slice(0, 120)}`;
            if (w.redirect) {
              assert.ok(
                ["http:", "https:"].includes(w.redirect.protocol),
                `${cf.name}: the link led to ${w.redirect.href}`,
              );
              assert.ok(
                !/169\.254\.|\[::ffff:a9fe|10\.255\./.test(w.redirect.href),
                `${cf.name}: the link led to ${w.redirect.href}`,
              );
            }
          }
          const now = await bench.connectionsOf("alice", tenant);
          t.diagnostic(`${brief(a)}; connection ${before[0]?.status} → ${now[0]?.status}${walked}`);
          if (cf.unreadable) {
            assert.equal(
              a.code,
              UNAVAILABLE,
              `${cf.name}: metadata that cannot be read answers -32005: ${brief(a)}`,
            );
            assert.deepEqual(
              now.map((r) => [r.id, r.status]),
              before.map((r) => [r.id, r.status]),
              `${cf.name}: the connection was not left as it was`,
            );
          }
          if (cf.fewFetches) {
            const fetched = (await bench.up.records())
              .slice(since)
              .filter((r) =>
                /\/\.well-known\/(oauth-authorization-server|openid-configuration)|\/many\//.test(r.path),
              );
            assert.ok(
              fetched.length <= 6,
              `${cf.name}: ${fetched.length} authorization server metadata fetches`,
            );
          }
          if (cf.neverFetched) {
            const path = cf.neverFetched(bench.up, tenant);
            const hit = (await bench.up.records()).filter((r) => r.listener === "alt" && r.path === path);
            assert.deepEqual(hit.map(placeOf), [], `${cf.name}: the redirect was followed`);
          }
          // Restored: unreadable metadata left the connection usable; nothing else may have made a
          // connection at the wrong AS.
          await bench.up.setTenant(tenant, {
            servers: null,
            prm: null,
            accept: null,
            challenge: null,
            altServers: null,
          });
          const back = await bench.call("alice", tenant, `after ${cf.name}, restored`);
          if (cf.unreadable) {
            assert.match(
              back.result ?? "",
              new RegExp(`"user":"alice@${tenant}","as":"${tenant}.a1"`),
              `${cf.name}, restored: ${brief(back)}`,
            );
          } else if (back.result === undefined) {
            assertFailClosed(bench, back, `${cf.name}, restored`);
          } else {
            assert.match(
              back.result,
              new RegExp(`"user":"alice@${tenant}","as":"${tenant}.a1"`),
              `${cf.name}, restored: ${brief(back)}`,
            );
          }
          await bench.alive(cf.name);
          await bench.assertNoCrossing(cf.name);
        });
      });
    });

    // -------------------------------------------------------------------------------------------
    describe("4. isolation", () => {
      async function lastToken(user: string, tenant: string) {
        return (await bench.up.records())
          .filter(
            (r) =>
              r.place?.kind === "mcp" &&
              r.place.tenant === tenant &&
              r.tokenUser === `${user}@${tenant}` &&
              r.answered === 200,
          )
          .at(-1)?.token;
      }

      test("one server moves off a shared AS: the other server's connections (Alice's too) stay, new connects there go to AS1", async () => {
        for (const u of ["alice", "bob"]) for (const s of ["isoa", "isob"]) await bench.connect(u, s);
        const aliceB = await lastToken("alice", "isob");
        const bobB = await lastToken("bob", "isob");
        const rowsBefore = {
          alice: await bench.connectionsOf("alice", "isob"),
          bob: await bench.connectionsOf("bob", "isob"),
        };
        const evil = evilAt(bench.up, "isoa");
        await bench.up.defineAs("isoa.evil", evil);
        await bench.up.setTenant("isoa", { servers: [evil], accept: ["isoa.evil"] });
        const a = await bench.call("alice", "isoa", "alice at the moved server");
        assertReconnect(bench, a, "alice at isoa");
        bench.changes.push({
          user: "alice",
          server: "isoa",
          from: `${bench.up.main}/as/isoshared`,
          to: evil,
        });

        for (const u of ["alice", "bob"]) {
          const me = await bench.call(u, "isob", `${u} at the server that did not move`);
          assert.match(
            me.result ?? "",
            new RegExp(`"user":"${u}@isob","as":"isoshared.a1"`),
            `${u} at isob: ${brief(me)}`,
          );
        }
        assert.equal(await lastToken("alice", "isob"), aliceB, "Alice's isob token changed");
        assert.equal(await lastToken("bob", "isob"), bobB, "Bob's isob token changed");
        for (const u of ["alice", "bob"] as const) {
          const now = await bench.connectionsOf(u, "isob");
          assert.deepEqual(
            now.map((r) => [r.id, r.status, r.issuer]),
            rowsBefore[u].map((r) => [r.id, r.status, r.issuer]),
            `${u}'s isob connection changed`,
          );
        }
        // Carol connects at isob now: AS1, not the AS isoa moved to.
        const flow = await bench.connect("carol", "isob");
        assert.ok(flow.endpoint?.includes("/ep/isoshared.a1/"), `carol's isob flow went to ${flow.endpoint}`);
        // Alice reconnects at isoa (the new AS); isob is still AS1 and still her old token.
        const f = await bench.flow("alice", "isoa", a.url!);
        assert.ok(
          f.connected && f.endpoint?.includes("/ep/isoa.evil/"),
          `alice reconnects at isoa's new AS: ${f.endpoint} ${f.lastText}`,
        );
        const after = await bench.call("alice", "isob", "alice at isob after reconnecting at isoa");
        assert.match(after.result ?? "", /"as":"isoshared.a1"/, brief(after));
        assert.equal(
          await lastToken("alice", "isob"),
          aliceB,
          "Alice's isob token changed after her isoa reconnect",
        );
        await bench.assertNoCrossing("shared AS");
      });

      test("a server that refuses only Alice's token: Alice fails closed, Bob (interleaved, 40 calls) never notices", async () => {
        for (const u of ["alice", "bob"]) await bench.connect(u, "isou");
        const bobToken = await lastToken("bob", "isou");
        const bobRows = await bench.connectionsOf("bob", "isou");
        await bench.up.setTenant("isou", { denyUsers: ["alice@isou"] });
        const plan = Array.from({ length: 40 }, (_, i) => (i % 2 ? "bob" : "alice"));
        const got = await Promise.all(
          plan.map(async (u) => ({ u, a: await bench.call(u, "isou", "per-user refusal") })),
        );
        for (const { u, a } of got) {
          if (u === "bob")
            assert.match(a.result ?? "", /"user":"bob@isou"/, `Bob during Alice's refusals: ${brief(a)}`);
          else {
            assertFailClosed(bench, a, "Alice refused");
            assert.notEqual(a.reason, "reconnect_required", "a server that did not move: reconnect_required");
          }
        }
        assert.equal(await lastToken("bob", "isou"), bobToken, "Bob's token changed");
        assert.deepEqual(
          (await bench.connectionsOf("bob", "isou")).map((r) => [r.id, r.status]),
          bobRows.map((r) => [r.id, r.status]),
          "Bob's connection changed",
        );
        const other = await bench.call("alice", "isob", "alice at another server");
        assert.match(other.result ?? "", /"user":"alice@isob"/, brief(other));
        await bench.up.setTenant("isou", { denyUsers: null });
      });

      for (const server of ["isot", "isots"]) {
        test(`${server}: during a migration (both AS accepted), Alice's refusal and reconnect leave Bob's AS1 connection working`, async () => {
          for (const u of ["alice", "bob"]) await bench.connect(u, server);
          const bobToken = await lastToken("bob", server);
          const evil = evilAt(bench.up, server);
          await bench.up.defineAs(`${server}.evil`, evil);
          await bench.up.setTenant(server, {
            servers: [evil],
            accept: [`${server}.a1`, `${server}.evil`],
            denyUsers: [`alice@${server}`],
          });
          const a = await bench.call("alice", server, "alice refused during the migration");
          assertReconnect(bench, a, `alice at ${server}`);
          bench.changes.push({ user: "alice", server, from: bench.up.as1(server), to: evil });
          const bob = await bench.call("bob", server, "bob after alice's refusal");
          assert.match(
            bob.result ?? "",
            new RegExp(`"user":"bob@${server}","as":"${server}.a1"`),
            `Bob after Alice's refusal: ${brief(bob)}`,
          );
          await bench.up.setTenant(server, { denyUsers: null });
          const f = await bench.flow("alice", server, a.url!);
          assert.ok(
            f.connected && f.endpoint?.includes(`/ep/${server}.evil/`),
            `alice reconnects at the new AS: ${f.endpoint} ${f.lastText}`,
          );
          await bench.rememberConnection("alice", server);
          const both = await Promise.all(
            Array.from({ length: 20 }, (_, i) => (i % 2 ? "bob" : "alice")).map(async (u) => ({
              u,
              a: await bench.call(u, server, "after alice reconnected"),
            })),
          );
          for (const { u, a: x } of both) {
            const as = u === "bob" ? `${server}.a1` : `${server}.evil`;
            assert.match(
              x.result ?? "",
              new RegExp(`"user":"${u}@${server}","as":"${as}"`),
              `${u} after Alice's reconnect: ${brief(x)}`,
            );
          }
          assert.equal(await lastToken("bob", server), bobToken, "Bob's token changed");
          await bench.assertNoCrossing(`${server} migration`);
        });
      }

      test("Alice's reconnect link opened by Bob starts nothing and changes nothing", async () => {
        const evil = evilAt(bench.up, "isou");
        await bench.up.defineAs("isou.evil", evil);
        await bench.up.setTenant("isou", { servers: [evil], accept: ["isou.evil"] });
        // isou was last re-read in the previous test, within the minute: Alice gets whichever answer.
        const a = await bench.call("alice", "isou", "alice's link for bob");
        assertFailClosed(bench, a, "alice at isou");
        if (!a.url) return;
        const authorizes = async () =>
          (await bench.up.records()).filter((r) => r.place?.endpoint === "authorize").length;
        const n = await authorizes();
        const w = await bench.walk("bob", a.url);
        assert.equal(w.redirect, undefined, `Bob was sent to ${w.redirect?.href} by Alice's link`);
        assert.equal(
          await authorizes(),
          n,
          "an authorization request was made from Alice's link in Bob's browser",
        );
      });
    });

    // -------------------------------------------------------------------------------------------
    describe("1b. and back: the server returns to AS1", () => {
      test("after the bound, the connections made at the attacker are refused and reconnect at AS1 with AS1's client", async (t) => {
        const control = lookTenants(0);
        const servers = [control.d, control.c];
        for (const s of servers) await bench.up.setTenant(s, { servers: null, accept: null });
        // Wait out the once-a-minute bound since the last read of these servers' metadata.
        const last = Math.max(
          ...(await bench.up.records())
            .filter((r) => r.place?.kind === "prm" && servers.includes(r.place.tenant))
            .map((r) => r.at),
        );
        const wait = last + REREAD_EVERY_MS + 2_000 - Date.now();
        t.diagnostic(`waiting ${Math.max(0, wait)} ms for the re-read bound`);
        if (wait > 0) await sleep(wait);
        for (const s of servers) {
          const a = await bench.call("alice", s, "alice after the return to AS1");
          assertReconnect(bench, a, `alice at ${s} after the return`);
          bench.changes.push({ user: "alice", server: s, from: evilAt(bench.up, s), to: bench.up.as1(s) });
          const f = await bench.flow("alice", s, a.url!);
          assert.ok(f.connected, `alice reconnects at AS1 (${s}): ${f.lastText}`);
          assert.ok(f.endpoint?.includes(`/ep/${s}.a1/`), `the flow went to ${f.endpoint}`);
          const cfg = bench.configured.get(s);
          if (cfg) assert.equal(f.clientId, cfg.id, "back at AS1, the configured client is used again");
          await bench.rememberConnection("alice", s);
          const me = await bench.call("alice", s, "alice at AS1 again");
          assert.match(me.result ?? "", new RegExp(`"user":"alice@${s}","as":"${s}.a1"`), brief(me));
        }
        await bench.assertNoCrossing("and back");
      });
    });

    // -------------------------------------------------------------------------------------------
    describe("5. audit", () => {
      let events: Record<string, any>[] = [];
      before(async () => {
        const r = await bench.cli("audit", "query", "--json", "--limit", "200000");
        assert.equal(r.code, 0, r.stderr);
        events = r.stdout
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l));
      });

      test("every refused call has a non-ok event naming its user and server", () => {
        assert.ok(bench.refusals.length > 0, "no refusals were made");
        const byPair = new Map<string, number>();
        for (const e of events) {
          if (e.status === "ok" || !e.server || !e.principal?.sub) continue;
          if (e.event === "auth") continue;
          const key = `${e.principal.sub}|${e.server}`;
          byPair.set(key, (byPair.get(key) ?? 0) + 1);
        }
        const want = new Map<string, Refusal[]>();
        for (const x of bench.refusals)
          want.set(`${x.user}|${x.server}`, [...(want.get(`${x.user}|${x.server}`) ?? []), x]);
        const missing: string[] = [];
        for (const [key, list] of want) {
          const got = byPair.get(key) ?? 0;
          if (got < list.length)
            missing.push(
              `${key}: ${list.length} refused, ${got} audited (${list
                .slice(0, 2)
                .map((x) => x.what)
                .join("; ")})`,
            );
        }
        assert.deepEqual(missing, [], "refusals missing from the audit log");
      });

      test("every issuer change is an upstream_issuer_changed event with the user, the connection, from and to", () => {
        const changed = events.filter((e) => e.event === "auth" && e.reason === "upstream_issuer_changed");
        const missing: string[] = [];
        for (const c of bench.changes) {
          const ids = bench.connectionIds.get(`${c.user}|${c.server}`) ?? new Set<string>();
          const hit = changed.find(
            (e) =>
              e.principal?.sub === c.user &&
              (e.server === c.server ||
                e.detail?.server === c.server ||
                ids.has(String(e.detail?.connection))) &&
              e.status === "denied",
          );
          if (!hit) missing.push(`${c.user}|${c.server}: no upstream_issuer_changed`);
          else if (!(hit.detail?.from && hit.detail?.to))
            missing.push(`${c.user}|${c.server}: no from/to in ${JSON.stringify(hit.detail)}`);
        }
        assert.deepEqual(missing, [], "issuer changes missing from the audit log");
      });

      test("revocations and the refused connect are audited with user and server", () => {
        const missing: string[] = [];
        for (const r of bench.revoked) {
          const ids = bench.connectionIds.get(`${r.user}|${r.server}`) ?? new Set<string>();
          const hit = events.find(
            (e) =>
              e.event === "auth" &&
              e.reason === "upstream_revoked" &&
              (e.detail?.user === r.user ||
                e.principal?.sub === r.user ||
                ids.has(String(e.detail?.connection))) &&
              (e.server === r.server ||
                e.detail?.server === r.server ||
                ids.has(String(e.detail?.connection))),
          );
          if (!hit) missing.push(`upstream_revoked ${r.user}|${r.server}`);
        }
        for (const r of bench.connectRefused) {
          const hit = events.find(
            (e) =>
              e.event === "auth" &&
              e.status === "denied" &&
              /^connect_/.test(String(e.reason)) &&
              e.principal?.sub === r.user &&
              (e.server === r.server || e.detail?.server === r.server),
          );
          if (!hit) missing.push(`connect refusal ${r.user}|${r.server}`);
          else if (hit.reason !== "connect_issuer_changed")
            missing.push(`connect refusal ${r.user}|${r.server} is ${hit.reason}`);
        }
        assert.deepEqual(missing, [], "events missing from the audit log");
      });

      test("no credential in the audit log or the gateway's log", async () => {
        const secrets = await bench.up.secrets(bench.configured);
        const audit = events.map((e) => JSON.stringify(e)).join("\n");
        const log = bench.gw.stderrLines.join("\n");
        const found = secrets
          .filter((s) => s.value.length >= 12 && (audit.includes(s.value) || log.includes(s.value)))
          .map(
            (s) => `${s.kind} of ${s.owner} in the ${audit.includes(s.value) ? "audit log" : "gateway log"}`,
          );
        assert.deepEqual([...new Set(found)], [], "credentials written to a log");
      });
    });
  },
);

// ---------------------------------------------------------------------------------------------
describe(
  "held-out: a configured client's binding survives a restart that meets the attacker first",
  { timeout: 300_000 },
  () => {
    const side = new Bench();
    before(async () => {
      await side.startFixture();
    });
    after(async () => {
      await side.gw?.stop();
      await side.up.stop();
    });

    test("bound to AS1 before the restart, never sent to the attacker after it", async (t) => {
      const server = "rsc";
      const port = await freePort();
      const dir = makeTempDir("warden-asmig-restart-");
      await side.up.defineAs(`${server}.a1`, side.up.as1(server), { expiresIn: 30 });
      await side.startGateway([{ name: server, configured: true }], port, dir);
      const flow = await side.connect("alice", server);
      assert.equal(flow.clientId, side.configured.get(server)!.id, "the configured client is used at AS1");
      await side.gw.stop();

      const evil = evilAt(side.up, server);
      await side.up.defineAs(`${server}.evil`, evil);
      await side.up.setTenant(server, { servers: [evil], accept: [`${server}.evil`] });
      await side.startGateway([{ name: server, configured: true }], port, dir);
      const a = await side.call("alice", server, "alice after the restart");
      assertFailClosed(side, a, "after the restart");
      if (a.url) {
        const f = await side.flow("alice", server, a.url);
        t.diagnostic(
          `${brief(a)}; flow → ${f.endpoint ?? "(stayed)"} client_id=${f.clientId ?? "-"} connected=${f.connected}`,
        );
        assert.notEqual(
          f.clientId,
          side.configured.get(server)!.id,
          "the configured client went to the attacker after a restart",
        );
      }
      // A user who never connected, on the restarted gateway.
      const c = await side.call("carol", server, "carol's first call after the restart");
      if (c.url) {
        const f = await side.flow("carol", server, c.url);
        assert.notEqual(
          f.clientId,
          side.configured.get(server)!.id,
          "carol's flow presented the configured client to the attacker",
        );
      }
      await side.assertNoCrossing("restart");
    });
  },
);
