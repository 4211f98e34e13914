// IP and CIDR helpers shared by config (TRUST_PROXY), bot deny lists and postback allow lists.
import proxyAddr from '@fastify/proxy-addr';
import ipaddr from 'ipaddr.js';

export type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** Normalises one CIDR or bare address ("10.0.0.0/8", "::1", "127.0.0.1"); throws on anything else. */
export function normalizeCidr(raw: string): string {
  const value = raw.trim();
  try {
    // ipaddr.js also reads the inet_aton forms: "10.1" is 10.0.0.1, "012.1.1.1" (octal) is 10.1.1.1.
    // Nobody means those in a trusted-proxy or allow list, so IPv4 is four decimal parts.
    const address = value.split('/')[0];
    if (!address.includes(':') && !ipaddr.IPv4.isValidFourPartDecimal(address)) throw new Error('not four decimal parts');
    const [addr, bits] = value.includes('/') ? ipaddr.parseCIDR(value) : [ipaddr.parse(value), undefined];
    // An IPv4-mapped entry (::ffff:203.0.113.7, as some logs print addresses) is the IPv4 address:
    // clients are matched as plain IPv4, so kept mapped it would never match anything.
    if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() && (bits === undefined || bits >= 96)) {
      return `${(addr as ipaddr.IPv6).toIPv4Address().toString()}/${bits === undefined ? 32 : bits - 96}`;
    }
    return `${addr.toString()}/${bits ?? (addr.kind() === 'ipv4' ? 32 : 128)}`;
  } catch {
    throw new Error(`"${value}" is not an IP address or CIDR range`);
  }
}

/** Parses a comma-separated CIDR list; an empty string is an empty list. */
export function parseCidrList(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(normalizeCidr);
}

export function isValidCidr(raw: string): boolean {
  try {
    normalizeCidr(raw);
    return true;
  } catch {
    return false;
  }
}

/** Compiles a CIDR list into a matcher; IPv4-mapped IPv6 addresses match IPv4 ranges. */
export function cidrMatcher(cidrs: readonly string[]): (ip: string) => boolean {
  const ranges: Cidr[] = cidrs.map((c) => ipaddr.parseCIDR(normalizeCidr(c)));
  if (ranges.length === 0) return () => false;
  return (ip: string) => {
    let addr: ipaddr.IPv4 | ipaddr.IPv6;
    try {
      addr = ipaddr.process(ip);
    } catch {
      return false;
    }
    for (const [range, bits] of ranges) {
      if (addr.kind() === range.kind() && addr.match(range, bits)) return true;
    }
    return false;
  };
}

/**
 * Fastify's `trustProxy` for these CIDRs: proxy-addr's own trust function (the one Fastify
 * compiles from a list), remembering its answer per address. It parses the socket address on
 * every `req.ip`, ~2% of /click's CPU, and that address is almost always one of a few proxies.
 * Bounded: a direct-traffic deployment (every client its own socket address) just re-parses.
 */
export function cachedProxyTrust(cidrs: readonly string[]): (address: string, hop: number) => boolean {
  const trust = proxyAddr.compile([...cidrs]);
  const known = new Map<string, boolean>();
  return (address, hop) => {
    let trusted = known.get(address);
    if (trusted === undefined) {
      trusted = trust(address, hop);
      if (known.size >= 1024) known.clear();
      known.set(address, trusted);
    }
    return trusted;
  };
}
