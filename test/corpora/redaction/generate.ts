/**
 * Deterministic generator of the labelled redaction corpus: format-valid but random (fake) values
 * built from public formats and checksums, and look-alikes that fail exactly one check. Nothing
 * here is a real secret; token prefixes are assembled at run time so that no literal in the
 * repository looks like a live credential to a secret scanner.
 */
import { cnIdCheckChar, ibanMod97, luhnValid } from "../../../src/protect/redaction/checks.js";

export interface Sample {
  /** The type the value is (positive) or resembles (look-alike). */
  readonly type: string;
  readonly text: string;
  /** For positives: the exact substring that must be replaced. */
  readonly value?: string;
}

/** mulberry32: small, seeded, good enough for test data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER = "abcdefghijklmnopqrstuvwxyz";
const DIGITS = "0123456789";
const ALNUM = UPPER + LOWER + DIGITS;
const B64 = ALNUM + "+/";
const B64URL = ALNUM + "-_";

const CONTEXTS = [
  (v: string) => `The response contained ${v} in the body.`,
  (v: string) => `{"result": "${v}", "ok": true}`,
  (v: string) => `line 42: value=${v}\nnext line`,
  (v: string) => `日志：${v}，请检查。`,
  (v: string) => `- item: ${v}`,
  (v: string) => `${v}`,
];

export function generateCorpus(seed = 20260426, perType = 24): { positives: Sample[]; negatives: Sample[] } {
  const r = rng(seed);
  const int = (n: number) => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  const str = (alphabet: string, n: number) =>
    Array.from({ length: n }, () => alphabet[int(alphabet.length)]).join("");
  const digits = (n: number) => str(DIGITS, n);
  const ctx = (v: string) => pick(CONTEXTS)(v);

  const withLuhn = (prefix: string, len: number): string => {
    const body = prefix + digits(len - prefix.length - 1);
    for (let c = 0; c < 10; c++) if (luhnValid(body + c)) return body + c;
    throw new Error("unreachable");
  };
  const breakLuhn = (n: string): string => n.slice(0, -1) + ((Number(n.slice(-1)) + 1 + int(8)) % 10);
  const group = (d: string, sizes: readonly number[], sep: string) => {
    const out: string[] = [];
    let i = 0;
    for (const s of sizes) out.push(d.slice(i, (i += s)));
    return out.join(sep);
  };
  const iban = (cc: string, bbanLen: number): string => {
    const bban = str(UPPER.slice(0, 6) + DIGITS, 4) + digits(bbanLen - 4);
    const rem = ibanMod97(cc + "00" + bban);
    return cc + String(98 - rem).padStart(2, "0") + bban;
  };
  const birth = (): string => {
    const y = 1940 + int(80);
    const m = 1 + int(12);
    const d = 1 + int(28);
    return `${y}${String(m).padStart(2, "0")}${String(d).padStart(2, "0")}`;
  };
  const cnId = (date = birth()): string => {
    const first = pick(["11", "31", "44", "51", "32"]) + digits(4) + date + digits(3);
    return first + cnIdCheckChar(first);
  };
  const b64url = (s: string) => Buffer.from(s).toString("base64url");
  const pem = (label: string, lines: number) =>
    `-----BEGIN ${label}-----\n` +
    Array.from({ length: lines }, () => str(B64, 64)).join("\n") +
    `\n${str(B64, 20)}==\n-----END ${label}-----`;

  const sk = "s" + "k";
  const pos: Record<string, () => string> = {
    aws_access_key: () => pick(["AK", "AS"]) + "IA" + str(UPPER + "234567", 16),
    github_token: () =>
      r() < 0.8
        ? "gh" + pick([..."pousr"]) + "_" + str(ALNUM, 36)
        : "github" + "_pat_" + str(ALNUM, 22) + "_" + str(ALNUM, 59),
    openai_key: () => (r() < 0.5 ? `${sk}-proj-` + str(B64URL, 100 + int(60)) : `${sk}-` + str(ALNUM, 48)),
    anthropic_key: () => `${sk}-ant-api03-` + str(B64URL, 93) + "AA",
    slack_token: () =>
      "xo" + "x" + pick([..."abprs"]) + "-" + digits(11) + "-" + digits(12) + "-" + str(ALNUM, 24),
    slack_webhook: () =>
      "https://hooks." +
      "slack.com/services/T" +
      str(UPPER + DIGITS, 8) +
      "/B" +
      str(UPPER + DIGITS, 10) +
      "/" +
      str(ALNUM, 24),
    stripe_key: () => pick([sk, "r" + "k"]) + pick(["_live_", "_test_"]) + str(ALNUM, 24 + int(75)),
    google_api_key: () => "AI" + "za" + str(B64URL.replace("-", "").replace("_", "") + "-_", 35),
    private_key: () =>
      pem(pick(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"]), 4 + int(20)),
    jwt: () =>
      b64url(JSON.stringify({ alg: pick(["HS256", "RS256", "ES256"]), typ: "JWT" })) +
      "." +
      b64url(JSON.stringify({ sub: str(LOWER, 8), iat: 1700000000 + int(1e7) })) +
      "." +
      str(B64URL, 43),
    email: () =>
      str(LOWER, 3 + int(8)) +
      pick([".", "_", "+", ""]) +
      str(LOWER + DIGITS, 2 + int(5)) +
      "@" +
      str(LOWER, 4 + int(8)) +
      pick([".com", ".org", ".co.uk", ".io", ".example", ".cn"]),
    phone: () => {
      const k = int(4);
      if (k === 0) return "+1" + pick(["415", "212", "646"]) + digits(7);
      if (k === 1) return "+44 20 " + digits(4) + " " + digits(4);
      const mobile = "1" + pick([..."3456789"]) + digits(9);
      return k === 2 ? mobile : group(mobile, [3, 4, 4], pick([" ", "-"]));
    },
    us_ssn: () => {
      let area = 1 + int(898);
      if (area === 666) area = 667;
      return `${String(area).padStart(3, "0")}-${String(1 + int(99)).padStart(2, "0")}-${String(1 + int(9999)).padStart(4, "0")}`;
    },
    card_number: () => {
      const [prefix, len, sizes] = pick([
        ["4", 16, [4, 4, 4, 4]],
        ["51", 16, [4, 4, 4, 4]],
        ["2221", 16, [4, 4, 4, 4]],
        ["37", 15, [4, 6, 5]],
        ["6011", 16, [4, 4, 4, 4]],
        ["3530", 16, [4, 4, 4, 4]],
        ["62", 19, [4, 4, 4, 4, 3]],
        ["36", 14, [4, 6, 4]],
      ] as const);
      const n = withLuhn(prefix, len);
      const sep = pick(["", " ", "-"]);
      return sep === "" ? n : group(n, sizes, sep);
    },
    iban: () => {
      const [cc, len] = pick([
        ["DE", 22],
        ["GB", 22],
        ["FR", 27],
        ["NL", 18],
        ["ES", 24],
        ["CH", 21],
      ] as const);
      const v = iban(cc, len - 4);
      return r() < 0.5 ? v : v.replace(/(.{4})(?=.)/g, "$1 ");
    },
    cn_resident_id: () => cnId(),
    aws_secret_key: () => str(B64, 40),
    generic_secret: () => str(ALNUM, 12) + pick(["!", "#", "%", ""]) + digits(3),
  };

  const positives: Sample[] = [];
  for (const [type, gen] of Object.entries(pos)) {
    for (let i = 0; i < perType; i++) {
      const value = gen();
      if (type === "aws_secret_key") {
        positives.push({
          type,
          value,
          text:
            pick(["aws_secret_access_key = ", 'AWS_SECRET_ACCESS_KEY="', "aws_secret_key: "]) + value + "\n",
        });
      } else if (type === "generic_secret") {
        positives.push({
          type,
          value,
          text:
            pick(["password=", 'db_password: "', "client_secret = '", "API_KEY=", "auth_token: "]) +
            value +
            "\n",
        });
      } else {
        positives.push({ type, value, text: ctx(value) });
      }
    }
  }

  const neg: Record<string, () => string> = {
    aws_access_key: () =>
      pick([
        "AKIA" + str(UPPER + "0189", 15) + "8",
        "AKIA" + str(UPPER, 15),
        "AKIAIOSFODNN7" + "EXAMPLE",
        "xAKIA" + str(UPPER, 16),
      ]),
    github_token: () =>
      pick([
        "gh" + "p_" + str(ALNUM, 35),
        "gh" + "x_" + str(ALNUM, 36),
        "gh" + "p_" + "x".repeat(36),
        "my_gh" + "p_" + str(ALNUM, 36) + "z",
      ]),
    openai_key: () =>
      pick([
        `${sk}-` + str(ALNUM, 47),
        `${sk}-proj-` + str(ALNUM, 20),
        `${sk}-` + "x".repeat(48),
        "task-" + str(ALNUM, 48),
      ]),
    anthropic_key: () => pick([`${sk}-ant-api03-` + str(ALNUM, 30), `${sk}-ant-api03-` + "X".repeat(95)]),
    slack_token: () =>
      pick([
        "xo" + "xq-" + digits(11) + "-" + str(ALNUM, 24),
        "xo" + "xb-" + str(LOWER, 12),
        "xo" + "xb-" + digits(11) + "-xxxxxxxxxxxx",
      ]),
    slack_webhook: () =>
      "https://hooks." +
      "slack.com/services/T" +
      str(UPPER, 8) +
      "/B" +
      str(UPPER, 8) +
      "/" +
      pick(["XXXXXXXXXXXXXXXXXXXXXXXX", str(ALNUM, 10)]),
    stripe_key: () =>
      pick([
        "p" + "k_live_" + str(ALNUM, 24),
        sk + "_live_" + str(ALNUM, 10),
        sk + "_prod_" + str(ALNUM, 24),
      ]),
    google_api_key: () =>
      pick(["AI" + "za" + str(ALNUM, 30), "AI" + "zb" + str(ALNUM, 35), "AI" + "za" + "x".repeat(35)]),
    private_key: () =>
      pick([
        pem("PUBLIC KEY", 6),
        pem("CERTIFICATE", 6),
        "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----",
        "-----BEGIN RSA PRIVATE KEY-----\n<your key here>\n-----END RSA PRIVATE KEY-----",
      ]),
    jwt: () =>
      pick([
        b64url(JSON.stringify({ typ: "JWT", kid: str(LOWER, 6) })) +
          "." +
          b64url('{"sub":"x"}') +
          "." +
          str(B64URL, 43),
        "eyJ" + str(ALNUM, 20) + "." + str(ALNUM, 20) + "." + str(ALNUM, 20),
        b64url(JSON.stringify({ alg: "HS256" })) + "." + b64url('{"sub":"x"}') + ".",
      ]),
    email: () =>
      pick([
        "admin@localhost",
        "@" + str(LOWER, 8),
        str(LOWER, 5) + "@" + str(LOWER, 5) + ".c",
        str(LOWER, 4) + "@@" + str(LOWER, 4) + ".com",
        "user@" + "-bad.com",
      ]),
    phone: () =>
      pick([
        String(1_600_000_000_000 + int(2e11)),
        "+0" + digits(10),
        "+1" + digits(5),
        "12" + digits(9),
        "1" + digits(11) + "0",
        "+1" + digits(15),
      ]),
    us_ssn: () =>
      pick(["000", "666", String(900 + int(100))]) +
      "-" +
      digits(2).replace(/^00$/, "12") +
      "-" +
      String(1 + int(9998)).padStart(4, "0"),
    card_number: () => {
      const k = int(3);
      if (k === 0) return breakLuhn(withLuhn("4", 16));
      if (k === 1) return withLuhn(pick(["1", "7", "8", "90"]), 16);
      return withLuhn("37", 16); // Amex is 15 digits
    },
    iban: () => {
      const v = iban("DE", 18);
      const k = int(3);
      if (k === 0) return v.slice(0, 10) + ((Number(v[10]) + 1) % 10) + v.slice(11);
      if (k === 1) return iban("DE", 17);
      return "XQ" + v.slice(2);
    },
    cn_resident_id: () => {
      const v = cnId();
      const k = int(4);
      if (k === 0) return v.slice(0, 17) + (v[17] === "0" ? "1" : "0");
      if (k === 1) return ((s) => s + cnIdCheckChar(s))("110101" + "19900230" + digits(3));
      if (k === 2) return ((s) => s + cnIdCheckChar(s))("110101" + "20990101" + digits(3));
      return ((s) => s + cnIdCheckChar(s))("990101" + birth() + digits(3));
    },
    aws_secret_key: () =>
      "aws_secret_access_key = " +
      pick(["x".repeat(40), "${AWS_SECRET_ACCESS_KEY}", "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY"]),
    generic_secret: () =>
      pick([
        "password=changeme",
        "token=${API_TOKEN}",
        "api_key=YOUR_API_KEY",
        "secret: <secret>",
        "password: ********",
        "token=" + "x".repeat(20),
        "password_reset_url: https://example.com/reset",
        "token: authentication-required",
        "secret_file=/run/secrets/db",
        "max_tokens=4096",
        "token_count: 123456789",
      ]),
  };
  const negatives: Sample[] = [];
  for (const [type, gen] of Object.entries(neg)) {
    for (let i = 0; i < perType; i++) {
      const v = gen();
      negatives.push({
        type,
        text: type === "aws_secret_key" || type === "generic_secret" ? v + "\n" : ctx(v),
      });
    }
  }
  return { positives, negatives };
}
