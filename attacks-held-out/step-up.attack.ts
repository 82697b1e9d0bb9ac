/* eslint-disable @typescript-eslint/no-explicit-any -- fixture records are read loosely in assertions */
// Held-out attacks on scope step-up for per-user upstream OAuth (`servers[].auth: oauth_user`).
//
// The behaviour under attack (the brief; docs/upstream-credentials.md once it lands): when the
// upstream answers 403 with `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"`, the
// gateway answers the call -32007 with a reason saying scopes are missing and its connect link;
// the next connect flow of that user at that server asks for the union of the scopes requested
// before and the challenged ones (SEP-2350); after reconnecting the call succeeds. A 403 without
// insufficient_scope stays an upstream error.
//
// The attacker is the upstream (or whoever can put text into its challenge). Everything it sends
// here goes out as raw bytes (fixtures/step-up-upstream.mjs), so the gateway sees exactly the
// payload. Classes:
//   1. injection into the authorization request through the challenged scope;
//   2. resource exhaustion (a megabyte header, 100,000 scopes, a challenge loop);
//   3. isolation between users (and between one user's servers);
//   4. confused challenges (malformed, other schemes, several challenges, case, 401, no scope);
//   5. the audit log holds every refusal above with its user and server.
// What the authorization server receives is judged as the AS parses it (URLSearchParams over the
// raw query the gateway built): one of each parameter, the first flow's redirect_uri, client_id,
// resource and endpoint, a fresh state, and a scope that is the first flow's scopes plus at most
// the challenge's own tokens, literally, each a valid RFC 6749 §3.3 scope-token.
// Refusing a challenge is always allowed, so a gateway without step-up passes every test that does
// not need step-up itself; the control test (class 1) and three of class 3 need it. Each test
// prints what the gateway answered and what the next flow added (node:test diagnostics).
import assert from "node:assert/strict";
import { createInterface } from "node:readline";
import { after, before, describe, test, type TestContext } from "node:test";
import { errorFor, type AttackSession, type HttpResult } from "../test/attacks/fixtures/attack-lib.js";
import {
  AUTH_REQUIRED,
  PASSWORDS,
  looksConnected,
  startOauthGateway,
  userSession,
  type Bed,
} from "../test/attacks/fixtures/upstream-oauth-lib.js";
import { FormBrowser, formsOf, type Page } from "../test/e2e/oauth-client.js";
import { exited, killGroup, spawnTracked, stopChild } from "../test/helpers/processes.js";

const FIXTURE = new URL("./fixtures/step-up-upstream.mjs", import.meta.url).pathname;

/**
 * JSON-RPC codes the contract documents for a refused or failed call (README "Refusals"):
 * -32001 … -32007. -32603 is documented only for the gateway's own faults (audit or rate-limit
 * store down), which none of these attacks causes, so it does not count as an answer here.
 */
const DOCUMENTED = new Set([-32001, -32002, -32003, -32004, -32005, -32006, -32007]);
/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
/**
 * Parameters a gateway may add on its own to a step-up request (to make the AS show consent again,
 * or keep earlier grants); their values must not come from the challenge.
 */
const GATEWAY_EXTRAS = ["prompt", "include_granted_scopes", "max_age"];
/**
 * Bounds for class 2: far above any real challenge, far below what an unbounded union reaches
 * (nginx, in front of many authorization servers, refuses request lines past 8 KiB by default).
 */
const MAX_SCOPES = 4096;
const MAX_AUTHORIZE_URL = 64 * 1024;
const CALL_TIMEOUT_MS = 30_000;
/** The -32007 reason of a step-up: its name is the implementer's, but it must say scopes. */
const STEP_UP_REASON = /scope|step.?up/i;
/** STYLE.md rule 7: clients get a short message; the challenge's text is the upstream's, not ours. */
const MAX_MESSAGE = 1024;
const EVIL = "https://evil.example/cb";

// ---------------------------------------------------------------------------------------------
// The hostile upstream.

interface Upstream {
  base: string;
  url(tenant: string): string;
  requests(): Promise<any[]>;
  issued(): Promise<any[]>;
  setTenant(tenant: string, options: Record<string, unknown>): Promise<void>;
  stop(): Promise<void>;
}

async function startUpstream(): Promise<Upstream> {
  const proc = spawnTracked(process.execPath, [FIXTURE], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  createInterface({ input: proc.stderr! }).on("line", (l) => output.push(l));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`step-up upstream did not start: ${output.join("\n")}`)),
      15_000,
    );
    createInterface({ input: proc.stdout! }).once("line", (l) => {
      clearTimeout(timer);
      resolve((JSON.parse(l) as { port: number }).port);
    });
    proc.once("exit", (code) =>
      reject(new Error(`step-up upstream exited with ${code}: ${output.join("\n")}`)),
    );
  });
  const base = `http://127.0.0.1:${port}`;
  const get = async (path: string) => (await fetch(`${base}${path}`)).json();
  return {
    base,
    url: (t) => `${base}/t/${t}/mcp`,
    requests: () => get("/_control/requests") as Promise<any[]>,
    issued: () => get("/_control/issued") as Promise<any[]>,
    async setTenant(tenant, options) {
      const r = await fetch(`${base}/_control/tenant`, {
        method: "POST",
        body: JSON.stringify({ tenant, ...options }),
      });
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    },
    async stop() {
      await stopChild(proc, "SIGTERM", 5_000);
      killGroup(proc);
      await exited(proc);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Challenges.

const wa = (value: string) => `WWW-Authenticate: ${value}`;
/** A Bearer insufficient_scope challenge whose scope is `scope` exactly as written between quotes. */
const bearer = (scope: string, extra = "") =>
  wa(`Bearer error="insufficient_scope", scope="${scope}"${extra}`);

// ---------------------------------------------------------------------------------------------
// The authorization request as the authorization server parsed it.

interface AuthRequest {
  /** origin + pathname of the authorization endpoint the browser was sent to. */
  endpoint: string;
  /** Every (name, value) pair, duplicates kept, as URLSearchParams parses the raw query. */
  pairs: [string, string][];
  raw: string;
  url: string;
}

function one(r: AuthRequest, name: string): string | undefined {
  return r.pairs.find(([k]) => k === name)?.[1];
}

function scopesIn(r: AuthRequest): string[] {
  return (one(r, "scope") ?? "").split(" ").filter(Boolean);
}

/**
 * The invariants of a later flow `b` against the user's first flow `a` at the same server:
 * nothing but the scope may change, and the scope only by the challenge's own tokens.
 */
function assertSameFlowShape(
  a: AuthRequest,
  b: AuthRequest,
  what: string,
  scope: { allowed: string[]; check?: boolean; notBoth?: [string, string] } = { allowed: [] },
) {
  const ctx = `${what}: authorization request ${b.url.slice(0, 600)}`;
  assert.equal(b.endpoint, a.endpoint, `${ctx}: another authorization endpoint than the first flow's`);
  assert.ok(!b.url.includes("#"), `${ctx}: a fragment in the authorization URL (RFC 6749 §3.1)`);
  const counts = new Map<string, number>();
  for (const [k] of b.pairs) counts.set(k, (counts.get(k) ?? 0) + 1);
  for (const [k, n] of counts)
    assert.equal(n, 1, `${ctx}: parameter ${JSON.stringify(k)} appears ${n} times`);
  const known = new Set([...a.pairs.map(([k]) => k), "scope", ...GATEWAY_EXTRAS]);
  const extra = [...counts.keys()].filter((k) => !known.has(k));
  assert.deepEqual(extra, [], `${ctx}: parameters the first flow did not have`);
  for (const name of GATEWAY_EXTRAS) {
    const v = one(b, name);
    if (v !== undefined && one(a, name) === undefined)
      assert.ok(!/evil|attacker|plain/i.test(v), `${ctx}: ${name}=${v} came from the challenge`);
  }
  for (const name of ["redirect_uri", "client_id", "resource", "response_type", "code_challenge_method"]) {
    assert.equal(one(b, name), one(a, name), `${ctx}: ${name} differs from the first flow's`);
  }
  const state = one(b, "state");
  assert.ok(state && state !== one(a, "state"), `${ctx}: the state is missing or reused`);
  assert.ok(!/attacker|evil/i.test(state), `${ctx}: the state came from the challenge`);
  assert.ok(!/[\r\n]/.test(b.raw) && !b.pairs.some(([k, v]) => /[\r\n]/.test(k + v)), `${ctx}: CR/LF`);
  if (scope.check === false) return;
  const got = scopesIn(b);
  const bad = got.filter((s) => !SCOPE_TOKEN.test(s));
  assert.deepEqual(
    bad,
    [],
    `${ctx}: scope tokens outside RFC 6749 §3.3 (the literal challenge was not refused)`,
  );
  const before = scopesIn(a);
  const missing = before.filter((s) => !got.includes(s));
  assert.deepEqual(missing, [], `${ctx}: scopes requested before were dropped (not a union)`);
  const allowed = new Set([...before, ...scope.allowed.filter((s) => SCOPE_TOKEN.test(s))]);
  const foreign = got.filter((s) => !allowed.has(s));
  assert.deepEqual(foreign, [], `${ctx}: scopes that are neither requested before nor literally challenged`);
  if (scope.notBoth) {
    const [x, y] = scope.notBoth;
    assert.ok(
      !(got.includes(x) && got.includes(y)),
      `${ctx}: both ${x} and ${y} from one ambiguous challenge`,
    );
  }
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

// ---------------------------------------------------------------------------------------------
// The bed: one upstream process, one gateway with a server per scenario, users alice, bob, mallory.

interface Refusal {
  user: string;
  server: string;
  code: number | undefined;
  reason: string | undefined;
  what: string;
}

class Bench {
  up!: Upstream;
  bed!: Bed;
  readonly tokens: Record<string, string> = {};
  readonly browsers: Record<string, FormBrowser> = {};
  readonly sessions = new Map<string, AttackSession>();
  /** The -32007 not_connected link each user got per server (reused to start a later flow). */
  readonly links = new Map<string, string>();
  /** Each user's first authorization request per server. */
  readonly first = new Map<string, AuthRequest>();
  readonly refusals: Refusal[] = [];

  async start(servers: string[]) {
    this.up = await startUpstream();
    this.bed = await startOauthGateway(
      "warden-stepup-held-",
      servers.map((name) => ({
        name,
        url: this.up.url(name),
        auth: { type: "oauth_user" },
        tools: { "*": ["demo:use"] },
        ...(name.startsWith("shared") ? { isolation: "shared" } : {}),
      })),
    );
    for (const u of Object.keys(PASSWORDS)) {
      this.tokens[u] = await this.bed.token(u);
      this.browsers[u] = new FormBrowser(this.bed.gw.url);
    }
  }

  async stop() {
    await this.bed?.gw.stop();
    await this.up?.stop();
  }

  async session(user: string, server: string): Promise<AttackSession> {
    const key = `${user}|${server}`;
    if (!this.sessions.has(key))
      this.sessions.set(key, await userSession(this.bed.gw.serverUrl(server), this.tokens[user]!));
    return this.sessions.get(key)!;
  }

  /** One tools/call; refusals are remembered for the audit class. */
  async call(user: string, server: string, tool: string, what = tool): Promise<Answer> {
    const s = await this.session(user, server);
    const res = await s.post(
      {
        jsonrpc: "2.0",
        id: `${user}-${server}-${Math.random().toString(36).slice(2)}`,
        method: "tools/call",
        params: { name: tool, arguments: {} },
      },
      { timeoutMs: CALL_TIMEOUT_MS },
    );
    const a = answerOf(res);
    if (a.result === undefined) this.refusals.push({ user, server, code: a.code, reason: a.reason, what });
    return a;
  }

  /**
   * Walks `url` in `user`'s browser (signing in when asked, submitting the confirm form) until it
   * leaves the gateway. Returns where it went and every page shown on the way.
   */
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
    return { redirect: step.redirect, pages };
  }

  /**
   * Sends the browser's authorization request to the upstream's AS (approving as `upstreamUser`,
   * the parameter appended to the raw query so the AS parses the gateway's bytes), and returns
   * what the AS received and the callback URL it answered with.
   */
  async authorizeAt(redirect: URL, tenant: string, upstreamUser: string) {
    // Before any fragment: the AS gets the query exactly as the gateway wrote it, plus this.
    const sep = redirect.search ? "&" : "?";
    const target = `${redirect.origin}${redirect.pathname}${redirect.search}`;
    const res = await fetch(`${target}${sep}upstream_user=${encodeURIComponent(upstreamUser)}`, {
      redirect: "manual",
    });
    await res.arrayBuffer();
    const seen = (await this.up.requests())
      .filter((r) => r.kind === "authorize" && r.tenant === tenant)
      .at(-1);
    assert.ok(seen, `the authorization request never reached ${tenant}'s AS`);
    const request: AuthRequest = {
      endpoint: `${redirect.origin}${redirect.pathname}`,
      pairs: (seen.pairs as [string, string][]).filter(([k]) => k !== "upstream_user"),
      raw: seen.raw,
      url: redirect.href,
    };
    const location = res.headers.get("location");
    return { request, callback: location ? new URL(location) : undefined };
  }

  /** Lands the callback in the user's browser; true when the gateway said connected. */
  async land(user: string, callback: URL | undefined): Promise<boolean> {
    if (!callback) return false;
    const done = await this.browsers[user]!.navigate(callback.href);
    return looksConnected(done.page);
  }

  /** The user's first connection at `server`: -32007 not_connected, the flow, connected. */
  async connect(user: string, server: string): Promise<AuthRequest> {
    const a = await this.call(user, server, "whoami", "first call");
    assert.equal(a.code, AUTH_REQUIRED, `${user} at ${server} before connecting: ${a.text.slice(0, 300)}`);
    assert.ok(a.url, `${user} at ${server}: -32007 without data.url`);
    this.links.set(`${user}|${server}`, a.url);
    const w = await this.walk(user, a.url);
    assert.ok(w.redirect, `${user} at ${server}: the connect flow never left the gateway`);
    const { request, callback } = await this.authorizeAt(w.redirect, server, `${user}-${server}`);
    assert.ok(await this.land(user, callback), `${user} at ${server}: the callback did not say connected`);
    this.first.set(`${user}|${server}`, request);
    const me = await this.call(user, server, "whoami", "whoami after connecting");
    assert.match(me.result ?? "", new RegExp(`"upstream_user":"${user}-${server}"`), `${user} at ${server}`);
    return request;
  }

  /** A later flow for `user` at `server` from `link` (the answer's, else the first one's). */
  async reflow(
    user: string,
    server: string,
    link: string | undefined,
    opts: { land?: boolean; optional?: boolean } = {},
  ) {
    const w = await this.walk(user, link ?? this.links.get(`${user}|${server}`)!);
    if (!w.redirect) {
      assert.ok(
        opts.optional,
        `${user} at ${server}: the link no longer starts a connect flow (last page HTTP ` +
          `${w.pages.at(-1)?.status}: ${w.pages.at(-1)?.html.slice(0, 300)})`,
      );
      return { request: undefined, pages: w.pages, connected: false };
    }
    assert.ok(
      w.redirect.protocol === "http:" && w.redirect.host === new URL(this.up.base).host,
      `the flow went to ${w.redirect.href.slice(0, 300)}, not to the upstream's authorization server`,
    );
    const { request, callback } = await this.authorizeAt(w.redirect, server, `${user}-${server}`);
    const connected = opts.land === false ? false : await this.land(user, callback);
    return { request, pages: w.pages, connected };
  }

  /** The number of refused `write` calls the upstream saw at `tenant` since `since`. */
  async refusedAtUpstream(tenant: string, since: number): Promise<number> {
    return (await this.up.requests()).filter(
      (r) => r.kind === "mcp" && r.tenant === tenant && r.refused && r.at >= since,
    ).length;
  }

  async alive(what: string) {
    assert.equal(this.bed.gw.proc.exitCode, null, `${what}: the gateway exited`);
    assert.equal(this.bed.gw.proc.signalCode, null, `${what}: the gateway was killed`);
    const h = await fetch(`${this.bed.gw.url}/healthz`);
    await h.arrayBuffer();
    assert.equal(h.status, 200, `${what}: /healthz`);
  }
}

/** The answer to a call the upstream refused: never a result, always a documented code. */
function assertFailClosed(a: Answer, what: string) {
  assert.equal(
    a.result,
    undefined,
    `${what}: the call was answered as a success: ${a.result?.slice(0, 200)}`,
  );
  assert.ok(
    a.code !== undefined && DOCUMENTED.has(a.code),
    `${what}: expected a documented JSON-RPC error (-32001…-32007), got HTTP ${a.status} ${a.text.slice(0, 300)}`,
  );
  if (a.code === AUTH_REQUIRED) {
    assert.ok(a.url, `${what}: -32007 without data.url`);
  }
  const message = a.message ?? "";
  assert.ok(
    message.length <= MAX_MESSAGE,
    `${what}: a ${message.length}-character error message (the upstream's challenge copied to the agent?): ` +
      `${message.slice(0, 200)}…`,
  );
}

/** A -32007 link must be the gateway's own page and carry nothing from the challenge. */
function assertOwnLink(bench: Bench, a: Answer, what: string) {
  if (!a.url) return;
  const u = new URL(a.url);
  assert.equal(u.origin, new URL(bench.bed.gw.url).origin, `${what}: data.url is not the gateway's`);
  assert.ok(
    !/evil|attacker/i.test(decodeURIComponent(a.url)),
    `${what}: data.url carries the payload: ${a.url}`,
  );
  for (const p of ["redirect_uri", "client_id", "state", "response_type", "code_challenge_method"])
    assert.equal(u.searchParams.get(p), null, `${what}: data.url carries ${p}`);
}

/** One line for the test's output: what the gateway answered and what the next flow asked for. */
function outcome(ans: Answer, a: AuthRequest, b: AuthRequest | undefined): string {
  const added = b ? scopesIn(b).filter((s) => !scopesIn(a).includes(s)) : [];
  const shown = added.length > 5 ? `${added.slice(0, 5).join(" ")} … (${added.length})` : added.join(" ");
  return (
    `answered ${ans.code} ${ans.reason ?? ""} (message of ${(ans.message ?? "").length}: ` +
    `${JSON.stringify((ans.message ?? "").slice(0, 160))}); ` +
    (b ? `next flow adds [${shown.slice(0, 200)}]` : "no flow started")
  );
}

/** No connect page may show a challenged scope as markup. */
function assertNoMarkup(pages: Page[], what: string) {
  for (const p of pages) {
    assert.ok(
      !/<script>alert|<img src=x|onerror=alert\(1\)>/i.test(p.html),
      `${what}: the scope reached ${p.url} as markup`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

interface Injection {
  name: string;
  lines: string[];
  /** The challenge's scope tokens as RFC 7235/6750 read them (invalid ones are then dropped). */
  tokens: string[];
}

const INJECTIONS: Injection[] = [
  {
    name: "& redirect_uri",
    lines: [bearer(`repo:write&redirect_uri=${EVIL}`)],
    tokens: [`repo:write&redirect_uri=${EVIL}`],
  },
  {
    name: "& client_id and state",
    lines: [bearer("repo:write&client_id=evil-client&state=attacker-state")],
    tokens: ["repo:write&client_id=evil-client&state=attacker-state"],
  },
  {
    name: "# fragment",
    lines: [bearer(`repo:write#&redirect_uri=${EVIL}`)],
    tokens: [`repo:write#&redirect_uri=${EVIL}`],
  },
  {
    name: "? second query",
    lines: [bearer("repo:write?response_type=token&code_challenge_method=plain")],
    tokens: ["repo:write?response_type=token&code_challenge_method=plain"],
  },
  {
    name: "= tokens named like parameters",
    lines: [
      bearer(
        `repo:write redirect_uri=${EVIL} client_id=evil-client state=attacker-state resource=https://evil.example/mcp`,
      ),
    ],
    tokens: [
      "repo:write",
      `redirect_uri=${EVIL}`,
      "client_id=evil-client",
      "state=attacker-state",
      "resource=https://evil.example/mcp",
    ],
  },
  { name: "+ read as a space", lines: [bearer("repo:write+admin:org")], tokens: ["repo:write+admin:org"] },
  {
    name: "%20 decoded twice",
    lines: [bearer("repo:write%20admin:org")],
    tokens: ["repo:write%20admin:org"],
  },
  {
    name: "%26 %3D decoded twice",
    lines: [bearer("repo:write%26redirect_uri%3Dhttps%3A%2F%2Fevil.example%2Fcb")],
    tokens: ["repo:write%26redirect_uri%3Dhttps%3A%2F%2Fevil.example%2Fcb"],
  },
  {
    name: "%0d%0a encoded CR/LF",
    lines: [bearer("repo:write%0d%0aLocation:%20https://evil.example")],
    tokens: ["repo:write%0d%0aLocation:%20https://evil.example"],
  },
  {
    name: "malformed percent escapes",
    lines: [bearer("repo:write%zz%E0%A4%")],
    tokens: ["repo:write%zz%E0%A4%"],
  },
  {
    name: "raw CR/LF ends the header inside the quotes",
    lines: [
      `WWW-Authenticate: Bearer error="insufficient_scope", scope="repo:write`,
      `redirect_uri: ${EVIL}"`,
    ],
    tokens: ["repo:write"],
  },
  {
    name: "obsolete line folding",
    lines: [
      `WWW-Authenticate: Bearer error="insufficient_scope", scope="repo:write`,
      ` &redirect_uri=${EVIL}"`,
    ],
    tokens: ["repo:write", `&redirect_uri=${EVIL}`],
  },
  {
    name: "a bare CR inside the quotes",
    lines: [`WWW-Authenticate: Bearer error="insufficient_scope", scope="repo:write\r&redirect_uri=${EVIL}"`],
    tokens: [],
  },
  {
    name: "an escaped quote ends the scope for a naive parser",
    lines: [
      wa(
        `Bearer error="insufficient_scope", scope="repo:write\\" redirect_uri=\\"${EVIL}", client_id="evil-client"`,
      ),
    ],
    tokens: ['repo:write"', `redirect_uri="${EVIL}`],
  },
  {
    name: "backslashes",
    lines: [bearer(`repo:write\\\\&redirect_uri=${EVIL} \\&client_id=evil-client`)],
    tokens: [`repo:write\\&redirect_uri=${EVIL}`, "&client_id=evil-client"],
  },
  {
    name: "single quotes",
    lines: [wa(`Bearer error="insufficient_scope", scope='repo:write&redirect_uri=${EVIL}'`)],
    tokens: [`'repo:write&redirect_uri=${EVIL}'`],
  },
  {
    name: "OAuth parameters as auth-params of the challenge",
    lines: [
      wa(
        `Bearer error="insufficient_scope", scope="repo:write", redirect_uri="${EVIL}", client_id="evil-client", ` +
          `state="attacker-state", resource="https://evil.example/mcp", response_type="token", code_challenge_method="plain"`,
      ),
    ],
    tokens: ["repo:write"],
  },
  {
    name: "fullwidth look-alikes of & and =",
    lines: [bearer(`repo:write\uff06redirect_uri\uff1d${EVIL}`)],
    tokens: [],
  },
  { name: "a Cyrillic look-alike scope", lines: [bearer("repo:wr\u0456te")], tokens: [] },
  {
    name: "NBSP, tab and U+2028 are not scope separators",
    lines: [bearer("repo:write\u00a0admin:org\tdelete_repo\u2028site_admin")],
    tokens: [],
  },
  {
    name: "markup in the scope shown on the connect page",
    lines: [bearer("repo:write <script>alert(1)</script> <img src=x onerror=alert(1)>")],
    tokens: ["repo:write", "<script>alert(1)</script>", "<img", "src=x", "onerror=alert(1)>"],
  },
];

interface Confused {
  name: string;
  lines: string[];
  status?: number;
  /** The tokens a correct reading takes from this header (for the later flow's scope). */
  tokens: string[];
  /** Not a Bearer insufficient_scope challenge: the answer must not ask to (re)connect. */
  notStepUp?: boolean;
  notBoth?: [string, string];
  /** A 401's scope may replace the earlier one (the 401 path, not step-up): only the shape is checked. */
  shapeOnly?: boolean;
}

const CONFUSED: Confused[] = [
  { name: "unquoted values", lines: [wa("Bearer error=insufficient_scope, scope=admin")], tokens: ["admin"] },
  {
    name: "an unquoted value that is not a token",
    lines: [wa("Bearer error=insufficient_scope, scope=repo:write admin:org")],
    tokens: ["repo:write"],
  },
  {
    name: "the scope parameter twice",
    lines: [wa('Bearer error="insufficient_scope", scope="repo:write", scope="admin:org"')],
    tokens: ["repo:write", "admin:org"],
    notBoth: ["repo:write", "admin:org"],
  },
  {
    name: "insufficient_scope inside a Basic challenge",
    lines: [wa('Basic realm="upstream", error="insufficient_scope", scope="admin:org"')],
    tokens: [],
    notStepUp: true,
  },
  {
    name: "insufficient_scope inside a DPoP challenge",
    lines: [wa('DPoP algs="ES256", error="insufficient_scope", scope="admin:org"')],
    tokens: [],
    notStepUp: true,
  },
  {
    name: "Basic first, then the Bearer challenge, in one header",
    lines: [wa('Basic realm="x", Bearer error="insufficient_scope", scope="repo:write"')],
    tokens: ["repo:write"],
  },
  {
    name: "a scope parameter of a Basic challenge after the Bearer one",
    lines: [wa('Bearer error="insufficient_scope", scope="repo:write", Basic realm="x", scope="admin:org"')],
    tokens: ["repo:write"],
  },
  {
    name: "two header lines, the other scheme's with a scope",
    lines: [
      wa('Basic realm="x", scope="admin:org"'),
      wa('Bearer error="insufficient_scope", scope="repo:write"'),
    ],
    tokens: ["repo:write"],
  },
  {
    name: "two Bearer insufficient_scope challenges",
    lines: [
      wa('Bearer error="insufficient_scope", scope="repo:write"'),
      wa('Bearer error="insufficient_scope", scope="admin:org"'),
    ],
    tokens: ["repo:write", "admin:org"],
    notBoth: ["repo:write", "admin:org"],
  },
  {
    name: "upper-case scheme and parameter names",
    lines: [wa('bEaReR ERROR="insufficient_scope", SCOPE="repo:write"')],
    tokens: ["repo:write"],
  },
  {
    name: "an upper-case error value",
    lines: [wa('Bearer error="INSUFFICIENT_SCOPE", scope="admin:org"')],
    tokens: ["admin:org"],
  },
  {
    name: "insufficient_scope without a scope",
    lines: [wa('Bearer error="insufficient_scope"')],
    tokens: [],
  },
  {
    name: "insufficient_scope with an empty scope",
    lines: [wa('Bearer error="insufficient_scope", scope=""')],
    tokens: [],
  },
  {
    name: "a token68 instead of parameters",
    lines: [wa("Bearer insufficient_scope")],
    tokens: [],
    notStepUp: true,
  },
  {
    name: "an unterminated quoted scope",
    lines: [wa('Bearer error="insufficient_scope", scope="repo:write')],
    tokens: ["repo:write"],
  },
  {
    name: "a comma inside the quoted scope",
    lines: [wa('Bearer error="insufficient_scope", scope="repo:write, admin:org"')],
    tokens: ["repo:write,", "admin:org"],
  },
  {
    name: "resource_metadata at the cloud metadata address",
    lines: [bearer("repo:write", ', resource_metadata="http://169.254.169.254/latest/meta-data/"')],
    tokens: ["repo:write"],
  },
  { name: "403 without any challenge", lines: [], tokens: [], notStepUp: true },
  {
    name: "403 with invalid_token",
    lines: [wa('Bearer error="invalid_token", scope="admin:org"')],
    tokens: [],
    notStepUp: true,
  },
  {
    name: "401 with insufficient_scope",
    status: 401,
    lines: [wa('Bearer error="insufficient_scope", scope="admin:org"')],
    tokens: ["admin:org"],
    shapeOnly: true,
  },
];

const injServer = (i: number) => `inj${String(i).padStart(2, "0")}`;
const confServer = (i: number) => `conf${String(i).padStart(2, "0")}`;
const ISOLATION = ["iso", "sharediso", "isorace", "isoother", "isoside"];
const EXHAUSTION = ["megaline", "megalines", "scopes100k", "scopesmax", "fresh", "loop"];
const CONTROL = ["good", "ok"];

const bench = new Bench();

describe("held-out: scope step-up for per-user upstream OAuth", () => {
  before(async () => {
    await bench.start([
      ...CONTROL,
      ...INJECTIONS.map((_, i) => injServer(i)),
      ...CONFUSED.map((_, i) => confServer(i)),
      ...ISOLATION,
      ...EXHAUSTION,
    ]);
    // Bob's ordinary account at an ordinary server: every class checks it still works.
    await bench.connect("bob", "ok");
  });

  after(async () => {
    await bench.stop();
  });

  /** Bob's ordinary calls at `ok` still answer as Bob. */
  async function bystanderWorks(what: string) {
    const me = await bench.call("bob", "ok", "whoami", "bystander");
    assert.match(
      me.result ?? "",
      /"upstream_user":"bob-ok"/,
      `${what}: Bob's call at ok: ${me.text.slice(0, 300)}`,
    );
  }

  describe("1. injection into the authorization request through the challenged scope", () => {
    test("control: a well-formed challenge asks for the union and the call then succeeds", async () => {
      const a = await bench.connect("alice", "good");
      const since = Date.now();
      const ans = await bench.call("alice", "good", "write", "step-up control");
      assert.equal(
        ans.code,
        AUTH_REQUIRED,
        `403 insufficient_scope must answer -32007: ${ans.text.slice(0, 300)}`,
      );
      assert.match(ans.reason ?? "", STEP_UP_REASON, `the reason must say scopes are missing: ${ans.reason}`);
      assertOwnLink(bench, ans, "control");
      assert.ok((await bench.refusedAtUpstream("good", since)) <= 2, "the gateway retried in a loop");
      const b = await bench.reflow("alice", "good", ans.url);
      assert.ok(b.request, "the step-up link started a flow");
      assertSameFlowShape(a, b.request, "control", { allowed: ["repo:write"] });
      assert.deepEqual(new Set(scopesIn(b.request)), new Set([...scopesIn(a), "repo:write"]), "the union");
      assert.ok(b.connected, "reconnected");
      const done = await bench.call("alice", "good", "write", "after step-up");
      assert.match(
        done.result ?? "",
        /^wrote .*"upstream_user":"alice-good"/,
        `after reconnecting: ${done.text.slice(0, 300)}`,
      );
    });

    INJECTIONS.forEach((p, i) => {
      test(`injection: ${p.name}`, async (t) => {
        const server = injServer(i);
        await bench.up.setTenant(server, { lines: p.lines });
        const a = await bench.connect("alice", server);
        const since = Date.now();
        const ans = await bench.call("alice", server, "write", `injection ${p.name}`);
        assertFailClosed(ans, p.name);
        assertOwnLink(bench, ans, p.name);
        assert.ok(
          (await bench.refusedAtUpstream(server, since)) <= 2,
          `${p.name}: the gateway retried in a loop`,
        );
        const b = await bench.reflow("alice", server, ans.url, { optional: !ans.url });
        t.diagnostic(outcome(ans, a, b.request));
        assertNoMarkup(b.pages, p.name);
        if (b.request) {
          assertSameFlowShape(a, b.request, p.name, { allowed: p.tokens });
          assert.ok(b.connected, `${p.name}: the gateway did not accept its own state back`);
        }
        const me = await bench.call("alice", server, "whoami", "whoami after the injection");
        assert.match(
          me.result ?? "",
          new RegExp(`"upstream_user":"alice-${server}"`),
          `${p.name}: ${me.text.slice(0, 300)}`,
        );
        await bench.alive(p.name);
      });
    });
  });

  describe("4. confused challenges fail closed", () => {
    CONFUSED.forEach((p, i) => {
      test(`confused: ${p.name}`, async (t) => {
        const server = confServer(i);
        await bench.up.setTenant(server, { lines: p.lines, ...(p.status ? { status: p.status } : {}) });
        const a = await bench.connect("alice", server);
        const since = Date.now();
        const ans = await bench.call("alice", server, "write", `confused ${p.name}`);
        assertFailClosed(ans, p.name);
        assertOwnLink(bench, ans, p.name);
        if (p.notStepUp)
          assert.notEqual(
            ans.code,
            AUTH_REQUIRED,
            `${p.name}: not a Bearer insufficient_scope challenge, yet -32007 (${ans.reason})`,
          );
        assert.ok(
          (await bench.refusedAtUpstream(server, since)) <= 2,
          `${p.name}: the gateway retried in a loop`,
        );
        const b = await bench.reflow("alice", server, ans.url, { optional: !ans.url });
        t.diagnostic(outcome(ans, a, b.request));
        if (b.request) {
          assertSameFlowShape(a, b.request, p.name, {
            allowed: p.tokens,
            check: !p.shapeOnly,
            ...(p.notBoth ? { notBoth: p.notBoth } : {}),
          });
        }
        await bench.alive(p.name);
        await bystanderWorks(p.name);
      });
    });
  });

  describe("3. one user's step-up never touches another user's connection", () => {
    /** A user's connection as `connections list --json` shows it, without its use times. */
    async function connectionOf(user: string, server: string) {
      const r = await bench.bed.cli("connections", "list", "--user", user, "--server", server, "--json");
      assert.equal(r.code, 0, r.stderr);
      const text = r.stdout.trim();
      const rows: any[] = text.startsWith("[")
        ? JSON.parse(text)
        : text
            .split("\n")
            .filter(Boolean)
            .map((l) => JSON.parse(l));
      // What identifies the connection and what it holds; not when it was last used.
      return rows
        .filter((x) => x.user === user && x.server === server)
        .map((x) => ({
          id: x.id,
          status: x.status,
          scopes: x.scopes,
          expires_at: x.expires_at,
          connected_at: x.connected_at,
        }));
    }

    /** The access token the upstream saw on the user's last call at `tenant`. */
    async function tokenSeen(user: string, tenant: string) {
      return (await bench.up.requests())
        .filter((r) => r.kind === "mcp" && r.tenant === tenant && r.user === `${user}-${tenant}` && r.token)
        .at(-1)?.token;
    }

    for (const server of ["iso", "sharediso"]) {
      test(`${server}: Alice's step-up leaves Bob's token, scopes and calls alone`, async () => {
        const a = await bench.connect("alice", server);
        const bobFirst = await bench.connect("bob", server);
        const bobToken = await tokenSeen("bob", server);
        const bobBefore = await connectionOf("bob", server);
        assert.ok(
          bobToken && bobBefore.length === 1,
          `Bob's connection at ${server}: ${JSON.stringify(bobBefore)}`,
        );

        const ans = await bench.call("alice", server, "write", "alice step-up");
        assert.equal(ans.code, AUTH_REQUIRED, `Alice's 403 insufficient_scope: ${ans.text.slice(0, 300)}`);
        assert.match(ans.reason ?? "", STEP_UP_REASON, `Alice's reason: ${ans.reason}`);

        const bob = await bench.call("bob", server, "whoami", "bob after alice's 403");
        assert.equal(bob.code, undefined, `Alice's 403 sent Bob an error: ${bob.text.slice(0, 300)}`);
        assert.match(bob.result ?? "", new RegExp(`"upstream_user":"bob-${server}"`));
        assert.equal(await tokenSeen("bob", server), bobToken, "Bob's call went out with another token");
        const agg = await userSession(bench.bed.gw.mcpUrl, bench.tokens.bob!);
        const list = await agg.post({ jsonrpc: "2.0", id: "bob-list", method: "tools/list", params: {} });
        assert.ok(
          list.text.includes(`"${server}__whoami"`),
          `Bob's aggregate list lost ${server} after Alice's 403: ${list.text.slice(0, 300)}`,
        );

        const stepped = await bench.reflow("alice", server, ans.url);
        assert.ok(stepped.request && stepped.connected, "Alice reconnected");
        assertSameFlowShape(a, stepped.request, "Alice's step-up", { allowed: ["repo:write"] });
        const wrote = await bench.call("alice", server, "write", "alice after step-up");
        assert.match(
          wrote.result ?? "",
          new RegExp(`"upstream_user":"alice-${server}"`),
          wrote.text.slice(0, 300),
        );

        // Bob: same connection, same token, and his own next flow asks only for what he asked before.
        assert.deepEqual(await connectionOf("bob", server), bobBefore, "Bob's connection changed");
        const bobNow = await bench.call("bob", server, "whoami", "bob after alice reconnected");
        assert.match(bobNow.result ?? "", new RegExp(`"upstream_user":"bob-${server}"`));
        assert.equal(await tokenSeen("bob", server), bobToken, "Bob's token changed");
        const bobFlow = await bench.reflow("bob", server, undefined, { land: false });
        assert.ok(bobFlow.request, "Bob's own link still starts a flow");
        assertSameFlowShape(bobFirst, bobFlow.request, "Bob's next flow", { allowed: [] });
        assert.deepEqual(
          scopesIn(bobFlow.request).sort(),
          scopesIn(bobFirst).sort(),
          "Alice's challenged scope reached Bob's flow",
        );
      });
    }

    test("Mallory's refused calls interleaved with Bob's: Bob never gets her -32007, and always his account", async () => {
      await bench.up.setTenant("isorace", { always: true });
      await bench.connect("mallory", "isorace");
      await bench.connect("bob", "isorace");
      const bobToken = await tokenSeen("bob", "isorace");
      const plan = Array.from({ length: 40 }, (_, i) => (i % 2 ? "bob" : "mallory"));
      const got = await Promise.all(
        plan.map(async (user) => ({
          user,
          a: await bench.call(user, "isorace", user === "bob" ? "whoami" : "write", "race"),
        })),
      );
      for (const { user, a } of got) {
        if (user === "bob") {
          assert.equal(
            a.code,
            undefined,
            `Bob got an error during Mallory's refusals: ${a.text.slice(0, 300)}`,
          );
          assert.match(a.result ?? "", /"upstream_user":"bob-isorace"/);
        } else {
          assert.equal(a.result, undefined, `Mallory's refused write succeeded: ${a.result}`);
        }
      }
      const bobCalls = (await bench.up.requests()).filter(
        (r) => r.kind === "mcp" && r.tenant === "isorace" && r.user === "bob-isorace",
      );
      assert.ok(
        bobCalls.every((r) => r.token === bobToken || r.rpc !== "tools/call"),
        "a Bob call carried another token",
      );
      const malloryWith = (await bench.up.requests()).filter(
        (r) => r.kind === "mcp" && r.tenant === "isorace" && r.token === bobToken && r.tool === "write",
      );
      assert.deepEqual(malloryWith, [], "a write (only Mallory writes) went out with Bob's token");
    });

    test("Alice's step-up link opened by Bob, and Alice's step-up at one server, change nothing else", async () => {
      await bench.up.setTenant("isoother", { needs: ["other:write"] });
      await bench.connect("alice", "isoother");
      const side = await bench.connect("alice", "isoside");
      await bench.connect("bob", "isoother");
      const ans = await bench.call("alice", "isoother", "write", "alice step-up isoother");
      assert.equal(ans.code, AUTH_REQUIRED, `Alice's 403 insufficient_scope: ${ans.text.slice(0, 300)}`);
      assert.ok(ans.url);
      const authorizes = async () =>
        (await bench.up.requests()).filter((r) => r.kind === "authorize" && r.tenant === "isoother").length;
      const beforeCount = await authorizes();
      const w = await bench.walk("bob", ans.url);
      assert.equal(
        w.redirect,
        undefined,
        `Bob was sent to the upstream with Alice's step-up link: ${w.redirect?.href}`,
      );
      assert.equal(
        await authorizes(),
        beforeCount,
        "an authorization request went out for Bob from Alice's link",
      );
      const bob = await bench.call("bob", "isoother", "whoami", "bob after alice's link");
      assert.match(bob.result ?? "", /"upstream_user":"bob-isoother"/, bob.text.slice(0, 300));
      // Alice's next flow at another server of hers asks for what it asked before, not other:write.
      const again = await bench.reflow("alice", "isoside", undefined, { land: false });
      assert.ok(again.request, "Alice's isoside link still starts a flow");
      assertSameFlowShape(side, again.request, "Alice at isoside", { allowed: [] });
      assert.deepEqual(
        scopesIn(again.request).sort(),
        scopesIn(side).sort(),
        "isoother's challenged scope reached isoside",
      );
    });
  });

  describe("2. resource exhaustion", () => {
    /** What `connections list --json` shows as stored for the user at each server stays bounded. */
    async function assertStoredScopesBounded(user: string, ...servers: string[]) {
      for (const server of servers) {
        const r = await bench.bed.cli("connections", "list", "--user", user, "--server", server, "--json");
        assert.equal(r.code, 0, r.stderr);
        assert.ok(
          r.stdout.length < 256 * 1024,
          `${server}: connections list --json is ${r.stdout.length} bytes`,
        );
        for (const line of r.stdout.split("\n").filter(Boolean)) {
          const scopes = (JSON.parse(line) as { scopes?: unknown }).scopes;
          const n = Array.isArray(scopes)
            ? scopes.length
            : String(scopes ?? "")
                .split(" ")
                .filter(Boolean).length;
          assert.ok(n <= MAX_SCOPES, `${server}: ${n} scopes stored for ${user}`);
        }
      }
    }

    async function exhaust(
      t: TestContext,
      server: string,
      options: Record<string, unknown>,
      what: string,
      allowed: string[],
    ) {
      await bench.up.setTenant(server, options);
      const a = await bench.connect("alice", server);
      const since = Date.now();
      const ans = await bench.call("alice", server, "write", what);
      assertFailClosed(ans, what);
      assertOwnLink(bench, ans, what);
      assert.ok(
        (await bench.refusedAtUpstream(server, since)) <= 2,
        `${what}: the gateway retried in a loop`,
      );
      await bench.alive(what);
      await bystanderWorks(what);
      const b = await bench.reflow("alice", server, ans.url, { optional: !ans.url });
      t.diagnostic(`${what}: ${outcome(ans, a, b.request)}`);
      if (b.request) {
        assert.ok(
          b.request.url.length <= MAX_AUTHORIZE_URL,
          `${what}: an authorization URL of ${b.request.url.length} bytes`,
        );
        assert.ok(
          scopesIn(b.request).length <= MAX_SCOPES,
          `${what}: ${scopesIn(b.request).length} scopes requested`,
        );
        assertSameFlowShape(a, b.request, what, { allowed });
      }
      return { a, ans };
    }

    test("a 1 MB WWW-Authenticate header, in one line and in a thousand", async (t) => {
      const mega = "a".repeat(1 << 20);
      await exhaust(t, "megaline", { lines: [bearer(`repo:write ${mega}`)] }, "1 MB in one line", [
        "repo:write",
        mega,
      ]);
      const lines = Array.from({ length: 1000 }, (_, i) => wa(`Bearer realm="r${i}${"b".repeat(1024)}"`));
      await exhaust(t, "megalines", { lines: [...lines, bearer("repo:write")] }, "1 MB in 1,000 lines", [
        "repo:write",
      ]);
    });

    test("100,000 scopes in one challenge, and 2,400 that fit under a 16 KiB header limit", async (t) => {
      const many = Array.from({ length: 100_000 }, (_, i) => `s${i}`);
      await exhaust(t, "scopes100k", { lines: [bearer(many.join(" "))] }, "100,000 scopes", many);
      const fit = Array.from({ length: 2400 }, (_, i) => `t${String(i).padStart(4, "0")}`);
      await exhaust(t, "scopesmax", { lines: [bearer(fit.join(" "))] }, "2,400 scopes", fit);
      await assertStoredScopesBounded("alice", "scopes100k", "scopesmax");
    });

    test("fresh scopes on every call, even after reconnecting: the union stays bounded", async (t) => {
      await bench.up.setTenant("fresh", { fresh: 1500 });
      const a = await bench.connect("alice", "fresh");
      for (let round = 1; round <= 5; round++) {
        const since = Date.now();
        const ans = await bench.call("alice", "fresh", "write", `fresh round ${round}`);
        assertFailClosed(ans, `round ${round}`);
        assert.ok((await bench.refusedAtUpstream("fresh", since)) <= 2, `round ${round}: retried in a loop`);
        const b = await bench.reflow("alice", "fresh", ans.url, { optional: !ans.url });
        t.diagnostic(`round ${round}: ${outcome(ans, a, b.request)}`);
        if (!b.request) continue;
        const n = scopesIn(b.request).length;
        assert.ok(n <= MAX_SCOPES, `round ${round}: the union grew to ${n} scopes`);
        assert.ok(
          b.request.url.length <= MAX_AUTHORIZE_URL,
          `round ${round}: authorization URL of ${b.request.url.length} bytes`,
        );
        assertSameFlowShape(a, b.request, `round ${round}`, { allowed: [], check: false });
        const lost = scopesIn(a).filter((x) => !scopesIn(b.request!).includes(x));
        assert.deepEqual(lost, [], `round ${round}: scopes requested before were dropped`);
        assert.ok(
          scopesIn(b.request).every((s) => /^(repo|offline_access|f\d+\.\d+)$/.test(s)),
          `round ${round}: foreign scopes`,
        );
      }
      await assertStoredScopesBounded("alice", "fresh");
      await bench.alive("fresh scopes");
      await bystanderWorks("fresh scopes");
    });

    test("the same challenge after every reconnect, then 50 calls at once: answered, bounded, Bob unaffected", async (t) => {
      await bench.up.setTenant("loop", { always: true });
      const a = await bench.connect("alice", "loop");
      for (let round = 1; round <= 8; round++) {
        const since = Date.now();
        const ans = await bench.call("alice", "loop", "write", `loop round ${round}`);
        assertFailClosed(ans, `loop round ${round}`);
        assert.ok(
          (await bench.refusedAtUpstream("loop", since)) <= 2,
          `loop round ${round}: retried in a loop`,
        );
        const b = await bench.reflow("alice", "loop", ans.url, { optional: true });
        t.diagnostic(`round ${round}: ${outcome(ans, a, b.request)}`);
        if (!b.request) break; // the gateway stopped offering a flow that cannot help: fine
        assertSameFlowShape(a, b.request, `loop round ${round}`, { allowed: ["repo:write"] });
        assert.deepEqual(
          scopesIn(b.request).filter((s) => s === "repo:write").length <= 1,
          true,
          `loop round ${round}: repo:write repeated`,
        );
      }
      const since = Date.now();
      const [storm, bobs] = await Promise.all([
        Promise.all(Array.from({ length: 50 }, () => bench.call("alice", "loop", "write", "loop storm"))),
        Promise.all(
          Array.from({ length: 10 }, () => bench.call("bob", "ok", "whoami", "bystander in storm")),
        ),
      ]);
      storm.forEach((ans, i) => assertFailClosed(ans, `storm call ${i}`));
      for (const b of bobs) assert.match(b.result ?? "", /"upstream_user":"bob-ok"/, b.text.slice(0, 300));
      assert.ok((await bench.refusedAtUpstream("loop", since)) <= 100, "the storm was multiplied upstream");
      await bench.alive("loop");
    });
  });

  describe("5. audit: every refusal above is recorded with its user and server", () => {
    test("each refused call has a non-ok audit event naming the user and the server", async () => {
      assert.ok(bench.refusals.length > 0, "no refusals were made (earlier classes did not run)");
      const r = await bench.bed.cli("audit", "query", "--json", "--limit", "100000");
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.split("\n").filter(Boolean);
      for (const l of lines)
        assert.ok(l.length <= 64 * 1024, `an audit event of ${l.length} bytes (a challenge copied whole?)`);
      const events = lines.map((l) => JSON.parse(l) as Record<string, any>);
      const byPair = new Map<string, Record<string, any>[]>();
      for (const e of events) {
        if (e.status === "ok" || !e.server || !e.principal?.sub) continue;
        const key = `${e.principal.sub}|${e.server}`;
        byPair.set(key, [...(byPair.get(key) ?? []), e]);
      }
      const want = new Map<string, Refusal[]>();
      for (const x of bench.refusals)
        want.set(`${x.user}|${x.server}`, [...(want.get(`${x.user}|${x.server}`) ?? []), x]);
      const missing: string[] = [];
      for (const [key, refusals] of want) {
        const got = byPair.get(key) ?? [];
        if (got.length < refusals.length) {
          missing.push(
            `${key}: ${refusals.length} refused, ${got.length} audited (${refusals
              .map((x) => x.what)
              .slice(0, 3)
              .join("; ")})`,
          );
          continue;
        }
        for (const x of refusals.filter((x) => x.code === AUTH_REQUIRED && x.reason)) {
          if (!got.some((e) => e.reason === x.reason))
            missing.push(`${key}: -32007 ${x.reason} (${x.what}) has no event with that reason`);
        }
      }
      assert.deepEqual(missing, [], "refusals missing from the audit log");
    });
  });
});
