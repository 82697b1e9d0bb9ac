/**
 * Prefixed tokens written so that the exact patterns miss them: split by spaces, dashes, dots or a
 * line break ("AKIA-ABCD-EFGH-…", a key wrapped across two lines), or reversed. The same prefixes,
 * alphabets, lengths and entropy checks as secrets.ts; only the separators are new. Separators are
 * never in a token's alphabet (or only line breaks are allowed), so the patterns stay unambiguous.
 */
import { byFirstChar } from "./checks.js";
import { matchRule, randomLooking, TOKEN_RULES } from "./secrets.js";
import { matcher, type Gate } from "./gate.js";
import type { Detector, Finding } from "./types.js";

/** Between any two characters of a fixed-length token: one or two of space, tab, dash, dot, or a line break. */
const ANY_SEP = "(?:[ \\t.\\-]{1,2}|\\r?\\n[ \\t]{0,8})";
/** Inside tokens whose alphabet has dashes or that run to a variable length: a line break only. */
const LINE_SEP = "(?:\\r?\\n[ \\t]{0,8})";
/** Inside tokens whose alphabet has dashes but a fixed length: white space only. */
const SPACE_SEP = "(?:[ \\t]{1,2}|\\r?\\n[ \\t]{0,8})";

interface LooseRule {
  readonly type: string;
  readonly prefixes: readonly string[];
  readonly body: string;
  readonly min: number;
  readonly max: number;
  readonly sep: string;
  readonly entropy: number;
}

const LOOSE: readonly LooseRule[] = [
  {
    type: "aws_access_key",
    prefixes: ["AKIA", "ASIA"],
    body: "[A-Z2-7]",
    min: 16,
    max: 16,
    sep: ANY_SEP,
    entropy: 2.5,
  },
  {
    type: "github_token",
    prefixes: ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
    body: "[A-Za-z0-9]",
    min: 36,
    max: 36,
    sep: ANY_SEP,
    entropy: 3.5,
  },
  { type: "openai_key", prefixes: ["sk-"], body: "[A-Za-z0-9]", min: 48, max: 48, sep: ANY_SEP, entropy: 4 },
  {
    type: "google_api_key",
    prefixes: ["AIza"],
    body: "[A-Za-z0-9_-]",
    min: 35,
    max: 35,
    sep: SPACE_SEP,
    entropy: 3.5,
  },
  {
    type: "stripe_key",
    prefixes: ["sk_live_", "sk_test_", "rk_live_", "rk_test_"],
    body: "[A-Za-z0-9]",
    min: 24,
    max: 99,
    sep: LINE_SEP,
    entropy: 3.5,
  },
  {
    type: "openai_key",
    prefixes: ["sk-proj-", "sk-svcacct-", "sk-admin-"],
    body: "[A-Za-z0-9_-]",
    min: 40,
    max: 250,
    sep: LINE_SEP,
    entropy: 4,
  },
  {
    type: "anthropic_key",
    prefixes: ["sk-ant-api03-", "sk-ant-admin01-"],
    body: "[A-Za-z0-9_-]",
    min: 80,
    max: 120,
    sep: LINE_SEP,
    entropy: 4,
  },
];

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&");

interface Compiled {
  readonly rule: LooseRule;
  readonly re: RegExp;
  /** Matches one separator, to strip them from a match. */
  readonly sep: RegExp;
}

const COMPILED: readonly Compiled[] = LOOSE.map((rule) => {
  const prefix = rule.prefixes.map(escape).join("|");
  // A separator only before a fragment of at least FRAGMENT token characters: words after a
  // token ("… in the body", "\nnext line") are never taken as its continuation.
  const sep = `(?:${rule.sep}(?=${rule.body}{${rule.sep === LINE_SEP ? 8 : 4}}))`;
  // The last character is outside the repetition so a trailing separator is never swallowed.
  const body = `(?:${rule.body}${sep}?){${rule.min - 1},${rule.max - 1}}${rule.body}`;
  return {
    rule,
    re: new RegExp(`(?<![A-Za-z0-9_])(?:${prefix})${sep}?${body}(?![A-Za-z0-9_])`, "y"),
    sep: new RegExp(rule.sep, "g"),
  };
});

/** The compiled rules in order, by their prefixes' first characters (no other can match there). */
const BY_FIRST = byFirstChar(COMPILED, (c) => c.rule.prefixes);

// Where a loose token could start (one pass): its prefix is written as it is.
const LOOSE_START = /(?<![A-Za-z0-9_])(?:A(?:KIA|SIA|Iza)|gh[pousr]_|[sr]k[-_])/g;

function scanLoose(text: string, out: Finding[], gate: Gate | undefined): void {
  const starts = matcher(gate, LOOSE_START);
  starts.lastIndex = 0;
  let p: RegExpExecArray | null;
  while ((p = starts.exec(text)) !== null) {
    const at = p.index;
    for (const c of BY_FIRST.get(text.charCodeAt(at)) ?? []) {
      c.re.lastIndex = at;
      const m = c.re.exec(text);
      if (m === null) continue;
      const compact = m[0].replace(c.sep, "");
      // A token with no separator is the exact detector's (secrets.ts): nothing to add here.
      if (compact.length === m[0].length) continue;
      const prefix = c.rule.prefixes.find((x) => compact.startsWith(x));
      if (prefix === undefined || !randomLooking(compact.slice(prefix.length), c.rule.entropy)) continue;
      out.push({ start: at, end: at + m[0].length, type: c.rule.type });
      starts.lastIndex = at + m[0].length;
      break;
    }
  }
}

/** Longest exact token (anthropic keys): how far back a reversed one may start. */
const REVERSED_SPAN = 400;
const reverse = (s: string) => s.split("").reverse().join("");
const REVERSED_LITS = [...new Set(TOKEN_RULES.flatMap((r) => r.lits))].filter((l) => !l.includes("://"));
const REVERSED_START = new RegExp(
  REVERSED_LITS.map((l) => escape(reverse(l)))
    .sort((a, b) => b.length - a.length)
    .join("|"),
  "g",
);

/** A token written backwards: its reversed prefix ends it; the exact rules judge it reversed back. */
function scanReversed(text: string, out: Finding[], gate: Gate | undefined): void {
  const starts = matcher(gate, REVERSED_START);
  starts.lastIndex = 0;
  let p: RegExpExecArray | null;
  const found: Finding[] = [];
  while ((p = starts.exec(text)) !== null) {
    const end = p.index + p[0].length;
    if (/[A-Za-z0-9_-]/.test(text.charAt(end))) continue;
    const from = Math.max(0, end - REVERSED_SPAN);
    const back = reverse(text.slice(from, end));
    found.length = 0;
    const len = matchRule(back, 0, found) + 1;
    if (found.length === 0) continue;
    out.push({ start: end - len, end, type: (found[0] as Finding).type });
  }
}

export const disguisedTokens: Detector = {
  types: [...new Set(LOOSE.map((r) => r.type))],
  patterns: [LOOSE_START, REVERSED_START],
  scan(text, out, gate) {
    scanLoose(text, out, gate);
    scanReversed(text, out, gate);
  },
};
