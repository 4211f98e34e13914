// IP and CIDR lists (TRUST_PROXY, BOT_IP_DENYLIST, flow `ip` rules, a network's allowedIps): what an
// operator writes is read the way clients are matched.
import { describe, expect, it } from 'vitest';
import { cachedProxyTrust, cidrMatcher, isValidCidr, normalizeCidr, parseCidrList } from '../../src/http/ip.js';

describe('CIDR lists', () => {
  it('normalises addresses and ranges, IPv4 and IPv6', () => {
    expect(parseCidrList(' 203.0.113.7 , 10.0.0.0/8,2001:DB8::/32, ::1')).toEqual(['203.0.113.7/32', '10.0.0.0/8', '2001:db8::/32', '::1/128']);
  });

  it('reads an IPv4-mapped entry as the IPv4 address it is, so it matches clients (which are plain IPv4)', () => {
    expect(normalizeCidr('::ffff:203.0.113.7')).toBe('203.0.113.7/32');
    expect(normalizeCidr('::ffff:203.0.113.0/120')).toBe('203.0.113.0/24');
    const allowed = cidrMatcher(parseCidrList('::ffff:203.0.113.7'));
    expect(allowed('203.0.113.7')).toBe(true);
    expect(allowed('203.0.113.8')).toBe(false);
    // A proxy seen on a dual-stack socket as ::ffff:10.0.0.1 is trusted as 10.0.0.1 is.
    const trusted = cachedProxyTrust(parseCidrList('::ffff:10.0.0.1'));
    expect([trusted('10.0.0.1', 0), trusted('::ffff:10.0.0.1', 0), trusted('10.0.0.2', 0)]).toEqual([true, true, false]);
  });

  it('refuses what nobody means in an allow list: inet_aton forms, garbage, bad prefixes', () => {
    for (const bad of ['10.1', '012.1.1.1', '1.2.3.4/33', 'example.com', '', '::ffff:1.2.3.4/200']) expect(isValidCidr(bad), bad).toBe(false);
  });
});
