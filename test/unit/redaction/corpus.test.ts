// The labelled corpus: generated positives and look-alikes (test/corpora/redaction/generate.ts)
// plus hand-picked look-alikes (lookalikes.txt). Prints precision and recall per type; fails
// below 0.99 precision or 0.98 recall for any type, or if any look-alike changes at all.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { compileRedactor } from "../../../src/protect/redaction/index.js";
import { generateCorpus, type Sample } from "../../corpora/redaction/generate.js";

const redactor = compileRedactor({ hashKey: new Uint8Array(32).fill(7) });
const { positives, negatives: generated } = generateCorpus();
const handPicked: Sample[] = readFileSync(
  fileURLToPath(new URL("../../corpora/redaction/lookalikes.txt", import.meta.url)),
  "utf8",
)
  .split("\n")
  .filter((l) => l.trim() !== "" && !l.startsWith("#"))
  .map((l) => {
    const tab = l.indexOf("\t");
    return { type: l.slice(0, tab), text: l.slice(tab + 1) };
  });
const negatives = [...generated, ...handPicked];

describe("redaction corpus", () => {
  test("sizes", () => {
    assert.ok(positives.length >= 300, `positives: ${positives.length}`);
    assert.ok(negatives.length >= 300, `negatives: ${negatives.length}`);
  });

  test("precision and recall per type", () => {
    const stats = new Map<string, { tp: number; fn: number; fp: number }>();
    const stat = (t: string) => {
      let s = stats.get(t);
      if (!s) stats.set(t, (s = { tp: 0, fn: 0, fp: 0 }));
      return s;
    };
    const misses: string[] = [];
    for (const p of positives) {
      const { text, counts } = redactor.redact(p.text);
      const expected = p.text.replace(p.value as string, `[REDACTED:${p.type}]`);
      if (text === expected) stat(p.type).tp++;
      else {
        stat(p.type).fn++;
        misses.push(`missed ${p.type}: ${JSON.stringify(p.text)} -> ${JSON.stringify(text)}`);
      }
      for (const [t, n] of Object.entries(counts)) if (t !== p.type) stat(t).fp += n;
    }
    for (const n of negatives) {
      const { text, counts } = redactor.redact(n.text);
      stat(n.type);
      for (const [t, c] of Object.entries(counts)) {
        stat(t).fp += c;
        misses.push(
          `false ${t} in ${n.type} look-alike: ${JSON.stringify(n.text)} -> ${JSON.stringify(text)}`,
        );
      }
    }
    const rows = [...stats].sort(([a], [b]) => a.localeCompare(b));
    const lines = rows.map(([t, s]) => {
      const precision = s.tp + s.fp === 0 ? 1 : s.tp / (s.tp + s.fp);
      const recall = s.tp + s.fn === 0 ? 1 : s.tp / (s.tp + s.fn);
      return { t, ...s, precision, recall };
    });
    console.log(
      `positives ${positives.length}, negatives ${negatives.length} (${handPicked.length} hand-picked)`,
    );
    console.log("type               tp   fn   fp  precision  recall");
    for (const l of lines) {
      console.log(
        `${l.t.padEnd(18)} ${String(l.tp).padStart(3)} ${String(l.fn).padStart(4)} ${String(l.fp).padStart(4)}  ${l.precision.toFixed(3).padStart(9)}  ${l.recall.toFixed(3).padStart(6)}`,
      );
    }
    for (const m of misses.slice(0, 40)) console.log(m);
    for (const l of lines) {
      assert.ok(l.precision >= 0.99, `${l.t} precision ${l.precision.toFixed(3)}`);
      assert.ok(l.recall >= 0.98, `${l.t} recall ${l.recall.toFixed(3)}`);
    }
  });

  test("look-alikes stay intact byte for byte", () => {
    for (const n of negatives) assert.equal(redactor.redact(n.text).text, n.text, n.text);
  });
});
