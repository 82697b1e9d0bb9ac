// A request's source behind trusted proxies (gateway.trusted_proxies): the right-to-left walk of
// X-Forwarded-For and RFC 7239 Forwarded, property-tested over whatever a client could put in front
// of what the proxies wrote. The one property that matters: the answer is the client the nearest
// trusted proxy saw, or the peer; never a value the client chose.
import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { test } from "node:test";
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { ConfigError } from "../../../src/config/errors.js";
import { parseConfig } from "../../../src/config/load.js";
import {
  bindSource,
  clientAddress,
  parseAddressRange,
  requestSource,
  TrustedProxies,
  type AddressRange,
} from "../../../src/transports/source.js";

const RANGES = ["10.0.0.0/8", "192.0.2.1", "2001:db8:ffff::/48"];
const trusted = new TrustedProxies(RANGES.map((r) => parseAddressRange(r) as AddressRange));
const PROXY = "10.1.2.3";

/** Independent of the code under test: ipaddr.js's own matching of the same ranges. */
function isTrusted(address: string): boolean {
  const a = ipaddr.process(address);
  return RANGES.some((r) => {
    const [base, bits] = r.includes("/")
      ? ipaddr.parseCIDR(r)
      : [ipaddr.parse(r), r.includes(":") ? 128 : 32];
    return a.kind() === base.kind() && a.match(base, bits);
  });
}
const canonical = (address: string) => ipaddr.process(address).toString();

const port = fc.integer({ min: 1, max: 65535 });
/** An address no proxy range holds: what a client really connects from. */
const clientIp = fc.oneof(fc.ipV4(), fc.ipV6()).filter((a) => !isTrusted(a));
/** A trusted hop: inside 10/8 or 2001:db8:ffff::/48. */
const trustedIp = fc.oneof(
  fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255)).map(([a, b, c]) => `10.${a}.${b}.${c}`),
  fc
    .array(fc.nat(0xffff), { minLength: 5, maxLength: 5 })
    .map((p) => `2001:db8:ffff:${p.map((n) => n.toString(16)).join(":")}`),
);
/** How X-Forwarded-For writers spell an address: bare, IPv4 with a port, IPv6 in brackets. */
const xffSpelling = (address: string) =>
  address.includes(":")
    ? fc
        .constantFrom(address, `[${address}]`)
        .chain((a) =>
          a.startsWith("[") ? fc.option(port).map((p) => (p === null ? a : `${a}:${p}`)) : fc.constant(a),
        )
    : fc.option(port).map((p) => (p === null ? address : `${address}:${p}`));
/** How RFC 7239 spells a node: IPv4 as a token, or quoted with a port; IPv6 quoted in brackets. */
const forwardedSpelling = (address: string) =>
  address.includes(":")
    ? fc.option(port).map((p) => `"[${address}]${p === null ? "" : `:${p}`}"`)
    : fc.option(port).map((p) => (p === null ? address : `"${address}:${p}"`));
/** Whatever a client sends in the header before the first proxy appends to it. */
const clientText = fc.oneof(
  fc.string(),
  fc
    .array(fc.oneof(fc.ipV4(), trustedIp, fc.constantFrom("unknown", '"', "for=", ";", "[::1", "")), {
      maxLength: 6,
    })
    .map((a) => a.join(", ")),
);

const chain = fc.record({
  prefix: fc.option(clientText, { nil: undefined }),
  client: clientIp,
  hops: fc.array(trustedIp, { maxLength: 6 }),
});

test("X-Forwarded-For from a trusted peer: the first untrusted address from the right, whatever the client put before it", () => {
  fc.assert(
    fc.property(
      chain.chain(({ prefix, client, hops }) =>
        fc.tuple(xffSpelling(client), ...hops.map(xffSpelling)).map((spelt) => ({
          client,
          header: [...(prefix === undefined ? [] : [prefix]), ...spelt].join(", "),
        })),
      ),
      ({ client, header }) => {
        assert.equal(clientAddress(PROXY, { xForwardedFor: header }, trusted), canonical(client));
        // The same header from a peer that is no trusted proxy is not read at all.
        assert.equal(clientAddress("203.0.113.9", { xForwardedFor: header }, trusted), "203.0.113.9");
        assert.equal(clientAddress(PROXY, { xForwardedFor: header }, TrustedProxies.NONE), PROXY);
      },
    ),
    { numRuns: 500 },
  );
});

test("RFC 7239 Forwarded from a trusted peer: the same walk over its for= nodes", () => {
  fc.assert(
    fc.property(
      chain.chain(({ prefix, client, hops }) =>
        fc.tuple(forwardedSpelling(client), ...hops.map(forwardedSpelling)).map(([first, ...rest]) => ({
          client,
          header: [
            ...(prefix === undefined ? [] : [prefix]),
            `for=${first};proto=https;by=${PROXY}`,
            ...rest.map((n) => `For=${n}`),
          ].join(", "),
        })),
      ),
      ({ client, header }) => {
        assert.equal(clientAddress(PROXY, { forwarded: header }, trusted), canonical(client));
        assert.equal(clientAddress("198.51.100.1", { forwarded: header }, trusted), "198.51.100.1");
      },
    ),
    { numRuns: 500 },
  );
});

test("whatever else arrives beside the proxy's header, the answer is the proxy's client or the peer", () => {
  fc.assert(
    fc.property(chain, fc.string(), ({ prefix, client, hops }, forwarded) => {
      const xff = [...(prefix === undefined ? [] : [prefix]), client, ...hops].join(", ");
      const got = clientAddress(PROXY, { xForwardedFor: xff, forwarded }, trusted);
      assert.ok(got === canonical(client) || got === PROXY, `${got} from ${forwarded}`);
    }),
    { numRuns: 500 },
  );
  // Both name the same client: taken; they disagree (one was passed through from the client): the peer.
  assert.equal(
    clientAddress(
      PROXY,
      { xForwardedFor: "198.51.100.7, 10.0.0.2", forwarded: "for=198.51.100.7, for=10.0.0.2" },
      trusted,
    ),
    "198.51.100.7",
  );
  assert.equal(
    clientAddress(PROXY, { xForwardedFor: "198.51.100.7", forwarded: "for=203.0.113.1" }, trusted),
    PROXY,
  );
});

test("an entry the walk reaches that is no address, a missing header, or a walk past 32 trusted hops: the peer", () => {
  fc.assert(
    fc.property(
      fc.option(clientText, { nil: undefined }),
      fc.string().filter((s) => !s.includes(",") && !ipaddr.isValid(s.trim().replace(/^\[|\](:\d+)?$/g, ""))),
      fc.array(trustedIp, { maxLength: 4 }),
      (prefix, junk, hops) => {
        const header = [...(prefix === undefined ? [] : [prefix]), junk, ...hops].join(", ");
        assert.equal(clientAddress(PROXY, { xForwardedFor: header }, trusted), PROXY, header);
      },
    ),
    { numRuns: 300 },
  );
  for (const header of [
    "",
    " ",
    "198.51.100.7,",
    "198.51.100.7, ,10.0.0.1",
    "unknown",
    "127.1",
    "0x7f000001",
    "1.2.3.4:x",
  ])
    assert.equal(clientAddress(PROXY, { xForwardedFor: header }, trusted), PROXY, JSON.stringify(header));
  for (const header of [
    "for=unknown",
    "for=_hidden",
    "proto=https",
    "for=2001:db8::1",
    'for="198.51.100.7',
    "for=1.2.3.4;for=5.6.7.8",
  ])
    assert.equal(clientAddress(PROXY, { forwarded: header }, trusted), PROXY, header);
  assert.equal(clientAddress(PROXY, {}, trusted), PROXY);
  const many = Array.from({ length: 33 }, (_, i) => `10.0.0.${i}`);
  assert.equal(clientAddress(PROXY, { xForwardedFor: ["198.51.100.7", ...many].join(",") }, trusted), PROXY);
  assert.equal(
    clientAddress(PROXY, { xForwardedFor: ["198.51.100.7", ...many.slice(1)].join(",") }, trusted),
    "198.51.100.7",
  );
  // Every hop trusted (a proxy's own request): the leftmost.
  assert.equal(clientAddress(PROXY, { xForwardedFor: "10.9.9.9, 10.0.0.1" }, trusted), "10.9.9.9");
});

test("a request's source: the client's address by the sources' rules (IPv6 by /64), once, at arrival", () => {
  const req = (peer: string, headers: Record<string, string>) =>
    ({ socket: { remoteAddress: peer }, headers }) as unknown as IncomingMessage;
  const bound = (r: IncomingMessage, t = trusted) => {
    bindSource(r, t);
    return requestSource(r);
  };
  const behind = req("::ffff:10.0.0.1", { "x-forwarded-for": "2001:db8:1:2:aaaa::1" });
  assert.equal(bound(behind), "2001:db8:1:2::/64");
  // The embedded issuer drops the header later: the source stays.
  delete behind.headers["x-forwarded-for"];
  assert.equal(requestSource(behind), "2001:db8:1:2::/64");
  assert.equal(requestSource(req("203.0.113.5", { "x-forwarded-for": "1.1.1.1" })), "203.0.113.5");
  assert.equal(bound(req("203.0.113.5", { "x-forwarded-for": "1.1.1.1" })), "203.0.113.5");
  assert.equal(bound(req("10.0.0.1", { "x-forwarded-for": "1.1.1.1" }), TrustedProxies.NONE), "10.0.0.1");
  assert.equal(bound(req("10.0.0.1", { forwarded: 'for="[::ffff:198.51.100.9]:443"' })), "198.51.100.9");
});

test("trusted_proxies: CIDR ranges or single addresses, checked at load with their YAML path", () => {
  const minimal = "servers:\n  - name: a\n    command: node\n";
  const load = (list: string) =>
    parseConfig(`gateway:\n  trusted_proxies: ${list}\n${minimal}`, "/x/test.yaml", {}).gateway
      .trustedProxies;
  assert.equal(parseConfig(minimal, "/x/test.yaml", {}).gateway.trustedProxies.empty, true);
  const t = load('[10.0.0.0/8, "::1", 192.0.2.7, "2001:db8::/32", "::ffff:172.16.0.0/108"]');
  for (const inside of ["10.255.0.1", "::1", "192.0.2.7", "2001:db8:5::1", "172.16.3.4"])
    assert.ok(t.contains(ipaddr.process(inside)), inside);
  for (const outside of ["11.0.0.1", "::2", "192.0.2.8", "2001:db9::1", "172.32.0.1"])
    assert.ok(!t.contains(ipaddr.process(outside)), outside);
  for (const bad of [
    "[10.0.0.0/33]",
    "[10.0.0.0/]",
    "[127.1]",
    "[proxy.internal]",
    '["::1/129"]',
    "[0x7f000001]",
    "[10.0.0.0/8x]",
  ]) {
    assert.throws(
      () => load(bad),
      (err: unknown) =>
        err instanceof ConfigError && err.problems.some((p) => p.startsWith("gateway.trusted_proxies[0]")),
      bad,
    );
  }
});
