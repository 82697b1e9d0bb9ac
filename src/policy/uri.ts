/**
 * Resource URIs in the form authorization matches them: RFC 3986 syntax-based normalisation
 * (section 6.2.2: case of scheme, host and percent-encodings, decoding of unreserved characters).
 * A URI whose path holds a dot segment in any form an upstream might decode (`..`, `%2e%2e`,
 * `.%2E`, a double encoding) is refused outright rather than resolved: a server that resolves it
 * on disk through a symlink, or decodes once more, would serve something other than what the
 * pattern matched. So is a separator only some servers see: a backslash, raw or encoded, and an
 * encoded slash (`private%2Fsecret` misses `private/*` and lands in `private/` upstream), and
 * their compatibility forms (`／`, `．．`), which a server that applies NFKC folds into them.
 * Clients never need to send either.
 */

export type UriVerdict =
  { readonly ok: true; readonly uri: string } | { readonly ok: false; readonly why: UriRefusal };

export type UriRefusal =
  | "dot_segment"
  | "bad_scheme"
  | "surrounding_space"
  | "hidden_separator"
  | "control_character"
  | "bad_percent_encoding"
  | "nul_byte";

// RFC 3986 appendix B: scheme, authority, path, query, fragment.
const PARTS = /^(?:([^:/?#]+):)?(?:\/\/([^/?#]*))?([^?#]*)(\?[^#]*)?(#.*)?$/s;
const PERCENT = /%([0-9A-Fa-f]{2})/g;
const BAD_PERCENT = /%(?![0-9A-Fa-f]{2})/;
// C0, DEL, C1 and Unicode's line separators: an upstream may cut, trim or split on them.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const UNRESERVED = /[A-Za-z0-9\-._~]/;
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*$/;
// A WHATWG URL parser strips these from both ends, and would then see a scheme the pattern did not.
const SURROUNDING_SPACE = /^\s|\s$/u;
/** How many times a segment is decoded looking for a hidden dot segment (double, triple encoding). */
const DECODE_ROUNDS = 4;

/** The URI as authorization compares it, or why it is refused. */
export function normalizeUri(uri: string): UriVerdict {
  if (CONTROL.test(uri)) return { ok: false, why: "control_character" };
  if (SURROUNDING_SPACE.test(uri)) return { ok: false, why: "surrounding_space" };
  if (BAD_PERCENT.test(uri)) return { ok: false, why: "bad_percent_encoding" };
  const text = decodeUnreserved(uri);
  const m = PARTS.exec(text);
  if (!m) return { ok: false, why: "bad_percent_encoding" };
  const [, scheme, authority, path = "", query = "", fragment = ""] = m;
  if (scheme !== undefined && !SCHEME.test(scheme)) return { ok: false, why: "bad_scheme" };
  // The query and fragment too: a server that strips `file://` and resolves the rest as a path
  // reads `x?/../../private` as `/private`. Separators there are ordinary (`?next=%2Fhome`).
  const hidden = hiddenSegment(path, true) ?? hiddenSegment(query + fragment, false);
  if (hidden) return { ok: false, why: hidden };
  let out = scheme === undefined ? "" : `${scheme.toLowerCase()}:`;
  if (authority !== undefined) out += `//${lowerHost(authority)}`;
  return { ok: true, uri: out + path + query + fragment };
}

/**
 * A config pattern put in the same form, so `FILE:///srv/%7Eann/*` and `file:///srv/~ann/*` are one
 * pattern. `*` is left alone; a pattern that is not a valid URI is kept as written.
 */
export function normalizePattern(pattern: string): string {
  if (BAD_PERCENT.test(pattern)) return pattern;
  const m = PARTS.exec(decodeUnreserved(pattern));
  if (!m) return pattern;
  const [, scheme, authority, path = "", query = "", fragment = ""] = m;
  let out = scheme === undefined ? "" : `${scheme.toLowerCase()}:`;
  if (authority !== undefined) out += `//${lowerHost(authority)}`;
  return out + path + query + fragment;
}

/** `%41` becomes `A`; any other escape keeps its meaning with upper-case hex digits. */
function decodeUnreserved(text: string): string {
  return text.replace(PERCENT, (_, hex: string) => {
    const ch = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
  });
}

/** The host (after any userinfo) is case-insensitive; userinfo and port are kept as written. */
function lowerHost(authority: string): string {
  const at = authority.lastIndexOf("@");
  return authority.slice(0, at + 1) + authority.slice(at + 1).toLowerCase();
}

/**
 * Whether the path, decoded as far as some upstream might, holds a `.` or `..` segment, a
 * backslash, a NUL, or a slash that was not one as written.
 */
function hiddenSegment(path: string, separators: boolean): UriRefusal | undefined {
  const slashes = count(path, "/");
  let layer = path;
  for (let round = 0; round <= DECODE_ROUNDS; round++) {
    // NFKC too: a server that folds compatibility forms reads `．．` as `..` and `／` as `/`.
    for (const view of [layer, layer.normalize("NFKC")]) {
      for (const segment of view.split(/[/\\]/))
        if (segment === "." || segment === "..") return "dot_segment";
      if (separators && (view.includes("\\") || count(view, "/") !== slashes)) return "hidden_separator";
    }
    if (layer.includes("\u0000")) return "nul_byte";
    if (!layer.includes("%")) return undefined;
    const next = decodeAll(layer);
    if (next === layer) return undefined;
    layer = next;
  }
  // Still encoded after every round: nothing a sane server decodes that often.
  return "bad_percent_encoding";
}

function count(text: string, ch: string): number {
  let n = 0;
  for (let i = text.indexOf(ch); i >= 0; i = text.indexOf(ch, i + 1)) n++;
  return n;
}

/** Decodes every escape that forms a byte; malformed UTF-8 sequences decode byte by byte. */
function decodeAll(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text.replace(PERCENT, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
  }
}
