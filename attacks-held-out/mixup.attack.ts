/* eslint-disable @typescript-eslint/no-explicit-any -- fixture records are read loosely in assertions */
// Held-out attacks: authorization-code mix-up and redirect-URI confusion (RFC 9700 §4.4, RFC 9207)
// against the gateway as each user's OAuth client at the authorization servers of `oauth_user`
// upstreams. Fixture: fixtures/mixup-upstream.mjs, honest MCP servers with honest authorization
// servers (DCR, CIMD, a configured confidential client; with and without `iss`) on one origin, and
// hostile MCP servers whose metadata names an attacker's authorization server on another (or, for
// the look-alike issuers, as a tenant of the honest host). The attacker's authorization endpoint
// forwards Alice's browser to the honest authorization endpoint with the gateway's client there,
// the same `state` and `code_challenge`, and every redirect URI the honest server would accept
// (the one it received, the one the gateway uses there, every callback URL it has seen); its
// token endpoint redeems whatever honest code it is given at the honest server.
//
// Judged on outcomes only:
//   - the attacker's token endpoint never receives a code the honest AS issued;
//   - the honest AS never issues a token to anyone but the gateway, and only for a server of its own;
//   - the attacker's MCP server never receives a token the honest AS issued;
//   - a callback carrying an honest code in the attacker's flow is refused, on a clear page, and
//     audited (`event: auth`, `status: denied`);
// and legitimate connects (DCR without iss, CIMD with iss, a configured client, two servers at one
// AS) still work, so a gateway that refuses everything fails here too.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import { FormBrowser, type Page } from "../test/e2e/oauth-client.js";
import { errorFor, type AttackSession } from "../test/attacks/fixtures/attack-lib.js";
import {
  AUTH_REQUIRED,
  call,
  looksConnected,
  okText,
  startOauthGateway,
  userSession,
  walk,
  type Bed,
} from "../test/attacks/fixtures/upstream-oauth-lib.js";
import { exited, killGroup, spawnTracked, stopChild } from "../test/helpers/processes.js";

const FIXTURE = new URL("./fixtures/mixup-upstream.mjs", import.meta.url).pathname;

type AsSpec = Record<string, unknown>;
const HONEST: Record<string, AsSpec> = {
  hdcr: { kind: "honest", origin: "h", path: "/as/hdcr", dcr: true }, // metadata silent on iss
  hdcrf: { kind: "honest", origin: "h", path: "/as/hdcrf", dcr: true, iss: false },
  hdcri: { kind: "honest", origin: "h", path: "/as/hdcri", dcr: true, iss: true },
  hcimd: { kind: "honest", origin: "h", path: "/as/hcimd", cimd: true },
  hcimdi: { kind: "honest", origin: "h", path: "/as/hcimdi", cimd: true, iss: true },
  hconf: { kind: "honest", origin: "h", path: "/as/hconf" }, // a configured confidential client only
};
const CONF_CLIENT = { client_id: "warden-at-hconf", client_secret: "hconf-secret-8e1d4c7a9b" };

/** Attacker ASes: what they advertise, where they live, and which honest AS they aim at. */
const ATTACKS: Record<string, { as: AsSpec; target: string; what: string }> = {
  "nn-dcr": { as: { dcr: true }, target: "hdcr", what: "neither AS says anything about iss (DCR at both)" },
  "ff-dcr": { as: { dcr: true, iss: false }, target: "hdcrf", what: "both say iss false" },
  "nf-dcr": { as: { dcr: true }, target: "hdcrf", what: "attacker silent, honest says iss false" },
  "ni-dcr": { as: { dcr: true }, target: "hdcri", what: "honest sends iss, attacker silent" },
  "fi-dcr": { as: { dcr: true, iss: false }, target: "hdcri", what: "honest sends iss, attacker says false" },
  "ii-dcr": { as: { dcr: true, iss: true }, target: "hdcri", what: "both advertise iss" },
  "in-dcr": {
    as: { dcr: true, iss: true },
    target: "hdcr",
    what: "attacker advertises iss, honest does not send it",
  },
  "flip-tf": {
    as: { dcr: true, iss: true, flip: { authorization_response_iss_parameter_supported: false } },
    target: "hdcr",
    what: "attacker advertises iss at the start, not at the callback",
  },
  "flip-ft": {
    as: { dcr: true, iss: false, flip: { authorization_response_iss_parameter_supported: true } },
    target: "hdcr",
    what: "attacker says iss false at the start, true at the callback",
  },
  "nn-cimd": { as: { cimd: true }, target: "hcimd", what: "CIMD at both, no iss (the same document URL)" },
  "ni-cimd": { as: { cimd: true }, target: "hcimdi", what: "CIMD at both, honest sends iss" },
  "in-cimd": {
    as: { cimd: true, iss: true },
    target: "hcimd",
    what: "CIMD at both, attacker advertises iss, honest does not send it",
  },
  "nn-dcr2cimd": {
    as: { dcr: true },
    target: "hcimd",
    what: "DCR at the attacker, the gateway's CIMD id at the honest AS",
  },
  "nn-conf": {
    as: { dcr: true },
    target: "hconf",
    what: "configured confidential client at the honest AS, no iss",
  },
  // Look-alikes of hdcri's issuer (which sends iss): tenants of the same host, another port.
  "look-slash": {
    as: { dcr: true, iss: true, origin: "h", path: "/as/hdcri/" },
    target: "hdcri",
    what: "issuer = honest issuer + trailing slash",
  },
  "look-case": {
    as: { dcr: true, iss: true, origin: "h", path: "/AS/HDCRI" },
    target: "hdcri",
    what: "issuer = honest issuer in upper case",
  },
  "look-port": {
    as: { dcr: true, iss: true, origin: "e", path: "/as/hdcri" },
    target: "hdcri",
    what: "issuer = honest issuer on another port",
  },
  "look-host": {
    as: { dcr: true, iss: true, origin: "h", host: "localhost", path: "/as/hdcri" },
    target: "hdcri",
    what: "issuer = honest issuer with localhost for 127.0.0.1",
  },
  "claim-iss": {
    as: { dcr: true, iss: true, origin: "e", path: "/as/claim", claim: "hdcri" },
    target: "hdcri",
    what: "attacker metadata states the honest issuer string",
  },
  "claim-cimd": {
    as: { cimd: true, iss: true, origin: "e", path: "/as/claimc", claim: "hcimdi" },
    target: "hcimdi",
    what: "attacker metadata states the honest CIMD issuer string",
  },
};

const ases: Record<string, AsSpec> = { ...HONEST };
const rs: Record<string, { origin: string; as: string; honest: boolean }> = {};
for (const h of Object.keys(HONEST)) rs[h] = { origin: "h", as: h, honest: true };
rs["hdcr-b"] = { origin: "h", as: "hdcr", honest: true }; // a second server at the same AS
rs["hcimdi-b"] = { origin: "h", as: "hcimdi", honest: true };
for (const [v, a] of Object.entries(ATTACKS)) {
  ases[`a-${v}`] = { kind: "attacker", origin: "e", path: `/as/a-${v}`, ...a.as, target: a.target };
  rs[`e-${v}`] = { origin: "e", as: `a-${v}`, honest: false };
}

interface Fixture {
  h: string;
  e: string;
  state(): Promise<any>;
  post(path: string, body: unknown): Promise<void>;
  stop(): Promise<void>;
}

async function startFixture(): Promise<Fixture> {
  const proc = spawnTracked(process.execPath, [FIXTURE], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, MIXUP: JSON.stringify({ ases, rs }) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const errs: string[] = [];
  createInterface({ input: proc.stderr! }).on("line", (l) => errs.push(l));
  const info = await new Promise<{ h: string; e: string }>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`mixup fixture did not start: ${errs.join("\n")}`)),
      15_000,
    );
    createInterface({ input: proc.stdout! }).once("line", (l) => {
      clearTimeout(timer);
      resolve(JSON.parse(l));
    });
    proc.once("exit", (c) => reject(new Error(`mixup fixture exited ${c}: ${errs.join("\n")}`)));
  });
  return {
    ...info,
    state: async () => (await fetch(`${info.h}/_control/state`)).json(),
    async post(path, body) {
      const r = await fetch(`${info.h}${path}`, { method: "POST", body: JSON.stringify(body) });
      await r.arrayBuffer();
    },
    async stop() {
      await stopChild(proc, "SIGTERM", 5_000);
      killGroup(proc);
      await exited(proc);
    },
  };
}

interface Flow {
  /** -32007 did not come: the JSON-RPC error or result text. */
  early?: string;
  connectUrl?: string;
  /** Every URL the browser was sent to outside the gateway. */
  hops: URL[];
  /** The callback URL that brought the browser back to the gateway, and what it showed. */
  callback?: URL;
  landed?: Page;
  /** The page the walk stopped on when it never reached the gateway's callback. */
  stuck?: string;
}

const isAuthorize = (u: URL) => u.pathname.endsWith("/authorize");

describe("held-out: authorization-code mix-up and redirect-URI confusion", () => {
  let fx: Fixture;
  let bed: Bed;
  const tokens: Record<string, string> = {};
  const browsers: Record<string, FormBrowser> = {};
  const sessions = new Map<string, AttackSession>();
  const connectUrls = new Map<string, string>();

  async function sessionOf(user: string, server: string): Promise<AttackSession> {
    const key = `${user}|${server}`;
    if (!sessions.has(key)) sessions.set(key, await userSession(bed.gw.serverUrl(server), tokens[user]!));
    return sessions.get(key)!;
  }

  async function whoami(
    user: string,
    server: string,
  ): Promise<{ code?: number; text: string; url?: string }> {
    const res = await call(await sessionOf(user, server), "whoami");
    const err = errorFor(res);
    if (err) return { code: err.code, text: res.text, url: (err.data as any)?.url };
    return { text: okText(res, `${user} whoami on ${server}`) };
  }

  /** Follows the browser's hops outside the gateway (approving at any authorize endpoint as `upstreamUser`). */
  async function offsite(browser: FormBrowser, start: URL, upstreamUser: string, flow: Flow): Promise<void> {
    let target = start;
    for (let i = 0; i < 8; i++) {
      if (target.origin === browser.origin) {
        flow.callback = target;
        flow.landed = (await browser.navigate(target.href)).page;
        return;
      }
      if (isAuthorize(target) && !target.searchParams.has("upstream_user"))
        target.searchParams.set("upstream_user", upstreamUser);
      flow.hops.push(new URL(target));
      const res = await fetch(target, { redirect: "manual" });
      const loc = res.headers.get("location");
      const text = await res.text();
      if (!loc) {
        flow.stuck = `HTTP ${res.status} at ${target.origin}${target.pathname}: ${text.slice(0, 200)}`;
        return;
      }
      target = new URL(loc, target);
    }
    flow.stuck = "too many hops";
  }

  /** `user` asks for `server`'s tool, walks the connect link and every hop; the callback is followed unless `hold`. */
  async function flow(user: string, server: string, upstreamUser: string, hold = false): Promise<Flow> {
    const f: Flow = { hops: [] };
    let url = connectUrls.get(`${user}|${server}`);
    if (!url) {
      const r = await whoami(user, server);
      if (r.code !== AUTH_REQUIRED || typeof r.url !== "string") {
        f.early = r.text.slice(0, 300);
        return f;
      }
      url = r.url;
      connectUrls.set(`${user}|${server}`, url);
    }
    f.connectUrl = url;
    const browser = browsers[user]!;
    const w = await walk(browser, url, user);
    if (!w.redirect) {
      f.stuck = `never left the gateway: pages ${w.pages.join(",")}; HTTP ${w.page?.status}: ${textOf(w.page).slice(0, 200)}`;
      return f;
    }
    if (hold) {
      // Stop before the gateway: approve at the first authorize endpoint and keep its answer.
      const u = new URL(w.redirect);
      u.searchParams.set("upstream_user", upstreamUser);
      f.hops.push(u);
      const res = await fetch(u, { redirect: "manual" });
      await res.arrayBuffer();
      const loc = res.headers.get("location");
      if (loc) f.callback = new URL(loc, u);
      return f;
    }
    await offsite(browser, w.redirect, upstreamUser, f);
    return f;
  }

  function auditEvents(): any[] {
    const text = readFileSync(join(bed.dir, "audit.jsonl"), "utf8");
    return text
      .split("\n")
      .filter(Boolean)
      .flatMap((l) => {
        try {
          return [JSON.parse(l)];
        } catch {
          return [];
        }
      });
  }
  const deniedAuth = () => auditEvents().filter((e) => e.event === "auth" && e.status === "denied");

  /** A refusal page a user can read: an error status or words saying so, never "connected". */
  function clearRefusal(page: Page | undefined): string | undefined {
    if (!page) return "no page at all";
    if (looksConnected(page)) return "the page says connected";
    if (page.status >= 300 && page.status < 400) return `a redirect (HTTP ${page.status})`;
    const t = textOf(page);
    if (
      page.status >= 400 ||
      /(refused|denied|invalid|failed|error|could not|not connected|mismatch|expired)/i.test(t)
    )
      return undefined;
    return `HTTP ${page.status}, unclear page: ${t.slice(0, 160)}`;
  }

  /** Everything the attacker gained since `since` (ms timestamp). */
  function leaksSince(st: any, since: number): string[] {
    const out: string[] = [];
    const honestCodes = new Set(st.codes.filter((c: any) => HONEST[c.as]).map((c: any) => c.code));
    const honestTokens = new Set(st.issued.filter((e: any) => HONEST[e.as]).map((e: any) => e.access));
    for (const r of st.log) {
      if (r.at < since) continue;
      if (r.kind === "token" && !HONEST[r.as] && (r.honestCode || honestCodes.has(r.code)))
        out.push(
          `${r.as}'s token endpoint received a code issued by ${r.code.split("_")[1]} (with ` +
            `${r.code_verifier ? "the PKCE verifier" : "no verifier"})${r.redeemed ? ", and redeemed it there" : ""}`,
        );
      if (r.kind === "mcp" && !rs[r.rs]!.honest && r.token && honestTokens.has(r.token))
        out.push(
          `the attacker's server ${r.rs} received a token issued by ${r.tokenAs} (the gateway stored it for ${r.rs})`,
        );
    }
    for (const e of st.issued) {
      if (!HONEST[e.as]) continue;
      const iss = st.log.find((r: any) => r.kind === "token" && r.code === e.code && r.ok);
      if (iss && iss.at < since) continue;
      if (e.by !== "gateway") out.push(`${e.as} issued a token to the ${e.by} (code from ${e.client_id})`);
      const servers = Object.entries(rs)
        .filter(([, s]) => s.as === e.as)
        .map(([n]) => st.rs[n]);
      if (e.resource !== undefined && !servers.includes(e.resource))
        out.push(`${e.as} issued a token for ${e.resource}, not one of its own servers`);
    }
    return [...new Set(out)];
  }

  before(async () => {
    fx = await startFixture();
    const servers = Object.entries(rs).map(([name, s]) => ({
      name,
      url: `${s.origin === "h" ? fx.h : fx.e}/rs/${name}/mcp`,
      auth: name === "hconf" ? { type: "oauth_user", ...CONF_CLIENT } : { type: "oauth_user" },
      tools: { "*": ["demo:use"] },
    }));
    bed = await startOauthGateway("warden-mixup-", servers);
    // The admin registered the confidential client at hconf with the callback the gateway publishes.
    const doc = (await (await fetch(`${bed.gw.url}/connect/client-metadata.json`)).json()) as any;
    const redirects = [...new Set([`${bed.gw.url}/connect/callback`, ...(doc.redirect_uris ?? [])])];
    await fx.post("/_control/client", { as: "hconf", ...CONF_CLIENT, redirect_uris: redirects });
    for (const u of ["alice", "bob", "mallory"]) {
      tokens[u] = await bed.token(u);
      browsers[u] = new FormBrowser(bed.gw.url);
    }
    // Mallory, the attacker's own gateway account, connects to every honest server first: the
    // gateway then has its clients there, and Mallory has seen every client id and redirect URI
    // the gateway uses (the fixture's attacker knows them from here on).
    for (const h of Object.keys(HONEST)) await flow("mallory", h, `mallory-at-${h}`);
  });

  after(async () => {
    await bed?.gw.stop();
    await fx?.stop();
  });

  // ---- legitimate paths: a gateway that refuses everything fails these ----------------------

  async function legit(user: string, server: string) {
    const f = await flow(user, server, `${user}-at-${rs[server]!.as}`);
    assert.ok(!f.early && !f.stuck, `${user} → ${server}: ${f.early ?? f.stuck}`);
    assert.ok(
      looksConnected(f.landed),
      `${user} → ${server}: the callback did not say connected: HTTP ${f.landed?.status} ${textOf(f.landed).slice(0, 300)}`,
    );
    const r = await whoami(user, server);
    assert.equal(r.code, undefined, `${user} → ${server} after connecting: ${r.text.slice(0, 300)}`);
    assert.match(r.text, new RegExp(`"upstream_user":"${user}-at-${rs[server]!.as}"`), r.text);
    assert.match(r.text, new RegExp(`"token_as":"${rs[server]!.as}"`), r.text);
    return f;
  }

  test("legit: a DCR authorization server that says nothing about iss", async () => {
    await legit("alice", "hdcr");
    const st = await fx.state();
    assert.ok(st.clients.hdcr && Object.keys(st.clients.hdcr).length >= 1, "the gateway registered at hdcr");
  });

  test("legit: a CIMD authorization server that sends iss (document fetched, redirect_uris enforced)", async () => {
    const f = await legit("alice", "hcimdi");
    const clientId = f.hops.find(isAuthorize)?.searchParams.get("client_id");
    assert.ok(clientId && /^https?:\/\//.test(clientId), `client_id at a CIMD AS is a URL: ${clientId}`);
    const st = await fx.state();
    assert.ok(
      st.cimdDocs.some((d: any) => d.url === clientId && d.doc.client_id === clientId),
      "hcimdi fetched the gateway's client metadata document",
    );
  });

  test("legit: a configured confidential client", async () => {
    const f = await legit("alice", "hconf");
    assert.equal(f.hops.find(isAuthorize)?.searchParams.get("client_id"), CONF_CLIENT.client_id);
  });

  test("legit: DCR with iss, DCR with iss false, CIMD without iss", async () => {
    for (const s of ["hdcri", "hdcrf", "hcimd"]) await legit("alice", s);
  });

  test("legit: two servers at the same authorization server both connect, each with its own token", async () => {
    await legit("alice", "hdcr-b");
    await legit("alice", "hcimdi-b");
    for (const s of ["hdcr", "hdcr-b", "hcimdi", "hcimdi-b"]) {
      const r = await whoami("alice", s);
      assert.equal(r.code, undefined, `${s} still answers: ${r.text.slice(0, 200)}`);
    }
    const st = await fx.state();
    for (const s of ["hdcr-b", "hcimdi-b"]) {
      const seen = st.log.filter((r: any) => r.kind === "mcp" && r.rs === s && r.accepted);
      assert.ok(seen.length > 0, `${s} accepted a token`);
    }
  });

  // ---- the mix-up --------------------------------------------------------------------------

  for (const [v, spec] of Object.entries(ATTACKS)) {
    test(`mix-up ${v}: ${spec.what}`, async (t) => {
      const server = `e-${v}`;
      const as = `a-${v}`;
      const findings: string[] = [];
      for (let k = 0; k < 8; k++) {
        await fx.post("/_control/phase", { as, phase: "start" });
        await fx.post("/_control/strategy", { as, k });
        const since = Date.now();
        const deniedBefore = deniedAuth().length;
        const f = await flow("alice", server, `alice-at-${spec.target}`);
        const st = await fx.state();
        const fwd = st.forwards.filter((x: any) => x.as === as && x.at >= since).pop();
        const chosen = fwd?.chosen;
        const label = chosen
          ? `k=${k} (client ${chosen.client_id}, redirect_uri ${chosen.redirect_uri})`
          : `k=${k}`;
        // After the flow, Alice's agent calls the attacker's server (what it stores is what it sends).
        await whoami("alice", server).catch(() => undefined);
        const st2 = await fx.state();
        for (const l of leaksSince(st2, since)) findings.push(`${label}: ${l}`);
        t.diagnostic(
          `${label}: ` +
            (f.early
              ? `no connect link: ${f.early.slice(0, 160)}`
              : f.stuck
                ? `stopped: ${f.stuck.slice(0, 200)}`
                : `hops ${f.hops.map((h) => h.origin + h.pathname).join(" -> ")}; callback ${f.callback?.pathname}` +
                  `?${[...(f.callback?.searchParams.keys() ?? [])].join(",")}; page HTTP ${f.landed?.status} ` +
                  `"${textOf(f.landed).slice(0, 120)}"`),
        );
        const honestCode = f.callback?.searchParams.get("code")?.startsWith("hcode_");
        if (honestCode && f.landed) {
          const why = clearRefusal(f.landed);
          if (why) findings.push(`${label}: the honest code's callback in the attacker's flow: ${why}`);
          // Give the audit sink a moment.
          await new Promise((r) => setTimeout(r, 300));
          if (deniedAuth().length <= deniedBefore && !why)
            findings.push(`${label}: the refused callback was not audited (event auth, status denied)`);
        }
        if (!fwd || k + 1 >= fwd.candidates.length) break;
      }
      assert.deepEqual(findings, [], `mix-up ${v} (${spec.what}):\n  ${findings.join("\n  ")}`);
    });
  }

  // ---- callbacks: replay, another AS's iss, another callback path --------------------------

  test("a replayed callback is refused, clearly, audited, and the code is not exchanged again", async () => {
    const since = Date.now();
    const f = await flow("bob", "hdcri", "bob-at-hdcri", true);
    assert.ok(f.callback, `bob's flow reached hdcri: ${f.stuck ?? f.early}`);
    const first = (await browsers.bob!.navigate(f.callback.href)).page;
    assert.ok(looksConnected(first), `the first callback connects: ${textOf(first).slice(0, 200)}`);
    const deniedBefore = deniedAuth().length;
    const again = (await browsers.bob!.navigate(f.callback.href)).page;
    assert.equal(clearRefusal(again), undefined, "the replay");
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(deniedAuth().length > deniedBefore, "the replay was audited as a denied auth event");
    const code = f.callback.searchParams.get("code");
    const st = await fx.state();
    const exchanges = st.log.filter((r: any) => r.kind === "token" && r.code === code);
    assert.equal(exchanges.length, 1, `the code went to token endpoints ${exchanges.length} times`);
    assert.deepEqual(leaksSince(st, since), []);
  });

  test("a callback with the iss of another authorization server is refused and the code goes nowhere", async () => {
    const st0 = await fx.state();
    const findings: string[] = [];
    for (const [server, otherAs] of [
      ["hdcr", "a-nn-dcr"], // the flow's AS says nothing about iss
      ["hcimdi", "a-ni-cimd"], // the flow's AS sends iss
      ["hdcrf", "hdcri"], // an honest AS's iss on another honest AS's flow
    ] as const) {
      const f = await flow("bob", server, `bob-at-${server}`, true);
      if (!f.callback) {
        findings.push(`${server}: no callback (${f.stuck ?? f.early})`);
        continue;
      }
      const cb = new URL(f.callback);
      cb.searchParams.set("iss", st0.issuers[otherAs]);
      const deniedBefore = deniedAuth().length;
      const page = (await browsers.bob!.navigate(cb.href)).page;
      const why = clearRefusal(page);
      if (why) findings.push(`${server} with iss of ${otherAs}: ${why}`);
      await new Promise((r) => setTimeout(r, 300));
      if (deniedAuth().length <= deniedBefore) findings.push(`${server} with iss of ${otherAs}: not audited`);
      const code = cb.searchParams.get("code");
      const st = await fx.state();
      const sent = st.log.filter((r: any) => r.kind === "token" && r.code === code).map((r: any) => r.as);
      if (sent.length)
        findings.push(`${server} with iss of ${otherAs}: the code was sent to ${sent.join(", ")}`);
      const r = await whoami("bob", server);
      if (r.code === undefined) findings.push(`${server} with iss of ${otherAs}: Bob got connected`);
    }
    assert.deepEqual(findings, [], findings.join("\n"));
  });

  test("a callback at another of the gateway's callback paths than its flow's is refused", async (t) => {
    const findings: string[] = [];
    let delivered = 0;
    const st0 = await fx.state();
    const gwOrigin = new URL(bed.gw.url).origin;
    const paths = new Set<string>([`${gwOrigin}/connect/signed-in`, `${gwOrigin}/connect/callback`]);
    for (const r of st0.log)
      if (
        r.kind === "authorize" &&
        typeof r.params?.redirect_uri === "string" &&
        r.params.redirect_uri.startsWith(gwOrigin)
      )
        paths.add(r.params.redirect_uri);
    for (const d of st0.cimdDocs)
      for (const u of d.doc?.redirect_uris ?? []) if (u.startsWith(gwOrigin)) paths.add(u);
    for (const r of st0.log)
      if (r.kind === "register")
        for (const u of r.body?.redirect_uris ?? []) if (u.startsWith(gwOrigin)) paths.add(u);
    for (const server of ["hdcri", "hdcr"]) {
      for (const target of paths) {
        const f = await flow("bob", server, `bob-at-${server}`, true);
        if (!f.callback) {
          findings.push(`${server}: no callback (${f.stuck ?? f.early})`);
          continue;
        }
        const own = `${f.callback.origin}${f.callback.pathname}`;
        if (own === target) continue;
        const moved = new URL(target);
        for (const [k, val] of f.callback.searchParams) moved.searchParams.set(k, val);
        const page = (await browsers.bob!.navigate(moved.href)).page;
        delivered++;
        t.diagnostic(
          `${server}: ${own} delivered at ${target}: HTTP ${page?.status} "${textOf(page).slice(0, 120)}"`,
        );
        const why = clearRefusal(page);
        if (why) findings.push(`${server}: a callback for ${own} delivered at ${target}: ${why}`);
        const code = f.callback.searchParams.get("code");
        const st = await fx.state();
        const sent = st.log.filter((r: any) => r.kind === "token" && r.code === code && !HONEST[r.as]);
        if (sent.length)
          findings.push(
            `${server} at ${target}: the code was sent to ${sent.map((r: any) => r.as).join(", ")}`,
          );
      }
    }
    assert.ok(delivered > 0, "no callback was delivered at another path");
    assert.deepEqual(findings, [], findings.join("\n"));
  });

  test("overall: no honest code, verifier or token ever reached the attacker", async () => {
    const st = await fx.state();
    const leaks = leaksSince(st, 0);
    assert.deepEqual(leaks, [], leaks.join("\n"));
    assert.equal(bed.gw.proc.exitCode, null, "the gateway is alive");
  });
});

function textOf(page: Page | undefined): string {
  if (!page) return "";
  return page.html
    .replace(/<style[\s\S]*?<\/style>/gi, " ")
    .replace(/<[^>]+>/g, " ")
    .replace(/\s+/g, " ")
    .trim();
}
