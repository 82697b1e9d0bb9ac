// The normalisation module (src/protect/normalise) and the one walker (src/protect/walk.ts): views
// map back to exactly the characters sent; decoding is once and bounded; the walker reaches every
// key, value and content item (known or not) and leaves binary payloads alone.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  changedWindows,
  decodedSpans,
  fold,
  MAX_DECODED,
  normalisedViews,
  originalSpan,
  readingOf,
  viewOf,
} from "../../src/protect/normalise/index.js";
import { compileRedactor } from "../../src/protect/redaction/index.js";
import { mapResultTexts, mapServerValue } from "../../src/protect/walk.js";

const AWS = "AKIA" + "Z7Q2XK4M5P3L2R6T";
const GITHUB = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8";
const redactor = compileRedactor({ hashKey: new Uint8Array(32).fill(3) });

describe("normalise", () => {
  test("folds look-alikes to the ASCII they imitate; other scripts and ASCII stay", () => {
    assert.equal(fold("\u0410".codePointAt(0)!), "A"); // Cyrillic А
    assert.equal(fold("\u0406".codePointAt(0)!), "I"); // Cyrillic І (TR39's prototype is l)
    assert.equal(fold("\u03bf".codePointAt(0)!), "o"); // Greek ο
    assert.equal(fold("\uff21".codePointAt(0)!), "A"); // full-width
    assert.equal(fold("𝐀".codePointAt(0)!), "A"); // mathematical bold
    assert.equal(fold(0x200b), ""); // zero-width space
    assert.equal(fold(0x202e), ""); // bidi override
    assert.equal(fold("a".codePointAt(0)!), undefined);
    assert.equal(fold("中".codePointAt(0)!), undefined);
    assert.equal(fold("ا".codePointAt(0)!), undefined); // Arabic alef: not a folded block
  });

  test("a view maps each finding back to exactly the original characters", () => {
    const hidden = `key: \u0410\u041a${AWS.slice(2, 10)}\u200b${AWS.slice(10)} end`;
    const views = normalisedViews(hidden);
    assert.equal(views.length, 1);
    const v = views[0]!;
    const at = v.text.indexOf(AWS);
    assert.ok(at >= 0, v.text);
    const [s, e] = originalSpan(v, at, at + AWS.length);
    assert.equal(hidden.slice(s, e), `\u0410\u041a${AWS.slice(2, 10)}\u200b${AWS.slice(10)}`);
    assert.equal(redactor.redact(hidden).text, "key: [REDACTED:aws_access_key] end");
  });

  test("escapes are decoded once: JSON, HTML references, percent-escapes of letters", () => {
    assert.equal(viewOf("\\u0041&#75;&#x49;%41").text, "AKIA");
    assert.equal(viewOf("&#38;#65;").text, "&#65;"); // once, never twice
    assert.equal(viewOf("a%2Fb%3Dc").text, "a%2Fb%3Dc"); // ordinary URL escapes stay
    assert.deepEqual(changedWindows("plain ASCII and 中文，没有问题。"), []);
  });

  test("base64 and hex spans: readable ones decoded, blobs and digests skipped, at most MAX_DECODED", () => {
    const enc = Buffer.from(`token=${GITHUB}`).toString("base64");
    assert.deepEqual(
      decodedSpans(`x ${enc} y`).map((d) => d.text),
      [`token=${GITHUB}`],
    );
    const blob = Buffer.from(Array.from({ length: 6000 }, (_, i) => i % 251)).toString("base64");
    assert.deepEqual(decodedSpans(`img ${blob}`), []);
    assert.deepEqual(decodedSpans("sha 4b825dc642cb6eb9a060e54bf8d69288fbee4904"), []);
    const many = Array.from({ length: MAX_DECODED + 50 }, () =>
      Buffer.from("readable text here").toString("base64"),
    );
    assert.equal(decodedSpans(many.join(" ")).length, MAX_DECODED);
  });

  test("the reading joins spaced letters and reads leetspeak inside words", () => {
    assert.equal(readingOf("I g n o r e the p4ssw0rd in 2024").text, "ignore the password in 2024");
  });
});

describe("the walker", () => {
  const redactAll = (t: string) => redactor.redact(t).text;

  test("every key, every field of every content item (known or not), _meta and annotations", () => {
    const result = {
      content: [
        { type: "x-unknown", payload: { note: `key ${AWS}` }, [GITHUB]: 1 },
        { type: "resource_link", uri: `https://x.example/?t=${GITHUB}`, name: "n", annotations: { a: AWS } },
        { type: "image", data: Buffer.from(`not an image ${AWS}`).toString("base64"), mimeType: "image/png" },
      ],
      structuredContent: { [AWS]: { deep: [GITHUB] }, card: 4111111111111111, id: 1732612345678 },
      _meta: { by: AWS },
    };
    const out = structuredClone(result) as Record<string, unknown>;
    const { binary } = mapResultTexts("tools/call", out as never, 1 << 20, redactAll);
    const body = JSON.stringify(out);
    assert.ok(!body.includes(AWS) && !body.includes(GITHUB), body);
    assert.deepEqual(binary, ["image/png"]);
    // The image's data is passed as it is, not decoded or redacted.
    assert.equal((out.content as Array<{ data?: string }>)[2]!.data, result.content[2]!.data);
    const sc = out.structuredContent as Record<string, unknown>;
    assert.equal(sc.card, "[REDACTED:card_number]");
    assert.equal(sc.id, 1732612345678);
  });

  test("adjacent text items are redacted together; others as they are", () => {
    const out = {
      content: [
        { type: "text", text: `a ${GITHUB.slice(0, 20)}` },
        { type: "text", text: `${GITHUB.slice(20)} b` },
        { type: "text", text: "c" },
      ],
    };
    mapResultTexts(
      "tools/call",
      out as never,
      1 << 20,
      redactAll,
      (parts) => redactor.redactJoined(parts).parts,
    );
    assert.deepEqual(
      out.content.map((c) => c.text),
      ["a [REDACTED:github_token]", " b", "c"],
    );
  });

  test("keys that collide after redaction are kept apart; __proto__ never becomes a prototype", () => {
    const v = JSON.parse(`{"${AWS}": 1, "${"ASIA" + AWS.slice(4)}": 2, "__proto__": {"x": "${AWS}"}}`);
    const out = mapServerValue(v, 1 << 20, redactAll) as Record<string, unknown>;
    assert.deepEqual(Object.keys(out).sort(), [
      "[REDACTED:aws_access_key]",
      "[REDACTED:aws_access_key]#2",
      "__proto__",
    ]);
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.ok(!JSON.stringify(out).includes(AWS));
  });
});
