// The SSRF guard as pure functions: non-loopback addresses are only ever classified here, never
// contacted (the resolver is a fake; nothing here opens a socket).
import { describe, expect, it } from 'vitest';
import { checkOutboundUrl, forbiddenAddressReason, OutboundRefused, resolveAllowed, type Resolver } from '../../src/attribution/outbound.js';

describe('forbiddenAddressReason', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.5.4', 'private'],
    ['192.168.0.10', 'private'],
    ['169.254.169.254', 'linkLocal'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['192.0.2.1', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'linkLocal'],
    ['fd00::1', 'uniqueLocal'],
    ['ff02::1', 'multicast'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:127.0.0.1', 'loopback'],
  ])('refuses %s (%s)', (address, reason) => {
    expect(forbiddenAddressReason(address)).toBe(reason);
  });

  it.each(['8.8.8.8', '1.1.1.1', '2001:4860:4860::8888', '::ffff:8.8.4.4'])('allows public unicast %s', (address) => {
    expect(forbiddenAddressReason(address)).toBeNull();
  });

  it('refuses what is not an address', () => {
    expect(forbiddenAddressReason('example.com')).toBe('not an IP address');
  });
});

describe('checkOutboundUrl', () => {
  it.each(['file:///etc/passwd', 'ftp://x.example/', 'gopher://x.example/', 'javascript:alert(1)', 'not a url', 'http://user:pw@x.example/'])('refuses %s', (url) => {
    expect(() => checkOutboundUrl(url)).toThrow(OutboundRefused);
  });
  it('resolves a relative redirect against the hop it came from, and refuses an unparsable one', () => {
    expect(checkOutboundUrl('/next?x=1', new URL('https://ts.example/pb')).toString()).toBe('https://ts.example/next?x=1');
    expect(() => checkOutboundUrl('http://[nope', new URL('https://ts.example/pb'))).toThrow(OutboundRefused);
  });
  it('normalises numeric hosts, so 0x7f000001 is seen as 127.0.0.1', () => {
    expect(checkOutboundUrl('http://0x7f000001:8080/pb').hostname).toBe('127.0.0.1');
  });
});

describe('resolveAllowed', () => {
  const fake =
    (table: Record<string, string[]>): Resolver =>
    async (host) =>
      (table[host] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));

  it('refuses a name when any of its addresses is private', async () => {
    const resolve = fake({ 'mixed.example': ['93.184.216.34', '10.0.0.5'], 'meta.example': ['169.254.169.254'], 'ok.example': ['93.184.216.34', '2606:2800:220:1::1'] });
    await expect(resolveAllowed('mixed.example', false, resolve)).rejects.toThrow('mixed.example resolves to 10.0.0.5, a private address (OUTBOUND_ALLOW_PRIVATE=1 allows private targets)');
    await expect(resolveAllowed('meta.example', false, resolve)).rejects.toThrow(/resolves to 169\.254\.169\.254, a link-local address/);
    // An empty answer is not a refusal (the delivery retries it like a DNS error): the DNS may catch up.
    const empty = await resolveAllowed('nothing.example', false, resolve).catch((e: Error) => e);
    expect(empty).toBeInstanceOf(Error);
    expect(empty).not.toBeInstanceOf(OutboundRefused);
    expect((empty as Error).message).toBe('nothing.example does not resolve');
    expect(await resolveAllowed('ok.example', false, resolve)).toHaveLength(2);
    expect(await resolveAllowed('mixed.example', true, resolve)).toHaveLength(2);
  });

  it('checks IP literals without resolving, brackets included', async () => {
    const never: Resolver = async () => {
      throw new Error('must not resolve an IP literal');
    };
    await expect(resolveAllowed('[::1]', false, never)).rejects.toThrow(/^::1 is a loopback address /);
    await expect(resolveAllowed('127.0.0.1', false, never)).rejects.toThrow(/^127\.0\.0\.1 is a loopback address /);
    await expect(resolveAllowed('192.168.1.1', false, never)).rejects.toThrow(/^192\.168\.1\.1 is a private address /);
    await expect(resolveAllowed('0.0.0.0', false, never)).rejects.toThrow(/^0\.0\.0\.0 is the unspecified address /);
    await expect(resolveAllowed('fe80::1', false, never)).rejects.toThrow(/^fe80::1 is a link-local address /);
    await expect(resolveAllowed('::ffff:10.0.0.1', false, never)).rejects.toThrow(OutboundRefused);
    expect(await resolveAllowed('8.8.8.8', false, never)).toEqual([{ address: '8.8.8.8', family: 4 }]);
  });
});
