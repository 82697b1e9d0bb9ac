import ipaddr from "ipaddr.js";

/** Why an address is refused; `public` is the only allowed class. */
export type AddressClass =
  | "public"
  | "metadata"
  | "private"
  | "loopback"
  | "link-local"
  | "cgnat"
  | "unspecified"
  | "multicast"
  | "broadcast"
  | "documentation"
  | "benchmarking"
  | "unique-local"
  | "reserved"
  | "invalid";

type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

function table(rows: ReadonlyArray<readonly [string, AddressClass]>): Array<[Cidr, AddressClass]> {
  return rows.map(([cidr, cls]) => [ipaddr.parseCIDR(cidr), cls]);
}

/** Cloud metadata services; refused even when a network exemption covers them. */
const METADATA = table([
  ["169.254.169.254/32", "metadata"], // AWS, GCP, Azure, OCI, DigitalOcean, OpenStack
  ["169.254.170.2/32", "metadata"], // AWS ECS task credentials
  ["169.254.169.123/32", "metadata"], // AWS time sync
  ["169.254.0.23/32", "metadata"], // Tencent Cloud
  ["100.100.100.200/32", "metadata"], // Alibaba Cloud
  ["168.63.129.16/32", "metadata"], // Azure WireServer (a public address)
  ["fd00:ec2::254/128", "metadata"], // AWS IMDS over IPv6
  ["fd00:ec2::23/128", "metadata"], // AWS DNS/NTP over IPv6
]);

/** IANA IPv4 special-purpose registry: every block that is not globally reachable. */
const IPV4 = table([
  ["0.0.0.0/8", "unspecified"],
  ["10.0.0.0/8", "private"],
  ["100.64.0.0/10", "cgnat"],
  ["127.0.0.0/8", "loopback"],
  ["169.254.0.0/16", "link-local"],
  ["172.16.0.0/12", "private"],
  ["192.0.0.0/24", "reserved"],
  ["192.0.2.0/24", "documentation"],
  ["192.88.99.0/24", "reserved"],
  ["192.168.0.0/16", "private"],
  ["198.18.0.0/15", "benchmarking"],
  ["198.51.100.0/24", "documentation"],
  ["203.0.113.0/24", "documentation"],
  ["224.0.0.0/4", "multicast"],
  ["255.255.255.255/32", "broadcast"],
  ["240.0.0.0/4", "reserved"],
]);

/** IPv6 outside 2000::/3 is refused wholesale; these name the common blocks, and refuse parts of 2000::/3. */
const IPV6 = table([
  ["::/128", "unspecified"],
  ["::1/128", "loopback"],
  ["fe80::/10", "link-local"],
  ["fec0::/10", "reserved"],
  ["fc00::/7", "unique-local"],
  ["ff00::/8", "multicast"],
  ["2001::/23", "reserved"], // IETF protocol assignments: Teredo, ORCHID, benchmarking, ...
  ["2001:db8::/32", "documentation"],
  ["3fff::/20", "documentation"],
]);
const GLOBAL_UNICAST = ipaddr.parseCIDR("2000::/3");
/** Prefixes whose addresses carry an IPv4 address a translator or relay will reach: judged by that. */
const NAT64 = ipaddr.parseCIDR("64:ff9b::/96");
const SIX_TO_FOUR = ipaddr.parseCIDR("2002::/16");

function lookup(
  addr: ipaddr.IPv4 | ipaddr.IPv6,
  rows: Array<[Cidr, AddressClass]>,
): AddressClass | undefined {
  for (const [cidr, cls] of rows) {
    if (addr.kind() === cidr[0].kind() && addr.match(cidr)) return cls;
  }
  return undefined;
}

/** The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4), if any. */
function embeddedIPv4(v6: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  if (v6.isIPv4MappedAddress()) return v6.toIPv4Address();
  const b = v6.toByteArray();
  if (v6.match(NAT64)) return new ipaddr.IPv4(b.slice(12, 16));
  if (v6.match(SIX_TO_FOUR)) return new ipaddr.IPv4(b.slice(2, 6));
  return undefined;
}

/** Parses a canonical address (a WHATWG-normalised host or a resolver answer); undefined if it is not one. */
export function parseAddress(address: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  const bare = address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address;
  if (ipaddr.IPv4.isValidFourPartDecimal(bare)) return ipaddr.IPv4.parse(bare);
  if (ipaddr.IPv6.isValid(bare) && !bare.includes("%")) return ipaddr.IPv6.parse(bare);
  return undefined;
}

export function classifyAddress(addr: ipaddr.IPv4 | ipaddr.IPv6): AddressClass {
  const meta = lookup(addr, METADATA);
  if (meta) return meta;
  if (addr.kind() === "ipv4") return lookup(addr, IPV4) ?? "public";
  const v4 = embeddedIPv4(addr as ipaddr.IPv6);
  if (v4) return classifyAddress(v4);
  const named = lookup(addr, IPV6);
  if (named) return named;
  return addr.match(GLOBAL_UNICAST) ? "public" : "reserved";
}

/** CIDR exemptions (`allowNetworks`): internal services an operator means to reach. */
export interface NetworkExemptions {
  covers(addr: ipaddr.IPv4 | ipaddr.IPv6): boolean;
}

export function compileExemptions(cidrs: readonly string[]): NetworkExemptions {
  const parsed: Cidr[] = cidrs.map((c) => ipaddr.parseCIDR(c));
  return {
    covers(addr) {
      const v4 = addr.kind() === "ipv6" ? embeddedIPv4(addr as ipaddr.IPv6) : undefined;
      return parsed.some(
        (cidr) =>
          (addr.kind() === cidr[0].kind() && addr.match(cidr)) ||
          (v4 !== undefined && cidr[0].kind() === "ipv4" && v4.match(cidr)),
      );
    },
  };
}

export function isValidCidr(cidr: string): boolean {
  return ipaddr.isValidCIDR(cidr);
}

/** The canonical text of an address, for comparing IP literals against the allowlist. */
export function canonicalAddress(addr: ipaddr.IPv4 | ipaddr.IPv6): string {
  return addr.kind() === "ipv4" ? addr.toString() : (addr as ipaddr.IPv6).toRFC5952String();
}
