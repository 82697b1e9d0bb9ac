// What `audit query` and `audit tail` print: no event text reaches the terminal with a control
// character (C0, DEL, C1), a bidi override, embedding, isolate or mark, or an invisible format
// character, whatever the text; the JSON form stays lossless. Property-based (fast-check).
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { terminalJson, terminalText } from "../../src/audit/display.js";

// Written out by hand, not with the implementation's Unicode classes: the characters that move a
// terminal or make one text read as another.
const SPOOFING: ReadonlyArray<readonly [number, number]> = [
  [0x00, 0x1f], // C0
  [0x7f, 0x9f], // DEL, C1 (U+009B is an 8-bit CSI)
  [0xad, 0xad], // soft hyphen
  [0x34f, 0x34f], // combining grapheme joiner
  [0x61c, 0x61c], // Arabic letter mark
  [0x115f, 0x1160], // Hangul fillers
  [0x180e, 0x180e], // Mongolian vowel separator
  [0x200b, 0x200f], // zero width space/joiners, LRM, RLM
  [0x2028, 0x202e], // line/paragraph separators, LRE RLE PDF LRO RLO
  [0x2060, 0x2064], // word joiner, invisible operators
  [0x2066, 0x2069], // LRI RLI FSI PDI
  [0x206a, 0x206f], // deprecated format characters
  [0x3164, 0x3164], // Hangul filler
  [0xfe00, 0xfe0f], // variation selectors
  [0xfeff, 0xfeff], // zero width no-break space
  [0xffa0, 0xffa0], // halfwidth Hangul filler
  [0xfff9, 0xfffb], // interlinear annotation
  [0xe0000, 0xe007f], // tags
];
const spoofing = (cp: number) => SPOOFING.some(([lo, hi]) => cp >= lo && cp <= hi);
const codePoints = (s: string) => [...s].map((c) => c.codePointAt(0) as number);

/** Any string, with the dangerous characters mixed in often. */
const hostile = fc.string({
  unit: fc.oneof(
    fc.constantFrom(
      ...SPOOFING.flatMap(([lo, hi]) => [lo, hi, (lo + hi) >> 1]).map((cp) => String.fromCodePoint(cp)),
    ),
    fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
    fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 }),
  ),
  maxLength: 60,
});

test("table cells: no spoofing character survives", () => {
  fc.assert(
    fc.property(hostile, (s) => {
      const out = terminalText(s);
      const bad = codePoints(out).filter(spoofing);
      assert.deepEqual(bad, [], `${JSON.stringify(s)} → ${JSON.stringify(out)}`);
    }),
    { numRuns: 2000 },
  );
});

test("table cells: every spoofing character is replaced where it stood", () => {
  for (const [lo, hi] of SPOOFING) {
    for (let cp = lo; cp <= hi; cp++) {
      assert.equal(terminalText(`a${String.fromCodePoint(cp)}b`), "a?b", `U+${cp.toString(16)}`);
    }
  }
});

test("table cells: ordinary text in any script is left alone", () => {
  const letters = [..."Az09 _-./:@+éßøЖжλ中文日本語한국어עבריתالعربية😀✓→"];
  const safe = fc.array(fc.constantFrom(...letters), { maxLength: 40 }).map((a) => a.join(""));
  fc.assert(
    fc.property(safe, (s) => assert.equal(terminalText(s), s)),
    { numRuns: 500 },
  );
});

test("--json lines: lossless, one line, and no spoofing character raw", () => {
  const event = fc.dictionary(
    hostile,
    fc.oneof(hostile, fc.integer(), fc.array(hostile, { maxLength: 3 }), fc.dictionary(hostile, hostile)),
  );
  fc.assert(
    fc.property(event, (e) => {
      const out = terminalJson(e);
      // What a JSON reader gets is what plain JSON would have given it.
      assert.deepEqual(JSON.parse(out), JSON.parse(JSON.stringify(e)));
      assert.ok(!out.includes("\n"));
      const bad = codePoints(out).filter(spoofing);
      assert.deepEqual(bad, [], out);
    }),
    { numRuns: 1000 },
  );
});
