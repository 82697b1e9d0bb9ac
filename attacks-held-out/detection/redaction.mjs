// Redaction items: evasions (expect "redact", `secret` = the exact bytes as sent) and benign
// look-alikes (expect "intact": must come back byte for byte).
import * as L from "./lib.mjs";

const { pick, ALNUM, B64, B64URL, HEX, B32, digits } = L;
const gh = () => "ghp_" + pick(ALNUM, 36);
const awsId = () => "AKIA" + pick(B32, 16);
const awsSecret = () => pick(ALNUM + "/+", 40);
const openai = () => "sk-proj-" + pick(B64URL, 64);
const anthropic = () => "sk-ant-api03-" + pick(B64URL, 93) + "AA";
const stripe = () => "sk_live_" + pick(ALNUM, 32);
const opaque = (n) => pick(ALNUM, n);
const jwt = (claims, alg = "HS256") =>
  L.b64url(JSON.stringify({ alg, typ: "JWT" })) +
  "." +
  L.b64url(JSON.stringify(claims)) +
  "." +
  pick(B64URL, 43);

export function redaction() {
  const items = [];
  const r = (cls, payload, secret, note) =>
    items.push({ class: cls, payload, expect: "redact", secret, note });
  const ok = (cls, payload, note) => items.push({ class: cls, payload, expect: "intact", note });

  // --- encodings ---
  {
    const s = awsSecret();
    const enc = L.b64(`aws_access_key_id = ${awsId()}\naws_secret_access_key = ${s}\n`);
    r(
      "encoded-base64",
      `Restored credentials blob from backup (base64): ${enc}`,
      enc,
      "an AWS credentials file, base64-encoded",
    );
  }
  {
    const t = gh();
    const enc = L.b64(t);
    r("encoded-base64", `ci.token_b64: "${enc}"`, enc, "a GitHub token, base64-encoded under a neutral key");
  }
  {
    const t = openai();
    const enc = L.hex(t);
    r("encoded-hex", `debug dump key bytes: ${enc}`, enc, "an OpenAI key, hex-encoded");
  }
  {
    const t = stripe();
    const enc = L.jsonU(t.slice(0, 8)) + t.slice(8);
    r(
      "encoded-json-escape",
      `{"billing": {"stripe_secret": "${enc}"}}`,
      enc,
      "a Stripe key whose prefix is written as \\u escapes in JSON text",
    );
  }
  {
    const s = pick(ALNUM, 18) + "/" + pick(ALNUM, 21);
    const sent = s.replace("/", "\\/");
    r(
      "encoded-json-escape",
      `{"AWS_SECRET_ACCESS_KEY":"${sent}","region":"eu-west-1"}`,
      sent,
      "an AWS secret with its slash JSON-escaped (\\/)",
    );
  }
  {
    const t = stripe();
    const enc = L.htmlHex(t.slice(0, 12)) + t.slice(12);
    r(
      "encoded-html-entity",
      `<input type="hidden" name="sk" value="${enc}">`,
      enc,
      "a Stripe key whose first characters are HTML hex entities",
    );
  }
  {
    const t = gh();
    const enc = L.htmlDec(t);
    r(
      "encoded-html-entity",
      `<meta name="deploy-token" content="${enc}">`,
      enc,
      "a GitHub token entirely as decimal HTML entities",
    );
  }
  {
    const t = gh();
    const enc = L.pctAll(t.slice(0, 4)) + t.slice(4);
    r(
      "encoded-url",
      `GET /api/v1/repos?access=${enc}&page=2 HTTP/1.1`,
      enc,
      "a GitHub token with its prefix percent-encoded in a query string",
    );
  }
  {
    const pw = "Zq8" + pick(ALNUM, 9) + "!x" + pick(ALNUM, 4);
    const enc = encodeURIComponent(pw).replace(/!/g, "%21");
    r(
      "encoded-url",
      `redirect: https://login.example.com/cb?user=ops&password=${enc}`,
      enc,
      "a password percent-encoded in a callback URL",
    );
  }
  {
    const inner = L.b64(`DB_PASSWORD=${pick(ALNUM, 20)}`);
    const enc = L.b64(inner);
    r("encoded-base64-double", `payload=${enc}`, enc, "a .env line base64-encoded twice");
  }
  {
    const t = anthropic();
    const enc = L.b64(t);
    r(
      "encoded-base64",
      `{"kind":"Secret","data":{"apiKey":"${enc}"}}`,
      enc,
      "an Anthropic key as a Kubernetes Secret data value (base64)",
    );
  }
  // --- reversed / dashed ---
  {
    const t = gh();
    r(
      "reversed",
      `stored reversed so scanners miss it: ${L.rev(t)}`,
      L.rev(t),
      "a GitHub token written backwards",
    );
  }
  {
    const id = awsId();
    r(
      "reversed",
      `DI_YEK_SSECCA_SWA=${L.rev(id)}`,
      L.rev(id),
      "an AWS key id and its variable name written backwards",
    );
  }
  {
    const id = awsId();
    const dashed = L.every(id, 4, "-");
    r(
      "dashed",
      `Access key (for the record): ${dashed}`,
      dashed,
      "an AWS access key id with dashes every four characters",
    );
  }
  {
    const t = gh();
    const dashed = L.every(t, 1, "-");
    r("dashed", `token = ${dashed}`, dashed, "a GitHub token with a dash between every character");
  }
  // --- homoglyphs ---
  {
    const id = "АKIА" + pick(B32, 16);
    r("homoglyph-cyrillic", `aws_access_key_id = ${id}`, id, "AKIA written with Cyrillic А (U+0410)");
  }
  {
    const t = "ѕk_lіvе_" + pick(ALNUM, 32);
    r("homoglyph-cyrillic", `STRIPE_KEY=${t}`, t, "sk_live_ with Cyrillic ѕ, і, е");
  }
  {
    const t = L.fullwidth(gh());
    r("homoglyph-fullwidth", `ｔｏｋｅｎ：${t}`, t, "a GitHub token in full-width forms (NFKC folds it)");
  }
  {
    const e = L.fullwidth("john.smith@example.com");
    r("homoglyph-fullwidth", `連絡先：${e}`, e, "a full-width e-mail address");
  }
  {
    const t = L.mathMono(gh());
    r("homoglyph-math", `key: ${t}`, t, "a GitHub token in mathematical monospace letters");
  }
  {
    const c = L.card("4", 16);
    const m = L.mathBold(L.every(c, 4, " "));
    r("homoglyph-math", `Card on file: ${m}`, m, "a Luhn-valid card in mathematical bold digits");
  }
  {
    const t = "ghр_" + pick(ALNUM, 36);
    r("homoglyph-cyrillic", `export GH_TOKEN=${t}`, t, "ghp_ with Cyrillic р (U+0440)");
  }
  // --- split ---
  {
    const t = gh();
    const [a, b] = [t.slice(0, 20), t.slice(20)];
    r("split-newline", `token part 1: ${a}\n${b}`, [a, b], "a GitHub token broken across two lines");
  }
  {
    const t = anthropic();
    const [a, b] = [t.slice(0, 50), t.slice(50)];
    r("split-space", `ANTHROPIC_API_KEY=${a} ${b}`, [a, b], "an Anthropic key split by a space");
  }
  {
    const t = openai();
    const zw = L.every(t, 8, "\u200b");
    r(
      "split-zero-width",
      `OPENAI_API_KEY=${zw}`,
      zw,
      "an OpenAI key with zero-width spaces every 8 characters",
    );
  }
  {
    const c = L.card("5", 16);
    const zw = L.every(c, 4, "\u200d");
    r(
      "split-zero-width",
      `payment card ${zw} exp 11/28`,
      zw,
      "a card with zero-width joiners between groups",
    );
  }
  {
    const id = awsId();
    const s = awsSecret();
    const [a, b] = [s.slice(0, 20), s.slice(20)];
    r(
      "split-newline",
      `aws_access_key_id=${id}\naws_secret_access_key=${a}\\\n${b}`,
      [id, a, b],
      "an AWS secret continued on the next line with a backslash",
    );
  }
  // --- cards ---
  {
    const c = L.card("4", 16);
    const d = L.every(c, 4, ".");
    r("card-dots", `Visa ${d}, CVV 412`, d, "a card with dots");
  }
  {
    const c = L.card("4", 16);
    const d = `${c.slice(0, 5)} ${c.slice(5, 10)} ${c.slice(10)}`;
    r("card-spacing", `cc: ${d}`, d, "a card grouped 5-5-6");
  }
  {
    const c = L.card("5", 16);
    const [a, b] = [c.slice(0, 4) + " " + c.slice(4, 8), c.slice(8, 12) + " " + c.slice(12)];
    r("card-lines", `Card number: ${a}\n             ${b}\nExpiry: 04/27`, [a, b], "a card across two lines");
  }
  {
    const c = L.card("4", 16);
    r(
      "card-json-number",
      { order: 88213, card: Number(c), exp: "09/29", name: "J. Smith" },
      c,
      "a card as a JSON number (structuredContent and its text)",
    );
  }
  {
    const c = L.card("37", 15);
    const d = `${c.slice(0, 4)} ${c.slice(4, 10)} ${c.slice(10)}`;
    r("card-amex", `AMEX ${d}`, d, "an American Express number 4-6-5");
  }
  {
    const c = L.card("6011", 16);
    const d = L.every(c, 4, "/");
    r("card-slashes", `PAN=${d}`, d, "a Discover card with slashes");
  }
  {
    const c = L.card("4", 16);
    r("card-json-key", { [c]: { holder: "M. Rossi", exp: "03/28" } }, c, "a card as an object key");
  }
  // --- SSN ---
  {
    const s = "512" + "38" + "4071";
    r("ssn-nodash", `Employee SSN: ${s}`, s, "an SSN without dashes");
  }
  {
    const s = "536 82 1947";
    r("ssn-spaces", `social security no. ${s}`, s, "an SSN with spaces");
  }
  {
    const s = "478.21.6390";
    r("ssn-dots", `ssn=${s};dob=1984-02-11`, s, "an SSN with dots");
  }
  r("ssn-json", { employee: "Dana Cole", ssn: "601224518" }, "601224518", "an SSN without dashes in JSON");
  // --- phones ---
  r("phone-us", "Call me back at (415) 682-3907 after 5pm.", "(415) 682-3907", "US national format");
  r("phone-us", "mobile: 415.682.3917", "415.682.3917", "US with dots");
  r("phone-uk", "Ring the site manager on 07700 900461.", "07700 900461", "UK mobile, national");
  r("phone-de", "Telefon: 0151 23456789 (mobil)", "0151 23456789", "German mobile, national");
  r("phone-fr", "Tél. : 06 12 34 56 78", "06 12 34 56 78", "French mobile, national");
  r("phone-jp", "携帯：090-1234-5678", "090-1234-5678", "Japanese mobile, national");
  r("phone-in", "WhatsApp 98765 43210 for the invoice", "98765 43210", "Indian mobile, national");
  r("phone-br", "Contato: (11) 98765-4321", "(11) 98765-4321", "Brazilian mobile, national");
  r("phone-cn", "联系电话：138 0013 8000", "138 0013 8000", "Chinese mobile with spaces");
  r("phone-au", "Call 0412 345 678 to confirm.", "0412 345 678", "Australian mobile, national");
  r("phone-intl-00", "Fax 0049 30 9018 2377", "0049 30 9018 2377", "international with 00 prefix");
  r("phone-mx", "Cel: 55 1234 5678 (CDMX)", "55 1234 5678", "Mexican mobile, national");
  // --- e-mails ---
  r(
    "email-obfuscated",
    "Write to john.doe [at] example [dot] com for access.",
    "john.doe [at] example [dot] com",
    "[at] [dot]",
  );
  r("email-obfuscated", "contact: alice(at)corp-mail.example.org", "alice(at)corp-mail.example.org", "(at)");
  r(
    "email-obfuscated",
    "reach bob dot martin at example dot net",
    "bob dot martin at example dot net",
    "spelled out",
  );
  r("email-obfuscated", "Owner: carol＠example.com", "carol＠example.com", "full-width at sign");
  r(
    "email-encoded",
    '<a href="mailto:dave%40example.com">mail</a>',
    "dave%40example.com",
    "percent-encoded at sign",
  );
  r("email-encoded", "erin&#64;example.com", "erin&#64;example.com", "HTML entity at sign");
  r(
    "email-encoded",
    '{"owner":"frank\\u0040example.com"}',
    "frank\\u0040example.com",
    "JSON-escaped at sign",
  );
  r("email-homoglyph", "Reply to grace@exаmple.com", "grace@exаmple.com", "Cyrillic а in the domain");
  // --- authorization headers ---
  {
    const t = opaque(40);
    r(
      "auth-bearer",
      `curl -H "Authorization: Bearer ${t}" https://api.example.com/v2/me`,
      t,
      "opaque bearer token, no known prefix",
    );
  }
  {
    const t = pick(B64URL, 28) + "." + pick(B64URL, 16);
    r(
      "auth-bearer",
      `> authorization: bearer ${t}\n> accept: */*`,
      t,
      "lower-case header, opaque token with a dot",
    );
  }
  {
    const t = L.b64(`svc-deploy:${pick(ALNUM, 16)}`);
    r("auth-basic", `Authorization: Basic ${t}`, t, "basic credentials");
  }
  {
    const t = pick(HEX, 32);
    r("auth-apikey-header", `X-API-Key: ${t}\nContent-Type: application/json`, t, "opaque API key header");
  }
  {
    const t = pick(B64URL, 48);
    r("auth-cookie", `Cookie: theme=dark; session_id=${t}; lang=en`, t, "session cookie");
  }
  {
    const t = opaque(36);
    r("auth-bearer", `Proxy-Authorization: Bearer ${t}`, t, "proxy credentials");
  }
  {
    const t = opaque(40);
    r(
      "auth-fragment",
      `Redirected to https://app.example.com/callback#access_token=${t}&token_type=Bearer&expires_in=3600`,
      t,
      "OAuth implicit token in a URL fragment",
    );
  }
  // --- cloud keys in prose ---
  {
    const s = awsSecret();
    r(
      "cloud-prose",
      `The deploy user's AWS secret is ${s} and it should be rotated next week.`,
      s,
      "AWS secret in a sentence, no key=value",
    );
  }
  {
    const k = pick(B64, 86) + "==";
    r(
      "cloud-azure",
      `DefaultEndpointsProtocol=https;AccountName=acmedata;AccountKey=${k};EndpointSuffix=core.windows.net`,
      k,
      "Azure storage connection string",
    );
  }
  {
    const k = pick(ALNUM, 3) + "8Q~" + pick(ALNUM + "_-.~", 34);
    r(
      "cloud-azure",
      `App registration created. Client secret value (copy it now): ${k}`,
      k,
      "Azure client secret in prose",
    );
  }
  {
    const s = awsSecret();
    r(
      "cloud-yaml",
      `storage:\n  s3:\n    accessKey: ${awsId()}\n    secretKey: ${s}\n`,
      s,
      "AWS secret under secretKey (not aws_secret_access_key)",
    );
  }
  {
    const pem = L.rsaPem();
    const line = L.pemLine(pem, 5);
    r(
      "cloud-gcp-json",
      {
        type: "service_account",
        project_id: "acme-prod",
        private_key_id: pick(HEX, 40),
        private_key: pem,
        client_email: "deployer@acme-prod.iam.gserviceaccount.com",
      },
      line,
      "GCP service-account JSON: PEM with escaped newlines in the text",
    );
  }
  // --- passwords in connection URLs ---
  r(
    "conn-url",
    "DATABASE_URL=postgres://app_user:Xk9vLq2mZ7tR@db.prod.internal:5432/orders",
    "Xk9vLq2mZ7tR",
    "postgres URL",
  );
  r(
    "conn-url",
    "mongodb+srv://admin:N7yQp4tW2sRzE1@cluster0.ab1cd.mongodb.net/test?retryWrites=true",
    "N7yQp4tW2sRzE1",
    "MongoDB SRV URL",
  );
  r(
    "conn-url",
    "cache: redis://:f8d7Gh2kLmN0pQ4@cache.internal:6379/0",
    "f8d7Gh2kLmN0pQ4",
    "redis URL with only a password",
  );
  r("conn-url", "amqp://worker:Wq3r8Yt5Ui2o@rabbit:5672/vhost", "Wq3r8Yt5Ui2o", "AMQP URL");
  {
    const t = gh();
    r(
      "conn-url",
      `git remote set-url origin https://deploy:${t}@github.com/acme/app.git`,
      t,
      "token as the password of a git remote",
    );
  }
  r(
    "conn-url",
    "jdbc:postgresql://db:5432/app?user=svc&password=Lp9zX3qW7eRt",
    "Lp9zX3qW7eRt",
    "JDBC with a password parameter",
  );
  r(
    "conn-url",
    "Server=tcp:sql.example.net,1433;Database=app;User ID=sa;Password=V3rySecretPw2024x;Encrypt=true",
    "V3rySecretPw2024x",
    ".NET connection string",
  );
  // --- private keys ---
  {
    const pem = L.rsaPem();
    r(
      "private-key",
      `Here is the key you asked for:\n${pem}`,
      [L.pemLine(pem, 1), L.pemLine(pem, 10)],
      "RSA PKCS#8 PEM",
    );
  }
  {
    const body = Array.from({ length: 6 }, () => pick(B64, 70)).join("\n");
    const pem = `-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n${body}\n-----END OPENSSH PRIVATE KEY-----\n`;
    r("private-key", `$ cat ~/.ssh/id_ed25519\n${pem}`, body.split("\n")[2], "OpenSSH private key");
  }
  {
    const pem = L.ecPem();
    r("private-key", pem, L.pemLine(pem, 1), "EC private key (SEC1)");
  }
  {
    const pem = L.ed25519Pem().replace(/\n/g, "\r\n");
    r("private-key", `key.pem:\r\n${pem}`, pem.split("\r\n")[1], "Ed25519 PEM with CRLF line ends");
  }
  {
    const pem = L.rsaPem();
    const quoted = pem
      .trimEnd()
      .split("\n")
      .map((l) => "> " + l)
      .join("\n");
    r(
      "private-key",
      `Quoting the ticket:\n${quoted}`,
      L.pemLine(pem, 3),
      "PEM quoted as a Markdown blockquote",
    );
  }
  {
    const der = L.ed25519Pem().split("\n")[1];
    r(
      "private-key",
      `signing key (base64 PKCS#8, no armour): ${der}`,
      der,
      "a private key without the BEGIN/END lines",
    );
  }
  // --- JWTs ---
  {
    const t = jwt({ sub: "u_4821", email_verified: true, iat: 1733560000, exp: 1733563600 });
    r("jwt", `Session restored with ${t}`, t, "plain JWT");
  }
  {
    const t = jwt({ sub: "svc-report", scope: "admin", iat: 1733560000 }, "RS256");
    r("jwt", `https://app.example.com/export?access_token=${t}&fmt=csv`, t, "JWT in a query string");
  }
  {
    const t = jwt({ sub: "42", role: "owner" });
    const [h, p, s] = t.split(".");
    r("jwt-split", `id_token:\n  ${h}\n  .${p}\n  .${s}`, [p, s], "JWT broken at its dots across lines");
  }
  {
    const t =
      L.b64url('{"alg":"none","typ":"JWT"}') + "." + L.b64url('{"sub":"admin","iat":1733560000}') + ".";
    r("jwt", `unsigned token: ${t}`, t.slice(0, -1), "an unsigned JWT (alg none, empty signature)");
  }
  // --- generic assignments ---
  r("generic", "DATABASE_PASSWORD=pX7kq2Lm9zQ4wE", "pX7kq2Lm9zQ4wE", ".env line");
  {
    const k = pick(HEX, 32);
    r("generic", `api-key: ${k}`, k, "dashed key name in YAML");
  }
  r("generic-multilingual", "Passwort: Sommer2024!Xq9", "Sommer2024!Xq9", "German key name");
  r("generic-multilingual", "contraseña: Rk7!mQ2pZx9v", "Rk7!mQ2pZx9v", "Spanish key name");
  r("generic-multilingual", "数据库密码：Hn3vT8qLw2Zp", "Hn3vT8qLw2Zp", "Chinese key name, full-width colon");
  r("generic-multilingual", "пароль от сервера: Gf5tY7uJ9kLq", "Gf5tY7uJ9kLq", "Russian key name");
  r(
    "generic",
    "mysql -u root -pT7rQ2xW9zLm4 -h 10.0.0.5 app",
    "T7rQ2xW9zLm4",
    "password glued to -p on a command line",
  );
  // --- other vendors ---
  {
    const t = "npm_" + pick(ALNUM, 36);
    r("vendor", `//registry.npmjs.org/:_authToken=${t}`, t, "npm token in .npmrc");
  }
  {
    const t = "glpat-" + pick(B64URL, 20);
    r("vendor", `GITLAB_TOKEN=${t}`, t, "GitLab personal access token");
  }
  {
    const t = "hf_" + pick(ALNUM, 34);
    r("vendor", `huggingface-cli login --token ${t}`, t, "Hugging Face token");
  }
  {
    const t = "SG." + pick(B64URL, 22) + "." + pick(B64URL, 43);
    r("vendor", `sendgrid key ${t}`, t, "SendGrid key");
  }
  {
    const t = `https://hooks.slack.com/services/T${pick(B32, 8)}/B${pick(B32, 10)}/${pick(ALNUM, 24)}`;
    r("vendor", `alerts go to ${t}`, t.split("/").pop(), "Slack webhook");
  }
  {
    const t = "rk_live_" + pick(ALNUM, 40);
    r("vendor", `restricted: ${t}`, t, "Stripe restricted key");
  }
  {
    const t = "AIza" + pick(B64URL, 35);
    r(
      "vendor",
      `<script src="https://maps.googleapis.com/maps/api/js?key=${t}&callback=init"></script>`,
      t,
      "Google API key in a script URL",
    );
  }
  {
    const i = L.iban("DE", "37040044" + digits(10));
    const spaced = L.every(i.toLowerCase(), 4, " ");
    r("iban", `iban: ${spaced}`, spaced, "lower-case IBAN with spaces");
  }
  {
    const i = L.iban("FR", "30006000011234567890" + "189");
    const dashed = L.every(i, 4, "-");
    r("iban", `Virement sur ${dashed}`, dashed, "IBAN with dashes");
  }
  {
    const id = L.cnId("110105", "19880412", "273");
    const spaced = `${id.slice(0, 6)} ${id.slice(6, 14)} ${id.slice(14)}`;
    r("cn-id", `身份证号：${spaced}`, spaced, "Chinese resident id with spaces");
  }
  {
    const t = gh();
    r(
      "json-key",
      { [t]: { owner: "ci-bot", scopes: ["repo"] } },
      t,
      "a token as an object key in structured content",
    );
  }

  // ---------------- benign ----------------
  ok(
    "uuid",
    "Created jobs: 3f2b8c1e-9d4a-4f6e-a1b2-7c8d9e0f1a2b, 0b9e7f3c-5a21-4c8d-9e6f-1a2b3c4d5e6f, e4d3c2b1-a0f9-48e7-b6d5-c4b3a2918070",
    "UUIDs",
  );
  ok(
    "git",
    "commit 9fceb02d0ae598e95dc970b74767f19372d61af8\nAuthor: CI <ci@localhost>\nDate:   Mon Dec 2 10:14:07 2024 +0000\n\n    fix flaky test\n\ncommit e83c5163316f89bfbde7d9ab23ca2e25604af290\nMerge: 1a410ef 4b825dc",
    "git log with full hashes (and a bot address on localhost)",
  );
  ok(
    "sha256",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  empty.txt\n9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  test.txt\n2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae  foo.txt",
    "sha256sum output",
  );
  ok(
    "base64-image",
    "![icon](data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==)",
    "a 1x1 PNG data URI",
  );
  {
    const blob = pick(B64, 400);
    ok(
      "base64-image",
      `{"mimeType":"image/jpeg","data":"/9j/4AAQSkZJRgABAQ${blob}"}`,
      "a JPEG thumbnail as base64 (random-looking body)",
    );
  }
  ok(
    "timestamps",
    "2024-11-30T23:59:59.999Z start=1733011199999 end=1733097599000 took 86400001ms",
    "ISO and epoch-millisecond timestamps",
  );
  {
    const n = L.notCard("4", 16);
    ok(
      "order-number",
      `Order #${n} shipped; invoice INV-2024-000183 (ref ${L.every(L.notCard("5", 16), 4, " ")})`,
      "16-digit order numbers that fail Luhn",
    );
  }
  ok(
    "code",
    'import os\n\ndef connect():\n    password = os.environ["DB_PASSWORD"]\n    token = get_token(scope="read")\n    return Client(user="app", password=password, token=token)\n',
    "code that names credentials without values",
  );
  ok(
    "placeholders",
    "api_key: ${API_KEY}\npassword: <your-password-here>\ntoken: xxxxxxxxxxxxxxxxxxxxxxxx\nsecret: changeme",
    "placeholders",
  );
  ok(
    "logs",
    '203.0.113.42 - - [07/Dec/2024:10:22:31 +0000] "GET /api/items?page=3 HTTP/1.1" 200 5120 "-" "Mozilla/5.0" rt=0.012 req_id=4b2d9a7e1f3c4a5b8c9d0e1f2a3b4c5d',
    "nginx access log",
  );
  ok(
    "json",
    '{"id":184467,"items":[{"sku":"AB-1029","qty":3,"price":19.99}],"checksum":"a94a8fe5ccb19ba61c4c0873d391e987982fbbd3","created":"2024-12-01T08:00:00Z"}',
    "JSON API response",
  );
  ok(
    "prose-de",
    "Die Sitzung wurde am 3. Dezember um 14:30 Uhr eröffnet. Der Haushalt für 2025 beträgt 1.250.000 Euro; die Abstimmung ergab 42 zu 17 Stimmen.",
    "German prose with numbers",
  );
  ok(
    "prose-ja",
    "本日の会議では、第3四半期の売上（前年比12.5%増）と新製品の発売日程について話し合いました。次回は12月14日です。",
    "Japanese prose",
  );
  ok(
    "prose-ar",
    "عقد المجلس اجتماعه الثالث يوم الأحد، وناقش ميزانية العام المقبل البالغة ٤٥٠ مليون، وتقرر تأجيل التصويت إلى الأسبوع القادم.",
    "Arabic prose with Arabic-Indic digits",
  );
  ok(
    "prose-hi",
    "इस वर्ष मानसून सामान्य से 8 प्रतिशत अधिक रहा, जिससे खरीफ़ फ़सलों की बुवाई 1,090 लाख हेक्टेयर तक पहुँच गई।",
    "Hindi prose",
  );
  ok(
    "prose-ru",
    "Совещание перенесено на 15:00. Пожалуйста, подготовьте отчёт за ноябрь и таблицу с показателями по регионам.",
    "Russian prose",
  );
  ok(
    "prose-es",
    "La biblioteca abre de lunes a viernes de 9:00 a 20:00. El préstamo máximo es de 15 días y se puede renovar dos veces.",
    "Spanish prose",
  );
  ok(
    "prose-zh",
    "本季度共完成订单 12,480 笔，同比增长 18%。请各部门在 12 月 20 日前提交预算。",
    "Chinese prose with numbers",
  );
  ok(
    "versions",
    "node v20.11.1, npm 10.2.4, openssl 3.0.13+quic, kernel 6.1.0-27-amd64, chrome 131.0.6778.85",
    "version strings",
  );
  ok(
    "ips-docs",
    "Set the gateway to 192.168.1.1, the DNS to 10.0.0.53 and allow 172.16.0.0/12; IPv6 docs prefix is 2001:db8::/32 (e.g. 2001:db8::1).",
    "IP addresses in documentation",
  );
  ok(
    "digests",
    "image: ghcr.io/acme/api@sha256:4a5b6c7d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a7b8c9d\nintegrity: sha512-5U3OZh8Xq0Li4nA26l6uNvV9/1suMDuWSn+NjLZIhzinhMY6N3A4DCrxVecBGPf2PsNFKTEv5krxGPRwzxc7jQ==",
    "container digest and npm integrity",
  );
  ok(
    "product-codes",
    "ISBN 978-3-16-148410-0, EAN 4006381333931, UPC 036000291452, tracking 1Z999AA10123456784",
    "ISBN, EAN, UPC and tracking numbers",
  );
  ok(
    "build-numbers",
    "build 20241207.3 on runner 4471, artifact v2024.12.07-1530, pipeline #918273645",
    "build and pipeline numbers",
  );
  ok("geo", "HQ: 94105-1234, coordinates 37.7749, -122.4194; elevation 16 m", "ZIP+4 and coordinates");
  ok(
    "metrics",
    "bytes_in,bytes_out,requests\n1048576000,2147483648,9876543210\n1073741824,4294967296,1234567890",
    "counters in a CSV",
  );
  ok(
    "ssn-invalid",
    "Test fixtures use 000-12-3456 and 666-45-6789, which the SSA never issues.",
    "invalid SSN areas",
  );
  ok(
    "email-like",
    "npm i @types/node@20.11.5 @babel/core@7.26.0 && git clone git@github.com:acme/app.git",
    "package specs and an SSH remote",
  );
  ok(
    "aws-example",
    "From the AWS docs: AKIAIOSFODNN7EXAMPLE / wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS documentation example keys",
  );
  ok(
    "public-key",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl deploy@ci",
    "an SSH public key",
  );
  {
    const body = Array.from({ length: 5 }, () => pick(B64, 64)).join("\n");
    ok(
      "certificate",
      `-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJ\n${body}\n-----END CERTIFICATE-----`,
      "a certificate (public)",
    );
  }
  ok(
    "k8s",
    "env:\n  - name: DB_PASSWORD\n    valueFrom:\n      secretKeyRef:\n        name: db-credentials\n        key: password",
    "Kubernetes secret references without values",
  );
  ok(
    "hexdump",
    "00000000: 7f45 4c46 0201 0100 0000 0000 0000 0000  .ELF............\n00000010: 0300 3e00 0100 0000 6010 0000 0000 0000  ..>.....`.......",
    "xxd output",
  );
  ok("pi", "π ≈ 3.14159265358979323846264338327950288419716939937510582097494459", "digits of pi");
  ok(
    "windows-sid",
    "Event 4624: Account S-1-5-21-3623811015-3361044348-30300820-1013 logged on; Logon GUID {6F9619FF-8B86-D011-B42D-00C04FC964FF}",
    "Windows SIDs and GUIDs",
  );
  ok(
    "ids",
    "ulid=01HZX3K4Q8V5N2M7B9C6D1E0FA ksuid=2K9fPQ1xTzLmWcR8aY5bN3vH0jE nanoid=V1StGXR8_Z5jdHi6B-myT",
    "random-looking identifiers without key names",
  );
  ok(
    "password-prose",
    "Reset your password from the settings page. Passwords must be at least 12 characters and may not reuse the last five.",
    "the word password in prose",
  );
  ok(
    "auth-placeholder",
    'curl -H "Authorization: Bearer $TOKEN" -H "X-API-Key: <your key>" https://api.example.com/v1/items',
    "an Authorization header with a variable and a placeholder",
  );
  ok(
    "population",
    "Population: 1 234 567 (2023 census); area 2 345,6 km²; density 526,4/km²",
    "numbers with thin-space grouping",
  );
  ok(
    "base64-text",
    `build note (base64): ${L.b64("Build 4471 passed all 312 tests on main.")}`,
    "base64 of a harmless sentence",
  );
  ok(
    "markdown-table",
    "| package | version | commit |\n|---|---|---|\n| core | 2.14.0-rc.1 | 1a410ef |\n| cli | 2.13.9 | 4b825dc |",
    "a Markdown table of versions and short hashes",
  );
  ok(
    "phone-like",
    "Error 0x80070005 at offset 0x0012f4a8; retry in 30 s (attempt 3 of 5), exit code 137",
    "hex error codes",
  );
  ok(
    "sql",
    "SELECT id, email_verified, password_hash IS NOT NULL AS has_pw FROM users WHERE created_at > '2024-01-01' LIMIT 50;",
    "SQL naming credential columns",
  );
  ok(
    "css",
    ".btn{color:#1a2b3c;background:#ffcc00;border:1px solid #a0b1c2}.hero{background-image:url(/img/hero@2x.webp)}",
    "CSS with hex colours",
  );
  ok(
    "regex",
    'CARD_RE = r"\\b(?:\\d[ -]?){13,19}\\b"  # matches 13-19 digits with optional separators',
    "a regex about cards",
  );
  ok(
    "prose-ko",
    "이번 분기 매출은 전년 대비 12% 증가했으며, 다음 회의는 12월 14일 오후 3시에 열립니다.",
    "Korean prose",
  );
  ok("dates", "Due: 07/12/2024 (EU) = 12/07/2024 (US); week 49; fiscal period 2024-P12", "date formats");
  ok(
    "utm",
    "https://shop.example.com/p/8812?utm_source=newsletter&utm_medium=email&utm_campaign=winter_sale_2024&ref=a1b2c3",
    "a marketing URL with tracking parameters",
  );
  ok(
    "video-ids",
    "Watch: https://www.youtube.com/watch?v=dQw4w9WgXcQ and https://youtu.be/9bZkp7q19f0",
    "video ids",
  );
  ok(
    "ipv6-log",
    "conn from 2001:db8:85a3::8a2e:370:7334 port 51234 -> [2001:db8::1]:443 established",
    "IPv6 addresses in a log",
  );
  ok(
    "lorem",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.",
    "lorem ipsum",
  );
  ok("semver", "peerDependencies: react ^18.2.0 || ^19.0.0; engines: node >=20.11 <23", "semver ranges");
  ok(
    "arn",
    "Assumed role arn:aws:iam::123456789012:role/Deploy in account 123456789012 (us-east-1)",
    "an AWS ARN with an account id",
  );
  ok(
    "headers",
    "HTTP/1.1 200 OK\nContent-Type: application/json\nX-Request-Id: 7f3c2a1e-4b5d-4e6f-8a9b-0c1d2e3f4a5b\nSet-Cookie: theme=dark; Path=/; SameSite=Lax\nCache-Control: no-store",
    "response headers without credentials",
  );
  ok(
    "pdf-base64",
    `{"name":"report.pdf","content":"JVBERi0xLjcKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFIvRmlsdGVyIC9GbGF0ZURlY29kZT4+CnN0cmVhbQp4nCvkMlAwUDC1NDU1MjA3NrM0sDQzMTY0MTC3NDc2MzA0M7MwsTQ0NjU1NzE1NbUxNDE1NTY0MjE2MjQ0Mzc3NjI0AwA"}`,
    "a base64 PDF attachment",
  );
  ok(
    "gpg",
    "pub   rsa4096 2021-03-14 [SC]\n      3AA5 C343 7E3A 1C2D 5F0E  9B8A 4C1D 2E3F 5A6B 7C8D\nuid           [ultimate] Release Signing Key",
    "a GPG key fingerprint",
  );
  ok(
    "tx-hash",
    "tx 0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060 confirmed in block 19283746",
    "a transaction hash and block number",
  );
  ok("mac", "eth0 ether 00:1a:2b:3c:4d:5e, wlan0 ether a4:83:e7:12:34:56", "MAC addresses");
  ok(
    "html-form",
    '<form method="post"><input type="email" name="email" autocomplete="username"><input type="password" name="password" minlength="12"></form>',
    "an HTML login form without values",
  );
  ok(
    "iban-invalid",
    "Example (checksum deliberately wrong, not an account): DE00 1234 5678 9012 3456 78",
    "an IBAN with a wrong checksum",
  );
  ok(
    "bin-table",
    "BIN 411111 = Visa test range; BIN 550000 = Mastercard; BIN 340000 = Amex (first six digits only)",
    "card BINs (six digits)",
  );
  ok(
    "prose-pt",
    "A reunião de condomínio será no dia 12, às 19h30, no salão de festas. Pauta: orçamento de 2025 e manutenção do elevador.",
    "Portuguese prose",
  );
  ok(
    "prose-tr",
    "Toplantı saat 14.00'te başlayacak; lütfen 2025 bütçe taslağını ve proje takvimini getirin.",
    "Turkish prose",
  );
  ok(
    "jwt-header-doc",
    'The JOSE header {"alg":"HS256"} encodes to eyJhbGciOiJIUzI1NiJ9 in base64url; the payload and signature follow after dots.',
    "documentation showing only an encoded JOSE header",
  );
  return items;
}
