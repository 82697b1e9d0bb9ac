/**
 * An upstream's scope challenge (RFC 6750 §3.1: 403 with `WWW-Authenticate: Bearer
 * error="insufficient_scope", scope="…"`) read strictly, and the scope lists a step-up asks for.
 * Everything here comes from a server: it is bounded, and a scope is kept only when it is an RFC
 * 6749 §3.3 scope-token (printable ASCII without space, `"` or `\`), so none carries a control
 * character or a quote anywhere, and URLSearchParams encodes the rest in an authorization URL.
 *
 * Not the SDK's `extractWWWAuthenticateParams`: it finds a parameter by a regex over the whole
 * header, so `xscope="admin"`, a `scope=` inside another parameter's quoted value or inside a
 * second (non-Bearer) challenge is read as the scope, and a parameter given twice is not noticed.
 * What a hostile server writes here decides what a user is asked to grant, so it is parsed as the
 * RFC 9110 grammar says, and anything outside it is no challenge at all.
 */

/** A challenge header longer than this is not read (undici refuses much past 16 KiB of headers anyway). */
const MAX_HEADER_CHARS = 8192;
/** At most this many scopes in one challenge, and in what one authorization request asks for. */
export const MAX_SCOPES = 64;
const MAX_SCOPE_CHARS = 256;
/** The joined `scope` parameter of an authorization request stays under this. */
const MAX_SCOPE_PARAM_CHARS = 4096;

/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
/** RFC 9110 §5.6.2 tchar. */
const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
/** RFC 9110 §5.6.4 qdtext and the characters a quoted-pair may escape (obs-text included). */
const QDTEXT = /[\t \x21\x23-\x5B\x5D-\x7E\x80-\xFF]/;
const QUOTABLE = /[\t \x21-\x7E\x80-\xFF]/;
/** RFC 9110 §11.2 token68 characters (its trailing "=" apart). */
const TOKEN68 = /[A-Za-z0-9\-._~+/]/;

/** What a 403's challenge says about scope: the scopes asked for, or why they cannot be used. */
export type ScopeChallenge = { readonly scopes: readonly string[] } | { readonly invalid: string };

/**
 * The `insufficient_scope` Bearer challenge in `header`, or undefined when there is none (a 403 for
 * another reason, or a header that does not parse as RFC 9110 challenges: no step-up from either).
 */
export function insufficientScope(header: string | null): ScopeChallenge | undefined {
  const bearer = bearerChallenge(header, (c) => c.params.get("error") === "insufficient_scope");
  if (!bearer) return undefined;
  const scope = bearer.params.get("scope");
  if (scope === undefined) return { invalid: "it names no scope" };
  if (scope.length > MAX_SCOPES * (MAX_SCOPE_CHARS + 1)) return { invalid: "its scope is too long" };
  const tokens = scope.split(" ").filter((s) => s !== "");
  if (tokens.length === 0) return { invalid: "it names no scope" };
  if (tokens.length > MAX_SCOPES) return { invalid: `it names more than ${MAX_SCOPES} scopes` };
  if (!tokens.every(isScopeToken)) return { invalid: "a scope in it is not an OAuth scope token" };
  return { scopes: [...new Set(tokens)] };
}

/**
 * The scopes a 401's Bearer challenge names (the first connect asks for them), read the same strict
 * way: only scope-tokens, bounded; none from a header outside the grammar.
 */
export function challengedScopes(header: string | null): string[] {
  return scopeList(bearerChallenge(header)?.params.get("scope")).slice(0, MAX_SCOPES);
}

/** The first Bearer challenge of a WWW-Authenticate header (that `also` holds), when it parses. */
function bearerChallenge(
  header: string | null,
  also: (c: Challenge) => boolean = () => true,
): Challenge | undefined {
  if (header === null) return undefined;
  return parseChallenges(header)?.find((c) => c.scheme === "bearer" && also(c));
}

export function isScopeToken(s: string): boolean {
  return s.length <= MAX_SCOPE_CHARS && SCOPE_TOKEN.test(s);
}

/** The scope tokens of a stored space-separated list (a token response's `scope`): others dropped. */
export function scopeList(text: string | undefined): string[] {
  if (!text) return [];
  const out: string[] = [];
  for (const s of text.slice(0, MAX_SCOPE_PARAM_CHARS * 4).split(" "))
    if (s !== "" && isScopeToken(s) && !out.includes(s) && out.length < MAX_SCOPES * 4) out.push(s);
  return out;
}

/**
 * The union of `lists` in first-seen order, or undefined when it would ask for more than one
 * authorization request carries (MAX_SCOPES, MAX_SCOPE_PARAM_CHARS). Invalid tokens are dropped.
 */
export function scopeUnion(...lists: readonly (readonly string[])[]): string[] | undefined {
  const seen = new Set<string>();
  let chars = 0;
  for (const list of lists)
    for (const s of list) {
      if (seen.has(s) || !isScopeToken(s)) continue;
      seen.add(s);
      chars += s.length + 1;
      if (seen.size > MAX_SCOPES || chars > MAX_SCOPE_PARAM_CHARS) return undefined;
    }
  return [...seen];
}

interface Challenge {
  /** Lower-cased auth-scheme. */
  readonly scheme: string;
  /** Parameter names lower-cased; values unquoted. */
  readonly params: Map<string, string>;
}

/**
 * RFC 9110 §11.6.1 challenges (`scheme token68` or `scheme name=value, …`, several per header),
 * or undefined for anything else: an unterminated quote, a character outside the grammar, a
 * parameter twice in one challenge, or a header past MAX_HEADER_CHARS.
 */
function parseChallenges(header: string): Challenge[] | undefined {
  if (header.length > MAX_HEADER_CHARS) return undefined;
  const out: Challenge[] = [];
  let current: Challenge | undefined;
  let i = 0;
  const n = header.length;
  const ows = () => {
    while (i < n && (header[i] === " " || header[i] === "\t")) i++;
  };
  const token = () => {
    const start = i;
    while (i < n && TCHAR.test(header[i] as string)) i++;
    return header.slice(start, i);
  };
  while (i < n) {
    ows();
    if (header[i] === ",") {
      i++;
      continue;
    }
    if (i >= n) break;
    const name = token();
    if (name === "") return undefined;
    ows();
    if (header[i] !== "=") {
      current = { scheme: name.toLowerCase(), params: new Map() };
      out.push(current);
      // A token68 (`Basic abc==`) after the scheme is skipped; what is followed by a value is the
      // challenge's first auth-param, read by the loop.
      const start = i;
      while (i < n && TOKEN68.test(header[i] as string)) i++;
      if (i > start) {
        while (header[i] === "=") i++;
        ows();
        if (i < n && header[i] !== ",") i = start;
      }
      continue;
    }
    i++; // "="
    ows();
    let value: string;
    if (header[i] === '"') {
      i++;
      let text = "";
      for (;;) {
        if (i >= n) return undefined;
        const c = header[i] as string;
        if (c === '"') break;
        if (c === "\\") {
          const next = header[i + 1];
          if (next === undefined || !QUOTABLE.test(next)) return undefined;
          text += next;
          i += 2;
          continue;
        }
        if (!QDTEXT.test(c)) return undefined;
        text += c;
        i++;
      }
      i++; // closing quote
      value = text;
    } else {
      value = token();
      if (value === "") return undefined;
    }
    const key = name.toLowerCase();
    if (!current || current.params.has(key)) return undefined;
    current.params.set(key, value);
    ows();
    if (i < n && header[i] !== ",") return undefined;
  }
  return out;
}
