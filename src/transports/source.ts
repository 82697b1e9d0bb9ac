import type { Socket } from "node:net";
/**
 * Where a request comes from: the source address that per-source limits, anonymous callers,
 * session binding and audit events go by (docs/operations.md#what-a-source-is). The socket's peer,
 * unless that peer is one of `gateway.trusted_proxies`: then the client its forwarding header
 * names, found by the standard right-to-left walk.
 *
 * Why not proxy-addr (Express's): it reads only X-Forwarded-For, not RFC 7239 `Forwarded`, and
 * takes an unparsable entry for the client's address, where this falls back to the peer.
 */
import type { IncomingMessage } from "node:http";
import ipaddr from "ipaddr.js";
import { sourceOf } from "../auth/principal.js";

type Address = ipaddr.IPv4 | ipaddr.IPv6;
/** A CIDR range as ipaddr.js matches it: base address and prefix length. */
export type AddressRange = readonly [Address, number];

/**
 * Trusted hops a walk passes before it gives up (and takes the peer): more than any real chain of
 * proxies, few enough that a long header costs nothing.
 */
const MAX_TRUSTED_HOPS = 32;

/**
 * `10.0.0.0/8`, `2001:db8::/32`, or one address (`192.0.2.7`, `::1`) as its own range; undefined
 * when malformed. IPv4 in four-part decimal only (no `127.1`, `0x7f.0.0.1`); an IPv4-mapped IPv6
 * range is the IPv4 range it maps, since peers are compared as IPv4.
 */
export function parseAddressRange(text: string): AddressRange | undefined {
  const slash = text.indexOf("/");
  const baseText = slash < 0 ? text : text.slice(0, slash);
  // Not `parseAddress`: a mapped range's prefix length counts the IPv6 bits.
  const base = ipaddr.IPv4.isValidFourPartDecimal(baseText)
    ? ipaddr.IPv4.parse(baseText)
    : baseText.includes(":") && ipaddr.IPv6.isValid(baseText)
      ? ipaddr.IPv6.parse(baseText)
      : undefined;
  if (!base) return undefined;
  const max = base.kind() === "ipv4" ? 32 : 128;
  let bits = max;
  if (slash >= 0) {
    const digits = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(digits)) return undefined;
    bits = Number(digits);
    if (bits > max) return undefined;
  }
  if (base.kind() === "ipv6" && (base as ipaddr.IPv6).isIPv4MappedAddress()) {
    if (bits < 96) return undefined;
    return [(base as ipaddr.IPv6).toIPv4Address(), bits - 96];
  }
  return [base, bits];
}

/** Strictly an address: four-part decimal IPv4, or IPv6 (an IPv4-mapped one as its IPv4). */
function parseAddress(text: string): Address | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  if (!text.includes(":") || !ipaddr.IPv6.isValid(text)) return undefined;
  return ipaddr.process(text);
}

/** The `gateway.trusted_proxies` ranges, compiled at start. */
export class TrustedProxies {
  static readonly NONE = new TrustedProxies([]);

  constructor(private readonly ranges: readonly AddressRange[]) {}

  get empty(): boolean {
    return this.ranges.length === 0;
  }

  contains(addr: Address): boolean {
    const kind = addr.kind();
    return this.ranges.some(([base, bits]) => base.kind() === kind && addr.match(base, bits));
  }
}

/** The forwarding headers of a request, as Node joins repeated fields (", "). */
export interface ForwardingHeaders {
  readonly forwarded?: string | undefined;
  readonly xForwardedFor?: string | undefined;
}

/**
 * The client's address: `peer` (the socket's) unless it is a trusted proxy; then, walking the
 * forwarding header from the right (the hop nearest the gateway), the first address that is not a
 * trusted proxy (each trusted hop vouches for the one before it; anything further left was written
 * by the client and is never read). All trusted: the leftmost. The peer itself, never a header's
 * value, when the header is missing, an entry the walk reaches is not an address, the walk passes
 * MAX_TRUSTED_HOPS, or `Forwarded` and `X-Forwarded-For` both arrive and name different clients
 * (one of them may have been passed through from the client untouched).
 */
export function clientAddress(
  peer: string | undefined,
  headers: ForwardingHeaders,
  trusted: TrustedProxies,
): string | undefined {
  if (trusted.empty || peer === undefined || !ipaddr.isValid(peer)) return peer;
  if (!trusted.contains(ipaddr.process(peer))) return peer;
  const { forwarded, xForwardedFor } = headers;
  if (forwarded === undefined && xForwardedFor === undefined) return peer;
  const fromForwarded = forwarded === undefined ? null : walk(forwardedNodes(forwarded), trusted);
  const fromXff = xForwardedFor === undefined ? null : walk(xffNodes(xForwardedFor), trusted);
  if (fromForwarded === null) return fromXff ?? peer;
  if (fromXff === null) return fromForwarded ?? peer;
  return fromXff !== undefined && fromXff === fromForwarded ? fromXff : peer;
}

/** The client of a chain of nodes given right to left; undefined when the walk fails. */
function walk(nodes: Iterable<string | undefined>, trusted: TrustedProxies): string | undefined {
  let hops = 0;
  let last: Address | undefined;
  for (const node of nodes) {
    const addr = node === undefined ? undefined : parseAddress(node);
    if (!addr) return undefined;
    if (!trusted.contains(addr)) return addr.toString();
    if (++hops > MAX_TRUSTED_HOPS) return undefined;
    last = addr;
  }
  return last?.toString();
}

/** X-Forwarded-For's entries, rightmost first: an address, with a port when bracketed or IPv4. */
function* xffNodes(header: string): Generator<string | undefined> {
  let end = header.length;
  for (;;) {
    const start = end === 0 ? -1 : header.lastIndexOf(",", end - 1);
    yield withoutPort(header.slice(start + 1, end).trim());
    if (start < 0) return;
    end = start;
  }
}

/**
 * RFC 7239 `Forwarded` elements' `for` nodes, rightmost first; undefined for an element without
 * one. Split on commas and semicolons without regard to quotes: the nodes a walk reads were written
 * by trusted proxies, whose values (addresses, ports, `unknown`) hold neither; a quoted comma to
 * their left, in what the client sent, cannot shift them.
 */
function* forwardedNodes(header: string): Generator<string | undefined> {
  const elements = header.split(",");
  for (let i = elements.length - 1; i >= 0; i--) {
    let node: string | undefined;
    let seen = 0;
    for (const pair of (elements[i] as string).split(";")) {
      const eq = pair.indexOf("=");
      if (eq < 0 || pair.slice(0, eq).trim().toLowerCase() !== "for") continue;
      seen++;
      node = unquote(pair.slice(eq + 1).trim());
    }
    if (seen !== 1 || node === undefined) {
      yield undefined;
      continue;
    }
    // IPv6 is bracketed in `Forwarded`: a bare one is not a valid token.
    const bareIPv6 = !node.startsWith("[") && node.split(":").length > 2;
    yield bareIPv6 ? undefined : withoutPort(node);
  }
}

/** A token as it is; a quoted-string without its quotes and backslash escapes. */
function unquote(value: string): string | undefined {
  if (!value.startsWith('"')) return value;
  if (value.length < 2 || !value.endsWith('"')) return undefined;
  return value.slice(1, -1).replace(/\\(.)/g, "$1");
}

/** `1.2.3.4`, `1.2.3.4:80`, `[::1]`, `[::1]:80`, `::1` → the address; else undefined. */
function withoutPort(node: string): string | undefined {
  if (node.startsWith("[")) {
    const m = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(node);
    return m?.[1];
  }
  const colons = node.split(":").length - 1;
  if (colons === 1) {
    const m = /^([\d.]+):\d{1,5}$/.exec(node);
    return m?.[1];
  }
  return node.length > 0 ? node : undefined;
}

const sources = new WeakMap<IncomingMessage, string>();

/**
 * Works out a request's source once, when it arrives (before any handler can rewrite its headers:
 * the embedded issuer drops X-Forwarded-For), and keeps it for `requestSource`. Without trusted
 * proxies there is nothing to keep: the peer is read when, and if, a source is needed.
 */
export function bindSource(req: IncomingMessage, trusted: TrustedProxies): void {
  if (trusted.empty) return;
  const forwarding = { forwarded: header(req, "forwarded"), xForwardedFor: header(req, "x-forwarded-for") };
  sources.set(req, sourceOf(clientAddress(req.socket.remoteAddress, forwarding, trusted)));
}

/**
 * The source of a request (`sourceOf` of its client address: IPv4, or an IPv6 /64): the one
 * function every per-source decision uses. A request `bindSource` never saw is its socket's peer.
 */
export function requestSource(req: IncomingMessage): string {
  const given = sources.get(req);
  if (given !== undefined) return given;
  // A socket's peer never changes: parsed once per connection, not per request (keep-alive).
  let peer = peers.get(req.socket);
  if (peer === undefined) {
    peer = sourceOf(req.socket.remoteAddress);
    peers.set(req.socket, peer);
  }
  return peer;
}

const peers = new WeakMap<Socket, string>();

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}
