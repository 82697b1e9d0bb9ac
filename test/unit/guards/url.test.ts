import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { compileUrlGuard, GuardConfigError, type UrlGuard } from "../../../src/policy/guards/index.js";
import { corpusJson, corpusLines } from "./fixtures.js";

const answers = corpusJson<Record<string, string[]>>("url-resolver.json");
const resolve = async (host: string): Promise<readonly string[]> => {
  if (host !== "_comment" && Object.hasOwn(answers, host)) return answers[host] as string[];
  throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
};
const LISTED = [
  "example.com",
  "*.example.org",
  "api.github.com",
  "93.184.215.14",
  "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
];
const anyHost = compileUrlGuard({ allowedDomains: ["*"], resolve });
const listed = compileUrlGuard({ allowedDomains: LISTED, resolve });

async function refusedAll(guard: UrlGuard, values: readonly string[]): Promise<string[]> {
  const allowed: string[] = [];
  for (const v of values) if ((await guard.check(v)).allowed) allowed.push(v);
  return allowed;
}

describe("URL guard corpora", () => {
  test("every payload of url-deny.txt is refused, even with every host name allowed", async () => {
    const payloads = corpusLines("url-deny.txt");
    assert.ok(payloads.length >= 160, `corpus has ${payloads.length} payloads`);
    assert.deepEqual(await refusedAll(anyHost, payloads), []);
    assert.deepEqual(await refusedAll(listed, payloads), []);
  });

  test("every URL of url-allow.txt is allowed", async () => {
    const refused: string[] = [];
    for (const u of corpusLines("url-allow.txt")) {
      const d = await listed.check(u);
      if (!d.allowed) refused.push(`${u} (${d.detail})`);
    }
    assert.deepEqual(refused, []);
  });
});

describe("URL guard semantics", () => {
  test("`*.suffix` matches names below the suffix at any depth, not the suffix itself", async () => {
    const g = compileUrlGuard({ allowedDomains: ["*.example.org"], resolve: async () => ["104.18.2.1"] });
    assert.equal((await g.check("https://docs.example.org/")).allowed, true);
    assert.equal((await g.check("https://a.b.example.org/")).allowed, true);
    assert.equal((await g.check("https://example.org/")).allowed, false);
    assert.equal((await g.check("https://evilexample.org/")).allowed, false);
    assert.equal((await g.check("https://example.org.evil.com/")).allowed, false);
  });

  test("names outside the list are refused before any lookup", async () => {
    let lookups = 0;
    const g = compileUrlGuard({
      allowedDomains: ["example.com"],
      resolve: async () => (lookups++, ["93.184.215.14"]),
    });
    const d = await g.check("https://example.net/");
    assert.ok(!d.allowed && d.reason === "domain_not_allowed");
    assert.equal(lookups, 0);
  });

  test("IP literals pass only when listed (or with *), and only when public", async () => {
    assert.equal((await listed.check("http://93.184.215.14/")).allowed, true);
    assert.equal((await listed.check("http://1.1.1.1/")).allowed, false);
    assert.equal((await anyHost.check("http://1.1.1.1/")).allowed, true);
    const privateListed = compileUrlGuard({ allowedDomains: ["10.0.0.5"], resolve });
    assert.equal((await privateListed.check("http://10.0.0.5/")).allowed, false);
  });

  test("allowNetworks admits internal services but never metadata addresses", async () => {
    const g = compileUrlGuard({
      allowedDomains: ["*.corp.internal", "10.1.2.3"],
      allowNetworks: ["10.0.0.0/8", "169.254.0.0/16"],
      resolve: async (h) => (h === "git.corp.internal" ? ["10.20.30.40"] : ["169.254.169.254"]),
    });
    assert.equal((await g.check("https://git.corp.internal/")).allowed, true);
    assert.equal((await g.check("http://10.1.2.3/")).allowed, true);
    assert.equal((await g.check("http://imds.corp.internal/")).allowed, false);
  });

  test("a slow or failing resolver is a denial", async () => {
    const slow = compileUrlGuard({
      allowedDomains: ["*"],
      resolveTimeoutMs: 20,
      resolve: () => new Promise(() => {}),
    });
    assert.equal((await slow.check("https://example.com/")).allowed, false);
    const broken = compileUrlGuard({ allowedDomains: ["*"], resolve: async () => [42 as unknown as string] });
    assert.equal((await broken.check("https://example.com/")).allowed, false);
  });

  test("hostile values fail closed", async () => {
    for (const v of [undefined, null, 7, {}, [], "", `https://example.com/${"a".repeat(9000)}`]) {
      assert.equal((await listed.check(v as unknown as string)).allowed, false);
    }
  });

  test("options are validated at compile time", () => {
    const bad: unknown[] = [
      { allowedDomains: "example.com" },
      { allowedDomains: ["https://example.com"] },
      { allowedDomains: ["example.com:443"] },
      { allowedDomains: ["*.10.0.0.1"] },
      { allowedDomains: ["exa mple.com"] },
      { allowedDomains: ["user@example.com"] },
      { allowedDomains: ["*"], allowNetworks: ["10.0.0.0/33"] },
      { allowedDomains: ["*"], resolveTimeoutMs: 0 },
    ];
    for (const opts of bad)
      assert.throws(() => compileUrlGuard(opts as never), GuardConfigError, JSON.stringify(opts));
  });
});

/** Every notation a URL host can give an IPv4 address (WHATWG and inet_aton agree on all of them). */
function notations(o: readonly number[]): string[] {
  const [a, b, c, d] = o as [number, number, number, number];
  const n = ((a << 24) >>> 0) + (b << 16) + (c << 8) + d;
  const hex = (x: number) => `0x${x.toString(16)}`;
  const oct = (x: number) => `0${x.toString(8)}`;
  const h = (x: number) => x.toString(16);
  return [
    `${a}.${b}.${c}.${d}`,
    `${a}.${b}.${c}.${d}.`,
    String(n),
    hex(n),
    `0x${n.toString(16).toUpperCase()}`,
    `0${n.toString(8)}`,
    o.map(hex).join("."),
    o.map(oct).join("."),
    `${oct(a)}.${b}.${hex(c)}.${d}`,
    `${a}.${(b << 16) + (c << 8) + d}`,
    `${a}.${b}.${(c << 8) + d}`,
    `${hex(a)}.${hex((b << 16) + (c << 8) + d)}`,
    `[::ffff:${a}.${b}.${c}.${d}]`,
    `[::ffff:${h((a << 8) + b)}:${h((c << 8) + d)}]`,
    `[0:0:0:0:0:ffff:${a}.${b}.${c}.${d}]`,
    `[64:ff9b::${a}.${b}.${c}.${d}]`,
    `[2002:${h((a << 8) + b)}:${h((c << 8) + d)}::1]`,
  ];
}

const FORBIDDEN_V4: ReadonlyArray<readonly [number, number, number, number, number]> = [
  // base octets and prefix length
  [0, 0, 0, 0, 8],
  [10, 0, 0, 0, 8],
  [100, 64, 0, 0, 10],
  [127, 0, 0, 0, 8],
  [169, 254, 0, 0, 16],
  [172, 16, 0, 0, 12],
  [192, 0, 0, 0, 24],
  [192, 0, 2, 0, 24],
  [192, 168, 0, 0, 16],
  [198, 18, 0, 0, 15],
  [198, 51, 100, 0, 24],
  [203, 0, 113, 0, 24],
  [224, 0, 0, 0, 4],
  [240, 0, 0, 0, 4],
];

const forbiddenV4 = fc
  .tuple(fc.constantFrom(...FORBIDDEN_V4), fc.integer({ min: 0, max: 0xffffffff }))
  .map(([[a, b, c, d, len], r]) => {
    const baseN = ((a << 24) >>> 0) + (b << 16) + (c << 8) + d;
    const host = len === 32 ? 0 : r & (0xffffffff >>> len);
    const n = (baseN + host) >>> 0;
    return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  });

const FORBIDDEN_V6_PREFIXES: ReadonlyArray<readonly [string, number]> = [
  ["fc00", 7],
  ["fe80", 10],
  ["fec0", 10],
  ["ff00", 8],
  ["2001:0db8", 32],
  ["2001:0000", 23],
  ["0100:0000:0000:0000", 64],
];

const forbiddenV6 = fc
  .tuple(
    fc.constantFrom(...FORBIDDEN_V6_PREFIXES),
    fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }),
  )
  .map(([[prefix, len], random]) => {
    const fixed = prefix.split(":").map((g) => parseInt(g, 16));
    const groups = random.map((g, i) => {
      const bitsFixed = Math.max(0, Math.min(16, len - i * 16));
      if (bitsFixed === 0) return g;
      const mask = (0xffff << (16 - bitsFixed)) & 0xffff;
      return ((fixed[i] ?? 0) & mask) | (g & ~mask & 0xffff);
    });
    return `[${groups.map((g) => g.toString(16)).join(":")}]`;
  });

describe("URL guard properties", () => {
  const url = fc.tuple(
    fc.constantFrom("http", "https", "HTTP", "hTTps"),
    fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
    fc.constantFrom("/", "/latest/meta-data/", "", "/?q=1", "#x"),
  );

  test("no URL to a private, loopback, link-local or metadata IPv4 address is allowed, in any notation", async () => {
    await fc.assert(
      fc.asyncProperty(forbiddenV4, url, async (octets, [scheme, port, tail]) => {
        for (const host of notations(octets)) {
          const u = `${scheme}://${host}${port ? `:${port}` : ""}${tail}`;
          assert.equal((await anyHost.check(u)).allowed, false, u);
        }
      }),
      { numRuns: 400 },
    );
  });

  test("no URL to a non-global IPv6 address is allowed", async () => {
    await fc.assert(
      fc.asyncProperty(forbiddenV6, url, async (host, [scheme, port, tail]) => {
        const u = `${scheme}://${host}${port ? `:${port}` : ""}${tail}`;
        assert.equal((await anyHost.check(u)).allowed, false, u);
      }),
      { numRuns: 400 },
    );
  });

  test("no name whose answers include a forbidden address is allowed, whatever else it answers", async () => {
    const answer = fc.oneof(
      forbiddenV4.map((o) => o.join(".")),
      forbiddenV6.map((h) => h.slice(1, -1)),
      forbiddenV4.map((o) => `::ffff:${o.join(".")}`),
    );
    await fc.assert(
      fc.asyncProperty(
        answer,
        fc.array(fc.constantFrom("93.184.215.14", "2606:4700::1111", "8.8.8.8")),
        fc.nat(),
        async (bad, good, at) => {
          const all: string[] = [...good];
          all.splice(at % (good.length + 1), 0, bad);
          const g = compileUrlGuard({ allowedDomains: ["*"], resolve: async () => all });
          assert.equal((await g.check("https://service.example.com/")).allowed, false, all.join(","));
        },
      ),
      { numRuns: 300 },
    );
  });

  test("public addresses in the same notations stay allowed (the notation itself is not what refuses)", async () => {
    for (const host of notations([93, 184, 215, 14]).slice(0, 12)) {
      const d = await anyHost.check(`http://${host}/`);
      assert.equal(d.allowed, true, `${host}: ${d.allowed ? "" : d.detail}`);
    }
  });
});
