import { PARAPHRASE_RULES } from "./phrases-paraphrase.js";
import { r, type PhraseRule } from "./rule.js";

/**
 * Rules for what an injection means rather than how it is usually worded: an override said in
 * other words ("the earlier guidance no longer applies"), an imperative addressed to the model,
 * a sensitive object, a destination, a secrecy ask, forged chat turns and template tokens.
 * Alone most weigh below the threshold; an imperative plus a sensitive object, or anything plus
 * a secrecy ask, reaches it.
 */
const EARLIER = String.raw`(?:previous|prior|earlier|above|original|initial|preceding|former|old|existing|system|developer)`;
const GUIDANCE = String.raw`(?:instructions?|guidance|guidelines|directions|directives|rules|orders|prompts?|commands|constraints|restrictions|policies|programming)`;
const ACTS = String.raw`(?:send|forward|upload|post|e-?mail|transmit|share|include|print|reveal|output|read|copy|paste|leak|attach|append|fetch|visit|open|call|execute|run|delete|remove|write|encode|disclose|submit|exfiltrate|dump|list|collect|gather|extract|embed|put)`;
/** Guidance said to be the reader's own: "your", "the system's", "all previous". */
const YOURS = /\b(?:your|all\s+(?:of\s+)?(?:the\s+)?(?:previous|prior|earlier|above)|system|developer)\b/i;
const PERSON = String.raw`(?:the\s+)?(?:user|human|operator|person\s+(?:you\s+are|you're|it\s+is|who\s+is)\s+(?:helping|assisting|serving|talking\s+to)|person|end[\s-]?user|customer|requester)`;

export const INTENT_RULES: readonly PhraseRule[] = [
  r(
    "en.override_void",
    "override",
    0.7,
    String.raw`\b${EARLIER}\s+(?:[a-z]+\s+){0,2}?${GUIDANCE}\s+(?:(?:are|is)\s+(?:now\s+|hereby\s+)?(?:void|obsolete|cancel(?:l)?ed|revoked|invalid|superseded|overridden|outdated|suspended|lifted|no\s+longer\s+(?:valid|relevant|in\s+effect|applicable|binding))|(?:no\s+longer|don't|do\s+not)\s+apply|(?:have|has)\s+(?:been\s+)?(?:expired|revoked|replaced|superseded|lifted|cancel(?:l)?ed|withdrawn))`,
    "gi",
    undefined,
    { strong: YOURS },
  ),
  r(
    "en.override_expired",
    "override",
    0.7,
    String.raw`\b${GUIDANCE}\s+(?:you\s+(?:got|received|were\s+given|have\s+been\s+given|were\s+told)|(?:given|provided)\s+to\s+you)\s+(?:earlier|before|previously|so\s+far|until\s+now|at\s+the\s+start)\s+(?:has|have|is|are)\s+(?:now\s+)?(?:expired|void|cancel(?:l)?ed|revoked|obsolete|superseded|no\s+longer\s+(?:valid|in\s+effect|applicable))`,
    "gi",
    undefined,
    { group: "override_void", strong: /\byou\b/i },
  ),
  r(
    "en.override_aside",
    "override",
    0.7,
    String.raw`\b(?:set|put|cast|push|leave|throw)\s+(?:aside|away)\s+(?:all\s+|any\s+)?(?:of\s+)?(?:the\s+|your\s+)?${EARLIER}\s+(?:[a-z]+\s+){0,2}?${GUIDANCE}|\bpay\s+no\s+(?:attention|heed|mind)\s+to\s+(?:all\s+|any\s+)?(?:of\s+)?(?:the\s+|your\s+)?(?:${EARLIER}(?:'s)?\s+)?(?:[a-z]+\s+){0,2}?${GUIDANCE}|\b(?:stop|quit|cease)\s+(?:following|obeying)\s+(?:your|the|all|any)\s+(?:[a-z]+\s+){0,2}?${GUIDANCE}`,
    "gi",
    undefined,
    { strong: YOURS },
  ),
  r(
    "en.override_told",
    "override",
    1,
    String.raw`\b(?:disregard|ignore|forget|discard|drop|skip|override|bypass|abandon)\s+(?:all\s+|any\s+)?(?:of\s+)?(?:the\s+|your\s+)?(?:${GUIDANCE}|everything|anything|what(?:ever)?)\s+(?:you\s+(?:were|have\s+been|got)\s+(?:told|instructed|given|asked)|(?:you\s+)?(?:given|provided|received)\s+(?:to\s+you\s+)?(?:before|earlier|previously|so\s+far|until\s+now)|(?:from|by)\s+(?:before|earlier|your\s+(?:developers?|operators?|creators?|system|owners?)))|\b(?:everything|anything|whatever)\s+(?:you\s+(?:were|have\s+been)\s+(?:told|instructed|given|asked)|(?:that\s+)?(?:came|was\s+said)\s+before)\s+(?:[a-z']+\s+){0,8}?(?:no\s+longer|is\s+(?:void|cancel(?:l)?ed|obsolete)|doesn't\s+matter|does\s+not\s+(?:matter|apply))`,
  ),
  r(
    "en.model_imperative",
    "override",
    0.6,
    String.raw`\b(?:you|assistant|the\s+(?:ai|assistant|model|agent|llm|bot))\s+(?:must|should|shall|need\s+to|have\s+to|are\s+(?:required|instructed|expected|supposed|directed|ordered|told)\s+to|will\s+now|are\s+to)\s+(?:now\s+|immediately\s+|also\s+|first\s+|silently\s+|quietly\s+|always\s+)?${ACTS}\b`,
  ),
  r(
    "en.send_to",
    "override",
    0.5,
    String.raw`\b(?:send|forward|upload|post|e-?mail|transmit|exfiltrate|leak|submit|deliver|pipe|report)\s+(?:[\w.'~/-]+\s+){0,6}?(?:to|into|at|via)\s+(?:https?:\/\/|[\w.+-]+@[\w-]+\.|(?:the\s+|this\s+)?(?:following\s+)?(?:url|endpoint|address|webhook|server|inbox))`,
  ),
  r(
    "en.sensitive_object",
    "override",
    0.4,
    String.raw`\b(?:the\s+)?(?:user's|users'|their|your|his|her|all(?:\s+the)?|every|any)\s+(?:saved\s+|stored\s+|private\s+|personal\s+|secret\s+|current\s+)?(?:api[\s_-]?keys?|credentials|passwords?|passphrases?|access\s+tokens?|tokens|secrets|private\s+keys?|ssh\s+keys?|session\s+cookies|cookies|environment\s+variables|env\s+vars|chat\s+history|conversation(?:\s+(?:history|so\s+far))?|previous\s+messages|emails|contacts)\b|\b(?:contents?|body)\s+of\s+(?:the\s+)?(?:user's\s+)?(?:~\/\.ssh|\.env|ssh\s+keys?|credentials?\s+files?|private\s+keys?|keychain|wallet)`,
    "gi",
    undefined,
    { group: "exfil_request" },
  ),
  r(
    "intent.stealth",
    "override",
    0.7,
    String.raw`\bkeep\s+(?:this|it|that|these\s+\w+|the\s+\w+)\s+(?:step\s+|part\s+|action\s+|instruction\s+)?(?:confidential|secret|private|hidden|quiet|to\s+yourself|between\s+us)\b|\b(?:hide|conceal|withhold)\s+(?:this|it|these|that|the\s+\w+)\s+(?:step\s+|action\s+|instructions?\s+|part\s+|request\s+)?from\s+${PERSON}|\b${PERSON}\s+(?:must|should|need|may|is)\s+(?:not|never)\s+(?:to\s+)?(?:know|learn|see|notice|find\s+out|be\s+(?:told|informed|made\s+aware|notified))|\bwithout\s+(?:letting|making)\s+${PERSON}\s+(?:know|aware)|\b(?:do\s+not|don't|never)\s+(?:mention|disclose|reveal|surface|bring\s+up|report|show)\s+(?:this|that|it|these\s+\w+|any\s+of\s+(?:this|it))\s+(?:step\s+|action\s+)?(?:to|in\s+front\s+of|with)\s+${PERSON}|\b(?:silently|quietly|secretly|covertly|discreetly|invisibly)\s+(?:send|forward|upload|post|read|call|run|execute|include|append|copy|e-?mail|transmit|attach)|\bfrom\s+the\s+(?:person|user|human)\s+(?:you\s+are|you're|it\s+is|it's|who\s+is)\s+(?:helping|assisting|serving)`,
  ),
  r(
    "en.address_ai_hey",
    "override",
    0.6,
    String.raw`(?:^|[\n.!>])\s*(?:dear|hey|hi|hello|attention|psst)\s*,?\s+(?:the\s+)?(?:ai|llm|assistant|agent|model|claude|chatgpt|gpt|copilot|gemini|bot)\b|\b(?:to|for)\s+(?:the|any)\s+(?:ai|assistant|agent|model|llm)\s+(?:reading|processing|summari[sz]ing|that\s+reads)\s+this`,
  ),
  ...PARAPHRASE_RULES,
];

/** Template tokens and role headings: matched as written (folding would change `<|x|>` and `_`). */
export const TEMPLATE_RULES: readonly PhraseRule[] = [
  // Forged turns and template tokens of the common chat formats.
  r(
    "tag.template_token",
    "fake_tag",
    1,
    String.raw`<\|?(?:start_of_turn|end_of_turn|start_of_role|end_of_role|begin_of_turn|end_of_text)\|?>|<\|(?:channel|message|start|end|return|call|constrain|tool|tool_call|observation|prompter|model)\|>|\[\/?(?:SYSTEM_PROMPT|AVAILABLE_TOOLS|TOOL_RESULTS)\]|<｜(?:User|Assistant|begin▁of▁sentence|end▁of▁sentence)｜>`,
    "gi",
    0.5,
  ),
  // A system turn inside structured content: `{"role": "system", "content": "…"}` in a tool result.
  r(
    "tag.json_system_turn",
    "role",
    0.6,
    String.raw`"role"\s*:\s*"(?:system|developer)"\s*,\s*"content"\s*:\s*"`,
    "gi",
    0.2,
  ),
  r(
    "tag.alpaca",
    "fake_tag",
    0.6,
    String.raw`^[ \t]{0,3}#{2,4}[ \t]*(?:instruction|response|input|system|human|assistant|user)[ \t]*:?[ \t]*$`,
    "gim",
    0.2,
  ),
];

/** A line that opens a chat turn: `User:`, `Assistant:`, `[user]`, `<user>`, `Human:`. */
const TURN =
  /^[ \t>*_]{0,4}(?:\[|<|\*\*)?(user|human|assistant|ai|model|system|bot|gpt|claude)(?:\]|>|\*\*)?[ \t]*[:：]/gim;

/**
 * Forged turns: a tool result that opens a user turn and an assistant (or system) turn speaks as
 * the conversation itself. A chat log quoted in a result does too, so this weighs 0.6: with any
 * instruction-like cue it flags.
 */
export function forgedTurns(text: string): { offset: number; detail: string } | undefined {
  if (!/(?:user|human)\s*\]?>?\**\s*[:：]/i.test(text)) return undefined;
  let user = -1;
  let other = -1;
  TURN.lastIndex = 0;
  for (let n = 0; n < 64; n++) {
    const m = TURN.exec(text);
    if (m === null) break;
    const role = m[1]!.toLowerCase();
    if (role === "user" || role === "human") user = user < 0 ? m.index : user;
    else other = other < 0 ? m.index : other;
    if (user >= 0 && other >= 0)
      return { offset: Math.min(user, other), detail: "forged user and assistant turns" };
  }
  return undefined;
}
