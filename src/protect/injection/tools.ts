import { excerpt, matches, type Cue } from "./types.js";

/**
 * Calls to action naming one of the session's own tools ("call files__write_file", "use the
 * send_email tool", "调用 write_file"). Alone a mention scores below the threshold (a server's
 * README may say "use read_file to …"); urgency before it or a secret target after it lifts it.
 */
const VERB =
  /(?:\b(?:call|use|run|invoke|execute|trigger|using|calling|invoking|llama|usa|utiliza|ejecuta|appelle[zr]?|utilise[zr]?|rufe|verwende|benutze|chame|use)|调用|使用|执行|运行|呼び出|使って|실행)\s*(?:the\s+|a\s+|your\s+|das\s+|la\s+|el\s+|le\s+)?(?:tool\s+|function\s+|herramienta\s+|outil\s+|工具\s*)?[`"'“「]?([A-Za-z_][A-Za-z0-9_.:-]{1,127})/gi;
const URGENT =
  /\b(?:must|immediately|required|mandatory|urgent|asap|right\s+away|make\s+sure|without\s+(?:asking|telling|confirm)|before\s+(?:you\s+)?(?:respond|answer|reply|summari[sz]|continu|proceed|do(?:ing)?\s+anything|anything\s+else|return))|antes\s+de\s+responder|avant\s+de\s+répondre|bevor\s+du\s+antwortest|obligatori[oa]|obligatoire|必须|立即|立刻|马上|务必|请先|之前先/i;
const TARGET =
  /~\/|\.ssh|id_rsa|\.env\b|passwd|shadow|credentials?|secret|token|api[\s_-]?key|password|authorized_keys|rm\s+-rf|curl\s|wget\s|base64|https?:\/\/|@[a-z0-9-]+\.[a-z]{2,}|credencial|contraseña|identifiants|mot\s+de\s+passe|passwort|zugangsdaten|senha|密钥|密码|令牌/i;
const TOOL_WORD = /^\s*[`"'”」]?\s*(?:tool|function|工具)/i;

/** The last list asked about and its set: one session's calls ask about the same names each time. */
let lastNames: readonly string[] = [];
let lastSet: ReadonlySet<string> = new Set();

/** Lower-cased names the session can see, with `server__tool` also known by its bare name. */
export function toolNameSet(names: readonly string[]): ReadonlySet<string> {
  if (sameNames(names, lastNames)) return lastSet;
  const set = new Set<string>();
  for (const n of names) {
    if (typeof n !== "string" || n.length === 0 || n.length > 128) continue;
    const lower = n.toLowerCase();
    set.add(lower);
    const bare = lower.lastIndexOf("__");
    if (bare >= 0 && bare + 2 < lower.length) set.add(lower.slice(bare + 2));
  }
  // A copy: the caller's array may change after this.
  lastNames = [...names];
  lastSet = set;
  return set;
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function toolCues(text: string, base: number, tools: ReadonlySet<string>): Cue[] {
  if (tools.size === 0) return [];
  const cues: Cue[] = [];
  for (const m of matches(VERB, text, 64)) {
    const name = m[1]!.replace(/[.:]+$/, "").toLowerCase();
    if (!tools.has(name)) continue;
    const end = m.index + m[0].length;
    const before = text.slice(Math.max(0, m.index - 80), m.index);
    const after = text.slice(end, end + 160);
    // A plain word ("search", "fetch") is only a tool when called one; identifiers always are.
    const identifier = /[_-]/.test(name) || TOOL_WORD.test(after);
    const urgent = URGENT.test(before) || URGENT.test(after);
    const target = TARGET.test(after);
    const weight = identifier ? (urgent || target ? 1 : 0.7) : urgent && target ? 0.7 : 0.4;
    cues.push({
      kind: "tool_call_to_action",
      rule: `tool.${identifier ? "named" : "word"}${weight >= 1 ? ".urgent" : ""}`,
      weight,
      detail: `names tool ${excerpt(name, 40)}${urgent ? ", urgent" : ""}${target ? ", sensitive target" : ""}`,
      offset: base + m.index,
    });
    if (cues.length >= 8) break;
  }
  return cues;
}
