// Keyword gates (src/protect/patterns.ts, literal-scan.ts): the literals read off a rule's pattern are in
// every string the pattern matches, so a rule skipped on a text could not have matched there; the
// one-pass scanner finds exactly the strings a text holds, ignoring case.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { literalScanner } from "../../../src/protect/literal-scan.js";
import { literalBranches, requiredLiterals } from "../../../src/protect/patterns.js";
import { literalsIn } from "../../../src/protect/injection/phrase-cues.js";
import { TEMPLATE_RULES } from "../../../src/protect/injection/phrases-intent.js";
import { BASE_RULES, PHRASE_RULES } from "../../../src/protect/injection/phrases.js";
import { withoutAssertions } from "../../helpers/regex.js";

const RULES = [...new Set([...BASE_RULES, ...TEMPLATE_RULES, ...PHRASE_RULES])];

describe("keyword gates", () => {
  test("every rule but a few has a gate; the ones without always run", () => {
    const gated = RULES.filter((r) => r.needs !== undefined);
    assert.ok(gated.length >= RULES.length - 4, `${RULES.length - gated.length} rules without a gate`);
  });

  test("property: every string a rule's pattern matches holds one of its literals", () => {
    for (const rule of RULES) {
      if (rule.needs === undefined) continue;
      // fast-check generates from patterns without flags i, m and the assertions; the literals of
      // the larger language are the same, and the scanner ignores case.
      const arb = fc.stringMatching(
        new RegExp(withoutAssertions(rule.re.source), rule.re.flags.replace(/[gim]/g, "")),
      );
      fc.assert(
        fc.property(arb, (s) => {
          const held = literalsIn(s);
          assert.ok(
            rule.needs!.some((n) => held.has(n)),
            `${rule.id}: ${JSON.stringify(s)}`,
          );
        }),
        { numRuns: 200 },
      );
    }
  });

  test("property: every string a rule's pattern matches holds, for one branch, a literal of each set", () => {
    for (const rule of RULES) {
      if (rule.branches === undefined) continue;
      const arb = fc.stringMatching(
        new RegExp(withoutAssertions(rule.re.source), rule.re.flags.replace(/[gim]/g, "")),
      );
      fc.assert(
        fc.property(arb, (s) => {
          const held = literalsIn(s);
          assert.ok(
            rule.branches!.some((branch) => branch.every((set) => set.some((n) => held.has(n)))),
            `${rule.id}: ${JSON.stringify(s)}`,
          );
        }),
        { numRuns: 200 },
      );
    }
  });

  test("branches: each set a branch requires, not only the best one", () => {
    const real = String.raw`\b(?:your|the)\s+(?:real|actual)\s+(?:task|goal)\s+(?:is|are)\b`;
    assert.deepEqual(literalBranches(real), [
      [
        ["your", "the"],
        ["real", "actual"],
        ["task", "goal"],
      ],
    ]);
    assert.deepEqual(literalBranches(String.raw`\bsend\s+secrets|\bleak\s+(?:keys|tokens)`), [
      [["send"], ["secrets"]],
      [["leak"], ["keys", "tokens"]],
    ]);
    // A branch without a set worth a scan ("is" is not): no gate at all.
    assert.equal(literalBranches(String.raw`\bsecret\b|\bis\b`), undefined);
  });

  test("what the pattern reader keeps, and where it gives up", () => {
    assert.deepEqual(requiredLiterals(String.raw`\bsystem\s+prompt\b`), ["system"]);
    // The longest certain strings win: the verbs (6 letters and more) over "rules".
    assert.deepEqual(requiredLiterals(String.raw`\b(?:ignore|disregard)\s+(?:all\s+)?rules`), [
      "ignore",
      "disregard",
    ]);
    // An optional word, an empty branch, a class: nothing certain.
    assert.equal(requiredLiterals("(?:secret)?"), undefined);
    assert.equal(requiredLiterals("abc|"), undefined);
    assert.equal(requiredLiterals("[a-z]+"), undefined);
    assert.equal(requiredLiterals("ab"), undefined); // too short to be worth a scan
    // Quantified letters and escapes break a run; escaped punctuation is literal.
    assert.deepEqual(requiredLiterals(String.raw`colou?r\.json`), ["r.json"]);
    assert.deepEqual(requiredLiterals(String.raw`<\|im_start\|>`), ["<|im_start|>"]);
    // A named backreference or an unknown escape: given up on, so the rule always runs.
    assert.equal(requiredLiterals(String.raw`(?<w>abc)\k<w>`), undefined);
    assert.equal(requiredLiterals(String.raw`\cJabc`), undefined);
  });

  test("property: the scanner finds exactly the strings a text holds, whatever their case", () => {
    const words = ["system", "prompt", "ignore", "sys", "tem", "пароль", "忽略", "σύστημα", "ab"];
    const scan = literalScanner(words);
    const fold = (s: string) =>
      [...s].map((c) => (c.toUpperCase().length === 1 ? c.toUpperCase() : c)).join("");
    const pieces = [...words, ...words.map((w) => w.toUpperCase()), "x", " ", "ς", "Σ", "ß", "中"];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 12 }), (chosen) => {
        const text = chosen.join("");
        const want = words.filter((w) => fold(text).includes(fold(w))).sort();
        assert.deepEqual([...scan(text)].sort(), want, JSON.stringify(text));
      }),
      { numRuns: 5000 },
    );
    assert.deepEqual([...literalScanner(["system"])("ſYSTEM")], ["system"]);
  });
});
