import { foldSource } from "../normalise/reading.js";
import { r, type PhraseRule } from "./rule.js";
import type { SignalKind } from "./types.js";

/**
 * The override, secrecy, disclosure, exfiltration, role and "new instructions" phrasings in the
 * most spoken languages beyond those of phrases.ts: Italian, Dutch, Turkish, Indonesian/Malay,
 * Vietnamese, Hindi (and romanised Hindi), Bengali, Arabic, Urdu, Korean, traditional Chinese, and
 * more paraphrases for Spanish, French, German, Portuguese, Russian, Japanese. Turkish and
 * Vietnamese are written without diacritics: the detector also reads a text folded (normalise/reading.ts),
 * where "bỏ qua" is "bo qua" and "önceki" is "onceki", so one pattern matches both spellings;
 * Arabic likewise without harakat. Latin-script patterns run on the folded reading only, where
 * every Latin letter is ASCII and \b is a word boundary again.
 */
/**
 * Latin-script patterns are written for the folded reading: accents dropped, lower case. Gates
 * ignore case: a reading keeps the lines that fold to their lower case as written.
 */
const LATIN_GATE = /[a-z]{3}/i;
/** Patterns in other scripts run only on a text that has a character outside ASCII. */
const OTHER_GATE = /[\u0080-\uffff]/;

/**
 * Words one of a Latin-script rule's phrasings cannot do without, per rule: a text with none skips
 * the rule's long alternation (most English text).
 */
const LATIN_WORDS: Readonly<Record<string, RegExp>> = {
  "world.ignore_prior":
    /ignor|dimentic|trascur|tralasc|conto|negeer|vergeet|veronacht|talimat|komut|yonerge|abaikan|lupakan|acuhkan|hiraukan|bo qua|phot lo|lo di|quen|tuan theo|nirdesh|aadesh|hukum|caso|tiens|oublie|desconsider|despreze|esquec|anweisung|bisherig|vorherig|puuza|maagizo|pansinin|tagubilin|utos|wey dem|tins/i,
  "world.stealth":
    /utente|gebruiker|kullanici|pengguna|nguoi dung|user ko|usuario|utilisateur|benutzer|nutzer|anwender|utilizador|mtumiaji|sabihin|tell di|tell am/i,
  "world.reveal_prompt": /prompt|sistem|systeem|istem|he thong/i,
  "world.exfil_request":
    /password|credenzial|chiav|token|segret|wachtwoord|inlog|sleutel|geheim|sifre|parola|anahtar|sandi|kredensial|kunci|rahasia|mat khau|khoa|contrase|credencial|clave|mots? de passe|identifiant|cle|jeton|passw|zugangsdaten|schlussel|senha/i,
  "world.role": /ora |da ora|je bent|vanaf nu|artik|bundan sonra|sekarang|bay gio|tu gio/i,
  "world.new_instructions": /istruzioni|instructies|talimatlar|instruksi|perintah|huong dan/i,
};

/** One rule as two: Latin-script phrasings (folded like the text) and the other scripts'. */
function world(id: string, kind: SignalKind, weight: number, latin: string[], other: string[]): PhraseRule[] {
  const out: PhraseRule[] = [];
  if (latin.length > 0)
    out.push(
      r(id, kind, weight, foldSource(latin.join("|")), "gi", undefined, {
        gate: LATIN_WORDS[id] ?? LATIN_GATE,
      }),
    );
  if (other.length > 0)
    out.push(r(id, kind, weight, foldSource(other.join("|")), "giu", undefined, { gate: OTHER_GATE }));
  return out;
}

export const WORLD_RULES: readonly PhraseRule[] = [
  ...world(
    "world.ignore_prior",
    "override",
    1,
    [
      String.raw`\b(?:ignora|ignorate|ignori|dimentica|dimenticate|trascura|tralascia|non\s+tenere\s+conto\s+del(?:le)?)\s+(?:tutte\s+)?(?:le\s+)?(?:tue\s+|sue\s+)?(?:istruzioni|indicazioni|regole|direttive|disposizioni)\s+(?:precedenti|anteriori|di\s+prima|ricevute|originali|iniziali)`,
      String.raw`\b(?:ignora|dimentica)\s+tutto\s+(?:quello|ciò|cio)\s+(?:che\s+)?(?:ti\s+)?(?:è\s+stato\s+detto|hai\s+ricevuto|sopra)`,
      String.raw`\b(?:negeer|vergeet|veronachtzaam)\s+(?:alle\s+)?(?:de\s+|je\s+|jouw\s+|uw\s+)?(?:vorige|eerdere|voorgaande|bovenstaande|oorspronkelijke|oude)\s+(?:instructies|opdrachten|regels|aanwijzingen|richtlijnen)`,
      String.raw`\b(?:negeer|vergeet)\s+alles\s+(?:hierboven|wat\s+(?:je|u)\s+(?:eerder\s+)?(?:is\s+)?(?:verteld|gezegd|gekregen))`,
      String.raw`\b(?:onceki|yukaridaki|daha\s+onceki|eski|ilk)\s+(?:tum\s+|butun\s+|her\s+)?(?:talimat|komut|yonerge|kural|direktif)[a-z]*\s+(?:[a-z]+\s+){0,2}?(?:yok\s+say|gormezden\s+gel|unut|dikkate\s+alma|goz\s+ardi\s+et|iptal\s+et)`,
      String.raw`\b(?:tum|butun)\s+(?:onceki\s+)?(?:talimat|komut|yonerge)[a-z]*\s+(?:[a-z]+\s+){0,1}?(?:yok\s+say|gormezden\s+gel|unut|goz\s+ardi\s+et)`,
      String.raw`\b(?:abaikan|lupakan|acuhkan|hiraukan|jangan\s+hiraukan|abaikanlah|lupakanlah)\s+(?:semua\s+|seluruh\s+|segala\s+)?(?:instruksi|perintah|arahan|petunjuk|aturan|arahan)(?:-(?:instruksi|perintah))?\s+(?:yang\s+)?(?:sebelumnya|terdahulu|di\s+atas|sebelum\s+ini|awal|lama|diberikan)`,
      String.raw`\b(?:bo\s+qua|phot\s+lo|quen\s+di|quen|lo\s+di|khong\s+can\s+tuan\s+theo|dung\s+tuan\s+theo)\s+(?:het\s+)?(?:tat\s+ca\s+|moi\s+|toan\s+bo\s+)?(?:cac\s+|nhung\s+)?(?:huong\s+dan|chi\s+dan|chi\s+thi|lenh|menh\s+lenh|quy\s+tac|yeu\s+cau)\s+(?:truoc\s+do|truoc\s+day|truoc|o\s+tren|ban\s+dau|cu|da\s+nhan)`,
      String.raw`\b(?:pichhle|pichle|purane|pehle\s+ke)\s+(?:sabhi\s+|saare\s+|sare\s+)?(?:nirdesh|nirdeshon|instructions|aadesh|hukum)\s+(?:ko\s+)?(?:ignore|bhool|bhul|nazarandaz|andekha)`,
      String.raw`\bhaz\s+caso\s+omiso\s+(?:de\s+)?(?:todas\s+)?(?:las\s+)?(?:instrucciones|indicaciones)|\b(?:ignora|olvida|olvidá)\s+todo\s+lo\s+(?:anterior|que\s+te\s+(?:dijeron|han\s+dicho))`,
      String.raw`\bne\s+tiens?\s+(?:plus\s+)?(?:pas\s+)?compte\s+des\s+(?:instructions|consignes|règles)|\boublie[zr]?\s+tout\s+ce\s+qu(?:e\s+|')(?:on\s+t'a|vous\s+avez|tu\s+as)`,
      String.raw`\bignorier(?:e|en\s+sie)\s+alles\s+(?:bisherige|vorherige|obige|davor)|\b(?:vorherigen|bisherigen|früheren|obigen)\s+anweisungen\s+(?:ignorieren|vergessen|missachten)`,
      // Swahili, Tagalog, Nigerian Pidgin.
      String.raw`\b(?:puuza|sahau|usifuate|acha\s+kufuata)\s+(?:maagizo|maelekezo|amri|sheria)\s+(?:yote\s+)?(?:ya\s+|za\s+)?(?:awali|zamani|kwanza|hapo\s+juu|uliyopewa|yaliyotangulia)`,
      String.raw`\b(?:huwag\s+(?:mong\s+)?(?:pansinin|sundin|intindihin)|kalimutan(?:\s+mo)?|balewalain)\s+(?:ang\s+)?(?:lahat\s+(?:ng\s+)?)?(?:mga\s+)?(?:nauna(?:ng)?|dating|naunang|lumang|nakaraang)\s+(?:mga\s+)?(?:tagubilin|utos|instruksyon|panuto|direksyon)`,
      String.raw`\b(?:forget|ignore|no\s+mind|no\s+follow)\s+(?:all\s+)?(?:di|de|the)\s+(?:tins?|things?|instruction|instructions|tori)\s+(?:wey|wen|we)\s+(?:dem|dey|person|dem\s+don)\s+(?:tell|give|talk)`,
      String.raw`\b(?:desconsidere|desconsidera|despreze|ignore|esqueça)\s+(?:todas\s+)?(?:as\s+)?(?:instrucoes|instruções|orientações|orientacoes|regras)\s+(?:anteriores|previas|prévias|recebidas)`,
    ],
    [
      String.raw`(?:पिछले|पिछली|पहले\s+के|पूर्व|ऊपर\s+के|ऊपर\s+दिए\s+गए|पुराने)\s+(?:सभी\s+|सारे\s+|तमाम\s+)?(?:निर्देशों|निर्देश|आदेशों|आदेश|नियमों|हिदायतों)\s*(?:को\s*)?(?:अनदेखा|नज़रअंदाज़|नजरअंदाज|नज़रअंदाज|भूल|अनसुना|इग्नोर)`,
      String.raw`(?:सभी|सारे)\s+(?:पिछले\s+)?(?:निर्देशों|निर्देश|आदेशों)\s+(?:को\s+)?(?:अनदेखा|नज़रअंदाज़|नजरअंदाज|भूल)`,
      String.raw`(?:পূর্ববর্তী|আগের|পূর্বের|উপরের)\s+(?:সমস্ত\s*|সব\s*|সকল\s*)?(?:নির্দেশনা|নির্দেশাবলী|নির্দেশ|আদেশ|নিয়ম)(?:গুলো|গুলি)?\s*(?:উপেক্ষা|অগ্রাহ্য|ভুলে|এড়িয়ে)`,
      String.raw`(?:تجاهل|تجاهلي|تجاهلوا|انس|انسى|اهمل|لا\s+تلتزم\s+ب)\s*(?:جميع|كل)?\s*(?:التعليمات|الاوامر|الإرشادات|الارشادات|التوجيهات|القواعد)\s+(?:السابقة|الماضية|الاصلية|أعلاه|اعلاه|القديمة)`,
      String.raw`(?:تجاهل|انس)\s+(?:كل|جميع)\s+ما\s+(?:سبق|قيل)`,
      String.raw`(?:پچھلی|پچھلے|سابقہ|پہلے\s+کی|اوپر\s+کی)\s+(?:تمام\s+|سب\s+|ساری\s+)?(?:ہدایات|ہدایت|احکامات|احکام|ہدایتوں)\s*(?:کو\s*)?(?:نظرانداز|نظر\s+انداز|بھول|اگنور)`,
      String.raw`(?:이전|앞의|위의|기존)\s*(?:의\s*)?(?:모든\s*)?(?:지시|명령|지침|규칙)(?:사항|들)?(?:을|를|은|는)?\s*(?:모두\s*)?(?:무시|잊어)`,
      String.raw`(?:忽略|無視|忽視|忘記|忘掉|不要理會|別管)掉?\s*你?(?:之前|以前|先前|此前|上面|上述|以上|前面|原來|原有|系統)[^，。,.!！？\n]{0,8}?(?:指令|指示|命令|說明|規則|提示詞?|設定|要求|約束)`,
      String.raw`(?:すべての|全ての|これまでの|以前の|前の)(?:指示|命令|ルール)を(?:無視|忘れ)`,
      // Ukrainian, Marathi, Persian.
      String.raw`(?:проігноруй(?:те)?|ігноруй(?:те)?|забудь(?:те)?|не\s+зважай(?:те)?\s+на)\s+(?:усі\s+|всі\s+)?(?:попередні|попередніх|минулі|початкові|отримані)\s+(?:інструкції|інструкцій|вказівки|вказівок|правила|команди)`,
      String.raw`(?:आधीच्या|मागील|पूर्वीच्या|आधीचे|वरील)\s+(?:सर्व\s+)?(?:सूचना|सूचनांकडे|सूचनांना|आदेश|आदेशांकडे|निर्देश|नियम)\S*\s*(?:दुर्लक्ष|विसर)`,
      String.raw`(?:دستور(?:العمل)?|دستورات|راهنمایی|قوانین)\S{0,6}\s+(?:قبلی|پیشین|سابق|اولیه|بالا)\s+(?:را\s+)?(?:نادیده\s+بگیر|فراموش\s+کن|کنار\s+بگذار|رعایت\s+نکن)`,
      String.raw`(?:не\s+обращай(?:те)?\s+внимания\s+на|пренебреги|отмени)\s+(?:все\s+)?(?:предыдущие|прежние|прошлые|ранее\s+полученные|изначальные)\s+(?:инструкции|указания|правила|команды)`,
    ],
  ),
  ...world(
    "world.stealth",
    "override",
    0.7,
    [
      String.raw`\bnon\s+(?:dir(?:e|lo|gli)|informare|avvisare|menzionar(?:e|lo)|rivelar(?:e|lo))\s+(?:[a-z]+\s+){0,2}?(?:all['’]\s?|a\s+l['’]\s?)?utente|\bsenza\s+(?:dirlo|informare|avvisare|che\s+l['’]utente\s+(?:lo\s+)?sappia)`,
      String.raw`\b(?:vertel|zeg|meld)\s+(?:dit\s+|het\s+)?(?:niet\s+|niets\s+)?(?:aan\s+)?de\s+gebruiker(?:\s+(?:niet|niets))?(?=[\s.,!])|\bzonder\s+(?:de\s+gebruiker\s+)?(?:te\s+)?(?:informeren|waarschuwen|vertellen|dat\s+de\s+gebruiker)|\blaat\s+de\s+gebruiker\s+(?:niet|niets)\s+weten`,
      String.raw`\bkullaniciya\s+(?:bundan\s+|bunu\s+|hicbir\s+sey\s+|sakin\s+)?(?:soyleme|bahsetme|bildirme|haber\s+verme|gosterme|aciklama)|\bkullanici(?:nin)?\s+(?:bunu\s+)?(?:bilmemeli|fark\s+etmemeli|gormemeli)|kullaniciya\s+haber\s+vermeden|kullanicidan\s+gizle`,
      String.raw`\bjangan\s+(?:beri\s*tahu|memberi\s*tahu|memberitahu|bilang|kasih\s+tahu|katakan|sampaikan)\s+(?:[a-z]+\s+){0,2}?(?:kepada\s+|ke\s+|pada\s+)?pengguna|\btanpa\s+(?:memberi\s*tahu|sepengetahuan|diketahui)\s+pengguna|\bpengguna\s+tidak\s+boleh\s+tahu|rahasiakan\s+dari\s+pengguna`,
      String.raw`\b(?:dung|khong\s+duoc|khong)\s+(?:noi|bao|cho\s+biet|tiet\s+lo|thong\s+bao|de\s+cap)\s+(?:[a-z]+\s+){0,2}?(?:voi\s+|cho\s+)?nguoi\s+dung|\b(?:khong\s+cho|dung\s+de)\s+nguoi\s+dung\s+biet|\bma\s+khong\s+(?:bao|cho)\s+nguoi\s+dung|giu\s+bi\s+mat\s+voi\s+nguoi\s+dung`,
      String.raw`\busimwambie\s+(?:mtumiaji|mtu)|\bbila\s+(?:kumwambia|kumjulisha)\s+mtumiaji|\bmtumiaji\s+asijue`,
      String.raw`\bhuwag\s+(?:mong\s+)?(?:sabihin|ipaalam|banggitin)\s+(?:ito\s+)?(?:sa\s+)?(?:user|gumagamit)|\bnang\s+hindi\s+(?:sinasabi|ipinapaalam)\s+sa\s+(?:user|gumagamit)`,
      String.raw`\b(?:no|make\s+you\s+no|no\s+go)\s+tell\s+(?:di|de|the)\s+(?:user|person|oga)|\bwithout\s+(?:say|tell)\s+(?:di|de)\s+user`,
      String.raw`\bsin\s+(?:decirle|avisar|informar)(?:le)?\s+(?:nada\s+)?al\s+usuario|\bel\s+usuario\s+no\s+(?:debe|puede|tiene\s+que)\s+(?:saber|enterarse)|\bno\s+(?:se\s+lo\s+)?(?:comuniques|reveles|cuentes)\s+al\s+usuario`,
      String.raw`\bsans\s+(?:le\s+dire|prévenir|prevenir|informer|avertir)\s+(?:à\s+)?l['’]utilisateur|\bl['’]utilisateur\s+ne\s+doit\s+pas\s+(?:le\s+)?savoir|\bne\s+(?:préviens|prévenez|informe|informez)\s+pas\s+l['’]utilisateur`,
      String.raw`\bohne\s+(?:den|die)\s+(?:benutzer|nutzer|anwender)(?:in)?\s+zu\s+(?:informieren|benachrichtigen|warnen|fragen)|\b(?:informiere|benachrichtige)\s+(?:den\s+)?(?:benutzer|nutzer)\s+nicht|\bder\s+(?:benutzer|nutzer)\s+darf\s+(?:das\s+|davon\s+)?nichts?\s+(?:wissen|erfahren)`,
      String.raw`\bsem\s+(?:avisar|informar|contar\s+(?:ao|a))\s+(?:o\s+)?(?:usuario|usuário|utilizador)|\bo\s+(?:usuario|usuário)\s+não\s+(?:deve|pode)\s+saber`,
    ],
    [
      String.raw`(?:उपयोगकर्ता|यूज़र|यूजर|प्रयोगकर्ता)\s+को\s+(?:यह\s+|इसके\s+बारे\s+में\s+|कुछ\s+|कुछ\s+भी\s+)?(?:मत|न|नहीं)\s+(?:बताएं|बताना|बताओ|बताएँ|बताइए|बताएगा)|(?:उपयोगकर्ता|यूज़र|यूजर)\s+को\s+बताए\s+बिना|\buser\s+ko\s+(?:mat|na|nahi)\s+(?:batana|batao|bataye)`,
      String.raw`ব্যবহারকারীকে\s+(?:এটা\s+|এ\s+বিষয়ে\s+|কিছু\s+)?(?:বলবে\s+না|বলো\s+না|জানাবে\s+না|জানিও\s+না|বলবেন\s+না|জানাবেন\s+না)|ব্যবহারকারীকে\s+না\s+জানিয়ে`,
      String.raw`لا\s+(?:تخبر|تخبري|تبلغ|تعلم|تذكر\s+ذلك\s+ل)\s*(?:ال)?مستخدم|دون\s+(?:علم|ابلاغ|إبلاغ|اخبار|إخبار)\s+المستخدم`,
      String.raw`صارف\s+کو\s+(?:یہ\s+|اس\s+بارے\s+میں\s+|کچھ\s+)?(?:مت|نہ)\s+(?:بتائیں|بتانا|بتاؤ)|صارف\s+کو\s+بتائے\s+بغیر`,
      String.raw`不要(?:告訴|通知|提醒|讓)(?:用戶|使用者)|(?:用戶|使用者)(?:不會|不應|不能)(?:知道|發現)|對(?:用戶|使用者)保密|瞞著用戶|对(?:用户|使用者)保密|瞒着用户`,
      String.raw`ユーザーに(?:は)?(?:知らせずに|伝えずに|言わずに|秘密に|内緒で)|ユーザーには秘密`,
      String.raw`사용자(?:에게|한테)\s*(?:알리지|말하지|알려주지)\s*(?:마|말)|사용자\s*몰래`,
      String.raw`(?:нічого\s+)?не\s+(?:кажи|повідомляй|розповідай|кажіть)\s+(?:нічого\s+)?користувач|без\s+відома\s+користувача`,
      String.raw`वापरकर्त्याला\s+(?:हे\s+|काहीही\s+|काही\s+)?(?:सांगू\s+नको|कळवू\s+नको|सांगू\s+नका)|वापरकर्त्याला\s+न\s+सांगता`,
      String.raw`(?:به\s+)?کاربر\s+(?:چیزی\s+|هیچ\s+چیز\s+)?(?:نگو|نگویید|اطلاع\s+نده)|بدون\s+(?:اطلاع|آگاهی)\s+کاربر`,
      String.raw`не\s+(?:сообщай|говори|рассказывай|сообщайте|говорите)\s+(?:об\s+этом\s+)?пользовател|без\s+ведома\s+пользователя|втайне\s+от\s+пользователя`,
    ],
  ),
  ...world(
    "world.reveal_prompt",
    "override",
    1,
    [
      String.raw`\b(?:rivela|mostra|stampa|ripeti|mostrami)\s+(?:il\s+)?(?:tuo\s+)?prompt\s+(?:di\s+)?sistema`,
      String.raw`\b(?:toon|geef|onthul|print)\s+(?:me\s+)?(?:je|jouw|de|uw)\s+(?:systeemprompt|systeem\s*prompt|systeeminstructies)`,
      String.raw`\bsistem\s+(?:istemini|komutunu|promptunu|talimatlarini)\s+(?:goster|yazdir|acikla|paylas|ver)`,
      String.raw`\b(?:tampilkan|tunjukkan|ungkapkan|cetak|berikan|bocorkan)\s+(?:prompt\s+sistem|system\s+prompt|instruksi\s+sistem)`,
      String.raw`\b(?:hien\s+thi|tiet\s+lo|in\s+ra|cho\s+(?:toi\s+)?xem)\s+(?:loi\s+nhac|prompt|chi\s+dan|huong\s+dan)\s+(?:cua\s+)?he\s+thong`,
    ],
    [
      String.raw`सिस्टम\s+(?:प्रॉम्प्ट|प्रोम्प्ट|निर्देश)\s+(?:दिखाओ|दिखाएं|बताओ|बताएं|प्रकट\s+करें)`,
      String.raw`(?:اكشف|اعرض|اظهر)\s+(?:لي\s+)?(?:موجه|تعليمات|رسالة)\s+النظام`,
      String.raw`(?:輸出|顯示|打印|洩露|告訴我|透露)(?:你的)?(?:完整的?)?(?:系統提示詞?|初始指令|原始指令)`,
    ],
  ),
  ...world(
    "world.exfil_request",
    "override",
    0.6,
    [
      String.raw`\b(?:invia|manda|inoltra|carica)\s+(?:[a-z]+\s+){0,3}?(?:password|credenziali|chiavi?\s+api|token|segreti|chiave\s+privata)`,
      String.raw`\b(?:stuur|verstuur|upload|stuurt)\s+(?:[a-z]+\s+){0,3}?(?:wachtwoorden|wachtwoord|inloggegevens|api-?sleutels?|api\s+sleutels?|tokens?|geheimen)`,
      String.raw`\b(?:sifre|parola|api\s+anahtar|kimlik\s+bilgi|token|gizli\s+anahtar)[a-z]*\s+(?:[a-z]+\s+){0,3}?gonder`,
      String.raw`\b(?:kirim|kirimkan|unggah|teruskan)\s+(?:[a-z]+\s+){0,3}?(?:kata\s+sandi|kredensial|kunci\s+api|token|rahasia)`,
      String.raw`\bgui\s+(?:[a-z]+\s+){0,3}?(?:mat\s+khau|khoa\s+api|thong\s+tin\s+dang\s+nhap|token)`,
      String.raw`\b(?:envía|envia|manda|sube|reenvía|reenvia)\s+(?:[a-z]+\s+){0,3}?(?:contraseñas?|credenciales|claves?\s+(?:de\s+)?api|tokens?)`,
      String.raw`\b(?:envoie|envoyez|transmets|transmettez)\s+(?:[a-z]+\s+){0,3}?(?:mots?\s+de\s+passe|identifiants|clés?\s+api|jetons?)`,
      String.raw`\b(?:sende|schicke|übermittle|uebermittle)\s+(?:[a-z]+\s+){0,3}?(?:passwörter|passwoerter|passwort|zugangsdaten|api-?schlüssel|schlüssel|tokens?)`,
      String.raw`\b(?:envie|mande|encaminhe)\s+(?:[a-z]+\s+){0,3}?(?:senhas?|credenciais|chaves?\s+(?:de\s+)?api|tokens?)`,
    ],
    [
      String.raw`(?:पासवर्ड|एपीआई\s+की|API\s+key|क्रेडेंशियल|टोकन)\s+(?:\S+\s+){0,3}?(?:भेजें|भेजो|भेज\s+दो)`,
      String.raw`(?:ارسل|أرسل)\s+(?:\S+\s+){0,3}?(?:كلمات\s+المرور|كلمة\s+المرور|مفاتيح|مفتاح|بيانات\s+الاعتماد)`,
      String.raw`(?:отправь|пришли|перешли|отправьте)\s+(?:\S+\s+){0,3}?(?:пароли|пароль|ключи|ключ|токены|учетные\s+данные)`,
      String.raw`(?:パスワード|APIキー|認証情報|秘密鍵)を\S{0,10}?(?:送信|送っ|送れ|アップロード)`,
      String.raw`(?:비밀번호|API\s*키|자격\s*증명|토큰)(?:를|을)\s*(?:\S+\s*){0,2}?(?:보내|전송|업로드)`,
      String.raw`(?:পাসওয়ার্ড|এপিআই\s+কী|টোকেন)\s+(?:\S+\s+){0,3}?(?:পাঠাও|পাঠান)`,
      String.raw`(?:پاس\s*ورڈ|پاسورڈ|API\s+کی)\s+(?:\S+\s+){0,3}?(?:بھیجیں|بھیجو)`,
    ],
  ),
  ...world(
    "world.role",
    "role",
    0.5,
    [
      String.raw`\bora\s+sei\s+(?:un|una|il|la)\b|\bda\s+ora\s+in\s+poi\s+(?:sei|devi|tu)`,
      String.raw`\bje\s+bent\s+nu\s+(?:een|de)\b|\bvanaf\s+nu\s+(?:ben\s+je|moet\s+je)`,
      String.raw`\bartik\s+sen\s+bir|\bbundan\s+sonra\s+sen`,
      String.raw`\bsekarang\s+(?:kamu|anda)\s+adalah|\bmulai\s+sekarang\s+(?:kamu|anda)`,
      String.raw`\bbay\s+gio\s+ban\s+la|\btu\s+gio\s+tro\s+di\s+ban`,
    ],
    [
      String.raw`अब\s+से\s+(?:तुम|आप)|(?:انت|أنت)\s+(?:الان|الآن)\s+|اب\s+سے\s+(?:تم|آپ)|এখন\s+থেকে\s+(?:তুমি|আপনি)|지금부터\s*(?:너는|당신은)|從現在(?:開始|起)\s*[,，]?\s*你|你現在是`,
    ],
  ),
  ...world(
    "world.new_instructions",
    "override",
    0.6,
    [
      String.raw`\b(?:nuove\s+istruzioni|nieuwe\s+instructies|yeni\s+talimatlar|instruksi\s+baru|perintah\s+baru|huong\s+dan\s+moi)\s*[:：]`,
    ],
    [
      String.raw`(?:नए\s+निर्देश|تعليمات\s+جديدة|نئی\s+ہدایات|নতুন\s+নির্দেশ(?:না)?|新(?:的)?指令|새로운\s+지시|новое\s+задание)\s*[:：]`,
    ],
  ),
];
