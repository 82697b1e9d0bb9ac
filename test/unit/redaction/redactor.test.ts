import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  cardValid,
  cnIdCheckChar,
  cnIdValid,
  ibanValid,
  isPlaceholder,
  luhnValid,
  shannonEntropy,
  ssnValid,
} from "../../../src/protect/redaction/checks.js";
import { classifyDigits } from "../../../src/protect/redaction/pii.js";
import {
  BUILTIN_TYPES,
  compileRedactor,
  RedactionError,
  RedactorConfigError,
} from "../../../src/protect/redaction/index.js";

const key = new Uint8Array(32).fill(1);
const plain = compileRedactor({ hashKey: key });

describe("validators", () => {
  test("Luhn and issuer prefixes", () => {
    assert.ok(luhnValid("79927398713"));
    assert.ok(!luhnValid("79927398710"));
    assert.ok(cardValid("4111111111111111"));
    assert.ok(cardValid("5555555555554444"));
    assert.ok(cardValid("2223003122003222")); // Mastercard 2-series
    assert.ok(cardValid("378282246310005")); // Amex
    assert.ok(cardValid("6011111111111117")); // Discover
    assert.ok(cardValid("3530111333300000")); // JCB
    assert.ok(cardValid("6200000000000005")); // UnionPay
    assert.ok(cardValid("36227206271667")); // Diners 14
    assert.ok(!cardValid("4111111111111112"), "Luhn");
    assert.ok(!cardValid("3782822463100050"), "Amex has 15 digits");
    assert.ok(!cardValid("1234567812345670"), "no issuer starts with 1");
  });

  test("SSN ranges", () => {
    assert.ok(ssnValid("123456780"));
    for (const bad of [
      "000123456",
      "666123456",
      "900123456",
      "999123456",
      "123006789",
      "123450000",
      "078051120",
    ]) {
      assert.ok(!ssnValid(bad), bad);
    }
    assert.equal(classifyDigits("123-45-6780"), "us_ssn");
    assert.equal(classifyDigits("123 45 6780"), "us_ssn");
    assert.equal(classifyDigits("123-45 6780"), undefined, "mixed separators");
    assert.equal(classifyDigits("123456780"), undefined, "bare nine digits are not an SSN");
  });

  test("IBAN length table and mod 97", () => {
    assert.ok(ibanValid("DE89370400440532013000"));
    assert.ok(ibanValid("GB82WEST12345698765432"));
    assert.ok(ibanValid("NL91ABNA0417164300"));
    assert.ok(!ibanValid("DE89370400440532013001"), "mod 97");
    assert.ok(!ibanValid("DE8937040044053201300"), "length");
    assert.ok(!ibanValid("XX89370400440532013000"), "country");
  });

  test("Chinese resident ID: check character and birth date", () => {
    assert.equal(cnIdCheckChar("11010519491231002"), "X");
    assert.ok(cnIdValid("11010519491231002X"));
    assert.ok(cnIdValid("11010519491231002x"));
    assert.ok(!cnIdValid("110105194912310021"), "check character");
    const at = (s: string) => s + cnIdCheckChar(s);
    assert.ok(!cnIdValid(at("11010519490230002")), "February 30");
    assert.ok(!cnIdValid(at("11010520990101002"), new Date("2026-01-01")), "future");
    assert.ok(!cnIdValid(at("99010519491231002")), "province");
  });

  test("phones: E.164 and Chinese mobiles with digit boundaries", () => {
    assert.equal(classifyDigits("+14155552671"), "phone");
    assert.equal(classifyDigits("+44 20 7946 0958"), "phone");
    assert.equal(classifyDigits("13812345678"), "phone");
    assert.equal(classifyDigits("138-1234-5678"), "phone");
    assert.equal(classifyDigits("+0123456789"), undefined);
    assert.equal(classifyDigits("12812345678"), undefined);
    const ts = "at 1732612345678 ms";
    assert.equal(plain.redact(ts).text, ts, "a 13-digit ms timestamp holds no mobile number");
    assert.equal(plain.redact("tel:13812345678.").text, "tel:[REDACTED:phone].");
  });

  test("entropy and placeholders", () => {
    assert.equal(shannonEntropy("aaaa"), 0);
    assert.ok(shannonEntropy("aZ3$kQ9!mP2x") > 3);
    for (const p of [
      "${DB_PASSWORD}",
      "<token>",
      "YOUR_API_KEY",
      "xxxxxxxx",
      "EXAMPLEKEY123",
      "{{ secret }}",
      "%PASS%",
    ]) {
      assert.ok(isPlaceholder(p), p);
    }
    assert.ok(!isPlaceholder("aZ3kQ9mP2xR7"));
  });
});

describe("detectors in text", () => {
  const cases: Array<[string, string, string]> = [
    ["AWS key id", "id AKIA" + "QWERTYUIOPASDFGH here", "id [REDACTED:aws_access_key] here"],
    ["JWT", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcDEF123_-xyz", "Bearer [REDACTED:jwt]"],
    ["email", "mail bob.smith+tag@mail.example.co.uk.", "mail [REDACTED:email]."],
    ["card", "card 4111-1111-1111-1111 ok", "card [REDACTED:card_number] ok"],
    ["iban spaced", "IBAN DE89 3704 0044 0532 0130 00 please", "IBAN [REDACTED:iban] please"],
    ["cn id", "身份证11010519491231002X。", "身份证[REDACTED:cn_resident_id]。"],
    ["generic", 'db_password: "Zq8#xT2mLp9w"', 'db_password: "[REDACTED:generic_secret]"'],
    ["adjacent numbers", "call 138 1234 5678 2024", "call [REDACTED:phone] 2024"],
  ];
  for (const [name, input, output] of cases) {
    test(name, () => assert.equal(plain.redact(input).text, output));
  }

  test("a private key is redacted whole, and a truncated one too", () => {
    const body = Array.from(
      { length: 5 },
      (_, i) => "MIIEow" + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop0123456789+/".slice(i) + "Q",
    ).join("\n");
    const full = `-----BEGIN RSA PRIVATE KEY-----\n${body}\n-----END RSA PRIVATE KEY-----`;
    assert.equal(plain.redact(`key:\n${full}\ndone`).text, "key:\n[REDACTED:private_key]\ndone");
    const cut = `-----BEGIN PRIVATE KEY-----\n${body}`;
    assert.equal(plain.redact(`${cut}\n!`).text, "[REDACTED:private_key]\n!");
  });

  test("a specific type wins over the generic assignment", () => {
    const token = "gh" + "p_" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5";
    const r = plain.redact(`GITHUB_TOKEN=${token}`);
    assert.equal(r.text, "GITHUB_TOKEN=[REDACTED:github_token]");
    assert.deepEqual({ ...r.counts }, { github_token: 1 });
  });

  test("counts by type, never values", () => {
    const r = plain.redact("a@example.com b@example.org 4111111111111111");
    assert.deepEqual({ ...r.counts }, { email: 2, card_number: 1 });
  });
});

describe("replacement modes", () => {
  test("partial keeps the last four letters or digits", () => {
    const r = compileRedactor({ hashKey: key, replacements: { card_number: "partial", email: "partial" } });
    assert.equal(r.redact("4111 1111 1111 1111").text, "[REDACTED:card_number:...1111]");
    assert.equal(r.redact("ab@cd.io").text, "[REDACTED:email]", "too short to keep four");
  });

  test("hash is a keyed HMAC, stable per key", () => {
    const a = compileRedactor({ hashKey: key, replacements: { email: "hash" } });
    const b = compileRedactor({ hashKey: key, replacements: { email: "hash" } });
    const c = compileRedactor({ hashKey: new Uint8Array(32).fill(2), replacements: { email: "hash" } });
    const x = a.redact("alice@example.com").text;
    assert.match(x, /^\[REDACTED:email:[0-9a-f]{12}\]$/);
    assert.equal(b.redact("alice@example.com").text, x);
    assert.notEqual(c.redact("alice@example.com").text, x);
    assert.notEqual(a.redact("bob@example.com").text, x);
  });

  test("disabled types are left alone", () => {
    const r = compileRedactor({ hashKey: key, disabled: ["email"] });
    assert.equal(r.redact("a@example.com 4111111111111111").text, "a@example.com [REDACTED:card_number]");
    assert.ok(!r.types.includes("email"));
  });
});

describe("custom patterns (RE2)", () => {
  test("are matched, named by type, and counted", () => {
    const r = compileRedactor({ hashKey: key, custom: [{ name: "employee_id", pattern: "EMP-[0-9]{6}" }] });
    const out = r.redact("ids: EMP-123456, EMP-654321; é EMP-000001");
    assert.equal(out.text, "ids: [REDACTED:employee_id], [REDACTED:employee_id]; é [REDACTED:employee_id]");
    assert.equal(out.counts.employee_id, 3);
    assert.ok(r.types.includes("employee_id"));
  });

  test("are found across window boundaries in long text", () => {
    const r = compileRedactor({ hashKey: key, custom: [{ name: "ticket", pattern: "TKT-[0-9]{5}" }] });
    const text = ("lorem ipsum TKT-12345 dolor ".repeat(5000) + "x").repeat(2);
    const out = r.redact(text);
    assert.equal(out.counts.ticket, 10000);
    assert.ok(!out.text.includes("TKT-"));
  });

  test("bad patterns fail at compile time with the option path", () => {
    const bad: Array<[string, string, string]> = [
      ["(a)\\1", "custom[0].pattern", "backreference"],
      ["(?=a)b", "custom[0].pattern", "lookahead"],
      ["a*", "custom[0].pattern", "empty match"],
      ["[", "custom[0].pattern", "syntax"],
    ];
    for (const [pattern, option, why] of bad) {
      assert.throws(
        () => compileRedactor({ hashKey: key, custom: [{ name: "x", pattern }] }),
        (e: unknown) => e instanceof RedactorConfigError && e.option === option,
        why,
      );
    }
    assert.throws(
      () => compileRedactor({ hashKey: key, custom: [{ name: "email", pattern: "x" }] }),
      (e: unknown) => e instanceof RedactorConfigError && e.option === "custom[0].name",
    );
    assert.throws(
      () => compileRedactor({ hashKey: key, custom: [{ name: "Bad Name", pattern: "x" }] }),
      (e: unknown) => e instanceof RedactorConfigError && e.option === "custom[0].name",
    );
  });

  test("a pathological pattern still runs in linear time", () => {
    const r = compileRedactor({ hashKey: key, custom: [{ name: "evil", pattern: "(a+)+$" }] });
    const t0 = performance.now();
    r.redact("a".repeat(100_000) + "!");
    assert.ok(performance.now() - t0 < 1000);
  });
});

describe("options and failures", () => {
  test("options are validated up front", () => {
    const expectOption = (fn: () => unknown, option: string) =>
      assert.throws(fn, (e: unknown) => e instanceof RedactorConfigError && e.option === option);
    expectOption(() => compileRedactor({ hashKey: new Uint8Array(8) }), "hashKey");
    expectOption(() => compileRedactor({ hashKey: key, disabled: ["nope"] }), "disabled[0]");
    expectOption(
      () => compileRedactor({ hashKey: key, replacements: { nope: "redact" } }),
      "replacements.nope",
    );
    expectOption(
      () => compileRedactor({ hashKey: key, replacements: { email: "erase" as "redact" } }),
      "replacements.email",
    );
    assert.ok(BUILTIN_TYPES.includes("iban"));
  });

  test("fails closed with RedactionError only", () => {
    assert.throws(
      () => plain.redact(42 as unknown as string),
      (e: unknown) => e instanceof RedactionError && e.reason === "invalid_input",
    );
  });
});

describe("linear time on hostile input", () => {
  const hostile: Array<[string, string]> = [
    ["word characters without @", "a".repeat(2_000_000)],
    ["many @", "a@".repeat(1_000_000)],
    ["long digit run", "1".repeat(2_000_000)],
    ["digits and separators", "1 2-".repeat(500_000)],
    ["IBAN-like prefixes", "DE89AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAa ".repeat(50_000)],
    ["keywords without values", "password=".repeat(200_000)],
    ["JWT-like", "eyJ" + "a".repeat(1_000_000) + "."],
    ["PEM headers without END", "-----BEGIN PRIVATE KEY-----\n".repeat(50_000)],
    [
      "PEM headers and one END far away",
      "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n".repeat(40_000) + "-----END RSA PRIVATE KEY-----",
    ],
  ];
  for (const [name, text] of hostile) {
    test(name, () => {
      const t0 = performance.now();
      plain.redact(text);
      const ms = performance.now() - t0;
      assert.ok(ms < 1500, `${name}: ${ms.toFixed(0)} ms for ${text.length} chars`);
    });
  }
});

describe("short texts remembered clean", () => {
  test("remembered or not, the same result as a fresh redactor's", () => {
    const r = compileRedactor({ hashKey: key, custom: [{ name: "ticket", pattern: "TK-[0-9]{4}" }] });
    const texts = [
      "text",
      "content",
      "a@b.co",
      "mail a@b.co",
      "TK-1234",
      "TK-12",
      "4111 1111 1111 1111",
      "x".repeat(65),
    ];
    for (let round = 0; round < 3; round++) {
      for (const t of texts) {
        const fresh = compileRedactor({ hashKey: key, custom: [{ name: "ticket", pattern: "TK-[0-9]{4}" }] });
        assert.deepEqual({ ...r.redact(t) }, { ...fresh.redact(t) }, t);
      }
    }
    assert.equal(r.redact("TK-1234").text, "[REDACTED:ticket]");
  });
});
