import { r, type PhraseRule } from "./rule.js";
import { INTENT_RULES, TEMPLATE_RULES } from "./phrases-intent.js";
import { WORLD_RULES } from "./phrases-world.js";

/**
 * Phrase and tag rules. Weights are tuned so that 1.0 (the threshold, see index.ts) is reached
 * by one unambiguous attack phrase, or by two weaker cues close together. Every pattern uses
 * bounded repetition only, so a match attempt costs a constant number of steps per position.
 */

const AI = String.raw`(?:ai|llm|assistant|agent|language\s+model|chatbot|model|claude|chatgpt|gpt|copilot|gemini)s?`;
const PRIOR = String.raw`(?:previous|prior|above|earlier|preceding|former|original|initial|old|existing|system|developer|safety)`;
const ORDERS = String.raw`(?:instructions?|prompts?|rules|directives?|directions|guidelines|guidance|commands|context|constraints|restrictions|programming|orders)`;
const SECRETS = String.raw`(?:api[\s_-]?keys?|credentials|passwords?|secrets?|access\s+tokens?|tokens|private\s+keys?|ssh\s+keys?|\.env\b|id_rsa|environment\s+variables|chat\s+history|conversation(?:\s+history)?|previous\s+messages|system\s+prompt|cookies)`;

export const BASE_RULES: readonly PhraseRule[] = [
  // English overrides
  r(
    "en.ignore_prior",
    "override",
    1,
    String.raw`\b(?:ignore|disregard|forget|override|bypass|neglect|abandon)\s+(?:all\s+|any\s+|every\s+)?(?:of\s+)?(?:the\s+|your\s+|my\s+|these\s+|those\s+)?${PRIOR}\s+(?:[a-z]+\s+){0,2}?${ORDERS}\b`,
  ),
  r(
    "en.ignore_above_then",
    "override",
    1,
    String.raw`\b(?:ignore|disregard|forget)\s+(?:all\s+(?:of\s+)?|everything\s+)?(?:the\s+)?(?:text\s+|content\s+|instructions\s+)?(?:above|before\s+this|so\s+far)\s*[.,;:!-]?\s*(?:and|instead|now|then|from\s+now)\b`,
  ),
  r(
    "en.ignore_above",
    "override",
    0.7,
    String.raw`\b(?:ignore|disregard|forget)\s+(?:all\s+(?:of\s+)?|everything\s+)?(?:the\s+)?(?:text\s+|content\s+)?above\b(?!\s+(?:warning|error|message|output|line|step|note|example|code|command|log|section|link))`,
  ),
  r(
    "en.ignore_user",
    "override",
    0.7,
    String.raw`\b(?:ignore|disregard)\s+(?:the|your)\s+user(?:'s)?(?:\s+(?:question|request|instructions?|message|prompt|input))?\b`,
  ),
  r(
    "en.forget_everything",
    "override",
    1,
    String.raw`\bforget\s+(?:everything|all)\s+(?:you(?:'ve|\s+have|\s+were|\s+know)?|that|above|previous|prior|before)`,
  ),
  r(
    "en.do_not_follow",
    "override",
    1,
    String.raw`\b(?:do\s+not|don't|stop)\s+(?:follow(?:ing)?|obey(?:ing)?)\s+(?:your|the|any)\s+(?:previous\s+|prior\s+|original\s+|initial\s+|system\s+)?(?:instructions|rules|guidelines|prompt)`,
  ),
  r(
    "en.new_instructions",
    "override",
    0.6,
    String.raw`\b(?:new|updated|revised|real|actual|true|additional|override|secret|hidden|urgent)\s+(?:system\s+)?(?:instructions?|directives?|orders|task)\s*[:：]`,
  ),
  r(
    "en.real_task",
    "override",
    0.7,
    String.raw`\b(?:your|the)\s+(?:real|actual|true|new|only)\s+(?:task|goal|objective|job|instructions?|purpose|mission)\s+(?:is|are|now)\b`,
  ),
  r(
    "en.reveal_prompt",
    "override",
    1,
    String.raw`\b(?:reveal|print|show|output|repeat|leak|display|dump|tell\s+me|give\s+me|share|send|disclose|write\s+out)\s+(?:me\s+)?(?:your|the)\s+(?:full\s+|entire\s+|complete\s+|original\s+|hidden\s+|initial\s+|exact\s+)?(?:system\s+prompt|system\s+message|initial\s+instructions|hidden\s+instructions|instructions\s+above|original\s+instructions)`,
  ),
  r("en.system_prompt", "role", 0.3, String.raw`\bsystem\s+prompt\b`),
  r(
    "en.authority_notice",
    "override",
    0.5,
    String.raw`\b(?:system|admin(?:istrator)?|developer|security)\s+(?:override|notice|alert|message|instruction|update)s?\s*[:：]`,
  ),
  r(
    "en.message_from",
    "override",
    0.8,
    String.raw`\bthis\s+is\s+(?:an?\s+)?(?:urgent\s+|important\s+|official\s+|priority\s+)?(?:message|instruction|directive|request|notice|order)\s+from\s+(?:the\s+)?(?:system|administrator|admin|developer|openai|anthropic|your\s+(?:creator|developer|operator|owner|admin))`,
  ),
  r(
    "en.address_ai",
    "override",
    0.6,
    String.raw`\b(?:note|message|attention|instructions?|important)\s*(?:to|for)\s+(?:the\s+|any\s+|all\s+)?${AI}\b|\bif\s+you\s+are\s+(?:an?\s+)?(?:ai|llm|assistant|agent|(?:large\s+)?language\s+model|chatbot|automated)|\b(?:ai|llm)\s+(?:assistants?|agents?|models?)\s+(?:reading|processing|summari[sz]ing|parsing|seeing)\s+this`,
  ),
  r(
    "en.stealth",
    "override",
    0.7,
    String.raw`\b(?:do\s+not|don't|never)\s+(?:tell|inform|mention|reveal|show|alert|notify|warn)\s+(?:this\s+|it\s+|anything\s+)?(?:to\s+)?(?:the\s+)?(?:user|human|operator)|\bwithout\s+(?:telling|informing|notifying|alerting|the\s+user(?:'s)?\s+(?:knowledge|knowing|noticing))|\b(?:the\s+)?user\s+(?:must|should)\s+(?:not|never)\s+(?:know|see|be\s+told|notice|find\s+out)`,
  ),
  r(
    "en.exfil_request",
    "override",
    0.6,
    String.raw`\b(?:send|post|upload|forward|email|transmit|exfiltrate|leak|include|append)\s+(?:[\w.'-]+\s+){0,4}?${SECRETS}`,
  ),
  r(
    "en.sensitive_file",
    "override",
    0.4,
    String.raw`(?:~/\.ssh|\bid_rsa\b|\bid_ed25519\b|authorized_keys|/etc/passwd|/etc/shadow|mcp\.json|\.aws/credentials|\.npmrc|\.netrc|\.git-credentials|\.kube/config)`,
  ),
  // English roles
  r(
    "en.you_are_now",
    "role",
    0.5,
    String.raw`\byou\s+are\s+(?:now|no\s+longer)\s+(?!(?:logged|signed|connected|subscribed|registered|enrolled|ready|able|free\s+to|on\b|in\s+the|at\b|using|viewing|running|being|eligible|all\s+set|set\s+up|up\s+to\s+date|a\s+(?:member|subscriber|participant|collaborator|contributor|owner|maintainer|admin\s+of)))`,
  ),
  r(
    "en.from_now_on",
    "role",
    0.5,
    String.raw`\b(?:from\s+(?:now|here)\s+on|henceforth|for\s+the\s+rest\s+of\s+this\s+(?:conversation|chat|session))\s*,?\s+(?:you|your|act|respond|answer|always|only|never|ignore)`,
  ),
  r(
    "en.act_as",
    "role",
    0.6,
    String.raw`\b(?:act|behave|respond)\s+as\s+(?:if\s+you\s+(?:are|were)\s+)?(?:an?\s+)?(?:unrestricted|unfiltered|jailbroken|evil|uncensored|different\s+ai)|\bpretend\s+(?:to\s+be|you\s+are|that\s+you)\b|\byour\s+new\s+(?:role|persona|identity|name)\s+is\b`,
  ),
  r("en.mode", "role", 0.4, String.raw`\b(?:developer|god|jailbreak|unrestricted|dan)\s+mode\b`),
  // Chinese
  r(
    "zh.ignore_prior",
    "override",
    1,
    String.raw`(?:忽略|无视|忽视|不要理会|不要理睬|别管|忘记|忘掉|丢弃|抛弃|跳过)掉?\s*你?(?:之前|以前|先前|此前|上面|上述|以上|前面|原来|原有|原始|系统)[^，。,.!！？\n]{0,8}?(?:指令|指示|命令|说明|规则|提示词?|设定|要求|内容|约束|限制)`,
  ),
  r(
    "zh.ignore_all",
    "override",
    1,
    String.raw`(?:忽略|无视|忘记|忘掉)你?(?:以上|上面|之前|前面)(?:的)?(?:所有|全部|一切)|(?:忽略|无视|忘记|忘掉)你?(?:收到的)?(?:所有|全部|一切)(?:的)?(?:之前的|先前的|原有的)?(?:指令|指示|提示词|设定)`,
  ),
  r(
    "zh.new_instructions",
    "override",
    0.6,
    String.raw`新的?(?:指令|指示|任务|命令)\s*[:：]|新的(?:指令|指示)`,
  ),
  r(
    "zh.reveal_prompt",
    "override",
    1,
    String.raw`(?:输出|显示|打印|泄露|告诉我|透露|重复|发送)(?:你的|一下|出)?(?:完整的?)?(?:系统提示词?|初始指令|原始指令|隐藏指令)`,
  ),
  r("zh.system_prompt", "role", 0.3, String.raw`系统提示词?`),
  r(
    "zh.stealth",
    "override",
    0.7,
    String.raw`不要(?:告诉|通知|提醒|让|向)(?:用户|使用者)|(?:用户|使用者)(?:不会|不应|不能|不必)(?:知道|发现|看到)|(?:悄悄|偷偷|秘密)地?(?:调用|执行|发送|上传|读取)`,
  ),
  r(
    "zh.exfil_request",
    "override",
    0.6,
    String.raw`(?:发送|上传|转发|发到|发给|泄露|附加)[^\n]{0,12}(?:密钥|密码|令牌|凭据|凭证|私钥|环境变量|聊天记录|对话记录|API\s*Key)|(?:密钥|密码|令牌|凭据|凭证|私钥|环境变量|聊天记录|对话记录|API\s*Key)[^\n]{0,12}(?:发送|上传|转发|发到|发给)`,
  ),
  r(
    "zh.address_ai",
    "override",
    0.6,
    String.raw`如果你是(?:一个)?(?:AI|人工智能|大?语言模型|助手|智能体)|(?:AI|人工智能)助手(?:请|注意|必须)|致(?:AI|人工智能|大模型)`,
  ),
  r(
    "zh.role",
    "role",
    0.5,
    String.raw`你现在(?:是|扮演|作为|成为)|从现在(?:开始|起)\s*[,，]?\s*你|你的(?:新)?(?:身份|角色|任务)(?:是|变为|改为)|假装(?:你是|成)`,
  ),
  // Other languages: the common override and role phrasings
  r(
    "es.ignore_prior",
    "override",
    1,
    String.raw`\b(?:ignora|ignore|olvida|olvide|descarta|omite)\s+(?:todas\s+|todo\s+)?(?:las\s+|los\s+|tus\s+|sus\s+)?(?:instrucciones|indicaciones|reglas|órdenes)\s+(?:anteriores|previas)`,
  ),
  r(
    "fr.ignore_prior",
    "override",
    1,
    String.raw`\b(?:ignore[zr]?|oublie[zr]?)\s+(?:toutes\s+|tous\s+)?(?:les\s+|tes\s+|vos\s+)?(?:instructions|consignes|règles|directives)\s+(?:précédentes|antérieures|ci-dessus)`,
  ),
  r(
    "de.ignore_prior",
    "override",
    1,
    String.raw`\b(?:ignoriere|ignorieren\s+sie|vergiss|vergessen\s+sie)\s+(?:alle\s+)?(?:deine\s+|ihre\s+|die\s+)?(?:vorherigen|bisherigen|obigen|früheren|vorigen)\s+(?:anweisungen|instruktionen|befehle|regeln)`,
  ),
  r(
    "pt.ignore_prior",
    "override",
    1,
    String.raw`\b(?:ignore|ignora|esqueça|esqueca)\s+(?:todas\s+)?(?:as\s+)?(?:instruções|instrucoes|regras)\s+(?:anteriores|prévias)`,
  ),
  r(
    "ja.ignore_prior",
    "override",
    1,
    String.raw`(?:以前|これまで|上記|前|先|今まで)の(?:すべての|全ての)?(?:指示|命令|指令|ルール|プロンプト)(?:を|は)(?:すべて|全て)?(?:無視|忘れ)`,
  ),
  r(
    "ru.ignore_prior",
    "override",
    1,
    String.raw`(?:игнорируй|игнорируйте|забудь|забудьте|проигнорируй)\s+(?:все\s+)?(?:предыдущие|прежние|вышеуказанные|прошлые)\s+(?:инструкции|указания|правила|команды)`,
  ),
  r(
    "ko.ignore_prior",
    "override",
    1,
    String.raw`이전(?:의)?\s*(?:모든\s*)?(?:지시|명령|지침)(?:사항)?(?:을|를|은|는)?\s*(?:모두\s*)?무시`,
  ),
  r(
    "xx.reveal_prompt",
    "override",
    1,
    String.raw`\b(?:revela|muestra|imprime|révèle|révélez|affiche|affichez|zeige|gib|mostre|revele)\s+(?:tu|el|ton|le|votre|dein|den|das|seu|o)\s+(?:system\s*prompt|prompt\s+(?:del\s+)?sistema|prompt\s+système|systemprompt|prompt\s+do\s+sistema)|システムプロンプトを(?:出力|表示|教え)|(?:выведи|покажи)\s+(?:свой\s+)?системн(?:ый|ые)\s+(?:промпт|инструкции)|시스템\s*프롬프트를\s*(?:출력|보여|알려)`,
  ),
  r(
    "xx.stealth",
    "override",
    0.7,
    String.raw`\bno\s+(?:se\s+lo\s+|le\s+)?(?:digas|diga|informes|menciones)\s+(?:nada\s+)?al\s+usuario|\bne\s+(?:le\s+|lui\s+)?(?:dis|dites)\s+(?:rien\s+)?(?:pas\s+)?à\s+l'utilisateur|\bsag(?:e|en\s+sie)?\s+(?:es\s+)?dem\s+(?:benutzer|nutzer)\s+nicht|\bnão\s+(?:conte|diga)\s+(?:nada\s+)?ao\s+usuário|ユーザーに(?:は)?(?:言わ|伝え|知らせ)ないで|не\s+говори\s+пользователю|사용자에게\s*(?:알리지|말하지)\s*마`,
  ),
  r(
    "xx.new_instructions",
    "override",
    0.6,
    String.raw`\b(?:nuevas\s+instrucciones|nouvelles\s+instructions|neue\s+anweisungen|novas\s+instruções)\s*[:：]|新しい指示\s*[:：]|новые\s+инструкции\s*[:：]`,
  ),
  r(
    "xx.role",
    "role",
    0.5,
    String.raw`\bahora\s+eres\b|\b(?:tu\s+es|vous\s+êtes)\s+maintenant\b|\bdu\s+bist\s+(?:jetzt|nun|ab\s+sofort)\b|\b(?:agora\s+você\s+é|você\s+agora\s+é)(?=\s|$)|あなたは(?:今|これから)|теперь\s+ты\s`,
  ),
  // Fake chat-template and tool boundaries
  r(
    "tag.special_token",
    "fake_tag",
    1,
    String.raw`<\|(?:im_start|im_end|im_sep|system|user|assistant|endoftext|begin_of_text|start_header_id|end_header_id|eot_id)\|>`,
    "gi",
    0.5,
  ),
  r("tag.inst", "fake_tag", 0.8, String.raw`\[/?INST\]|<<\/?SYS>>`, "g", 0.4),
  r(
    "tag.tool_boundary",
    "fake_tag",
    0.8,
    String.raw`</?(?:tool_result|tool_response|tool_output|function_results?|function_calls?|function_response|system_prompt|system-prompt|system-reminder|system_message|user_query)\b[^<>\n]{0,80}>`,
    "gi",
    0.3,
  ),
  r(
    "tag.system",
    "fake_tag",
    0.6,
    String.raw`</?(?:system|important|admin|instructions?|developer|assistant|human|critical|user_instructions)(?:\s[^<>\n]{0,80})?>`,
    "gi",
    0.2,
  ),
  r(
    "tag.md_role",
    "fake_tag",
    0.6,
    String.raw`^[ \t]{0,3}#{1,6}[ \t]*(?:system|assistant|human|developer|instructions?)[ \t]*(?:prompt|message|override|instructions?)?[ \t]*[:：]`,
    "gim",
    0.2,
  ),
  r("tag.transcript", "fake_tag", 0.3, String.raw`^[ \t]*(?:system|assistant|human)[ \t]*:[ \t]`, "gim", 0.1),
  r(
    "tag.end_of",
    "fake_tag",
    0.4,
    String.raw`\bend\s+of\s+(?:output|result|response|document|context|data)\b`,
    "gi",
    0.1,
  ),
  r(
    "tag.end_of_tool",
    "fake_tag",
    0.7,
    String.raw`\bend\s+of\s+(?:tool|function)\s+(?:output|result|response|call)s?\b`,
    "gi",
    0.2,
  ),
];

export const PHRASE_RULES: readonly PhraseRule[] = [...BASE_RULES, ...INTENT_RULES, ...WORLD_RULES];
/** The rules for a text as written. */
export const WRITTEN_RULES: readonly PhraseRule[] = [...BASE_RULES, ...TEMPLATE_RULES];
/** What the folded reading adds when it only lower-cases the text: the rules written for it. */
export const FOLDED_RULES: readonly PhraseRule[] = [...INTENT_RULES, ...WORLD_RULES];
/** A ROT13 reading is searched for the phrases that flag, or nearly, on their own. */
export const STRONG_RULES: readonly PhraseRule[] = [...BASE_RULES, ...INTENT_RULES].filter(
  (r) => r.weight >= 0.6,
);
/**
 * The base rules a reading is searched for where folding changed more than case: those that
 * ignore case (one matching case as written, `[INST]`, cannot match a reading's lower case).
 */
export const READING_BASE_RULES: readonly PhraseRule[] = BASE_RULES.filter((r) => r.re.flags.includes("i"));
