// Evasions (test/corpora/redaction/evasions.ts): values hidden by encoding, escaping, reversal,
// separators, look-alike or hidden characters, other formats. Prints recall per evasion class and
// precision and recall per type; fails below 0.99 precision or 0.95 recall for any type or class,
// or if any benign text changes at all. Then the independent corpus (written without sight of the
// detectors, test/corpora/independent/redaction.json) when present: figures per class, and
// thresholds: every benign text intact, at least 85% of the evasions caught.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { compileRedactor } from "../../../src/protect/redaction/index.js";
import { generateEvasions } from "../../corpora/redaction/evasions.js";

const redactor = compileRedactor({ hashKey: new Uint8Array(32).fill(7) });
const { positives, negatives } = generateEvasions();

interface Tally {
  tp: number;
  fn: number;
  fp: number;
}
const tally = () => new Map<string, Tally>();
const bump = (m: Map<string, Tally>, k: string, f: keyof Tally, n = 1) => {
  let t = m.get(k);
  if (!t) m.set(k, (t = { tp: 0, fn: 0, fp: 0 }));
  t[f] += n;
};
const rate = (a: number, b: number) => (a + b === 0 ? 1 : a / (a + b));
function print(title: string, m: Map<string, Tally>) {
  console.log(`${title.padEnd(20)}  tp   fn   fp  precision  recall`);
  for (const [k, t] of [...m].sort(([a], [b]) => a.localeCompare(b)))
    console.log(
      `${k.padEnd(20)} ${String(t.tp).padStart(3)} ${String(t.fn).padStart(4)} ${String(t.fp).padStart(4)}  ${rate(t.tp, t.fp).toFixed(3).padStart(9)}  ${rate(t.tp, t.fn).toFixed(3).padStart(6)}`,
    );
}

describe("redaction evasions", () => {
  test("precision and recall per type and per evasion class", () => {
    const byType = tally();
    const byClass = tally();
    const misses: string[] = [];
    for (const p of positives) {
      const { text, counts } = redactor.redact(p.text);
      const expected = p.text.replace(p.value, `[REDACTED:${p.type}]`);
      const hit = text === expected;
      bump(byType, p.type, hit ? "tp" : "fn");
      bump(byClass, p.cls, hit ? "tp" : "fn");
      if (!hit)
        misses.push(`missed ${p.cls}/${p.type}: ${JSON.stringify(p.text)} -> ${JSON.stringify(text)}`);
      for (const [t, n] of Object.entries(counts)) if (t !== p.type) bump(byType, t, "fp", n);
    }
    for (const n of negatives) {
      const { text, counts } = redactor.redact(n.text);
      for (const [t, c] of Object.entries(counts)) {
        bump(byType, t, "fp", c);
        bump(byClass, `benign:${n.cls}`, "fp", c);
        misses.push(`false ${t} in ${n.cls}: ${JSON.stringify(n.text)} -> ${JSON.stringify(text)}`);
      }
    }
    console.log(`evasions ${positives.length}, benign ${negatives.length}`);
    print("type", byType);
    print("evasion class", byClass);
    for (const m of misses.slice(0, 40)) console.log(m);
    for (const [k, t] of [...byType, ...byClass]) {
      assert.ok(rate(t.tp, t.fp) >= 0.99 || t.tp + t.fn === 0, `${k} precision ${rate(t.tp, t.fp)}`);
      assert.ok(rate(t.tp, t.fn) >= 0.95, `${k} recall ${rate(t.tp, t.fn)}`);
    }
  });

  test("benign texts stay byte for byte", () => {
    for (const n of negatives) assert.equal(redactor.redact(n.text).text, n.text, `${n.cls}: ${n.text}`);
  });
});

interface IndependentCase {
  id: string;
  class: string;
  payload: unknown;
  expect: string;
  secret?: string | string[];
}

const INDEPENDENT = fileURLToPath(new URL("../../corpora/independent/redaction.json", import.meta.url));

describe("independent redaction corpus", { skip: !existsSync(INDEPENDENT) && "not present" }, () => {
  test("figures per class; plain controls and benign texts hold", () => {
    const cases = JSON.parse(readFileSync(INDEPENDENT, "utf8")) as IndependentCase[];
    const byClass = tally();
    const failures: string[] = [];
    for (const c of cases) {
      const payload = typeof c.payload === "string" ? c.payload : JSON.stringify(c.payload);
      const out = redactor.redact(payload).text;
      const secrets = c.secret === undefined ? [] : Array.isArray(c.secret) ? c.secret : [c.secret];
      let ok: boolean;
      if (c.expect === "intact") ok = out === payload;
      else ok = out !== payload && secrets.every((s) => !out.includes(s));
      const cls = c.expect === "intact" ? `intact:${c.class}` : c.class;
      bump(byClass, cls, ok ? "tp" : c.expect === "intact" ? "fp" : "fn");
      if (!ok)
        failures.push(
          `${c.id} (${c.class}, ${c.expect}): ${JSON.stringify(payload).slice(0, 160)} -> ${JSON.stringify(out).slice(0, 160)}`,
        );
    }
    print("independent class", byClass);
    for (const f of failures) console.log(f);
    const redactCases = cases.filter((c) => c.expect !== "intact");
    const intactCases = cases.filter((c) => c.expect === "intact");
    const missed =
      failures.length - intactCases.filter((c) => failures.some((f) => f.startsWith(`${c.id} `))).length;
    const falsePositives = failures.length - missed;
    console.log(
      `independent: ${redactCases.length - missed}/${redactCases.length} redacted, ${intactCases.length - falsePositives}/${intactCases.length} intact`,
    );
    // Benign texts must pass byte for byte; of the evasions, at least 85% must be caught.
    assert.equal(falsePositives, 0, "benign texts of the independent corpus were changed");
    assert.ok(
      (redactCases.length - missed) / redactCases.length >= 0.85,
      `independent recall ${missed} missed`,
    );
  });
});
