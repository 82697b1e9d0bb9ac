/**
 * Deterministic generator of evasions (issue 18): values the plain detectors know, written the
 * ways an author hides them (encoded, escaped, reversed, dashed, split, look-alike characters,
 * hidden characters, other national formats, spelled-out "@"), each labelled with its type, its
 * evasion class and the exact text that must be replaced; and benign text of the same shapes that
 * must pass byte for byte. Fake values only; token prefixes are assembled at run time.
 */
import { luhnValid } from "../../../src/protect/redaction/checks.js";
import { rng } from "./generate.js";

export interface Evasion {
  readonly type: string;
  readonly cls: string;
  readonly text: string;
  /** Exactly what must be replaced (as it is written in `text`). */
  readonly value: string;
}

export interface Benign {
  readonly cls: string;
  readonly text: string;
}

const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER = "abcdefghijklmnopqrstuvwxyz";
const DIGITS = "0123456789";
const ALNUM = UPPER + LOWER + DIGITS;

/** Latin letters and their Cyrillic or Greek look-alikes (TR39 confusables). */
const HOMOGLYPHS: Readonly<Record<string, string>> = {
  A: "\u0410",
  B: "\u0412",
  C: "\u0421",
  E: "\u0415",
  H: "\u041D",
  I: "\u0406",
  K: "\u041A",
  M: "\u041C",
  O: "\u041E",
  P: "\u0420",
  T: "\u0422",
  X: "\u0425",
  a: "\u0430",
  c: "\u0441",
  e: "\u0435",
  o: "\u03BF",
  p: "\u0440",
  x: "\u0445",
  y: "\u0443",
};

export function generateEvasions(seed = 1818, per = 12): { positives: Evasion[]; negatives: Benign[] } {
  const r = rng(seed);
  const int = (n: number) => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  const str = (alphabet: string, n: number) =>
    Array.from({ length: n }, () => alphabet[int(alphabet.length)]).join("");
  const digits = (n: number) => str(DIGITS, n);

  const token = (): { type: string; value: string } =>
    pick([
      () => ({ type: "aws_access_key", value: "AK" + "IA" + str(UPPER + "234567", 16) }),
      () => ({ type: "github_token", value: "gh" + "p_" + str(ALNUM, 36) }),
      () => ({ type: "openai_key", value: "s" + "k-" + str(ALNUM, 48) }),
      () => ({ type: "google_api_key", value: "AI" + "za" + str(ALNUM, 35) }),
      () => ({ type: "stripe_key", value: "s" + "k_live_" + str(ALNUM, 32) }),
    ])();
  const fixedToken = (): { type: string; value: string } =>
    pick([
      () => ({ type: "aws_access_key", value: "AK" + "IA" + str(UPPER + "234567", 16) }),
      () => ({ type: "github_token", value: "gh" + "p_" + str(ALNUM, 36) }),
    ])();
  const card = (): string => {
    const body = pick(["4", "51", "37"]) + digits(14);
    const n = body.startsWith("37") ? body.slice(0, 14) : body.slice(0, 15);
    for (let c = 0; c < 10; c++) if (luhnValid(n + c)) return n + c;
    throw new Error("unreachable");
  };
  const ssn = (): string => {
    let area = 1 + int(898);
    if (area === 666) area = 667;
    return (
      String(area).padStart(3, "0") +
      String(1 + int(99)).padStart(2, "0") +
      String(1 + int(9999)).padStart(4, "0")
    );
  };
  const email = () => `${str(LOWER, 4 + int(6))}.${str(LOWER, 3 + int(5))}`;
  const domain = () => `${str(LOWER, 5 + int(6))}`;
  const fold = (v: string, map: (c: string) => string) => [...v].map(map).join("");
  const prose = (v: string) =>
    pick([
      (x: string) => `The value returned was ${x} and nothing else.`,
      (x: string) => `{"result": "${x}"}`,
      (x: string) => `log: ${x}\nnext`,
      (x: string) => `备注：${x}`,
    ])(v);

  const classes: Record<string, () => Evasion> = {
    base64: () => {
      const t = token();
      const enc = Buffer.from(`key=${t.value}`).toString("base64");
      return { type: t.type, cls: "base64", text: `data: ${enc} end`, value: enc };
    },
    hex: () => {
      const t = token();
      const enc = Buffer.from(t.value).toString("hex");
      return { type: t.type, cls: "hex", text: `blob ${enc}`, value: enc };
    },
    json_escaped: () => {
      const t = token();
      const enc = fold(t.value, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
      return { type: t.type, cls: "json_escaped", text: `{"k": "${enc}"}`, value: enc };
    },
    html_entity: () => {
      const t = token();
      const enc = fold(t.value, (c) =>
        r() < 0.5 ? `&#${c.charCodeAt(0)};` : `&#x${c.charCodeAt(0).toString(16)};`,
      );
      return { type: t.type, cls: "html_entity", text: `<p>${enc}</p>`, value: enc };
    },
    url_encoded: () => {
      const t = token();
      const enc = fold(t.value, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
      return { type: t.type, cls: "url_encoded", text: `https://example.net/cb?k=${enc}&x=1`, value: enc };
    },
    reversed: () => {
      const t = token();
      const v = [...t.value].reverse().join("");
      return { type: t.type, cls: "reversed", text: prose(v), value: v };
    },
    dashed: () => {
      const t = fixedToken();
      const v = t.value.match(/.{1,4}/g)!.join(pick(["-", " ", "."]));
      return { type: t.type, cls: "dashed", text: prose(v), value: v };
    },
    split_line: () => {
      const t = token();
      const cut = 8 + int(t.value.length - 16);
      const v = t.value.slice(0, cut) + pick(["\n", "\r\n", "\n  "]) + t.value.slice(cut);
      return { type: t.type, cls: "split_line", text: `key:\n${v}\n`, value: v };
    },
    homoglyph: () => {
      const t = token();
      const v = fold(t.value, (c) =>
        HOMOGLYPHS[c] !== undefined && r() < 0.5 ? (HOMOGLYPHS[c] as string) : c,
      );
      return { type: t.type, cls: "homoglyph", text: prose(v), value: v };
    },
    fullwidth: () => {
      const t = token();
      const v = fold(t.value, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0));
      return { type: t.type, cls: "fullwidth", text: prose(v), value: v };
    },
    zero_width: () => {
      const t = token();
      const last = t.value.length - 1;
      const v = [...t.value]
        .map((c, i) => (i < last && r() < 0.2 ? c + pick(["\u200b", "\u200c", "\u2060", "\u00ad"]) : c))
        .join("");
      return { type: t.type, cls: "zero_width", text: prose(v), value: v };
    },
    card_dots: () => {
      const v = card()
        .match(/.{1,4}/g)!
        .join(".");
      return { type: "card_number", cls: "card_dots", text: prose(v), value: v };
    },
    card_lines: () => {
      const c = card();
      const v = `${c.slice(0, 8)}\n${c.slice(8)}`;
      return { type: "card_number", cls: "card_lines", text: `card:\n${v}\nexp 12/29`, value: v };
    },
    card_json_number: () => {
      const v = card();
      return { type: "card_number", cls: "card_json_number", text: `{"card": ${v}, "cvc": 123}`, value: v };
    },
    ssn_bare: () => {
      const v = ssn();
      const text = pick([
        `SSN: ${v}`,
        `social security number ${v}`,
        `ssn=${v}`,
        `Employee SSN ${v} on file`,
      ]);
      return { type: "us_ssn", cls: "ssn_bare", text, value: v };
    },
    phone_national: () => {
      const v = pick([
        () => `(${pick(["415", "212", "646", "303"])}) ${2 + int(8)}${digits(2)}-${digits(4)}`,
        () => `${pick(["415", "212", "646", "303"])}-${2 + int(8)}${digits(2)}-${digits(4)}`,
        () => `020 ${digits(4)} ${digits(4)}`,
        () => `06 ${digits(2)} ${digits(2)} ${digits(2)} ${digits(2)}`,
        () => `030 ${digits(8)}`,
      ])();
      const text = v.startsWith("0")
        ? pick([`Tel: ${v}`, `phone ${v}`, `Téléphone : ${v}`, `Telefon ${v}`])
        : `call ${v} today`;
      return { type: "phone", cls: "phone_national", text, value: v };
    },
    email_obfuscated: () => {
      const local = email();
      const d = domain();
      const v = pick([
        `${local}[at]${d}.com`,
        `${local} (at) ${d} (dot) org`,
        `${local}{at}${d}[dot]io`,
        `${local} at ${d} dot com`,
        `${local}\uFF20${d}.com`,
      ]);
      return { type: "email", cls: "email_obfuscated", text: `write to ${v} please`, value: v };
    },
    bearer: () => {
      const v = str(ALNUM + "-._", 24 + int(20)).replace(/^[-._]+/, "x") + digits(2);
      const text = pick([
        `Authorization: Bearer ${v}`,
        `curl -H "Authorization: Bearer ${v}" https://api`,
        `bearer ${v}`,
      ]);
      return { type: "bearer_token", cls: "bearer", text, value: v };
    },
    aws_secret_prose: () => {
      const v = str(ALNUM, 18) + "/" + str(ALNUM, 10) + digits(1) + "+" + str(ALNUM, 9);
      const text = pick([
        `The AWS secret access key is ${v} for prod.`,
        `secret key for the bucket: ${v}`,
        `Your AWS secret: ${v}`,
      ]);
      return { type: "aws_secret_key", cls: "aws_secret_prose", text, value: v };
    },
    url_password: () => {
      const v = pick([str(LOWER, 6) + digits(2), str(ALNUM, 16), "hunter" + digits(1)]);
      const text = `${pick(["postgres", "mysql", "redis", "mongodb+srv", "amqp"])}://${str(LOWER, 5)}:${v}@db.${domain()}.internal:5432/app`;
      return { type: "url_password", cls: "url_password", text, value: v };
    },
    // Added after the classes above (their draws stay the same): issue 18's independent misses.
    jwt_wrapped: () => {
      const h = Buffer.from(JSON.stringify({ alg: pick(["HS256", "RS256"]), typ: "JWT" })).toString(
        "base64url",
      );
      const body = Buffer.from(JSON.stringify({ sub: digits(4), role: str(LOWER, 5) })).toString("base64url");
      const pad = pick(["", "  ", "\t"]);
      const v = `${h}\n${pad}.${body}\n${pad}.${str(ALNUM + "_-", 43)}`;
      return {
        type: "jwt",
        cls: "jwt_wrapped",
        text: `${pick(["id_token:", "token ="])}\n${pad}${v}\n`,
        value: v,
      };
    },
    der_private_key: () => {
      const v = pick([
        () => "MC4CAQAwBQYDK2VwBCIEI" + str(ALNUM + "+/", 43),
        () => "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" + str(ALNUM + "+/", 180) + "==",
        () => "MHcCAQEEI" + str(ALNUM + "+/", 100),
      ])();
      return { type: "private_key", cls: "der_private_key", text: prose(v), value: v };
    },
    session_cookie: () => {
      const v = str(ALNUM, 30) + digits(2);
      const text = pick([
        `Cookie: theme=dark; session_id=${v}; lang=en`,
        `Set-Cookie: sessionid=${v}; Path=/; HttpOnly`,
        `{"session_token": "${v}"}`,
      ]);
      return { type: "generic_secret", cls: "session_cookie", text, value: v };
    },
  };

  const positives: Evasion[] = [];
  for (const gen of Object.values(classes)) for (let i = 0; i < per; i++) positives.push(gen());

  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const benign: Record<string, () => string> = {
    base64_text: () =>
      `payload ${b64(pick(["hello world, nothing here", '{"status":"ok","count":42}', "user=alice&page=2"]))}`,
    base64_image: () =>
      `data:image/png;base64,${Buffer.from(Array.from({ length: 600 + int(600) }, () => int(256))).toString("base64")}`,
    hashes: () =>
      `sha256 ${str("0123456789abcdef", 64)} sha1 ${str("0123456789abcdef", 40)} md5 ${str("0123456789abcdef", 32)}`,
    uuid: () =>
      `id ${str("0123456789abcdef", 8)}-${str("0123456789abcdef", 4)}-4${str("0123456789abcdef", 3)}-a${str("0123456789abcdef", 3)}-${str("0123456789abcdef", 12)}`,
    product_code: () => `SKU ${str(UPPER, 4)}-${str(UPPER, 4)}-${str(UPPER, 4)}-${str(UPPER, 4)}`,
    numbers: () =>
      `order ${digits(9)} shipped, ${digits(4)}.${digits(4)}.${digits(4)}.${digits(3)} build, total ${digits(3)}.${digits(2)}`,
    ip_version: () =>
      `host 10.${int(255)}.${int(255)}.${int(255)} v${int(20)}.${int(20)}.${digits(4)} 2026-${digits(2)}-${digits(2)}`,
    words_at: () =>
      pick([
        "look at example.com for docs",
        "meet at noon",
        "the key is at the top",
        "we arrived at home dot late",
      ]),
    placeholders: () =>
      pick([
        "Authorization: Bearer <token>",
        "Authorization: Bearer ${API_TOKEN}",
        "Bearer authentication is required",
        "postgres://user:${DB_PASSWORD}@localhost/app",
        "postgres://user:password@localhost/app",
        "redis://localhost:6379/0",
      ]),
    secret_word_sha: () => `the secret commit is ${str("0123456789abcdef", 40)}`,
    reversed_words: () => pick(["kcatS deciffo", "AIKA is not a key", "_phg alone", "a-ks b"]),
    code: () =>
      pick([
        "const token = await getToken(); if (!token) throw new Error('no token');",
        "def password_reset(user):\n    return send_mail(user.email_address)",
        "for (let i = 0; i < 4111; i++) sum += values[i];",
        "SELECT id, email_verified FROM users WHERE created_at > now() - interval '1 day';",
      ]),
    prose_languages: () =>
      pick([
        "Привет, мир! Это обычный текст без секретов.",
        "Καλημέρα κόσμε, αυτό είναι απλό κείμενο.",
        "这是一个普通的句子，没有任何秘密。",
        "これは普通の文章です。秘密はありません。",
        "이것은 평범한 문장입니다.",
        "هذه جملة عادية بدون أسرار.",
        "यह एक सामान्य वाक्य है।",
        "Bu sıradan bir cümledir, gizli bir şey yok.",
        "Đây là một câu bình thường.",
        "Ceci est une phrase ordinaire, rien de secret.",
        "Dies ist ein gewöhnlicher Satz ohne Geheimnisse.",
        "Esta es una frase normal, sin secretos.",
        "ＦＵＬＬ　ＷＩＤＴＨ　ｔｅｘｔ，　ｎｏ　ｓｅｃｒｅｔｓ。",
        "𝐁𝐨𝐥𝐝 𝐦𝐚𝐭𝐡 𝐭𝐞𝐱𝐭 in a title",
      ]),
    json_escapes: () =>
      pick(['{"msg": "caf\\u00e9 \\u2014 ok"}', "a &amp; b &lt; c &gt; d", "100%25 done, path%2Fto%2Ffile"]),
    der_public: () =>
      pick([
        "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" + str(ALNUM, 60),
        "MIIDdzCCAl+gAwIBAgIU" + str(ALNUM, 60),
        "MCowBQYDK2VwAyEA" + str(ALNUM, 43),
      ]),
    session_words: () =>
      pick([
        "Dec 07 10:22:31 web-1 systemd[1]: Started Session 42 of user deploy.",
        `session_id=${digits(8)} closed after ${int(90)} s`,
        "session: active, sessions: 3",
        "sessionStorage.setItem('theme', 'dark');",
      ]),
    jwt_lines: () => "eyJhbGciOiJIUzI1NiJ9\n.github/workflows/ci.yml changed",
    logs: () =>
      `2026-11-26T07:${digits(2)}:12.345Z INFO request handled in ${int(900)} ms path=/api/v1/items/${digits(6)} user_id=${digits(7)}`,
  };
  const negatives: Benign[] = [];
  for (const [cls, gen] of Object.entries(benign))
    for (let i = 0; i < per; i++) negatives.push({ cls, text: gen() });
  return { positives, negatives };
}
