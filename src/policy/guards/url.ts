import { lookup } from "node:dns/promises";
import {
  canonicalAddress,
  classifyAddress,
  compileExemptions,
  isValidCidr,
  parseAddress,
  type AddressClass,
} from "./ip.js";
import {
  ALLOWED,
  CONTROL_CHARS,
  denied,
  GuardConfigError,
  MAX_VALUE_LENGTH,
  type GuardDecision,
} from "./types.js";

export interface UrlGuardOptions {
  /**
   * Host names allowed: `example.com` exactly, `*.example.com` any name below it (any depth, not
   * `example.com` itself), an IP literal exactly (IP literals are allowed only when listed), or `*`
   * alone: any host name and any IP literal. In every case the addresses must be public.
   */
  readonly allowedDomains: readonly string[];
  /**
   * CIDRs whose addresses are allowed although not public (an internal service at 10.1.2.3, say).
   * Cloud metadata addresses are refused even inside them.
   */
  readonly allowNetworks?: readonly string[];
  /** Resolves a host name to its addresses; default: `dns.lookup` with `all: true` (what the upstream's OS sees). */
  readonly resolve?: (host: string) => Promise<readonly string[]>;
  /** A resolution slower than this is a denial (default 2000 ms). */
  readonly resolveTimeoutMs?: number;
  /**
   * `false`: judge the URL as written, never resolving its host (for URLs someone else opens, such
   * as an elicitation's: a lookup would let whoever chose the name see the gateway ask, and the
   * answer is the gateway's, not the opener's). IP literals are judged as usual; a host name must be
   * allowed, and one allowed only through `*` must not be internal by convention (below). Default true.
   */
  readonly resolveHosts?: boolean;
}

export interface UrlGuard {
  /** Allowed only for an http(s) URL on an allowed host whose every address is public (or exempted). */
  check(value: string): Promise<GuardDecision>;
}

/** Names of metadata services, refused whatever they resolve to. */
const METADATA_HOSTS = new Set([
  "metadata",
  "metadata.google.internal",
  "metadata.goog",
  "metadata.azure.internal",
  "instance-data",
  "instance-data.ec2.internal",
  "metadata.tencentyun.com",
  "metadata.platformequinix.com",
]);

/**
 * Names that point inside a network by convention, refused without resolution unless listed in
 * `allowedDomains` by name: single labels (completed by search domains) and these suffixes
 * (RFC 6762 mDNS and its appendix G, RFC 8375, ICANN's `.internal`).
 */
const INTERNAL_SUFFIXES = [
  ".local",
  ".internal",
  ".intranet",
  ".private",
  ".corp",
  ".home",
  ".lan",
  ".localdomain",
  ".home.arpa",
];
const internalByConvention = (name: string) =>
  !name.includes(".") || INTERNAL_SUFFIXES.some((s) => name.endsWith(s) || name === s.slice(1));

const deny = (detail: string) => denied("domain_not_allowed", detail);

async function defaultResolve(host: string): Promise<readonly string[]> {
  const answers = await lookup(host, { all: true, verbatim: true });
  return answers.map((a) => a.address);
}

/**
 * `allowed_domains`, and SSRF defence for every URL argument. The host is read the way WHATWG URL
 * (and so Node's fetch) reads it: IDNA, NFKC, lower case, every IPv4 notation (decimal `2130706433`,
 * octal `0177.0.0.1`, hex `0x7f.1`, short `127.1`) folded to dotted quads; IPv6 forms that carry an
 * IPv4 address (mapped, NAT64 64:ff9b::/96, 6to4) are judged by that address.
 * Out of scope: DNS rebinding between this check and the upstream's own lookup, and redirects the
 * upstream follows; the upstream's egress (sandbox network policy) answers those.
 */
export function compileUrlGuard(opts: UrlGuardOptions): UrlGuard {
  if (!Array.isArray(opts.allowedDomains)) throw new GuardConfigError("allowedDomains", "must be a list");
  const exact = new Set<string>();
  const suffixes: string[] = [];
  const literals = new Set<string>();
  let anyHost = false;
  opts.allowedDomains.forEach((entry, i) => {
    const option = `allowedDomains[${i}]`;
    if (entry === "*") {
      anyHost = true;
      return;
    }
    const wildcard = typeof entry === "string" && entry.startsWith("*.");
    const host = normaliseEntry(wildcard ? entry.slice(2) : entry, option);
    const ip = parseAddress(host);
    if (ip) {
      if (wildcard) throw new GuardConfigError(option, "a wildcard cannot apply to an IP address");
      literals.add(canonicalAddress(ip));
    } else if (wildcard) suffixes.push(`.${host}`);
    else exact.add(host);
  });
  (opts.allowNetworks ?? []).forEach((cidr, i) => {
    if (typeof cidr !== "string" || !isValidCidr(cidr)) {
      throw new GuardConfigError(`allowNetworks[${i}]`, "must be a CIDR such as 10.0.0.0/8");
    }
  });
  const exemptions = compileExemptions(opts.allowNetworks ?? []);
  const resolve = opts.resolve ?? defaultResolve;
  const resolveHosts = opts.resolveHosts ?? true;
  const timeoutMs = opts.resolveTimeoutMs ?? 2000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new GuardConfigError("resolveTimeoutMs", "must be a positive number");
  }

  const listed = (name: string) => exact.has(name) || suffixes.some((s) => name.endsWith(s));
  const nameAllowed = (name: string) => anyHost || listed(name);

  function refusal(address: string): AddressClass | undefined {
    const ip = parseAddress(address);
    if (!ip) return "invalid";
    const cls = classifyAddress(ip);
    if (cls === "public" || (cls !== "metadata" && exemptions.covers(ip))) return undefined;
    return cls;
  }

  async function resolveBounded(name: string): Promise<readonly string[]> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("resolution timed out")), timeoutMs);
    });
    try {
      return await Promise.race([resolve(name), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async function check(value: string): Promise<GuardDecision> {
    if (typeof value !== "string") return deny("URL is not a string");
    if (value.length > MAX_VALUE_LENGTH) return deny("URL too long");
    if (CONTROL_CHARS.test(value) || /\s/.test(value)) return deny("whitespace or control character in URL");
    if (value.includes("\\")) return deny("backslash in URL");
    const head = /^(https?):\/\/([^/?#]*)/i.exec(value);
    if (!head) return deny("only http and https URLs are allowed");
    const authority = head[2] as string;
    if (authority.includes("@")) return deny("credentials in URL");
    if (authority.includes("%")) return deny("percent-encoded host");
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return deny("invalid URL");
    }
    if ((url.protocol !== "http:" && url.protocol !== "https:") || url.username || url.password) {
      return deny("only http and https URLs without credentials are allowed");
    }
    const host = url.hostname;
    const ip = parseAddress(host);
    if (ip) {
      if (!anyHost && !literals.has(canonicalAddress(ip))) return deny("IP address not in allowed domains");
      const cls = refusal(host);
      return cls ? deny(`${cls} address`) : ALLOWED;
    }
    const name = host.endsWith(".") ? host.slice(0, -1) : host;
    if (name === "" || name.endsWith(".")) return deny("invalid host");
    if (METADATA_HOSTS.has(name)) return deny("metadata service host");
    if (!nameAllowed(name)) return deny(`host ${name} is not in allowed domains`);
    const loopback = name === "localhost" || name.endsWith(".localhost");
    if (!resolveHosts && !loopback) {
      return listed(name) || !internalByConvention(name)
        ? ALLOWED
        : deny(`host ${name} is internal by convention`);
    }
    const addresses = loopback ? ["127.0.0.1", "::1"] : await resolveBounded(name);
    if (!Array.isArray(addresses) || addresses.length === 0) return deny(`host ${name} did not resolve`);
    for (const address of addresses) {
      const cls = refusal(String(address));
      if (cls) return deny(`host ${name} resolves to a ${cls} address`);
    }
    return ALLOWED;
  }

  return Object.freeze({
    async check(value: string): Promise<GuardDecision> {
      try {
        return await check(value);
      } catch {
        return deny("host could not be resolved");
      }
    },
  });
}

/**
 * The guard of a server without `allowed_domains`: any URL passes except one to a cloud metadata
 * service (a metadata host name, or an address of that class as WHATWG URL reads the host, so
 * `http://2852039166/` and `http://[::ffff:a9fe:a9fe]/` count). No resolution: names are not
 * looked up (that is `allowed_domains`' job), so it costs nothing per call.
 */
export function compileMetadataGuard(): UrlGuard {
  async function check(value: string): Promise<GuardDecision> {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return ALLOWED;
    }
    const host = url.hostname.replace(/^\[|\]$/g, "");
    const name = host.endsWith(".") ? host.slice(0, -1) : host;
    if (METADATA_HOSTS.has(name.toLowerCase())) return deny("metadata service host");
    const ip = parseAddress(host);
    if (ip && classifyAddress(ip) === "metadata") return deny("metadata address");
    return ALLOWED;
  }
  return Object.freeze({
    async check(value: string): Promise<GuardDecision> {
      try {
        return await check(value);
      } catch {
        return deny("URL could not be inspected");
      }
    },
  });
}

/** An allowlist entry normalised like a URL's host: IDNA, lower case, no trailing dot. */
function normaliseEntry(entry: unknown, option: string): string {
  if (typeof entry !== "string" || entry === "" || /[\s/?#@\\%*]/.test(entry) || CONTROL_CHARS.test(entry)) {
    throw new GuardConfigError(option, "must be a host name, *.suffix, an IP address or *");
  }
  const bracketed = entry.includes(":") && !entry.startsWith("[") ? `[${entry}]` : entry;
  let host: string;
  try {
    const url = new URL(`http://${bracketed}/`);
    if (url.port !== "") throw new Error("port");
    host = url.hostname;
  } catch {
    throw new GuardConfigError(option, "must be a host name, *.suffix, an IP address or *");
  }
  host = host.endsWith(".") ? host.slice(0, -1) : host;
  if (host === "") throw new GuardConfigError(option, "must not be empty");
  return host;
}
