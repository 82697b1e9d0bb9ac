/**
 * Secret detectors. Each pattern starts with a literal (so the engine skips ahead cheaply), uses
 * bounded, unambiguous repetitions (no overlapping nested quantifiers: linear time), and has a
 * validation step; a look-alike that fails it is left alone.
 */
import { byFirstChar, charClass, isPlaceholder, shannonEntropy } from "./checks.js";
import { isSpace } from "../normalise/reading.js";
import { matcher, nextAt, type Gate, type Matcher } from "./gate.js";
import type { Detector, Finding } from "./types.js";

/** A random-looking token body: no placeholder, enough distinct symbols. */
export function randomLooking(body: string, minEntropy: number): boolean {
  return !isPlaceholder(body) && shannonEntropy(body) >= minEntropy;
}

export interface TokenRule {
  readonly type: string;
  /** Literals a match starts with: the one prefilter pass finds them, then `re` runs there. */
  readonly lits: readonly string[];
  /** Sticky regex; the whole match is the secret. */
  readonly re: RegExp;
  readonly valid: (match: string) => boolean;
}

const B = "(?<![A-Za-z0-9_-])"; // left boundary: not inside a longer identifier
const E = "(?![A-Za-z0-9_-])";

export const TOKEN_RULES: readonly TokenRule[] = [
  {
    type: "aws_access_key",
    lits: ["AKIA", "ASIA"],
    // Access key ids are base32 ([A-Z2-7]); AKIA long-term, ASIA temporary (STS).
    re: new RegExp(`(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z2-7]{16}(?![A-Za-z0-9])`, "y"),
    valid: (m) => randomLooking(m.slice(4), 2.5),
  },
  {
    type: "github_token",
    lits: ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
    re: new RegExp(`${B}gh[pousr]_[A-Za-z0-9]{36}${E}`, "y"),
    valid: (m) => randomLooking(m.slice(4), 3.5),
  },
  {
    type: "github_token",
    lits: ["github_pat_"],
    re: new RegExp(`${B}github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}${E}`, "y"),
    valid: (m) => randomLooking(m.slice(11), 4),
  },
  {
    type: "anthropic_key",
    lits: ["sk-ant-"],
    re: new RegExp(`${B}sk-ant-(?:api|admin|sid)\\d{2}-[A-Za-z0-9_-]{80,120}${E}`, "y"),
    valid: (m) => randomLooking(m.slice(14), 4),
  },
  {
    type: "openai_key",
    lits: ["sk-proj-", "sk-svcacct-", "sk-admin-"],
    re: new RegExp(`${B}sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,250}${E}`, "y"),
    valid: (m) => randomLooking(m.slice(m.indexOf("-", 3) + 1), 4),
  },
  {
    type: "openai_key",
    lits: ["sk-"],
    re: new RegExp(`${B}sk-[A-Za-z0-9]{48}${E}`, "y"),
    valid: (m) => randomLooking(m.slice(3), 4),
  },
  {
    type: "stripe_key",
    lits: ["sk_live_", "sk_test_", "rk_live_", "rk_test_"],
    re: new RegExp(`${B}(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{24,99}${E}`, "y"),
    valid: (m) => randomLooking(m.slice(8), 3.5),
  },
  {
    type: "slack_token",
    lits: ["xoxa-", "xoxb-", "xoxp-", "xoxr-", "xoxs-"],
    re: new RegExp(`${B}xox[abprs]-\\d{6,15}-[A-Za-z0-9-]{8,200}${E}`, "y"),
    valid: (m) => randomLooking(m.slice(5), 3),
  },
  {
    type: "slack_webhook",
    lits: ["https://hooks.slack.com/"],
    re: /https:\/\/hooks\.slack\.com\/services\/T[A-Z0-9]{6,12}\/B[A-Z0-9]{6,12}\/[A-Za-z0-9]{20,32}(?![A-Za-z0-9])/y,
    valid: (m) => randomLooking(m.slice(m.lastIndexOf("/") + 1), 3.5),
  },
  {
    type: "sendgrid_key",
    lits: ["SG."],
    re: new RegExp(`${B}SG\\.[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{43}${E}`, "y"),
    valid: (m) => randomLooking(m.slice(3), 4),
  },
  {
    type: "gitlab_token",
    lits: ["glpat-"],
    re: new RegExp(`${B}glpat-[A-Za-z0-9_-]{20}${E}`, "y"),
    valid: (m) => randomLooking(m.slice(6), 3.5),
  },
  {
    type: "npm_token",
    lits: ["npm_"],
    re: new RegExp(`${B}npm_[A-Za-z0-9]{36}${E}`, "y"),
    valid: (m) => randomLooking(m.slice(4), 3.5),
  },
  {
    type: "huggingface_token",
    lits: ["hf_"],
    re: new RegExp(`${B}hf_[A-Za-z]{34}${E}`, "y"),
    valid: (m) => randomLooking(m.slice(3), 3.5),
  },
  {
    type: "google_api_key",
    lits: ["AIza"],
    re: new RegExp(`${B}AIza[A-Za-z0-9_-]{35}${E}`, "y"),
    valid: (m) => randomLooking(m.slice(4), 3.5),
  },
  {
    // A private key's DER in base64 without its BEGIN/END lines: PKCS#8 (Ed25519, RSA, EC P-256),
    // PKCS#1 RSA and SEC1 EC headers, which a certificate or a public key never starts with.
    type: "private_key",
    lits: ["MC4CAQAw", "MII", "MIGHAgEA", "MHcCAQEE"],
    re: /(?<![A-Za-z0-9+/])(?:MC4CAQAwBQYDK2Vw|MII[A-Za-z0-9+/]{3}(?:IBADANBgkqhkiG9w0BAQEFAAS|IBAAKCA)|MIGHAgEAMBMGByqGSM49|MHcCAQEEI)[A-Za-z0-9+/]{16,8192}={0,2}(?![A-Za-z0-9+/=])/y,
    valid: (m) => randomLooking(m.slice(16), 3.5),
  },
];

/** Decodes base64url to a string, or returns undefined; bounded by the caller's match length. */
function base64urlJson(part: string): unknown {
  try {
    return JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as unknown;
  } catch {
    return undefined;
  }
}

function jwtValid(token: string): boolean {
  const [header, payload, signature = ""] = token.split(".").map((p) => p.trim());
  if (header === undefined || payload === undefined) return false;
  const h = base64urlJson(header);
  if (typeof h !== "object" || h === null || Array.isArray(h)) return false;
  const alg = (h as Record<string, unknown>).alg;
  if (typeof alg !== "string") return false;
  return signature.length > 0 || alg === "none";
}

const JWT_RE = new RegExp(
  // A token wrapped before its dots (`eyJ…\n  .eyJ…\n  .sig`) is still one token; a line that
  // ends in a dot is not continued (`value=eyJ….` then prose on the next line).
  `${B}eyJ[A-Za-z0-9_-]{5,4096}(?:[ \\t]{0,16}\\r?\\n[ \\t]{0,16})?\\.[A-Za-z0-9_-]{2,65536}(?:[ \\t]{0,16}\\r?\\n[ \\t]{0,16})?\\.[A-Za-z0-9_-]{0,8192}${E}`,
  "y",
);

const PEM_BEGIN = /-----BEGIN (?:[A-Z0-9]{1,20} ){0,4}PRIVATE KEY(?: BLOCK)?-----/g;
/** How far a PEM body may run before we stop looking for its END line. */
const PEM_MAX = 65536;
// A key inside a JSON string has its line breaks written as "\n".
const pemBodyPlain = charClass(/[A-Za-z0-9+/=\s]/);

/** Whether `s` is all key material, as /^(?:[A-Za-z0-9+/=\s]|\\[nr])*$/ tests. */
function pemBody(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    if (pemBodyPlain(s.charCodeAt(i))) continue;
    const next = s.charCodeAt(i + 1);
    if (s.charCodeAt(i) !== 92 || (next !== 110 && next !== 114)) return false;
    i++; // "\n" or "\r"
  }
  return true;
}

/** Whether `s` has at least `n` distinct non-space ASCII characters (stops as soon as it does). */
function distinctAtLeast(s: string, n: number): boolean {
  const seen = new Uint8Array(128);
  let count = 0;
  for (let i = 0; i < s.length && count < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 128 && c > 32 && seen[c] === 0) {
      seen[c] = 1;
      count++;
    }
  }
  return count >= n;
}

const pemBodyChar = charClass(/[A-Za-z0-9+/=\s:,\\-]/);
// The next BEGIN and END lines, found as indexOf would (a gate finds them in its one pass).
const NEXT_BEGIN = /-----BEGIN /g;
const NEXT_END = /-----END /g;

/**
 * Private keys: from BEGIN to the matching END line. A block cut off before its END (a truncated
 * result) is still redacted, through the last line that looks like key material. A body stops at
 * the next BEGIN, and the END and BEGIN searches are cached, so many headers cost linear time.
 */
function scanPem(text: string, out: Finding[], gate: Gate | undefined): void {
  const begin = matcher(gate, PEM_BEGIN);
  const beginLine = matcher(gate, NEXT_BEGIN);
  const endLine = matcher(gate, NEXT_END);
  begin.lastIndex = 0;
  let nextEnd = -2;
  let nextBegin = -2;
  let runFrom = -1;
  let runEnd = -1;
  let m: RegExpExecArray | null;
  while ((m = begin.exec(text)) !== null) {
    const start = m.index;
    const bodyStart = start + m[0].length;
    if (nextEnd !== -1 && nextEnd < bodyStart) nextEnd = nextAt(endLine, text, bodyStart);
    if (nextBegin !== -1 && nextBegin < bodyStart) nextBegin = nextAt(beginLine, text, bodyStart);
    const limit = Math.min(text.length, bodyStart + PEM_MAX, nextBegin === -1 ? Infinity : nextBegin);
    let end: number;
    let body: string;
    if (nextEnd !== -1 && nextEnd < limit) {
      const close = text.indexOf("-----", nextEnd + 9);
      end = close === -1 || close > nextEnd + 80 ? nextEnd + 9 : close + 5;
      body = text.slice(bodyStart, nextEnd);
    } else {
      if (!(runFrom <= bodyStart && bodyStart <= runEnd)) {
        runFrom = bodyStart;
        runEnd = bodyStart;
        while (runEnd < text.length && pemBodyChar(text.charCodeAt(runEnd))) runEnd++;
      }
      end = Math.min(runEnd, limit);
      while (end > bodyStart && isSpace(text.charCodeAt(end - 1))) end--;
      body = text.slice(bodyStart, end);
    }
    // Headers such as "Proc-Type: 4,ENCRYPTED" precede the base64 in legacy encrypted keys.
    const b64 = body.includes(":") ? body.replace(/^[A-Za-z-]+:.*$/gm, "") : body;
    if (pemBody(b64) && distinctAtLeast(b64, 16)) {
      out.push({ start, end, type: "private_key" });
      begin.lastIndex = end;
    }
  }
}

// One pass finds every place a token could start (first characters factored for the engine).
const PREFILTER =
  /(?:A(?:KIA|SIA|Iza)|g(?:h[pousr]_|ithub_pat_|lpat-)|[sr]k[-_]|xox[abprs]-|https:\/\/hooks\.slack\.com\/|eyJ|SG\.|npm_|hf_|M(?:C4CAQAw|II|IGHAgEA|HcCAQEE))/g;

function scanRules(text: string, out: Finding[], gate: Gate | undefined): void {
  const pre = matcher(gate, PREFILTER);
  pre.lastIndex = 0;
  let p: RegExpExecArray | null;
  while ((p = pre.exec(text)) !== null) {
    const at = p.index;
    const end = at + 1 + (text.startsWith("eyJ", at) ? matchJwt(text, at, out) : matchRule(text, at, out));
    if (end > pre.lastIndex) pre.lastIndex = end;
  }
}

/** The rules in order, by the first characters of their literals (others cannot start there). */
const RULES_BY_FIRST = byFirstChar(TOKEN_RULES, (rule) => rule.lits);

/** Tries the rules whose literal starts at `at`; returns the length of the finding, or 0. */
export function matchRule(text: string, at: number, out: Finding[]): number {
  for (const rule of RULES_BY_FIRST.get(text.charCodeAt(at)) ?? []) {
    let lit = false;
    for (const l of rule.lits) if (text.startsWith(l, at)) lit = true;
    if (!lit) continue;
    rule.re.lastIndex = at;
    const m = rule.re.exec(text);
    if (m !== null && rule.valid(m[0])) {
      out.push({ start: at, end: at + m[0].length, type: rule.type });
      return m[0].length - 1;
    }
  }
  return 0;
}

function matchJwt(text: string, at: number, out: Finding[]): number {
  JWT_RE.lastIndex = at;
  const m = JWT_RE.exec(text);
  if (m === null || !jwtValid(m[0])) return 0;
  out.push({ start: at, end: at + m[0].length, type: "jwt" });
  return m[0].length - 1;
}

export const secretTokens: Detector = {
  types: [...new Set([...TOKEN_RULES.map((r) => r.type), "jwt", "private_key"])],
  patterns: [PREFILTER, PEM_BEGIN, NEXT_BEGIN, NEXT_END],
  scan(text, out, gate) {
    scanRules(text, out, gate);
    scanPem(text, out, gate);
  },
};

// An AWS secret access key has no prefix: only its name in an assignment says what it is.
const AWS_SECRET_RE =
  /aws_?secret_?(?:access_?)?key["']?\s{0,8}(?::=|=>|[:=])\s{0,8}["']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])/gi;

// Keyword, up to 32 more identifier characters (DB_PASSWORD_PROD), an assignment, a value. The
// keywords are grouped by first letter (alternatives with different first letters never compete
// at one position, so this matches exactly what the plain list would), which the engine scans
// faster.
const KEYWORDS_LATIN =
  "p(?:assw(?:or)?[dt]|wd|rivate[_-]?key)|s(?:ecret|ession[_-]?(?:id|token|key)|essid)|token|a(?:pi[_-]?key|pikey|ccess[_-]?key|uth[_-]?key)|credentials?|kennwort|contrase[ñn]a|senha|wachtwoord|has[łl]o|[şs]ifre|parola|mot de passe";
const KEYWORDS_OTHER = "пароль|密码|密碼|パスワード|비밀번호|mật khẩu|كلمة المرور|पासवर्ड";
const ASSIGNED_RE = new RegExp(
  `(?:${KEYWORDS_LATIN}|${KEYWORDS_OTHER})[A-Za-z0-9_.-]{0,32}(?:[ \\t][^\\s:=：]{1,16}){0,3}["']?\\s{0,8}(?::=|=>|[:=：])\\s{0,8}["'\`]?([^\\s"'\`<>,;(){}[\\]]{8,256})`,
  "iy",
);
/**
 * Where ASSIGNED_RE can match: at a keyword. Two scans, as the keywords in Latin script and the
 * others: one alternation of both costs the engine twice as much as the two together.
 */
const ASSIGNED_AT = [new RegExp(KEYWORDS_LATIN, "gi"), new RegExp(KEYWORDS_OTHER, "gi")];
/** ASSIGNED_RE as a scan of the whole text: what a gate tries where a keyword starts. */
const ASSIGNED_ALL = new RegExp(ASSIGNED_RE.source, "gi");

/** Minimum bits per character for a keyword-assigned value to count as a secret. */
export const ASSIGNED_MIN_ENTROPY = 3;

/** Whether a keyword-assigned value is a secret (exported for its test). */
export function assignedValueIsSecret(v: string): boolean {
  if (v.includes("://") || v.startsWith("/") || v.startsWith("./") || v.startsWith("~/")) return false;
  if (/^\d+(?:\.\d+)*$/.test(v)) return false; // numbers and versions
  if (!/\d/.test(v) && !(/[a-z]/.test(v) && /[A-Z]/.test(v))) return false; // words, not keys
  return !isPlaceholder(v) && shannonEntropy(v) >= ASSIGNED_MIN_ENTROPY;
}

function scanValues(re: Matcher, type: string, valid: (v: string) => boolean, text: string, out: Finding[]) {
  re.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) valueFound(m, type, valid, out);
}

/** The value a match of an assignment pattern captured, pushed when `valid`. */
function valueFound(m: RegExpExecArray, type: string, valid: (v: string) => boolean, out: Finding[]): void {
  const value = (m[1] as string).replace(/[.:]+$/, ""); // sentence punctuation after the value
  const start = m.index + m[0].length - (m[1] as string).length;
  if (valid(value)) out.push({ start, end: start + value.length, type });
}

export const awsSecretKey: Detector = {
  types: ["aws_secret_key"],
  patterns: [AWS_SECRET_RE],
  scan: (text, out, gate) =>
    scanValues(matcher(gate, AWS_SECRET_RE), "aws_secret_key", (v) => randomLooking(v, 3.5), text, out),
};

/** Generic: weaker than every specific detector, so it only fills in what they did not find. */
export const assignedSecret: Detector = {
  types: ["generic_secret"],
  patterns: [ASSIGNED_ALL],
  scan(text, out, gate) {
    if (gate !== undefined) {
      scanValues(gate.matcher(ASSIGNED_ALL), "generic_secret", assignedValueIsSecret, text, out);
      return;
    }
    // Every place a keyword starts (overlapping ones too), in order; ASSIGNED_RE tried there, as
    // its own scan from the start would be: the next try after a match only past its end.
    const at: number[] = [];
    for (const re of ASSIGNED_AT) {
      re.lastIndex = 0;
      for (let m = re.exec(text); m !== null; m = re.exec(text)) {
        at.push(m.index);
        re.lastIndex = m.index + 1;
      }
    }
    if (at.length === 0) return;
    at.sort((a, b) => a - b);
    let next = 0;
    for (const p of at) {
      if (p < next) continue;
      ASSIGNED_RE.lastIndex = p;
      const m = ASSIGNED_RE.exec(text);
      if (m === null) continue;
      valueFound(m, "generic_secret", assignedValueIsSecret, out);
      next = p + m[0].length;
    }
  },
};
