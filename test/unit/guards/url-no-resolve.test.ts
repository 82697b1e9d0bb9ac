// The URL guard's no-resolve mode (`resolveHosts: false`), used for URLs someone else opens (an
// elicitation's URL, a serverInfo's links): the host is judged as written and never looked up, so
// whoever chose the name cannot see the gateway ask for it.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { compileUrlGuard } from "../../../src/policy/guards/index.js";
import { corpusLines } from "./fixtures.js";

let lookups = 0;
const counted = async (): Promise<readonly string[]> => {
  lookups++;
  return ["93.184.215.14"];
};
const anyHost = compileUrlGuard({ allowedDomains: ["*"], resolve: counted, resolveHosts: false });
/** The same guard resolving every name to a public address: what DNS cannot change. */
const benignDns = compileUrlGuard({ allowedDomains: ["*"], resolve: async () => ["93.184.215.14"] });

test("no name is ever resolved", async () => {
  lookups = 0;
  for (const u of ["https://example.com/", "https://a.b.example.net/x", "http://attacker-chosen.example/"])
    assert.equal((await anyHost.check(u)).allowed, true, u);
  fc.assert(
    fc.asyncProperty(fc.domain(), async (host) => {
      await anyHost.check(`https://${host}/`);
    }),
    { numRuns: 200 },
  );
  assert.equal(lookups, 0);
});

test("at least as strict as resolving with benign DNS: every url-deny.txt payload DNS cannot excuse", async () => {
  const allowed: string[] = [];
  for (const u of corpusLines("url-deny.txt")) {
    if ((await benignDns.check(u)).allowed) continue; // refused there only by its resolution
    if ((await anyHost.check(u)).allowed) allowed.push(u);
  }
  assert.deepEqual(allowed, []);
});

test("names internal by convention, loopback names and metadata names are refused under *", async () => {
  for (const u of [
    "http://localhost/",
    "http://app.localhost:3000/",
    "http://intranet/",
    "http://printer.local/",
    "https://wiki.corp.internal/",
    "https://nas.home.arpa/",
    "http://router.lan/",
    "http://box.localdomain/",
    "http://metadata.google.internal/",
    "http://metadata/",
    "http://instance-data/",
    "http://10.0.0.1/",
    "http://169.254.169.254/",
    "http://[::1]/",
    "http://2130706433/",
    "https://user:pw@example.com/",
    "javascript:alert(1)",
  ]) {
    const d = await anyHost.check(u);
    assert.equal(d.allowed, false, u);
    assert.equal(d.allowed ? "" : d.reason, "domain_not_allowed");
  }
});

test("a name listed in allowed_domains is trusted as listed, internal or not; others are refused", async () => {
  const listed = compileUrlGuard({
    allowedDomains: ["wiki.corp.internal", "*.example.org", "93.184.215.14"],
    allowNetworks: ["10.1.0.0/16"],
    resolve: counted,
    resolveHosts: false,
  });
  lookups = 0;
  for (const u of ["https://wiki.corp.internal/x", "https://a.example.org/", "https://93.184.215.14/"])
    assert.equal((await listed.check(u)).allowed, true, u);
  for (const u of [
    "https://other.corp.internal/",
    "https://example.org/",
    "https://evil.example/",
    "http://localhost/",
    "http://10.1.2.3/", // exempted network, but not a listed IP literal
  ])
    assert.equal((await listed.check(u)).allowed, false, u);
  assert.equal(lookups, 0);
  const exempt = compileUrlGuard({
    allowedDomains: ["*"],
    allowNetworks: ["10.1.0.0/16"],
    resolveHosts: false,
  });
  assert.equal((await exempt.check("http://10.1.2.3/")).allowed, true);
  assert.equal((await exempt.check("http://10.2.0.1/")).allowed, false);
});
