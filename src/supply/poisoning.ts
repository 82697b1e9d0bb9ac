/**
 * The poisoning scan (`supply_chain.poisoning`): every string of a tool, prompt or resource-template
 * definition, keys included (parameter names), checked for what a definition has no business
 * carrying: hidden Unicode, pseudo-tags and HTML comments, instructions to read credentials or
 * other tools' data, secrecy towards the user, mentions of another server's tools (shadowing),
 * long whitespace runs that push text off screen, and the injection detector's override phrases.
 * A pure function of its input, so `mcp-warden scan` reuses it.
 */
import { explainInjection, THRESHOLD } from "../protect/injection/index.js";
import {
  BRACKET_TAG,
  CREDENTIAL_VERB_WORLD,
  foldedReading,
  HIDDEN_STEP_WORLD,
  OTHER_TOOLS_HARVEST,
  SECRECY_WORLD,
} from "./poisoning-world.js";

/** `instructions`: a server's `initialize` instructions, pinned and scanned like a definition. */
export type DefinitionKind = "tool" | "prompt" | "resourceTemplate" | "instructions";

export type FindingReason =
  | "hidden_unicode"
  | "pseudo_tag"
  | "html_comment"
  | "credential_access"
  | "other_tools_data"
  | "secrecy"
  | "shadowing"
  | "whitespace_run"
  | "injection"
  | "consent_claim"
  | "hidden_step"
  | "other_tools_instruction";

export interface Finding {
  /** Where: a dotted path into the definition, e.g. `inputSchema.properties.path.description`. */
  readonly field: string;
  readonly reason: FindingReason;
  /** At most ~80 characters around the match, control and invisible characters escaped. */
  readonly excerpt: string;
}

export interface ScanContext {
  /** The server the definition comes from. */
  readonly server: string;
  /** Every configured server's name (the definition's own is ignored). */
  readonly servers?: readonly string[];
  /** Tool names other servers list: naming one inside a definition is shadowing. */
  readonly otherTools?: readonly string[];
}

const MAX_DEPTH = 32;
const MAX_STRINGS = 5_000;
/** Each string is scanned on its first 16 Ki characters; a definition that long is itself suspect. */
const MAX_SCAN_CHARS = 16 * 1024;
const MAX_FINDINGS = 32;

// Tag characters (except a subdivision flag's), zero-width, bidi controls and the invisible
// separators; a ZWJ between two non-ASCII characters is an emoji sequence and passes.
const FLAG_TAGS = /\u{1F3F4}[\u{E0030}-\u{E007A}]{1,8}\u{E007F}/gu;
const HIDDEN =
  /[\u{E0000}-\u{E007F}\u200B\u200C\u200E\u200F\u2060-\u2064\uFEFF\u202A-\u202E\u2066-\u2069\u00AD]/u;
// eslint-disable-next-line no-control-regex -- a ZWJ next to any ASCII character, controls included
const ZWJ_ALONE = /(?:^|[\x00-\x7f])\u200D|\u200D(?:[\x00-\x7f]|$)/u;

const PSEUDO_TAG =
  /<\s*\/?\s*(?:important|system|sys|instructions?|secret|hidden|admin|assistant|critical|priority|override|prompt|context|directive|mandatory)\b[^<>]{0,40}>|<<\s*SYS\s*>>|\[\/?INST\]|<\|im_(?:start|end)\|>/i;
const HTML_COMMENT = /<!--/;

const CREDENTIAL_PATH =
  /~\/\.ssh|\.ssh\/|\bid[_ ](?:rsa|dsa|ecdsa|ed25519)\b|\bauthorized_keys\b|\.aws\/(?:credentials|config)|\baws_secret_access_key\b|\/etc\/(?:passwd|shadow|sudoers)\b|(?:^|[\s'"`(~/])\.env\b|\.netrc\b|\.npmrc\b|\.pgpass\b|\.git-credentials\b|\.docker\/config\.json|\.kube\/config|\bmcp\.json\b|claude_desktop_config\.json|\.bash_history\b|\bprivate[ _-]?keys?\b|\bkeychain\b/i;
// A credential path is benign in a description that merely uses it ("connects with the keys in
// ~/.ssh"); it is an attack when the text tells the model to read, pass or send it.
const CREDENTIAL_VERB =
  /\b(?:read|cat|open|load|send|pass|include|upload|attach|copy|provide|forward|post|paste|extract|embed|append|put|insert|contents?|output)\b|读取|发送|附上|上传/i;
const OTHER_TOOLS_DATA =
  /\b(?:contents?|outputs?|results?|data|responses?|arguments?)\s+(?:of|from)\s+(?:all\s+|any\s+|every\s+)?(?:the\s+)?other\s+tools?\b|\b(?:entire|full|whole)\s+(?:conversation|chat)\s+history\b|\b(?:previous|earlier|prior)\s+tool\s+(?:results?|outputs?|calls?)\b|(?:其他|其它)工具的(?:数据|结果|输出)|(?:完整|全部)(?:的)?(?:对话|聊天)(?:历史|记录)/i;
const SECRECY =
  /\b(?:do\s+not|don't|dont|never|must\s+not|without)\s+(?:tell(?:ing)?|inform(?:ing)?|notify(?:ing)?|alert(?:ing)?|warn(?:ing)?|let(?:ting)?)\s+(?:the\s+|this\s+)?(?:user|human|operator|person|them)\b|\b(?:do\s+not|don't|dont|never)\s+(?:mention|reveal|disclose)\s+(?:this|that|it|these|any\s+of\s+this|the\s+(?:above|following|instructions?|step|note))\b|\bkeep\s+(?:this|it|these\s+instructions)\s+(?:a\s+)?secret\b|\b(?:confidential|secret|hidden)\s+from\s+(?:the\s+)?(?:user|person|human|operator)|\bfrom\s+the\s+(?:person|user|human)\s+(?:you\s+are|you're|it\s+is)\s+(?:helping|assisting|serving)|\b(?:the\s+)?user\s+(?:must|should)\s+not\s+(?:know|see|be\s+told|find\s+out)\b|\bwithout\s+(?:the\s+)?user(?:'s)?\s+(?:knowledge|knowing|noticing)\b|(?:不要|别|切勿|勿|不得|无需|不必)(?:告诉|告知|通知|提醒|让)(?:用户|使用者)|(?:不要|别|切勿|勿|不得)(?:提及|提到|透露|泄露|说出)|对用户保密|瞒着用户|用户不(?:会|需要|应该)知道/i;
/** A claim that the user already agreed, so the model need not ask ("the user has pre-approved all deletions"). */
const CONSENT_CLAIM =
  /\b(?:the\s+)?(?:user|human|operator|owner|admin(?:istrator)?)\s+(?:has\s+|have\s+|had\s+)?(?:already\s+)?(?:pre-?approved|approved|authori[sz]ed|consented|agreed|granted\s+(?:permission|consent))|\bpre-?(?:approved|authori[sz]ed|consented)\b|\b(?:no\s+need|(?:do\s+not|don't|never)\s+(?:need\s+to\s+)?)\s*(?:to\s+)?(?:ask|confirm|check)\s+(?:with\s+)?(?:the\s+)?(?:user|human|for\s+(?:confirmation|permission|approval))|\bgranted\s+(?:authori[sz]ation|permission|consent)\s+for\s+(?:all|every|any)\b|\bwithout\s+(?:checking|verifying|asking|confirming|confirmation|(?:the\s+)?user'?s?\s+(?:approval|permission|consent))|\b(?:permission|consent|approval)\s+(?:has\s+been|was|is)\s+(?:already\s+)?(?:granted|given|implied)|(?:用户|使用者)已(?:经)?(?:同意|批准|授权)|无需(?:确认|询问|征得)|el\s+usuario\s+ya\s+(?:ha\s+)?(?:aprobado|autorizado|aceptado)|sin\s+(?:pedir|solicitar)\s+confirmaci[oó]n|l'utilisateur\s+a\s+d[ée]j[àa]\s+(?:approuv[ée]|autoris[ée]|accept[ée])|der\s+(?:benutzer|nutzer)\s+hat\s+bereits\s+(?:zugestimmt|genehmigt)|o\s+usu[aá]rio\s+j[aá]\s+(?:aprovou|autorizou)/i;
/** A step the model is to take around the tool's own work: before or after it, reading or sending something sensitive. */
// A step tied to the tool's use ("before calling…, read ~/.ssh"): the gerund is required, since
// "first" or "also" followed by "read … file" is how ordinary file tools describe themselves
// (server-filesystem's read_text_file did).
const HIDDEN_STEP =
  /\b(?:before|prior\s+to|after)\s+(?:using|calling|running|invoking|responding|answering|replying|returning|completing|executing)\b[^.\n]{0,80}?\b(?:read|send|call|include|pass|upload|post|fetch|collect|copy|forward|attach|append|list|cat)\b[^.\n]{0,60}?\b(?:files?|keys?|tokens?|credentials?|passwords?|secrets?|history|conversation|env(?:ironment)?|ssh|configs?|cookies|contacts|emails?)\b|\b(?:as\s+a\s+)?(?:hidden|silent|secret|invisible|background|internal)\s+(?:step|action|task|call|instruction)s?\b[^.\n]{0,40}?(?:not\s+(?:shown|visible|displayed|mentioned)|send|read|upload|forward|also)|\bnot\s+(?:shown|visible|displayed|surfaced)\s+to\s+the\s+(?:user|person|human)|\b(?:silently|quietly|secretly|covertly)\s+(?:call|send|read|forward|upload|post|include|run|execute)\b|(?:在|先)(?:调用|使用)[^。\n]{0,20}(?:之前|前)[^。\n]{0,30}(?:读取|发送|上传)|antes\s+de\s+(?:usar|llamar)[^.\n]{0,60}(?:lee|env[ií]a|sube)/i;
/** Instructions about how other tools behave: redirecting their recipients, arguments or results. */
const OTHER_TOOLS_INSTRUCTION =
  /\bwhen(?:ever)?\s+(?:the\s+|any\s+)?[\w.-]+\s+(?:tool|function)\s+(?:is|gets)\s+(?:used|called|invoked|run)\b[^.\n]{0,80}?\b(?:always|must|should|instead|also|change|replace|add|set|redirect|send|bcc|cc)\b|\bwhen(?:ever)?\s+(?:the\s+user\s+|you\s+)?(?:use|call|invoke|run)s?\s+(?:the\s+|any\s+)?(?:[\w.-]+\s+)?(?:tool|function)\b[^.\n]{0,80}?\b(?:always|must|should|instead|also|change|replace|add|set|redirect|send|bcc|cc)\b|\binstead\s+of\s+(?:using|calling)\s+(?:the\s+)?[\w.-]+(?:\s+tool)?\b|\b(?:all|any|every)\s+(?:e-?mails?|messages?|payments?|transfers?|requests?)\s+(?:sent|made|must\s+be\s+sent|should\s+be\s+sent|must\s+go)\b[^.\n]{0,60}?\bto\b|\b(?:change|modify|redirect|override|replace)\s+(?:the\s+)?(?:behaviou?r|recipient|destination|arguments?|parameters?|results?|outputs?)\s+of\s+(?:the\s+|any\s+|all\s+)?(?:other\s+)?[\w.-]+(?:\s+tools?)?|\bthis\s+tool\s+(?:replaces|overrides|supersedes)\s+(?:the\s+)?[\w.-]+/i;
const WHITESPACE_RUN = /[ \t\u00A0\u3000]{64,}|(?:[ \t]*\r?\n){12,}/;

interface Scanner {
  readonly reason: FindingReason;
  /** The offset of a finding in `text`, or -1. */
  find(text: string): number;
}

const at = (re: RegExp) => (text: string) => {
  const m = re.exec(text);
  return m ? m.index : -1;
};

/** The first offset any of `res` matches at, or -1. */
const atAny =
  (...res: RegExp[]) =>
  (text: string) => {
    for (const re of res) {
      const i = at(re)(text);
      if (i >= 0) return i;
    }
    return -1;
  };

const STATIC_SCANNERS: readonly Scanner[] = [
  {
    reason: "hidden_unicode",
    find: (text) => {
      const plain = text.replace(FLAG_TAGS, "");
      const i = plain.search(HIDDEN);
      return i >= 0 ? i : plain.search(ZWJ_ALONE);
    },
  },
  { reason: "pseudo_tag", find: atAny(PSEUDO_TAG, BRACKET_TAG) },
  { reason: "html_comment", find: at(HTML_COMMENT) },
  {
    reason: "credential_access",
    find: (text) => {
      const m = CREDENTIAL_PATH.exec(text);
      if (!m) return -1;
      const around = text.slice(Math.max(0, m.index - 120), m.index + m[0].length + 120);
      return CREDENTIAL_VERB.test(around) || CREDENTIAL_VERB_WORLD.test(around) ? m.index : -1;
    },
  },
  { reason: "other_tools_data", find: at(OTHER_TOOLS_DATA) },
  { reason: "secrecy", find: atAny(SECRECY, SECRECY_WORLD) },
  { reason: "whitespace_run", find: at(WHITESPACE_RUN) },
  { reason: "consent_claim", find: at(CONSENT_CLAIM) },
  { reason: "hidden_step", find: atAny(HIDDEN_STEP, HIDDEN_STEP_WORLD) },
  { reason: "other_tools_instruction", find: atAny(OTHER_TOOLS_INSTRUCTION, OTHER_TOOLS_HARVEST) },
  {
    reason: "injection",
    find: (text) => {
      const { score, cues } = explainInjection(text, { toolNames: [] });
      return score >= THRESHOLD ? (cues[0]?.offset ?? 0) : -1;
    },
  },
];

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Another server's tool names count only when identifier-like: "fetch" is a word, "send_email" a name. */
function identifierLike(name: string): boolean {
  return name.length >= 4 && name.length <= 128 && /[_-]|[a-z][A-Z]/.test(name) && /^[\w.-]+$/.test(name);
}

function shadowingScanner(context: ScanContext): Scanner | undefined {
  const others = (context.servers ?? []).filter((s) => s !== context.server && s.length > 0);
  const alternatives = others.map((s) => `${escapeRegExp(s)}__[\\w.-]+`);
  const own = new Set<string>();
  for (const t of context.otherTools ?? []) if (identifierLike(t)) own.add(escapeRegExp(t));
  alternatives.push(...[...own].slice(0, 2_000));
  if (alternatives.length === 0) return undefined;
  const re = new RegExp(`(?<![\\w.-])(?:${alternatives.join("|")})(?![\\w-])`, "i");
  return { reason: "shadowing", find: at(re) };
}

function visible(text: string): string {
  return text.replace(
    // eslint-disable-next-line no-control-regex -- control characters are what is being escaped
    /[\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]|[\u{E0000}-\u{E007F}]/gu,
    (c) => `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`,
  );
}

function excerptAt(text: string, offset: number): string {
  const from = Math.max(0, offset - 20);
  const cut = visible(text.slice(from, from + 60).replace(/[ \t\r\n]+/g, " "));
  return `${from > 0 ? "…" : ""}${cut.slice(0, 80)}${from + 60 < text.length ? "…" : ""}`;
}

/**
 * Every finding in one definition (a listed tool, prompt or resource template, as its server sent
 * it). Never throws; bounded in depth, strings and length. At most one finding per string and reason.
 */
export function scanDefinition(kind: DefinitionKind, definition: unknown, context: ScanContext): Finding[] {
  void kind; // Every kind is scanned alike: a prompt's argument description is read by the model too.
  const scanners = [...STATIC_SCANNERS];
  const shadowing = shadowingScanner(context);
  if (shadowing) scanners.push(shadowing);
  const findings: Finding[] = [];
  let strings = 0;
  // A name (the item's own, a parameter's) may equal another server's tool name without shadowing it.
  const scan = (text: string, field: string, isName = false) => {
    if (++strings > MAX_STRINGS || findings.length >= MAX_FINDINGS) return;
    let scanned = text.length > MAX_SCAN_CHARS ? text.slice(0, MAX_SCAN_CHARS) : text;
    // Names spell words with underscores (`content_of_id_rsa`): read them as words.
    if (isName) scanned = scanned.replace(/_/g, " ");
    // Look-alike letters ("rеad thе .еnv" with Cyrillic е) are read folded, as the injection detector does.
    const folded = isName ? undefined : foldedReading(scanned);
    for (const s of scanners) {
      if (isName && (s === shadowing || s.reason === "injection")) continue;
      let where = scanned;
      let i = s.find(scanned);
      if (i < 0 && folded !== undefined && s.reason !== "hidden_unicode") {
        where = folded;
        i = s.find(folded);
      }
      if (i >= 0) findings.push({ field: field || "(root)", reason: s.reason, excerpt: excerptAt(where, i) });
      if (findings.length >= MAX_FINDINGS) return;
    }
  };
  const walk = (value: unknown, path: string, depth: number) => {
    if (depth > MAX_DEPTH || strings > MAX_STRINGS) return;
    if (typeof value === "string") scan(value, path);
    else if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${path}[${i}]`, depth + 1));
    else if (typeof value === "object" && value !== null) {
      for (const [key, v] of Object.entries(value)) {
        const child = path ? `${path}.${key}` : key;
        scan(key, child, true);
        if (depth === 0 && key === "name" && typeof v === "string") scan(v, child, true);
        else walk(v, child, depth + 1);
      }
    }
  };
  walk(definition, "", 0);
  return findings;
}
