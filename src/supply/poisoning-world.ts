/**
 * More of what the poisoning scan looks for (issue 18, the independent set's misses), kept apart
 * from poisoning.ts to keep each file small: the same classes in other languages and wordings.
 */
import { readingOf } from "../protect/normalise/index.js";

/** Bracket pseudo-tags: `[SYSTEM] … [/SYSTEM]`; a closing upper-case bracket tag of any name. */
export const BRACKET_TAG =
  /\[\s*(?:SYSTEM|SYS|ADMIN|OVERRIDE|HIDDEN|SECRET|DIRECTIVE|DEVELOPER)\s*\]|\[\/[A-Z_]{3,20}\]/;

/** Verbs that turn a credential path into an order to read or send it, in more languages. */
export const CREDENTIAL_VERB_WORLD = new RegExp(
  // Cyrillic, CJK, Hangul, Arabic and Devanagari stems as they are: JavaScript's \b knows only
  // ASCII letters, and these stems are not parts of English words.
  "прочита|прочти|отправ|передай|передать|содержим|скопируй|прочитай|надішли|вміст" +
    "|読み|読ん|送信|送っ|内容|入れ|읽어|읽고|보내|내용|넣|اقرأ|أرسل|ارسل|محتو|ضع|पढ़|भेज|सामग्री" +
    "|读取|发送|上传|讀取|發送|內容" +
    // Latin-script words whole ("lies", not "applies"; "sende", not "sender"), stems where the
    // inflections are meant, and a non-ASCII first letter after no ASCII letter.
    String.raw`|\b(?:lee|leer|env[ií]a|contenido|copia|lies|lesen|sende|senden|lire|lis|envoie|contenu|copie|leia|envie|conte[uú]do|leggi|invia|contenuto|oku|baca|kirim|isi)\b` +
    String.raw`|\b(?:inhalt|kopier(?:e|en|t)?\b|gönder)|(?<![a-z])(?:übermittel|içeri)`,
  "i",
);

/** Secrecy towards the user in more languages ("Dem Nutzer gegenüber nicht erwähnen", "Пользователю об этом не сообщай"). */
export const SECRECY_WORLD =
  /\b(?:dem|den|die)\s+(?:nutzer|benutzer|anwender)(?:n|in|innen)?\s+(?:gegenüber\s+|gegenueber\s+|davon\s+|hiervon\s+)?(?:nichts?|niemals|keinesfalls)\s+(?:davon\s+)?(?:erwähnen|erwaehnen|sagen|mitteilen|verraten|zeigen|erzählen)|\b(?:erwähne|erwaehne|sage|verrate|zeige)\s+(?:das|dies|es)\s+(?:dem|den)\s+(?:nutzer|benutzer)\s+nicht|пользовател\S{0,3}\s+(?:об\s+этом\s+|ничего\s+|это\s+)?не\s+(?:сообщай|говори|рассказывай|показывай|сообщайте|говорите)|не\s+(?:сообщай|говори|рассказывай)\s+(?:об\s+этом\s+)?пользовател|користувач\S{0,3}\s+(?:про\s+це\s+|нічого\s+)?не\s+(?:кажи|повідомляй)|사용자(?:에게|한테)(?:는)?\s*(?:이\s*사실을\s*|이를\s*)?(?:알리지|말하지|알려주지|보여주지)\s*(?:마|말)|ユーザー(?:に|には)(?:伝え|知らせ|言わ|教え|見せ)ないで|ユーザーに(?:は)?(?:秘密|内緒)|(?:لا|دون\s+أن)\s+(?:تخبر|تبلغ|تعلم|تُعلم|تذكر)\s+(?:ال)?مستخدم|no\s+(?:se\s+lo\s+)?(?:comentes|digas|cuentes|menciones|informes)\s+al\s+usuario|ne\s+(?:le\s+)?(?:dis|mentionne|signale)\s+pas\s+(?:à\s+)?l['’]utilisateur|não\s+(?:conte|diga|mencione|informe)\s+(?:nada\s+)?ao\s+usu[aá]rio|non\s+(?:dirlo|dire|menzionar\w*)\s+all['’]\s?utente|kullanıcıya\s+(?:bundan\s+|bunu\s+)?(?:söyleme|bahsetme)|(?:उपयोगकर्ता|यूज़र)\s+को\s+(?:यह\s+|इसके\s+बारे\s+में\s+)?(?:मत|न)\s+बता/i;

/** What a hidden step reaches for, in several languages: without one, "before use, read the manual" is advice. */
const SENSITIVE =
  "(?:\\.ssh|\\.env|\\.aws|\\.netrc|credentials|id_rsa|ключ|пароль|пароли|токен|учетн|учётн|истори|переписк|mot\\s+de\\s+passe|identifiants|jeton|senha|credenciais|token|chave|パスワード|認証|秘密鍵|トークン|履歴|비밀번호|토큰|자격|기록|키를)";

/** A step before the tool's use in other languages: "Vor der Nutzung … kopieren", "Перед вызовом прочитай ~/.ssh". */
export const HIDDEN_STEP_WORLD = new RegExp(
  String.raw`\bvor\s+(?:der|dem|jeder)\s+(?:nutzung|verwendung|benutzung|aufruf|ausführung)\b[^.\n]{0,100}?(?:umgebungsvariablen|passw|schlüssel|schluessel|token|zugangsdaten|\.env|\.ssh|credentials|verlauf)` +
    String.raw`|(?:перед\s+(?:вызовом|использованием|запуском)|avant\s+(?:d['’]utiliser|l['’]utilisation|chaque\s+appel)|antes\s+de\s+(?:usar|utilizar|chamar)|使用(?:する)?(?:前|まえ)に|사용\s*(?:전에|하기\s*전에))[^.。\n]{0,80}?` +
    SENSITIVE,
  "i",
);

/** Data meant for another tool routed through this one: "when … with any other tool, first pass the message to this tool". */
export const OTHER_TOOLS_HARVEST =
  /\b(?:any|every|all|an?)\s+other\s+tools?\b[^.\n]{0,80}?\b(?:first|also|always|before)\b[^.\n]{0,40}?\b(?:pass|copy|send|forward|give|include|mirror|log)\b|\b(?:pass|copy|forward|mirror|duplicate)\s+(?:[\w']+\s+){0,5}?(?:meant|intended|sent|going)\s+(?:for|to)\s+(?:any\s+|every\s+)?other\s+tools?\b/i;

/** A word that mixes Latin with Cyrillic or Greek letters ("rеad" with a Cyrillic е): read it folded. */
const MIXED_SCRIPT = /[a-z][\u0370-\u03ff\u0400-\u04ff]|[\u0370-\u03ff\u0400-\u04ff][a-z]/i;

/** The text as the injection detector reads it, when look-alike letters hide its words; else undefined. */
export function foldedReading(text: string): string | undefined {
  if (!MIXED_SCRIPT.test(text)) return undefined;
  const folded = readingOf(text).text;
  return folded === text ? undefined : folded;
}
