// Detectors that find their candidates a faster way than a regex from every position find exactly
// what that regex found: national phone numbers from the word for phone instead of from every run
// of digits, keyword-assigned secrets only where a keyword starts.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { scanNational } from "../../../src/protect/redaction/pii-context.js";
import { assignedSecret, assignedValueIsSecret } from "../../../src/protect/redaction/secrets.js";
import type { Finding } from "../../../src/protect/redaction/types.js";

const spans = (f: Finding[]) => f.map((x) => [x.start, x.end, x.type]).sort((a, b) => +a[0]! - +b[0]!);
const text = (pieces: string[]) =>
  fc.array(fc.constantFrom(...pieces), { maxLength: 24 }).map((a) => a.join(""));

/** How numbers after a word for phone were found before: every run of digits, then a look back. */
function nationalFromDigits(s: string): Finding[] {
  const NATIONAL = /(?<![0-9])(?:\d{9,12}|\d{2,5}\)?(?:[ .\-/]\d{2,8}){1,5})(?![0-9])/g;
  const WORD_BEFORE =
    /(?:\b(?:phone|ph|tel|t[ée]l|telephone|mobile|mob|cell|cel|fax|call|ring|text|sms|whatsapp|signal|contact|contato|contacto|t[ée]l[ée]phone|portable|telefon|handy|tel[ée]fono|telefone|celular|m[oó]vil|cellulare|telefono|телефон|тел)\b\.?|电话|電話|手机|携帯|전화|फ़ोन|फोन|هاتف)[^0-9\n]{0,32}$/iu;
  const out: Finding[] = [];
  for (const m of s.matchAll(NATIONAL)) {
    let start = m.index;
    const prev = s.charAt(start - 1);
    if ((prev >= "0" && prev <= "9") || /[A-Za-z_.:/-]/.test(prev)) continue;
    if (prev === "(") start--;
    else if (m[0].includes(")")) continue;
    const value = s.slice(start, m.index + m[0].length);
    const digits = value.replace(/\D/g, "").length;
    if (digits < 9 || digits > 12) continue;
    if (!WORD_BEFORE.test(s.slice(Math.max(0, start - 56), start))) continue;
    out.push({ start, end: start + value.length, type: "phone" });
  }
  return out;
}

test("national numbers: found from the word for phone as they were from the digits", () => {
  const pieces = [
    ..."tel|Tel.|phone|ph|ph.|TÉL|cell|text|sms|ſms|ſmſ|телефон|xтел|电话|手机|फोन|call me at|number".split(
      "|",
    ),
    ...[" ", "  ", ": ", "(", ")", ".", "-", "/", "\n", "a", "x", "_", "#", "é", "\u212a"],
    ...["0", "1", "5", "55", "555", "0612", "34", "5678", "123456789", "0612345678", "(06)", "(0", "0)"],
    ..." ".repeat(20).split("|"),
    "abcdefghijklmnop",
  ];
  fc.assert(
    fc.property(text(pieces), (s) => {
      const found: Finding[] = [];
      scanNational(s, found);
      assert.deepEqual(spans(found), spans(nationalFromDigits(s)), JSON.stringify(s));
    }),
    { numRuns: 30000 },
  );
});

test("keyword-assigned secrets: tried where a keyword starts, as a scan from every position tried them", () => {
  const ASSIGNED =
    /(?:p(?:assw(?:or)?[dt]|wd|rivate[_-]?key)|secret|token|a(?:pi[_-]?key|pikey|ccess[_-]?key|uth[_-]?key)|credentials?|kennwort|contrase[ñn]a|senha|wachtwoord|has[łl]o|[şs]ifre|parola|mot de passe|пароль|密码|密碼|パスワード|비밀번호|mật khẩu|كلمة المرور|पासवर्ड)[A-Za-z0-9_.-]{0,32}(?:[ \t][^\s:=：]{1,16}){0,3}["']?\s{0,8}(?::=|=>|[:=：])\s{0,8}["'`]?([^\s"'`<>,;(){}[\]]{8,256})/gi;
  const pieces = [
    ..."password|PASSWORD|pwd|secret|secretoken|token|api_key|private-key|credentials|contraseña|hasło|Şifre".split(
      "|",
    ),
    ..."mot de passe|пароль|ПАРОЛЬ|密码|パスワード|mật khẩu|MẬT KHẨU|كلمة المرور|_PROD|.x| for| db".split(
      "|",
    ),
    ...["=", ": ", ":=", "=>", "：", " ", "\t", '"', "'", "`", "\n", ","],
    ...["Xk9$vQ2#mLp7", "aB3dE5fG7hJ9", "abcdefgh", "12345678", "Zz9Yy8Xx7Ww6Vv5"],
  ];
  fc.assert(
    fc.property(text(pieces), (s) => {
      const found: Finding[] = [];
      assignedSecret.scan(s, found);
      const expected: Finding[] = [];
      for (const m of s.matchAll(ASSIGNED)) {
        const value = m[1]!.replace(/[.:]+$/, "");
        const start = m.index + m[0].length - m[1]!.length;
        if (assignedValueIsSecret(value))
          expected.push({ start, end: start + value.length, type: "generic_secret" });
      }
      assert.deepEqual(spans(found), spans(expected), JSON.stringify(s));
    }),
    { numRuns: 20000 },
  );
});
