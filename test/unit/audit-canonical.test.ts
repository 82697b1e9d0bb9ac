// The canonical JSON written by src/audit/canonical.ts is the `canonicalize` package's, byte for
// byte, on generated hostile values (lone surrogates, controls, `__proto__` and index-like member
// names, astral characters ordered by UTF-16 code units, -0, 1e21, …); what it declines the package
// writes. An event chained through it has the MAC the package's text gives, and a body that reads
// back as the stored event. Property-based (fast-check).
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { test } from "node:test";
import { inspect } from "node:util";
import * as jcs from "canonicalize";
import fc from "fast-check";
import { canonicalData, canonicalHalves, joinMembers } from "../../src/audit/canonical.js";
import { canonical, chain, eventMac, link, withoutHash } from "../../src/audit/chain.js";
import type { AuditEvent } from "../../src/audit/event.js";

const canonicalize = (jcs as unknown as { default: (value: unknown) => string | undefined }).default;
const key = randomBytes(32);
const RUNS = 3000;

/** The package's answer: its text, or that it has none (undefined, or it threw). */
function reference(value: unknown): string | undefined {
  try {
    return canonicalize(value);
  } catch {
    return undefined;
  }
}

function ours(value: unknown): string | undefined {
  try {
    return canonical(value);
  } catch {
    return undefined;
  }
}

/** Strings of any UTF-16 code units: lone surrogates, controls, quotes, backslashes. */
const codeUnits = fc
  .array(
    fc.oneof(
      fc.integer({ min: 0, max: 0x7f }),
      fc.integer({ min: 0xd7f0, max: 0xe010 }),
      fc.integer({ min: 0, max: 0xffff }),
    ),
    { maxLength: 12 },
  )
  .map((units) => String.fromCharCode(...units));
const hostileString = fc.oneof(
  fc.string(),
  fc.string({ unit: "binary" }),
  codeUnits,
  fc.constantFrom(
    "",
    "\u2028",
    "\u007f",
    "\ud800",
    "\udc00x",
    "\u{1f600}",
    "\uffff",
    "\u{10000}",
    "\u00e9",
    "e\u0301",
  ),
);
const memberName = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "__proto__",
      "constructor",
      "toString",
      "toJSON",
      "hasOwnProperty",
      "0",
      "1",
      "10",
      "2",
      "01",
      "-1",
      "4294967295",
      "1e3",
      "hash",
      "seq",
      "prev_hash",
    ),
  },
);
const number = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(
    -0,
    0,
    1e21,
    1e-7,
    1e-6,
    1e20,
    5e-324,
    Number.MAX_VALUE,
    Number.MAX_SAFE_INTEGER + 2,
    0.1 + 0.2,
  ),
);

/** Plain data in every shape an event can take, member names hostile (some own `__proto__`s). */
const { data } = fc.letrec((tie) => ({
  data: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    hostileString,
    number,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("data"), { maxLength: 5 }),
    tie("object"),
  ),
  object: fc
    .array(fc.tuple(memberName, fc.option(tie("data"), { nil: undefined, freq: 8 })), { maxLength: 8 })
    .map((members) => {
      const o: Record<string, unknown> = {};
      // defineProperty: `__proto__` as an own member, as JSON.parse makes it.
      for (const [k, v] of members)
        Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
      return o;
    }),
}));

test("plain data is written as the package writes it", () => {
  fc.assert(
    fc.property(data, (value) => {
      const text = canonicalData(value);
      if (text !== undefined) assert.equal(text, canonicalize(value));
      assert.equal(ours(value), reference(value));
    }),
    { numRuns: RUNS },
  );
});

test("anything else is the package's text, or no text where the package has none", () => {
  const anything = fc.anything({
    key: memberName,
    values: [hostileString, number, fc.boolean(), fc.constant(null), fc.constant(undefined)],
    withBigInt: true,
    withBoxedValues: true,
    withDate: true,
    withMap: true,
    withSet: true,
    withNullPrototype: true,
    withObjectString: true,
    withSparseArray: true,
    withTypedArray: true,
    withUnicodeString: true,
  });
  fc.assert(
    fc.property(anything, (value) => {
      assert.equal(ours(value), reference(value));
    }),
    { numRuns: RUNS },
  );
});

test("named hostile values", () => {
  const proto = JSON.parse('{"__proto__":{"b":1,"a":[1,{"__proto__":null}]},"z":"\\ud800"}') as unknown;
  const nullProto = Object.assign(Object.create(null) as object, { b: 1, a: 2 });
  const holed = [1, , 3]; // eslint-disable-line no-sparse-arrays
  const leadingHole = [, 1]; // eslint-disable-line no-sparse-arrays
  const values: unknown[] = [
    proto,
    nullProto,
    { "\u{10000}": 1, "\uffff": 2, "\ud800": 3, "\udc00": 4, "\u00e9": 5, "e\u0301": 6, "": 7 },
    { 10: "a", 2: "b", a: "c", "01": "d", "-1": "e", "1e3": "f" },
    { constructor: 1, toString: "x", hasOwnProperty: null, toJSON: "not a function" },
    { toJSON: () => ({ b: 1, a: 2 }) },
    { d: new Date(0) },
    [undefined, () => 1, Symbol("s")],
    { f: () => 1, s: Symbol("s"), u: undefined, ok: 1 },
    holed,
    leadingHole,
    { n: -0, big: 1e21, small: 1e-7, tiny: 5e-324, max: Number.MAX_VALUE },
    { n: Number.NaN },
    { n: Number.POSITIVE_INFINITY },
    { n: 1n },
    '\u0000\u001f"\\\u2028\u2029\ud800',
    undefined,
    null,
  ];
  for (const v of values) assert.equal(ours(v), reference(v), inspect(v));
  // The common shapes take the fast path, so the properties above test it and not only the package.
  assert.notEqual(canonicalData({ a: [1, "x", null, { b: true }], c: -0 }), undefined);
  assert.equal(canonicalData(proto), undefined);
});

/** Events as the gateway makes them, fields hostile. */
const event = fc
  .record(
    {
      id: fc.uuid(),
      ts: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      event: fc.constantFrom("tool_call", "denied", "redacted", "injection", "admin", "auth", "audit"),
      principal: fc.record(
        { sub: hostileString, client_id: hostileString, auth: hostileString, source: hostileString },
        { requiredKeys: ["sub"] },
      ),
      session: hostileString,
      request_id: fc.oneof(hostileString, fc.integer(), number),
      server: hostileString,
      tool: hostileString,
      method: hostileString,
      args: hostileString,
      status: hostileString,
      reason: hostileString,
      duration_ms: number,
      result_bytes: fc.nat(),
      result_sha256: hostileString,
      trace_id: hostileString,
      detail: fc.dictionary(memberName, data, { maxKeys: 6 }),
    },
    { requiredKeys: ["id", "ts", "event"] },
  )
  .map((e) => e as unknown as AuditEvent);
const head = fc.record({ seq: fc.nat({ max: 2 ** 40 }), hash: fc.stringMatching(/^[0-9a-f]{64}$/) });

test("a chained event has the MAC of the package's text, and its body reads back as the stored event", () => {
  fc.assert(
    fc.property(event, head, (e, at) => {
      let chained;
      try {
        chained = link(key, at, e);
      } catch {
        // Only what the package cannot write either (NaN, Infinity).
        assert.equal(reference({ ...e, seq: at.seq + 1, prev_hash: at.hash }), undefined);
        return;
      }
      const { stored, text } = chained;
      const macText = canonicalize(withoutHash(stored)) as string;
      assert.equal(stored.hash, createHmac("sha256", key).update(macText).digest("hex"));
      assert.equal(eventMac(key, withoutHash(stored)), stored.hash);
      assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(stored)));
      // Plain data: the body is the stored event's canonical text.
      if (canonicalData(e) !== undefined) assert.equal(text, canonicalize(stored));
      assert.deepEqual(chain(key, at, e), stored);
    }),
    { numRuns: RUNS },
  );
});

test("an event that is not plain data, or has a hash of its own, is chained as it always was", () => {
  const base = { id: "x", ts: "t", event: "admin" } as const;
  const odd: AuditEvent[] = [
    { ...base, detail: { when: new Date(0) } },
    { ...base, detail: { 2: "b", 10: "a" } },
    JSON.parse('{"id":"x","ts":"t","event":"audit","__proto__":{"a":1}}') as AuditEvent,
    { ...base, hash: "f".repeat(64) } as AuditEvent,
  ];
  for (const e of odd) {
    const { stored, text } = link(key, { seq: 3, hash: "a".repeat(64) }, e);
    const linked = { ...e, seq: 4, prev_hash: "a".repeat(64) };
    assert.equal(
      stored.hash,
      createHmac("sha256", key)
        .update(canonicalize(linked) as string)
        .digest("hex"),
    );
    assert.equal(text, JSON.stringify(stored));
  }
});

test("halves joined are the object's text, with a member between them that of the object with it", () => {
  fc.assert(
    fc.property(fc.dictionary(memberName, data, { maxKeys: 8 }), memberName, data, (o, name, v) => {
      fc.pre(!Object.hasOwn(o, name) && reference(v) !== undefined);
      const halves = canonicalHalves(o, name);
      if (halves === undefined) return;
      const [before, after] = halves;
      assert.equal(joinMembers(before, "", after), canonicalize(o));
      const withName = { ...o };
      Object.defineProperty(withName, name, { value: v, enumerable: true });
      const member = `${JSON.stringify(name)}:${canonicalize(v) as string}`;
      assert.equal(joinMembers(before, member, after), canonicalize(withName));
    }),
    { numRuns: RUNS },
  );
});
