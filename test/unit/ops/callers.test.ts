// Who a caller is for caps, rate limits and kill rules: the user whatever its client, or for an
// anonymous caller its source address (IPv6 by /64), taken from the socket by the verifier.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  anonymousPrincipal,
  callerId,
  samePrincipal,
  sourceOf,
  tokenPrincipal,
} from "../../../src/auth/principal.js";
import { TokenVerifier } from "../../../src/auth/verifier.js";
import { ConfigError } from "../../../src/config/errors.js";
import { parseConfig } from "../../../src/config/load.js";

const user = (subject: string, clientId?: string) =>
  tokenPrincipal({ subject, clientId, scopes: [], method: "bearer" });

test("sources: IPv4 as is, IPv4-mapped as IPv4, IPv6 by its /64, anything else one 'unknown'", () => {
  assert.equal(sourceOf("127.0.0.2"), "127.0.0.2");
  assert.equal(sourceOf("::ffff:127.0.0.3"), "127.0.0.3");
  assert.equal(sourceOf("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
  assert.equal(sourceOf("2001:db8:1:2::1"), sourceOf("2001:db8:1:2:ffff::9"));
  assert.notEqual(sourceOf("2001:db8:1:2::1"), sourceOf("2001:db8:1:3::1"));
  assert.equal(sourceOf("fe80::1%eth0"), "fe80::/64");
  assert.equal(sourceOf(undefined), "unknown");
  assert.equal(sourceOf("not an address"), "unknown");
});

test("property: two IPv6 addresses share a source exactly when they share their first 64 bits", () => {
  const half = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 4, maxLength: 4 });
  const addr = (hi: number[], lo: number[]) => [...hi, ...lo].map((n) => n.toString(16)).join(":");
  fc.assert(
    fc.property(half, half, half, half, (hiA, loA, hiB, loB) => {
      const same = hiA.every((n, i) => n === hiB[i]);
      assert.equal(sourceOf(addr(hiA, loA)) === sourceOf(addr(hiB, loB)), same);
      assert.equal(sourceOf(addr(hiA, loA)), sourceOf(addr(hiA, loB)));
    }),
  );
});

test("caller ids: one per user whatever the client, one per anonymous source, never colliding", () => {
  assert.equal(callerId(user("alice", "app-1")), callerId(user("alice", "app-2")));
  assert.equal(callerId(user("alice", "app-1")), callerId(user("alice")));
  assert.equal(callerId(anonymousPrincipal([], "127.0.0.2")), "anonymous@127.0.0.2");
  assert.notEqual(
    callerId(anonymousPrincipal([], "127.0.0.2")),
    callerId(anonymousPrincipal([], "127.0.0.3")),
  );
  // A token's subject is anyone's string: it cannot pass for an anonymous source.
  assert.notEqual(callerId(user("anonymous@127.0.0.2")), callerId(anonymousPrincipal([], "127.0.0.2")));
});

test("an anonymous session is bound to its source: another source cannot ride on it", () => {
  const a = anonymousPrincipal(["demo:use"], "127.0.0.2");
  assert.equal(samePrincipal(a, anonymousPrincipal(["demo:use"], "127.0.0.2")), true);
  assert.equal(samePrincipal(a, anonymousPrincipal(["demo:use"], "127.0.0.3")), false);
  assert.equal(samePrincipal(user("alice", "c"), user("alice", "c")), true);
  assert.equal(samePrincipal(user("alice", "c"), user("alice", "d")), false);
});

test("the verifier names anonymous callers by the socket's address, one principal per source", async () => {
  const config = parseConfig(
    "auth: { anonymous: [demo:use] }\nservers: [{ name: s, command: x, tools: { t: [demo:use] } }]\n",
    "/x/t.yaml",
    {},
  );
  const verifier = new TokenVerifier({
    auth: config.auth,
    base: "http://127.0.0.1:1",
    issuer: "http://127.0.0.1:1",
    keys: undefined,
    apiKeys: undefined,
  });
  const route = "http://127.0.0.1:1/mcp";
  const a1 = await verifier.authenticate(undefined, route, { source: sourceOf("127.0.0.2") });
  const a2 = await verifier.authenticate(undefined, route, { source: sourceOf("::ffff:127.0.0.2") });
  const b = await verifier.authenticate(undefined, route, { source: sourceOf("127.0.0.3") });
  assert.equal(a1.subject, "anonymous");
  assert.equal(a1.source, "127.0.0.2");
  assert.equal(a1, a2, "one object per source: per-principal caches keep working");
  assert.equal(b.source, "127.0.0.3");
  assert.equal(a1.scopes, b.scopes, "one scope set for every anonymous caller");
  assert.deepEqual([...a1.scopes], ["demo:use"]);
});

test("config: max_sessions_per_user, or its old name max_sessions_per_caller, not both", () => {
  const server = "servers: [{ name: s, command: x, tools: { t: [a:b] } }]\n";
  const perUser = (gateway: string) =>
    parseConfig(`gateway: { ${gateway} }\n${server}`, "/x/t.yaml", {}).gateway.maxSessionsPerCaller;
  assert.equal(perUser("max_sessions: 9"), 64);
  assert.equal(perUser("max_sessions_per_user: 5"), 5);
  assert.equal(perUser("max_sessions_per_caller: 7"), 7);
  assert.throws(
    () => perUser("max_sessions_per_user: 5, max_sessions_per_caller: 7"),
    (err: ConfigError) =>
      err.problems.some((p) => p.startsWith("gateway.max_sessions_per_caller: the old name")),
  );
});
