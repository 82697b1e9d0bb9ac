// The redactor's gate (src/protect/redaction/gate.ts) changes no finding. It may skip a place only
// where a pattern cannot match there: every place a pattern matches is one the gate tries, the
// strings read off a pattern start every string it matches, and the automaton finds exactly where
// strings start. Then the end result: every detector finds the same spans in the same order with
// and without the gate, and the redactor's output is the same byte for byte, on every corpus under
// test/corpora/ and on random texts made of their pieces and of the patterns' own literals.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { atStarts, foldedUnits, literalStarts } from "../../../src/protect/literal-scan.js";
import { changedWindows, WINDOW_MARGIN } from "../../../src/protect/normalise/index.js";
import { prefixLiterals } from "../../../src/protect/patterns.js";
import { contextSecrets } from "../../../src/protect/redaction/context.js";
import { disguisedTokens } from "../../../src/protect/redaction/disguised.js";
import { compileGate } from "../../../src/protect/redaction/gate.js";
import { compileRedactor, compileUngatedRedactor } from "../../../src/protect/redaction/index.js";
import { contextPii } from "../../../src/protect/redaction/pii-context.js";
import { digitPii, email, IBAN_RUN, iban } from "../../../src/protect/redaction/pii.js";
import { assignedSecret, awsSecretKey, secretTokens } from "../../../src/protect/redaction/secrets.js";
import type { Finding } from "../../../src/protect/redaction/types.js";
import { generateEvasions } from "../../corpora/redaction/evasions.js";
import { generateCorpus } from "../../corpora/redaction/generate.js";
import { withoutAssertions } from "../../helpers/regex.js";

const DETECTORS = {
  secretTokens,
  awsSecretKey,
  disguisedTokens,
  contextSecrets,
  digitPii,
  iban,
  email,
  contextPii,
  assignedSecret,
};
const PATTERNS = Object.values(DETECTORS).flatMap((d) => d.patterns ?? []);
const gateOf = compileGate(PATTERNS, IBAN_RUN);
const key = new Uint8Array(32).fill(5);
const gated = compileRedactor({ hashKey: key });
const ungated = compileUngatedRedactor({ hashKey: key });

/** Every string in every file under test/corpora/, and the generated corpora. */
function corpusTexts(): string[] {
  const out: string[] = [];
  const strings = (v: unknown): void => {
    if (typeof v === "string") out.push(v);
    else if (Array.isArray(v)) v.forEach(strings);
    else if (typeof v === "object" && v !== null) {
      Object.values(v).forEach(strings);
      out.push(JSON.stringify(v));
    }
  };
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith(".json")) strings(JSON.parse(readFileSync(path, "utf8")));
      else if (name.endsWith(".txt") || name.endsWith(".md")) {
        const text = readFileSync(path, "utf8");
        out.push(text, ...text.split("\n"));
      }
    }
  };
  walk(fileURLToPath(new URL("../../corpora/", import.meta.url)));
  const generated = generateCorpus();
  const evasions = generateEvasions();
  for (const s of [
    ...generated.positives,
    ...generated.negatives,
    ...evasions.positives,
    ...evasions.negatives,
  ])
    out.push(s.text);
  return out;
}
const CORPUS = corpusTexts();

/** Pieces random texts are made of: the patterns' literals in both cases, shapes, separators. */
const PIECES = [
  ...new Set(
    PATTERNS.flatMap((re) => prefixLiterals(re.source) ?? []).flatMap((l) => [
      l,
      l.toUpperCase(),
      l.toLowerCase(),
      [...l].reverse().join(""),
    ]),
  ),
  ..."password|api_key|secret_key|token|passwd|Authorization: Bearer |aws_secret_access_key|ssn |tel.|phone: ".split(
    "|",
  ),
  ...["=", ": ", ":=", '"', "'", "`", " ", "  ", "\t", "\n", "\r\n", ",", ";", "(", ")", "[", "]", "<", ">"],
  ...["+", "X", "-", ".", "/", "_", "@", "://", "user:pa55w0rd@", "example.com", "a [at] b [dot] com"],
  ...["0", "1", "2", "7", "9", "12", "345", "4111", "1111", "5555", "123-45-6789", "078-05-1120"],
  ...["4111 1111 1111 1111", "4111111111111111", "+1 415 555 0132", "(415) 555-0132", "13812345678"],
  ...["110101199003074578", "11010119900307457X", "GB29 NWBK 6016 1331 9268 19", "DE89370400440532013000"],
  ...[
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "Zx9Yq8Wv7Ut6Sr5Qp4On3Ml2",
    "eyJhbGciOiJIUzI1NiJ9",
  ],
  ...["-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----", "MIIEowIBAAKCAQEA", "\\n"],
  ...[
    "ſ",
    "\u212a",
    "é",
    "ó",
    "ñ",
    "ł",
    "ş",
    "Т",
    "а",
    "о",
    "р",
    "ⅼ",
    "：",
    "，",
    "Ａ",
    "\ud835\udc00",
    "\ud835",
  ],
  ...[
    "\u200b",
    "\u00ad",
    "\\u0041",
    "\\x41",
    "%41",
    "%4",
    "&#65;",
    "&amp;",
    "&#x41;",
    "密码",
    "电话",
    "共 12 条",
  ],
];
const slice = fc
  .tuple(fc.constantFrom(...CORPUS), fc.nat(), fc.integer({ min: 1, max: 120 }))
  .map(([t, at, n]) => t.slice(at % (t.length + 1), (at % (t.length + 1)) + n));
const piece = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...PIECES) },
  { weight: 2, arbitrary: slice },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(..."AZaz09 -./\n\t+X_"), maxLength: 24 }) },
);
const text = fc.array(piece, { maxLength: 40, size: "max" }).map((a) => a.join(""));

const fold = (s: string) =>
  Array.from(s, (c) => String.fromCharCode(foldedUnits()[c.charCodeAt(0)] as number)).join("");

function sameFindings(t: string): void {
  const gate = gateOf(t);
  for (const [name, d] of Object.entries(DETECTORS)) {
    const without: Finding[] = [];
    const withGate: Finding[] = [];
    d.scan(t, without);
    d.scan(t, withGate, gate);
    assert.deepEqual(withGate, without, `${name}: ${JSON.stringify(t)}`);
  }
  assert.deepEqual(
    changedWindows(t, WINDOW_MARGIN, gate.changes),
    changedWindows(t),
    `windows: ${JSON.stringify(t)}`,
  );
}

function sameRedaction(t: string): void {
  assert.deepEqual(gated.redact(t), ungated.redact(t), JSON.stringify(t));
}

describe("redaction gate", () => {
  test("the patterns that scan for keywords are gated", () => {
    const gatedCount = PATTERNS.filter((re) => prefixLiterals(re.source) !== undefined).length;
    assert.ok(gatedCount >= 14, `${gatedCount} of ${PATTERNS.length} patterns gated`);
  });

  test("property: every string a gated pattern matches starts with one of its prefixes", () => {
    for (const re of PATTERNS) {
      const prefixes = prefixLiterals(re.source);
      if (prefixes === undefined) continue;
      const arb = fc.stringMatching(new RegExp(`^(?:${withoutAssertions(re.source)})$`));
      fc.assert(
        fc.property(arb, (s) => {
          assert.ok(
            prefixes.some((p) => fold(s.slice(0, p.length)) === fold(p)),
            `/${re.source}/: ${JSON.stringify(s)}`,
          );
        }),
        { numRuns: 300 },
      );
    }
  });

  test("the automaton finds exactly where each string starts, ignoring case", () => {
    const sets = [["ph", "phone", "tel"], ["aws", "wsx"], ["ſecret", "密码"], ["x"]];
    const scan = literalStarts(sets);
    const chars = fc.constantFrom(..."phonePHONEtelTELawsxWSXsecretſ密码 .x");
    fc.assert(
      fc.property(fc.string({ unit: chars, maxLength: 40 }), (s) => {
        const found = scan(s);
        sets.forEach((set, k) => {
          const expected: number[] = [];
          for (let i = 0; i < s.length; i++) {
            if (set.some((w) => fold(s.slice(i, i + w.length)) === fold(w))) expected.push(i);
          }
          assert.deepEqual([...(found[k] ?? [])], expected, JSON.stringify(s));
        });
      }),
      { numRuns: 3000 },
    );
  });

  test("a matcher at starts runs as the global regex does, wherever a loop moves lastIndex", () => {
    const re = /ab+|b[a-c]/g;
    const sticky = /ab+|b[a-c]/y;
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom(..."abcx"), maxLength: 30 }),
        fc.array(fc.option(fc.nat(32), { nil: undefined }), { maxLength: 12 }),
        (t, moves) => {
          const starts = Int32Array.from([...t].flatMap((c, i) => (c === "a" || c === "b" ? [i] : [])));
          const m = atStarts(sticky, starts.length > 0 ? starts : undefined);
          re.lastIndex = 0;
          for (const move of moves) {
            if (move !== undefined) {
              re.lastIndex = move;
              m.lastIndex = move;
            }
            const a = re.exec(t);
            const b = m.exec(t);
            assert.equal(b?.index, a?.index, JSON.stringify([t, moves]));
            assert.equal(b?.[0], a?.[0]);
            assert.equal(m.lastIndex, re.lastIndex);
          }
        },
      ),
      { numRuns: 5000 },
    );
  });

  test("property: every place a gated pattern matches, its matcher tries", () => {
    const all = [...PATTERNS, IBAN_RUN];
    const sticky = all.map((re) => new RegExp(re.source, re.flags.replace("g", "") + "y"));
    fc.assert(
      fc.property(text, (t) => {
        const gate = gateOf(t);
        all.forEach((re, k) => {
          const y = sticky[k] as RegExp;
          for (let p = 0; p < t.length; p++) {
            y.lastIndex = p;
            if (y.exec(t) === null) continue;
            const m = gate.matcher(re);
            m.lastIndex = p;
            assert.equal(m.exec(t)?.index, p, `/${re.source}/ at ${p}: ${JSON.stringify(t)}`);
          }
        });
      }),
      { numRuns: 3000 },
    );
  });

  test("every corpus: the same findings, windows and redaction with and without the gate", () => {
    for (const t of CORPUS) {
      sameFindings(t);
      sameRedaction(t);
    }
    const all = CORPUS.join("\n");
    sameFindings(all);
    sameRedaction(all);
  });

  test("property: the same findings and windows on random texts", () => {
    fc.assert(fc.property(text, sameFindings), { numRuns: 20000 });
  });

  test("property: the same redaction on random texts, and across joined parts", () => {
    fc.assert(fc.property(text, sameRedaction), { numRuns: 6000 });
    fc.assert(
      fc.property(fc.array(text, { minLength: 2, maxLength: 4 }), (parts) => {
        assert.deepEqual(gated.redactJoined(parts), ungated.redactJoined(parts), JSON.stringify(parts));
      }),
      { numRuns: 300 },
    );
  });

  test("with types disabled and other replacements, the same too", () => {
    const opts = {
      hashKey: key,
      disabled: ["phone", "generic_secret", "email"],
      replacements: { card_number: "partial", jwt: "hash" } as const,
    };
    const a = compileRedactor(opts);
    const b = compileUngatedRedactor(opts);
    fc.assert(
      fc.property(text, (t) => assert.deepEqual(a.redact(t), b.redact(t), JSON.stringify(t))),
      { numRuns: 500 },
    );
  });
});
