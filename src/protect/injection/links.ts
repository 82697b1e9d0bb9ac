import { excerpt, matches, type Cue } from "./types.js";

/**
 * Links and images to outside hosts that carry data. An image is fetched by the client as soon
 * as it renders, so an image URL with data in it is exfiltration with no click; a link needs a
 * click or a fetch, so it only scores high when its placeholder names something secret.
 */
const MD_IMAGE = /!\[[^\]\n]{0,256}\]\(\s*(<?[^\s)>][^)\n]{0,2047})/g;
/** Elements a client fetches as it renders: images, media, frames, preloads, CSS backgrounds. */
const HTML_IMAGE =
  /<(?:img|image|source|video|audio|iframe|embed|object|link|input|track|body|table|td)\b[^>]{0,512}?\b(?:src|href|srcset|data|poster|xlink:href|background)\s*=\s*["']?([^"'\s>,]{1,2048})|\burl\(\s*["']?((?:https?:)?\/\/[^"'\s)]{1,2048})/gi;
/** `![alt][ref]` and its `[ref]: URL` definition. */
const MD_REF_IMAGE = /!\[[^\]\n]{0,256}\]\[([^\]\n]{1,64})\]/g;
const ANY_URL = /\bhttps?:\/\/[^\s<>"'`)\]]{1,2048}/gi;

const PLACEHOLDER =
  /\{[^}]{1,40}\}|\[[A-Z_ -]{2,40}\]|<[A-Za-z_ -]{2,40}>|\$\{?[A-Z_]{2,40}|%7B[^%]{1,40}%7D/;
const SECRET_WORD =
  /data|secret|key|token|password|passwd|conversation|history|chat|context|prompt|memory|summary|credential|env|info|message|content|cookie|session/i;
const LONG_DATA = /[A-Za-z0-9+/=_%-]{24,}/;
/** A query parameter whose name says it carries what the page should not send out. */
const SECRET_PARAM =
  /^(?:data|secret|pw|pass|password|passwd|conversation|convo|history|chat|context|prompt|memory|summary|credentials?|creds|env|info|msg|message|content|cookie|session|leak|exfil|payload|text|body|log)$/i;
/** Names that also carry harmless values (a badge's `?token=`, a search's `?q=`): only with a long value. */
const AMBIGUOUS_PARAM = /^(?:d|q|c|m|p|s|x|key|token)$/i;

/** Outside hosts only: relative URLs and allowed hosts (and their subdomains) are ours. */
function outsideUrl(raw: string, allowed: readonly string[]): URL | undefined {
  let url: URL;
  try {
    url = new URL(raw.startsWith("//") ? `https:${raw}` : raw);
  } catch {
    return undefined;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
  const host = url.hostname.toLowerCase();
  for (const a of allowed) {
    const h = a.toLowerCase();
    if (host === h || host.endsWith(`.${h}`)) return undefined;
  }
  return url;
}

interface Carried {
  readonly placeholder: boolean;
  readonly secretPlaceholder: boolean;
  readonly longData: boolean;
  readonly query: boolean;
  /** A query parameter named like a carrier (`?data=`, `?secret=`) with a value. */
  readonly secretParam: boolean;
}

function carried(raw: string, url: URL): Carried {
  const tail = raw.slice(raw.indexOf(url.host) + url.host.length);
  const p = PLACEHOLDER.exec(tail);
  const segments = url.pathname.split("/");
  const values = [...url.searchParams.values()];
  return {
    placeholder: p !== null,
    secretPlaceholder: p !== null && SECRET_WORD.test(p[0]),
    longData: values.some((v) => v.length >= 24 || LONG_DATA.test(v)) || segments.some((s) => s.length >= 48),
    query: url.search.length > 1,
    secretParam: [...url.searchParams].some(
      ([k, v]) => (v.length > 0 && SECRET_PARAM.test(k)) || (v.length >= 16 && AMBIGUOUS_PARAM.test(k)),
    ),
  };
}

/** The URL of each `[ref]: URL` definition a reference-style image uses. */
function referencedImages(text: string): Array<{ url: string; at: number }> {
  const out: Array<{ url: string; at: number }> = [];
  if (!text.includes("![")) return out;
  for (const m of matches(MD_REF_IMAGE, text)) {
    const label = m[1]!
      .trim()
      .toLowerCase()
      .replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const def = new RegExp(`^[ \\t]{0,3}\\[${label}\\]:[ \\t]*<?([^\\s>]{1,2048})`, "im").exec(text);
    if (def) out.push({ url: def[1]!, at: def.index + def[0].indexOf(def[1]!) });
  }
  return out;
}

export function linkCues(text: string, allowed: readonly string[]): Cue[] {
  const cues: Cue[] = [];
  const images = new Set<number>();
  const found: Array<{ raw: string; at: number }> = referencedImages(text).map((d) => ({
    raw: d.url,
    at: d.at,
  }));
  // What each pattern cannot match without ("![" for Markdown, "<" or "url(" for HTML, "://" for a
  // URL): a text without it is not scanned.
  const patterns = [
    text.includes("![") ? MD_IMAGE : undefined,
    text.includes("<") || text.includes("(") ? HTML_IMAGE : undefined,
  ];
  for (const re of patterns) {
    if (re === undefined) continue;
    for (const m of matches(re, text)) {
      // `![a](<url> "title")`: drop the title, and the angle brackets when the URL opened with one.
      const bare = (m[1] ?? m[2]!).replace(/\s+"[^"]*"\s*$/, "").trim();
      const raw = bare.startsWith("<") ? bare.slice(1).replace(/>$/, "") : bare;
      found.push({ raw, at: m.index + m[0].indexOf(raw) });
    }
  }
  for (const { raw, at } of found) {
    {
      images.add(at);
      const url = outsideUrl(raw, allowed);
      if (url === undefined) continue;
      const c = carried(raw, url);
      const weight = c.placeholder || c.longData || c.secretParam ? 1 : c.query ? 0.4 : 0;
      if (weight > 0) {
        cues.push({
          kind: "exfil_link",
          rule: weight === 1 ? "link.image_data" : "link.image_query",
          weight,
          detail: `image to ${url.hostname.slice(0, 40)} carrying ${c.placeholder ? "a placeholder" : "data"}`,
          offset: at,
        });
      }
    }
  }
  for (const m of text.includes("://") ? matches(ANY_URL, text, 64) : []) {
    if (images.has(m.index)) continue;
    const url = outsideUrl(m[0], allowed);
    if (url === undefined) continue;
    const c = carried(m[0], url);
    const weight = c.secretPlaceholder ? 1 : c.placeholder ? 0.6 : c.secretParam ? 0.4 : c.longData ? 0.3 : 0;
    if (weight > 0) {
      cues.push({
        kind: "exfil_link",
        rule: c.secretPlaceholder
          ? "link.secret_placeholder"
          : c.placeholder
            ? "link.placeholder"
            : "link.data",
        weight,
        detail: `link to ${url.hostname.slice(0, 40)}: ${excerpt(m[0], 40)}`,
        offset: m.index,
      });
    }
  }
  return cues;
}
