/**
 * Secrets with no shape of their own, known by what stands next to them: an opaque bearer token in
 * an `Authorization` header, the password of a URL's user info (a database URL), an AWS secret
 * access key named in prose rather than assigned. Each is validated (placeholders, entropy) like
 * the keyword-assigned secret.
 */
import { isPlaceholder, shannonEntropy } from "./checks.js";
import { isSpace } from "../normalise/reading.js";
import { matcher, nextAt, type Gate } from "./gate.js";
import type { Detector, Finding } from "./types.js";

// "Bearer <token>" anywhere; any scheme after an Authorization header or key. Bounded, one class
// per repetition: linear.
const AUTH_RE =
  /(?:\bbearer[ \t]{1,4}|authorization["']?[ \t]{0,4}[:=][ \t]{0,4}["']?(?:(?:basic|token|bot|digest|apikey)[ \t]{1,4})?)([A-Za-z0-9._~+/-]{12,4096}=*)/gi;

function opaqueToken(v: string): boolean {
  if (isPlaceholder(v)) return false;
  if (!/[0-9]/.test(v) && !(/[a-z]/.test(v) && /[A-Z]/.test(v))) return false; // a word
  return shannonEntropy(v) >= 3;
}

function scanAuth(text: string, out: Finding[], gate: Gate | undefined): void {
  const auth = matcher(gate, AUTH_RE);
  auth.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = auth.exec(text)) !== null) {
    const value = (m[1] as string).replace(/[.]+$/, "");
    const start = m.index + m[0].length - (m[1] as string).length;
    if (opaqueToken(value)) out.push({ start, end: start + value.length, type: "bearer_token" });
  }
}

/** Words that stand for a password in documentation, never one. */
const PASSWORD_WORDS = /^(?:pass(?:word)?|passwd|pwd|secret|pw|\*+|x+|\.+)$/i;

/** Each "://", found as indexOf would (a gate finds them in its one pass). */
const SCHEME_END = /:\/\//g;

/**
 * `scheme://user:password@host`: the password, whatever its strength (a weak one is still a
 * credential). Found from each "://" (no regex scan from every letter).
 */
function scanUrlPasswords(text: string, out: Finding[], gate: Gate | undefined): void {
  const schemeEnd = matcher(gate, SCHEME_END);
  let from = 0;
  for (;;) {
    const at = nextAt(schemeEnd, text, from);
    if (at === -1) return;
    from = at + 3;
    if (!/[A-Za-z0-9]/.test(text.charAt(at - 1))) continue;
    // The user info ends at the first "@" before any "/", "?", "#" or white space.
    let i = at + 3;
    let colon = -1;
    const stop = Math.min(text.length, at + 3 + 512);
    while (i < stop) {
      const c = text.charAt(i);
      if (c === "@" || c === "/" || c === "?" || c === "#" || isSpace(text.charCodeAt(i))) break;
      if (c === ":" && colon === -1) colon = i;
      i++;
    }
    // An empty user ("redis://:password@host") is how password-only services are written.
    if (text.charAt(i) !== "@" || colon === -1 || colon + 1 === i) continue;
    const password = text.slice(colon + 1, i);
    if (PASSWORD_WORDS.test(password) || isPlaceholder(password)) continue;
    out.push({ start: colon + 1, end: i, type: "url_password" });
    from = i + 1;
  }
}

// Forty characters of the AWS secret alphabet, standing alone, within AWS_CONTEXT characters after
// the word "secret" (found first: a shape test at every position costs more than the word).
const AWS_SECRET_SHAPE = /(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g;
const AWS_CONTEXT = 160;
const SECRET_WORD = /secret/gi;

function scanAwsInProse(text: string, out: Finding[], gate: Gate | undefined): void {
  const word = matcher(gate, SECRET_WORD);
  word.lastIndex = 0;
  let done = 0;
  let w: RegExpExecArray | null;
  while ((w = word.exec(text)) !== null) {
    const to = Math.min(text.length, w.index + AWS_CONTEXT + 40);
    const window = text.slice(Math.max(done, w.index), to);
    const offset = Math.max(done, w.index);
    done = Math.max(done, to - 40);
    AWS_SECRET_SHAPE.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = AWS_SECRET_SHAPE.exec(window)) !== null) {
      const v = m[0];
      const at = offset + m.index;
      // Standing alone in the text too, not only in the window.
      if (/[A-Za-z0-9/+=]/.test(text.charAt(at - 1)) || /[A-Za-z0-9/+=]/.test(text.charAt(at + 40))) continue;
      // Mixed case and a digit: never a hex digest (one case) or a word.
      if (!/[a-z]/.test(v) || !/[A-Z]/.test(v) || !/[0-9]/.test(v)) continue;
      if (isPlaceholder(v) || shannonEntropy(v) < 4) continue;
      out.push({ start: at, end: at + 40, type: "aws_secret_key" });
    }
  }
}

export const contextSecrets: Detector = {
  types: ["bearer_token", "url_password", "aws_secret_key"],
  patterns: [AUTH_RE, SECRET_WORD, SCHEME_END],
  scan(text, out, gate) {
    scanAuth(text, out, gate);
    scanUrlPasswords(text, out, gate);
    scanAwsInProse(text, out, gate);
  },
};
